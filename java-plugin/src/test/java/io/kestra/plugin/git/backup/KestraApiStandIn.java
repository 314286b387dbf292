package io.kestra.plugin.git.backup;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.kestra.core.models.flows.FlowWithSource;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;
import java.util.List;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;

/**
 * Stands in for the one Kestra API call PushFlows makes, `GET /api/v1/main/flows/export/by-query`,
 * because Kestra's webserver module is not served on these machines (README, Limits). The flows
 * come from the in-process Kestra's own repository; the answer has the shape of Kestra's: a ZIP
 * with one `<namespace>.<id>.yml` entry per flow holding its stored source. Basic auth is checked
 * against the credentials the server is configured with (`kestra.tasks.sdk.authentication`).
 */
final class KestraApiStandIn implements AutoCloseable {
    private static final String EXPORT = "/api/v1/main/flows/export/by-query";
    /** The API URL and credentials the build gives Kestra (`kestra.tasks.sdk.authentication`). */
    static final String URL = System.getenv("KESTRA_TASKS_SDK_AUTHENTICATION_URL");
    static final String USERNAME = System.getenv("KESTRA_TASKS_SDK_AUTHENTICATION_USERNAME");
    static final String PASSWORD = System.getenv("KESTRA_TASKS_SDK_AUTHENTICATION_PASSWORD");

    private final HttpServer server;
    private final String authorization;
    private final Supplier<List<FlowWithSource>> flows;

    /** Serves `flows` at the configured URL with the configured credentials. */
    static KestraApiStandIn start(Supplier<List<FlowWithSource>> flows) throws IOException {
        if (URL == null) {
            throw new IllegalStateException("KESTRA_TASKS_SDK_AUTHENTICATION_* are not set: run through gradle (kestraRuntimeTest, kestraDemo, ...)");
        }
        return new KestraApiStandIn(URL, USERNAME, PASSWORD, flows);
    }

    private KestraApiStandIn(String url, String username, String password, Supplier<List<FlowWithSource>> flows) throws IOException {
        this.authorization = "Basic " + Base64.getEncoder().encodeToString((username + ":" + password).getBytes(StandardCharsets.UTF_8));
        this.flows = flows;
        int port = Integer.parseInt(url.substring(url.lastIndexOf(':') + 1));
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
        server.createContext("/", this::handle);
        server.start();
    }

    private void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            if (!authorization.equals(exchange.getRequestHeaders().getFirst("Authorization"))) {
                reply(exchange, 401, "{\"message\":\"Unauthorized\"}".getBytes(StandardCharsets.UTF_8));
            } else if (!"GET".equals(exchange.getRequestMethod()) || !EXPORT.equals(exchange.getRequestURI().getPath())) {
                reply(exchange, 404, "{\"message\":\"Not Found\"}".getBytes(StandardCharsets.UTF_8));
            } else {
                reply(exchange, 200, zip(namespaceFilter(exchange.getRequestURI().getRawQuery())));
            }
        }
    }

    /** `filters[namespace][EQUALS]=x` or `filters[namespace][STARTS_WITH]=x`; none: every flow. */
    private static Predicate<String> namespaceFilter(String rawQuery) {
        Predicate<String> filter = namespace -> true;
        for (String pair : rawQuery == null ? new String[0] : rawQuery.split("&")) {
            String key = URLDecoder.decode(pair.substring(0, pair.indexOf('=')), StandardCharsets.UTF_8);
            String value = URLDecoder.decode(pair.substring(pair.indexOf('=') + 1), StandardCharsets.UTF_8);
            switch (key) {
                case "filters[namespace][EQUALS]" -> filter = filter.and(value::equals);
                case "filters[namespace][STARTS_WITH]" -> filter = filter.and(namespace -> namespace.startsWith(value));
                default -> throw new IllegalArgumentException("unexpected query parameter " + key);
            }
        }
        return filter;
    }

    private byte[] zip(Predicate<String> namespaceFilter) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            for (FlowWithSource flow : flows.get()) {
                if (namespaceFilter.test(flow.getNamespace())) {
                    zip.putNextEntry(new ZipEntry(flow.getNamespace() + "." + flow.getId() + ".yml"));
                    zip.write(flow.getSource().getBytes(StandardCharsets.UTF_8));
                    zip.closeEntry();
                }
            }
        }
        return bytes.toByteArray();
    }

    private static void reply(HttpExchange exchange, int status, byte[] body) throws IOException {
        exchange.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        exchange.getResponseBody().write(body);
    }

    @Override
    public void close() {
        server.stop(0);
    }
}
