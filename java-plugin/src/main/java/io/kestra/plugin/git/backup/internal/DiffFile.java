package io.kestra.plugin.git.backup.internal;

import java.io.IOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;

/**
 * plugin-git's diff file: text ION, one struct per line, sorted by file, every value a string:
 * {@code {changes:"1",file:"flows/a.yml",deletions:"-0",additions:"+0"}}.
 */
public final class DiffFile {
    private DiffFile() {
    }

    public static void write(List<CoreReport.DiffRow> rows, Path target) throws IOException {
        try (Writer w = Files.newBufferedWriter(target, StandardCharsets.UTF_8)) {
            for (CoreReport.DiffRow row : rows.stream().sorted(Comparator.comparing(r -> r.file)).toList()) {
                w.write(line(row));
                w.write('\n');
            }
        }
    }

    static String line(CoreReport.DiffRow row) {
        return "{changes:" + ion(Long.toString(row.changes))
            + ",file:" + ion(row.file)
            + ",deletions:" + ion("-" + row.deletions)
            + ",additions:" + ion("+" + row.additions) + "}";
    }

    /** An ION string literal: quotes, backslashes and control characters escaped. */
    static String ion(String s) {
        StringBuilder out = new StringBuilder("\"");
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                case '\r' -> out.append("\\r");
                case '\t' -> out.append("\\t");
                default -> {
                    if (c < 0x20) {
                        out.append(String.format("\\x%02x", (int) c));
                    } else {
                        out.append(c);
                    }
                }
            }
        }
        return out.append('"').toString();
    }
}
