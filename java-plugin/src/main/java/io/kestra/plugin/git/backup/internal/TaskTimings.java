package io.kestra.plugin.git.backup.internal;

import com.fasterxml.jackson.databind.JsonNode;

import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Where one task's time went, Java side (laps) and the core's own phases (its report's
 * {@code timingsMs}), as one DEBUG line of {@code name=ms} pairs that the benchmark reads.
 */
public final class TaskTimings {
    private final Map<String, Double> phases = new LinkedHashMap<>();
    private long mark = System.nanoTime();

    /** Charges the time since the previous lap (or the start) to {@code phase}. */
    public void lap(String phase) {
        long now = System.nanoTime();
        phases.merge(phase, (now - mark) / 1_000_000.0, Double::sum);
        mark = now;
    }

    /** The core's phases, named {@code core.<field>}. */
    void core(JsonNode timingsMs) {
        timingsMs.properties().forEach(field -> phases.put("core." + field.getKey(), field.getValue().asDouble()));
    }

    public String line() {
        StringBuilder out = new StringBuilder("Timings (ms):");
        phases.forEach((phase, ms) -> out.append(' ').append(phase).append('=').append(String.format(Locale.ROOT, "%.2f", ms)));
        return out.toString();
    }
}
