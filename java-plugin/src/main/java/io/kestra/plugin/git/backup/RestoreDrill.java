package io.kestra.plugin.git.backup;

import io.kestra.core.models.annotations.Example;
import io.kestra.core.models.annotations.Plugin;
import io.kestra.core.models.annotations.PluginProperty;
import io.kestra.core.models.executions.metrics.Gauge;
import io.kestra.core.models.property.Property;
import io.kestra.core.models.tasks.RunnableTask;
import io.kestra.core.runners.RunContext;
import io.kestra.plugin.git.backup.internal.CoreReport;
import io.swagger.v3.oas.annotations.media.Schema;
import lombok.*;
import lombok.experimental.SuperBuilder;

import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Map;

@SuperBuilder(toBuilder = true)
@ToString
@EqualsAndHashCode(callSuper = true)
@Getter
@NoArgsConstructor
@Schema(
    title = "Check that the Git backup would restore, and how old it is, without writing anything.",
    description = "Reads the branch written by BackupInstance at its tip (or at `ref`: a commit, a tag, a branch or an instant), submits "
        + "every flow of that backup (or of the `flows`/`files` selection) to Kestra's own validation and compares it with what Kestra "
        + "holds. Fails when Kestra refuses a flow of the backup (a plugin removed, a property renamed: the backup would not restore), "
        + "and with `failOnDrift: true` also when Kestra and the backup differ. The plan (output `plan`) says what a restore with "
        + "`overwrite: true` would do. Outputs `latestBackup`, the tip of the branch, and records the metric `backup.age.seconds`, "
        + "the time since it was taken, so a flow can alert when backups stop. KV values sealed by BackupInstance: with `identity`, "
        + "every one must unseal (the escrow proof, output `kv.unsealed`; the first that does not fails the drill, named); without "
        + "it, every sealed file must be well-formed and, with `kv.recipients`, sealed to exactly those. "
        + "Writes nothing, neither to Kestra nor to Git."
)
@Plugin(
    examples = {
        @Example(
            title = "Weekly restore drill of the nightly backup; fails (and can alert) when the backup would not restore.",
            full = true,
            code = """
                id: git_restore_drill
                namespace: system
                tasks:
                  - id: drill
                    type: io.kestra.plugin.git.backup.RestoreDrill
                    url: https://gitlab-01.local/backup/kestra
                    username: "{{ secret('GITLAB_USERNAME') }}"
                    password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
                    branch: main
                    filesDirectory: scripts
                    failOnDrift: true
                triggers:
                  - id: weekly
                    type: io.kestra.plugin.core.trigger.Schedule
                    cron: 0 6 * * 1
                """
        ),
        @Example(
            title = "Alert when backups stop: a daily drill whose `latestBackup` must be at most two days old. A backup run that finds "
                + "nothing changed makes no commit, so pick a window your instance always changes within.",
            full = true,
            code = """
                id: backup_watchdog
                namespace: system
                tasks:
                  - id: drill
                    type: io.kestra.plugin.git.backup.RestoreDrill
                    url: https://gitlab-01.local/backup/kestra
                    username: "{{ secret('GITLAB_USERNAME') }}"
                    password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
                    filesDirectory: scripts
                  - id: backups_stopped
                    type: io.kestra.plugin.core.execution.Fail
                    condition: "{{ (outputs.drill.latestBackup.date | timestamp) < (now() | dateAdd(-2, 'DAYS') | timestamp) }}"
                    errorMessage: "No backup since {{ outputs.drill.latestBackup.date }} (commit {{ outputs.drill.latestBackup.commit }})"
                errors:
                  - id: alert
                    type: io.kestra.plugin.core.log.Log
                    level: ERROR
                    message: "Kestra backup watchdog failed in execution {{ execution.id }}: backups stopped or would not restore"
                triggers:
                  - id: daily
                    type: io.kestra.plugin.core.trigger.Schedule
                    cron: 0 7 * * *
                """
        )
    }
)
public class RestoreDrill extends AbstractRestoreTask implements RunnableTask<RestoreDrill.Output> {
    @Schema(title = "Also fail when Kestra and the backup differ", description = "Off: differences are reported in the outputs and the log only.")
    @Builder.Default
    @PluginProperty(group = "execution")
    private Property<Boolean> failOnDrift = Property.ofValue(false);

    @Schema(
        title = "How many backup commits to verify, the newest first; default: the whole history",
        description = "The manifest chain, the files against each manifest and (with `verifyKeys`) the signatures are checked from the backup "
            + "read down to this many backup commits (commits carrying `.kestra-backup/manifest.json`)."
    )
    @PluginProperty(group = "execution")
    private Property<Integer> verifyDepth;

    @Schema(
        title = "Fail when the backup's history does not verify",
        description = "A broken manifest chain, a file missing from its commit or differing from its manifest, a commit no `verifyKeys` key "
            + "signed, or a plugin type the backup's flows use that this Kestra has not installed. `false`: they are reported in the output "
            + "`verification`, the metrics and the log, and the drill goes on. Older commits without a manifest are counted "
            + "(`verification.unverifiableCommits`), never a failure."
    )
    @Builder.Default
    @PluginProperty(group = "execution")
    private Property<Boolean> failOnUnverified = Property.ofValue(true);

    @Override
    public Output run(RunContext runContext) throws Exception {
        return outputs(runContext, restore(runContext));
    }

    /** The report's outputs, and the age of the newest backup and the verification's figures as metrics. */
    Output outputs(RunContext runContext, CoreReport.Restore r) throws Exception {
        BackupCommit latest = BackupCommit.of(r.latestBackup);
        if (latest != null) {
            runContext.metric(Gauge.of("backup.age.seconds", Duration.between(latest.getDate(), Instant.now()).toSeconds()));
        }
        Verification verification = Verification.of(r.verification);
        if (verification != null) {
            runContext.metric(Gauge.of("verify.chain_length", verification.getChainLength()));
            runContext.metric(Gauge.of("verify.unsigned_commits", verification.getUnsigned().size()));
            runContext.metric(Gauge.of("verify.missing_plugins", verification.getMissingPlugins().size()));
            runContext.metric(Gauge.of("verify.file_problems", verification.getFiles().size()));
            runContext.metric(Gauge.of("verify.unverifiable_commits", verification.getUnverifiableCommits()));
        }
        return comparison(Output.builder(), runContext, r).latestBackup(latest).verification(verification).build();
    }

    @Override
    protected String job() {
        return "drill";
    }

    @Override
    protected void putOptions(RunContext runContext, Map<String, Object> options, Map<String, Object> request) throws Exception {
        options.put("failOnDrift", runContext.render(failOnDrift).as(Boolean.class).orElse(false));
        options.put("failOnUnverified", runContext.render(failOnUnverified).as(Boolean.class).orElse(true));
        runContext.render(verifyDepth).as(Integer.class).ifPresent(depth -> options.put("verifyDepth", depth));
    }

    @SuperBuilder
    @Getter
    public static class Output extends AbstractRestoreTask.Output {
        @Schema(
            title = "The newest backup: the tip of `branch`",
            description = "Its `date` is when the last backup that changed something was taken (a backup run that finds nothing to commit "
                + "leaves it); the metric `backup.age.seconds` is the time since then."
        )
        private final BackupCommit latestBackup;

        @Schema(
            title = "What the verification of the backup's history found",
            description = "The manifest chain walked (`chainLength`, `firstSerial`, `lastSerial`, `complete`, `broken`), the files that differ "
                + "from their manifest, the commits not signed by a `verifyKeys` key, the plugin types not installed, and the older commits "
                + "without a manifest (`unverifiableCommits`)."
        )
        private final Verification verification;
    }

    /** The drill's verification (docs/tasks/restore-drill.md, "Verification"). */
    @Getter
    @AllArgsConstructor(access = AccessLevel.PRIVATE)
    public static class Verification {
        @Schema(title = "Backup commits (with a manifest) verified, newest first, up to `verifyDepth`")
        private final long chainLength;

        @Schema(title = "Serial of the oldest backup commit verified")
        private final Long firstSerial;

        @Schema(title = "Serial of the newest backup commit verified")
        private final Long lastSerial;

        @Schema(title = "The walk reached the first backup of the chain (false: stopped at `verifyDepth` or at a break)")
        private final boolean complete;

        @Schema(title = "Where the manifest chain breaks (a backup commit that went missing from the history); null: unbroken")
        private final String broken;

        @Schema(title = "With `verifyKeys`: commits whose signature was checked")
        private final long signaturesChecked;

        @Schema(title = "With `verifyKeys`: commits no verify key signed, each `commit`, `date` and `reason` (`unsigned`, or why the signature is not trusted)")
        private final List<Map<String, String>> unsigned;

        @Schema(title = "Plugin types the backup's flows use that this Kestra has not installed, each `type` and `flows` (how many flows use it)")
        private final List<Map<String, Object>> missingPlugins;

        @Schema(title = "Files a manifest lists that its commit does not hold as listed, each `commit`, `serial`, `file` and `state` (`missing` or `differing`)")
        private final List<Map<String, Object>> files;

        @Schema(title = "Older commits without a manifest: not verifiable (never a failure)")
        private final long unverifiableCommits;

        static Verification of(CoreReport.Verification v) {
            if (v == null) {
                return null;
            }
            return new Verification(v.chainLength, v.firstSerial, v.lastSerial, v.complete, v.broken, v.signaturesChecked,
                v.unsigned.stream().map(u -> Map.of("commit", u.commit, "date", u.date, "reason", u.reason)).toList(),
                v.missingPlugins.stream().map(p -> Map.<String, Object>of("type", p.type, "flows", p.flows)).toList(),
                v.files.stream().map(f -> Map.<String, Object>of("commit", f.commit, "serial", f.serial, "file", f.file, "state", f.state)).toList(),
                v.unverifiableCommits);
        }
    }
}
