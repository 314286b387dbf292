package io.kestra.plugin.git.backup;

import io.kestra.core.context.TestRunContextFactory;
import io.kestra.core.junit.annotations.KestraTest;
import io.kestra.core.models.tasks.Task;
import io.kestra.core.serializers.JacksonMapper;
import jakarta.inject.Inject;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.time.OffsetDateTime;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * Task YAML, read by Kestra's own mapper as in a flow, rendered in a Kestra run context, gives
 * the core's request: plugin-git's defaults, expressions, secrets from `secret()` (the build sets
 * SECRET_GITLAB_*), glob forms, and errors that name the property.
 */
@KestraTest
class RequestRenderingTest {
    static final String TOKEN = System.getenv("E2E_GIT_TOKEN");

    @Inject
    TestRunContextFactory runContextFactory;

    private Map<String, Object> request(String taskYaml) throws Exception {
        Task task = JacksonMapper.ofYaml().readValue(taskYaml, Task.class);
        var runContext = runContextFactory.of("system", Map.of("inputs", Map.of("repo", "backup")));
        return task instanceof AbstractRestoreTask restore ? restore.request(runContext) : ((AbstractBackupTask) task).request(runContext);
    }

    @SuppressWarnings("unchecked")
    private static Map<String, Object> map(Object value) {
        return (Map<String, Object>) value;
    }

    @Test
    void pushFlowsDefaultsExpressionsAndSecrets() throws Exception {
        Map<String, Object> request = request("""
            id: flows
            type: io.kestra.plugin.git.backup.PushFlows
            url: "https://gitlab-01.local/me/{{ inputs.repo }}"
            username: "{{ secret('GITLAB_USERNAME') }}"
            password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
            auth:
              username: admin@kestra.io
              password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
            """);
        Map<String, Object> git = map(request.get("git"));
        assertEquals("https://gitlab-01.local/me/backup", git.get("url"));
        assertEquals("kestra-ci", git.get("username"));
        assertEquals(TOKEN, git.get("password"));
        assertEquals("main", git.get("branch"));
        assertEquals("Add flows from system namespace", git.get("commitMessage"));
        assertEquals(10000, git.get("connectTimeoutMs"));
        assertEquals(60000, git.get("readTimeoutMs"));
        assertEquals(40, git.get("maxPushAttempts"));
        assertEquals(false, git.get("acceptRewrittenHistory"));
        assertFalse(git.containsKey("authorName"), "unset: the core applies plugin-git's identity fallback");

        Map<String, Object> kestra = map(request.get("kestra"));
        assertEquals("http://localhost:8080", kestra.get("url"));
        assertEquals("main", kestra.get("tenant"));
        assertEquals(Map.of("basic", Map.of("username", "admin@kestra.io", "password", TOKEN)), kestra.get("auth"));

        Map<String, Object> source = map(((List<?>) request.get("sources")).getFirst());
        assertEquals("flows", source.get("kind"));
        assertEquals(Map.of("one", Map.of("namespace", "system", "includeChildren", false)), source.get("namespaces"));
        assertEquals("_flows", source.get("gitDirectory"));
        assertEquals(List.of(), source.get("globs"));
        assertEquals(true, request.get("delete"));
        assertEquals(false, request.get("dryRun"));
        assertEquals(Map.of("allowEmptyExport", false, "maxDeletionRatio", 0.5, "allowNamespaceRemoval", false), request.get("guard"));
        assertEquals(false, request.get("manifest"), "PushFlows keeps plugin-git's tree unless asked");
    }

    @Test
    void everyPropertyReachesTheRequest() throws Exception {
        Map<String, Object> request = request("""
            id: flows
            type: io.kestra.plugin.git.backup.PushFlows
            url: git@gitlab-01.local:me/backup.git
            privateKey: "-----BEGIN OPENSSH PRIVATE KEY-----"
            passphrase: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
            hostKeyFingerprint: SHA256:abc
            signingKey: "-----BEGIN OPENSSH PRIVATE KEY----- signing"
            signingKeyPassphrase: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
            branch: "{{ 'nightly' }}"
            sourceNamespace: ansible
            targetNamespace: prod.ansible
            includeChildNamespaces: true
            gitDirectory: "{{ 'flows/' ~ 'ansible' }}"
            flows: '["etl_*", "report"]'
            commitMessage: Nightly
            authorName: Backup Bot
            authorEmail: bot@example.com
            dryRun: true
            delete: false
            cacheDirectory: /var/cache/kestra-backup
            allowEmptyExport: true
            maxDeletionRatio: 0.1
            allowNamespaceRemoval: true
            manifest: "{{ true }}"
            maxPushAttempts: 2
            acceptRewrittenHistory: true
            kestraUrl: "http://kestra:8080/"
            auth:
              apiToken: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
            mirrors:
              - url: "https://mirror.example.com/{{ inputs.repo }}.git"
                username: mirror-bot
                password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
                branch: backup
              - url: git@second.example.com:b.git
                privateKey: "-----BEGIN OPENSSH PRIVATE KEY----- mirror"
                hostKeyFingerprint: SHA256:def
            """);
        Map<String, Object> git = map(request.get("git"));
        assertEquals("-----BEGIN OPENSSH PRIVATE KEY-----", git.get("privateKey"));
        assertEquals(TOKEN, git.get("passphrase"));
        assertEquals("SHA256:abc", git.get("hostKeyFingerprint"));
        assertEquals("-----BEGIN OPENSSH PRIVATE KEY----- signing", git.get("signingKey"));
        assertEquals(TOKEN, git.get("signingKeyPassphrase"));
        assertEquals("nightly", git.get("branch"));
        assertEquals("Nightly", git.get("commitMessage"));
        assertEquals("Backup Bot", git.get("authorName"));
        assertEquals("bot@example.com", git.get("authorEmail"));
        assertEquals("/var/cache/kestra-backup", git.get("cacheDir"));
        assertEquals(2, git.get("maxPushAttempts"));
        assertEquals(true, git.get("acceptRewrittenHistory"));
        assertEquals(List.of(
            Map.of("url", "https://mirror.example.com/backup.git", "branch", "backup", "username", "mirror-bot", "password", TOKEN),
            Map.of("url", "git@second.example.com:b.git", "privateKey", "-----BEGIN OPENSSH PRIVATE KEY----- mirror", "hostKeyFingerprint", "SHA256:def")
        ), git.get("mirrors"));
        Map<String, Object> kestra = map(request.get("kestra"));
        assertEquals("http://kestra:8080", kestra.get("url"));
        assertEquals(Map.of("bearer", Map.of("token", TOKEN)), kestra.get("auth"));
        Map<String, Object> source = map(((List<?>) request.get("sources")).getFirst());
        assertEquals(Map.of("one", Map.of("namespace", "ansible", "includeChildren", true)), source.get("namespaces"));
        assertEquals("flows/ansible", source.get("gitDirectory"));
        assertEquals(List.of("etl_*", "report"), source.get("globs"));
        assertEquals("prod.ansible", source.get("targetNamespace"));
        assertEquals(true, request.get("dryRun"));
        assertEquals(false, request.get("delete"));
        assertEquals(Map.of("allowEmptyExport", true, "maxDeletionRatio", 0.1, "allowNamespaceRemoval", true), request.get("guard"));
        assertEquals(true, request.get("manifest"));
    }

    @Test
    void tagRendersIntoGitTagOnEveryBackupTask() throws Exception {
        Map<String, Object> instance = request("""
            id: backup
            type: io.kestra.plugin.git.backup.BackupInstance
            url: /srv/git/backup.git
            auth: {apiToken: t}
            tag: "backup-{{ now() | date('yyyy-MM-dd') }}"
            """);
        assertTrue(String.valueOf(map(instance.get("git")).get("tag")).matches("backup-\\d{4}-\\d{2}-\\d{2}"), instance.toString());
        Map<String, Object> files = request("""
            id: files
            type: io.kestra.plugin.git.backup.PushNamespaceFiles
            url: /srv/git/backup.git
            tag: "nightly-{{ inputs.repo }}"
            """);
        assertEquals("nightly-backup", map(files.get("git")).get("tag"));
        Map<String, Object> untagged = request("""
            id: flows
            type: io.kestra.plugin.git.backup.PushFlows
            url: /srv/git/backup.git
            auth: {apiToken: t}
            """);
        assertFalse(map(untagged.get("git")).containsKey("tag"), "unset: no tag");
    }

    @Test
    void globsAcceptAListOrOneGlob() throws Exception {
        String task = """
            id: flows
            type: io.kestra.plugin.git.backup.PushFlows
            url: /srv/git/backup.git
            auth: {apiToken: t}
            flows: %s
            """;
        assertEquals(List.of("a*", "b"), map(((List<?>) request(task.formatted("[\"a*\", \"b\"]")).get("sources")).getFirst()).get("globs"));
        assertEquals(List.of("etl_*"), map(((List<?>) request(task.formatted("etl_*")).get("sources")).getFirst()).get("globs"));
    }

    @Test
    void badConfigurationNamesThePropertyAndTheFix() {
        // Lines after `type: PushFlows` → what the InvalidConfig message must say.
        Map<String, String> cases = Map.of(
            "auth: {apiToken: t}", "`url`",
            "url: /srv/git/backup.git\nauth: {apiToken: t, username: u, password: p}", "either `apiToken` or `username`/`password`",
            "url: /srv/git/backup.git\nauth: {username: u}", "both `username` and `password`",
            "url: /srv/git/backup.git", "kestra.tasks.sdk.authentication",
            "url: /srv/git/backup.git\nauth: {apiToken: t}\nflows: '[\"unclosed'", "not a JSON array",
            "url: /srv/git/backup.git\nauth: {apiToken: t}\nmirrors: [{branch: b}]", "`mirrors[0].url`"
        );
        cases.forEach((lines, expected) -> {
            BackupException e = assertThrows(BackupException.class,
                () -> request("id: flows\ntype: io.kestra.plugin.git.backup.PushFlows\n" + lines + "\n"), lines);
            assertEquals(BackupException.Code.InvalidConfig, e.getCode(), lines);
            assertTrue(e.getMessage().contains(expected), lines + " → " + e.getMessage());
        });
    }

    @Test
    void pushNamespaceFilesNeedsNoKestraApi() throws Exception {
        Map<String, Object> request = request("""
            id: files
            type: io.kestra.plugin.git.backup.PushNamespaceFiles
            url: /srv/git/backup.git
            namespace: "{{ flow.namespace }}"
            """);
        assertFalse(request.containsKey("kestra"));
        Map<String, Object> source = map(((List<?>) request.get("sources")).getFirst());
        assertEquals("namespaceFiles", source.get("kind"));
        assertEquals("_files", source.get("gitDirectory"));
        assertEquals(List.of(), source.get("providedFiles"));
        assertEquals("Add files from system namespace", map(request.get("git")).get("commitMessage"));
    }

    @Test
    void backupInstanceDiscoversNamespacesIntoTwoDirectories() throws Exception {
        Map<String, Object> request = request("""
            id: backup
            type: io.kestra.plugin.git.backup.BackupInstance
            url: /srv/git/backup.git
            auth: {apiToken: t}
            """);
        assertEquals(List.of(
            Map.of("kind", "flows", "namespaces", Map.of("discover", Map.of("prefix", "")), "gitDirectory", "flows"),
            Map.of("kind", "namespaceFiles", "namespaces", Map.of("discover", Map.of("prefix", "")), "gitDirectory", "files")
        ), request.get("sources"));
        assertEquals("Backup of the Kestra instance", map(request.get("git")).get("commitMessage"));
        assertEquals(Map.of("bearer", Map.of("token", "t")), map(request.get("kestra")).get("auth"));

        Map<String, Object> flowsOnly = request("""
            id: backup
            type: io.kestra.plugin.git.backup.BackupInstance
            url: /srv/git/backup.git
            auth: {apiToken: t}
            namespacePrefix: " company "
            flowsDirectory: "{{ 'backup/flows' }}"
            includeNamespaceFiles: false
            """);
        assertEquals(List.of(Map.of("kind", "flows", "namespaces", Map.of("discover", Map.of("prefix", "company")), "gitDirectory", "backup/flows")),
            flowsOnly.get("sources"));
    }

    @Test
    void restoreTasksReadTheInstanceLayoutWithTheirOptions() throws Exception {
        Map<String, Object> restore = request("""
            id: restore
            type: io.kestra.plugin.git.backup.RestoreInstance
            url: /srv/git/backup.git
            auth: {apiToken: t}
            namespacePrefix: company
            filesDirectory: scripts
            overwrite: true
            """);
        assertEquals("restore", restore.get("job"));
        Map<String, Object> options = map(restore.get("restore"));
        assertEquals(true, options.get("overwrite"));
        assertFalse(options.containsKey("ref"), "unset: the core reads the branch tip");
        assertEquals(List.of(), options.get("flows"));
        assertEquals(List.of(), options.get("files"));
        assertEquals(false, options.get("withDependencies"));
        assertEquals(false, restore.get("dryRun"));
        assertEquals(List.of(
            Map.of("kind", "flows", "namespaces", Map.of("discover", Map.of("prefix", "company")), "gitDirectory", "flows"),
            Map.of("kind", "namespaceFiles", "namespaces", Map.of("discover", Map.of("prefix", "company")), "gitDirectory", "scripts")
        ), restore.get("sources"));
        assertFalse(map(restore.get("git")).containsKey("commitMessage"), "a restore never commits");

        Map<String, Object> drill = request("""
            id: drill
            type: io.kestra.plugin.git.backup.RestoreDrill
            url: /srv/git/backup.git
            auth: {apiToken: t}
            """);
        assertEquals("drill", drill.get("job"));

        Map<String, Object> oneNamespace = request("""
            id: restore
            type: io.kestra.plugin.git.backup.RestoreInstance
            url: /srv/git/backup.git
            auth: {apiToken: t}
            namespace: company
            includeChildNamespaces: true
            flowsDirectory: _flows
            filesDirectory: _files
            """);
        assertEquals(List.of(
            Map.of("kind", "flows", "namespaces", Map.of("one", Map.of("namespace", "company", "includeChildren", true)), "gitDirectory", "_flows"),
            Map.of("kind", "namespaceFiles", "namespaces", Map.of("one", Map.of("namespace", "company")), "gitDirectory", "_files")
        ), oneNamespace.get("sources"));
        BackupException both = assertThrows(BackupException.class, () -> request("""
            id: restore
            type: io.kestra.plugin.git.backup.RestoreDrill
            url: /srv/git/backup.git
            auth: {apiToken: t}
            namespace: company
            namespacePrefix: company
            """));
        assertTrue(both.getMessage().contains("`namespace` and `namespacePrefix`"), both.getMessage());
        assertEquals(false, map(drill.get("restore")).get("failOnDrift"));
        assertFalse(drill.containsKey("dryRun"), "a drill writes nothing anyway");
        assertEquals(true, map(drill.get("restore")).get("failOnUnverified"), "a history that does not verify fails the drill by default");
        assertFalse(map(drill.get("restore")).containsKey("verifyDepth"), "unset: the whole history");
        assertEquals(List.of(), map(drill.get("restore")).get("verifyKeys"));
        assertEquals(false, options.get("allowUnsigned"));
        assertEquals(false, options.get("allowOtherInstance"));

        Map<String, Object> verified = map(request("""
            id: drill
            type: io.kestra.plugin.git.backup.RestoreDrill
            url: /srv/git/backup.git
            auth: {apiToken: t}
            verifyKeys:
              - "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOd backup@example.com"
            verifyDepth: "{{ 10 * 3 }}"
            failOnUnverified: false
            """).get("restore"));
        assertEquals(List.of("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOd backup@example.com"), verified.get("verifyKeys"));
        assertEquals(30, verified.get("verifyDepth"));
        assertEquals(false, verified.get("failOnUnverified"));
        Map<String, Object> guarded = map(request("""
            id: restore
            type: io.kestra.plugin.git.backup.RestoreInstance
            url: /srv/git/backup.git
            auth: {apiToken: t}
            allowUnsigned: true
            allowOtherInstance: true
            """).get("restore"));
        assertEquals(true, guarded.get("allowUnsigned"));
        assertEquals(true, guarded.get("allowOtherInstance"));
    }

    @Test
    void kvSettingsAndTheIdentityReachTheRequest() throws Exception {
        Map<String, Object> plain = request("""
            id: backup
            type: io.kestra.plugin.git.backup.BackupInstance
            url: /srv/git/backup.git
            auth: {apiToken: t}
            """);
        assertFalse(plain.containsKey("kv"), "no `kv`: the KV store is not backed up");

        Map<String, Object> sealed = request("""
            id: backup
            type: io.kestra.plugin.git.backup.BackupInstance
            url: /srv/git/backup.git
            auth: {apiToken: t}
            namespacePrefix: company
            kv:
              recipients:
                - age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p
                - "{{ 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG' }}"
            """);
        assertEquals(Map.of("gitDirectory", "kv", "namespacePrefix", "company", "plaintext", false, "recipients",
            List.of("age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIG")), sealed.get("kv"));

        Map<String, Object> restore = request("""
            id: restore
            type: io.kestra.plugin.git.backup.RestoreInstance
            url: /srv/git/backup.git
            auth: {apiToken: t}
            identity: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
            kv:
              gitDirectory: backup/kv
            """);
        assertEquals(TOKEN, map(restore.get("restore")).get("identity"), "the identity comes through secret()");
        assertEquals("backup/kv", map(restore.get("kv")).get("gitDirectory"));
        Map<String, Object> drill = request("""
            id: drill
            type: io.kestra.plugin.git.backup.RestoreDrill
            url: /srv/git/backup.git
            auth: {apiToken: t}
            """);
        assertEquals("kv", map(drill.get("kv")).get("gitDirectory"), "restore tasks read `kv/` by default");
        assertFalse(map(drill.get("restore")).containsKey("identity"));
    }

    @Test
    void triggerStateIsOnByDefaultForTheInstanceLayoutOnly() throws Exception {
        String connection = """
            url: /srv/git/backup.git
            auth: {apiToken: t}
            """;
        Map<String, Object> on = Map.of("gitDirectory", "triggers");
        for (String type : List.of("BackupInstance", "RestoreInstance", "RestoreDrill")) {
            String task = "id: t\ntype: io.kestra.plugin.git.backup." + type + "\n" + connection;
            assertEquals(on, request(task).get("triggerState"), type);
            assertEquals(Map.of("gitDirectory", "state/triggers"), request(task + "triggersDirectory: \"{{ 'state/triggers' }}\"\n").get("triggerState"), type);
            assertFalse(request(task + "includeTriggerState: false\n").containsKey("triggerState"), type + ": the switch leaves trigger state alone");
        }
        assertFalse(request("id: t\ntype: io.kestra.plugin.git.backup.RestoreInstance\nnamespace: company\n" + connection).containsKey("triggerState"),
            "a one-namespace (PushFlows) layout has no trigger state");
        assertFalse(request("""
            id: push
            type: io.kestra.plugin.git.backup.PushFlows
            url: /srv/git/backup.git
            auth: {apiToken: t}
            sourceNamespace: company
            """).containsKey("triggerState"), "PushFlows keeps plugin-git's layout");
    }

    @Test
    void restoreSelectionRefAndPlanFile() throws Exception {
        Map<String, Object> options = map(request("""
            id: restore
            type: io.kestra.plugin.git.backup.RestoreInstance
            url: /srv/git/backup.git
            auth: {apiToken: t}
            ref: "{{ now() | dateAdd(-1, 'DAYS') }}"
            flows:
              - "company.team/etl_*"
              - "{{ 'company' }}/{{ inputs.repo }}"
            files: ["company/scripts/**"]
            withDependencies: true
            """).get("restore"));
        // What Kestra 2.0 renders for the documented expression is one of the forms the core accepts:
        // RFC 3339 with fractional seconds and `Z` or an offset (the JVM's zone).
        String ref = (String) options.get("ref");
        assertTrue(ref.matches("\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{6}(Z|[+-]\\d{2}:\\d{2})"), ref);
        Duration ago = Duration.between(OffsetDateTime.parse(ref).toInstant(), Instant.now());
        assertTrue(ago.compareTo(Duration.ofHours(23)) > 0 && ago.compareTo(Duration.ofHours(25)) < 0, ref);
        assertEquals(List.of("company.team/etl_*", "company/backup"), options.get("flows"));
        assertEquals(List.of("company/scripts/**"), options.get("files"));
        assertEquals(true, options.get("withDependencies"));
        Path plan = Path.of((String) options.get("planFile"));
        assertTrue(plan.isAbsolute() && plan.getFileName().toString().equals("restore-plan.ion"), plan.toString());

        String drill = """
            id: drill
            type: io.kestra.plugin.git.backup.RestoreDrill
            url: /srv/git/backup.git
            auth: {apiToken: t}
            ref: "%s"
            """;
        Map<String, Object> tagged = map(request(drill.formatted("  backup-2026-11-20 ")).get("restore"));
        assertEquals("backup-2026-11-20", tagged.get("ref"));
        assertTrue(tagged.containsKey("planFile"), "a drill writes its plan too");
        assertFalse(map(request(drill.formatted("{{ '' }}")).get("restore")).containsKey("ref"), "a blank ref is the tip");
    }
}
