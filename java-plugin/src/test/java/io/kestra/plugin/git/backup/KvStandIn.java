package io.kestra.plugin.git.backup;

import com.fasterxml.jackson.core.JsonParseException;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.sun.net.httpserver.HttpExchange;
import io.kestra.core.exceptions.ResourceExpiredException;
import io.kestra.core.models.QueryFilter;
import io.kestra.core.models.kv.KVType;
import io.kestra.core.repositories.ArrayListTotal;
import io.kestra.core.serializers.JacksonMapper;
import io.kestra.core.services.KVStoreService;
import io.kestra.core.storages.kv.KVEntry;
import io.kestra.core.storages.kv.KVMetadata;
import io.kestra.core.storages.kv.KVStore;
import io.kestra.core.storages.kv.KVValue;
import io.kestra.core.storages.kv.KVValueAndMetadata;
import io.kestra.core.utils.TypeConverter;
import io.micronaut.data.model.Pageable;
import io.micronaut.data.model.Sort;

import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The KV endpoints of Kestra 2.0's `KVController`, answered through Kestra's own `KVStoreService`
 * the way the controller does (kestra-io/kestra, `webserver/.../KVController.java`, 2.0):
 * `GET kv` (`page` from 1, as Kestra's repositories count pages too, `size` default 10, `sort` as `field:asc|desc` with the controller's
 * field names, `filters[namespace][OP]`) answers `PagedResults` `{results: [KVEntry], total}` of
 * the entries not expired; `GET namespaces/{ns}/kv/{key}` answers `KvDetail` `{type, value,
 * revision, updated}` (404 when absent, 410 when expired); `PUT namespaces/{ns}/kv/{key}` takes a
 * `text/plain` ION literal, parsed with Kestra's ION mapper into a tree (a body that is not one ION
 * value is stored as the raw string), with the `ttl` (ISO-8601 duration) and `description`
 * headers, and answers 200 with no body. A class of its own, loaded only when a test sets
 * {@link KestraApiStandIn#kv}: Kestra 1.3, which the 1.3 runtime test runs the stand-in on, has
 * another KV API.
 */
final class KvStandIn {
    static final Pattern ENTRY = Pattern.compile("namespaces/([^/]+)/kv/([^/]+)");
    private static final Map<String, String> SORT_FIELDS = Map.of(
        "namespace", "namespace", "key", "name", "revision", "version", "description", "description",
        "creationDate", "created", "updateDate", "updated", "expirationDate", "expirationDate");

    private final KVStoreService service;

    KvStandIn(KVStoreService service) {
        this.service = service;
    }

    /** Whether `call` (the path after `/api/v1/main/`) is a KV endpoint. */
    static boolean handles(String call) {
        return call.equals("kv") || ENTRY.matcher(call).matches();
    }

    /** Answers one KV call; an unexpected failure is a 500 with its message, as Kestra's error handler answers it. */
    void answer(HttpExchange exchange, String call) throws Exception {
        try {
            route(exchange, call);
        } catch (Exception e) {
            e.printStackTrace();
            reply(exchange, 500, Map.of("message", "Internal Server Error: " + e));
        }
    }

    private void route(HttpExchange exchange, String call) throws Exception {
        String method = exchange.getRequestMethod();
        Matcher entry = ENTRY.matcher(call);
        if (call.equals("kv") && method.equals("GET")) {
            list(exchange);
        } else if (entry.matches() && method.equals("GET")) {
            detail(exchange, decode(entry.group(1)), decode(entry.group(2)));
        } else if (entry.matches() && method.equals("PUT")) {
            put(exchange, decode(entry.group(1)), decode(entry.group(2)));
        } else {
            reply(exchange, 405, Map.of("message", "Method Not Allowed"));
        }
    }

    private void list(HttpExchange exchange) throws Exception {
        int page = 1, size = 10;
        List<Sort.Order> orders = new ArrayList<>();
        List<QueryFilter> filters = new ArrayList<>();
        String query = exchange.getRequestURI().getRawQuery();
        for (String pair : query == null ? new String[0] : query.split("&")) {
            String key = decode(pair.substring(0, pair.indexOf('=')));
            String value = decode(pair.substring(pair.indexOf('=') + 1));
            Matcher filter = Pattern.compile("filters\\[namespace]\\[(\\w+)]").matcher(key);
            if (key.equals("page")) {
                page = Integer.parseInt(value);
            } else if (key.equals("size")) {
                size = Integer.parseInt(value);
            } else if (key.equals("sort")) {
                String[] parts = value.split(":");
                String field = SORT_FIELDS.get(parts[0]);
                if (field == null) {
                    reply(exchange, 422, Map.of("message", "Invalid sort field: " + parts[0]));
                    return;
                }
                orders.add(parts.length > 1 && parts[1].equals("desc") ? Sort.Order.desc(field) : Sort.Order.asc(field));
            } else if (filter.matches()) {
                filters.add(QueryFilter.builder().field(QueryFilter.Field.NAMESPACE).operation(QueryFilter.Op.valueOf(filter.group(1))).value(value).build());
            } else {
                throw new IllegalArgumentException("unexpected query parameter " + key);
            }
        }
        ArrayListTotal<KVEntry> entries = service.list(Pageable.from(page, size, orders.isEmpty() ? Sort.UNSORTED : Sort.of(orders)), "main", null, filters);
        Map<String, Object> paged = new LinkedHashMap<>();
        paged.put("results", entries);
        paged.put("total", entries.getTotal());
        reply(exchange, 200, paged);
    }

    private void detail(HttpExchange exchange, String namespace, String key) throws Exception {
        KVStore store = service.get("main", namespace);
        Object value;
        try {
            var found = store.getValue(key);
            if (found.isEmpty()) {
                reply(exchange, 404, Map.of("message", "No value found for key '" + key + "' in namespace '" + namespace + "'"));
                return;
            }
            value = found.map(KVValue::value).orElse(null);
        } catch (ResourceExpiredException e) {
            reply(exchange, 410, Map.of("message", e.getMessage()));
            return;
        }
        if (value instanceof byte[] bytes) {
            value = new String(bytes);
        }
        KVEntry kvEntry = store.get(key).orElseThrow();
        Map<String, Object> detail = new LinkedHashMap<>();
        detail.put("type", KVType.from(value));
        detail.put("value", value);
        detail.put("revision", kvEntry.revision());
        detail.put("updated", kvEntry.updateDate());
        reply(exchange, 200, detail);
    }

    private void put(HttpExchange exchange, String namespace, String key) throws Exception {
        String value = new String(exchange.getRequestBody().readAllBytes(), StandardCharsets.UTF_8);
        String description = exchange.getRequestHeaders().getFirst("description");
        String ttl = exchange.getRequestHeaders().getFirst("ttl");
        KVMetadata metadata = new KVMetadata(description, TypeConverter.toDuration(ttl));
        KVStore store = service.get("main", namespace);
        try (JsonParser parser = JacksonMapper.ofIon().createParser(value)) {
            JsonNode tree = JacksonMapper.ofIon().readTree(parser);
            if (parser.nextToken() != null) {
                throw new JsonParseException(parser, "Trailing content after the first Ion value");
            }
            store.put(key, new KVValueAndMetadata(metadata, tree));
        } catch (JsonProcessingException e) {
            store.put(key, new KVValueAndMetadata(metadata, value));
        }
        exchange.sendResponseHeaders(200, -1);
    }

    private static String decode(String text) {
        return URLDecoder.decode(text, StandardCharsets.UTF_8);
    }

    private static void reply(HttpExchange exchange, int status, Object body) throws Exception {
        byte[] bytes = JacksonMapper.ofJson().writeValueAsBytes(body);
        exchange.getResponseHeaders().set("Content-Type", "application/json");
        exchange.sendResponseHeaders(status, bytes.length);
        exchange.getResponseBody().write(bytes);
    }
}
