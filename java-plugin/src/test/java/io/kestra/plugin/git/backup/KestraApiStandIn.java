package io.kestra.plugin.git.backup;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.kestra.core.docs.Plugin;
import com.fasterxml.jackson.core.type.TypeReference;
import io.kestra.core.models.flows.Flow;
import io.kestra.core.models.flows.FlowSource;
import io.kestra.core.models.flows.FlowWithSource;
import io.kestra.core.models.namespaces.files.NamespaceFileMetadata;
import io.kestra.core.plugins.PluginRegistry;
import io.kestra.core.models.QueryFilter;
import io.kestra.core.repositories.ArrayListTotal;
import io.kestra.core.repositories.FlowRepositoryInterface;
import io.kestra.core.security.ProtectedZipInputStream;
import io.kestra.core.security.SecurityConfiguration.ZipBombProtectionConfiguration;
import io.kestra.core.serializers.JacksonMapper;
import io.kestra.core.services.FlowService;
import io.kestra.core.services.InstanceService;
import io.kestra.core.storages.Namespace;
import io.kestra.core.storages.NamespaceFactory;
import io.kestra.core.storages.NamespaceFileAttributes;
import io.kestra.core.storages.StorageInterface;
import io.kestra.core.utils.VersionProvider;

import io.micronaut.data.model.Pageable;
import io.micronaut.data.model.Sort;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Base64;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Predicate;
import java.util.function.Supplier;
import java.util.regex.Matcher;
import java.util.stream.Collectors;
import java.util.regex.Pattern;
import java.util.zip.ZipEntry;
import java.util.zip.ZipInputStream;
import java.util.zip.ZipOutputStream;

/**
 * Stands in for the Kestra API calls our tasks make (docs/kestra-api.md), because Kestra's
 * webserver module is not served on these machines (README, Limits). Answers come from the
 * in-process Kestra's own flow repository and namespace storage, in the shapes of Kestra's
 * controllers, through the same Kestra services: `flows/export/by-query` a ZIP with one
 * `<namespace>-<id>.yml` entry per flow holding the source of its last saved non-draft revision
 * (what 2.0.0's export reads through `findWithSourceExcludingDrafts`; a flow with only drafts is
 * left out); `POST flows/export/by-ids` (JSON `[{namespace, id}]`) the same entries for the flows named;
 * `flows/search` one page of the newest revision of each flow ({@link #searchFlows});
 * `namespaces/{ns}/files/directory?path=` the `FileAttributes` of the direct children (Kestra's
 * `NamespaceFileAttributes` of `Namespace.children`); `namespaces/{ns}/files?path=` a file's
 * latest content, 404 when absent; `flows/distinct-namespaces` a JSON array; `namespaces/{ns}/files/export` a ZIP of
 * every file's latest revision named by its path without the leading `/`, plus, while
 * {@link #bundleFlows} is on (Kestra before kestra-io/kestra#18664), every flow of the namespace as
 * `_flows/<id>.yml`; `POST flows/validate` (multipart `flows` parts) FlowService's verdicts;
 * `POST flows/import` (multipart `fileUpload`: a ZIP, or a YAML file of `---`-separated flows)
 * FlowService's import of each entry, answering the entries refused; `POST namespaces/{ns}/files`
 * (multipart `fileContent`) a part named `*.zip` unpacked into the namespace, its `_flows/<id>.yml`
 * entries imported as flows of that namespace, as Kestra does, any other part stored at `path`.
 * `GET /api/v1/configs` (instance-wide, no tenant) answers, as Kestra's MiscController does,
 * the instance `uuid` Kestra keeps in its settings (InstanceService) and its `version`
 * (VersionProvider). With {@link #zipLimits}, archives are read through Kestra's own `ProtectedZipInputStream`
 * (ZIP-bomb protection, `kestra.security.zip-bomb-protection`): the entries before a limit are
 * written, then 422 with Kestra's message. With {@link #kv}, the KV endpoints ({@link KvStandIn}); with {@link #triggers}, Kestra 2.0's triggers API;
 * with {@link #plugins}, the plugins installed.
 * Basic auth is checked against the credentials the
 * server is configured with (`kestra.tasks.sdk.authentication`).
 */
final class KestraApiStandIn implements AutoCloseable {
    private static final String API = "/api/v1/main/";
    private static final Pattern FILES_EXPORT = Pattern.compile("namespaces/([^/]+)/files/export");
    private static final Pattern FILES_UPLOAD = Pattern.compile("namespaces/([^/]+)/files");
    private static final Pattern FILES_DIRECTORY = Pattern.compile("namespaces/([^/]+)/files/directory");
    /** The API URL and credentials the build gives Kestra (`kestra.tasks.sdk.authentication`). */
    static final String URL = System.getenv("KESTRA_TASKS_SDK_AUTHENTICATION_URL");
    static final String USERNAME = System.getenv("KESTRA_TASKS_SDK_AUTHENTICATION_USERNAME");
    static final String PASSWORD = System.getenv("KESTRA_TASKS_SDK_AUTHENTICATION_PASSWORD");

    /** The flow search's order, stable from page to page. */
    private static final Sort BY_NAMESPACE_AND_ID = Sort.of(Sort.Order.asc("namespace"), Sort.Order.asc("id"));
    private static final byte[] NOT_FOUND = "{\"message\":\"Not Found\"}".getBytes(StandardCharsets.UTF_8);

    private final HttpServer server;
    private final ExecutorService requests = Executors.newFixedThreadPool(8, Thread.ofPlatform().daemon().name("kestra-api-stand-in-", 0).factory());
    private final String authorization;
    private final Supplier<Backing> kestra;
    /** Bundle each namespace's flows into its files export as `_flows/<id>.yml`. */
    volatile boolean bundleFlows;
    /** Kestra's ZIP-bomb protection for uploaded archives; null: off (Kestra's default). */
    volatile ZipLimits zipLimits;
    /** Kestra 2.0's KV endpoints, through Kestra's KV service; null: not served (Kestra 1.3). */
    volatile KvStandIn kv;
    /** Kestra 2.0's triggers API (`triggers/...`, see {@link TriggerApiStandIn}); null: not served. */
    volatile TriggerApiStandIn triggers;
    /**
     * Answers `GET /api/v1/plugins` (instance-wide, no tenant) as Kestra's plugin controller does:
     * each registered plugin documented by Kestra's own {@code io.kestra.core.docs.Plugin.of}
     * (its `tasks`, `triggers`, `taskRunners`, ... as `{cls, deprecated, ...}`, and `aliases`);
     * null: not served.
     */
    volatile PluginRegistry plugins;
    /** The name of every entry of every namespace-file archive received. */
    final List<String> uploadedEntries = new CopyOnWriteArrayList<>();

    /** What the answers are read from: the in-process Kestra's repository and storage. */
    record Backing(FlowRepositoryInterface flows, FlowService flowService, NamespaceFactory namespaces, StorageInterface storage,
                   InstanceService instance, VersionProvider versions) {
    }

    /** Serves `kestra` (read at each call) at the configured URL with the configured credentials. */
    static KestraApiStandIn start(Supplier<Backing> kestra) throws IOException {
        if (URL == null) {
            throw new IllegalStateException("KESTRA_TASKS_SDK_AUTHENTICATION_* are not set: run through gradle (kestraRuntimeTest, kestraDemo, ...)");
        }
        return new KestraApiStandIn(URL, USERNAME, PASSWORD, kestra);
    }

    private KestraApiStandIn(String url, String username, String password, Supplier<Backing> kestra) throws IOException {
        this.authorization = "Basic " + Base64.getEncoder().encodeToString((username + ":" + password).getBytes(StandardCharsets.UTF_8));
        this.kestra = kestra;
        int port = Integer.parseInt(url.substring(url.lastIndexOf(':') + 1));
        server = HttpServer.create(new InetSocketAddress("127.0.0.1", port), 0);
        server.createContext("/", this::handle);
        // Requests at once, as Kestra's web server takes them (the JDK server alone answers one at a time).
        server.setExecutor(requests);
        server.start();
    }

    private void handle(HttpExchange exchange) throws IOException {
        try {
            answer(exchange);
        } catch (IOException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException(e);
        }
    }

    private void answer(HttpExchange exchange) throws Exception {
        try (exchange) {
            String path = exchange.getRequestURI().getPath();
            PluginRegistry registry = plugins;
            String call = path.startsWith(API) ? path.substring(API.length()) : "";
            Matcher filesExport = FILES_EXPORT.matcher(call);
            Matcher filesUpload = FILES_UPLOAD.matcher(call);
            Matcher filesDirectory = FILES_DIRECTORY.matcher(call);
            String rawQuery = exchange.getRequestURI().getRawQuery();
            TriggerApiStandIn triggerApi = triggers;
            if (!authorization.equals(exchange.getRequestHeaders().getFirst("Authorization"))) {
                reply(exchange, 401, "{\"message\":\"Unauthorized\"}".getBytes(StandardCharsets.UTF_8));
            } else if (path.equals("/api/v1/plugins") && "GET".equals(exchange.getRequestMethod()) && registry != null) {
                reply(exchange, 200, JacksonMapper.ofJson().writeValueAsBytes(registry.plugins().stream().map(p -> Plugin.of(p, null)).toList()));
            } else if (path.equals("/api/v1/configs") && "GET".equals(exchange.getRequestMethod())) {
                Backing backing = kestra.get();
                reply(exchange, 200, JacksonMapper.ofJson().writeValueAsBytes(
                    Map.of("uuid", backing.instance().fetch(), "version", backing.versions().getVersion())));
            } else if (kv != null && KvStandIn.handles(call)) {
                kv.answer(exchange, call);
            } else if (call.startsWith("triggers/") && triggerApi != null) {
                var answer = triggerApi.answer(exchange.getRequestMethod(), call, exchange.getRequestURI().getRawQuery(), exchange.getRequestBody().readAllBytes());
                reply(exchange, answer.map(TriggerApiStandIn.Answer::status).orElse(404), answer.isPresent() ? answer.get().bytes() : NOT_FOUND);
            } else if ("POST".equals(exchange.getRequestMethod())) {
                if (call.equals("flows/export/by-ids")) {
                    List<Map<String, String>> asked = JacksonMapper.ofJson().readValue(exchange.getRequestBody().readAllBytes(), new TypeReference<>() {});
                    // One query per namespace asked, not every flow of the instance read.
                    Map<String, Set<String>> wanted = asked.stream().collect(Collectors.groupingBy(f -> f.get("namespace"), Collectors.mapping(f -> f.get("id"), Collectors.toSet())));
                    reply(exchange, 200, flowsZip(wanted.entrySet().stream()
                        .flatMap(asks -> savedFlows(asks.getKey()).stream().filter(flow -> asks.getValue().contains(flow.getId()))).toList()));
                } else if (call.equals("flows/validate")) {
                    List<FlowSource> sources = FormPart.read(exchange, "flows").stream()
                        .map(p -> new FlowSource(p.filename(), new String(p.bytes(), StandardCharsets.UTF_8).trim())).toList();
                    reply(exchange, 200, JacksonMapper.ofJson().writeValueAsBytes(kestra.get().flowService().validate("main", sources)));
                } else if (call.equals("flows/import")) {
                    List<FormPart> parts = FormPart.read(exchange, "fileUpload");
                    ZipLimits limits = zipLimits;
                    refusedByZipLimits(exchange, limits, () -> reply(exchange, 200, JacksonMapper.ofJson().writeValueAsBytes(importFlows(parts, limits))));
                } else if (filesUpload.matches()) {
                    List<FormPart> parts = FormPart.read(exchange, "fileContent");
                    String target = queryParameter(exchange.getRequestURI().getRawQuery(), "path").orElse("/");
                    ZipLimits limits = zipLimits;
                    refusedByZipLimits(exchange, limits, () -> {
                        putFiles(filesUpload.group(1), target, parts, limits);
                        reply(exchange, 200, new byte[0]);
                    });
                } else {
                    reply(exchange, 404, NOT_FOUND);
                }
            } else if (!"GET".equals(exchange.getRequestMethod())) {
                reply(exchange, 404, NOT_FOUND);
            } else if (call.equals("flows/export/by-query")) {
                Predicate<String> namespaceFilter = namespaceFilter(rawQuery);
                reply(exchange, 200, flowsZip(savedFlows().stream().filter(flow -> namespaceFilter.test(flow.getNamespace())).toList()));
            } else if (call.equals("flows/search")) {
                reply(exchange, 200, searchFlows(rawQuery));
            } else if (filesDirectory.matches()) {
                Backing backing = kestra.get();
                Namespace namespace = backing.namespaces().of("main", filesDirectory.group(1), backing.storage());
                List<NamespaceFileAttributes> children = namespace.children(queryParameter(rawQuery, "path").orElse("/"), false).stream()
                    .map(NamespaceFileAttributes::new).toList();
                reply(exchange, 200, JacksonMapper.ofJson().writeValueAsBytes(children));
            } else if (filesUpload.matches()) {
                Backing backing = kestra.get();
                Namespace namespace = backing.namespaces().of("main", filesUpload.group(1), backing.storage());
                Path file = Path.of(queryParameter(rawQuery, "path").orElse("/"));
                if (!namespace.exists(file)) {
                    reply(exchange, 404, NOT_FOUND);
                } else {
                    try (InputStream in = namespace.getFileContent(file)) {
                        reply(exchange, 200, in.readAllBytes());
                    }
                }
            } else if (call.equals("flows/distinct-namespaces")) {
                // As Kestra's FlowController: one DISTINCT query, not every flow read.
                reply(exchange, 200, JacksonMapper.ofJson().writeValueAsBytes(kestra.get().flows().findDistinctNamespace("main")));
            } else if (filesExport.matches()) {
                reply(exchange, 200, filesZip(filesExport.group(1)));
            } else {
                reply(exchange, 404, NOT_FOUND);
            }
        }
    }

    private interface Write {
        void run() throws Exception;
    }

    /** Runs a write; Kestra's ZIP-bomb protection refusing its archive is answered 422 with Kestra's message, as Kestra's API does. */
    private static void refusedByZipLimits(HttpExchange exchange, ZipLimits limits, Write write) throws Exception {
        try {
            write.run();
        } catch (IllegalArgumentException e) {
            if (limits == null || !ZipLimits.isRefusal(e)) {
                throw e;
            }
            reply(exchange, 422, JacksonMapper.ofJson().writeValueAsBytes(Map.of("message", e.getMessage())));
        }
    }

    /**
     * Kestra's ZIP-bomb protection (`kestra.security.zip-bomb-protection`), through Kestra's own
     * classes. A class of its own, loaded only once a test turns the limits on: Kestra 1.3, which
     * the 1.3 runtime test runs this stand-in on, has no such classes.
     */
    record ZipLimits(int maxNumberOfEntries, int maxEntrySize) {
        ZipInputStream open(InputStream in) {
            return ProtectedZipInputStream.of(in, new ZipBombProtectionConfiguration(true, maxNumberOfEntries, maxEntrySize));
        }

        static boolean isRefusal(Throwable e) {
            return e instanceof ProtectedZipInputStream.ZipBombDetectedException;
        }
    }

    private static Optional<String> queryParameter(String rawQuery, String name) {
        for (String pair : rawQuery == null ? new String[0] : rawQuery.split("&")) {
            if (URLDecoder.decode(pair.substring(0, pair.indexOf('=')), StandardCharsets.UTF_8).equals(name)) {
                return Optional.of(URLDecoder.decode(pair.substring(pair.indexOf('=') + 1), StandardCharsets.UTF_8));
            }
        }
        return Optional.empty();
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

    /**
     * Kestra's `GET flows/search`: one page of the repository's paged query, as its controller runs it
     * (1-based `page`, `size`, `filters[namespace][STARTS_WITH]`): the newest revision of every flow, a
     * draft included, sorted by namespace and id, `{results, total}`. Each page is one query of that
     * page's rows, so listing a large instance costs what it costs a real server.
     */
    private byte[] searchFlows(String rawQuery) throws IOException {
        int page = queryParameter(rawQuery, "page").map(Integer::parseInt).orElse(1);
        int size = queryParameter(rawQuery, "size").map(Integer::parseInt).orElse(10);
        List<QueryFilter> filters = queryParameter(rawQuery, "filters[namespace][STARTS_WITH]")
            .map(prefix -> List.of(new QueryFilter(QueryFilter.Field.NAMESPACE, QueryFilter.Op.STARTS_WITH, prefix, null, null)))
            .orElse(List.of());
        ArrayListTotal<Flow> results = kestra.get().flows().find(Pageable.from(page, size, BY_NAMESPACE_AND_ID), "main", filters);
        return JacksonMapper.ofJson().writeValueAsBytes(Map.of("results", results, "total", results.getTotal()));
    }

    private static byte[] flowsZip(List<FlowWithSource> flows) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            for (FlowWithSource flow : flows) {
                zip.putNextEntry(new ZipEntry(flow.getNamespace() + "-" + flow.getId() + ".yml"));
                zip.write(flow.getSource().getBytes(StandardCharsets.UTF_8));
                zip.closeEntry();
            }
        }
        return bytes.toByteArray();
    }

    /**
     * Each flow's last saved non-draft revision, as Kestra 2.0's export reads them (one query,
     * `findWithSourceExcludingDrafts`); flows with only drafts are left out.
     */
    private List<FlowWithSource> savedFlows() {
        FlowRepositoryInterface flows = kestra.get().flows();
        try {
            return flows.findWithSourceExcludingDrafts(Pageable.UNPAGED, "main", List.of());
        } catch (NoSuchMethodError kestra13) {
            return flows.findAllWithSource("main"); // Kestra 1.3 has no drafts
        }
    }

    /** {@link #savedFlows()} of one namespace, with the repository's namespace filter. */
    private List<FlowWithSource> savedFlows(String namespace) {
        FlowRepositoryInterface flows = kestra.get().flows();
        try {
            return flows.findWithSourceExcludingDrafts(Pageable.UNPAGED, "main",
                List.of(new QueryFilter(QueryFilter.Field.NAMESPACE, QueryFilter.Op.EQUALS, namespace, null, null)));
        } catch (NoSuchMethodError kestra13) {
            return flows.findByNamespaceWithSource("main", namespace);
        }
    }

    private byte[] filesZip(String namespaceName) throws IOException {
        Backing backing = kestra.get();
        Namespace namespace = backing.namespaces().of("main", namespaceName, backing.storage());
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (ZipOutputStream zip = new ZipOutputStream(bytes)) {
            for (NamespaceFileMetadata file : namespace.children("/", true)) {
                if (!file.isDirectory()) {
                    zip.putNextEntry(new ZipEntry(file.getPath().substring(1)));
                    try (InputStream in = namespace.getFileContent(Path.of(file.getPath()))) {
                        in.transferTo(zip);
                    }
                    zip.closeEntry();
                }
            }
            if (bundleFlows) {
                for (FlowWithSource flow : savedFlows(namespaceName)) {
                    zip.putNextEntry(new ZipEntry("_flows/" + flow.getId() + ".yml"));
                    zip.write(flow.getSource().getBytes(StandardCharsets.UTF_8));
                    zip.closeEntry();
                }
            }
        }
        return bytes.toByteArray();
    }

    /** Each flow of the uploaded archives (or YAML files) through FlowService's import; the entries it refused. */
    private List<String> importFlows(List<FormPart> uploads, ZipLimits limits) throws IOException {
        List<String> refused = new ArrayList<>();
        for (FormPart upload : uploads) {
            if (upload.filename().endsWith(".zip")) {
                forEachEntry(upload.bytes(), limits, (name, content) -> importFlow(new String(content, StandardCharsets.UTF_8), name, refused));
            } else {
                for (String source : new String(upload.bytes(), StandardCharsets.UTF_8).split("(?m)^---\\s*$")) {
                    importFlow(source, upload.filename(), refused);
                }
            }
        }
        return refused;
    }

    private void importFlow(String source, String name, List<String> refused) {
        try {
            kestra.get().flowService().importFlow("main", source);
        } catch (Exception e) {
            refused.add(name);
        }
    }

    private static final Pattern NAMESPACE_LINE = Pattern.compile("(?m)^namespace:.*$");

    /** An archive is unpacked into the namespace, its `_flows/` entries imported as flows of the namespace; any other upload is stored at `target`. */
    private void putFiles(String namespaceName, String target, List<FormPart> uploads, ZipLimits limits) throws Exception {
        Backing backing = kestra.get();
        Namespace namespace = backing.namespaces().of("main", namespaceName, backing.storage());
        for (FormPart upload : uploads) {
            if (!upload.filename().endsWith(".zip")) {
                namespace.putFile(Path.of(target), new ByteArrayInputStream(upload.bytes()), Namespace.Conflicts.OVERWRITE);
                continue;
            }
            forEachEntry(upload.bytes(), limits, (name, content) -> {
                uploadedEntries.add(name);
                if (name.startsWith("_flows/")) {
                    String source = NAMESPACE_LINE.matcher(new String(content, StandardCharsets.UTF_8)).replaceFirst(Matcher.quoteReplacement("namespace: " + namespaceName));
                    backing.flowService().importFlow("main", source);
                } else {
                    namespace.putFile(Path.of("/" + name), new ByteArrayInputStream(content), Namespace.Conflicts.OVERWRITE);
                }
            });
        }
    }

    private interface EntryConsumer {
        void accept(String name, byte[] content) throws Exception;
    }

    /** Every file entry of an archive, in order, read through Kestra's ZIP-bomb protection when it is on. */
    private static void forEachEntry(byte[] archive, ZipLimits limits, EntryConsumer consumer) throws IOException {
        InputStream in = new ByteArrayInputStream(archive);
        try (ZipInputStream zip = limits == null ? new ZipInputStream(in) : limits.open(in)) {
            for (ZipEntry entry = zip.getNextEntry(); entry != null; entry = zip.getNextEntry()) {
                if (!entry.isDirectory()) {
                    consumer.accept(entry.getName(), zip.readAllBytes());
                }
            }
        } catch (IOException | RuntimeException e) {
            throw e;
        } catch (Exception e) {
            throw new IOException(e);
        }
    }

    /** One part of a multipart/form-data body. */
    private record FormPart(String name, String filename, byte[] bytes) {
        /** The parts named `name` of the exchange's body. */
        static List<FormPart> read(HttpExchange exchange, String name) throws IOException {
            String type = exchange.getRequestHeaders().getFirst("Content-Type");
            byte[] delimiter = ("--" + type.substring(type.indexOf("boundary=") + 9).replace("\"", "")).getBytes(StandardCharsets.ISO_8859_1);
            byte[] body = exchange.getRequestBody().readAllBytes();
            List<FormPart> parts = new ArrayList<>();
            int start = indexOf(body, delimiter, 0);
            while (start >= 0) {
                int headStart = start + delimiter.length + 2;
                int next = indexOf(body, delimiter, headStart);
                int headEnd = indexOf(body, "\r\n\r\n".getBytes(StandardCharsets.ISO_8859_1), headStart);
                if (next < 0 || headEnd < 0 || headEnd > next) {
                    break;
                }
                String head = new String(body, headStart, headEnd - headStart, StandardCharsets.UTF_8);
                FormPart part = new FormPart(attribute(head, "name"), attribute(head, "filename"),
                    Arrays.copyOfRange(body, headEnd + 4, next - 2));
                if (part.name().equals(name)) {
                    parts.add(part);
                }
                start = next;
            }
            return parts;
        }

        private static String attribute(String head, String key) {
            Matcher m = Pattern.compile("\\b" + key + "=\"([^\"]*)\"").matcher(head);
            return m.find() ? m.group(1) : "";
        }

        private static int indexOf(byte[] haystack, byte[] needle, int from) {
            outer:
            for (int i = from; i <= haystack.length - needle.length; i++) {
                for (int j = 0; j < needle.length; j++) {
                    if (haystack[i + j] != needle[j]) {
                        continue outer;
                    }
                }
                return i;
            }
            return -1;
        }
    }

    private static void reply(HttpExchange exchange, int status, byte[] body) throws IOException {
        exchange.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        exchange.getResponseBody().write(body);
    }

    @Override
    public void close() {
        server.stop(0);
        requests.shutdownNow();
    }
}
