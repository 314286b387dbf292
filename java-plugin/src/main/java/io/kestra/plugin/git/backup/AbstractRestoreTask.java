package io.kestra.plugin.git.backup;

import io.kestra.core.models.annotations.PluginProperty;
import io.kestra.core.models.executions.metrics.Counter;
import io.kestra.core.models.executions.metrics.Timer;
import io.kestra.core.models.property.Property;
import io.kestra.core.runners.RunContext;
import io.kestra.plugin.git.backup.internal.CoreClient;
import io.kestra.plugin.git.backup.internal.CoreReport;
import io.kestra.plugin.git.backup.internal.IonFile;
import io.swagger.v3.oas.annotations.media.Schema;
import lombok.*;
import lombok.experimental.SuperBuilder;

import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The restore side: the backup of BackupInstance (whole-instance layout) compared with what Kestra
 * holds, its flows checked by Kestra's validation, and (RestoreInstance) written back. Java renders
 * and maps; the native core fetches, compares, validates and writes.
 */
@SuperBuilder(toBuilder = true)
@ToString
@EqualsAndHashCode(callSuper = true)
@Getter
@NoArgsConstructor
public abstract class AbstractRestoreTask extends AbstractGitTask {
    @Schema(
        title = "Restore only this namespace and its children",
        description = "`company` covers `company` and `company.*`, never a sibling such as `companyx`. Default: every namespace of the backup."
    )
    @PluginProperty(group = "source")
    protected Property<String> namespacePrefix;

    @Schema(
        title = "Restore one namespace from a PushFlows/PushNamespaceFiles layout instead",
        description = "Its flows directly in `flowsDirectory` (PushFlows' default `_flows`), its files in `filesDirectory` "
            + "(PushNamespaceFiles' default `_files`); set the directories the backup used. Unset: the whole-instance layout."
    )
    @PluginProperty(group = "source")
    protected Property<String> namespace;

    @Schema(title = "With `namespace`: the flows directory also holds child namespaces in sub-directories (PushFlows' `includeChildNamespaces`)")
    @Builder.Default
    @PluginProperty(group = "source")
    protected Property<Boolean> includeChildNamespaces = Property.ofValue(false);

    @Schema(title = "Repository directory of the flows: `<flowsDirectory>/<namespace>/<id>.yml`, as BackupInstance writes them")
    @Builder.Default
    @PluginProperty(group = "source")
    protected Property<String> flowsDirectory = Property.ofValue(InstanceLayout.FLOWS_DIRECTORY);

    @Schema(title = "Also restore the namespace files")
    @Builder.Default
    @PluginProperty(group = "source")
    protected Property<Boolean> includeNamespaceFiles = Property.ofValue(true);

    @Schema(title = "Repository directory of the namespace files: `<filesDirectory>/<namespace>/<path>`")
    @Builder.Default
    @PluginProperty(group = "source")
    protected Property<String> filesDirectory = Property.ofValue(InstanceLayout.FILES_DIRECTORY);

    /** The core's job: `restore` or `drill`. */
    protected abstract String job();

    /** The job's options and dry-run flag, rendered: the request's `restore` object and `dryRun`. */
    protected abstract void putOptions(RunContext runContext, Map<String, Object> options, Map<String, Object> request) throws Exception;

    protected CoreReport.Restore restore(RunContext runContext) throws Exception {
        CoreReport report = CoreClient.run(request(runContext), runContext.logger());
        CoreReport.Restore restore = report.restore == null ? new CoreReport.Restore() : report.restore;
        runContext.metric(Counter.of("restore.in_sync", restore.inSync));
        runContext.metric(Counter.of("restore.missing_in_kestra", restore.missingInKestra));
        runContext.metric(Counter.of("restore.differing", restore.differing));
        runContext.metric(Counter.of("restore.only_in_kestra", restore.onlyInKestra));
        runContext.metric(Counter.of("restore.flows_validated", restore.flowsValidated));
        runContext.metric(Counter.of("restore.flows_restored", restore.restoredFlows));
        runContext.metric(Counter.of("restore.files_restored", restore.restoredFiles));
        runContext.metric(Timer.of("duration", Duration.ofMillis(report.timingsMs.total)));
        return restore;
    }

    /** The core's request with every property rendered (docs/request-report.md). */
    Map<String, Object> request(RunContext runContext) throws Exception {
        Map<String, Object> request = new LinkedHashMap<>();
        Map<String, Object> options = new LinkedHashMap<>();
        request.put("job", job());
        request.put("kestra", kestra(runContext));
        request.put("git", connection(runContext));
        request.put("sources", sources(runContext));
        putOptions(runContext, options, request);
        request.put("restore", options);
        return request;
    }

    /** The layout the backup was written in: the whole instance, or one namespace (`namespace`). */
    private List<Map<String, Object>> sources(RunContext runContext) throws Exception {
        Optional<String> rNamespace = runContext.render(namespace).as(String.class).map(String::trim).filter(n -> !n.isEmpty());
        if (rNamespace.isEmpty()) {
            return InstanceLayout.sources(runContext, namespacePrefix, flowsDirectory, includeNamespaceFiles, filesDirectory);
        }
        if (runContext.render(namespacePrefix).as(String.class).filter(p -> !p.isBlank()).isPresent()) {
            throw new BackupException(BackupException.Code.InvalidConfig,
                "`namespace` and `namespacePrefix` exclude each other: `namespace` reads a one-namespace layout, `namespacePrefix` the whole-instance one", null);
        }
        boolean children = runContext.render(includeChildNamespaces).as(Boolean.class).orElse(false);
        List<Map<String, Object>> sources = new ArrayList<>();
        sources.add(InstanceLayout.source("flows", Map.of("one", Map.of("namespace", rNamespace.get(), "includeChildren", children)),
            runContext.render(flowsDirectory).as(String.class).orElse(InstanceLayout.FLOWS_DIRECTORY)));
        if (runContext.render(includeNamespaceFiles).as(Boolean.class).orElse(true)) {
            sources.add(InstanceLayout.source("namespaceFiles", Map.of("one", Map.of("namespace", rNamespace.get())),
                runContext.render(filesDirectory).as(String.class).orElse(InstanceLayout.FILES_DIRECTORY)));
        }
        return sources;
    }

    /** How the backup compares with Kestra (both restore tasks). */
    @SuperBuilder
    @Getter
    public abstract static class Output implements io.kestra.core.models.tasks.Output {
        @Schema(title = "Files of the backup that Kestra holds with the same content")
        private final long inSync;

        @Schema(title = "Files of the backup that Kestra does not have")
        private final long missingInKestra;

        @Schema(title = "Files of the backup that Kestra holds with other content")
        private final long differing;

        @Schema(title = "Flows and files Kestra holds that the backup does not (never deleted)")
        private final long onlyInKestra;

        @Schema(title = "Flows of the backup checked with Kestra's own validation")
        private final long flowsValidated;

        @Schema(
            title = "Drift file: one ION row per file that is not in sync",
            description = "A row: `{file:\"flows/company/etl.yml\",state:\"missingInKestra\"}`; states `missingInKestra`, `differing`, `onlyInKestra`."
        )
        private final URI drift;
    }

    /** Fills the comparison outputs both restore tasks share, the drift file uploaded to internal storage. */
    protected static <B extends Output.OutputBuilder<?, ?>> B comparison(B output, RunContext runContext, CoreReport.Restore restore) throws Exception {
        output.inSync(restore.inSync).missingInKestra(restore.missingInKestra).differing(restore.differing).onlyInKestra(restore.onlyInKestra)
            .flowsValidated(restore.flowsValidated)
            .drift(IonFile.upload(runContext, file -> IonFile.drift(restore.drift, file)));
        return output;
    }
}
