package io.kestra.plugin.git.backup;

import io.kestra.core.exceptions.IllegalVariableEvaluationException;
import io.kestra.core.models.annotations.PluginProperty;
import io.kestra.core.models.property.Property;
import io.kestra.core.runners.RunContext;
import io.swagger.v3.oas.annotations.media.Schema;
import lombok.*;
import lombok.experimental.SuperBuilder;

/**
 * The drop-in tasks that back up one namespace per run (PushFlows, PushNamespaceFiles): plugin-git's
 * exact tree by default, the backup's manifest only when asked.
 */
@SuperBuilder(toBuilder = true)
@ToString
@EqualsAndHashCode(callSuper = true)
@Getter
@NoArgsConstructor
public abstract class AbstractNamespaceBackupTask extends AbstractBackupTask {
    @Schema(
        title = "Also write the backup's manifest, `.kestra-backup/manifest.json`, in each commit",
        description = "Off by default, so the tree stays exactly plugin-git's. On: each commit's manifest describes the whole backup of the "
            + "branch (the other tasks' items are kept), with a serial, the instance, the plugin types the flows use and what is not covered; "
            + "the coverage guard then checks this task's directory (docs/manifest.md)."
    )
    @Builder.Default
    @PluginProperty(group = "destination")
    private Property<Boolean> manifest = Property.ofValue(false);

    @Override
    protected boolean writesManifest(RunContext runContext) throws IllegalVariableEvaluationException {
        return runContext.render(manifest).as(Boolean.class).orElse(false);
    }
}
