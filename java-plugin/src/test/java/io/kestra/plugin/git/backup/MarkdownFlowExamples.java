package io.kestra.plugin.git.backup;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;

/**
 * The flow examples of README.md and docs/**.md: every ```yaml (or ```yml) block with a top-level `tasks:` key
 * (other YAML blocks, such as the CLI's requests, are not flows). An example written for Kestra 1.x
 * only (ForEach, pluginDefaults) carries, on the line just before its fence, the HTML comment
 * `<!-- example for Kestra 1.x only: <reason> -->`, invisible on GitHub.
 */
final class MarkdownFlowExamples {
    static final String KESTRA_1_ONLY = "<!-- example for Kestra 1.x only:";

    /** One example: where it is (`docs/migration.md:42`), its source, and whether it is marked for Kestra 1.x only. */
    record Example(String where, String source, boolean kestra1Only) {
    }

    private MarkdownFlowExamples() {
    }

    static List<Example> inReadmeAndDocs() throws IOException {
        Path root = repositoryRoot();
        List<Path> pages = new ArrayList<>();
        pages.add(root.resolve("README.md"));
        try (Stream<Path> docs = Files.walk(root.resolve("docs"))) {
            docs.filter(p -> p.toString().endsWith(".md")).sorted().forEach(pages::add);
        }
        List<Example> examples = new ArrayList<>();
        for (Path page : pages) {
            examples.addAll(in(root.relativize(page).toString(), Files.readAllLines(page, StandardCharsets.UTF_8)));
        }
        return examples;
    }

    static List<Example> in(String file, List<String> lines) {
        List<Example> examples = new ArrayList<>();
        for (int i = 0; i < lines.size(); i++) {
            String fence = lines.get(i).strip();
            if (!fence.equals("```yaml") && !fence.equals("```yml")) {
                continue;
            }
            int start = i + 1;
            int end = start;
            while (end < lines.size() && !lines.get(end).strip().startsWith("```")) {
                end++;
            }
            List<String> block = lines.subList(start, end);
            if (block.stream().anyMatch(l -> l.startsWith("tasks:"))) {
                boolean kestra1Only = i > 0 && lines.get(i - 1).strip().startsWith(KESTRA_1_ONLY);
                examples.add(new Example(file + ":" + start, String.join("\n", block) + "\n", kestra1Only));
            }
            i = end;
        }
        return examples;
    }

    /** The directory holding README.md and docs/, from the working directory up (Gradle runs tests in java-plugin/). */
    static Path repositoryRoot() {
        for (Path dir = Path.of("").toAbsolutePath(); dir != null; dir = dir.getParent()) {
            if (Files.isRegularFile(dir.resolve("README.md")) && Files.isDirectory(dir.resolve("docs"))) {
                return dir;
            }
        }
        throw new IllegalStateException("no README.md with a docs/ folder above " + Path.of("").toAbsolutePath());
    }
}
