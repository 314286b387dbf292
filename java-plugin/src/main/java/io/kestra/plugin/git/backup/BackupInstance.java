package io.kestra.plugin.git.backup;

import io.kestra.core.models.annotations.Example;
import io.kestra.core.models.annotations.Plugin;
import io.kestra.core.models.annotations.PluginProperty;
import io.kestra.core.models.property.Property;
import io.kestra.core.models.tasks.RunnableTask;
import io.kestra.core.runners.RunContext;
import io.kestra.plugin.git.backup.internal.CoreReport;
import io.swagger.v3.oas.annotations.media.Schema;
import lombok.*;
import lombok.experimental.SuperBuilder;

import java.net.URI;
import java.time.Duration;
import java.util.List;
import java.util.Map;

@SuperBuilder(toBuilder = true)
@ToString
@EqualsAndHashCode(callSuper = true)
@Getter
@NoArgsConstructor
@Schema(
    title = "Back up a whole Kestra instance to Git in one commit.",
    description = "Discovers the namespaces at run time (all, or one namespace and its children) and pushes every flow to "
        + "`<flowsDirectory>/<namespace>/<id>.yml` and every namespace file to `<filesDirectory>/<namespace>/<path>`, in ONE commit; "
        + "no commit when nothing changed. The layout is the one of the usual PushFlows/PushNamespaceFiles loop over namespaces, "
        + "so this one task can replace that loop on an existing backup repository. Reads everything through the Kestra API "
        + "(`kestraUrl`, `auth`), so the credentials must be able to read every namespace. Deletions are mirrored under the "
        + "deletion guard, as for the other tasks."
)
@Plugin(
    examples = {
        @Example(
            title = "Nightly backup of every namespace's flows and files in one commit, replacing a PushFlows/PushNamespaceFiles loop "
                + "(`filesDirectory: scripts` keeps that loop's layout).",
            full = true,
            code = """
                id: git_backup
                namespace: system
                tasks:
                  - id: backup
                    type: io.kestra.plugin.git.backup.BackupInstance
                    url: https://gitlab-01.local/backup/kestra
                    username: "{{ secret('GITLAB_USERNAME') }}"
                    password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
                    branch: main
                    flowsDirectory: flows
                    filesDirectory: scripts
                    cacheDirectory: /var/cache/kestra-backup
                triggers:
                  - id: nightly
                    type: io.kestra.plugin.core.trigger.Schedule
                    cron: 0 20 * * *
                concurrency:
                  limit: 1
                  behavior: FAIL
                """
        ),
        @Example(
            title = "Back up the flows of `company` and its child namespaces only, over SSH with a pinned host key.",
            full = true,
            code = """
                id: company_backup
                namespace: system
                tasks:
                  - id: backup
                    type: io.kestra.plugin.git.backup.BackupInstance
                    namespacePrefix: company
                    includeNamespaceFiles: false
                    url: git@gitlab-01.local:backup/company.git
                    privateKey: "{{ secret('GIT_SSH_KEY') }}"
                    hostKeyFingerprint: "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8"
                    kestraUrl: http://kestra:8080
                    auth:
                      username: "{{ secret('KESTRA_USERNAME') }}"
                      password: "{{ secret('KESTRA_PASSWORD') }}"
                triggers:
                  - id: hourly
                    type: io.kestra.plugin.core.trigger.Schedule
                    cron: 0 * * * *
                """
        ),
        @Example(
            title = "Also back up the KV store (Kestra 2.0), every value sealed to two public keys: the worker can seal, only the holders "
                + "of the secret keys can unseal (RestoreInstance's `identity`).",
            full = true,
            code = """
                id: git_backup_with_kv
                namespace: system
                tasks:
                  - id: backup
                    type: io.kestra.plugin.git.backup.BackupInstance
                    url: https://gitlab-01.local/backup/kestra
                    username: "{{ secret('GITLAB_USERNAME') }}"
                    password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
                    kv:
                      recipients:
                        - age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
                        - ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl ops@example.com
                triggers:
                  - id: nightly
                    type: io.kestra.plugin.core.trigger.Schedule
                    cron: 0 20 * * *
                """
        )
    }
)
public class BackupInstance extends AbstractBackupTask implements RunnableTask<BackupInstance.Output> {
    @Schema(
        title = "Back up only this namespace and its children",
        description = "`company` covers `company` and `company.*`, never a sibling such as `companyx`. Default: every namespace."
    )
    @PluginProperty(group = "source")
    private Property<String> namespacePrefix;

    @Schema(title = "Repository directory of the flows: `<flowsDirectory>/<namespace>/<id>.yml`")
    @Builder.Default
    @PluginProperty(group = "destination")
    private Property<String> flowsDirectory = Property.ofValue(InstanceLayout.FLOWS_DIRECTORY);

    @Schema(title = "Also back up the namespace files")
    @Builder.Default
    @PluginProperty(group = "source")
    private Property<Boolean> includeNamespaceFiles = Property.ofValue(true);

    @Schema(title = "Repository directory of the namespace files: `<filesDirectory>/<namespace>/<path>`")
    @Builder.Default
    @PluginProperty(group = "destination")
    private Property<String> filesDirectory = Property.ofValue(InstanceLayout.FILES_DIRECTORY);

    @Schema(
        title = "Also back up the KV store, its values sealed to public keys",
        description = "One file per entry, `<kv.gitDirectory>/<namespace>/<key>.json`: type, description, expiration date and the value sealed "
            + "to `kv.recipients` (age or SSH public keys). A value is sealed anew only when Kestra's entry changed or the recipients did, "
            + "so a run without change makes no commit. Kestra 2.0 only. Unset: the KV store is not backed up. See docs/kv-store.md."
    )
    @PluginProperty(group = "source")
    private KvStore kv;

    @Schema(
        title = "Also record whether each flow trigger is disabled at run time",
        description = "A trigger switched off from Kestra's UI is a flag of its state, not of the flow's source. One file per flow with "
            + "triggers, `<triggersDirectory>/<namespace>/<flowId>.json`, records the flag (nothing else: no dates), so a run with no "
            + "change makes no commit. Reads Kestra 2.0's and 1.x's triggers API."
    )
    @Builder.Default
    @PluginProperty(group = "source")
    private Property<Boolean> includeTriggerState = Property.ofValue(true);

    @Schema(title = "Repository directory of the trigger state: `<triggersDirectory>/<namespace>/<flowId>.json`")
    @Builder.Default
    @PluginProperty(group = "destination")
    private Property<String> triggersDirectory = Property.ofValue(InstanceLayout.TRIGGERS_DIRECTORY);

    @Schema(
        title = "Export everything at least this often; in between, only what Kestra's listings say changed",
        description = "Each run lists Kestra's flows (revision, last update) and namespace files (size, last modification) and compares them "
            + "with the manifest of the branch tip: only new or changed items are downloaded, the others keep their committed content. "
            + "A full export still runs when the backup has no manifest with Kestra's metadata yet, when a listing contradicts it, and "
            + "once this much time has passed since the last full export; it names any item whose content changed without its "
            + "metadata (and commits Kestra's content). `PT0S`: every run exports everything. Without `cacheDirectory`, a full export "
            + "that finds nothing to commit is not remembered, so the next runs stay full until something changes. See docs/tasks/backup-instance.md."
    )
    @Builder.Default
    @PluginProperty(group = "advanced")
    private Property<Duration> fullExportEvery = Property.ofValue(Duration.ofDays(1));

    @Override
    public Output run(RunContext runContext) throws Exception {
        CoreReport report = backup(runContext);
        return Output.builder()
            .kv(KvStore.counts(runContext, report.kv))
            .commitId(report.commitId)
            .commitURL(report.commitUrl)
            .tag(report.tagName())
            .backupSerial(report.backupSerial())
            .diff(diffFile(runContext, report))
            .build();
    }

    /** Whole instance: no single namespace to check; the API credentials decide what is readable. */
    @Override
    protected String renderedNamespace(RunContext runContext) {
        return null;
    }

    @Override
    protected String defaultCommitMessage(String namespace) {
        return "Backup of the Kestra instance";
    }

    @Override
    protected boolean needsKestraApi() {
        return true;
    }

    /** Every BackupInstance commit carries the backup's manifest. */
    @Override
    protected boolean writesManifest(RunContext runContext) {
        return true;
    }

    @Override
    protected List<Map<String, Object>> sources(RunContext runContext, String namespace) throws Exception {
        return InstanceLayout.sources(runContext, namespacePrefix, flowsDirectory, includeNamespaceFiles, filesDirectory);
    }

    @Override
    Map<String, Object> request(RunContext runContext) throws Exception {
        Map<String, Object> request = super.request(runContext);
        Duration every = runContext.render(fullExportEvery).as(Duration.class).orElse(Duration.ofDays(1));
        if (every.isNegative()) {
            throw new IllegalArgumentException("`fullExportEvery`: " + every + " is negative; use e.g. P1D, or PT0S to export everything on every run");
        }
        request.put("fullExportEvery", every.toString());
        InstanceLayout.triggerState(runContext, includeTriggerState, triggersDirectory).ifPresent(t -> request.put("triggerState", t));
        if (kv != null) {
            request.put("kv", KvStore.request(runContext, kv, namespacePrefix));
        }
        return request;
    }

    @SuperBuilder
    @Getter
    public static class Output extends AbstractBackupTask.Output {
        @Schema(
            title = "Diff file: one ION row per changed file",
            description = "A row: `{changes:\"3\",file:\"flows/ansible/backup.yml\",deletions:\"-5\",additions:\"+10\"}`"
        )
        private final URI diff;

        @Schema(title = "What the backup did with the KV entries; absent without `kv`")
        private final KvStore.Counts kv;
    }
}
