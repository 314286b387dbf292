package io.kestra.plugin.git.backup;

import io.kestra.core.models.flows.GenericFlow;
import io.kestra.core.plugins.DefaultPluginRegistry;
import io.kestra.core.services.FlowService;
import io.kestra.core.storages.Namespace;
import io.kestra.core.storages.NamespaceFactory;
import io.kestra.core.storages.StorageInterface;

import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

/**
 * The example Kestra instance of the seed flow, shared by the runtime test and the demo: our jar
 * from the plugins folder, flows and namespace files of the seed's four namespaces (plus a child
 * namespace), and the seed backup flow with only the task types changed.
 */
final class ExampleInstance {
    static final List<String> NAMESPACES = List.of("ansible", "outputs", "posting", "proxmox");

    private final FlowService flowService;
    private final NamespaceFactory namespaceFactory;
    private final StorageInterface storage;

    ExampleInstance(FlowService flowService, NamespaceFactory namespaceFactory, StorageInterface storage) {
        this.flowService = flowService;
        this.namespaceFactory = namespaceFactory;
        this.storage = storage;
    }

    /** What `kestra server --plugins <dir>` does at start-up; the build passes the folder. */
    static void loadPluginsFolder() {
        String dir = System.getProperty("kestra.plugins.dir");
        if (dir == null) {
            throw new IllegalStateException("kestra.plugins.dir is not set: run through gradle (kestraRuntimeTest or kestraDemo)");
        }
        DefaultPluginRegistry.getOrCreate().registerIfAbsent(Path.of(dir));
    }

    /** The connection the seed flow's pluginDefaults held, for one task (Kestra 2.0 has no pluginDefaults). */
    static String connection(TestGitServer server, String repo) {
        return """
                url: %s
                username: "{{ secret('GITLAB_USERNAME') }}"
                password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
                trustedCaPemPath: %s
                branch: main
                dryRun: false
            """.formatted(server.httpsUrl(repo), server.get("CA_PEM"));
    }

    /** Package of our tasks, and of plugin-git's (for side-by-side runs). */
    static final String OURS = "io.kestra.plugin.git.backup";
    static final String OFFICIAL = "io.kestra.plugin.git";

    /** The seed flow with only the types changed; its loop unrolled (README, Kestra 2.0). */
    static String backupFlow(String connection) {
        return backupFlow("git_push", OURS, NAMESPACES, connection);
    }

    /** The seed flow's shape: PushFlows and PushNamespaceFiles of `taskPackage` per namespace. */
    static String backupFlow(String id, String taskPackage, List<String> namespaces, String connection) {
        StringBuilder tasks = new StringBuilder();
        for (String ns : namespaces) {
            String taskId = ns.replace('.', '_');
            tasks.append("""
                  - id: flows_%1$s
                    type: %3$s.PushFlows
                    sourceNamespace: %2$s
                    gitDirectory: "{{'flows/' ~ '%2$s'}}"
                    includeChildNamespaces: false
                %4$s
                  - id: scripts_%1$s
                    type: %3$s.PushNamespaceFiles
                    namespace: %2$s
                    gitDirectory: "{{'scripts/' ~ '%2$s'}}"
                %4$s
                """.formatted(taskId, ns, taskPackage, connection.stripTrailing()));
        }
        return """
            id: %s
            namespace: system
            tasks:
            %s
            triggers:
              - id: schedule_push_to_git
                type: io.kestra.plugin.core.trigger.Schedule
                cron: 0 20 * * *
            concurrency:
              limit: 1
              behavior: FAIL
            """.formatted(id, tasks.toString().stripTrailing());
    }

    /** Flows of several shapes and namespace files of every kind, saved as through the API. */
    void load() throws Exception {
        flowService.create(GenericFlow.fromYaml("main", """
            # Nightly playbook run — comments and odd   spacing are kept verbatim
            id: site
            namespace: ansible
            labels:
              team: "ops ✓"
            tasks:
              - id: hello
                type: io.kestra.plugin.core.log.Log
                message:    "héllo {{ flow.id }}"
            """));
        flowService.create(GenericFlow.fromYaml("main", """
            id: caller
            namespace: ansible
            tasks:
              - id: call
                type: io.kestra.plugin.core.flow.Subflow
                namespace: ansible
                flowId: site
            """));
        flowService.create(GenericFlow.fromYaml("main", """
            id: role
            namespace: ansible.roles
            tasks:
              - id: log
                type: io.kestra.plugin.core.log.Log
                message: child namespace
            """));
        // Valid YAML that is not written as plain `id:` / `namespace:` lines.
        flowService.create(GenericFlow.fromYaml("main", """
            "id": main
            'namespace': proxmox
            tasks:
              - id: log
                type: io.kestra.plugin.core.log.Log
                message: proxmox
            """));
        for (String ns : List.of("outputs", "posting")) {
            flowService.create(GenericFlow.fromYaml("main", """
                id: main
                namespace: %s
                tasks:
                  - id: log
                    type: io.kestra.plugin.core.log.Log
                    message: %s
                """.formatted(ns, ns)));
        }
        putFile("ansible", "/playbooks/site.yml", "- hosts: all\n");
        putFile("ansible", "/dir with space/ünï.txt", "é\n");
        putFile("ansible", "/empty.txt", "");
        putFile("ansible", "/bin/blob.dat", new byte[] {0, 1, 2, (byte) 0xff, 0, 10});
        putFile("ansible", "/.kestraignore", "*.tmp\n");
        putFile("ansible", "/scratch.tmp", "ignored\n");
        putFile("ansible.roles", "/tasks.yml", "- debug: {}\n");
        putFile("outputs", "/report.sql", "select 1;\n");
        putFile("posting", "/templates/post.md", "# Post\n");
        putFile("proxmox", "/vm.conf", "cores: 2\n");
    }

    void putFile(String namespace, String path, String content) throws Exception {
        putFile(namespace, path, content.getBytes(StandardCharsets.UTF_8));
    }

    void putFile(String namespace, String path, byte[] content) throws Exception {
        namespace(namespace).putFile(Path.of(path), new ByteArrayInputStream(content), Namespace.Conflicts.OVERWRITE);
    }

    byte[] readFile(String namespace, String path) throws Exception {
        try (var in = namespace(namespace).getFileContent(Path.of(path))) {
            return in.readAllBytes();
        }
    }

    boolean fileExists(String namespace, String path) throws Exception {
        return namespace(namespace).exists(Path.of(path));
    }

    void deleteFile(String namespace, String path) throws Exception {
        namespace(namespace).delete(Path.of(path));
    }

    private Namespace namespace(String name) {
        return namespaceFactory.of("main", name, storage);
    }
}
