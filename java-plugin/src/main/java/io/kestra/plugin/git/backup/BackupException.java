package io.kestra.plugin.git.backup;

import lombok.Getter;

/** A failed backup, restore or drill, with the native core's error code and its (already redacted) message. */
@Getter
public class BackupException extends RuntimeException {
    /** Stable codes, one per kind of failure (the core's {@code ErrorCode}). */
    public enum Code {
        InvalidConfig, Auth, Tls, Network, KestraApi, UnsafePath, DeletionGuard, PushRejected, Conflict, InvalidBackup, Drift, HistoryRewritten, Git, Io, Internal;

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
    /** The commit built but not pushed (also kept in the cache directory, if any); null otherwise. */
    private final String localCommit;
    /** The core's Git bundle file holding {@link #localCommit}; null when none was written. */
    private final String unpushedBundle;
    private final String detail;

    public BackupException(Code code, String message, String localCommit) {
        this(code, message, localCommit, null);
    }

    public BackupException(Code code, String message, String localCommit, String unpushedBundle) {
        super("[" + code + "] " + message);
        this.code = code;
        this.detail = message;
        this.localCommit = localCommit;
        this.unpushedBundle = unpushedBundle;
    }

    /** This failure, its message ending with where the unpushed commit's bundle is kept now. */
    public BackupException bundleKeptAt(String where) {
        return new BackupException(code, detail + ": " + where, localCommit, null);
    }
}
