package io.kestra.plugin.git.backup.internal;

import io.kestra.core.runners.RunContext;

import java.io.IOException;
import java.io.Writer;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.List;

/**
 * The files the tasks put in Kestra's internal storage: text ION, one struct per line, sorted by
 * file, every value a string. plugin-git's diff file,
 * {@code {changes:"1",file:"flows/a.yml",deletions:"-0",additions:"+0"}}, and the restore tasks'
 * drift file, {@code {file:"flows/a.yml",state:"missingInKestra"}}.
 */
public final class IonFile {
    private IonFile() {
    }

    public static void diff(List<CoreReport.DiffRow> rows, Path target) throws IOException {
        write(rows.stream().sorted(Comparator.comparing(r -> r.file)).map(IonFile::line).toList(), target);
    }

    public static void drift(List<CoreReport.DriftRow> rows, Path target) throws IOException {
        write(rows.stream().sorted(Comparator.comparing(r -> r.file)).map(r -> "{file:" + ion(r.file) + ",state:" + ion(r.state) + "}").toList(), target);
    }

    /** Writes a file with `fill` and puts it in the task's internal storage. */
    public static URI upload(RunContext runContext, IonWriter fill) throws Exception {
        Path file = Files.createTempFile("git-backup-", ".ion");
        try {
            fill.write(file);
            return runContext.storage().putFile(file.toFile());
        } finally {
            Files.deleteIfExists(file);
        }
    }

    @FunctionalInterface
    public interface IonWriter {
        void write(Path target) throws IOException;
    }

    private static void write(List<String> lines, Path target) throws IOException {
        try (Writer w = Files.newBufferedWriter(target, StandardCharsets.UTF_8)) {
            for (String line : lines) {
                w.write(line);
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
