package io.kestra.plugin.git.backup.internal;

/** Receives the native core's log events, live, on the thread that called {@link NativeCore#run}. */
@FunctionalInterface
public interface LogSink {
    /** {@code level} is TRACE, DEBUG, INFO, WARN or ERROR; the message is already redacted. */
    void log(String level, String message);
}
