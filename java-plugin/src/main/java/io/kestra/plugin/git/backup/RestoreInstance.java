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

import java.util.Map;

@SuperBuilder(toBuilder = true)
@ToString
@EqualsAndHashCode(callSuper = true)
@Getter
@NoArgsConstructor
@Schema(
    title = "Restore flows and namespace files from a Git backup into Kestra.",
    description = "Reads the branch written by BackupInstance (`<flowsDirectory>/<namespace>/<id>.yml`, `<filesDirectory>/<namespace>/<path>`), "
        + "compares it with what Kestra holds and writes back what Kestra is missing; with `overwrite: true` also what differs. "
        + "Every flow to write is first checked by Kestra's own validation: if one is refused, nothing is written and the task fails "
        + "naming it. Nothing is ever deleted from Kestra. Needs Kestra API credentials that may write flows and files."
)
@Plugin(
    examples = {
        @Example(
            title = "Disaster recovery: bring every flow and namespace file of the backup back into a new Kestra (dry run first).",
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
                      apiToken: "{{ secret('KESTRA_API_TOKEN') }}"
                """
        )
    }
)
public class RestoreInstance extends AbstractRestoreTask implements RunnableTask<RestoreInstance.Output> {
    @Schema(title = "Also replace flows and files that Kestra holds with other content", description = "Off: only what Kestra is missing is written.")
    @Builder.Default
    @PluginProperty(group = "execution")
    private Property<Boolean> overwrite = Property.ofValue(false);

    @Schema(title = "Compare and validate, write nothing")
    @Builder.Default
    @PluginProperty(group = "execution")
    private Property<Boolean> dryRun = Property.ofValue(false);

    @Override
    public Output run(RunContext runContext) throws Exception {
        CoreReport.Restore r = restore(runContext);
        return comparison(Output.builder(), runContext, r).restoredFlows(r.restoredFlows).restoredFiles(r.restoredFiles).build();
    }

    @Override
    protected String job() {
        return "restore";
    }

    @Override
    protected void putOptions(RunContext runContext, Map<String, Object> options, Map<String, Object> request) throws Exception {
        options.put("overwrite", runContext.render(overwrite).as(Boolean.class).orElse(false));
        request.put("dryRun", runContext.render(dryRun).as(Boolean.class).orElse(false));
    }

    @SuperBuilder
    @Getter
    public static class Output extends AbstractRestoreTask.Output {
        @Schema(title = "Flows written to Kestra")
        private final long restoredFlows;

        @Schema(title = "Namespace files written to Kestra")
        private final long restoredFiles;
    }
}
