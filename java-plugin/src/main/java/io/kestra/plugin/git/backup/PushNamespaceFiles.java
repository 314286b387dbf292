package io.kestra.plugin.git.backup;

import io.kestra.core.exceptions.IllegalVariableEvaluationException;
import io.kestra.core.models.annotations.Example;
import io.kestra.core.models.annotations.Plugin;
import io.kestra.core.models.annotations.PluginProperty;
import io.kestra.core.models.property.Property;
import io.kestra.core.models.tasks.RunnableTask;
import io.kestra.core.runners.RunContext;
import io.kestra.core.storages.Namespace;
import io.kestra.core.storages.NamespaceFile;
import io.kestra.core.utils.PathMatcherPredicate;
import io.kestra.plugin.git.backup.internal.CoreReport;
import io.swagger.v3.oas.annotations.media.Schema;
import lombok.*;
import lombok.experimental.SuperBuilder;

import java.io.InputStream;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

@SuperBuilder(toBuilder = true)
@ToString
@EqualsAndHashCode(callSuper = true)
@Getter
@NoArgsConstructor
@Schema(
    title = "Back up namespace files to Git (drop-in for io.kestra.plugin.git.PushNamespaceFiles).",
    description = "Reads a namespace's files from Kestra's namespace storage on the worker (no API credentials needed) into "
        + "`gitDirectory` (default `_files`) and pushes one commit; no commit when nothing changed. Same properties, defaults "
        + "and outputs as plugin-git's PushNamespaceFiles, plus a deletion guard, a branch cache and push retries that never force."
)
@Plugin(
    examples = {
        @Example(
            title = "Push the scripts of the `dev` namespace every 15 minutes (dry run first).",
            full = true,
            code = """
                id: push_scripts
                namespace: system
                tasks:
                  - id: scripts
                    type: io.kestra.plugin.git.backup.PushNamespaceFiles
                    namespace: dev
                    files: "**/*.py"
                    gitDirectory: scripts/dev
                    url: https://gitlab-01.local/backup/kestra
                    username: "{{ secret('GITLAB_USERNAME') }}"
                    password: "{{ secret('GITLAB_ACCESS_TOKEN') }}"
                    trustedCaPemPath: /etc/kestra/gitlab-ca.pem
                    dryRun: true
                triggers:
                  - id: every_15_minutes
                    type: io.kestra.plugin.core.trigger.Schedule
                    cron: "*/15 * * * *"
                concurrency:
                  limit: 1
                  behavior: FAIL
                """
        )
    }
)
public class PushNamespaceFiles extends AbstractNamespaceBackupTask implements RunnableTask<PushNamespaceFiles.Output> {
    @Schema(title = "Namespace whose files are exported", description = "Defaults to the namespace of the flow running the task.")
    @Builder.Default
    @PluginProperty(group = "source")
    private Property<String> namespace = Property.ofExpression("{{ flow.namespace }}");

    @Schema(title = "Files to push: a glob, a list of globs, or a JSON array string", description = "Matched like Kestra's namespace file globs; default: all files.")
    @PluginProperty(dynamic = true, group = "deprecated")
    private Object files;

    @Schema(title = "Fail when no file matches")
    @Builder.Default
    @PluginProperty(group = "reliability")
    private Property<Boolean> errorOnMissing = Property.ofValue(false);

    @Schema(title = "Repository directory of the files")
    @Builder.Default
    @PluginProperty(group = "destination")
    private Property<String> gitDirectory = Property.ofValue("_files");

    @Schema(title = "Only export this folder of the namespace (its prefix is removed in Git)")
    @Builder.Default
    @PluginProperty(group = "source")
    private Property<String> namespaceDirectory = Property.ofValue("/");

    @Override
    public Output run(RunContext runContext) throws Exception {
        CoreReport report = backup(runContext);
        return Output.builder()
            .commitId(report.commitId)
            .commitURL(report.commitUrl)
            .tag(report.tagName())
            .backupSerial(report.backupSerial())
            .files(diffFile(runContext, report))
            .build();
    }

    @Override
    protected String renderedNamespace(RunContext runContext) throws IllegalVariableEvaluationException {
        return runContext.render(namespace).as(String.class).orElse(null);
    }

    @Override
    protected String defaultCommitMessage(String namespace) {
        return "Add files from " + namespace + " namespace";
    }

    @Override
    protected boolean needsKestraApi() {
        return false;
    }

    /** Reads the selected files from the worker's namespace storage into temp files for the core. */
    @Override
    protected List<Map<String, Object>> sources(RunContext runContext, String namespace) throws Exception {
        List<String> globs = renderGlobs(runContext, files);
        String folder = runContext.render(namespaceDirectory).as(String.class).orElse("/").replaceAll("^/+|/+$", "");
        Namespace storage = runContext.storage().namespace(namespace);
        List<NamespaceFile> found = storage.findAllFilesMatching(globs.isEmpty() ? path -> true : PathMatcherPredicate.matches(globs));

        Path dir = Files.createTempDirectory(runContext.workingDir().path(), "namespace-files");
        List<Map<String, Object>> provided = new ArrayList<>();
        for (NamespaceFile file : found) {
            String path = file.path().replaceAll("^/+", "");
            if (!folder.isEmpty()) {
                if (!path.startsWith(folder + "/")) {
                    continue;
                }
                path = path.substring(folder.length() + 1);
            }
            Path local = dir.resolve("f" + provided.size());
            try (InputStream in = storage.getFileContent(Path.of(file.path()))) {
                Files.copy(in, local, StandardCopyOption.REPLACE_EXISTING);
            }
            provided.add(Map.of("path", path, "localPath", local.toString()));
        }
        if (provided.isEmpty() && runContext.render(errorOnMissing).as(Boolean.class).orElse(false)) {
            throw new BackupException(BackupException.Code.InvalidConfig, "No Namespace Files matched the provided 'files' parameter to commit.", null);
        }
        Map<String, Object> source = new LinkedHashMap<>();
        source.put("kind", "namespaceFiles");
        source.put("namespaces", Map.of("one", Map.of("namespace", namespace)));
        source.put("gitDirectory", runContext.render(gitDirectory).as(String.class).orElse("_files"));
        source.put("globs", globs);
        source.put("providedFiles", provided);
        return List.of(source);
    }

    @SuperBuilder
    @Getter
    public static class Output extends AbstractBackupTask.Output {
        @Schema(
            title = "Diff file: one ION row per changed file",
            description = "A row: `{changes:\"3\",file:\"scripts/ansible/lib/util.py\",deletions:\"-5\",additions:\"+10\"}`"
        )
        private final URI files;
    }
}
