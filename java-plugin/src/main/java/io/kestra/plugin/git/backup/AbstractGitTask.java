package io.kestra.plugin.git.backup;

import io.kestra.core.exceptions.IllegalVariableEvaluationException;
import io.kestra.core.models.annotations.PluginProperty;
import io.kestra.core.models.property.Property;
import io.kestra.core.models.tasks.Task;
import io.kestra.core.runners.RunContext;
import io.kestra.core.runners.SDK;
import io.kestra.plugin.git.backup.internal.TrustedIssuers;
import io.swagger.v3.oas.annotations.media.Schema;
import lombok.*;
import lombok.experimental.SuperBuilder;
import lombok.extern.jackson.Jacksonized;

import java.net.Proxy;
import java.net.ProxySelector;
import java.net.URI;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Optional;

/**
 * What every task of the plugin needs to reach the Git repository and the Kestra API: plugin-git's
 * connection properties (same names, types, defaults) and their rendering into the core's request.
 */
@SuperBuilder(toBuilder = true)
@ToString
@EqualsAndHashCode(callSuper = true)
@Getter
@NoArgsConstructor
public abstract class AbstractGitTask extends Task {
    @Schema(title = "Git repository URL", description = "`https://`, `ssh://`, `git@host:path` or a local path.")
    @PluginProperty(group = "connection")
    protected Property<String> url;

    @Schema(title = "Username for HTTP basic authentication; also the author name when `authorName` is not set")
    @PluginProperty(secret = true, group = "connection")
    protected Property<String> username;

    @Schema(title = "Password or personal access token for HTTP basic authentication")
    @PluginProperty(secret = true, group = "connection")
    protected Property<String> password;

    @Schema(title = "SSH private key content (OpenSSH or PEM), not a path")
    @PluginProperty(secret = true, group = "connection")
    protected Property<String> privateKey;

    @Schema(title = "Passphrase of `privateKey`")
    @PluginProperty(secret = true, group = "connection")
    protected Property<String> passphrase;

    @Schema(title = "Path, on the worker, of a PEM file with extra trusted CA certificates", description = "Trusted in addition to the JVM trust store.")
    @PluginProperty(group = "connection")
    protected Property<String> trustedCaPemPath;

    @Schema(title = "Connect directly, ignoring the JVM proxy settings")
    @PluginProperty(group = "connection")
    protected Property<Boolean> noProxy;

    @Schema(title = "Connect timeout in milliseconds")
    @Builder.Default
    @PluginProperty(group = "connection")
    protected Property<Integer> connectTimeout = Property.ofValue(10000);

    @Schema(title = "Read timeout in milliseconds")
    @Builder.Default
    @PluginProperty(group = "connection")
    protected Property<Integer> readTimeout = Property.ofValue(60000);

    @Schema(title = "Git configuration applied to the local repository", description = "Keys are `section.name`; e.g. `user.name`, `user.email`.")
    @PluginProperty(group = "advanced")
    protected Property<Map<String, Object>> gitConfig;

    @Schema(title = "Branch to push to; created when missing")
    @Builder.Default
    @PluginProperty(group = "destination")
    protected Property<String> branch = Property.ofValue("main");

    @Schema(title = "Kestra API URL", description = "Default: `kestra.tasks.sdk.authentication.url`, then `kestra.url`, then `http://localhost:8080`.")
    @PluginProperty(group = "connection")
    protected Property<String> kestraUrl;

    @Schema(title = "Kestra API authentication", description = "Kestra OSS: `username` and `password` (HTTP basic). `apiToken` (bearer) only on Kestra Enterprise and Cloud.")
    @PluginProperty(group = "connection")
    protected Auth auth;

    @Schema(title = "Directory on the worker where the branch is kept between runs", description = "Unset: a temporary copy per run. With a cache, runs fetch only what changed.")
    @PluginProperty(group = "advanced")
    protected Property<String> cacheDirectory;

    @Schema(title = "Pinned SSH host key fingerprint (`SHA256:…`, as `ssh-keygen -lf` prints it)", description = "Unset: any host key is accepted and its fingerprint logged.")
    @PluginProperty(group = "connection")
    protected Property<String> hostKeyFingerprint;

    /** The core's `git` object: the repository and how to reach it (docs/request-report.md). */
    protected Map<String, Object> connection(RunContext runContext) throws IllegalVariableEvaluationException {
        Map<String, Object> git = new LinkedHashMap<>();
        String rUrl = runContext.render(url).as(String.class).orElseThrow(
            () -> new BackupException(BackupException.Code.InvalidConfig, "`url`: is missing; set the Git repository URL on the task (Kestra 2.0: e.g. `url: \"{{ vars.git_url }}\"` with the flow's `variables`; "
                + "Kestra 1.x: also through `pluginDefaults`)", null));
        git.put("url", rUrl);
        git.put("branch", runContext.render(branch).as(String.class).orElse("main"));
        putIfPresent(git, "username", runContext.render(username).as(String.class));
        putIfPresent(git, "password", runContext.render(password).as(String.class));
        putIfPresent(git, "privateKey", runContext.render(privateKey).as(String.class));
        putIfPresent(git, "passphrase", runContext.render(passphrase).as(String.class));
        putIfPresent(git, "trustedCaPemPath", runContext.render(trustedCaPemPath).as(String.class));
        git.put("trustedCaPem", TrustedIssuers.pem());
        putIfPresent(git, "hostKeyFingerprint", runContext.render(hostKeyFingerprint).as(String.class));
        if (!runContext.render(noProxy).as(Boolean.class).orElse(false)) {
            proxyFor(rUrl).ifPresent(p -> git.put("proxy", p));
        }
        git.put("connectTimeoutMs", runContext.render(connectTimeout).as(Integer.class).orElse(10000));
        git.put("readTimeoutMs", runContext.render(readTimeout).as(Integer.class).orElse(60000));
        putIfPresent(git, "cacheDir", runContext.render(cacheDirectory).as(String.class));
        if (gitConfig != null) {
            git.put("config", runContext.render(gitConfig).asMap(String.class, Object.class));
        }
        return git;
    }

    /**
     * Kestra API URL and credentials, in plugin-git's order: {@code kestraUrl}, the SDK default
     * authentication's URL, {@code kestra.url}, localhost; explicit {@code auth}, else the SDK
     * defaults when {@code auth.auto}; nothing found fails fast.
     */
    protected Map<String, Object> kestra(RunContext runContext) throws IllegalVariableEvaluationException {
        boolean rAuto = auth == null || runContext.render(auth.getAuto()).as(Boolean.class).orElse(true);
        Optional<SDK.Auth> sdkAuth = rAuto ? Optional.ofNullable(runContext.sdk()).flatMap(SDK::defaultAuthentication) : Optional.empty();
        String rUrl = runContext.render(kestraUrl).as(String.class).filter(s -> !s.isBlank())
            .or(() -> sdkAuth.flatMap(AbstractGitTask::sdkUrl).filter(s -> !s.isBlank()))
            .orElseGet(() -> configuredKestraUrl(runContext));

        Map<String, Object> kestra = new LinkedHashMap<>();
        kestra.put("url", rUrl.trim().replaceAll("/+$", ""));
        String tenant = runContext.flowInfo().tenantId();
        kestra.put("tenant", tenant == null || tenant.isBlank() ? "main" : tenant);
        kestra.put("connectTimeoutMs", runContext.render(connectTimeout).as(Integer.class).orElse(10000));
        kestra.put("readTimeoutMs", runContext.render(readTimeout).as(Integer.class).orElse(60000));
        // Only TLS needs the JVM's CAs (about 150 certificates): a plain-HTTP API URL is spared carrying and hashing them.
        if (rUrl.trim().regionMatches(true, 0, "https://", 0, 8)) {
            kestra.put("trustedCaPem", TrustedIssuers.pem());
        }

        Optional<String> token = auth == null ? Optional.empty() : runContext.render(auth.getApiToken()).as(String.class);
        Optional<String> user = auth == null ? Optional.empty() : runContext.render(auth.getUsername()).as(String.class);
        Optional<String> pass = auth == null ? Optional.empty() : runContext.render(auth.getPassword()).as(String.class);
        if (token.isPresent() && (user.isPresent() || pass.isPresent())) {
            throw new BackupException(BackupException.Code.InvalidConfig, "`auth`: use either `apiToken` or `username`/`password`, not both", null);
        }
        if (user.isPresent() != pass.isPresent()) {
            throw new BackupException(BackupException.Code.InvalidConfig, "`auth`: both `username` and `password` are required for HTTP basic authentication", null);
        }
        if (token.isPresent()) {
            kestra.put("auth", Map.of("bearer", Map.of("token", token.get())));
        } else if (user.isPresent()) {
            kestra.put("auth", Map.of("basic", Map.of("username", user.get(), "password", pass.get())));
        } else if (sdkAuth.flatMap(SDK.Auth::username).isPresent() && sdkAuth.flatMap(SDK.Auth::password).isPresent()) {
            kestra.put("auth", Map.of("basic", Map.of("username", sdkAuth.get().username().get(), "password", sdkAuth.get().password().get())));
        } else if (sdkAuth.flatMap(SDK.Auth::apiToken).isPresent()) {
            kestra.put("auth", Map.of("bearer", Map.of("token", sdkAuth.get().apiToken().get())));
        } else {
            throw new BackupException(BackupException.Code.InvalidConfig,
                "no Kestra API credentials: set `auth.username`/`auth.password` (basic auth; `auth.apiToken` on Kestra Enterprise/Cloud only) on the task, "
                    + "or configure `kestra.tasks.sdk.authentication` on the server and keep `auth.auto: true`", null);
        }
        return kestra;
    }

    /** The SDK's configured API URL; Kestra 1.3's SDK has none (it ends at `kestra.url`). */
    private static Optional<String> sdkUrl(SDK.Auth auth) {
        try {
            return auth.url();
        } catch (NoSuchMethodError kestra13) {
            return Optional.empty();
        }
    }

    private static String configuredKestraUrl(RunContext runContext) {
        try {
            String rUrl = runContext.render("{{ kestra.url }}");
            return rUrl == null || rUrl.isBlank() ? "http://localhost:8080" : rUrl;
        } catch (IllegalVariableEvaluationException e) {
            return "http://localhost:8080";
        }
    }

    /** The JVM's proxy for this URL (so the core routes like plugin-git), if any. */
    static Optional<String> proxyFor(String rUrl) {
        if (!rUrl.startsWith("http")) {
            return Optional.empty();
        }
        try {
            return ProxySelector.getDefault().select(URI.create(rUrl)).stream()
                .filter(p -> p.type() == Proxy.Type.HTTP && p.address() instanceof java.net.InetSocketAddress)
                .map(p -> (java.net.InetSocketAddress) p.address())
                .map(a -> "http://" + a.getHostString() + ":" + a.getPort())
                .findFirst();
        } catch (IllegalArgumentException e) {
            return Optional.empty();
        }
    }

    static void putIfPresent(Map<String, Object> map, String key, Optional<String> value) {
        value.filter(v -> !v.isBlank()).ifPresent(v -> map.put(key, v));
    }

    @Builder
    @Getter
    @Jacksonized
    public static class Auth {
        @Schema(title = "Username for HTTP basic authentication to the Kestra API", description = "Kestra OSS authenticates API calls with HTTP basic (the server's `kestra.server.basic-auth`).")
        @PluginProperty(secret = true, group = "connection")
        private Property<String> username;

        @Schema(title = "Password for HTTP basic authentication to the Kestra API")
        @PluginProperty(secret = true, group = "connection")
        private Property<String> password;

        @Schema(
            title = "API token (bearer) for the Kestra API: Kestra Enterprise and Cloud only",
            description = "Kestra OSS has no API tokens (a token gets a 401 there): use `username` and `password`."
        )
        @PluginProperty(secret = true, group = "connection")
        private Property<String> apiToken;

        @Schema(title = "Use the URL and credentials from Kestra's configuration (`kestra.tasks.sdk.authentication`) when none are set")
        @Builder.Default
        @PluginProperty(group = "advanced")
        private Property<Boolean> auto = Property.ofValue(Boolean.TRUE);
    }
}
