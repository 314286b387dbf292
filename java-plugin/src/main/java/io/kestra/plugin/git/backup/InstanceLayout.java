package io.kestra.plugin.git.backup;

import io.kestra.core.exceptions.IllegalVariableEvaluationException;
import io.kestra.core.models.property.Property;
import io.kestra.core.runners.RunContext;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The whole-instance layout shared by BackupInstance, RestoreInstance and RestoreDrill: flows in
 * `<flowsDirectory>/<namespace>/<id>.yml`, namespace files in `<filesDirectory>/<namespace>/<path>`,
 * for every namespace discovered under `namespacePrefix`, as the core's two sources; and the
 * flow triggers' on/off state in `<triggersDirectory>/<namespace>/<flowId>.json`.
 */
final class InstanceLayout {
    static final String FLOWS_DIRECTORY = "flows";
    static final String FILES_DIRECTORY = "files";
    /** Trigger state: `<triggersDirectory>/<namespace>/<flowId>.json` (docs/trigger-state.md). */
    static final String TRIGGERS_DIRECTORY = "triggers";

    private InstanceLayout() {
    }

    static List<Map<String, Object>> sources(RunContext runContext, Property<String> namespacePrefix, Property<String> flowsDirectory,
                                             Property<Boolean> includeNamespaceFiles, Property<String> filesDirectory) throws IllegalVariableEvaluationException {
        Map<String, Object> discover = Map.of("discover", Map.of("prefix", runContext.render(namespacePrefix).as(String.class).orElse("").trim()));
        List<Map<String, Object>> sources = new ArrayList<>();
        sources.add(source("flows", discover, runContext.render(flowsDirectory).as(String.class).orElse(FLOWS_DIRECTORY)));
        if (runContext.render(includeNamespaceFiles).as(Boolean.class).orElse(true)) {
            sources.add(source("namespaceFiles", discover, runContext.render(filesDirectory).as(String.class).orElse(FILES_DIRECTORY)));
        }
        return sources;
    }

    /** The core's `triggerState`, or empty when `includeTriggerState` is off. */
    static Optional<Map<String, Object>> triggerState(RunContext runContext, Property<Boolean> includeTriggerState, Property<String> triggersDirectory)
        throws IllegalVariableEvaluationException {
        if (!runContext.render(includeTriggerState).as(Boolean.class).orElse(true)) {
            return Optional.empty();
        }
        return Optional.of(Map.of("gitDirectory", runContext.render(triggersDirectory).as(String.class).orElse(TRIGGERS_DIRECTORY)));
    }

    static Map<String, Object> source(String kind, Map<String, Object> namespaces, String gitDirectory) {
        Map<String, Object> source = new LinkedHashMap<>();
        source.put("kind", kind);
        source.put("namespaces", namespaces);
        source.put("gitDirectory", gitDirectory);
        return source;
    }
}
