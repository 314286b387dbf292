package io.kestra.plugin.git.backup.internal;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;

import java.util.List;

/** The core's report (see docs/request-report.md), as the Java tasks read it. */
@JsonIgnoreProperties(ignoreUnknown = true)
public class CoreReport {
    public String commitId;
    public String commitUrl;
    public boolean dryRun;
    public boolean branchCreated;
    public List<SourceCounts> sources = List.of();
    public List<DiffRow> diff = List.of();
    public long bytesPushed;
    public int pushAttempts;
    public Timings timingsMs = new Timings();
    /** Backup with a tag; absent in dry run. */
    public Tag tag;
    /** Restore and drill only. */
    public Restore restore;
    /** With `kv` (docs/kv-store.md). */
    public Kv kv;
    /** Backup with the manifest, when a commit was made (docs/manifest.md). */
    public Manifest manifest;

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class Manifest {
        public long serial;
        public String previousCommit;
        public Long previousSerial;
    }

    /** The manifest's serial of the commit made, or null. */
    public Long backupSerial() {
        return manifest == null ? null : manifest.serial;
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class Kv {
        public long entries;
        public long sealed;
        public long newlySealed;
        public long plaintext;
        public long stubs;
        public long unsealed;
        public long restored;
        public long skippedExpired;
        public long needIdentity;
        public long inSync;
        public long differing;
        public long missingInKestra;
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class SourceCounts {
        public String gitDirectory;
        public long exported;
        public long added;
        public long modified;
        public long deleted;
        public long unchanged;
        public long ignored;
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class DiffRow {
        public String file;
        public long additions;
        public long deletions;
        public long changes;
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class Timings {
        public long fetch;
        public long export;
        public long snapshot;
        public long commit;
        public long push;
        public long total;
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class Tag {
        public String name;
        public String commit;
        public boolean created;
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class Restore {
        public long inSync;
        public long missingInKestra;
        public long differing;
        public long onlyInKestra;
        public long flowsValidated;
        public long restoredFlows;
        public long restoredFiles;
        public List<DriftRow> drift = List.of();
        /** The backup commit read: the request's `ref`, resolved. */
        public CommitInfo restoredFrom;
        /** The branch tip: the newest backup. */
        public CommitInfo latestBackup;
        public PlanCounts plan = new PlanCounts();
        public List<DependencyRow> dependencies = List.of();
        /** The report's `kv`, carried here for the restore tasks' outputs. */
        public Kv kv;
        /** Triggers whose on/off state in Kestra differs from the backup (with trigger state). */
        public List<TriggerDriftRow> triggerDrift = List.of();
        /** Restore: triggers switched on or off to the recorded state. */
        public long triggersSet;
        /** Where the backup read came from, as its manifest records it; null without a manifest. */
        public BackupOrigin backup;
        /** Drill: the verification of the backup's history. */
        public Verification verification;
        /** Restore: items it replaces that Kestra changed after the backup read them (the sequence guard). */
        public List<NewerRow> newerInKestra = List.of();
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class NewerRow {
        public String file;
        /** `flow` or `file`. */
        public String kind;
        public Long backupRevision;
        public Long kestraRevision;
        public String backupUpdated;
        public String kestraUpdated;
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class BackupOrigin {
        public String commit;
        public long serial;
        public String instanceId;
        public String instanceUrl;
        public String instanceVersion;
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class Verification {
        public long chainLength;
        public Long firstSerial;
        public Long lastSerial;
        public boolean complete;
        public String broken;
        public List<FileProblem> files = List.of();
        public long signaturesChecked;
        public List<Unsigned> unsigned = List.of();
        public List<MissingPlugin> missingPlugins = List.of();
        public long unverifiableCommits;
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class FileProblem {
        public String commit;
        public long serial;
        public String file;
        /** `missing` or `differing`. */
        public String state;
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class Unsigned {
        public String commit;
        public String date;
        public String reason;
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class MissingPlugin {
        public String type;
        public long flows;
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class TriggerDriftRow {
        /** `namespace/flowId/triggerId`. */
        public String trigger;
        /** `disabled` or `enabled`, as the backup recorded it. */
        public String backup;
        /** As Kestra holds it. */
        public String kestra;
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class CommitInfo {
        public String commit;
        /** Committer date, RFC 3339 in UTC. */
        public String date;
        public String message;
    }

    /** Rows of the plan file per action. */
    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class PlanCounts {
        public long create;
        public long replace;
        public long unchanged;
        public long skip;
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class DependencyRow {
        /** `namespace/id` of the flow added to the selection. */
        public String flow;
        /** `namespace/id` of the selected flow that calls it. */
        public String requiredBy;
    }

    @JsonIgnoreProperties(ignoreUnknown = true)
    public static class DriftRow {
        public String file;
        public String state;
    }

    public String tagName() {
        return tag == null ? null : tag.name;
    }

    public long exported() {
        return sources.stream().mapToLong(s -> s.exported).sum();
    }
}
