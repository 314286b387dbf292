package io.kestra.plugin.git.backup;

import io.kestra.plugin.git.backup.internal.CoreClient;
import io.kestra.plugin.git.backup.internal.CoreReport;
import io.kestra.plugin.git.backup.internal.IonFile;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/** The core's envelope → report, errors → BackupException, report → plugin-git's diff file and the drift file. */
class CoreReportMappingTest {
    private static final String REPORT = """
        {"report":{"commitId":"0123456789abcdef0123456789abcdef01234567","commitUrl":"https://git.local/a/b/commit/0123",
          "dryRun":false,"branchCreated":false,"bytesPushed":1234,"pushAttempts":1,
          "sources":[{"gitDirectory":"flows/ansible","exported":3,"added":1,"modified":1,"deleted":1,"unchanged":1,"ignored":0}],
          "diff":[{"file":"flows/ansible/z.yml","additions":0,"deletions":10,"changes":0},
                  {"file":"flows/ansible/a \\"q\\".yml","additions":12,"deletions":0,"changes":3}],
          "timingsMs":{"fetch":1,"export":2,"snapshot":3,"commit":4,"push":5,"total":15},"futureField":true}}""";

    @Test
    void reportFieldsAreRead() {
        CoreReport r = CoreClient.parse(REPORT);
        assertEquals("0123456789abcdef0123456789abcdef01234567", r.commitId);
        assertEquals("https://git.local/a/b/commit/0123", r.commitUrl);
        assertEquals(1234, r.bytesPushed);
        assertEquals(3, r.exported());
        assertEquals(2, r.diff.size());
        assertEquals(15, r.timingsMs.total);
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
}
