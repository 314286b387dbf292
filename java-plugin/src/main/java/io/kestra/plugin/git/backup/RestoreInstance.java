package io.kestra.plugin.git.backup;

import io.kestra.core.models.annotations.Example;
import io.kestra.core.models.annotations.Plugin;
import io.kestra.core.models.annotations.PluginProperty;
import io.kestra.core.models.executions.metrics.Counter;
import io.kestra.core.models.property.Property;
import io.kestra.core.models.tasks.RunnableTask;
import io.kestra.core.runners.RunContext;
import io.kestra.plugin.git.backup.internal.CoreReport;
import io.swagger.v3.oas.annotations.media.Schema;
import lombok.*;
import lombok.experimental.SuperBuilder;

import java.util.List;
import java.util.Map;

@SuperBuilder(toBuilder = true)
@ToString
@EqualsAndHashCode(callSuper = true)
@Getter
@NoArgsConstructor
@Schema(
    title = "Restore flows and namespace files from a Git backup into Kestra: the latest backup, or any earlier one by commit, tag or date.",
    description = "Reads the branch written by BackupInstance (`<flowsDirectory>/<namespace>/<id>.yml`, `<filesDirectory>/<namespace>/<path>`; "
        + "with `namespace`, one PushFlows + PushNamespaceFiles pair) at its tip, or at `ref`: a commit, a tag, a branch or an instant "
        + "(the newest backup at or before it; `{{ now() | dateAdd(-1, 'DAYS') }}` is yesterday's). It compares that backup with what "
        + "Kestra holds and writes back what Kestra is missing; with `overwrite: true` also rolls back what differs. `flows` and `files` "
        + "narrow it to some flows and files, `withDependencies` adds the subflows the selected flows call. "
        + "Every flow to write is first checked by Kestra's own validation: if one is refused, nothing is written and the task fails "
        + "naming it. Nothing is ever deleted from Kestra.\n\n"
        + "The plan (output `plan`) has one row per selected flow and file — `create`, `replace`, `unchanged` or `skip` and why — with a "
        + "unified diff for every replace; `dryRun: true` writes only the plan, to read before the real run.\n\n"
        + "Kestra stores a restored flow as a new revision of that flow (its revision history goes on; the damaged revision stays in it). "
        + "A restore carries flow sources and namespace files only: not a trigger's runtime state (a Schedule's last and next dates, a "
        + "backfill in progress, a trigger disabled or locked from the UI), not execution history, logs or secrets. "
        + "KV store entries that BackupInstance backed up (`kv`) come back after the flows' validation, unsealed with `identity`; without "
        + "it the plan lists them and none is written (docs/kv-store.md). "
        + "Needs Kestra API credentials that may write flows and files."
)
@Plugin(
    examples = {
        @Example(
            title = "Disaster recovery: bring every flow, namespace file and KV entry of the backup back into a new Kestra (dry run first).",
            full = true,
            code = """
                id: git_restore
                namespace: system
                tasks:
                  - id: restore
                    type: io.kestra.plugin.git.backup.RestoreInstance
                    url: https://gitlab-01.local/backup/kestra
                    username: "{{ secret('GITLAB_USERNAME') }}"
                    password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
                    branch: main
                    filesDirectory: scripts
                    identity: "{{ secret('KV_IDENTITY') }}"
                    dryRun: true
                """
        ),
        @Example(
            title = "Roll the `company` namespaces back to the backup, replacing what was changed since.",
            full = true,
            code = """
                id: company_rollback
                namespace: system
                tasks:
                  - id: restore
                    type: io.kestra.plugin.git.backup.RestoreInstance
                    namespacePrefix: company
                    overwrite: true
                    url: git@gitlab-01.local:backup/kestra.git
                    privateKey: "{{ secret('GIT_SSH_KEY') }}"
                    kestraUrl: http://kestra:8080
                    auth:
                      username: "{{ secret('KESTRA_USERNAME') }}"
                      password: "{{ secret('KESTRA_PASSWORD') }}"
                """
        ),
        @Example(
            title = "Restore one flow as it was yesterday: broken by an edit today, or deleted, after tonight's backup recorded the damage.",
            full = true,
            code = """
                id: restore_flow_from_yesterday
                namespace: system
                tasks:
                  - id: restore
                    type: io.kestra.plugin.git.backup.RestoreInstance
                    ref: "{{ now() | dateAdd(-1, 'DAYS') }}"
                    flows:
                      - company.team/etl
                    overwrite: true
                    url: https://gitlab-01.local/backup/kestra
                    username: "{{ secret('GITLAB_USERNAME') }}"
                    password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
                    filesDirectory: scripts
                  - id: done
                    type: io.kestra.plugin.core.log.Log
                    message: >-
                      Restored from {{ outputs.restore.restoredFrom.commit }} ({{ outputs.restore.restoredFrom.date }}):
                      {{ outputs.restore.planCounts.create }} created, {{ outputs.restore.planCounts.replace }} replaced
                """
        ),
        @Example(
            title = "Read the plan first: a dry run from a tagged backup of a flow and the subflows it calls, printing every row and diff.",
            full = true,
            code = """
                id: plan_restore_from_tag
                namespace: system
                tasks:
                  - id: dry_run
                    type: io.kestra.plugin.git.backup.RestoreInstance
                    ref: backup-2026-11-20
                    flows:
                      - company/orders_*
                    files:
                      - company/sql/**
                    withDependencies: true
                    overwrite: true
                    dryRun: true
                    url: git@gitlab-01.local:backup/kestra.git
                    privateKey: "{{ secret('GIT_SSH_KEY') }}"
                    kestraUrl: http://kestra:8080
                    auth:
                      username: "{{ secret('KESTRA_USERNAME') }}"
                      password: "{{ secret('KESTRA_PASSWORD') }}"
                  - id: show
                    type: io.kestra.plugin.core.log.Log
                    message: "{{ read(outputs.dry_run.plan) }}"
                """
        )
    }
)
public class RestoreInstance extends AbstractRestoreTask implements RunnableTask<RestoreInstance.Output> {
    @Schema(
        title = "Also replace flows and files that Kestra holds with other content",
        description = "Off: only what Kestra is missing is written. On: a flow or file that Kestra changed after the backup read it (a higher "
            + "revision, a later modification than the backup's manifest recorded) fails a restore of the branch tip before anything is "
            + "written, naming it; set `ref` (e.g. the branch name) to restore the backup over those changes (output `newerInKestra`)."
    )
    @Builder.Default
    @PluginProperty(group = "execution")
    private Property<Boolean> overwrite = Property.ofValue(false);

    @Schema(title = "Compare, validate and write the plan; write nothing to Kestra")
    @Builder.Default
    @PluginProperty(group = "execution")
    private Property<Boolean> dryRun = Property.ofValue(false);

    @Schema(
        title = "With `verifyKeys`: also restore a commit that is unsigned or signed by another key",
        description = "Off (default): with `verifyKeys` set, a commit no verify key signed is refused and nothing is restored."
    )
    @Builder.Default
    @PluginProperty(group = "execution")
    private Property<Boolean> allowUnsigned = Property.ofValue(false);

    @Schema(
        title = "Also restore a backup taken from another Kestra instance",
        description = "Off (default): a backup whose manifest names another instance id than the Kestra written to (its configuration's "
            + "`uuid`) is refused and nothing is restored, as Terraform refuses a state of another lineage. Set it to restore into a new "
            + "instance (a migration, a disaster recovery). A backup without a manifest, or without an instance id, is not compared."
    )
    @Builder.Default
    @PluginProperty(group = "execution")
    private Property<Boolean> allowOtherInstance = Property.ofValue(false);

    @Override
    public Output run(RunContext runContext) throws Exception {
        CoreReport.Restore r = restore(runContext);
        runContext.metric(Counter.of("restore.triggers_set", r.triggersSet));
        runContext.metric(Counter.of("restore.newer_in_kestra", r.newerInKestra.size()));
        return comparison(Output.builder(), runContext, r).restoredFlows(r.restoredFlows).restoredFiles(r.restoredFiles).triggersSet(r.triggersSet)
            .newerInKestra(r.newerInKestra.stream().map(NewerInKestra::of).toList())
            .build();
    }

    @Override
    protected String job() {
        return "restore";
    }

    @Override
    protected void putOptions(RunContext runContext, Map<String, Object> options, Map<String, Object> request) throws Exception {
        options.put("overwrite", runContext.render(overwrite).as(Boolean.class).orElse(false));
        options.put("allowUnsigned", runContext.render(allowUnsigned).as(Boolean.class).orElse(false));
        options.put("allowOtherInstance", runContext.render(allowOtherInstance).as(Boolean.class).orElse(false));
        request.put("dryRun", runContext.render(dryRun).as(Boolean.class).orElse(false));
    }

    @SuperBuilder
    @Getter
    public static class Output extends AbstractRestoreTask.Output {
        @Schema(title = "Flows written to Kestra")
        private final long restoredFlows;

        @Schema(title = "Namespace files written to Kestra")
        private final long restoredFiles;

        @Schema(title = "Triggers switched on or off to the state the backup recorded (`includeTriggerState`)")
        private final long triggersSet;

        @Schema(
            title = "Flows and files replaced (a dry run: to replace) that Kestra changed after the backup read them",
            description = "The sequence guard: a flow whose revision in Kestra is higher than the backup's manifest recorded, a namespace file "
                + "modified later. Without `ref`, such items fail the task before anything is written; with `ref`, they are restored with a "
                + "warning and listed here. Empty when the manifest records no revisions or the backup comes from another instance."
        )
        private final List<NewerInKestra> newerInKestra;
    }

    /** An item Kestra changed after the backup read it. */
    @Getter
    @AllArgsConstructor(access = AccessLevel.PRIVATE)
    public static class NewerInKestra {
        @Schema(title = "Path in the repository")
        private final String file;

        @Schema(title = "`flow` or `file`")
        private final String kind;

        @Schema(title = "Flows: Kestra's revision the backup recorded")
        private final Long backupRevision;

        @Schema(title = "Flows: Kestra's revision now")
        private final Long kestraRevision;

        @Schema(title = "The last update the backup recorded (RFC 3339)")
        private final String backupUpdated;

        @Schema(title = "Kestra's last update now (RFC 3339)")
        private final String kestraUpdated;

        static NewerInKestra of(CoreReport.NewerRow row) {
            return new NewerInKestra(row.file, row.kind, row.backupRevision, row.kestraRevision, row.backupUpdated, row.kestraUpdated);
        }
    }
}
