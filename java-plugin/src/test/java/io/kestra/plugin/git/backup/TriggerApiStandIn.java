package io.kestra.plugin.git.backup;

import com.fasterxml.jackson.databind.JsonNode;
import io.kestra.core.async.AsyncOperationProcessedEvent;
import io.kestra.core.async.AsyncOperationsConfiguration;
import io.kestra.core.models.QueryFilter;
import io.kestra.core.models.flows.Flow;
import io.kestra.core.models.triggers.AbstractTrigger;
import io.kestra.core.models.triggers.TriggerId;
import io.kestra.core.repositories.ArrayListTotal;
import io.kestra.core.repositories.FlowRepositoryInterface;
import io.kestra.core.repositories.TriggerRepositoryInterface;
import io.kestra.core.scheduler.events.SetDisableTrigger;
import io.kestra.core.scheduler.model.TriggerState;
import io.kestra.core.scheduler.queue.TriggerEventQueue;
import io.kestra.core.serializers.JacksonMapper;
import io.kestra.core.services.AsyncOperationWaiter;
import io.micronaut.context.ApplicationContext;
import io.micronaut.data.model.Pageable;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.concurrent.TimeoutException;

/**
 * Kestra 2.0's triggers API as its webserver's `TriggerController` and `TriggerStateService`
 * answer it, through the same Kestra services (the webserver is not served here): `GET
 * triggers/search` (`page` from 1, default 1; `size`, default 10; `filters[namespace][<op>]`) is
 * the trigger repository's page as `{results: [{trigger, state}], total}`, `trigger` the flow's
 * trigger definition and `state` an `ApiTriggerState` (no tenant, vnode or last event; the
 * scheduler's type as `kind`; instants to the millisecond), a state whose flow is gone left out
 * of the page but counted in `total`; `PUT triggers/set-disabled` (`{namespace, flowId,
 * triggerId, disabled}`) checks that the flow and its trigger exist (404), sends Kestra's
 * `SetDisableTrigger` to the scheduler's queue and waits, as Kestra does, for the scheduler to
 * report it processed (409 when it failed, 504 after `kestra.async-operations.wait-timeout`), then
 * answers the trigger's state. A class of its own: Kestra 1.3, which the 1.3 runtime test runs the
 * stand-in on, has none of these classes.
 */
final class TriggerApiStandIn {
    private final TriggerRepositoryInterface triggers;
    private final FlowRepositoryInterface flows;
    private final TriggerEventQueue queue;
    private final AsyncOperationWaiter waiter;
    private final AsyncOperationsConfiguration async;

    TriggerApiStandIn(ApplicationContext context) {
        triggers = context.getBean(TriggerRepositoryInterface.class);
        flows = context.getBean(FlowRepositoryInterface.class);
        queue = context.getBean(TriggerEventQueue.class);
        waiter = context.getBean(AsyncOperationWaiter.class);
        async = context.getBean(AsyncOperationsConfiguration.class);
    }

    /** A status and a JSON body. */
    record Answer(int status, Object body) {
        byte[] bytes() throws Exception {
            return JacksonMapper.ofJson().writeValueAsBytes(body);
        }
    }

    /** The answer to `<method> triggers/<rest>`; empty when Kestra has no such route. */
    Optional<Answer> answer(String method, String call, String rawQuery, byte[] body) throws Exception {
        if ("GET".equals(method) && call.equals("triggers/search")) {
            return Optional.of(search(rawQuery));
        }
        if ("PUT".equals(method) && call.equals("triggers/set-disabled")) {
            return Optional.of(setDisabled(JacksonMapper.ofJson().readTree(body)));
        }
        return Optional.empty();
    }

    private Answer search(String rawQuery) {
        int page = 1, size = 10;
        List<QueryFilter> filters = new ArrayList<>();
        for (String pair : rawQuery == null ? new String[0] : rawQuery.split("&")) {
            String key = URLDecoder.decode(pair.substring(0, pair.indexOf('=')), StandardCharsets.UTF_8);
            String value = URLDecoder.decode(pair.substring(pair.indexOf('=') + 1), StandardCharsets.UTF_8);
            if (key.equals("page")) {
                page = Integer.parseInt(value);
            } else if (key.equals("size")) {
                size = Integer.parseInt(value);
            } else if (key.startsWith("filters[namespace][") && key.endsWith("]")) {
                QueryFilter.Op op = QueryFilter.Op.valueOf(key.substring("filters[namespace][".length(), key.length() - 1));
                filters.add(QueryFilter.builder().field(QueryFilter.Field.NAMESPACE).operation(op).value(value).build());
            } else {
                throw new IllegalArgumentException("unexpected query parameter " + key);
            }
        }
        if (page < 1 || size < 1) {
            return new Answer(400, Map.of("message", "page and size must be at least 1"));
        }
        ArrayListTotal<TriggerState> states = triggers.find(Pageable.from(page, size), "main", filters);
        List<Map<String, Object>> results = new ArrayList<>();
        for (TriggerState state : states) {
            Optional<Flow> flow = flows.findById("main", state.getNamespace(), state.getFlowId());
            if (flow.isEmpty() || flow.get().getTriggers() == null) {
                continue;
            }
            AbstractTrigger trigger = flow.get().getTriggers().stream().filter(t -> t.getId().equals(state.getTriggerId())).findFirst().orElse(null);
            Map<String, Object> result = new LinkedHashMap<>();
            result.put("trigger", trigger);
            result.put("state", apiState(state));
            results.add(result);
        }
        return new Answer(200, Map.of("results", results, "total", states.getTotal()));
    }

    private Answer setDisabled(JsonNode request) {
        TriggerId id = TriggerId.of("main", request.path("namespace").asText(), request.path("flowId").asText(), request.path("triggerId").asText());
        Optional<Flow> flow = flows.findById("main", id.getNamespace(), id.getFlowId());
        if (flow.isEmpty()) {
            return new Answer(404, Map.of("message", "Flow not found for trigger: " + id.uid()));
        }
        if (flow.get().getTriggers() == null || flow.get().getTriggers().stream().noneMatch(t -> t.getId().equals(id.getTriggerId()))) {
            return new Answer(404, Map.of("message", "Trigger not found: " + id.uid()));
        }
        boolean disabled = request.path("disabled").asBoolean();
        AsyncOperationProcessedEvent processed;
        try {
            processed = waiter.submitAndWait(id.uid(), operationId -> queue.send(new SetDisableTrigger(id, disabled).withOperationId(operationId)), async.waitTimeout());
        } catch (TimeoutException e) {
            return new Answer(504, Map.of("message", "Operation timed out waiting for state transition"));
        }
        if (processed.outcome() == AsyncOperationProcessedEvent.Outcome.FAILED) {
            return new Answer(409, Map.of("message", "Set disabled failed: " + processed.error()));
        }
        return new Answer(200, apiState(triggers.findById(id).orElseThrow()));
    }

    /** Kestra's `ApiTriggerState`: the state without tenant, vnode and last event, `type` as `kind`. */
    private static Map<String, Object> apiState(TriggerState state) {
        Map<String, Object> api = new LinkedHashMap<>();
        api.put("namespace", state.getNamespace());
        api.put("flowId", state.getFlowId());
        api.put("triggerId", state.getTriggerId());
        api.put("updatedAt", millis(state.getUpdatedAt()));
        api.put("evaluatedAt", millis(state.getEvaluatedAt()));
        api.put("nextEvaluationDate", millis(state.getNextEvaluationDate()));
        api.put("backfill", state.getBackfill());
        api.put("stopAfter", state.getStopAfter());
        api.put("disabled", state.isDisabled());
        api.put("locked", state.isLocked());
        api.put("workerId", state.getWorkerId());
        api.put("lastTriggeredDate", millis(state.getLastTriggeredDate()));
        api.put("executionId", state.getExecutionId());
        api.put("kind", state.getType());
        return api;
    }

    private static Instant millis(Instant instant) {
        return instant == null ? null : instant.truncatedTo(ChronoUnit.MILLIS);
    }
}
