package io.kestra.plugin.git.backup;

import io.kestra.core.junit.annotations.KestraTest;
import io.kestra.core.models.executions.Execution;
import io.kestra.core.models.flows.GenericFlow;
import io.kestra.core.models.flows.State;
import io.kestra.core.repositories.FlowRepositoryInterface;
import io.kestra.core.runners.TestRunnerUtils;
import io.kestra.core.storages.Namespace;
import io.kestra.core.storages.NamespaceFactory;
import io.kestra.core.storages.StorageInterface;
import jakarta.inject.Inject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Our task inside Kestra's own runtime (executor + worker in process, memory repository, local
 * storage) with our jar's classes on the classpath: the seed flow's PushNamespaceFiles part,
 * credentials from `secret()`, pushing to a real HTTPS Git server, then a no-change run. The test
 * JVM gets SECRET_GITLAB_* from the build (Kestra OSS secrets).
 * Differences from the seed, found here (README, Limits): Kestra 2.0 has no `ForEach` and its `Loop`
 * runs iterations as sub-executions of the same flow, which `concurrency: FAIL` then fails; so the
 * loop is unrolled. Flow-level `pluginDefaults` were not applied to any task in this in-process
 * runtime (explicit properties were), so the connection is given on each task.
 */
@KestraTest(startRunner = true)
class KestraRuntimeTest {
    static final String USER = "kestra-ci";
    static final String TOKEN = System.getenv("E2E_GIT_TOKEN");

    @Inject
    TestRunnerUtils runnerUtils;
    @Inject
    FlowRepositoryInterface flowRepository;
    @Inject
    StorageInterface storage;
    @Inject
    NamespaceFactory namespaceFactory;

    private static TestGitServer server;

    @BeforeAll
    static void startGitServer() throws Exception {
        assertNotNull(TOKEN, "run through `gradle javaTest` (it sets the secrets)");
        server = new TestGitServer(Map.of("GIT_SERVER_USER", USER, "GIT_SERVER_TOKEN", TOKEN), "backup");
    }

    @AfterAll
    static void stopGitServer() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    private static String git(String... args) throws Exception {
        return server.git("backup", args);
    }

    private void putFile(String namespace, String path, String content) throws Exception {
        Namespace ns = namespaceFactory.of("main", namespace, storage);
        ns.putFile(Path.of(path), new ByteArrayInputStream(content.getBytes(StandardCharsets.UTF_8)), Namespace.Conflicts.OVERWRITE);
    }

    @Test
    void seedFlowPushesNamespaceFilesThroughKestra() throws Exception {
        putFile("ansible", "/playbooks/site.yml", "- hosts: all\n");
        putFile("ansible", "/dir with space/ünï.txt", "é\n");
        putFile("outputs", "/report.sql", "select 1;\n");
        String url = server.httpsUrl("backup");
        String connection = """
                url: %s
                username: "{{ secret('GITLAB_USERNAME') }}"
                password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
                trustedCaPemPath: %s
            """.formatted(url, server.get("CA_PEM"));
        flowRepository.create(GenericFlow.fromYaml("main", """
            id: git_push
            namespace: system
            tasks:
              - id: scripts_ansible
                type: io.kestra.plugin.git.backup.PushNamespaceFiles
                namespace: ansible
                gitDirectory: "{{'scripts/' ~ 'ansible'}}"
            %s
              - id: scripts_outputs
                type: io.kestra.plugin.git.backup.PushNamespaceFiles
                namespace: outputs
                gitDirectory: scripts/outputs
            %s
            concurrency:
              limit: 1
              behavior: FAIL
            """.formatted(connection, connection)));

        Execution first = runnerUtils.runOne("main", "system", "git_push");
        assertEquals(State.Type.SUCCESS, first.getState().getCurrent(), first.toString());
        assertEquals("- hosts: all", git("show", "main:scripts/ansible/playbooks/site.yml"));
        assertEquals("é", git("show", "main:scripts/ansible/dir with space/ünï.txt"));
        assertEquals("select 1;", git("show", "main:scripts/outputs/report.sql"));
        assertEquals("Add files from outputs namespace\nAdd files from ansible namespace", git("log", "--format=%s", "main"));
        String commit = git("rev-parse", "main");
        assertFalse(first.toString().contains(TOKEN), "the token must not reach the execution");

        Execution second = runnerUtils.runOne("main", "system", "git_push");
        assertEquals(State.Type.SUCCESS, second.getState().getCurrent());
        assertEquals(commit, git("rev-parse", "main"), "no change, no commit");
    }
}
