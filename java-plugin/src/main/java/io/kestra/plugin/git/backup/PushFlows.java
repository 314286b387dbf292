package io.kestra.plugin.git.backup;

import io.kestra.core.exceptions.IllegalVariableEvaluationException;
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
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

@SuperBuilder(toBuilder = true)
@ToString
@EqualsAndHashCode(callSuper = true)
@Getter
@NoArgsConstructor
@Schema(
    title = "Back up flows to Git (drop-in for io.kestra.plugin.git.PushFlows).",
    description = "Exports the flows of a namespace from the Kestra API into `gitDirectory` (default `_flows`, one `<id>.yml` per flow) "
        + "and pushes one commit; no commit when nothing changed. Same properties, defaults and outputs as plugin-git's PushFlows, "
        + "plus a deletion guard, a branch cache and push retries that never force."
)
@Plugin(
    examples = {
        @Example(
            title = "Nightly backup of four namespaces' flows and scripts (Kestra 1.x); only the `type:` lines differ from plugin-git. "
                + "Kestra 2.0.0 has neither `ForEach` nor flow-level `pluginDefaults`: list the tasks per namespace and keep the connection "
                + "in flow `variables` (`url: \"{{ vars.git_url }}\"`), as the project's docs/migration.md shows.",
            full = true,
            code = """
                id: git_push
                namespace: system
                tasks:
                  - id: push
                    type: io.kestra.plugin.core.flow.ForEach
                    values: [ansible, outputs, posting, proxmox]
                    tasks:
                      - id: flows
                        type: io.kestra.plugin.git.backup.PushFlows
                        sourceNamespace: "{{ taskrun.value }}"
                        gitDirectory: "{{'flows/' ~ taskrun.value}}"
                        includeChildNamespaces: false
                      - id: scripts
                        type: io.kestra.plugin.git.backup.PushNamespaceFiles
                        namespace: "{{ taskrun.value }}"
                        gitDirectory: "{{'scripts/' ~ taskrun.value}}"
                triggers:
                  - id: schedule_push_to_git
                    type: io.kestra.plugin.core.trigger.Schedule
                    cron: 0 20 * * *
                pluginDefaults:
                  - type: io.kestra.plugin.git
                    values:
                      username: "{{ secret('GITLAB_USERNAME') }}"
                      url: https://gitlab-01.local/backup/kestra
                      password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
                      branch: main
                      dryRun: false
                concurrency:
                  limit: 1
                  behavior: FAIL
                """
        ),
        @Example(
            title = "Push the flows of `company` and its child namespaces over SSH with a pinned host key.",
            full = true,
            code = """
                id: push_flows_ssh
                namespace: system
                tasks:
                  - id: flows
                    type: io.kestra.plugin.git.backup.PushFlows
                    sourceNamespace: company
                    includeChildNamespaces: true
                    gitDirectory: flows
                    url: git@gitlab-01.local:backup/kestra.git
                    privateKey: "{{ secret('GIT_SSH_KEY') }}"
                    hostKeyFingerprint: "SHA256:nThbg6kXUpJWGl7E1IGOCspRomTxdCARLviKw6E5SY8"
                    authorName: Kestra Backup
                    authorEmail: backup@example.com
                triggers:
                  - id: nightly
                    type: io.kestra.plugin.core.trigger.Schedule
                    cron: 0 2 * * *
                """
        )
    }
)
public class PushFlows extends AbstractNamespaceBackupTask implements RunnableTask<PushFlows.Output> {
    @Schema(title = "Namespace whose flows are exported", description = "Defaults to the namespace of the flow running the task.")
    @Builder.Default
    @PluginProperty(group = "source")
    private Property<String> sourceNamespace = Property.ofExpression("{{ flow.namespace }}");

    @Schema(title = "Rewrite `namespace:` lines from the source namespace to this one in the pushed files")
    @PluginProperty(group = "source")
    private Property<String> targetNamespace;

    @Schema(title = "Flow ids to push: a glob, a list of globs, or a JSON array string", description = "Default: all flows.")
    @PluginProperty(dynamic = true, group = "source")
    private Object flows;

    @Schema(title = "Also push child namespaces, each in a sub-directory")
    @Builder.Default
    @PluginProperty(group = "source")
    private Property<Boolean> includeChildNamespaces = Property.ofValue(false);

    @Schema(title = "Repository directory of the flows")
    @Builder.Default
    @PluginProperty(group = "destination")
    private Property<String> gitDirectory = Property.ofValue("_flows");

    @Override
    public Output run(RunContext runContext) throws Exception {
        CoreReport report = backup(runContext);
        return Output.builder()
            .commitId(report.commitId)
            .commitURL(report.commitUrl)
            .tag(report.tagName())
            .backupSerial(report.backupSerial())
            .flows(diffFile(runContext, report))
            .build();
    }

    @Override
    protected String renderedNamespace(RunContext runContext) throws IllegalVariableEvaluationException {
        return runContext.render(sourceNamespace).as(String.class).orElse(null);
    }

    @Override
    protected String defaultCommitMessage(String namespace) {
        return "Add flows from " + namespace + " namespace";
    }

    @Override
    protected boolean needsKestraApi() {
        return true;
    }

    @Override
    protected List<Map<String, Object>> sources(RunContext runContext, String namespace) throws Exception {
        Map<String, Object> source = new LinkedHashMap<>();
        source.put("kind", "flows");
        source.put("namespaces", Map.of("one", Map.of(
            "namespace", namespace,
            "includeChildren", runContext.render(includeChildNamespaces).as(Boolean.class).orElse(false))));
        source.put("gitDirectory", runContext.render(gitDirectory).as(String.class).orElse("_flows"));
        source.put("globs", renderGlobs(runContext, flows));
        runContext.render(targetNamespace).as(String.class).filter(s -> !s.isBlank()).ifPresent(t -> source.put("targetNamespace", t));
        return List.of(source);
    }

    @SuperBuilder
    @Getter
    public static class Output extends AbstractBackupTask.Output {
        @Schema(
            title = "Diff file: one ION row per changed file",
            description = "A row: `{changes:\"3\",file:\"flows/ansible/backup.yml\",deletions:\"-5\",additions:\"+10\"}`"
        )
        private final URI flows;
    }
}
