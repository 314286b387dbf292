package io.kestra.plugin.git.backup;

import io.kestra.core.exceptions.IllegalVariableEvaluationException;
import io.kestra.core.models.annotations.PluginProperty;
import io.kestra.core.models.executions.metrics.Counter;
import io.kestra.core.models.executions.metrics.Timer;
import io.kestra.core.models.property.Property;
import io.kestra.core.runners.RunContext;
import io.kestra.plugin.git.backup.internal.CoreClient;
import io.kestra.plugin.git.backup.internal.CoreReport;
import io.kestra.plugin.git.backup.internal.IonFile;
import io.kestra.plugin.git.backup.internal.TaskTimings;
import io.swagger.v3.oas.annotations.media.Schema;
import lombok.*;
import lombok.experimental.SuperBuilder;
import lombok.extern.jackson.Jacksonized;

import java.io.File;
import java.io.IOException;
import java.net.URI;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Properties and run logic shared by the backup tasks: plugin-git's push properties (same names,
 * types, defaults) beyond the connection, plus our safety extras. Java renders, builds the core's
 * request, makes one native call and maps the report; the work happens in the native core.
 */
@SuperBuilder(toBuilder = true)
@ToString
@EqualsAndHashCode(callSuper = true)
@Getter
@NoArgsConstructor
public abstract class AbstractBackupTask extends AbstractGitTask {
    @Schema(
        title = "Key that signs every commit: an OpenPGP secret key or an SSH private key (the key text)",
        description = "Commits carry the signature `git commit -S` makes: OpenPGP with a GPG key (`gpg --armor --export-secret-keys <id>`; "
            + "its signing subkey signs when it has one), or SSH (`gpg.format=ssh`) with an OpenSSH private key. Register the public key "
            + "on GitHub/GitLab to see the commits verified. Unset: commits are not signed."
    )
    @PluginProperty(secret = true, group = "signing")
    protected Property<String> signingKey;

    @Schema(title = "Passphrase of `signingKey`")
    @PluginProperty(secret = true, group = "signing")
    protected Property<String> signingKeyPassphrase;

    @Schema(title = "Accepted for compatibility; submodules are never needed to write a backup")
    @PluginProperty(group = "advanced")
    protected Property<Boolean> cloneSubmodules;

    @Schema(title = "Commit message")
    @PluginProperty(group = "main")
    protected Property<String> commitMessage;

    @Schema(title = "Compute the diff without committing or pushing")
    @Builder.Default
    @PluginProperty(group = "execution")
    protected Property<Boolean> dryRun = Property.ofValue(false);

    @Schema(title = "Author and committer email")
    @PluginProperty(group = "main")
    protected Property<String> authorEmail;

    @Schema(title = "Author and committer name; defaults to `username`")
    @PluginProperty(group = "main")
    protected Property<String> authorName;

    @Schema(title = "Delete files from Git that Kestra no longer has", description = "Guarded: see `allowEmptyExport` and `maxDeletionRatio`.")
    @Builder.Default
    @PluginProperty(group = "execution")
    protected Property<Boolean> delete = Property.ofValue(true);

    @Schema(title = "Allow an empty export to delete every file of the directory", description = "Off by default: an outage or a wrong namespace must not wipe a backup.")
    @Builder.Default
    @PluginProperty(group = "reliability")
    protected Property<Boolean> allowEmptyExport = Property.ofValue(false);

    @Schema(title = "Largest share (0.0–1.0) of the directory's files one run may delete")
    @Builder.Default
    @PluginProperty(group = "reliability")
    protected Property<Double> maxDeletionRatio = Property.ofValue(0.5);

    @Schema(
        title = "Let a namespace that was in the previous backup be gone from this one",
        description = "With the manifest (BackupInstance, or `manifest: true`): the coverage guard fails a run in which a namespace that had "
            + "items in the previous backup has none, naming it (docs/manifest.md). Set it for the one run that removes a namespace on purpose."
    )
    @Builder.Default
    @PluginProperty(group = "reliability")
    protected Property<Boolean> allowNamespaceRemoval = Property.ofValue(false);

    @Schema(
        title = "More repositories that get the same backup",
        description = "After `url`, each mirror gets the same files, as a commit of its own on its own history (a mirror that was "
            + "unreachable catches up at the next run). A mirror that fails fails the task, after the primary was pushed."
    )
    @PluginProperty(group = "destination")
    protected List<Mirror> mirrors;

    @Schema(
        title = "Annotated tag on the backup commit, e.g. `backup-{{ now() | date('yyyy-MM-dd') }}`",
        description = "Tags the commit this run pushed, or the branch tip when nothing changed, in the same push as the branch; each mirror "
            + "gets the tag on its own commit. Signed like `git tag -s` when `signingKey` is set. A tag is never moved or deleted: one of "
            + "that name already on that commit is left as it is, one on another commit fails the task (`[InvalidConfig]`) before anything "
            + "is committed. In a loop of per-namespace tasks, set `tag` on the last task only."
    )
    @PluginProperty(group = "destination")
    protected Property<String> tag;

    @Schema(
        title = "Build on a branch whose history was rewritten on purpose (one run)",
        description = "Every backup checks the chain of custody of the branch first (docs/custody.md): a branch whose history was rewritten "
            + "or truncated (a force-push, a reset, a branch recreated) fails the task with `[HistoryRewritten]`, naming the backup commits "
            + "that went missing, and the backup goes to a new branch `<branch>-rescue-<yyyyMMdd-HHmmss>`. Set this for one run after a "
            + "rewrite made on purpose: the task warns, naming what the chain drops, builds on the rewritten branch and moves the custody "
            + "records there. Applies to the mirrors too."
    )
    @Builder.Default
    @PluginProperty(group = "reliability")
    protected Property<Boolean> acceptRewrittenHistory = Property.ofValue(false);

    @Schema(title = "Push attempts when the branch moves during the run (never forced)")
    @Builder.Default
    @PluginProperty(group = "reliability")
    protected Property<Integer> maxPushAttempts = Property.ofValue(40);

    /** The namespace the task reads, rendered and checked against the namespace ACL first; null for the whole instance. */
    protected abstract String renderedNamespace(RunContext runContext) throws IllegalVariableEvaluationException;

    protected abstract String defaultCommitMessage(String namespace);

    /** The core's sources for this task (kind, namespaces, directory, globs, provided files), all in one commit. */
    protected abstract List<Map<String, Object>> sources(RunContext runContext, String namespace) throws Exception;

    /** Whether the task needs the Kestra API (PushFlows, BackupInstance) or reads the worker's storage. */
    protected abstract boolean needsKestraApi();

    /** Whether the commits carry the backup's manifest, `.kestra-backup/manifest.json` (docs/manifest.md). */
    protected abstract boolean writesManifest(RunContext runContext) throws IllegalVariableEvaluationException;

    protected CoreReport backup(RunContext runContext) throws Exception {
        TaskTimings timings = new TaskTimings();
        CoreReport report;
        try {
            Map<String, Object> request = request(runContext);
            timings.lap("render");
            report = CoreClient.run(request, runContext.logger(), timings);
        } catch (BackupException e) {
            throw keepUnpushed(runContext, e);
        }
        metrics(runContext, report);
        timings.lap("metrics");
        runContext.logger().debug(timings.line());
        return report;
    }

    /**
     * A commit the remote did not take reaches Kestra's internal storage as a Git bundle (the core
     * wrote it in the working directory, which goes with the task): the error names its URI.
     */
    private static BackupException keepUnpushed(RunContext runContext, BackupException e) {
        if (e.getUnpushedBundle() == null) {
            return e;
        }
        try {
            return e.bundleKeptAt(runContext.storage().putFile(new File(e.getUnpushedBundle())).toString());
        } catch (IOException io) {
            runContext.logger().warn("The bundle of the unpushed commit {} could not be stored: {}", e.getLocalCommit(), io.getMessage());
            return e;
        }
    }

    /** The core's request with every property rendered (docs/request-report.md). */
    Map<String, Object> request(RunContext runContext) throws Exception {
        String namespace = renderedNamespace(runContext);
        if (namespace != null && !namespace.isBlank()) {
            runContext.acl().allowNamespaces(List.of(namespace)).check();
        }
        Map<String, Object> request = new LinkedHashMap<>();
        if (needsKestraApi()) {
            request.put("kestra", kestra(runContext));
        }
        request.put("git", git(runContext, namespace));
        request.put("sources", sources(runContext, namespace));
        request.put("delete", runContext.render(delete).as(Boolean.class).orElse(true));
        request.put("dryRun", runContext.render(dryRun).as(Boolean.class).orElse(false));
        request.put("guard", Map.of(
            "allowEmptyExport", runContext.render(allowEmptyExport).as(Boolean.class).orElse(false),
            "maxDeletionRatio", runContext.render(maxDeletionRatio).as(Double.class).orElse(0.5),
            "allowNamespaceRemoval", runContext.render(allowNamespaceRemoval).as(Boolean.class).orElse(false)
        ));
        request.put("manifest", writesManifest(runContext));
        return request;
    }

    private Map<String, Object> git(RunContext runContext, String namespace) throws IllegalVariableEvaluationException {
        Map<String, Object> git = connection(runContext);
        putIfPresent(git, "signingKey", runContext.render(signingKey).as(String.class));
        putIfPresent(git, "signingKeyPassphrase", runContext.render(signingKeyPassphrase).as(String.class));
        git.put("commitMessage", runContext.render(commitMessage).as(String.class).orElse(defaultCommitMessage(namespace)));
        putIfPresent(git, "authorName", runContext.render(authorName).as(String.class));
        putIfPresent(git, "authorEmail", runContext.render(authorEmail).as(String.class));
        git.put("maxPushAttempts", runContext.render(maxPushAttempts).as(Integer.class).orElse(40));
        putIfPresent(git, "tag", runContext.render(tag).as(String.class));
        git.put("acceptRewrittenHistory", runContext.render(acceptRewrittenHistory).as(Boolean.class).orElse(false));
        git.put("unpushedDir", runContext.workingDir().path().toString());
        if (mirrors != null && !mirrors.isEmpty()) {
            List<Map<String, Object>> rendered = new ArrayList<>();
            for (int i = 0; i < mirrors.size(); i++) {
                rendered.add(mirrors.get(i).render(runContext, i, runContext.render(noProxy).as(Boolean.class).orElse(false)));
            }
            git.put("mirrors", rendered);
        }
        return git;
    }

    /** plugin-git's `flows`/`files`: a rendered string (a JSON array or one glob) or a list. */
    protected static List<String> renderGlobs(RunContext runContext, Object globs) throws IllegalVariableEvaluationException {
        if (globs == null) {
            return List.of();
        }
        if (globs instanceof List<?> list) {
            List<String> out = new ArrayList<>();
            for (Object item : list) {
                out.add(runContext.render(String.valueOf(item)));
            }
            return out;
        }
        String rendered = runContext.render(String.valueOf(globs)).trim();
        if (rendered.startsWith("[")) {
            try {
                return List.of(new com.fasterxml.jackson.databind.ObjectMapper().readValue(rendered, String[].class));
            } catch (Exception e) {
                throw new BackupException(BackupException.Code.InvalidConfig, "globs: `" + rendered + "` is not a JSON array of strings", null);
            }
        }
        return List.of(rendered);
    }

    /** Uploads the diff file; null when nothing was exported (plugin-git's early return). */
    protected static URI diffFile(RunContext runContext, CoreReport report) throws Exception {
        if (report.exported() == 0) {
            return null;
        }
        return IonFile.upload(runContext, file -> IonFile.diff(report.diff, file));
    }

    private static void metrics(RunContext runContext, CoreReport report) {
        long added = 0, modified = 0, deleted = 0, unchanged = 0;
        for (CoreReport.SourceCounts s : report.sources) {
            added += s.added;
            modified += s.modified;
            deleted += s.deleted;
            unchanged += s.unchanged;
        }
        runContext.metric(Counter.of("files.added", added));
        runContext.metric(Counter.of("files.modified", modified));
        runContext.metric(Counter.of("files.deleted", deleted));
        runContext.metric(Counter.of("files.unchanged", unchanged));
        runContext.metric(Counter.of("bytes.pushed", report.bytesPushed));
        runContext.metric(Timer.of("duration", Duration.ofMillis(report.timingsMs.total)));
    }

    /** A second repository for the backup; unset fields other than credentials are the task's. */
    @Builder
    @Getter
    @Jacksonized
    public static class Mirror {
        @Schema(title = "Git repository URL of the mirror", description = "`https://`, `ssh://`, `git@host:path` or a local path.")
        @PluginProperty(group = "connection")
        private Property<String> url;

        @Schema(title = "Branch of the mirror; default: the task's `branch`")
        @PluginProperty(group = "destination")
        private Property<String> branch;

        @Schema(title = "Username for HTTP basic authentication to the mirror")
        @PluginProperty(secret = true, group = "connection")
        private Property<String> username;

        @Schema(title = "Password or token for the mirror")
        @PluginProperty(secret = true, group = "connection")
        private Property<String> password;

        @Schema(title = "SSH private key content for the mirror")
        @PluginProperty(secret = true, group = "connection")
        private Property<String> privateKey;

        @Schema(title = "Passphrase of the mirror's `privateKey`")
        @PluginProperty(secret = true, group = "connection")
        private Property<String> passphrase;

        @Schema(title = "PEM file on the worker with extra CA certificates trusted for the mirror")
        @PluginProperty(group = "connection")
        private Property<String> trustedCaPemPath;

        @Schema(title = "Pinned SSH host key fingerprint of the mirror")
        @PluginProperty(group = "connection")
        private Property<String> hostKeyFingerprint;

        Map<String, Object> render(RunContext runContext, int index, boolean noProxy) throws IllegalVariableEvaluationException {
            Map<String, Object> mirror = new LinkedHashMap<>();
            String rUrl = runContext.render(url).as(String.class).filter(u -> !u.isBlank()).orElseThrow(() -> new BackupException(
                BackupException.Code.InvalidConfig, "`mirrors[" + index + "].url`: is missing; set the mirror's Git repository URL", null));
            mirror.put("url", rUrl);
            putIfPresent(mirror, "branch", runContext.render(branch).as(String.class));
            putIfPresent(mirror, "username", runContext.render(username).as(String.class));
            putIfPresent(mirror, "password", runContext.render(password).as(String.class));
            putIfPresent(mirror, "privateKey", runContext.render(privateKey).as(String.class));
            putIfPresent(mirror, "passphrase", runContext.render(passphrase).as(String.class));
            putIfPresent(mirror, "trustedCaPemPath", runContext.render(trustedCaPemPath).as(String.class));
            putIfPresent(mirror, "hostKeyFingerprint", runContext.render(hostKeyFingerprint).as(String.class));
            if (!noProxy) {
                proxyFor(rUrl).ifPresent(p -> mirror.put("proxy", p));
            }
            return mirror;
        }
    }

    /** Outputs common to both tasks (plugin-git's shape: each task adds its diff file URI). */
    @SuperBuilder
    @Getter
    public abstract static class Output implements io.kestra.core.models.tasks.Output {
        @Schema(title = "Id of the commit pushed; absent when nothing changed or in dry run")
        private final String commitId;

        @Schema(title = "Web URL of the commit")
        private final String commitURL;

        @Schema(title = "Name of the tag on the backup commit (or on the unchanged tip); absent without `tag` or in dry run")
        private final String tag;

        @Schema(
            title = "Serial of the backup's manifest in the commit this run pushed",
            description = "One more than the previous backup commit's (docs/manifest.md); absent when nothing was committed or no manifest is written."
        )
        private final Long backupSerial;
    }
}
