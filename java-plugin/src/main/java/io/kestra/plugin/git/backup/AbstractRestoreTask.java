package io.kestra.plugin.git.backup;

import io.kestra.core.models.annotations.PluginProperty;
import io.kestra.core.models.executions.metrics.Counter;
import io.kestra.core.models.executions.metrics.Timer;
import io.kestra.core.models.property.Property;
import io.kestra.core.runners.RunContext;
import io.kestra.plugin.git.backup.internal.CoreClient;
import io.kestra.plugin.git.backup.internal.CoreReport;
import io.kestra.plugin.git.backup.internal.IonFile;
import io.swagger.v3.oas.annotations.media.Schema;
import lombok.*;
import lombok.experimental.SuperBuilder;

import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * The restore side: the backup of BackupInstance (whole-instance layout) compared with what Kestra
 * holds, its flows checked by Kestra's validation, and (RestoreInstance) written back. Java renders
 * and maps; the native core fetches, compares, validates and writes.
 */
@SuperBuilder(toBuilder = true)
@ToString
@EqualsAndHashCode(callSuper = true)
@Getter
@NoArgsConstructor
public abstract class AbstractRestoreTask extends AbstractGitTask {
    @Schema(
        title = "Restore only this namespace and its children",
        description = "`company` covers `company` and `company.*`, never a sibling such as `companyx`. Default: every namespace of the backup."
    )
    @PluginProperty(group = "source")
    protected Property<String> namespacePrefix;

    @Schema(
        title = "Restore one namespace from a PushFlows/PushNamespaceFiles layout instead",
        description = "Its flows directly in `flowsDirectory` (PushFlows' default `_flows`), its files in `filesDirectory` "
            + "(PushNamespaceFiles' default `_files`); set the directories the backup used. Unset: the whole-instance layout."
    )
    @PluginProperty(group = "source")
    protected Property<String> namespace;

    @Schema(title = "With `namespace`: the flows directory also holds child namespaces in sub-directories (PushFlows' `includeChildNamespaces`)")
    @Builder.Default
    @PluginProperty(group = "source")
    protected Property<Boolean> includeChildNamespaces = Property.ofValue(false);

    @Schema(title = "Repository directory of the flows: `<flowsDirectory>/<namespace>/<id>.yml`, as BackupInstance writes them")
    @Builder.Default
    @PluginProperty(group = "source")
    protected Property<String> flowsDirectory = Property.ofValue(InstanceLayout.FLOWS_DIRECTORY);

    @Schema(title = "Also restore the namespace files")
    @Builder.Default
    @PluginProperty(group = "source")
    protected Property<Boolean> includeNamespaceFiles = Property.ofValue(true);

    @Schema(title = "Repository directory of the namespace files: `<filesDirectory>/<namespace>/<path>`")
    @Builder.Default
    @PluginProperty(group = "source")
    protected Property<String> filesDirectory = Property.ofValue(InstanceLayout.FILES_DIRECTORY);

    @Schema(
        title = "Which backup to read: a commit SHA, a tag, a branch or an instant; default: the tip of `branch`",
        description = "A full or abbreviated (4+ hex digits) commit SHA, a tag (such as the backup tasks' `tag` makes), a branch, or an "
            + "instant — `2026-11-20`, `2026-11-20T18:00:00Z`, `2026-11-20T19:00:00+01:00` (fractional seconds allowed; a date-time needs `Z` or an offset), or an expression "
            + "rendering to one such as `{{ now() | dateAdd(-1, 'DAYS') }}` — meaning the newest backup commit of `branch` (first-parent "
            + "history) whose committer date is at or before that instant (a date alone: the end of that day, UTC). Only as much history as the ref "
            + "needs is fetched. The commit read is the output `restoredFrom`. An unknown ref fails the task naming the newest backups."
    )
    @PluginProperty(group = "source")
    protected Property<String> ref;

    @Schema(
        title = "Only these flows: globs over `namespace/id`",
        description = "E.g. `company.team/etl_*` or `company/**`. When `flows` or `files` is set, only what they select is compared, "
            + "validated and written (of the other kind: nothing); both unset: every flow and file under `namespacePrefix` / `namespace`."
    )
    @PluginProperty(group = "source")
    protected Property<List<String>> flows;

    @Schema(
        title = "Only these namespace files: globs over `namespace/path`",
        description = "E.g. `company/scripts/**`. See `flows`."
    )
    @PluginProperty(group = "source")
    protected Property<List<String>> files;

    @Schema(
        title = "Also select the flows a selected flow calls as subflows, transitively, as they are at `ref`",
        description = "Flow-calling tasks (`io.kestra.plugin.core.flow.Subflow` and the like) whose `namespace` and `flowId` are literal. "
            + "The flows added are the output `dependencies`, and their plan rows say which flow required them."
    )
    @Builder.Default
    @PluginProperty(group = "source")
    protected Property<Boolean> withDependencies = Property.ofValue(false);

    @Schema(
        title = "Where the backup's KV entries lie, and (RestoreDrill) the recipients they must be sealed to",
        description = "Default: `kv/`, as BackupInstance writes them. A backup without KV entries asks nothing of Kestra's KV API."
    )
    @PluginProperty(group = "source")
    protected KvStore kv;

    @Schema(
        title = "The age secret key that unseals the backup's KV values",
        description = "The text of an age identity file (`AGE-SECRET-KEY-1…`, as `age-keygen` writes it) or an unencrypted OpenSSH private "
            + "key, matching one of the recipients the backup sealed to; give it through `secret()`. Without it, sealed values are not "
            + "restored (the plan lists them) and RestoreDrill checks the sealed files without unsealing."
    )
    @PluginProperty(secret = true, group = "connection")
    protected Property<String> identity;

    @Schema(
        title = "Public keys the backup's commits must be signed by: the public half of the backup tasks' `signingKey`",
        description = "SSH public keys as in a `.pub` file (`ssh-ed25519 AAAA…`, `ssh-rsa AAAA…`) or armored OpenPGP public keys "
            + "(`gpg --armor --export <id>`). Each signature is verified over the commit's signed content (an SSH signature in Git's `git` "
            + "namespace, or an OpenPGP detached signature by the key or one of its subkeys), never taken on the presence of a signature. "
            + "RestoreDrill: every commit from the backup read down to the oldest backup verified must be signed by one of them (output "
            + "`verification.unsigned`). RestoreInstance: the commit read must be, or nothing is restored (unless `allowUnsigned`)."
    )
    @PluginProperty(group = "source")
    protected Property<List<String>> verifyKeys;

    @Schema(
        title = "Also the flow triggers' on/off state the backup recorded (whole-instance layout)",
        description = "A restore switches each trigger of the selected flows on or off as the backup recorded it, after writing the flows; "
            + "a drill reports the triggers whose state differs (output `triggerDrift`). `false`: Kestra's current trigger state is left alone. "
            + "Next-execution dates and backfills are not restored. Kestra 1.x: a drill reports, but a restore fails when a trigger "
            + "differs (1.x cannot have it set): set `false` there."
    )
    @Builder.Default
    @PluginProperty(group = "execution")
    protected Property<Boolean> includeTriggerState = Property.ofValue(true);

    @Schema(title = "Repository directory of the trigger state: `<triggersDirectory>/<namespace>/<flowId>.json`, as BackupInstance writes it")
    @Builder.Default
    @PluginProperty(group = "source")
    protected Property<String> triggersDirectory = Property.ofValue(InstanceLayout.TRIGGERS_DIRECTORY);

    /** The core's job: `restore` or `drill`. */
    protected abstract String job();

    /** The job's options and dry-run flag, rendered: the request's `restore` object and `dryRun`. */
    protected abstract void putOptions(RunContext runContext, Map<String, Object> options, Map<String, Object> request) throws Exception;

    /** Where the core writes the plan: the task's working directory, which goes with the task once the file is in storage. */
    private static Path planFile(RunContext runContext) {
        return runContext.workingDir().path().resolve("restore-plan.ion");
    }

    protected CoreReport.Restore restore(RunContext runContext) throws Exception {
        CoreReport report = CoreClient.run(request(runContext), runContext.logger());
        CoreReport.Restore restore = report.restore == null ? new CoreReport.Restore() : report.restore;
        restore.kv = report.kv;
        runContext.metric(Counter.of("restore.in_sync", restore.inSync));
        runContext.metric(Counter.of("restore.missing_in_kestra", restore.missingInKestra));
        runContext.metric(Counter.of("restore.differing", restore.differing));
        runContext.metric(Counter.of("restore.only_in_kestra", restore.onlyInKestra));
        runContext.metric(Counter.of("restore.flows_validated", restore.flowsValidated));
        runContext.metric(Counter.of("restore.flows_restored", restore.restoredFlows));
        runContext.metric(Counter.of("restore.files_restored", restore.restoredFiles));
        runContext.metric(Counter.of("restore.triggers_differing", restore.triggerDrift.size()));
        if (restore.backup != null) {
            runContext.metric(Counter.of("restore.backup_serial", restore.backup.serial));
        }
        runContext.metric(Timer.of("duration", Duration.ofMillis(report.timingsMs.total)));
        return restore;
    }

    /** The core's request with every property rendered (docs/request-report.md). */
    Map<String, Object> request(RunContext runContext) throws Exception {
        Map<String, Object> request = new LinkedHashMap<>();
        Map<String, Object> options = new LinkedHashMap<>();
        request.put("job", job());
        request.put("kestra", kestra(runContext));
        request.put("git", connection(runContext));
        request.put("sources", sources(runContext));
        if (runContext.render(namespace).as(String.class).filter(n -> !n.isBlank()).isEmpty()) {
            InstanceLayout.triggerState(runContext, includeTriggerState, triggersDirectory).ifPresent(t -> request.put("triggerState", t));
        }
        runContext.render(ref).as(String.class).map(String::trim).filter(r -> !r.isEmpty()).ifPresent(r -> options.put("ref", r));
        options.put("flows", runContext.render(flows).asList(String.class));
        options.put("files", runContext.render(files).asList(String.class));
        options.put("withDependencies", runContext.render(withDependencies).as(Boolean.class).orElse(false));
        options.put("planFile", planFile(runContext).toString());
        runContext.render(identity).as(String.class).filter(i -> !i.isBlank()).ifPresent(i -> options.put("identity", i));
        options.put("verifyKeys", runContext.render(verifyKeys).asList(String.class));
        if (runContext.render(namespace).as(String.class).filter(n -> !n.isBlank()).isEmpty()) {
            request.put("kv", KvStore.request(runContext, kv, namespacePrefix));
        }
        putOptions(runContext, options, request);
        request.put("restore", options);
        return request;
    }

    /** The layout the backup was written in: the whole instance, or one namespace (`namespace`). */
    private List<Map<String, Object>> sources(RunContext runContext) throws Exception {
        Optional<String> rNamespace = runContext.render(namespace).as(String.class).map(String::trim).filter(n -> !n.isEmpty());
        if (rNamespace.isEmpty()) {
            return InstanceLayout.sources(runContext, namespacePrefix, flowsDirectory, includeNamespaceFiles, filesDirectory);
        }
        if (runContext.render(namespacePrefix).as(String.class).filter(p -> !p.isBlank()).isPresent()) {
            throw new BackupException(BackupException.Code.InvalidConfig,
                "`namespace` and `namespacePrefix` exclude each other: `namespace` reads a one-namespace layout, `namespacePrefix` the whole-instance one", null);
        }
        boolean children = runContext.render(includeChildNamespaces).as(Boolean.class).orElse(false);
        List<Map<String, Object>> sources = new ArrayList<>();
        sources.add(InstanceLayout.source("flows", Map.of("one", Map.of("namespace", rNamespace.get(), "includeChildren", children)),
            runContext.render(flowsDirectory).as(String.class).orElse(InstanceLayout.FLOWS_DIRECTORY)));
        if (runContext.render(includeNamespaceFiles).as(Boolean.class).orElse(true)) {
            sources.add(InstanceLayout.source("namespaceFiles", Map.of("one", Map.of("namespace", rNamespace.get())),
                runContext.render(filesDirectory).as(String.class).orElse(InstanceLayout.FILES_DIRECTORY)));
        }
        return sources;
    }

    /** How the backup compares with Kestra (both restore tasks). */
    @SuperBuilder
    @Getter
    public abstract static class Output implements io.kestra.core.models.tasks.Output {
        @Schema(title = "Files of the backup that Kestra holds with the same content")
        private final long inSync;

        @Schema(title = "Files of the backup that Kestra does not have")
        private final long missingInKestra;

        @Schema(title = "Files of the backup that Kestra holds with other content")
        private final long differing;

        @Schema(title = "Flows and files Kestra holds that the backup does not (never deleted)")
        private final long onlyInKestra;

        @Schema(title = "Flows of the backup checked with Kestra's own validation")
        private final long flowsValidated;

        @Schema(
            title = "Drift file: one ION row per file that is not in sync",
            description = "A row: `{file:\"flows/company/etl.yml\",state:\"missingInKestra\"}`; states `missingInKestra`, `differing`, `onlyInKestra`."
        )
        private final URI drift;

        @Schema(title = "The backup commit read: `ref` resolved")
        private final BackupCommit restoredFrom;

        @Schema(
            title = "Plan file: one row per selected flow and file, sorted by file",
            description = "JSON objects one per line (read as ION): `file`, `kind` (`flow`, `file` or `kv`), `namespace`, `path` (the flow id, "
                + "the namespace-relative path or the KV key), `action` — `create`, `replace`, `unchanged`, or `skip` with a `reason` — and, for every "
                + "`replace` of a flow or text file, `diff`: a unified diff from what Kestra holds (`--- kestra`) to the backup (`+++ backup`). "
                + "A flow selected by `withDependencies` carries `requiredBy`."
        )
        private final URI plan;

        @Schema(title = "Rows of the plan per action")
        private final PlanCounts planCounts;

        @Schema(title = "Flows added to the selection by `withDependencies`, and the selected flow that calls each")
        private final List<Dependency> dependencies;

        @Schema(title = "What the task did with the backup's KV entries")
        private final KvStore.Counts kv;

        @Schema(
            title = "Triggers of the selected flows whose on/off state in Kestra differs from the backup",
            description = "Found before a restore set them back (`includeTriggerState`); the metric `restore.triggers_differing` counts them."
        )
        private final List<TriggerDrift> triggerDrift;

        @Schema(
            title = "Where the backup read came from, as its manifest records it",
            description = "Its `serial` and the Kestra instance it was taken from (`instanceId`, `instanceUrl`, `instanceVersion`); null when "
                + "the history there has no manifest (a backup written before manifests, or by PushFlows/PushNamespaceFiles)."
        )
        private final BackupOrigin backup;
    }

    /** The manifest's account of the backup read. */
    @Getter
    @AllArgsConstructor(access = AccessLevel.PRIVATE)
    public static class BackupOrigin {
        @Schema(title = "The backup commit whose manifest this is: the commit read, or the newest backup commit below it")
        private final String commit;

        @Schema(title = "The backup's serial: 1 for the first backup of the chain, one more for each backup commit since")
        private final long serial;

        @Schema(title = "The id of the Kestra instance the backup was taken from")
        private final String instanceId;

        @Schema(title = "The Kestra API URL the backup was taken from, without credentials")
        private final String instanceUrl;

        @Schema(title = "That Kestra's version")
        private final String instanceVersion;

        static BackupOrigin of(CoreReport.BackupOrigin origin) {
            return origin == null ? null : new BackupOrigin(origin.commit, origin.serial, origin.instanceId, origin.instanceUrl, origin.instanceVersion);
        }
    }

    /** A trigger whose on/off state differs between the backup and Kestra. */
    @Getter
    @AllArgsConstructor(access = AccessLevel.PRIVATE)
    public static class TriggerDrift {
        @Schema(title = "The trigger, `namespace/flowId/triggerId`")
        private final String trigger;

        @Schema(title = "`disabled` or `enabled`, as the backup recorded it")
        private final String backup;

        @Schema(title = "`disabled` or `enabled`, as Kestra holds it")
        private final String kestra;
    }

    /** A commit of the backup branch. */
    @Getter
    @AllArgsConstructor(access = AccessLevel.PRIVATE)
    public static class BackupCommit {
        @Schema(title = "Commit SHA")
        private final String commit;

        @Schema(title = "Committer date: when the backup was taken")
        private final Instant date;

        @Schema(title = "First line of the commit message")
        private final String message;

        static BackupCommit of(CoreReport.CommitInfo info) {
            return info == null ? null : new BackupCommit(info.commit, Instant.parse(info.date), info.message);
        }
    }

    /** How many selected items the plan creates, replaces, leaves or skips. */
    @Getter
    @AllArgsConstructor(access = AccessLevel.PRIVATE)
    public static class PlanCounts {
        @Schema(title = "In the backup, not in Kestra: written")
        private final long create;

        @Schema(title = "Held by Kestra with other content: rolled back with `overwrite: true` (a drill counts what such a restore would do)")
        private final long replace;

        @Schema(title = "Held by Kestra with the same content")
        private final long unchanged;

        @Schema(title = "Left as Kestra holds it: differs and `overwrite` is off, or only in Kestra (a restore never deletes)")
        private final long skip;
    }

    /** A flow added by `withDependencies`. */
    @Getter
    @AllArgsConstructor(access = AccessLevel.PRIVATE)
    public static class Dependency {
        @Schema(title = "The flow added, `namespace/id`")
        private final String flow;

        @Schema(title = "The selected flow that calls it, `namespace/id`")
        private final String requiredBy;
    }

    /**
     * Fills the outputs both restore tasks share: the comparison, the commit read, the plan (its
     * file moved from the working directory to internal storage) and the drift file.
     */
    protected static <B extends Output.OutputBuilder<?, ?>> B comparison(B output, RunContext runContext, CoreReport.Restore restore) throws Exception {
        Path plan = planFile(runContext);
        output.inSync(restore.inSync).missingInKestra(restore.missingInKestra).differing(restore.differing).onlyInKestra(restore.onlyInKestra)
            .flowsValidated(restore.flowsValidated)
            .drift(IonFile.upload(runContext, file -> IonFile.drift(restore.drift, file)))
            .restoredFrom(BackupCommit.of(restore.restoredFrom))
            .plan(Files.exists(plan) ? runContext.storage().putFile(plan.toFile()) : null)
            .planCounts(new PlanCounts(restore.plan.create, restore.plan.replace, restore.plan.unchanged, restore.plan.skip))
            .dependencies(restore.dependencies.stream().map(d -> new Dependency(d.flow, d.requiredBy)).toList())
            .kv(KvStore.counts(runContext, restore.kv))
            .triggerDrift(restore.triggerDrift.stream().map(t -> new TriggerDrift(t.trigger, t.backup, t.kestra)).toList())
            .backup(BackupOrigin.of(restore.backup));
        return output;
    }
}
