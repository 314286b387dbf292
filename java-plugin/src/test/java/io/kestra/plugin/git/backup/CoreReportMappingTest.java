package io.kestra.plugin.git.backup;

import io.kestra.core.context.TestRunContextFactory;
import io.kestra.core.junit.annotations.KestraTest;
import io.kestra.core.models.executions.metrics.Gauge;
import io.kestra.core.models.tasks.Task;
import io.kestra.core.runners.RunContext;
import io.kestra.core.serializers.JacksonMapper;
import io.kestra.core.storages.StorageInterface;
import io.kestra.core.tenant.TenantService;
import io.kestra.plugin.git.backup.internal.CoreClient;
import io.kestra.plugin.git.backup.internal.CoreReport;
import io.kestra.plugin.git.backup.internal.IonFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import jakarta.inject.Inject;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.time.temporal.ChronoUnit;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The core's envelope → report, errors → BackupException, report → plugin-git's diff file, the
 * drift file, and the restore tasks' outputs and metric in a Kestra run context.
 */
@KestraTest
class CoreReportMappingTest {
    @Inject
    TestRunContextFactory runContextFactory;
    @Inject
    StorageInterface storage;

    private static final String REPORT = """
        {"report":{"commitId":"0123456789abcdef0123456789abcdef01234567","commitUrl":"https://git.local/a/b/commit/0123",
          "dryRun":false,"branchCreated":false,"bytesPushed":1234,"pushAttempts":1,
          "sources":[{"gitDirectory":"flows/ansible","exported":3,"added":1,"modified":1,"deleted":1,"unchanged":1,"ignored":0}],
          "diff":[{"file":"flows/ansible/z.yml","additions":0,"deletions":10,"changes":0},
                  {"file":"flows/ansible/a \\"q\\".yml","additions":12,"deletions":0,"changes":3}],
          "timingsMs":{"fetch":1,"export":2,"snapshot":3,"commit":4,"push":5,"total":15},
          "manifest":{"serial":7,"previousCommit":"89abcdef0123456789abcdef0123456789abcdef","previousSerial":6},"futureField":true}}""";

    @Test
    void reportFieldsAreRead() {
        CoreReport r = CoreClient.parse(REPORT);
        assertEquals("0123456789abcdef0123456789abcdef01234567", r.commitId);
        assertEquals("https://git.local/a/b/commit/0123", r.commitUrl);
        assertEquals(1234, r.bytesPushed);
        assertEquals(3, r.exported());
        assertEquals(2, r.diff.size());
        assertEquals(15, r.timingsMs.total);
        assertEquals(7L, r.backupSerial(), "the `backupSerial` output");
        assertEquals("89abcdef0123456789abcdef0123456789abcdef", r.manifest.previousCommit);
        assertNull(CoreClient.parse("{\"report\":{\"commitId\":null}}").backupSerial(), "no commit, no serial");
    }

    @Test
    void errorsBecomeOneExceptionWithTheCode() {
        BackupException e = assertThrows(BackupException.class, () -> CoreClient.parse(
            "{\"error\":{\"code\":\"PushRejected\",\"message\":\"the remote rejected the push; the commit abc is saved as a Git bundle\","
                + "\"localCommit\":\"abc\",\"unpushedBundle\":\"/work/kestra-backup-abc.bundle\"}}"));
        assertEquals(BackupException.Code.PushRejected, e.getCode());
        assertEquals("abc", e.getLocalCommit());
        assertEquals("/work/kestra-backup-abc.bundle", e.getUnpushedBundle());
        assertTrue(e.getMessage().contains("the remote rejected the push"));
        BackupException kept = e.bundleKeptAt("kestra:///ns/flow/executions/e/kestra-backup-abc.bundle");
        assertEquals("[PushRejected] the remote rejected the push; the commit abc is saved as a Git bundle: kestra:///ns/flow/executions/e/kestra-backup-abc.bundle", kept.getMessage());
        assertEquals("abc", kept.getLocalCommit());

        BackupException unknown = assertThrows(BackupException.class, () -> CoreClient.parse("{\"error\":{\"code\":\"Whatever\",\"message\":\"m\"}}"));
        assertEquals(BackupException.Code.Internal, unknown.getCode());
        assertEquals(BackupException.Code.Internal, assertThrows(BackupException.class, () -> CoreClient.parse("not json")).getCode());
    }

    @Test
    void diffFileUsesPluginGitRowsSortedByFile(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("diff.ion");
        IonFile.diff(CoreClient.parse(REPORT).diff, file);
        assertEquals(List.of(
            "{changes:\"3\",file:\"flows/ansible/a \\\"q\\\".yml\",deletions:\"-0\",additions:\"+12\"}",
            "{changes:\"0\",file:\"flows/ansible/z.yml\",deletions:\"-10\",additions:\"+0\"}"
        ), Files.readAllLines(file));

        IonFile.diff(List.of(), file);
        assertEquals(0, Files.size(file));
    }

    @Test
    void driftFileRowsSortedByFile(@TempDir Path dir) throws Exception {
        CoreReport r = CoreClient.parse("""
            {"report":{"restore":{"inSync":3,"missingInKestra":1,"differing":1,"onlyInKestra":0,"flowsValidated":4,
              "restoredFlows":0,"restoredFiles":0,"drift":[{"file":"scripts/b/x.py","state":"differing"},{"file":"flows/a/y.yml","state":"missingInKestra"}]}}}""");
        assertEquals(1, r.restore.missingInKestra);
        Path file = dir.resolve("drift.ion");
        IonFile.drift(r.restore.drift, file);
        assertEquals(List.of("{file:\"flows/a/y.yml\",state:\"missingInKestra\"}", "{file:\"scripts/b/x.py\",state:\"differing\"}"), Files.readAllLines(file));
    }

    @Test
    void theTagNameIsReadForTheOutput() {
        CoreReport tagged = CoreClient.parse("{\"report\":{\"tag\":{\"name\":\"backup-2026-12-01\",\"commit\":\"0123\",\"created\":false}}}");
        assertEquals("backup-2026-12-01", tagged.tagName());
        assertEquals("0123", tagged.tag.commit);
        assertFalse(tagged.tag.created);
        assertNull(CoreClient.parse(REPORT).tagName());
    }

    private static final String RESTORE_REPORT = """
        {"report":{"restore":{"inSync":1,"missingInKestra":2,"differing":1,"onlyInKestra":1,"flowsValidated":3,"restoredFlows":0,"restoredFiles":0,
          "drift":[],
          "restoredFrom":{"commit":"1111111111111111111111111111111111111111","date":"2026-11-20T18:00:00Z","message":"Backup of the Kestra instance"},
          "latestBackup":{"commit":"2222222222222222222222222222222222222222","date":"%s","message":"Nightly"},
          "plan":{"create":2,"replace":1,"unchanged":1,"skip":1},
          "dependencies":[{"flow":"company/child","requiredBy":"company/parent"}],
          "triggerDrift":[{"trigger":"company/etl/nightly","backup":"disabled","kestra":"enabled"}],"triggersSet":0}}}""";

    @Test
    void restoreReportBecomesTheOutputsAndTheAgeMetric() throws Exception {
        Instant latest = Instant.now().minusSeconds(7200).truncatedTo(ChronoUnit.SECONDS);
        CoreReport report = CoreClient.parse(RESTORE_REPORT.formatted(latest));

        RestoreDrill drill = (RestoreDrill) JacksonMapper.ofYaml().readValue("""
            id: drill
            type: io.kestra.plugin.git.backup.RestoreDrill
            url: /srv/git/backup.git
            auth: {apiToken: t}
            """, Task.class);
        RunContext runContext = runContextFactory.of("system", Map.of());
        // The core writes the plan where the request says; the task moves it to internal storage.
        @SuppressWarnings("unchecked")
        Path planFile = Path.of((String) ((Map<String, Object>) drill.request(runContext).get("restore")).get("planFile"));
        String rows = "{\"file\":\"flows/company/child.yml\",\"kind\":\"flow\",\"namespace\":\"company\",\"path\":\"child\",\"action\":\"create\",\"requiredBy\":\"company/parent\"}\n";
        Files.writeString(planFile, rows);

        RestoreDrill.Output output = drill.outputs(runContext, report.restore);
        assertEquals("1111111111111111111111111111111111111111", output.getRestoredFrom().getCommit());
        assertEquals(Instant.parse("2026-11-20T18:00:00Z"), output.getRestoredFrom().getDate());
        assertEquals("Backup of the Kestra instance", output.getRestoredFrom().getMessage());
        assertEquals("2222222222222222222222222222222222222222", output.getLatestBackup().getCommit());
        assertEquals(latest, output.getLatestBackup().getDate());
        assertEquals(List.of(2L, 1L, 1L, 1L), List.of(output.getPlanCounts().getCreate(), output.getPlanCounts().getReplace(),
            output.getPlanCounts().getUnchanged(), output.getPlanCounts().getSkip()));
        assertEquals(1, output.getDependencies().size());
        assertEquals("company/child", output.getDependencies().getFirst().getFlow());
        assertEquals("company/parent", output.getDependencies().getFirst().getRequiredBy());
        assertEquals(2, output.getMissingInKestra());
        assertEquals(List.of("company/etl/nightly disabled enabled"),
            output.getTriggerDrift().stream().map(t -> t.getTrigger() + " " + t.getBackup() + " " + t.getKestra()).toList());
        try (InputStream in = storage.get(TenantService.MAIN_TENANT, "system", output.getPlan())) {
            assertEquals(rows, new String(in.readAllBytes(), StandardCharsets.UTF_8), "the plan file, as the core wrote it");
        }

        Gauge age = (Gauge) runContext.metrics().stream().filter(m -> m.getName().equals("backup.age.seconds")).findFirst().orElseThrow();
        assertTrue(age.getValue() >= 7200 && age.getValue() < 7200 + 60, "now minus the tip's committer date: " + age.getValue());

        // Outputs serialise the way Kestra stores them: the date as RFC 3339 text (Kestra writes microseconds).
        Map<String, Object> stored = JacksonMapper.toMap(output);
        assertEquals(latest, Instant.parse((String) ((Map<?, ?>) stored.get("latestBackup")).get("date")));
    }
}
