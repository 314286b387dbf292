package io.kestra.plugin.git.backup;

import lombok.Getter;

/** A failed backup, restore or drill, with the native core's error code and its (already redacted) message. */
@Getter
public class BackupException extends RuntimeException {
    /** Stable codes, one per kind of failure (the core's {@code ErrorCode}). */
    public enum Code {
        InvalidConfig, Auth, Tls, Network, KestraApi, UnsafePath, DeletionGuard, PushRejected, Conflict, InvalidBackup, Drift, Git, Io, Internal;

        public static Code parse(String name) {
            for (Code c : values()) {
                if (c.name().equals(name)) {
                    return c;
                }
            }
            return Internal;
        }
    }

    private final Code code;
    /** The commit built but not pushed, kept in the cache directory; null otherwise. */
    private final String localCommit;

    public BackupException(Code code, String message, String localCommit) {
        super("[" + code + "] " + message);
        this.code = code;
        this.localCommit = localCommit;
    }
}
