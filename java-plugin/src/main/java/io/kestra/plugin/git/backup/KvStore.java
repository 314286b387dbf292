package io.kestra.plugin.git.backup;

import io.kestra.core.exceptions.IllegalVariableEvaluationException;
import io.kestra.core.models.annotations.PluginProperty;
import io.kestra.core.models.executions.metrics.Counter;
import io.kestra.core.models.property.Property;
import io.kestra.core.runners.RunContext;
import io.kestra.plugin.git.backup.internal.CoreReport;
import io.swagger.v3.oas.annotations.media.Schema;
import lombok.AccessLevel;
import lombok.AllArgsConstructor;
import lombok.Builder;
import lombok.Getter;
import lombok.extern.jackson.Jacksonized;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The `kv` settings of BackupInstance, RestoreInstance and RestoreDrill: where the KV entries lie in
 * the repository and the public keys their values are sealed to (docs/kv-store.md). The core does
 * the sealing; Java renders and passes the keys on. The property names are the core's request
 * names (`kv.gitDirectory`, `kv.recipients[i]`), so the core's messages name them as they are.
 */
@Builder
@Getter
@Jacksonized
public class KvStore {
    static final String DIRECTORY = "kv";

    @Schema(title = "Repository directory of the KV entries: `<gitDirectory>/<namespace>/<key>.json`")
    @Builder.Default
    @PluginProperty(group = "destination")
    private Property<String> gitDirectory = Property.ofValue(DIRECTORY);

    @Schema(
        title = "Public keys every KV value is sealed to",
        description = "age X25519 public keys (`age1…`, printed by `age-keygen -y`) and SSH public keys (`ssh-ed25519 …`, `ssh-rsa …` "
            + "of 2048 bits or more). The backup holds only these: it can seal, never unseal; a restore needs the secret key of one of "
            + "them (`identity`). Changing them re-seals every value in one commit. Without recipients the entries are written without "
            + "their values (stubs). RestoreDrill: every sealed file must be sealed to exactly these."
    )
    @PluginProperty(group = "destination")
    private Property<List<String>> recipients;

    @Schema(
        title = "UNSAFE: without recipients, write the values in clear text into the repository",
        description = "Anyone who can read the repository can read every value (tokens people park in the KV store). Off: values are sealed "
            + "to `recipients`, or left out."
    )
    @Builder.Default
    @PluginProperty(group = "destination")
    private Property<Boolean> plaintext = Property.ofValue(false);

    /** The core's `kv` request object; `settings` may be null (the defaults). */
    static Map<String, Object> request(RunContext runContext, KvStore settings, Property<String> namespacePrefix) throws IllegalVariableEvaluationException {
        KvStore s = settings == null ? KvStore.builder().build() : settings;
        Map<String, Object> kv = new LinkedHashMap<>();
        kv.put("gitDirectory", runContext.render(s.gitDirectory).as(String.class).orElse(DIRECTORY));
        kv.put("namespacePrefix", runContext.render(namespacePrefix).as(String.class).orElse("").trim());
        kv.put("recipients", runContext.render(s.recipients).asList(String.class));
        kv.put("plaintext", runContext.render(s.plaintext).as(Boolean.class).orElse(false));
        return kv;
    }

    /** The report's KV counts as metrics (`kv.*`) and the output; null without KV. */
    static Counts counts(RunContext runContext, CoreReport.Kv kv) {
        if (kv == null) {
            return null;
        }
        runContext.metric(Counter.of("kv.entries", kv.entries));
        runContext.metric(Counter.of("kv.sealed", kv.sealed));
        runContext.metric(Counter.of("kv.stubs", kv.stubs));
        runContext.metric(Counter.of("kv.unsealed", kv.unsealed));
        runContext.metric(Counter.of("kv.restored", kv.restored));
        runContext.metric(Counter.of("kv.skipped_expired", kv.skippedExpired));
        return new Counts(kv.entries, kv.sealed, kv.newlySealed, kv.stubs, kv.plaintext, kv.unsealed, kv.restored, kv.skippedExpired, kv.needIdentity);
    }

    /** What a task did with the KV entries. */
    @Getter
    @AllArgsConstructor(access = AccessLevel.PRIVATE)
    public static class Counts {
        @Schema(title = "KV entries: listed by Kestra (backup) or held by the backup (restore, drill)")
        private final long entries;

        @Schema(title = "Entries whose value is sealed in the backup")
        private final long sealed;

        @Schema(title = "Backup: values sealed this run (new or changed entries; every value after a change of recipients)")
        private final long newlySealed;

        @Schema(title = "Entries written without their value (no recipients)")
        private final long stubs;

        @Schema(title = "Entries whose value is in clear text in the backup (`plaintext: true`)")
        private final long plaintext;

        @Schema(title = "Restore and drill: sealed values unsealed with `identity`")
        private final long unsealed;

        @Schema(title = "Restore: entries written to Kestra")
        private final long restored;

        @Schema(title = "Restore and drill: entries whose expiration date has passed, skipped")
        private final long skippedExpired;

        @Schema(title = "Restore and drill: sealed values not written for want of `identity` (listed in the plan)")
        private final long needIdentity;
    }
}
