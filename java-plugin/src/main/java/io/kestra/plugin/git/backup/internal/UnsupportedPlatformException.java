package io.kestra.plugin.git.backup.internal;

/**
 * The native core cannot run on the platform of the JVM that runs the task: one message naming
 * the OS, architecture and libc seen, and the supported platforms (never a linker stack trace).
 */
public class UnsupportedPlatformException extends RuntimeException {
    UnsupportedPlatformException(String osName, String osArch, String libc) {
        this(osName, osArch, libc, null);
    }

    /** The same, when the system linker refused the library; its own words are appended. */
    UnsupportedPlatformException(String osName, String osArch, String libc, String linkerError) {
        super("the Git backup plugin's native core does not run on this platform: OS `" + osName + "`, architecture `" + osArch
            + "`, libc `" + libc + "`; supported: " + NativeCore.SUPPORTED
            + ". Run the Kestra worker on a supported platform (e.g. Kestra's Docker image on linux/amd64 or linux/arm64)"
            + (linkerError == null ? "" : " (the system linker said: " + linkerError + ")"));
    }
}
