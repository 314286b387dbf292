package io.kestra.plugin.git.backup.internal;

import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The core names request fields in its messages ({@code `git.url`}, {@code `restore.flows[0]`},
 * docs/request-report.md), as the CLI user writes them; a task's user writes task properties
 * ({@code `url`}, {@code `flows[0]`}). This rewrites the one naming into the other.
 */
public final class FieldNames {
    /** Request fields whose property is not simply the last name. */
    private static final Map<String, String> PROPERTY = Map.of(
        "git.cacheDir", "cacheDirectory",
        "git.config", "gitConfig",
        "kestra.url", "kestraUrl",
        "kestra.auth", "auth",
        "kestra", "kestraUrl",
        "triggerState.gitDirectory", "triggersDirectory"
    );
    private static final Pattern FIELD = Pattern.compile("`(?:(git|kestra|restore|guard|triggerState)\\.([A-Za-z]+)([^`]*)|(kestra))`");

    private FieldNames() {
    }

    public static String asProperties(String message) {
        if (message == null) {
            return null;
        }
        Matcher m = FIELD.matcher(message);
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            String shown = m.group(4) != null
                ? PROPERTY.get(m.group(4))
                : PROPERTY.getOrDefault(m.group(1) + "." + m.group(2), m.group(2)) + m.group(3);
            m.appendReplacement(out, Matcher.quoteReplacement("`" + shown + "`"));
        }
        return m.appendTail(out).toString();
    }
}
