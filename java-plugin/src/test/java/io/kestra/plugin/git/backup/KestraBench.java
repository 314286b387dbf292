package io.kestra.plugin.git.backup;

import io.kestra.core.models.executions.Execution;
import io.kestra.core.models.flows.FlowWithSource;
import io.kestra.core.models.flows.GenericFlow;
import io.kestra.core.plugins.PluginRegistry;
import io.kestra.core.repositories.FlowRepositoryInterface;
import io.kestra.core.repositories.LogDataStoreInterface;
import io.kestra.core.runners.TestRunnerUtils;
import io.kestra.core.services.FlowService;
import org.slf4j.event.Level;

import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.IntStream;

/**
 * Benchmark (prints figures, asserts nothing): our tasks and, when its jar is in the plugins folder
 * (`-PpluginGitJar=<jar>`), plugin-git's, in the same Kestra 2.0 runtime, the same run, against
 * the same local HTTPS Git server, each into its own repository. Cases: the seed flow on the
 * example instance, and a large instance (50 namespaces × 200 flows, 5,000 namespace files) backed
 * up by the seed's shape (PushFlows + PushNamespaceFiles per namespace); each first, no change,
 * one change. Prints execution wall time, the ratio ours/theirs, the growth of each repository on
 * the server, and whether the two trees hold the same paths and bytes. Then ours only: the large
 * instance with one BackupInstance task (first, no change, one change) and a RestoreDrill of that
 * backup (every flow through Kestra's validation).
 */
public final class KestraBench {
    private static final int NAMESPACES = 50;
    private static final int FLOWS_PER_NAMESPACE = 200;
    private static final int FILES_PER_NAMESPACE = 100;
    private static final Duration LIMIT = Duration.ofMinutes(60);

    private final EmbeddedKestra kestra;
    private final TestGitServer server;
    private final boolean official;
    private final List<String> rows = new ArrayList<>();

    private KestraBench(EmbeddedKestra kestra, TestGitServer server, boolean official) {
        this.kestra = kestra;
        this.server = server;
        this.official = official;
    }

    public static void main(String[] args) {
        EmbeddedKestra.runThenExit(KestraBench::bench);
    }

    private static void bench() throws Exception {
        String token = System.getenv("E2E_GIT_TOKEN");
        try (TestGitServer server = new TestGitServer(Map.of("GIT_SERVER_USER", "kestra-ci", "GIT_SERVER_TOKEN", token),
                "seed-ours", "seed-theirs", "large-ours", "large-theirs", "large-instance")) {
            trustInThisJvm(Path.of(server.get("CA_PEM")));
            try (EmbeddedKestra kestra = EmbeddedKestra.start()) {
                boolean official = kestra.bean(PluginRegistry.class).findClassByIdentifier(ExampleInstance.OFFICIAL + ".PushFlows") != null;
                System.out.println(official ? "plugin-git found in the plugins folder: side by side"
                    : "plugin-git not in the plugins folder (give -PpluginGitJar=<jar>): ours only");
                new KestraBench(kestra, server, official).run();
            }
        }
    }

    /**
     * Adds the test CA to this JVM's default trust store, before anything uses TLS. Both plugins
     * also get `trustedCaPemPath`, but plugin-git (3.0.1-SNAPSHOT) drops it when cloning: its clone
     * step resets the JVM-wide SSL context to the JVM trust store (README, differences).
     */
    private static void trustInThisJvm(Path caPem) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        KeyStore cacerts = KeyStore.getInstance(Path.of(System.getProperty("java.home"), "lib", "security", "cacerts").toFile(), "changeit".toCharArray());
        for (String alias : java.util.Collections.list(cacerts.aliases())) {
            store.setCertificateEntry(alias, cacerts.getCertificate(alias));
        }
        try (InputStream in = Files.newInputStream(caPem)) {
            int i = 0;
            for (Certificate ca : CertificateFactory.getInstance("X.509").generateCertificates(in)) {
                store.setCertificateEntry("bench-ca-" + i++, ca);
            }
        }
        Path file = Files.createTempFile("bench-truststore", ".p12");
        try (OutputStream out = Files.newOutputStream(file)) {
            store.store(out, "bench".toCharArray());
        }
        System.setProperty("javax.net.ssl.trustStore", file.toString());
        System.setProperty("javax.net.ssl.trustStorePassword", "bench");
        System.setProperty("javax.net.ssl.trustStoreType", "PKCS12");
    }

    private void run() throws Exception {
        FlowService flowService = kestra.bean(FlowService.class);
        // Warm Kestra's own paths (executor, worker) so that the first measured run is not charged for them.
        flowService.create(GenericFlow.fromYaml("main", """
            id: warm_up
            namespace: system
            tasks:
              - id: log
                type: io.kestra.plugin.core.log.Log
                message: warm-up
            """));
        kestra.bean(TestRunnerUtils.class).runOne("main", "system", "warm_up", LIMIT);
        ExampleInstance instance = kestra.exampleInstance();
        instance.load();
        compare("seed", ExampleInstance.NAMESPACES, () -> editFlow("ansible", "site"));

        List<String> large = IntStream.range(0, NAMESPACES).mapToObj(i -> "bench.ns%02d".formatted(i)).toList();
        long start = System.nanoTime();
        for (String ns : large) {
            for (int f = 0; f < FLOWS_PER_NAMESPACE; f++) {
                flowService.create(GenericFlow.fromYaml("main", """
                    id: flow_%03d
                    namespace: %s
                    labels:
                      owner: team-%d
                    tasks:
                      - id: log
                        type: io.kestra.plugin.core.log.Log
                        message: "flow %d of {{ flow.namespace }}"
                    """.formatted(f, ns, f % 7, f)));
            }
            for (int i = 0; i < FILES_PER_NAMESPACE; i++) {
                byte[] content = i % 10 == 0 ? binary(ns, i) : ("# script %d of %s\nprint('hello')\n".formatted(i, ns)).getBytes();
                instance.putFile(ns, "/scripts/dir%d/file_%03d.%s".formatted(i % 5, i, i % 10 == 0 ? "bin" : "py"), content);
            }
        }
        System.out.printf("large instance loaded: %d flows, %d files in %d s%n",
            NAMESPACES * FLOWS_PER_NAMESPACE, NAMESPACES * FILES_PER_NAMESPACE, (System.nanoTime() - start) / 1_000_000_000);
        compare("large", large, () -> editFlow("bench.ns00", "flow_000"));
        oneTask(() -> editFlow("bench.ns01", "flow_001"));

        System.out.println("\n| case | run | ours ms | plugin-git ms | ours/theirs | ours repo growth (bytes) | plugin-git repo growth (bytes) |");
        System.out.println("|---|---|---|---|---|---|---|");
        rows.forEach(System.out::println);
    }

    /** Both flows on the same data: first run, no change, then one change made by `change`. */
    private void compare(String name, List<String> namespaces, ThrowingRunnable change) throws Exception {
        FlowService flowService = kestra.bean(FlowService.class);
        flowService.create(GenericFlow.fromYaml("main",
            ExampleInstance.backupFlow(name + "_ours", ExampleInstance.OURS, namespaces, ExampleInstance.connection(server, name + "-ours"))));
        if (official) {
            flowService.create(GenericFlow.fromYaml("main",
                ExampleInstance.backupFlow(name + "_theirs", ExampleInstance.OFFICIAL, namespaces, ExampleInstance.connection(server, name + "-theirs"))));
        }
        for (Map.Entry<String, ThrowingRunnable> run : lifecycle(change).entrySet()) {
            run.getValue().run();
            Measure ours = measure(name + "_ours", name + "-ours");
            Measure theirs = official ? measure(name + "_theirs", name + "-theirs") : null;
            rows.add("| %s | %s | %s | %s | %s | %d | %s |".formatted(name, run.getKey(), ours.label(),
                theirs == null ? "—" : theirs.label(), theirs == null ? "—" : "%.2f".formatted((double) ours.millis / theirs.millis),
                ours.growth, theirs == null ? "—" : String.valueOf(theirs.growth)));
        }
        if (official) {
            String a = server.git(name + "-ours", "ls-tree", "-r", "main");
            String b = server.git(name + "-theirs", "ls-tree", "-r", "main");
            System.out.println(name + ": trees " + (a.equals(b) ? "identical (same paths, modes and bytes)" : "DIFFER:\n" + diff(a, b)));
        }
    }

    /** Ours only: the large instance with one BackupInstance task, then a RestoreDrill of its backup. */
    private void oneTask(ThrowingRunnable change) throws Exception {
        FlowService flowService = kestra.bean(FlowService.class);
        String connection = ExampleInstance.connection(server, "large-instance");
        for (String[] task : new String[][] {{"large_instance", "BackupInstance", connection}, {"large_drill", "RestoreDrill", connection.replace("    dryRun: false\n", "")}}) {
            flowService.create(GenericFlow.fromYaml("main", """
                id: %s
                namespace: system
                tasks:
                  - id: task
                    type: io.kestra.plugin.git.backup.%s
                    namespacePrefix: bench
                    filesDirectory: scripts
                %s
                """.formatted(task[0], task[1], task[2])));
        }
        kestra.registerTriggerStates();
        for (Map.Entry<String, ThrowingRunnable> run : lifecycle(change).entrySet()) {
            run.getValue().run();
            Measure ours = measure("large_instance", "large-instance");
            rows.add("| large, one BackupInstance task | %s | %s | — | — | %d | — |".formatted(run.getKey(), ours.label(), ours.growth));
        }
        Measure drill = measure("large_drill", "large-instance");
        rows.add("| large, RestoreDrill (10,000 flows validated by Kestra) | drill | %s | — | — | %d | — |".formatted(drill.label(), drill.growth));
    }

    /** The three measured runs: first backup, no change, then one change made by `change`. */
    private static Map<String, ThrowingRunnable> lifecycle(ThrowingRunnable change) {
        Map<String, ThrowingRunnable> runs = new LinkedHashMap<>();
        runs.put("first backup", () -> { });
        runs.put("no change", () -> { });
        runs.put("one flow changed", change);
        return runs;
    }

    private Measure measure(String flowId, String repo) throws Exception {
        long before = repoBytes(repo);
        long start = System.nanoTime();
        Execution execution = kestra.bean(TestRunnerUtils.class).runOne("main", "system", flowId, LIMIT);
        long millis = (System.nanoTime() - start) / 1_000_000;
        System.out.printf("%s: %s in %d ms%n", flowId, execution.getState().getCurrent(), millis);
        if (execution.getState().isFailed()) {
            SettledLog.read(() -> kestra.bean(LogDataStoreInterface.class).findByExecutionId("main", execution.getId(), Level.INFO)).stream()
                .limit(40).forEach(log -> System.out.println("  " + log.getTaskId() + "  " + log.getMessage()));
        }
        return new Measure(millis, repoBytes(repo) - before, execution.getState().getCurrent().toString());
    }

    private long repoBytes(String repo) throws Exception {
        return Long.parseLong(TestGitServer.run(Map.of(), List.of("du", "-sb", server.get("REPOS") + "/" + repo + ".git/objects")).split("\\s")[0]);
    }

    private void editFlow(String namespace, String id) throws Exception {
        FlowRepositoryInterface flows = kestra.bean(FlowRepositoryInterface.class);
        FlowWithSource flow = flows.findByIdWithSource("main", namespace, id).orElseThrow();
        kestra.bean(FlowService.class).update(GenericFlow.fromYaml("main", flow.getSource() + "# edited\n"), flow);
    }

    private static byte[] binary(String ns, int i) {
        byte[] bytes = new byte[4096];
        new java.util.Random((ns + i).hashCode()).nextBytes(bytes);
        return bytes;
    }

    private static String diff(String ours, String theirs) {
        java.util.Set<String> a = new java.util.LinkedHashSet<>(ours.lines().toList());
        java.util.Set<String> b = new java.util.LinkedHashSet<>(theirs.lines().toList());
        StringBuilder out = new StringBuilder();
        a.stream().filter(l -> !b.contains(l)).limit(20).forEach(l -> out.append("  only ours:   ").append(l).append('\n'));
        b.stream().filter(l -> !a.contains(l)).limit(20).forEach(l -> out.append("  only theirs: ").append(l).append('\n'));
        return out.toString();
    }

    private record Measure(long millis, long growth, String state) {
        String label() {
            return "SUCCESS".equals(state) ? String.valueOf(millis) : millis + " (" + state + ")";
        }
    }

    @FunctionalInterface
    private interface ThrowingRunnable {
        void run() throws Exception;
    }
}
