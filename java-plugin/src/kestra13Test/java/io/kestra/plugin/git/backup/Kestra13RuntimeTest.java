package io.kestra.plugin.git.backup;

import io.kestra.core.junit.annotations.KestraTest;
import io.kestra.core.models.executions.Execution;
import io.kestra.core.models.executions.LogEntry;
import io.kestra.core.models.flows.FlowWithSource;
import io.kestra.core.models.flows.State;
import io.kestra.core.plugins.DefaultPluginRegistry;
import io.kestra.core.repositories.FlowRepositoryInterface;
import io.kestra.core.repositories.LogRepositoryInterface;
import io.kestra.core.runners.TestRunnerUtils;
import io.kestra.core.services.FlowService;
import io.kestra.core.services.InstanceService;
import io.kestra.core.storages.Namespace;
import io.kestra.core.storages.NamespaceFactory;
import io.kestra.core.storages.StorageInterface;
import io.kestra.core.utils.VersionProvider;
import jakarta.inject.Inject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Kestra 1.3 (in-process runtime, io.kestra:*:1.3.31), the jar loaded from a plugins folder: the
 * seed flow exactly as users run it there, `ForEach` and flow-level `pluginDefaults` included, with
 * only the task types changed — the `pluginDefaults` entry keeps plugin-git's type
 * `io.kestra.plugin.git` and still reaches our tasks (Kestra matches defaults by type prefix).
 */
@KestraTest(startRunner = true)
class Kestra13RuntimeTest {
    static final String TOKEN = System.getenv("E2E_GIT_TOKEN");
    static final List<String> NAMESPACES = List.of("ansible", "outputs", "posting", "proxmox");

    static {
        DefaultPluginRegistry.getOrCreate().registerIfAbsent(Path.of(System.getProperty("kestra.plugins.dir")));
    }

    @Inject
    TestRunnerUtils runnerUtils;
    @Inject
    FlowService flowService;
    @Inject
    FlowRepositoryInterface flowRepository;
    @Inject
    LogRepositoryInterface logs;
    @Inject
    StorageInterface storage;
    @Inject
    NamespaceFactory namespaceFactory;
    @Inject
    InstanceService instanceService;
    @Inject
    VersionProvider versionProvider;

    private static TestGitServer server;
    private static KestraApiStandIn api;
    private static volatile KestraApiStandIn.Backing backing;

    @BeforeAll
    static void startServers() throws Exception {
        server = new TestGitServer(Map.of("GIT_SERVER_USER", "kestra-ci", "GIT_SERVER_TOKEN", TOKEN), "backup");
        api = KestraApiStandIn.start(() -> backing);
    }

    @AfterAll
    static void stopServers() throws Exception {
        if (api != null) {
            api.close();
        }
        if (server != null) {
            server.close();
        }
    }

    @Test
    void seedFlowWithForEachAndPluginDefaultsRunsUnchangedButForTheTypes() throws Exception {
        assertThrows(ClassNotFoundException.class, () -> Class.forName("io.kestra.plugin.git.backup.PushFlows"),
            "our classes must come from the plugins folder only");
        backing = new KestraApiStandIn.Backing(flowRepository, flowService, namespaceFactory, storage, instanceService, versionProvider);
        for (String ns : NAMESPACES) {
            flowService.importFlow("main", """
                # %1$s flow, comments kept
                id: hello
                namespace: %1$s
                tasks:
                  - id: log
                    type: io.kestra.plugin.core.log.Log
                    message: "héllo from %1$s"
                """.formatted(ns));
            namespaceFactory.of("main", ns, storage).putFile(Path.of("/scripts/run.sh"),
                new ByteArrayInputStream(("echo " + ns + "\n").getBytes(StandardCharsets.UTF_8)), Namespace.Conflicts.OVERWRITE);
        }
        flowService.importFlow("main", """
            id: git_push
            namespace: system
            tasks:
              - id: push
                type: io.kestra.plugin.core.flow.ForEach
                values: [ansible, outputs, posting, proxmox]
                tasks:
                  - id: flows
                    type: io.kestra.plugin.git.backup.PushFlows
                    sourceNamespace: "{{ taskrun.value }}"
                    gitDirectory: "{{'flows/' ~ taskrun.value}}"
                    includeChildNamespaces: false
                  - id: scripts
                    type: io.kestra.plugin.git.backup.PushNamespaceFiles
                    namespace: "{{ taskrun.value }}"
                    gitDirectory: "{{'scripts/' ~ taskrun.value}}"
            triggers:
              - id: schedule_push_to_git
                type: io.kestra.plugin.core.trigger.Schedule
                cron: 0 20 * * *
            pluginDefaults:
              - type: io.kestra.plugin.git
                values:
                  username: "{{ secret('GITLAB_USERNAME') }}"
                  url: %s
                  password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
                  trustedCaPemPath: %s
                  branch: main
                  dryRun: false
            concurrency:
              limit: 1
              behavior: FAIL
            """.formatted(server.httpsUrl("backup"), server.get("CA_PEM")));

        Execution first = runnerUtils.runOne("main", "system", "git_push", Duration.ofSeconds(120));
        assertEquals(State.Type.SUCCESS, first.getState().getCurrent(), logText(first));
        assertEquals(NAMESPACES.stream().flatMap(ns -> List.of("flows/" + ns + "/hello.yml", "scripts/" + ns + "/scripts/run.sh").stream())
            .sorted().collect(Collectors.joining("\n")), server.git("backup", "ls-tree", "-r", "--name-only", "main"));
        for (String ns : NAMESPACES) {
            FlowWithSource flow = flowRepository.findByIdWithSource("main", ns, "hello").orElseThrow();
            assertEquals(flow.getSource().strip(), server.git("backup", "show", "main:flows/" + ns + "/hello.yml"));
        }
        String commit = server.git("backup", "rev-parse", "main");

        Execution second = runnerUtils.runOne("main", "system", "git_push", Duration.ofSeconds(120));
        assertEquals(State.Type.SUCCESS, second.getState().getCurrent(), logText(second));
        assertEquals(commit, server.git("backup", "rev-parse", "main"), "no change, no commit");
        for (Execution e : List.of(first, second)) {
            assertFalse((logText(e) + e).contains(TOKEN), "a secret reached execution " + e.getId());
        }
    }

    /** The execution's whole log, once Kestra has indexed it. */
    private String logText(Execution execution) throws InterruptedException {
        return SettledLog.read(() -> logs.findByExecutionId("main", execution.getId(), Level.TRACE)).stream()
            .map(LogEntry::getMessage).collect(Collectors.joining("\n"));
    }
}
