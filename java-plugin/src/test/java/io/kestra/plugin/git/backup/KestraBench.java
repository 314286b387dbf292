package io.kestra.plugin.git.backup;

import io.kestra.core.models.executions.Execution;
import io.kestra.core.models.executions.LogEntry;
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
import java.util.Set;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.IntStream;

/**
 * Benchmark (prints figures, asserts nothing): our tasks and, when its jar is in the plugins folder
 * (`-PpluginGitJar=<jar>`), plugin-git's, in the same Kestra 2.0 runtime, against the same local
 * HTTPS Git server, each into its own repository, beside a FLOOR: the same flow shape made of
 * `io.kestra.plugin.core.log.Log` tasks, which is what Kestra itself costs. Cases (system property
 * `bench.cases`, default `seed`): `seed` (the seed flow on the example instance), `large` (50
 * namespaces × 200 flows, 5,000 files, the seed's shape), `instance` (the large instance by one
 * BackupInstance task, then a RestoreDrill). Each case runs `bench.rounds` rounds (default 9; the
 * large cases `bench.largeRounds`, default 1) of first backup (the branch deleted on the server
 * first), no change and one flow changed (the `large` case only those of `bench.largeRuns`), the order of the plugins and the floor rotating from
 * round to round. Round 1 is the cold figure (the first after Kestra started); rounds from
 * `bench.warmFrom` (default 3) are the warm ones. For each it prints min and median of execution
 * time, floor, ours/theirs and (ours − floor)/(theirs − floor), and the medians of where our tasks'
 * time went (the DEBUG timings line each task logs: Java side and the core's phases, summed over
 * the execution's tasks).
 */
public final class KestraBench {
    private static final int NAMESPACES = 50;
    private static final int FLOWS_PER_NAMESPACE = 200;
    private static final int FILES_PER_NAMESPACE = 100;
    private static final Duration LIMIT = Duration.ofMinutes(60);
    private static final List<String> RUNS = List.of("first backup", "no change", "one flow changed");
    private static final Pattern PHASE = Pattern.compile("([\\w.]+)=([0-9.]+)");

    private final EmbeddedKestra kestra;
    private final TestGitServer server;
    private final boolean official;
    private final int warmFrom = Integer.getInteger("bench.warmFrom", 3);
    private final List<String> rows = new ArrayList<>();
    private final List<String> breakdown = new ArrayList<>();

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
                    : "plugin-git not in the plugins folder (give -PpluginGitJar=<jar>): ours and the floor only");
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
        Set<String> cases = Set.of(System.getProperty("bench.cases", "seed").split(","));
        int rounds = Integer.getInteger("bench.rounds", 9);
        int largeRounds = Integer.getInteger("bench.largeRounds", 1);
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
        if (cases.contains("seed")) {
            compare("seed", ExampleInstance.NAMESPACES, rounds, RUNS, () -> editFlow("ansible", "site"));
        }
        if (cases.contains("large") || cases.contains("instance")) {
            List<String> large = loadLarge(instance);
            if (cases.contains("large")) {
                compare("large", large, largeRounds, largeRuns(), () -> editFlow("bench.ns00", "flow_000"));
            }
            if (cases.contains("instance")) {
                oneTask(largeRounds, () -> editFlow("bench.ns01", "flow_001"));
            }
        }

        System.out.printf("%nExecution time in ms (min / median over the rounds); cold = round 1, warm = rounds %d and later; "
            + "floor = the same flow shape of Log tasks%n", warmFrom);
        System.out.println("| case | run | rounds | ours | plugin-git | floor | ours/theirs (median) | (ours − floor)/(theirs − floor) (median) |");
        System.out.println("|---|---|---|---|---|---|---|---|");
        rows.forEach(System.out::println);
        System.out.println("\nWhere our tasks' time went, ms, medians over the same rounds of the sums over an execution's tasks "
            + "(Java: render, json, native call, answer, metrics; core.*: the core's timingsMs; "
            + "outside = execution time − the tasks' Java and native time: Kestra's own work)");
        breakdown.forEach(System.out::println);
    }

    private List<String> loadLarge(ExampleInstance instance) throws Exception {
        FlowService flowService = kestra.bean(FlowService.class);
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
        return large;
    }

    /**
     * Ours, plugin-git's (when present) and the floor on the same data, `rounds` times: first
     * backup (branch deleted on the server), no change, then one change made by `change`.
     */
    /**
     * The runs of the `large` case (`bench.largeRuns`, comma-separated, default all three): plugin-git
     * takes about half an hour per run there, so `first backup,one flow changed` gets its one-change
     * figure in about an hour.
     */
    private static List<String> largeRuns() {
        List<String> asked = List.of(System.getProperty("bench.largeRuns", String.join(",", RUNS)).split(","));
        if (!RUNS.containsAll(asked)) {
            throw new IllegalArgumentException("bench.largeRuns: " + asked + " names a run other than " + RUNS);
        }
        return asked;
    }

    private void compare(String name, List<String> namespaces, int rounds, List<String> runs, ThrowingRunnable change) throws Exception {
        FlowService flowService = kestra.bean(FlowService.class);
        List<Contender> contenders = new ArrayList<>();
        contenders.add(new Contender("ours", name + "_ours", name + "-ours"));
        flowService.create(GenericFlow.fromYaml("main",
            ExampleInstance.backupFlow(name + "_ours", ExampleInstance.OURS, namespaces, ExampleInstance.connection(server, name + "-ours"))));
        if (official) {
            contenders.add(new Contender("theirs", name + "_theirs", name + "-theirs"));
            flowService.create(GenericFlow.fromYaml("main",
                ExampleInstance.backupFlow(name + "_theirs", ExampleInstance.OFFICIAL, namespaces, ExampleInstance.connection(server, name + "-theirs"))));
        }
        contenders.add(new Contender("floor", name + "_floor", null));
        flowService.create(GenericFlow.fromYaml("main", floorFlow(name + "_floor", namespaces.size())));

        Map<String, Map<String, List<Measure>>> byRun = new LinkedHashMap<>();
        for (int round = 1; round <= rounds; round++) {
            for (String run : runs) {
                if (run.equals("first backup")) {
                    for (Contender c : contenders) {
                        if (c.repo != null && server.git(c.repo, "for-each-ref", "refs/heads/main").length() > 0) {
                            server.git(c.repo, "update-ref", "-d", "refs/heads/main");
                        }
                    }
                } else if (run.equals("one flow changed")) {
                    change.run();
                }
                // The order rotates from round to round: no contender always runs first or last.
                for (int i = 0; i < contenders.size(); i++) {
                    Contender c = contenders.get((i + round - 1) % contenders.size());
                    Measure m = measure(c.flowId, c.who.equals("ours"));
                    m.round = round;
                    byRun.computeIfAbsent(run, k -> new LinkedHashMap<>()).computeIfAbsent(c.who, k -> new ArrayList<>()).add(m);
                }
            }
        }
        for (Map.Entry<String, Map<String, List<Measure>>> run : byRun.entrySet()) {
            for (boolean warm : new boolean[] {false, true}) {
                Map<String, List<Measure>> kept = new LinkedHashMap<>();
                run.getValue().forEach((who, all) -> kept.put(who, all.stream().filter(m -> warm ? m.round >= warmFrom : m.round == 1).toList()));
                if (kept.get("ours").isEmpty()) {
                    continue;
                }
                row(name + (warm ? ", warm" : ", cold"), run.getKey(), kept);
            }
        }
        if (official) {
            String a = server.git(name + "-ours", "ls-tree", "-r", "main");
            String b = server.git(name + "-theirs", "ls-tree", "-r", "main");
            System.out.println(name + ": trees " + (a.equals(b) ? "identical (same paths, modes and bytes)" : "DIFFER:\n" + diff(a, b)));
        }
    }

    private void row(String name, String run, Map<String, List<Measure>> kept) {
        List<Long> ours = millis(kept.get("ours"));
        List<Long> floor = millis(kept.get("floor"));
        List<Long> theirs = kept.containsKey("theirs") ? millis(kept.get("theirs")) : List.of();
        String ratio = "—";
        String aboveFloor = "—";
        if (!theirs.isEmpty()) {
            ratio = "%.2f".formatted((double) median(ours) / median(theirs));
            aboveFloor = "%.2f".formatted((double) (median(ours) - median(floor)) / (median(theirs) - median(floor)));
        }
        rows.add("| %s | %s | %d | %s | %s | %s | %s | %s |".formatted(name, run, ours.size(), minMedian(ours),
            theirs.isEmpty() ? "—" : minMedian(theirs), minMedian(floor), ratio, aboveFloor));
        Map<String, List<Double>> phases = new TreeMap<>();
        for (Measure m : kept.get("ours")) {
            m.phases.forEach((phase, ms) -> phases.computeIfAbsent(phase, k -> new ArrayList<>()).add(ms));
            double inTasks = m.phases.getOrDefault("render", 0.0) + m.phases.getOrDefault("json", 0.0) + m.phases.getOrDefault("native", 0.0)
                + m.phases.getOrDefault("answer", 0.0) + m.phases.getOrDefault("metrics", 0.0);
            phases.computeIfAbsent("outside", k -> new ArrayList<>()).add(m.millis - inTasks);
        }
        StringBuilder line = new StringBuilder("%s, %s (ours %d ms, floor %d ms):".formatted(name, run, median(ours), median(floor)));
        phases.forEach((phase, values) -> line.append(' ').append(phase).append(' ').append("%.1f".formatted(medianOf(values))));
        breakdown.add(line.toString());
    }

    /** The floor: the same number of tasks as the backup flow (two per namespace), each a Log task. */
    private static String floorFlow(String id, int namespaces) {
        StringBuilder tasks = new StringBuilder();
        for (int i = 0; i < namespaces * 2; i++) {
            tasks.append("""
                  - id: log_%d
                    type: io.kestra.plugin.core.log.Log
                    message: floor %d
                """.formatted(i, i));
        }
        return """
            id: %s
            namespace: system
            tasks:
            %s
            """.formatted(id, tasks.toString().stripTrailing());
    }

    /** Ours only: the large instance with one BackupInstance task, then a RestoreDrill of its backup. */
    private void oneTask(int rounds, ThrowingRunnable change) throws Exception {
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
        for (int round = 1; round <= rounds; round++) {
            for (String run : RUNS) {
                if (run.equals("first backup") && server.git("large-instance", "for-each-ref", "refs/heads/main").length() > 0) {
                    server.git("large-instance", "update-ref", "-d", "refs/heads/main");
                    // And the custody record, or the next backup would be a rewritten history (docs/custody.md).
                    server.git("large-instance", "update-ref", "-d", "refs/kestra-backup/last/main");
                } else if (run.equals("one flow changed")) {
                    change.run();
                }
                Measure ours = measure("large_instance", true);
                rows.add("| large, one BackupInstance task (round %d) | %s | 1 | %d | — | — | — | — |".formatted(round, run, ours.millis));
                breakdown.add("large, one BackupInstance task (round %d), %s: %s".formatted(round, run, ours.phases));
            }
        }
        Measure drill = measure("large_drill", false);
        rows.add("| large, RestoreDrill (10,000 flows validated by Kestra) | drill | 1 | %d | — | — | — | — |".formatted(drill.millis));
    }

    private Measure measure(String flowId, boolean ours) throws Exception {
        long start = System.nanoTime();
        Execution execution = kestra.bean(TestRunnerUtils.class).runOne("main", "system", flowId, LIMIT);
        long millis = (System.nanoTime() - start) / 1_000_000;
        System.out.printf("%s: %s in %d ms%n", flowId, execution.getState().getCurrent(), millis);
        if (execution.getState().isFailed()) {
            SettledLog.read(() -> kestra.bean(LogDataStoreInterface.class).findByExecutionId("main", execution.getId(), Level.INFO)).stream()
                .limit(40).forEach(log -> System.out.println("  " + log.getTaskId() + "  " + log.getMessage()));
            throw new IllegalStateException(flowId + " failed: the benchmark measures successful runs only");
        }
        Measure measure = new Measure(millis);
        if (ours) {
            // Summed over the execution's tasks: each of our tasks logs one DEBUG timings line.
            for (LogEntry log : SettledLog.read(() -> kestra.bean(LogDataStoreInterface.class).findByExecutionId("main", execution.getId(), Level.TRACE))) {
                if (log.getMessage() != null && log.getMessage().startsWith("Timings (ms):")) {
                    Matcher phase = PHASE.matcher(log.getMessage());
                    while (phase.find()) {
                        measure.phases.merge(phase.group(1), Double.parseDouble(phase.group(2)), Double::sum);
                    }
                }
            }
        }
        return measure;
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

    private static List<Long> millis(List<Measure> measures) {
        return measures.stream().map(m -> m.millis).toList();
    }

    private static long median(List<Long> values) {
        List<Long> sorted = values.stream().sorted().toList();
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }

    private static double medianOf(List<Double> values) {
        List<Double> sorted = values.stream().sorted().toList();
        int n = sorted.size();
        return n % 2 == 1 ? sorted.get(n / 2) : (sorted.get(n / 2 - 1) + sorted.get(n / 2)) / 2;
    }

    private static String minMedian(List<Long> values) {
        return values.stream().min(Long::compare).orElseThrow() + " / " + median(values);
    }

    /** One execution: its wall time and, for ours, the tasks' timings summed per phase. */
    private static final class Measure {
        final long millis;
        final Map<String, Double> phases = new TreeMap<>();
        int round;

        Measure(long millis) {
            this.millis = millis;
        }
    }

    /** One flow measured in a case: `ours`, `theirs` or `floor`; `repo` null for the floor. */
    private record Contender(String who, String flowId, String repo) {
    }

    @FunctionalInterface
    private interface ThrowingRunnable {
        void run() throws Exception;
    }
}
