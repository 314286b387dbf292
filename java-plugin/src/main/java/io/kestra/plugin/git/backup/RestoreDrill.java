package io.kestra.plugin.git.backup;

import io.kestra.core.models.annotations.Example;
import io.kestra.core.models.annotations.Plugin;
import io.kestra.core.models.annotations.PluginProperty;
import io.kestra.core.models.property.Property;
import io.kestra.core.models.tasks.RunnableTask;
import io.kestra.core.runners.RunContext;
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
    title = "Check that the Git backup would restore, without writing anything.",
    description = "Reads the branch written by BackupInstance, submits every flow of the backup to Kestra's own validation and compares "
        + "the backup with what Kestra holds. Fails when Kestra refuses a flow of the backup (a plugin removed, a property renamed: "
        + "the backup would not restore), and with `failOnDrift: true` also when Kestra and the backup differ. Writes nothing, "
        + "neither to Kestra nor to Git."
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
        )
    }
)
public class RestoreDrill extends AbstractRestoreTask implements RunnableTask<RestoreDrill.Output> {
    @Schema(title = "Also fail when Kestra and the backup differ", description = "Off: differences are reported in the outputs and the log only.")
    @Builder.Default
    @PluginProperty(group = "execution")
    private Property<Boolean> failOnDrift = Property.ofValue(false);

    @Override
    public Output run(RunContext runContext) throws Exception {
        return comparison(Output.builder(), runContext, restore(runContext)).build();
    }

    @Override
    protected String job() {
        return "drill";
    }

    @Override
    protected void putOptions(RunContext runContext, Map<String, Object> options, Map<String, Object> request) throws Exception {
        options.put("failOnDrift", runContext.render(failOnDrift).as(Boolean.class).orElse(false));
    }

    @SuperBuilder
    @Getter
    public static class Output extends AbstractRestoreTask.Output {
    }
}
