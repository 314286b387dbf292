package io.kestra.plugin.git.backup;

import io.kestra.core.models.executions.Execution;
import io.kestra.core.models.executions.LogEntry;
import io.kestra.core.models.flows.FlowWithSource;
import io.kestra.core.models.flows.GenericFlow;
import io.kestra.core.repositories.FlowRepositoryInterface;
import io.kestra.core.repositories.LogDataStoreInterface;
import io.kestra.core.runners.TestRunnerUtils;
import io.kestra.core.services.FlowService;
import org.slf4j.event.Level;

import java.time.Duration;
import java.util.Map;

/**
 * The main job on an embedded default, no account needed (`bash tests/demo.sh`): Kestra 2.0's
 * in-process runtime with our jar in its plugins folder, a local Git server (HTTPS, basic auth, its
 * own CA), the example instance's flows and files, and the seed backup flow. Runs it, prints the
 * tasks' log, the commits and the tree; edits a flow and runs again; runs once more (no change).
 * Then the same instance with one BackupInstance task into a second repository (one commit), and
 * a RestoreDrill of that backup.
 */
public final class KestraDemo {
    private static final String REPO = "kestra-backup";
    private static final String INSTANCE_REPO = "kestra-instance";

    public static void main(String[] args) {
        EmbeddedKestra.runThenExit(KestraDemo::demo);
    }

    private static void demo() throws Exception {
        String token = System.getenv("E2E_GIT_TOKEN");
        try (TestGitServer server = new TestGitServer(Map.of("GIT_SERVER_USER", "kestra-ci", "GIT_SERVER_TOKEN", token), REPO, INSTANCE_REPO);
             EmbeddedKestra kestra = EmbeddedKestra.start()) {
            FlowService flowService = kestra.bean(FlowService.class);
            kestra.exampleInstance().load();
            String flow = ExampleInstance.backupFlow(ExampleInstance.connection(server, REPO));
            flowService.create(GenericFlow.fromYaml("main", flow));
            System.out.println("\n== The backup flow (the seed flow, task types changed):\n" + flow);

            run(kestra, server, REPO, "git_push", "First backup: flows and namespace files of " + ExampleInstance.NAMESPACES);
            System.out.println(server.git(REPO, "ls-tree", "-r", "--name-only", "main"));

            FlowWithSource site = kestra.bean(FlowRepositoryInterface.class).findByIdWithSource("main", "ansible", "site").orElseThrow();
            flowService.update(GenericFlow.fromYaml("main", site.getSource().replace("héllo", "hello again")), site);
            run(kestra, server, REPO, "git_push", "After editing the flow ansible.site");
            System.out.println(server.git(REPO, "show", "--stat", "--format=%h %s", "main"));

            run(kestra, server, REPO, "git_push", "Again, nothing changed in Kestra");
            System.out.println(server.git(REPO, "log", "--format=%h %an <%ae> %s", "main"));

            String instanceFlow = """
                id: instance_backup
                namespace: system
                tasks:
                  - id: backup
                    type: io.kestra.plugin.git.backup.BackupInstance
                    filesDirectory: scripts
                %s
                """.formatted(ExampleInstance.connection(server, INSTANCE_REPO));
            flowService.create(GenericFlow.fromYaml("main", instanceFlow));
            kestra.registerTriggerStates();
            System.out.println("\n== The same instance with one task (every namespace discovered, one commit):\n" + instanceFlow);
            run(kestra, server, INSTANCE_REPO, "instance_backup", "Whole-instance backup");
            System.out.println(server.git(INSTANCE_REPO, "log", "--format=%h %s", "main"));
            System.out.println(server.git(INSTANCE_REPO, "ls-tree", "-r", "--name-only", "main"));

            String drillFlow = """
                id: restore_drill
                namespace: system
                tasks:
                  - id: drill
                    type: io.kestra.plugin.git.backup.RestoreDrill
                    filesDirectory: scripts
                %s
                """.formatted(ExampleInstance.connection(server, INSTANCE_REPO).replace("    dryRun: false\n", ""));
            flowService.create(GenericFlow.fromYaml("main", drillFlow));
            run(kestra, server, INSTANCE_REPO, "restore_drill", "Restore drill: would the backup restore? (every flow validated by Kestra, nothing written)");
        }
    }

    private static void run(EmbeddedKestra kestra, TestGitServer server, String repo, String flowId, String title) throws Exception {
        System.out.println("\n== " + title);
        String before = server.git(repo, "for-each-ref", "--format=%(objectname)", "refs/heads/main");
        Execution execution = kestra.bean(TestRunnerUtils.class).runOne("main", "system", flowId, Duration.ofSeconds(120));
        for (LogEntry entry : SettledLog.read(() -> kestra.bean(LogDataStoreInterface.class).findByExecutionId("main", execution.getId(), Level.INFO))) {
            System.out.println("  " + entry.getTaskId() + "  " + entry.getMessage());
        }
        String after = server.git(repo, "rev-parse", "main");
        System.out.println("Execution " + execution.getState().getCurrent() + "; "
            + (after.equals(before) ? "no new commit" : server.git(repo, "rev-list", "--count", before.isEmpty() ? "main" : before + "..main") + " new commit(s), tip " + after));
    }
}
