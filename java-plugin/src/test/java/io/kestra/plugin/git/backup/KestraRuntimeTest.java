package io.kestra.plugin.git.backup;

import io.kestra.core.docs.JsonSchemaGenerator;
import io.kestra.core.junit.annotations.KestraTest;
import io.kestra.core.models.annotations.Example;
import io.kestra.core.models.annotations.Plugin;
import io.kestra.core.models.executions.Execution;
import io.kestra.core.models.executions.LogEntry;
import io.kestra.core.models.flows.FlowSource;
import io.kestra.core.models.flows.FlowWithSource;
import io.kestra.core.models.flows.GenericFlow;
import io.kestra.core.models.flows.State;
import io.kestra.core.models.tasks.Task;
import io.kestra.core.plugins.PluginRegistry;
import io.kestra.core.repositories.ExecutionRepositoryInterface;
import io.kestra.core.repositories.FlowRepositoryInterface;
import io.kestra.core.models.executions.MetricEntry;
import io.kestra.core.repositories.LogDataStoreInterface;
import io.kestra.core.repositories.MetricRepositoryInterface;
import io.kestra.core.repositories.TriggerRepositoryInterface;
import io.kestra.core.models.triggers.TriggerId;
import io.kestra.core.scheduler.events.SetDisableTrigger;
import io.kestra.core.scheduler.queue.TriggerEventQueue;
import io.kestra.core.runners.TestRunnerUtils;
import io.kestra.core.serializers.JacksonMapper;
import io.kestra.core.services.FlowParsingService;
import io.kestra.core.services.FlowService;
import io.kestra.core.services.InstanceService;
import io.kestra.core.services.KVStoreService;
import io.kestra.core.models.kv.KVType;
import io.kestra.core.storages.kv.KVMetadata;
import io.kestra.core.storages.kv.KVStore;
import io.kestra.core.storages.kv.KVValue;
import io.kestra.core.storages.kv.KVValueAndMetadata;
import io.kestra.core.services.TaskOutputService;
import io.kestra.core.storages.NamespaceFactory;
import io.kestra.core.storages.StorageInterface;
import io.kestra.core.utils.Await;
import io.kestra.core.utils.VersionProvider;
import io.micronaut.context.ApplicationContext;
import io.micronaut.data.model.Pageable;
import jakarta.inject.Inject;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.slf4j.event.Level;

import java.io.InputStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.time.Instant;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Our jar inside Kestra 2.0's own runtime (executor, worker and scheduler in process, memory
 * repository, local storage), loaded the way a Kestra server loads it: from a plugins folder
 * through Kestra's plugin registry, in its own class loader. This JVM's classpath does not hold
 * our classes (the build runs this class alone, without them). Credentials come from Kestra OSS
 * secrets (SECRET_GITLAB_* set by the build); the Git server is the real HTTPS one.
 *
 * Kestra 2.0 findings pinned here (README, Limits): no `ForEach` (its `Loop` runs iterations as
 * sub-executions of the same flow, which `concurrency: FAIL` then fails, so the loop is unrolled)
 * and no flow-level `pluginDefaults` (checked below), so the connection is given on each task.
 */
@KestraTest(startRunner = true, startScheduler = true)
class KestraRuntimeTest {
    static final String USER = "kestra-ci";
    static final String TOKEN = System.getenv("E2E_GIT_TOKEN");
    static final String PUSH_NAMESPACE_FILES = "io.kestra.plugin.git.backup.PushNamespaceFiles";

    static {
        ExampleInstance.loadPluginsFolder();
    }

    @Inject
    TestRunnerUtils runnerUtils;
    @Inject
    FlowService flowService;
    @Inject
    FlowRepositoryInterface flowRepository;
    @Inject
    FlowParsingService flowParsingService;
    @Inject
    TriggerRepositoryInterface triggerRepository;
    @Inject
    ExecutionRepositoryInterface executionRepository;
    @Inject
    LogDataStoreInterface logs;
    @Inject
    StorageInterface storage;
    @Inject
    NamespaceFactory namespaceFactory;
    @Inject
    PluginRegistry pluginRegistry;
    @Inject
    JsonSchemaGenerator jsonSchemaGenerator;
    @Inject
    MetricRepositoryInterface metrics;
    @Inject
    TaskOutputService taskOutputService;
    @Inject
    KVStoreService kvStoreService;
    @Inject
    InstanceService instanceService;
    @Inject
    VersionProvider versionProvider;
    @Inject
    ApplicationContext applicationContext;
    @Inject
    TriggerEventQueue triggerEventQueue;

    private static TestGitServer server;
    private static KestraApiStandIn api;
    private static volatile KestraApiStandIn.Backing backing;

    @BeforeAll
    static void startServers() throws Exception {
        assertNotNull(TOKEN, "run through `gradle kestraRuntimeTest` (it sets the secrets)");
        server = new TestGitServer(Map.of("GIT_SERVER_USER", USER, "GIT_SERVER_TOKEN", TOKEN), "backup", "guarded", "serial", "trust", "instance", "instance-mirror", "ssh", "restore", "protected", "history", "drafts", "bundled", "limits", "variables", "triggers", "kv", "custody", "verify", "incremental", "incremental-full", "sequence");
        api = KestraApiStandIn.start(() -> backing);
    }

    private ExampleInstance kestra;

    @BeforeEach
    void shareTheFlowRepository() {
        backing = new KestraApiStandIn.Backing(flowRepository, flowService, namespaceFactory, storage, instanceService, versionProvider);
        api.kv = new KvStandIn(kvStoreService);
        api.triggers = new TriggerApiStandIn(applicationContext);
        api.plugins = pluginRegistry;
        kestra = new ExampleInstance(flowService, namespaceFactory, storage);
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
    void tasksComeFromThePluginsFolderInTheirOwnClassLoader() {
        assertThrows(ClassNotFoundException.class, () -> Class.forName(PUSH_NAMESPACE_FILES),
            "our classes must not be on the test classpath, or this test proves nothing");
        for (String type : List.of(PUSH_NAMESPACE_FILES, "io.kestra.plugin.git.backup.PushFlows")) {
            Class<?> task = pluginRegistry.findClassByIdentifier(type);
            assertNotNull(task, type + " is not registered from the plugins folder");
            assertNotSame(getClass().getClassLoader(), task.getClassLoader());
            assertTrue(task.getClassLoader().getClass().getName().endsWith("PluginClassLoader"), task.getClassLoader().toString());
        }
    }

    @Test
    void docsSchemasAndEveryExampleFlowAreValidForKestra() throws Exception {
        for (String task : List.of("BackupInstance", "PushFlows", "PushNamespaceFiles", "RestoreDrill", "RestoreInstance")) {
            Class<?> type = pluginRegistry.findClassByIdentifier("io.kestra.plugin.git.backup." + task);
            @SuppressWarnings("unchecked")
            Map<String, Object> definitions = (Map<String, Object>) jsonSchemaGenerator.schemas((Class<? extends Task>) type, false).get("definitions");
            Object properties = ((Map<String, Object>) definitions.get(type.getName())).get("properties");
            assertNotNull(properties, task + ": Kestra generated no property schema");
            assertTrue(properties.toString().contains("kestraUrl") && properties.toString().contains("hostKeyFingerprint"), task + ": " + properties);
            Plugin plugin = type.getAnnotation(Plugin.class);
            assertTrue(plugin.examples().length > 0, task + " has no example");
            for (Example example : plugin.examples()) {
                if (example.title().contains("(Kestra 1.x)")) {
                    // Written for 1.x (ForEach, flow-level pluginDefaults), which 2.0 refuses, as the README says.
                    assertThrows(Exception.class, () -> flowParsingService.parse("main", String.join("\n", example.code()), true), example.title());
                } else {
                    flowParsingService.parse("main", String.join("\n", example.code()), true);
                }
            }
        }

        // Every flow of README.md and docs/ through Kestra's own validation (what `POST flows/validate` runs:
        // strict parsing, then the model validator). An example for Kestra 1.x only (ForEach, pluginDefaults) is marked with
        // `<!-- example for Kestra 1.x only: <reason> -->` on the line before its fence, and must then be refused by 2.0.
        List<MarkdownFlowExamples.Example> documented = MarkdownFlowExamples.inReadmeAndDocs();
        assertTrue(documented.size() >= 13, "fewer flow examples found in README.md and docs/ than the 13 they held: " + documented.size());
        for (MarkdownFlowExamples.Example example : documented) {
            String refused = flowService.validate("main", List.of(new FlowSource(example.where(), example.source()))).get(0).getConstraints();
            if (example.kestra1Only()) {
                assertNotNull(refused, example.where() + " is marked for Kestra 1.x only, yet Kestra 2.0 accepts it: remove the mark");
            } else {
                assertNull(refused, example.where() + ": Kestra 2.0 refuses this example");
            }
        }
        assertTrue(documented.stream().anyMatch(MarkdownFlowExamples.Example::kestra1Only), "the 1.x migration example is found and marked");
    }

    @Test
    void seedFlowLifecycle() throws Exception {
        kestra.load();
        flowService.create(GenericFlow.fromYaml("main", ExampleInstance.backupFlow(connection("backup"))));

        Execution first = run("git_push");
        assertEquals(State.Type.SUCCESS, first.getState().getCurrent(), logText(first));
        assertEquals("""
            flows/ansible/caller.yml
            flows/ansible/site.yml
            flows/outputs/main.yml
            flows/posting/main.yml
            flows/proxmox/main.yml
            scripts/ansible/.kestraignore
            scripts/ansible/bin/blob.dat
            scripts/ansible/dir with space/ünï.txt
            scripts/ansible/empty.txt
            scripts/ansible/playbooks/site.yml
            scripts/outputs/report.sql
            scripts/posting/templates/post.md
            scripts/proxmox/vm.conf""", git("backup", "ls-tree", "-r", "--name-only", "main"),
            "every namespace, children excluded (includeChildNamespaces: false), .kestraignore applied, nothing else");
        for (String ns : ExampleInstance.NAMESPACES) {
            for (FlowWithSource flow : flowRepository.findByNamespaceWithSource("main", ns)) {
                assertEquals(flow.getSource(), blob("backup", "main:flows/" + ns + "/" + flow.getId() + ".yml"), "the bytes Kestra holds");
            }
        }
        assertTrue(blob("backup", "main:flows/ansible/site.yml").startsWith("# Nightly playbook run — comments and odd   spacing"));
        assertEquals("é\n", blob("backup", "main:scripts/ansible/dir with space/ünï.txt"));
        assertEquals("", blob("backup", "main:scripts/ansible/empty.txt"));
        assertEquals("000102ff000a", hex("backup", "main:scripts/ansible/bin/blob.dat"));
        assertEquals(8, git("backup", "log", "--format=%s", "main").lines().count(), "one commit per task, as plugin-git");
        assertTrue(logText(first).contains("Pushed to"), "the core's log events reach the task log:\n" + logText(first));

        String unchanged = git("backup", "rev-parse", "main");
        assertEquals(State.Type.SUCCESS, run("git_push").getState().getCurrent());
        assertEquals(unchanged, git("backup", "rev-parse", "main"), "no change, no commit");

        FlowWithSource site = flowRepository.findByIdWithSource("main", "ansible", "site").orElseThrow();
        flowService.update(GenericFlow.fromYaml("main", site.getSource().replace("héllo", "hello again")), site);
        kestra.putFile("ansible", "/playbooks/site.yml", "- hosts: web\n");
        kestra.deleteFile("ansible", "/empty.txt");
        kestra.putFile("ansible", "/roles/new.yml", "- name: new\n");
        Execution third = run("git_push");
        assertEquals(State.Type.SUCCESS, third.getState().getCurrent(), logText(third));
        assertEquals(unchanged, git("backup", "rev-parse", "main~2"), "one commit for the flows, one for the files");
        assertEquals("""
            D\tscripts/ansible/empty.txt
            M\tflows/ansible/site.yml
            M\tscripts/ansible/playbooks/site.yml
            A\tscripts/ansible/roles/new.yml""".lines().sorted().collect(Collectors.joining("\n")),
            git("backup", "diff", "--name-status", "main~2", "main").lines().sorted().collect(Collectors.joining("\n")));
        assertTrue(blob("backup", "main:flows/ansible/site.yml").contains("hello again"));

        String beforeOutage = git("backup", "rev-parse", "main");
        FlowWithSource proxmox = flowRepository.findByIdWithSource("main", "proxmox", "main").orElseThrow();
        flowService.delete(proxmox);
        Execution refused = run("git_push");
        assertEquals(State.Type.FAILED, refused.getState().getCurrent(), "all flows of proxmox gone: the guard refuses");
        assertTrue(logText(refused).contains("allowEmptyExport"), logText(refused));
        assertEquals(beforeOutage, git("backup", "rev-parse", "main"), "the backup is untouched");
        assertEquals(proxmox.getSource(), blob("backup", "main:flows/proxmox/main.yml"), "the deleted flow stays in the backup");

        Await.until(() -> "the Schedule trigger was not registered: " + triggerRepository.findAll("main"),
            () -> triggerRepository.findAll("main").stream().anyMatch(t -> "schedule_push_to_git".equals(t.getTriggerId())),
            Duration.ofMillis(200), Duration.ofSeconds(30));
        for (Execution e : List.of(first, third, refused)) {
            assertNoSecret(e, TOKEN, KestraApiStandIn.PASSWORD);
        }
    }

    @Test
    void backupInstancePushesEveryDiscoveredNamespaceInOneCommit() throws Exception {
        for (String[] flow : new String[][] {{"inst.team", "etl"}, {"inst.team.crm", "sync"}, {"instx", "other"}}) {
            flowService.create(GenericFlow.fromYaml("main", """
                # %1$s.%2$s, kept verbatim
                id: %2$s
                namespace: %1$s
                tasks:
                  - id: log
                    type: io.kestra.plugin.core.log.Log
                    message: "{{ flow.id }}"
                """.formatted(flow[0], flow[1])));
        }
        kestra.putFile("inst", "/shared/lib.py", "def f(): pass\n");
        kestra.putFile("inst.team", "/run.sh", "#!/bin/sh\n");
        kestra.putFile("instx", "/no.txt", "sibling\n");
        flowService.create(GenericFlow.fromYaml("main", """
            id: instance_backup
            namespace: system
            tasks:
              - id: backup
                type: io.kestra.plugin.git.backup.BackupInstance
                namespacePrefix: inst
                filesDirectory: scripts
                # the third run deletes the only flow of `inst.team.crm` on purpose
                allowNamespaceRemoval: true
                mirrors:
                  - url: %s
                    username: "{{ secret('GITLAB_USERNAME') }}"
                    password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
                    trustedCaPemPath: %s
                tag: "backup-{{ execution.id }}"
                signingKey: |
            %s
            %s
              - id: outputs
                type: io.kestra.plugin.core.log.Log
                message: "commit={{ outputs.backup.commitId ?? 'none' }} url={{ outputs.backup.commitURL ?? 'none' }} tag={{ outputs.backup.tag ?? 'none' }} serial={{ outputs.backup.backupSerial ?? 'none' }} diff={{ read(outputs.backup.diff) }}"
            concurrency:
              limit: 1
              behavior: FAIL
            """.formatted(server.httpsUrl("instance-mirror"), server.get("CA_PEM"),
            Files.readString(Path.of(server.get("KEY_ED25519"))).strip().indent(6).stripTrailing(), connection("instance"))));

        Execution first = run("instance_backup");
        assertEquals(State.Type.SUCCESS, first.getState().getCurrent(), logText(first));
        assertEquals("""
            .kestra-backup/items/flows/inst.team.crm.json
            .kestra-backup/items/flows/inst.team.json
            .kestra-backup/items/namespaceFiles/inst.json
            .kestra-backup/items/namespaceFiles/inst.team.json
            .kestra-backup/manifest.json
            flows/inst.team.crm/sync.yml
            flows/inst.team/etl.yml
            scripts/inst.team/run.sh
            scripts/inst/shared/lib.py""", git("instance", "ls-tree", "-r", "--name-only", "main"),
            "every namespace under `inst` (a parent holding only files included, the sibling `instx` not) and the backup's manifest, nothing else");
        Map<String, Object> manifest = json(blob("instance", "main:.kestra-backup/manifest.json"));
        assertEquals(instanceService.fetch(), map(manifest.get("instance")).get("id"), "the instance id Kestra keeps in its settings");
        assertEquals(versionProvider.getVersion(), map(manifest.get("instance")).get("version"));
        assertEquals(1, ((Number) manifest.get("serial")).intValue(), "the first backup of a chain");
        assertEquals(List.of(Map.of("type", "io.kestra.plugin.core.log.Log", "flows", 2)), manifest.get("plugins"), "the flows' plugin types");
        assertTrue(logText(first).contains(" serial=1 "), "the `backupSerial` output:\n" + logText(first));
        assertEquals("Backup of the Kestra instance", git("instance", "log", "--format=%s", "main"), "ONE commit");
        String commit = git("instance", "rev-parse", "main");
        assertTrue(logText(first).contains("commit=" + commit + " url=" + server.httpsUrl("instance").replace(".git", "") + "/commit/" + commit),
            "commitId and commitURL reach the next task:\n" + logText(first));
        assertTrue(logText(first).contains("{changes:\"0\",file:\"scripts/inst/shared/lib.py\",deletions:\"-0\",additions:\"+1\"}"),
            "the diff file is in internal storage, one ION row per file:\n" + logText(first));
        Path allowedSigners = server.scratchFile("allowed-signers");
        Files.writeString(allowedSigners, "backup@example.com " + Files.readString(Path.of(server.get("KEY_ED25519") + ".pub")));
        assertTrue(git("instance", "-c", "gpg.format=ssh", "-c", "gpg.ssh.allowedSignersFile=" + allowedSigners, "verify-commit", "-v", "main")
            .contains("Good \"git\" signature for backup@example.com"), "the commit is signed with `signingKey`");
        String tag = "backup-" + first.getId();
        assertTrue(logText(first).contains("tag=" + tag + " "), "the `tag` output:\n" + logText(first));
        assertEquals(commit, git("instance", "rev-parse", tag + "^{commit}"), "the tag names the backup commit");
        assertTrue(git("instance", "-c", "gpg.format=ssh", "-c", "gpg.ssh.allowedSignersFile=" + allowedSigners, "verify-tag", "-v", tag)
            .contains("Good \"git\" signature for backup@example.com"), "the tag is signed with `signingKey`");
        assertEquals(git("instance-mirror", "rev-parse", "main"), git("instance-mirror", "rev-parse", tag + "^{commit}"), "the mirror's tag names its own commit");
        assertEquals(flowRepository.findByIdWithSource("main", "inst.team", "etl").orElseThrow().getSource(),
            blob("instance", "main:flows/inst.team/etl.yml"), "the bytes Kestra holds");

        assertEquals(git("instance", "rev-parse", "main^{tree}"), git("instance-mirror", "rev-parse", "main^{tree}"), "the mirror holds the same files");
        String tip = git("instance", "rev-parse", "main");
        Execution second = run("instance_backup");
        assertEquals(State.Type.SUCCESS, second.getState().getCurrent());
        assertEquals(tip, git("instance", "rev-parse", "main"), "no change, no commit");
        assertEquals(tip, git("instance", "rev-parse", "backup-" + second.getId() + "^{commit}"), "no change: the tip is tagged");

        kestra.putFile("inst", "/shared/lib.py", "def f(): return 1\n");
        flowService.delete(flowRepository.findByIdWithSource("main", "inst.team.crm", "sync").orElseThrow());
        Execution third = run("instance_backup");
        assertEquals(State.Type.SUCCESS, third.getState().getCurrent(), logText(third));
        assertEquals(tip, git("instance", "rev-parse", "main~1"), "one commit for both changes");
        assertEquals("D\t.kestra-backup/items/flows/inst.team.crm.json\nM\t.kestra-backup/items/namespaceFiles/inst.json\nM\t.kestra-backup/manifest.json\nD\tflows/inst.team.crm/sync.yml\nM\tscripts/inst/shared/lib.py", git("instance", "diff", "--name-status", "main~1", "main"));
        assertTrue(logText(third).contains(" serial=2 "), logText(third));
        // Each remote's manifest names its own previous commit; Kestra's content is the same.
        assertEquals(git("instance", "ls-tree", "-r", "main", "flows", "scripts"), git("instance-mirror", "ls-tree", "-r", "main", "flows", "scripts"));
        assertEquals("2", git("instance-mirror", "rev-list", "--count", "main"), "one commit per change on the mirror too");
        for (Execution e : List.of(first, third)) {
            assertNoSecret(e, TOKEN, KestraApiStandIn.PASSWORD);
        }
    }

    @Test
    void restoreDrillAndRestoreBringTheBackupBack() throws Exception {
        flowService.create(GenericFlow.fromYaml("main", """
            # kept verbatim through backup and restore
            id: alpha
            namespace: rest
            tasks:
              - id: log
                type: io.kestra.plugin.core.log.Log
                message: "héllo"
            """));
        flowService.create(GenericFlow.fromYaml("main", """
            id: beta
            namespace: rest.team
            tasks:
              - id: call
                type: io.kestra.plugin.core.flow.Subflow
                namespace: rest
                flowId: alpha
            """));
        kestra.putFile("rest", "/lib/x.py", "print('x')\n");
        kestra.putFile("rest.team", "/bin/blob.dat", new byte[] {0, 1, 2, (byte) 0xff});
        String layout = """
                namespacePrefix: rest
                filesDirectory: scripts
            %s""".formatted(connection("restore"));
        saveTaskFlow("rest_backup", "io.kestra.plugin.git.backup.BackupInstance", layout, "");
        // A drill never writes, so it has no `dryRun` (which the seed's connection lines carry).
        saveTaskFlow("rest_drill", "io.kestra.plugin.git.backup.RestoreDrill", layout.replace("    dryRun: false\n", "") + "    failOnDrift: true\n",
            "inSync={{ outputs.task.inSync }} missing={{ outputs.task.missingInKestra }} validated={{ outputs.task.flowsValidated }} drift={{ read(outputs.task.drift) }}");
        saveTaskFlow("rest_restore", "io.kestra.plugin.git.backup.RestoreInstance", layout,
            "restoredFlows={{ outputs.task.restoredFlows }} restoredFiles={{ outputs.task.restoredFiles }} drift={{ read(outputs.task.drift) }}");
        assertEquals(State.Type.SUCCESS, run("rest_backup").getState().getCurrent());
        String backedUp = git("restore", "rev-parse", "main");

        Execution intact = run("rest_drill");
        assertEquals(State.Type.SUCCESS, intact.getState().getCurrent(), logText(intact));
        assertTrue(logText(intact).contains("inSync=4 missing=0 validated=2 drift="), "every flow validated by Kestra, no drift:\n" + logText(intact));

        String alphaSource = flowRepository.findByIdWithSource("main", "rest", "alpha").orElseThrow().getSource();
        for (String[] flow : new String[][] {{"rest", "alpha"}, {"rest.team", "beta"}}) {
            flowService.delete(flowRepository.findByIdWithSource("main", flow[0], flow[1]).orElseThrow());
        }
        kestra.deleteFile("rest", "/lib/x.py");
        kestra.deleteFile("rest.team", "/bin/blob.dat");
        Execution lost = run("rest_drill");
        assertEquals(State.Type.FAILED, lost.getState().getCurrent());
        assertTrue(logText(lost).contains("[Drift]") && logText(lost).contains("`flows/rest/alpha.yml` missingInKestra"), logText(lost));

        Execution restored = run("rest_restore");
        assertEquals(State.Type.SUCCESS, restored.getState().getCurrent(), logText(restored));
        assertTrue(logText(restored).contains("restoredFlows=2 restoredFiles=2"), logText(restored));
        assertTrue(logText(restored).contains("{file:\"flows/rest/alpha.yml\",state:\"missingInKestra\"}"), "the drift file lists what was missing:\n" + logText(restored));
        assertEquals(alphaSource.strip(), flowRepository.findByIdWithSource("main", "rest", "alpha").orElseThrow().getSource().strip(),
            "the flow is back as it was (comments included)");
        assertTrue(flowRepository.findByIdWithSource("main", "rest.team", "beta").isPresent());
        assertEquals("print('x')\n", new String(kestra.readFile("rest", "/lib/x.py"), StandardCharsets.UTF_8));
        assertArrayEquals(new byte[] {0, 1, 2, (byte) 0xff}, kestra.readFile("rest.team", "/bin/blob.dat"));
        assertEquals(State.Type.SUCCESS, run("rest_drill").getState().getCurrent(), "in sync again");
        assertEquals(State.Type.SUCCESS, run("rest_backup").getState().getCurrent());
        assertEquals(backedUp, git("restore", "rev-parse", "main"), "backup, restore, backup: no change, no commit");

        // A flow Kestra cannot load (a plugin that is gone) in the backup: the drill and the restore refuse, nothing is written.
        server.commitFile("restore", "flows/rest/gone.yml", "id: gone\nnamespace: rest\ntasks:\n  - id: t\n    type: io.kestra.plugin.gone.Task\n");
        Execution refusedDrill = run("rest_drill");
        assertEquals(State.Type.FAILED, refusedDrill.getState().getCurrent());
        assertTrue(logText(refusedDrill).contains("[InvalidBackup]") && logText(refusedDrill).contains("`flows/rest/gone.yml`"), logText(refusedDrill));
        Execution refusedRestore = run("rest_restore");
        assertEquals(State.Type.FAILED, refusedRestore.getState().getCurrent());
        assertTrue(flowRepository.findByIdWithSource("main", "rest", "gone").isEmpty(), "nothing restored");
        for (Execution e : List.of(intact, lost, restored, refusedDrill, refusedRestore)) {
            assertNoSecret(e, TOKEN, KestraApiStandIn.PASSWORD);
        }
    }

    /**
     * Issue 11, time travel: backups T1 and T2 two seconds apart, the instance changed in between
     * (flow A edited, flow B deleted, file F deleted, flow C added, a parent flow and its subflow
     * deleted); then restores from T1 by SHA, by instant, by tag, with a selection, with
     * dependencies, as a dry run (the plan), with `overwrite`; a drill at T1 with the age of the
     * newest backup; and refs that do not resolve. Checked in Kestra's flow repository, its
     * namespace storage, internal storage and the Git server.
     */
    @Test
    void timeTravelRestoresAnyBackupByCommitTagOrDate() throws Exception {
        kestra.putFile("tt", "/lib/f.py", "print('T1')\n");
        kestra.putFile("tt", "/keep.txt", "kept\n");
        flowService.create(GenericFlow.fromYaml("main", """
            # A as it was at T1
            id: alpha
            namespace: tt
            tasks:
              - id: log
                type: io.kestra.plugin.core.log.Log
                message: "first"
            """));
        flowService.create(GenericFlow.fromYaml("main", """
            id: bravo
            namespace: tt
            labels:
              kept: "byte ✓ for byte"
            tasks:
              - id: log
                type: io.kestra.plugin.core.log.Log
                message:   "B,   odd spacing kept"
            """));
        flowService.create(GenericFlow.fromYaml("main", """
            id: child
            namespace: tt.sub
            tasks:
              - id: log
                type: io.kestra.plugin.core.log.Log
                message: child
            """));
        flowService.create(GenericFlow.fromYaml("main", """
            id: parent
            namespace: tt
            tasks:
              - id: call
                type: io.kestra.plugin.core.flow.Subflow
                namespace: tt.sub
                flowId: child
            """));
        String layout = """
                namespacePrefix: tt
                filesDirectory: scripts
            %s""".formatted(connection("history"));
        saveTaskFlow("tt_backup_t1", "io.kestra.plugin.git.backup.BackupInstance", layout + "    tag: backup-t1\n", "");
        // The backup at T2 loses the namespace `tt.sub` on purpose (its only flow is deleted).
        saveTaskFlow("tt_backup", "io.kestra.plugin.git.backup.BackupInstance", layout + "    allowNamespaceRemoval: true\n", "");

        Execution backupT1 = run("tt_backup_t1");
        assertEquals(State.Type.SUCCESS, backupT1.getState().getCurrent(), logText(backupT1));
        String t1 = git("history", "rev-parse", "main");
        assertEquals("tag", git("history", "cat-file", "-t", "backup-t1"), "BackupInstance's `tag`: an annotated tag");
        assertEquals(t1, git("history", "rev-parse", "backup-t1^{commit}"));
        Instant t1Date = Instant.ofEpochSecond(Long.parseLong(git("history", "log", "-1", "--format=%ct", t1)));
        Map<String, FlowWithSource> atT1 = flowsOf("tt", "alpha", "bravo", "parent");
        atT1.putAll(flowsOf("tt.sub", "child"));
        for (Map.Entry<String, FlowWithSource> flow : atT1.entrySet()) {
            assertEquals(flow.getValue().getSource(), blob("history", t1 + ":flows/" + flow.getKey() + ".yml"), "T1 holds Kestra's bytes");
        }

        // Committer dates in whole seconds: T2 at least two seconds after T1, so T1 + 1 s lies between them.
        Thread.sleep(2100);
        FlowWithSource alpha = atT1.get("tt/alpha");
        flowService.update(GenericFlow.fromYaml("main", alpha.getSource().replace("\"first\"", "\"second\"")), alpha);
        String alphaEdited = flowRepository.findByIdWithSource("main", "tt", "alpha").orElseThrow().getSource();
        for (String flow : List.of("tt/bravo", "tt/parent", "tt.sub/child")) {
            flowService.delete(flowRepository.findByIdWithSource("main", flow.split("/")[0], flow.split("/")[1]).orElseThrow());
        }
        kestra.deleteFile("tt", "/lib/f.py");
        String charlie = """
            id: charlie
            namespace: tt
            tasks:
              - id: log
                type: io.kestra.plugin.core.log.Log
                message: added after T1
            """;
        flowService.create(GenericFlow.fromYaml("main", charlie));
        charlie = flowRepository.findByIdWithSource("main", "tt", "charlie").orElseThrow().getSource();
        Execution backupT2 = run("tt_backup");
        assertEquals(State.Type.SUCCESS, backupT2.getState().getCurrent(), logText(backupT2));
        String t2 = git("history", "rev-parse", "main");
        assertEquals(t1, git("history", "rev-parse", "main~1"));
        assertEquals("""
            D\t.kestra-backup/items/flows/tt.sub.json
            M\t.kestra-backup/items/flows/tt.json
            M\t.kestra-backup/items/namespaceFiles/tt.json
            M\t.kestra-backup/manifest.json
            A\tflows/tt/charlie.yml
            D\tflows/tt.sub/child.yml
            D\tflows/tt/bravo.yml
            D\tflows/tt/parent.yml
            D\tscripts/tt/lib/f.py
            M\tflows/tt/alpha.yml""".lines().sorted().collect(Collectors.joining("\n")),
            git("history", "diff", "--no-renames", "--name-status", t1, t2).lines().sorted().collect(Collectors.joining("\n")));
        Instant t2Date = Instant.ofEpochSecond(Long.parseLong(git("history", "log", "-1", "--format=%ct", t2)));
        String drillLayout = layout.replace("    dryRun: false\n", "");

        // (g) A drill at T1: the drift from T1 to now, the commit read, the newest backup and its age.
        saveTaskFlow("tt_drill_t1", "io.kestra.plugin.git.backup.RestoreDrill", drillLayout + "    ref: " + t1 + "\n", "");
        Execution drill = run("tt_drill_t1");
        assertEquals(State.Type.SUCCESS, drill.getState().getCurrent(), logText(drill));
        Map<String, Object> drillOut = taskOutputs(drill);
        assertEquals(t1, map(drillOut.get("restoredFrom")).get("commit"));
        assertEquals(t2, map(drillOut.get("latestBackup")).get("commit"));
        assertEquals(t2Date, Instant.parse((String) map(drillOut.get("latestBackup")).get("date")), "T2's committer date");
        assertEquals("""
            {file:"flows/tt.sub/child.yml",state:"missingInKestra"}
            {file:"flows/tt/alpha.yml",state:"differing"}
            {file:"flows/tt/bravo.yml",state:"missingInKestra"}
            {file:"flows/tt/charlie.yml",state:"onlyInKestra"}
            {file:"flows/tt/parent.yml",state:"missingInKestra"}
            {file:"scripts/tt/lib/f.py",state:"missingInKestra"}
            """, stored(drillOut.get("drift")), "the drift from T1 to now");
        Await.until(() -> metricValue(drill, "backup.age.seconds").isPresent(), Duration.ofMillis(200), Duration.ofSeconds(30));
        double age = metricValue(drill, "backup.age.seconds").orElseThrow();
        assertTrue(age >= 0 && age < 600, "seconds since T2 was committed: " + age);
        // The alert of RestoreDrill's docs: a Fail task on `latestBackup.date`; a fresh backup passes, a window of 0 s fails.
        for (int window : new int[] {3600, 0}) {
            flowService.create(GenericFlow.fromYaml("main", """
                id: tt_watchdog_%1$d
                namespace: system
                tasks:
                  - id: drill
                    type: io.kestra.plugin.git.backup.RestoreDrill
                %2$s
                  - id: backups_stopped
                    type: io.kestra.plugin.core.execution.Fail
                    condition: "{{ (outputs.drill.latestBackup.date | timestamp) < (now() | dateAdd(-%1$d, 'SECONDS') | timestamp) }}"
                    errorMessage: "No backup since {{ outputs.drill.latestBackup.date }} (commit {{ outputs.drill.latestBackup.commit }})"
                """.formatted(window, drillLayout.stripTrailing())));
        }
        assertEquals(State.Type.SUCCESS, run("tt_watchdog_3600").getState().getCurrent(), "the newest backup is seconds old");
        Execution stale = run("tt_watchdog_0");
        assertEquals(State.Type.FAILED, stale.getState().getCurrent(), "older than the window: the check fails");
        assertTrue(logText(stale).contains("(commit " + t2 + ")"), logText(stale));

        // (a) T1's SHA, one flow selected: B is back byte for byte, nothing else is written.
        saveTaskFlow("tt_restore_b_sha", "io.kestra.plugin.git.backup.RestoreInstance", layout + """
                ref: %s
                flows: [tt/bravo]
            """.formatted(t1), "");
        Execution bySha = run("tt_restore_b_sha");
        assertEquals(State.Type.SUCCESS, bySha.getState().getCurrent(), logText(bySha));
        FlowWithSource bravo = flowRepository.findByIdWithSource("main", "tt", "bravo").orElseThrow();
        assertEquals(atT1.get("tt/bravo").getSource(), bravo.getSource(), "B as at T1, byte for byte");
        assertTrue(bravo.getRevision() > atT1.get("tt/bravo").getRevision(), "Kestra stores the restored flow as a new revision: " + bravo.getRevision());
        Map<String, Object> byShaOut = taskOutputs(bySha);
        assertEquals(t1, map(byShaOut.get("restoredFrom")).get("commit"));
        assertEquals("create=1 replace=0 unchanged=0 skip=0", planCounts(byShaOut));
        assertEquals(1L, ((Number) byShaOut.get("restoredFlows")).longValue());
        assertEquals(0L, ((Number) byShaOut.get("restoredFiles")).longValue());
        assertUnrestored(alphaEdited, charlie);

        // (b) An instant between T1 and T2 resolves to T1.
        flowService.delete(bravo);
        saveTaskFlow("tt_restore_b_instant", "io.kestra.plugin.git.backup.RestoreInstance", layout + """
                ref: "%s"
                flows: [tt/bravo]
            """.formatted(t1Date.plusSeconds(1)), "");
        Execution byInstant = run("tt_restore_b_instant");
        assertEquals(State.Type.SUCCESS, byInstant.getState().getCurrent(), logText(byInstant));
        assertEquals(t1, map(taskOutputs(byInstant).get("restoredFrom")).get("commit"), "the newest backup at or before " + t1Date.plusSeconds(1));
        assertEquals(atT1.get("tt/bravo").getSource(), flowRepository.findByIdWithSource("main", "tt", "bravo").orElseThrow().getSource());
        assertUnrestored(alphaEdited, charlie);

        // (c) + (f) T1's tag, everything selected, a dry run with `overwrite`: the plan's rows and A's diff; nothing written.
        saveTaskFlow("tt_plan_tag", "io.kestra.plugin.git.backup.RestoreInstance", layout.replace("dryRun: false", "dryRun: true") + """
                ref: backup-t1
                overwrite: true
            """, "");
        Execution byTag = run("tt_plan_tag");
        assertEquals(State.Type.SUCCESS, byTag.getState().getCurrent(), logText(byTag));
        Map<String, Object> byTagOut = taskOutputs(byTag);
        assertEquals(t1, map(byTagOut.get("restoredFrom")).get("commit"), "the tag names T1");
        List<Map<String, Object>> plan = stored(byTagOut.get("plan")).lines().map(KestraRuntimeTest::json).toList();
        assertEquals(List.of(
            "flows/tt.sub/child.yml flow tt.sub child create",
            "flows/tt/alpha.yml flow tt alpha replace",
            "flows/tt/bravo.yml flow tt bravo unchanged",
            "flows/tt/charlie.yml flow tt charlie skip",
            "flows/tt/parent.yml flow tt parent create",
            "scripts/tt/keep.txt file tt keep.txt unchanged",
            "scripts/tt/lib/f.py file tt lib/f.py create"
        ), plan.stream().map(r -> r.get("file") + " " + r.get("kind") + " " + r.get("namespace") + " " + r.get("path") + " " + r.get("action")).toList());
        assertEquals("create=3 replace=1 unchanged=2 skip=1", planCounts(byTagOut));
        String alphaDiff = (String) plan.get(1).get("diff");
        assertTrue(alphaDiff.startsWith("--- kestra\n+++ backup\n@@ ") && alphaDiff.contains("\n-    message: \"second\"\n")
            && alphaDiff.contains("\n+    message: \"first\"\n"), "A's diff, from Kestra now to T1:\n" + alphaDiff);
        assertNotNull(plan.get(3).get("reason"), "a skip says why: " + plan.get(3));
        assertEquals(List.of("flows/tt/alpha.yml"), plan.stream().filter(r -> r.containsKey("diff")).map(r -> r.get("file")).toList(), "only a replace carries a diff");
        assertUnrestored(alphaEdited, charlie);
        assertFalse(flowRepository.findByIdWithSource("main", "tt", "parent").isPresent(), "a dry run writes nothing");

        // (e) The parent selected with its dependencies: the subflow it calls comes back with it, as at T1.
        saveTaskFlow("tt_restore_parent", "io.kestra.plugin.git.backup.RestoreInstance", layout + """
                ref: %s
                flows: [tt/parent]
                withDependencies: true
            """.formatted(t1), "");
        Execution withDependencies = run("tt_restore_parent");
        assertEquals(State.Type.SUCCESS, withDependencies.getState().getCurrent(), logText(withDependencies));
        assertEquals(atT1.get("tt/parent").getSource(), flowRepository.findByIdWithSource("main", "tt", "parent").orElseThrow().getSource());
        assertEquals(atT1.get("tt.sub/child").getSource(), flowRepository.findByIdWithSource("main", "tt.sub", "child").orElseThrow().getSource());
        Map<String, Object> withDependenciesOut = taskOutputs(withDependencies);
        assertEquals(List.of(Map.of("flow", "tt.sub/child", "requiredBy", "tt/parent")), withDependenciesOut.get("dependencies"));
        assertTrue(stored(withDependenciesOut.get("plan")).lines().map(KestraRuntimeTest::json)
            .anyMatch(r -> "flows/tt.sub/child.yml".equals(r.get("file")) && "tt/parent".equals(r.get("requiredBy"))), "the plan says why the child came");
        assertUnrestored(alphaEdited, charlie);

        // (h) Refs that do not resolve fail with what to do, and write nothing (the restore would have rolled A back).
        Map<String, String> badRefs = new LinkedHashMap<>();
        badRefs.put("no-such-backup", "no-such-backup");
        badRefs.put("2020-01-01", t1Date.toString());
        badRefs.put("2026-13-45", "`2026-11-20T19:00:00+01:00`");
        int i = 0;
        for (Map.Entry<String, String> bad : badRefs.entrySet()) {
            String id = "tt_bad_ref_" + i++;
            saveTaskFlow(id, "io.kestra.plugin.git.backup.RestoreInstance", layout + """
                    ref: "%s"
                    overwrite: true
                """.formatted(bad.getKey()), "");
            Execution refused = run(id);
            assertEquals(State.Type.FAILED, refused.getState().getCurrent(), bad.getKey());
            String log = logText(refused);
            assertTrue(log.contains("[InvalidConfig]") && log.contains(bad.getValue()), bad.getKey() + " → " + log);
            if (bad.getKey().equals("no-such-backup")) {
                assertTrue(log.contains(t2.substring(0, 7)) && log.contains(t1.substring(0, 7)), "the newest backups are listed:\n" + log);
            }
            assertUnrestored(alphaEdited, charlie);
        }

        // (d) Everything at T1 with `overwrite`: A, B and F as at T1, C untouched.
        int alphaRevision = flowRepository.findByIdWithSource("main", "tt", "alpha").orElseThrow().getRevision();
        saveTaskFlow("tt_restore_all", "io.kestra.plugin.git.backup.RestoreInstance", layout + """
                ref: %s
                overwrite: true
            """.formatted(t1), "");
        Execution all = run("tt_restore_all");
        assertEquals(State.Type.SUCCESS, all.getState().getCurrent(), logText(all));
        FlowWithSource alphaBack = flowRepository.findByIdWithSource("main", "tt", "alpha").orElseThrow();
        assertEquals(alpha.getSource(), alphaBack.getSource(), "A rolled back to T1");
        assertEquals(alphaRevision + 1, alphaBack.getRevision(), "a new revision of A");
        assertEquals(atT1.get("tt/bravo").getSource(), flowRepository.findByIdWithSource("main", "tt", "bravo").orElseThrow().getSource());
        assertEquals("print('T1')\n", new String(kestra.readFile("tt", "/lib/f.py"), StandardCharsets.UTF_8));
        assertEquals(charlie, flowRepository.findByIdWithSource("main", "tt", "charlie").orElseThrow().getSource(), "C is not in T1: untouched");
        assertEquals("create=1 replace=1 unchanged=4 skip=1", planCounts(taskOutputs(all)));

        for (Execution e : List.of(backupT1, backupT2, drill, stale, bySha, byInstant, byTag, withDependencies, all)) {
            assertNoSecret(e, TOKEN, KestraApiStandIn.PASSWORD);
        }
    }

    /** What no restore of the time-travel test wrote: A as edited after T1, F deleted, C as added. */
    private void assertUnrestored(String alphaEdited, String charlie) throws Exception {
        assertEquals(alphaEdited, flowRepository.findByIdWithSource("main", "tt", "alpha").orElseThrow().getSource(), "A not rolled back");
        assertFalse(kestra.fileExists("tt", "/lib/f.py"), "F not restored");
        assertEquals(charlie, flowRepository.findByIdWithSource("main", "tt", "charlie").orElseThrow().getSource());
    }

    /** Flows of a namespace by id, keyed `namespace/id`. */
    private Map<String, FlowWithSource> flowsOf(String namespace, String... ids) {
        Map<String, FlowWithSource> flows = new LinkedHashMap<>();
        for (String id : ids) {
            flows.put(namespace + "/" + id, flowRepository.findByIdWithSource("main", namespace, id).orElseThrow());
        }
        return flows;
    }

    /** The outputs of the task `task` of the execution, as Kestra stored them (2.0 keeps them apart from the execution). */
    private Map<String, Object> taskOutputs(Execution execution) throws Exception {
        return taskOutputService.getOutputs(execution.getTaskRunList().stream().filter(t -> t.getTaskId().equals("task")).findFirst().orElseThrow());
    }

    /** A file of internal storage named by a task output, as text. */
    private String stored(Object uri) throws Exception {
        try (InputStream in = storage.get("main", "system", URI.create((String) uri))) {
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static String planCounts(Map<String, Object> outputs) {
        Map<String, Object> counts = map(outputs.get("planCounts"));
        return Stream.of("create", "replace", "unchanged", "skip").map(a -> a + "=" + counts.get(a)).collect(Collectors.joining(" "));
    }

    private Optional<Double> metricValue(Execution execution, String name) {
        return metrics.findByExecutionId("main", execution.getId(), Pageable.from(1, 100)).stream()
            .filter(m -> m.getName().equals(name)).map(MetricEntry::getValue).findFirst();
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object value) {
        return (Map<String, Object>) value;
    }

    private static Map<String, Object> json(String line) {
        try {
            return map(JacksonMapper.ofJson().readValue(line, Map.class));
        } catch (Exception e) {
            throw new AssertionError("not a JSON object: " + line, e);
        }
    }

    @Test
    void aDraftOnTopOfASavedRevisionIsNotBackedUpAndARestoreWritesOverItOnlyWithOverwrite() throws Exception {
        flowService.create(GenericFlow.fromYaml("main", logFlow("drafts", "d1", "v1 saved")));
        saveInstanceTasks("drafts", "drafts");
        assertEquals(State.Type.SUCCESS, run("drafts_backup").getState().getCurrent());
        String v1 = blob("drafts", "main:flows/drafts/d1.yml");

        // The user saves v2, then keeps editing in a draft: the flow's newest revision is a draft.
        flowService.update(GenericFlow.fromYaml("main", logFlow("drafts", "d1", "v2 saved")), head("drafts", "d1"));
        flowService.update(GenericFlow.fromYaml("main", logFlow("drafts", "d1", "v3 draft")).toBuilder().draft(true).build(), head("drafts", "d1"));
        assertTrue(head("drafts", "d1").isDraft(), "the newest revision is a draft");
        Execution backup = run("drafts_backup");
        assertEquals(State.Type.SUCCESS, backup.getState().getCurrent(), logText(backup));
        assertEquals(flowRepository.findByIdWithSourceForExecution("main", "drafts", "d1").orElseThrow().getSource(), blob("drafts", "main:flows/drafts/d1.yml"),
            "the backup holds the last saved revision, as Kestra 2.0's export returns it");
        assertTrue(blob("drafts", "main:flows/drafts/d1.yml").contains("v2 saved"));

        // The backup goes back to v1 (as an older backup would). Without `overwrite`, the draft stays the newest revision.
        server.commitFile("drafts", "flows/drafts/d1.yml", v1);
        Execution kept = run("drafts_restore");
        assertEquals(State.Type.SUCCESS, kept.getState().getCurrent(), logText(kept));
        assertTrue(logText(kept).contains("1 file(s) differ"), logText(kept));
        assertTrue(head("drafts", "d1").isDraft() && head("drafts", "d1").getSource().contains("v3 draft"), "the user's draft is untouched");

        // With `overwrite`, v1 becomes a new saved revision over the draft.
        Execution rolledBack = run("drafts_restore_over");
        assertEquals(State.Type.SUCCESS, rolledBack.getState().getCurrent(), logText(rolledBack));
        assertFalse(head("drafts", "d1").isDraft());
        assertEquals(v1.strip(), head("drafts", "d1").getSource().strip());
    }

    /**
     * Issue 14, sequence guard: a flow updated through Kestra's services after the backup (its
     * revision rises) makes a restore of the branch tip with `overwrite` fail naming the flow and
     * both revisions, nothing written; the same restore with `ref` set restores it, with a warning
     * and the output `newerInKestra`.
     */
    @Test
    void aRestoreOfTheTipRefusesToUndoAChangeMadeInKestraAfterTheBackupUnlessTheRefIsExplicit() throws Exception {
        flowService.create(GenericFlow.fromYaml("main", logFlow("seq", "s1", "as backed up")));
        saveInstanceTasks("seq", "sequence");
        String layout = """
                namespacePrefix: seq
                filesDirectory: scripts
            %s""".formatted(connection("sequence"));
        saveTaskFlow("seq_restore_ref", "io.kestra.plugin.git.backup.RestoreInstance", layout + "    overwrite: true\n    ref: main\n", "");
        Execution backup = run("seq_backup");
        assertEquals(State.Type.SUCCESS, backup.getState().getCurrent(), logText(backup));
        int backedUp = head("seq", "s1").getRevision();
        flowService.update(GenericFlow.fromYaml("main", logFlow("seq", "s1", "changed in Kestra")), head("seq", "s1"));
        int changed = head("seq", "s1").getRevision();
        assertTrue(changed > backedUp, "Kestra raised the revision: " + backedUp + " → " + changed);

        Execution refused = run("seq_restore_over");
        assertEquals(State.Type.FAILED, refused.getState().getCurrent());
        String log = logText(refused);
        assertTrue(log.contains("[InvalidBackup]") && log.contains("`flows/seq/s1.yml` (revision " + backedUp + " in the backup, " + changed + " in Kestra)"), log);
        assertTrue(log.contains("Set `ref` explicitly (e.g. the branch name or a commit)"), "the fix, in the task's property names:\n" + log);
        assertEquals(changed, head("seq", "s1").getRevision(), "nothing written");
        assertTrue(head("seq", "s1").getSource().contains("changed in Kestra"));

        Execution restored = run("seq_restore_ref");
        assertEquals(State.Type.SUCCESS, restored.getState().getCurrent(), logText(restored));
        assertTrue(logText(restored).contains("over 1 item(s) Kestra changed since it was taken: `flows/seq/s1.yml`"), logText(restored));
        assertTrue(head("seq", "s1").getSource().contains("as backed up"), "restored over Kestra's change");
        Map<String, Object> outputs = taskOutputs(restored);
        List<?> newer = (List<?>) outputs.get("newerInKestra");
        assertEquals(1, newer.size(), "" + outputs);
        Map<String, Object> row = map(newer.get(0));
        assertEquals("flows/seq/s1.yml flow " + backedUp + " " + changed,
            row.get("file") + " " + row.get("kind") + " " + ((Number) row.get("backupRevision")).intValue() + " " + ((Number) row.get("kestraRevision")).intValue());
        assertNotNull(row.get("backupUpdated"), "the update time recorded: " + row);
        assertNotNull(row.get("kestraUpdated"), "Kestra's update time now: " + row);
        assertEquals(Optional.of(1.0), metricValue(restored, "restore.newer_in_kestra"));
        for (Execution e : List.of(backup, refused, restored)) {
            assertNoSecret(e, TOKEN, KestraApiStandIn.PASSWORD);
        }
    }

    /**
     * Issue 15: after a first (full) backup, a one-flow edit is committed by an incremental run,
     * which downloads that flow alone, and the tree equals the one a full export gives.
     */
    @Test
    void aOneFlowEditIsCommittedByAnIncrementalRunWithTheTreeOfAFullExport() throws Exception {
        for (String id : List.of("a", "b", "c")) {
            flowService.create(GenericFlow.fromYaml("main", logFlow("incr.team", id, "v1 " + id)));
        }
        kestra.putFile("incr", "/lib/shared.py", "def shared(): pass\n");
        kestra.putFile("incr.team", "/run.sh", "#!/bin/sh\n");
        saveInstanceTasks("incr", "incremental");
        saveTaskFlow("incr_full", "io.kestra.plugin.git.backup.BackupInstance", """
                namespacePrefix: incr
                filesDirectory: scripts
                fullExportEvery: PT0S
            %s""".formatted(connection("incremental-full")), "");

        Execution first = run("incr_backup");
        assertEquals(State.Type.SUCCESS, first.getState().getCurrent(), logText(first));
        assertTrue(logText(first).contains("Full export: the branch has no backup manifest"), logText(first));

        flowService.update(GenericFlow.fromYaml("main", logFlow("incr.team", "b", "v2 b")), head("incr.team", "b"));
        Execution second = run("incr_backup");
        assertEquals(State.Type.SUCCESS, second.getState().getCurrent(), logText(second));
        assertTrue(logText(second).contains("Incremental export (last full export ")
            && logText(second).contains("1 of 3 flow(s) and 0 of 2 namespace file(s) downloaded as new or changed"), logText(second));
        assertTrue(logText(second).contains("Exported 1 flow(s) by id, of 1 asked for"), logText(second));
        assertEquals("M\t.kestra-backup/items/flows/incr.team.json\nM\t.kestra-backup/manifest.json\nM\tflows/incr.team/b.yml", git("incremental", "diff", "--name-status", "main~1", "main"));
        assertEquals(flowRepository.findByIdWithSource("main", "incr.team", "b").orElseThrow().getSource(), blob("incremental", "main:flows/incr.team/b.yml"),
            "the bytes Kestra holds");
        assertTrue(blob("incremental", "main:.kestra-backup/items/flows/incr.team.json").contains("\"path\":\"flows/incr.team/b.yml\",\"blob\":\"" + git("incremental", "rev-parse", "main:flows/incr.team/b.yml") + "\",\"namespace\":\"incr.team\",\"name\":\"b\",\"revision\":2,"), "the manifest records Kestra's new revision:\n" + blob("incremental", "main:.kestra-backup/items/flows/incr.team.json"));

        Execution full = run("incr_full");
        assertEquals(State.Type.SUCCESS, full.getState().getCurrent(), logText(full));
        assertTrue(logText(full).contains("Full export: the branch has no backup manifest"), logText(full));
        assertEquals(git("incremental", "ls-tree", "-r", "main", "flows", "scripts"), git("incremental-full", "ls-tree", "-r", "main", "flows", "scripts"),
            "the incremental run's tree is the full export's");
    }

    @Test
    void flowCopiesUnderFlowsInNamespaceFilesAreNeverBackedUpNorRestoredAndAnOldBackupLosesThemInOneCommit() throws Exception {
        String etl = logFlow("bund", "etl", "etl");
        flowService.create(GenericFlow.fromYaml("main", etl));
        kestra.putFile("bund", "/lib/a.py", "a\n");
        kestra.putFile("bund", "/lib/b.py", "b\n");
        saveInstanceTasks("bund", "bundled");
        api.bundleFlows = true;
        try {
            Execution first = run("bund_backup");
            assertEquals(State.Type.SUCCESS, first.getState().getCurrent(), logText(first));
            assertEquals(".kestra-backup/items/flows/bund.json\n.kestra-backup/items/namespaceFiles/bund.json\n.kestra-backup/manifest.json\nflows/bund/etl.yml\nscripts/bund/lib/a.py\nscripts/bund/lib/b.py", git("bundled", "ls-tree", "-r", "--name-only", "main"),
                "the `_flows/etl.yml` the server bundles into the namespace files is not backed up");

            // A backup written by an older release holds the copies: an old one of etl, and 10 more.
            Map<String, String> copies = new TreeMap<>(Map.of("scripts/bund/_flows/etl.yml", logFlow("bund", "etl", "an old copy")));
            for (int i = 0; i < 10; i++) {
                copies.put("scripts/bund/_flows/gone" + i + ".yml", logFlow("bund", "gone" + i, "gone"));
            }
            server.commitFiles("bundled", copies);
            Execution drill = run("bund_drill");
            assertEquals(State.Type.SUCCESS, drill.getState().getCurrent(), "the copies are not drift:\n" + logText(drill));
            assertTrue(logText(drill).contains("Leaving out 11 file(s) under `_flows/`"), logText(drill));

            // Kestra loses the namespace: the restore brings back the backup's flow and files, never a copy.
            String etlStored = flowRepository.findByIdWithSource("main", "bund", "etl").orElseThrow().getSource();
            flowService.delete(flowRepository.findByIdWithSource("main", "bund", "etl").orElseThrow());
            kestra.deleteFile("bund", "/lib/a.py");
            kestra.deleteFile("bund", "/lib/b.py");
            api.uploadedEntries.clear();
            Execution restored = run("bund_restore");
            assertEquals(State.Type.SUCCESS, restored.getState().getCurrent(), logText(restored));
            assertEquals(List.of("lib/a.py", "lib/b.py"), api.uploadedEntries.stream().sorted().toList(), "no `_flows/` entry is ever uploaded");
            assertEquals(List.of("etl"), flowRepository.findByNamespaceWithSource("main", "bund").stream().map(FlowWithSource::getId).toList());
            assertEquals(etlStored.strip(), flowRepository.findByIdWithSource("main", "bund", "etl").orElseThrow().getSource().strip(), "the backup's flow, not the old copy");

            // The next backup removes the 11 copies in one commit, named in the log, and the guard
            // does not count them (11 of 13 files would trip it) ...
            String beforeMigration = git("bundled", "rev-parse", "main");
            Execution migrated = run("bund_backup");
            assertEquals(State.Type.SUCCESS, migrated.getState().getCurrent(), logText(migrated));
            assertTrue(logText(migrated).contains("removing 11 copies of flows under `_flows/`"), logText(migrated));
            assertEquals(beforeMigration, git("bundled", "rev-parse", "main~1"), "one commit");
            // The restore gave the flow a new revision and the files new modification times: both item files record them.
            assertEquals("M\t.kestra-backup/items/flows/bund.json\nM\t.kestra-backup/items/namespaceFiles/bund.json\nM\t.kestra-backup/manifest.json\n" + String.join("\n", copies.keySet().stream().map(p -> "D\t" + p).toList()), git("bundled", "diff", "--name-status", "main~1", "main"));
            // ... and once the server stops bundling, the next backup has nothing to do.
            api.bundleFlows = false;
            String migratedTip = git("bundled", "rev-parse", "main");
            assertEquals(State.Type.SUCCESS, run("bund_backup").getState().getCurrent());
            assertEquals(migratedTip, git("bundled", "rev-parse", "main"), "no commit, no guard trip");
        } finally {
            api.bundleFlows = false;
        }
    }

    @Test
    void aRestoreStaysWithinTheZipLimitsTheOperatorSet() throws Exception {
        for (int i = 0; i < 4; i++) {
            flowService.create(GenericFlow.fromYaml("main", logFlow("zl", "f" + i, "f" + i)));
        }
        for (int i = 0; i < 5; i++) {
            kestra.putFile("zl", "/small/" + i + ".txt", i + "\n");
        }
        byte[] large = new byte[3000];
        for (int i = 0; i < large.length; i++) {
            large[i] = (byte) (i * 7 % 251);
        }
        kestra.putFile("zl", "/z/large.bin", large);
        saveInstanceTasks("zl", "limits");
        assertEquals(State.Type.SUCCESS, run("zl_backup").getState().getCurrent());
        for (FlowWithSource flow : flowRepository.findByNamespaceWithSource("main", "zl")) {
            flowService.delete(flow);
        }
        for (int i = 0; i < 5; i++) {
            kestra.deleteFile("zl", "/small/" + i + ".txt");
        }
        kestra.deleteFile("zl", "/z/large.bin");

        // Kestra's hardening: at most 3 entries per archive and 2048 bytes per entry. The files come in
        // path order: the archive of 6 is refused for its count, its second half for the size of z/large.bin.
        api.zipLimits = new KestraApiStandIn.ZipLimits(3, 2048);
        try {
            Execution restored = run("zl_restore");
            assertEquals(State.Type.SUCCESS, restored.getState().getCurrent(), logText(restored));
            String log = logText(restored);
            assertTrue(log.contains("limits the entries per archive") && log.contains("limits the size of an entry"), "both limits were met:\n" + log);
            assertEquals(4, flowRepository.findByNamespaceWithSource("main", "zl").size());
            assertArrayEquals(large, kestra.readFile("zl", "/z/large.bin"));
            assertEquals("4\n", new String(kestra.readFile("zl", "/small/4.txt"), StandardCharsets.UTF_8));
            Execution drill = run("zl_drill");
            assertEquals(State.Type.SUCCESS, drill.getState().getCurrent(), "everything is back:\n" + logText(drill));
        } finally {
            api.zipLimits = null;
        }
    }

    /** Saves `system.<prefix>_backup`, `_drill` (failOnDrift), `_restore` and `_restore_over` (overwrite) for the namespace tree `prefix` in `repo`. */
    private void saveInstanceTasks(String prefix, String repo) throws Exception {
        String layout = """
                namespacePrefix: %s
                filesDirectory: scripts
            %s""".formatted(prefix, connection(repo));
        saveTaskFlow(prefix + "_backup", "io.kestra.plugin.git.backup.BackupInstance", layout, "");
        saveTaskFlow(prefix + "_drill", "io.kestra.plugin.git.backup.RestoreDrill", layout.replace("    dryRun: false\n", "") + "    failOnDrift: true\n", "");
        saveTaskFlow(prefix + "_restore", "io.kestra.plugin.git.backup.RestoreInstance", layout, "");
        saveTaskFlow(prefix + "_restore_over", "io.kestra.plugin.git.backup.RestoreInstance", layout + "    overwrite: true\n", "");
    }

    /** A flow of one Log task printing `message`. */
    private static String logFlow(String namespace, String id, String message) {
        return """
            id: %s
            namespace: %s
            tasks:
              - id: log
                type: io.kestra.plugin.core.log.Log
                message: "%s"
            """.formatted(id, namespace, message);
    }

    /** The newest revision of a flow, draft or not. */
    private FlowWithSource head(String namespace, String id) {
        List<FlowWithSource> revisions = flowRepository.findRevisions("main", namespace, id, false);
        return revisions.stream().max(java.util.Comparator.comparing(FlowWithSource::getRevision)).orElseThrow();
    }

    @Test
    void aCaGivenToOneTaskIsNotTrustedByTheNext() throws Exception {
        kestra.putFile("trust", "/u.txt", "u\n");
        saveFilesFlow("trusted", "trust", connection("trust"));
        assertEquals(State.Type.SUCCESS, run("trusted").getState().getCurrent());

        kestra.putFile("trust", "/v.txt", "v\n");
        saveFilesFlow("untrusted", "trust", """
                url: %s
                username: "{{ secret('GITLAB_USERNAME') }}"
                password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
            """.formatted(server.httpsUrl("trust")));
        Execution failed = run("untrusted");
        assertEquals(State.Type.FAILED, failed.getState().getCurrent(), "the same worker, no trustedCaPemPath: not trusted");
        String log = logText(failed);
        assertTrue(log.contains("[Tls]") && log.contains("set `trustedCaPemPath`"), "the cause and the fix are named:\n" + log);
        assertEquals("scripts/trust/u.txt", git("trust", "ls-tree", "-r", "--name-only", "main"));
        assertNoSecret(failed, TOKEN);
    }

    @Test
    void sshWithAPassphraseKeyAndAPinnedHostKey() throws Exception {
        kestra.putFile("over_ssh", "/deploy.sh", "#!/bin/sh\n");
        String passphrase = server.get("SSH_PASSPHRASE");
        String key = Files.readString(Path.of(server.get("KEY_ED25519_PASS")));
        String sshConnection = """
                url: ssh://%s@127.0.0.1:%s%s/ssh.git
                passphrase: %s
                hostKeyFingerprint: "%%s"
                privateKey: |
            %s
            """.formatted(server.get("SSH_USER"), server.get("SSH_PORT"), server.get("REPOS"), passphrase, key.strip().indent(6).stripTrailing());
        String realHostKey = server.get("SSH_HOST_FINGERPRINT");
        saveFilesFlow("over_ssh", "over_ssh", sshConnection.formatted(realHostKey));
        Execution pushed = run("over_ssh");
        assertEquals(State.Type.SUCCESS, pushed.getState().getCurrent(), logText(pushed));
        assertEquals("scripts/over_ssh/deploy.sh", git("ssh", "ls-tree", "-r", "--name-only", "main"));
        assertTrue(logText(pushed).lines().anyMatch(("SSH host key " + realHostKey + " matches `hostKeyFingerprint`")::equals),
            "the host key is logged as a fingerprint:\n" + logText(pushed));

        kestra.putFile("over_ssh", "/other.sh", "#!/bin/sh\n");
        saveFilesFlow("over_ssh_wrong_pin", "over_ssh", sshConnection.formatted("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
        Execution refused = run("over_ssh_wrong_pin");
        assertEquals(State.Type.FAILED, refused.getState().getCurrent());
        assertTrue(logText(refused).contains("[Tls]") && logText(refused).contains(realHostKey),
            "a host key that does not match the pin is refused, naming the key seen:\n" + logText(refused));
        assertEquals("scripts/over_ssh/deploy.sh", git("ssh", "ls-tree", "-r", "--name-only", "main"));
        String keyBody = key.lines().skip(1).findFirst().orElseThrow();
        assertNoSecret(pushed, passphrase, keyBody);
        assertNoSecret(refused, passphrase, keyBody);
    }

    @Test
    void deletionGuardFailsTheTaskAndLeavesTheRepository() throws Exception {
        kestra.putFile("guarded", "/a.txt", "a\n");
        kestra.putFile("guarded", "/b.txt", "b\n");
        saveFilesFlow("guarded", "guarded", connection("guarded"));
        assertEquals(State.Type.SUCCESS, run("guarded").getState().getCurrent());
        String before = git("guarded", "rev-parse", "main");

        kestra.deleteFile("guarded", "/a.txt");
        kestra.deleteFile("guarded", "/b.txt");
        Execution refused = run("guarded");
        assertEquals(State.Type.FAILED, refused.getState().getCurrent());
        String log = logText(refused);
        assertTrue(log.contains("allowEmptyExport"), "the error names the property that allows it:\n" + log);
        assertEquals(before, git("guarded", "rev-parse", "main"), "the backup is untouched");
        assertNoSecret(refused, TOKEN);
    }

    @Test
    void aForcePushedBranchFailsTheBackupWithHistoryRewrittenAndTheBackupGoesToARescueBranch() throws Exception {
        saveTaskFlow("custody_backup", "io.kestra.plugin.git.backup.BackupInstance", """
                namespacePrefix: custody
                filesDirectory: scripts
            %s""".formatted(connection("custody")), "");
        flowService.create(GenericFlow.fromYaml("main", logFlow("custody", "etl", "kept")));
        for (int n = 1; n <= 3; n++) {
            kestra.putFile("custody", "/run.sh", "echo " + n + "\n");
            assertEquals(State.Type.SUCCESS, run("custody_backup").getState().getCurrent());
        }
        String first = git("custody", "rev-parse", "main~2");
        String third = git("custody", "rev-parse", "main");
        git("custody", "push", "-q", "--force", server.get("REPOS") + "/custody.git", first + ":refs/heads/main");

        kestra.putFile("custody", "/run.sh", "echo 4\n");
        Execution refused = run("custody_backup");
        assertEquals(State.Type.FAILED, refused.getState().getCurrent());
        String log = logText(refused);
        assertTrue(log.contains("[HistoryRewritten]") && log.contains(third + " (serial 3,") && log.contains("acceptRewrittenHistory: true"), log);
        Matcher rescue = Pattern.compile("the new branch `(main-rescue-\\d{8}-\\d{6})`").matcher(log);
        assertTrue(rescue.find(), "the error names the rescue branch:\n" + log);
        assertEquals(third, git("custody", "rev-parse", rescue.group(1) + "^"), "built on the last intact backup");
        assertEquals("echo 4", git("custody", "show", rescue.group(1) + ":scripts/custody/run.sh"));
        assertEquals(first, git("custody", "rev-parse", "main"), "the rewritten branch is left as it is");
        assertNoSecret(refused, TOKEN);
    }

    @Test
    void aRejectedPushLeavesItsCommitAsABundleInKestraStorage() throws Exception {
        kestra.putFile("protected", "/a.txt", "a\n");
        saveFilesFlow("protected", "protected", connection("protected"));
        Path hook = Path.of(server.get("REPOS"), "protected.git", "hooks", "pre-receive");
        Files.writeString(hook, "#!/bin/sh\necho 'You are not allowed to push code to protected branches' >&2\nexit 1\n");
        assertTrue(hook.toFile().setExecutable(true));
        Execution rejected = run("protected");
        assertEquals(State.Type.FAILED, rejected.getState().getCurrent());
        String log = logText(rejected);
        Matcher saved = Pattern.compile("\\[PushRejected\\] .*not allowed to push.*saved as a Git bundle: (kestra://\\S+)").matcher(log);
        assertTrue(saved.find(), "the error names the bundle in Kestra's storage:\n" + log);

        // The task's working directory is gone; the bundle in storage holds the commit and its file.
        Path bundle = server.scratchFile("unpushed.bundle");
        try (InputStream in = storage.get("main", "system", URI.create(saved.group(1)))) {
            Files.copy(in, bundle, StandardCopyOption.REPLACE_EXISTING);
        }
        git("protected", "fetch", "-q", bundle.toString(), "main:refs/heads/recovered");
        assertEquals("scripts/protected/a.txt", git("protected", "ls-tree", "-r", "--name-only", "recovered"));
        assertEquals("", git("protected", "for-each-ref", "refs/heads/main"), "nothing reached the protected branch");
        assertNoSecret(rejected, TOKEN);
    }

    @Test
    void wrongTokenFailsWithAnAuthenticationErrorThatHidesIt() throws Exception {
        String wrong = "wrong-" + TOKEN.substring(4);
        kestra.putFile("company.team", "/c.txt", "c\n");
        saveFilesFlow("wrong_token", "company.team", """
                url: %s
                username: "{{ secret('GITLAB_USERNAME') }}"
                password: %s
                trustedCaPemPath: %s
            """.formatted(server.httpsUrl("guarded"), wrong, server.get("CA_PEM")));
        Execution failed = run("wrong_token");
        assertEquals(State.Type.FAILED, failed.getState().getCurrent());
        String log = logText(failed);
        // The username came from secret(), so Kestra masks it in the log too.
        assertTrue(log.contains("[Auth] authentication failed") && log.contains("tried HTTP basic as"), "the cause and the method tried are named:\n" + log);
        assertNoSecret(failed, wrong, TOKEN);
    }

    @Test
    void concurrencyFailRejectsASecondExecutionWhileTheFirstRuns() throws Exception {
        kestra.putFile("serial", "/vm.conf", "cores: 2\n");
        flowService.create(GenericFlow.fromYaml("main", """
            id: serial
            namespace: system
            tasks:
              - id: wait
                type: io.kestra.plugin.core.flow.Sleep
                duration: PT3S
              - id: scripts
                type: io.kestra.plugin.git.backup.PushNamespaceFiles
                namespace: serial
                gitDirectory: scripts/serial
            %s
            concurrency:
              limit: 1
              behavior: FAIL
            """.formatted(connection("serial"))));
        Execution running = runnerUtils.runOneUntilRunning("main", "system", "serial");
        Execution second = run("serial");
        assertEquals(State.Type.FAILED, second.getState().getCurrent(), "concurrency FAIL refuses the second execution");
        Execution first = runnerUtils.awaitExecution(e -> e.getState().isTerminated(), running, Duration.ofSeconds(60));
        assertEquals(State.Type.SUCCESS, first.getState().getCurrent(), logText(first));
        assertEquals("Add files from serial namespace", git("serial", "log", "--format=%s", "main"), "one commit, from the first execution");
        assertNoSecret(first, TOKEN);
    }

    @Test
    void pushFlowsFailsWithTheUnreachableApiNamedAndNoSecret() throws Exception {
        flowService.create(GenericFlow.fromYaml("main", """
            id: flows_no_api
            namespace: system
            tasks:
              - id: flows
                type: io.kestra.plugin.git.backup.PushFlows
                sourceNamespace: ansible
                kestraUrl: http://127.0.0.1:9
                auth:
                  username: admin@kestra.io
                  password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
            %s
            """.formatted(connection("backup"))));
        Execution failed = run("flows_no_api");
        assertEquals(State.Type.FAILED, failed.getState().getCurrent());
        String log = logText(failed);
        assertTrue(log.contains("http://127.0.0.1:9"), "the error names the Kestra URL:\n" + log);
        assertNoSecret(failed, TOKEN);
    }

    @Test
    void kestraTwoHasNoFlowLevelPluginDefaults() {
        String source = """
            id: with_defaults
            namespace: system
            tasks:
              - id: scripts
                type: io.kestra.plugin.git.backup.PushNamespaceFiles
                namespace: ansible
            pluginDefaults:
              - type: io.kestra.plugin.git.backup
                values:
                  url: https://example.invalid/backup.git
            """;
        Exception refused = assertThrows(Exception.class, () -> flowParsingService.parse("main", source, true));
        assertTrue(refused.getMessage().contains("Unrecognized field \"pluginDefaults\""), refused.getMessage());
    }

    /**
     * Issue 13, the KV store: entries of every type, with descriptions and TTLs, in several
     * namespaces (one holding only KV), backed up sealed to two age recipients; no change → no
     * commit; one changed value → one file; the KV store emptied → a restore without the identity
     * writes nothing and lists them, with it brings every entry back (type, value, description, TTL
     * within a minute); a wrong identity fails the drill naming the first entry; rotated
     * recipients → one commit re-sealing everything; no value in the pushed objects. Then the
     * kestra-io/kestra#18506 pair (`kvc.team` + `x_y`, `kvc.team_x` + `y`), as observed.
     */
    @Test
    void kvStoreIsBackedUpSealedAndRestoredWithTheIdentity() throws Exception {
        String[] a = ageKey(), b = ageKey(), c = ageKey();
        Instant inTwoHours = Instant.now().plus(Duration.ofHours(2));
        Map<String, Object> values = new LinkedHashMap<>();
        values.put("kvt.app/api_token", "tok-kv-7c1e-secret");
        values.put("kvt.app/limit", 4217);
        values.put("kvt.app/enabled", true);
        values.put("kvt.app/cutover", Instant.parse("2026-11-30T08:15:00Z"));
        values.put("kvt.app/day", java.time.LocalDate.parse("2026-11-30"));
        values.put("kvt.app/wait", Duration.ofMinutes(5));
        values.put("kvt.only/settings", Map.of("region", "eu-west-9", "replicas", List.of(1, 2)));
        for (Map.Entry<String, Object> e : values.entrySet()) {
            String[] nk = e.getKey().split("/");
            Duration ttl = nk[1].equals("api_token") ? Duration.ofHours(2) : null;
            kvStoreService.get("main", nk[0]).put(nk[1], new KVValueAndMetadata(new KVMetadata("about " + nk[1], ttl), e.getValue()));
        }
        Map<String, String> typesBefore = kvTypes(values.keySet());
        flowService.create(GenericFlow.fromYaml("main", logFlow("kvt.app", "reader", "{{ kv('api_token') }}")));
        String layout = """
                namespacePrefix: kvt
                filesDirectory: scripts
            %s""".formatted(connection("kv"));
        String recipients = "    kv:\n      recipients:\n        - %s\n        - %s\n".formatted(a[1], b[1]);
        saveTaskFlow("kv_backup", "io.kestra.plugin.git.backup.BackupInstance", layout + recipients, "");
        saveTaskFlow("kv_rotate", "io.kestra.plugin.git.backup.BackupInstance", layout + "    kv:\n      recipients:\n        - %s\n".formatted(c[1]), "");
        String restoreLayout = layout.replace("    dryRun: false\n", "");
        saveTaskFlow("kv_restore_blind", "io.kestra.plugin.git.backup.RestoreInstance", layout, "");
        saveTaskFlow("kv_restore", "io.kestra.plugin.git.backup.RestoreInstance", layout + "    identity: |\n" + indent(a[0], 6), "");
        saveTaskFlow("kv_drill_wrong", "io.kestra.plugin.git.backup.RestoreDrill", restoreLayout + "    identity: |\n" + indent(c[0], 6), "");
        saveTaskFlow("kv_drill", "io.kestra.plugin.git.backup.RestoreDrill", restoreLayout + "    identity: |\n" + indent(b[0], 6), "");

        Execution first = run("kv_backup");
        assertEquals(State.Type.SUCCESS, first.getState().getCurrent(), logText(first));
        Map<String, Object> kvOut = map(taskOutputs(first).get("kv"));
        assertEquals(7, ((Number) kvOut.get("sealed")).intValue(), kvOut.toString());
        String files = git("kv", "ls-tree", "-r", "--name-only", "main");
        for (String key : values.keySet()) {
            assertTrue(files.contains("kv/" + key + ".json"), key + " in\n" + files);
        }
        Map<String, Object> token = json(blob("kv", "main:kv/kvt.app/api_token.json"));
        assertEquals("STRING", token.get("type"));
        assertEquals("about api_token", token.get("description"));
        assertEquals(List.of(a[1], b[1]).stream().sorted().toList(), token.get("recipients"));
        assertTrue(((String) token.get("sealed")).startsWith("-----BEGIN AGE ENCRYPTED FILE-----"));
        String objects = git("kv", "cat-file", "--batch-all-objects", "--batch");
        for (String value : List.of("tok-kv-7c1e-secret", "4217", "eu-west-9")) {
            assertFalse(objects.contains(value), value + " is in the pushed objects");
        }

        String tip = git("kv", "rev-parse", "main");
        assertEquals(State.Type.SUCCESS, run("kv_backup").getState().getCurrent());
        assertEquals(tip, git("kv", "rev-parse", "main"), "no change in Kestra, no commit");
        kvStoreService.get("main", "kvt.app").put("limit", new KVValueAndMetadata(new KVMetadata("about limit", (Duration) null), 5000));
        values.put("kvt.app/limit", 5000);
        assertEquals(State.Type.SUCCESS, run("kv_backup").getState().getCurrent());
        assertEquals(".kestra-backup/items/kv/kvt.app.json\n.kestra-backup/manifest.json\nkv/kvt.app/limit.json", git("kv", "show", "--name-only", "--format=", "main"), "one changed value, one file (and the manifest: its header and that namespace's item file)");

        for (String key : values.keySet()) {
            String[] nk = key.split("/");
            kvStoreService.get("main", nk[0]).delete(nk[1]);
        }
        Execution blind = run("kv_restore_blind");
        assertEquals(State.Type.SUCCESS, blind.getState().getCurrent(), logText(blind));
        assertEquals(7, ((Number) map(taskOutputs(blind).get("kv")).get("needIdentity")).intValue());
        String plan = stored(taskOutputs(blind).get("plan"));
        assertTrue(plan.contains("\"kind\":\"kv\"") && plan.contains("set `restore.identity`"), plan);
        assertFalse(plan.contains("AGE ENCRYPTED"), plan);
        assertTrue(kvStoreService.get("main", "kvt.app").list().isEmpty(), "nothing written without the identity");

        Execution restored = run("kv_restore");
        assertEquals(State.Type.SUCCESS, restored.getState().getCurrent(), logText(restored));
        assertEquals(7, ((Number) map(taskOutputs(restored).get("kv")).get("restored")).intValue());
        assertEquals(typesBefore, kvTypes(values.keySet()), "every entry comes back with the type it had");
        for (Map.Entry<String, Object> e : values.entrySet()) {
            String[] nk = e.getKey().split("/");
            KVStore store = kvStoreService.get("main", nk[0]);
            Object back = store.getValue(nk[1]).orElseThrow().value();
            var mapper = JacksonMapper.ofJson();
            assertEquals(mapper.readTree(mapper.writeValueAsString(e.getValue())), mapper.readTree(mapper.writeValueAsString(back)), e.getKey());
            assertEquals("about " + nk[1], store.get(nk[1]).orElseThrow().description(), e.getKey());
        }
        Instant expiry = kvStoreService.get("main", "kvt.app").get("api_token").orElseThrow().expirationDate();
        assertTrue(Duration.between(inTwoHours, expiry).abs().toSeconds() < 60, "TTL within a minute: " + expiry + " vs " + inTwoHours);

        Execution wrong = run("kv_drill_wrong");
        assertEquals(State.Type.FAILED, wrong.getState().getCurrent());
        assertTrue(logText(wrong).contains("KV entry `kv/kvt.app/api_token.json`: `identity` matches none"), logText(wrong));
        Execution drill = run("kv_drill");
        assertEquals(State.Type.SUCCESS, drill.getState().getCurrent(), logText(drill));
        assertEquals(7, ((Number) map(taskOutputs(drill).get("kv")).get("unsealed")).intValue());

        Execution rotate = run("kv_rotate");
        assertEquals(State.Type.SUCCESS, rotate.getState().getCurrent(), logText(rotate));
        assertEquals(7, git("kv", "show", "--name-only", "--format=", "main", "--", "kv").lines().count(), "rotation: one commit re-sealing every value");
        for (Execution e : List.of(first, blind, restored, wrong, drill, rotate)) {
            assertNoSecret(e, TOKEN, a[0].strip(), b[0].strip(), c[0].strip(), "tok-kv-7c1e-secret");
        }

        // kestra-io/kestra#18506: two keys whose namespace + key join the same way.
        kvStoreService.get("main", "kvc.team").put("x_y", new KVValueAndMetadata(new KVMetadata(null, (Duration) null), "first"));
        kvStoreService.get("main", "kvc.team_x").put("y", new KVValueAndMetadata(new KVMetadata(null, (Duration) null), "second"));
        // Pinned as observed on 2.0.0 (docs/kv-store.md): both values stay readable by key, but the
        // second write replaces the first one's metadata row, so the listing (and a backup) sees one.
        assertEquals(Optional.of("first"), kvStoreService.get("main", "kvc.team").getValue("x_y").map(KVValue::value));
        assertEquals(Optional.of("second"), kvStoreService.get("main", "kvc.team_x").getValue("y").map(KVValue::value));
        assertEquals(List.of("kvc.team_x/y"),
            kvStoreService.list(Pageable.UNPAGED, "main", null).stream().filter(e -> e.namespace().startsWith("kvc")).map(e -> e.namespace() + "/" + e.key()).toList(),
            "kestra-io/kestra#18506 behaves otherwise now: update docs/kv-store.md");
    }

    /** `namespace/key` → Kestra's type of the value it holds now. */
    private Map<String, String> kvTypes(java.util.Collection<String> keys) throws Exception {
        Map<String, String> types = new TreeMap<>();
        for (String key : keys) {
            String[] nk = key.split("/");
            types.put(key, KVType.from(kvStoreService.get("main", nk[0]).getValue(nk[1]).orElseThrow().value()).name());
        }
        return types;
    }

    /** An age key pair from `age-keygen`: the identity file's text and the public key. */
    private static String[] ageKey() throws Exception {
        Path file = server.scratchFile("age");
        Files.delete(file);
        TestGitServer.run(Map.of(), List.of("age-keygen", "-o", file.toString()));
        return new String[] {Files.readString(file), TestGitServer.run(Map.of(), List.of("age-keygen", "-y", file.toString())).trim()};
    }

    private static String indent(String text, int spaces) {
        return text.strip().lines().map(l -> " ".repeat(spaces) + l + "\n").collect(Collectors.joining());
    }

    /** docs/migration.md, Kestra 2.0: the connection in flow `variables` (url, branch, username), the password from `secret()`. */
    @Test
    void kestraTwoKeepsTheConnectionInFlowVariables() throws Exception {
        flowService.create(GenericFlow.fromYaml("main", """
            id: etl
            namespace: in_vars
            tasks:
              - id: hello
                type: io.kestra.plugin.core.log.Log
                message: hello
            """));
        kestra.putFile("in_vars", "/sql/report.sql", "select 1;\n");
        flowService.create(GenericFlow.fromYaml("main", """
            id: git_push_vars
            namespace: system
            variables:
              git_url: %s
              git_branch: main
              git_username: %s
              git_ca: %s
            tasks:
              - id: flows_in_vars
                type: io.kestra.plugin.git.backup.PushFlows
                sourceNamespace: in_vars
                gitDirectory: flows/in_vars
                url: "{{ vars.git_url }}"
                branch: "{{ vars.git_branch }}"
                username: "{{ vars.git_username }}"
                password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
                trustedCaPemPath: "{{ vars.git_ca }}"
              - id: scripts_in_vars
                type: io.kestra.plugin.git.backup.PushNamespaceFiles
                namespace: in_vars
                gitDirectory: scripts/in_vars
                url: "{{ vars.git_url }}"
                branch: "{{ vars.git_branch }}"
                username: "{{ vars.git_username }}"
                password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
                trustedCaPemPath: "{{ vars.git_ca }}"
            """.formatted(server.httpsUrl("variables"), USER, server.get("CA_PEM"))));
        Execution pushed = run("git_push_vars");
        assertEquals(State.Type.SUCCESS, pushed.getState().getCurrent(), logText(pushed));
        assertEquals("flows/in_vars/etl.yml\nscripts/in_vars/sql/report.sql", git("variables", "ls-tree", "-r", "--name-only", "main"),
            "both tasks pushed to the URL and branch of the variables, authenticated as their username");
        assertEquals(2, git("variables", "log", "--format=%s", "main").lines().count(), "one commit per task");
        assertNoSecret(pushed, TOKEN);
    }

    /**
     * YAML anchors do not carry a connection in Kestra 2.0 (docs/migration.md): its YAML reader (Jackson) keeps a merge key
     * `<<` as a property, which strict validation refuses, and reads an alias `*name` as the text `name`, not the anchored value.
     */
    @Test
    void kestraTwoReadsYamlAnchorsNeitherAsMergeKeysNorAsAliases() throws Exception {
        String merge = """
            id: anchors_merge
            namespace: system
            tasks:
              - id: scripts_a
                type: io.kestra.plugin.git.backup.PushNamespaceFiles
                namespace: a
                <<: &git
                  url: https://gitlab-01.local/backup/kestra
                  branch: main
              - id: scripts_b
                type: io.kestra.plugin.git.backup.PushNamespaceFiles
                namespace: b
                <<: *git
            """;
        String refused = flowService.validate("main", List.of(new FlowSource("merge.yml", merge))).get(0).getConstraints();
        assertNotNull(refused, "a merge key is refused");
        assertTrue(refused.contains("Unrecognized field \"<<\""), refused);

        String alias = """
            id: anchors_alias
            namespace: system
            tasks:
              - id: scripts_a
                type: io.kestra.plugin.git.backup.PushNamespaceFiles
                namespace: a
                url: &git_url https://gitlab-01.local/backup/kestra
              - id: scripts_b
                type: io.kestra.plugin.git.backup.PushNamespaceFiles
                namespace: b
                url: *git_url
            """;
        assertNull(flowService.validate("main", List.of(new FlowSource("alias.yml", alias))).get(0).getConstraints(), "an alias passes validation");
        List<Task> tasks = flowParsingService.parse("main", alias, true).getTasks();
        assertTrue(JacksonMapper.ofJson().writeValueAsString(tasks.get(0)).contains("https://gitlab-01.local/backup/kestra"));
        String second = JacksonMapper.ofJson().writeValueAsString(tasks.get(1));
        assertTrue(second.contains("\"git_url\"") && !second.contains("gitlab-01.local"), "the alias is read as the anchor's name: " + second);
    }

    /** docs/migration.md: Kestra 2.0's `Loop` under the seed flow's `concurrency: {limit: 1, behavior: FAIL}`. */
    @Test
    void kestraTwoLoopUnderAFlowConcurrencyLimit() throws Exception {
        flowService.create(GenericFlow.fromYaml("main", """
            id: loop_limited
            namespace: system
            tasks:
              - id: each
                type: io.kestra.plugin.core.flow.Loop
                concurrencyLimit: 1
                values: [ansible, outputs]
                tasks:
                  - id: say
                    type: io.kestra.plugin.core.log.Log
                    message: "namespace {{ item.value }}"
            concurrency:
              limit: 1
              behavior: FAIL
            """));
        Execution looped = run("loop_limited");
        StringBuilder log = new StringBuilder(logText(looped));
        for (Execution iteration : executionRepository.findLoopSubExecutions("main", looped.getId(), "each")) {
            log.append("\n[iteration ").append(iteration.getState().getCurrent()).append("] ").append(logText(iteration));
        }
        assertEquals(State.Type.FAILED, looped.getState().getCurrent(), log.toString());
        assertTrue(log.toString().toLowerCase().contains("concurrency limit"), log.toString());
    }

    /** Saves `system.<id>`: one PushNamespaceFiles task of `namespace` into `scripts/<namespace>`, with these connection lines. */
    private void saveFilesFlow(String id, String namespace, String connectionLines) throws Exception {
        saveTaskFlow(id, "io.kestra.plugin.git.backup.PushNamespaceFiles", """
                namespace: %s
                gitDirectory: scripts/%s
            %s""".formatted(namespace, namespace, connectionLines), "");
    }

    /** Saves `system.<id>`: one task `task` of `type` with these property lines; then a Log task printing `outputsLine`, if given. */
    /**
     * Issue 13, trigger state: a schedule switched off the way Kestra's UI and `Toggle` task do it
     * (a `SetDisableTrigger` event to the scheduler, which keeps the flag in the trigger's state,
     * not in the flow) is recorded by BackupInstance; switched back on, the drill reports it, a
     * restore with `includeTriggerState: false` leaves it on, and RestoreInstance switches it off
     * again. The runtime's scheduler is on, so it creates the trigger states of a flow with
     * Schedule triggers as Kestra does (from the `TriggerCreated` events FlowService sends).
     */
    @Test
    void aScheduleSwitchedOffStaysOffThroughBackupAndRestore() throws Exception {
        flowService.create(GenericFlow.fromYaml("main", """
            id: nightly
            namespace: trig
            tasks:
              - id: log
                type: io.kestra.plugin.core.log.Log
                message: hi
            triggers:
              - id: schedule
                type: io.kestra.plugin.core.trigger.Schedule
                cron: 0 3 1 1 *
              - id: other
                type: io.kestra.plugin.core.trigger.Schedule
                cron: 0 4 1 1 *
            """));
        TriggerId schedule = TriggerId.of("main", "trig", "nightly", "schedule");
        awaitDisabled(schedule, false);
        awaitDisabled(TriggerId.of("main", "trig", "nightly", "other"), false);
        setDisabled(schedule, true);
        String layout = """
                namespacePrefix: trig
            %s""".formatted(connection("triggers"));
        saveTaskFlow("trig_backup", "io.kestra.plugin.git.backup.BackupInstance", layout, "");
        String drillLayout = layout.replace("    dryRun: false\n", "");
        saveTaskFlow("trig_drill", "io.kestra.plugin.git.backup.RestoreDrill", drillLayout, "triggerDrift={{ outputs.task.triggerDrift }}");
        saveTaskFlow("trig_restore", "io.kestra.plugin.git.backup.RestoreInstance", layout, "triggersSet={{ outputs.task.triggersSet }}");
        saveTaskFlow("trig_leave", "io.kestra.plugin.git.backup.RestoreInstance", layout + "    includeTriggerState: false\n",
            "triggersSet={{ outputs.task.triggersSet }}");

        Execution backedUp = run("trig_backup");
        assertEquals(State.Type.SUCCESS, backedUp.getState().getCurrent(), logText(backedUp));
        assertEquals(Map.of("namespace", "trig", "flowId", "nightly", "triggers", Map.of("schedule", Map.of("disabled", true), "other", Map.of("disabled", false))),
            JacksonMapper.ofJson().readValue(blob("triggers", "main:triggers/trig/nightly.json"), Map.class));
        String commit = git("triggers", "rev-parse", "main");
        assertEquals(State.Type.SUCCESS, run("trig_backup").getState().getCurrent());
        assertEquals(commit, git("triggers", "rev-parse", "main"), "no change, no commit");

        setDisabled(schedule, false);
        Execution drill = run("trig_drill");
        assertEquals(State.Type.SUCCESS, drill.getState().getCurrent(), logText(drill));
        Matcher drift = Pattern.compile("triggerDrift=(\\[.*])").matcher(logText(drill));
        assertTrue(drift.find(), logText(drill));
        assertEquals(List.of(Map.of("trigger", "trig/nightly/schedule", "backup", "disabled", "kestra", "enabled")),
            JacksonMapper.ofJson().readValue(drift.group(1), List.class), logText(drill));
        Await.until(() -> metricValue(drill, "restore.triggers_differing").isPresent(), Duration.ofMillis(200), Duration.ofSeconds(30));
        assertEquals(1.0, metricValue(drill, "restore.triggers_differing").orElseThrow(), "the drill's metric");

        Execution left = run("trig_leave");
        assertEquals(State.Type.SUCCESS, left.getState().getCurrent(), logText(left));
        assertTrue(logText(left).contains("triggersSet=0"), logText(left));
        assertFalse(triggerRepository.findById(schedule).orElseThrow().isDisabled(), "`includeTriggerState: false` leaves Kestra's state alone");

        Execution restored = run("trig_restore");
        assertEquals(State.Type.SUCCESS, restored.getState().getCurrent(), logText(restored));
        assertTrue(logText(restored).contains("triggersSet=1"), logText(restored));
        assertTrue(triggerRepository.findById(schedule).orElseThrow().isDisabled(), "off again: Kestra answered once its scheduler applied it");
        assertFalse(triggerRepository.findById(TriggerId.of("main", "trig", "nightly", "other")).orElseThrow().isDisabled());
        Execution clean = run("trig_drill");
        assertTrue(logText(clean).contains("triggerDrift=[]"), logText(clean));
        for (Execution e : List.of(backedUp, drill, left, restored)) {
            assertNoSecret(e, TOKEN, KestraApiStandIn.PASSWORD);
        }
    }

    /** Switches a trigger on or off as Kestra's `Toggle` task does, and waits for the scheduler to apply it. */
    private void setDisabled(TriggerId trigger, boolean disabled) throws Exception {
        triggerEventQueue.send(new SetDisableTrigger(trigger, disabled));
        awaitDisabled(trigger, disabled);
    }

    private void awaitDisabled(TriggerId trigger, boolean disabled) throws Exception {
        Await.until(() -> "trigger " + trigger.uid() + " not " + (disabled ? "disabled" : "enabled") + ": " + triggerRepository.findById(trigger),
            () -> triggerRepository.findById(trigger).map(t -> t.isDisabled() == disabled).orElse(false),
            Duration.ofMillis(100), Duration.ofSeconds(30));
    }

    /**
     * Issue 14, verification: two signed backups; the drill with the signing key's public half
     * verifies the chain and says so in its outputs; an unsigned commit pushed by hand is named by
     * the drill and a restore of it is refused; a backup from another instance is refused, and
     * restored with `allowOtherInstance`; a commit whose manifest and flow name a type Kestra has
     * not installed makes the drill name the type.
     */
    @Test
    void theDrillVerifiesTheHistoryAndARestoreRefusesAnUnsignedCommit() throws Exception {
        String alpha = """
            id: alpha
            namespace: ver
            tasks:
              - id: log
                type: io.kestra.plugin.core.log.Log
                message: "one"
            """;
        flowService.create(GenericFlow.fromYaml("main", alpha));
        String publicKey = Files.readString(Path.of(server.get("KEY_ED25519") + ".pub")).strip();
        String layout = """
                namespacePrefix: ver
            %s""".formatted(connection("verify"));
        saveTaskFlow("ver_backup", "io.kestra.plugin.git.backup.BackupInstance", layout + """
                signingKey: |
            %s
            """.formatted(Files.readString(Path.of(server.get("KEY_ED25519"))).strip().indent(6).stripTrailing()), "");
        String drillLayout = layout.replace("    dryRun: false\n", "");
        saveTaskFlow("ver_drill", "io.kestra.plugin.git.backup.RestoreDrill", drillLayout + "    verifyKeys:\n      - \"" + publicKey + "\"\n",
            "chain={{ outputs.task.verification.chainLength }} serials={{ outputs.task.verification.firstSerial }}-{{ outputs.task.verification.lastSerial }}"
                + " checked={{ outputs.task.verification.signaturesChecked }} unsigned={{ outputs.task.verification.unsigned | length }}"
                + " missing={{ outputs.task.verification.missingPlugins | length }} older={{ outputs.task.verification.unverifiableCommits }}"
                + " backup={{ outputs.task.backup.serial }}");
        saveTaskFlow("ver_drill_unsigned", "io.kestra.plugin.git.backup.RestoreDrill", drillLayout, "");
        saveTaskFlow("ver_restore", "io.kestra.plugin.git.backup.RestoreInstance", layout + "    overwrite: true\n    verifyKeys:\n      - \"" + publicKey + "\"\n", "");

        assertEquals(State.Type.SUCCESS, run("ver_backup").getState().getCurrent());
        flowService.importFlow("main", alpha.replace("\"one\"", "\"two\""));
        Execution second = run("ver_backup");
        assertEquals(State.Type.SUCCESS, second.getState().getCurrent(), logText(second));
        String backup2 = git("verify", "rev-parse", "main");

        Execution clean = run("ver_drill");
        assertEquals(State.Type.SUCCESS, clean.getState().getCurrent(), logText(clean));
        assertTrue(logText(clean).contains("chain=2 serials=1-2 checked=2 unsigned=0 missing=0 older=0 backup=2"), logText(clean));

        // An unsigned commit pushed by hand: the drill names it, a restore of it is refused.
        server.commitFile("verify", "flows/ver/alpha.yml", alpha.replace("\"one\"", "\"by hand\""));
        String byHand = git("verify", "rev-parse", "main");
        Execution named = run("ver_drill");
        assertEquals(State.Type.FAILED, named.getState().getCurrent());
        assertTrue(logText(named).contains("[InvalidBackup]") && logText(named).contains("commit " + byHand) && logText(named).contains("is not signed by a verify key: unsigned"), logText(named));
        Execution refused = run("ver_restore");
        assertEquals(State.Type.FAILED, refused.getState().getCurrent());
        assertTrue(logText(refused).contains("commit " + byHand + " is unsigned") && logText(refused).contains("allowUnsigned"), logText(refused));
        assertTrue(flowRepository.findByIdWithSource("main", "ver", "alpha").orElseThrow().getSource().contains("\"two\""), "nothing restored");

        // A backup taken from another instance (its manifest names another instance id): refused, then restored with `allowOtherInstance`.
        Map<String, Object> manifest = json(git("verify", "show", backup2 + ":.kestra-backup/manifest.json"));
        String ours = (String) map(manifest.get("instance")).get("id");
        assertNotNull(ours, "the backup recorded this Kestra's instance id: " + manifest);
        manifest.put("serial", 3);
        manifest.put("previous", Map.of("commit", backup2, "serial", 2, "date", git("verify", "log", "-1", "--format=%cI", backup2)));
        manifest.put("instance", Map.of("id", "another-instance-0000", "url", "http://old-kestra:8080"));
        server.commitFiles("verify", Map.of(
            ".kestra-backup/manifest.json", JacksonMapper.ofJson().writerWithDefaultPrettyPrinter().writeValueAsString(manifest),
            "flows/ver/alpha.yml", blob("verify", backup2 + ":flows/ver/alpha.yml")));
        String other = git("verify", "rev-parse", "main");
        saveTaskFlow("ver_restore_other", "io.kestra.plugin.git.backup.RestoreInstance", layout, "serial={{ outputs.task.backup.serial }} from={{ outputs.task.backup.instanceId }}");
        saveTaskFlow("ver_restore_allowed", "io.kestra.plugin.git.backup.RestoreInstance", layout + "    allowOtherInstance: true\n", "restoredFlows={{ outputs.task.restoredFlows }}");
        flowService.delete(flowRepository.findByIdWithSource("main", "ver", "alpha").orElseThrow());
        Execution otherRefused = run("ver_restore_other");
        assertEquals(State.Type.FAILED, otherRefused.getState().getCurrent());
        assertTrue(logText(otherRefused).contains("comes from Kestra instance another-instance-0000 (http://old-kestra:8080), not from this one (" + ours + ")"), logText(otherRefused));
        assertTrue(flowRepository.findByIdWithSource("main", "ver", "alpha").isEmpty(), "nothing restored");
        Execution otherAllowed = run("ver_restore_allowed");
        assertEquals(State.Type.SUCCESS, otherAllowed.getState().getCurrent(), logText(otherAllowed));
        assertTrue(logText(otherAllowed).contains("restoredFlows=1"), logText(otherAllowed));
        assertTrue(flowRepository.findByIdWithSource("main", "ver", "alpha").isPresent());

        // A commit whose manifest and flow name a type Kestra has not installed.
        manifest.put("serial", 4);
        manifest.put("previous", Map.of("commit", other, "serial", 3, "date", git("verify", "log", "-1", "--format=%cI", other)));
        manifest.put("plugins", List.of(Map.of("type", "io.kestra.plugin.core.log.Log", "flows", 1), Map.of("type", "io.kestra.plugin.gone.Task", "flows", 1)));
        server.commitFiles("verify", Map.of(
            ".kestra-backup/manifest.json", JacksonMapper.ofJson().writerWithDefaultPrettyPrinter().writeValueAsString(manifest),
            "flows/ver/gone.yml", "id: gone\nnamespace: ver\ntasks:\n  - id: t\n    type: io.kestra.plugin.gone.Task\n"));
        Execution missing = run("ver_drill_unsigned");
        assertEquals(State.Type.FAILED, missing.getState().getCurrent());
        assertTrue(logText(missing).contains("plugin type `io.kestra.plugin.gone.Task` (used by 1 flow(s)) is not installed in this Kestra"), logText(missing));
        assertFalse(logText(missing).contains("`io.kestra.plugin.core.log.Log`"), "an installed type is not named:\n" + logText(missing));
        for (Execution e : List.of(clean, named, refused, otherRefused, otherAllowed, missing)) {
            assertNoSecret(e, TOKEN, KestraApiStandIn.PASSWORD);
        }
    }

    private void saveTaskFlow(String id, String type, String propertyLines, String outputsLine) throws Exception {
        String log = outputsLine.isEmpty() ? "" : """
              - id: outputs
                type: io.kestra.plugin.core.log.Log
                message: "%s"
            """.formatted(outputsLine);
        flowService.create(GenericFlow.fromYaml("main", """
            id: %s
            namespace: system
            tasks:
              - id: task
                type: %s
            %s
            %s""".formatted(id, type, propertyLines.stripTrailing(), log)));
    }

    private Execution run(String flowId) throws Exception {
        return runnerUtils.runOne("main", "system", flowId, Duration.ofSeconds(120));
    }

    private static String connection(String repo) {
        return ExampleInstance.connection(server, repo);
    }

    /** The secrets of the test reach neither the execution's logs nor the execution (outputs included). */
    private void assertNoSecret(Execution execution, String... secrets) throws InterruptedException {
        String everything = logText(execution) + "\n" + execution;
        for (String secret : secrets) {
            assertFalse(everything.contains(secret), "a secret reached execution " + execution.getId());
        }
    }

    /** The execution's whole log, once Kestra has indexed it. */
    private String logText(Execution execution) throws InterruptedException {
        return SettledLog.read(() -> logs.findByExecutionId("main", execution.getId(), Level.TRACE)).stream()
            .map(LogEntry::getMessage).collect(Collectors.joining("\n"));
    }

    private static String git(String repo, String... args) throws Exception {
        return server.git(repo, args);
    }

    /** A blob's exact text (no trimming). */
    private static String blob(String repo, String object) throws Exception {
        Process p = new ProcessBuilder("git", "-C", server.get("REPOS") + "/" + repo + ".git", "cat-file", "blob", object).start();
        String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(0, p.waitFor(), "no blob " + object);
        return text;
    }

    private static String hex(String repo, String object) throws Exception {
        return TestGitServer.run(Map.of(), List.of("bash", "-c",
            "git -C \"$0\" cat-file blob \"$1\" | od -An -tx1 | tr -d ' \\n'", server.get("REPOS") + "/" + repo + ".git", object)).trim();
    }
}
