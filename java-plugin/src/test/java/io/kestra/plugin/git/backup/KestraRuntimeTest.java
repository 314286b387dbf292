package io.kestra.plugin.git.backup;

import io.kestra.core.docs.JsonSchemaGenerator;
import io.kestra.core.junit.annotations.KestraTest;
import io.kestra.core.models.annotations.Example;
import io.kestra.core.models.annotations.Plugin;
import io.kestra.core.models.executions.Execution;
import io.kestra.core.models.executions.LogEntry;
import io.kestra.core.models.flows.FlowWithSource;
import io.kestra.core.models.flows.GenericFlow;
import io.kestra.core.models.flows.State;
import io.kestra.core.models.tasks.Task;
import io.kestra.core.plugins.PluginRegistry;
import io.kestra.core.repositories.FlowRepositoryInterface;
import io.kestra.core.repositories.LogDataStoreInterface;
import io.kestra.core.repositories.TriggerRepositoryInterface;
import io.kestra.core.runners.TestRunnerUtils;
import io.kestra.core.services.FlowParsingService;
import io.kestra.core.services.FlowService;
import io.kestra.core.storages.NamespaceFactory;
import io.kestra.core.storages.StorageInterface;
import io.kestra.core.utils.Await;
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
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;

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
    LogDataStoreInterface logs;
    @Inject
    StorageInterface storage;
    @Inject
    NamespaceFactory namespaceFactory;
    @Inject
    PluginRegistry pluginRegistry;
    @Inject
    JsonSchemaGenerator jsonSchemaGenerator;

    private static TestGitServer server;
    private static KestraApiStandIn api;
    private static volatile KestraApiStandIn.Backing backing;

    @BeforeAll
    static void startServers() throws Exception {
        assertNotNull(TOKEN, "run through `gradle kestraRuntimeTest` (it sets the secrets)");
        server = new TestGitServer(Map.of("GIT_SERVER_USER", USER, "GIT_SERVER_TOKEN", TOKEN), "backup", "guarded", "serial", "trust", "instance", "instance-mirror", "ssh", "restore", "protected");
        api = KestraApiStandIn.start(() -> backing);
    }

    private ExampleInstance kestra;

    @BeforeEach
    void shareTheFlowRepository() {
        backing = new KestraApiStandIn.Backing(flowRepository, flowService, namespaceFactory, storage);
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
                message: "commit={{ outputs.backup.commitId ?? 'none' }} url={{ outputs.backup.commitURL ?? 'none' }} tag={{ outputs.backup.tag ?? 'none' }} diff={{ read(outputs.backup.diff) }}"
            concurrency:
              limit: 1
              behavior: FAIL
            """.formatted(server.httpsUrl("instance-mirror"), server.get("CA_PEM"),
            Files.readString(Path.of(server.get("KEY_ED25519"))).strip().indent(6).stripTrailing(), connection("instance"))));

        Execution first = run("instance_backup");
        assertEquals(State.Type.SUCCESS, first.getState().getCurrent(), logText(first));
        assertEquals("""
            flows/inst.team.crm/sync.yml
            flows/inst.team/etl.yml
            scripts/inst.team/run.sh
            scripts/inst/shared/lib.py""", git("instance", "ls-tree", "-r", "--name-only", "main"),
            "every namespace under `inst` (a parent holding only files included, the sibling `instx` not), nothing else");
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
        assertEquals("D\tflows/inst.team.crm/sync.yml\nM\tscripts/inst/shared/lib.py", git("instance", "diff", "--name-status", "main~1", "main"));
        assertEquals(git("instance", "rev-parse", "main^{tree}"), git("instance-mirror", "rev-parse", "main^{tree}"));
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

    /** Saves `system.<id>`: one PushNamespaceFiles task of `namespace` into `scripts/<namespace>`, with these connection lines. */
    private void saveFilesFlow(String id, String namespace, String connectionLines) throws Exception {
        saveTaskFlow(id, "io.kestra.plugin.git.backup.PushNamespaceFiles", """
                namespace: %s
                gitDirectory: scripts/%s
            %s""".formatted(namespace, namespace, connectionLines), "");
    }

    /** Saves `system.<id>`: one task `task` of `type` with these property lines; then a Log task printing `outputsLine`, if given. */
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
