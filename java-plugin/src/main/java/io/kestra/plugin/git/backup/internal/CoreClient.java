package io.kestra.plugin.git.backup.internal;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.kestra.plugin.git.backup.BackupException;
import org.slf4j.Logger;

import java.util.Map;

/** One native call: request map → JSON → core → report, or a {@link BackupException}. */
public final class CoreClient {
    private static final ObjectMapper JSON = new ObjectMapper();

    private CoreClient() {
    }

    public static CoreReport run(Map<String, Object> request, Logger logger) {
        return run(request, logger, new TaskTimings());
    }

    /** One call; {@code timings} gets the laps {@code json}, {@code native}, {@code answer} and the core's phases. */
    public static CoreReport run(Map<String, Object> request, Logger logger, TaskTimings timings) {
        String requestJson;
        try {
            requestJson = JSON.writeValueAsString(request);
        } catch (Exception e) {
            throw new BackupException(BackupException.Code.Internal, "cannot serialise the request: " + e.getMessage(), null);
        }
        timings.lap("json");
        String envelope = NativeCore.call(requestJson, (level, message) -> log(logger, level, message));
        timings.lap("native");
        CoreReport report = parse(envelope, timings);
        timings.lap("answer");
        return report;
    }

    /** Reads the core's envelope; public for tests of the mapping. */
    public static CoreReport parse(String envelope) {
        return parse(envelope, new TaskTimings());
    }

    private static CoreReport parse(String envelope, TaskTimings timings) {
        try {
            JsonNode answer = JSON.readTree(envelope);
            JsonNode error = answer.get("error");
            if (error != null) {
                throw new BackupException(
                    BackupException.Code.parse(error.path("code").asText("Internal")),
                    FieldNames.asProperties(error.path("message").asText("unknown error")),
                    text(error, "localCommit"),
                    text(error, "unpushedBundle")
                );
            }
            timings.core(answer.path("report").path("timingsMs"));
            return JSON.treeToValue(answer.get("report"), CoreReport.class);
        } catch (BackupException e) {
            throw e;
        } catch (Exception e) {
            throw new BackupException(BackupException.Code.Internal, "unreadable answer from the native core: " + e.getMessage(), null);
        }
    }

    private static String text(JsonNode node, String field) {
        return node.hasNonNull(field) ? node.get(field).asText() : null;
    }

    private static void log(Logger logger, String level, String coreMessage) {
        String message = FieldNames.asProperties(coreMessage);
        switch (level) {
            case "ERROR" -> logger.error(message);
            case "WARN" -> logger.warn(message);
            case "INFO" -> logger.info(message);
            case "DEBUG" -> logger.debug(message);
            default -> logger.trace(message);
        }
    }
}
