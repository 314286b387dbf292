package io.kestra.plugin.git.backup;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertTrue;

/** The real Git server of `tests/support/git-server.sh` (HTTPS + SSH on 127.0.0.1) for Java tests. */
final class TestGitServer implements AutoCloseable {
    private final Path dir;
    private final Map<String, String> env = new HashMap<>();

    /** Starts the servers; {@code environment} can fix the credentials (GIT_SERVER_USER/TOKEN). */
    TestGitServer(Map<String, String> environment, String... repositories) throws Exception {
        dir = Files.createTempDirectory("java-git-server").resolve("srv");
        run(environment, List.of("bash", script(), "start", dir.toString()));
        for (String repo : repositories) {
            run(Map.of(), List.of("bash", script(), "repo", dir.toString(), repo));
        }
        for (String line : Files.readAllLines(dir.resolve("server.env"))) {
            env.put(line.substring(0, line.indexOf('=')), line.substring(line.indexOf('=') + 1));
        }
    }

    String get(String key) {
        return env.get(key);
    }

    String httpsUrl(String repo) {
        return "https://127.0.0.1:" + get("HTTPS_PORT") + "/git/" + repo + ".git";
    }

    /** `git -C <bare repo> args...` on the server side; returns trimmed output. */
    String git(String repo, String... args) throws Exception {
        List<String> command = new ArrayList<>(List.of("git", "-c", "core.quotepath=off", "-C", get("REPOS") + "/" + repo + ".git"));
        command.addAll(List.of(args));
        return run(Map.of(), command).trim();
    }

    /** A scratch file of the test, removed with the server's files. */
    Path scratchFile(String prefix) throws Exception {
        return Files.createTempFile(dir.getParent(), prefix, "");
    }

    /** Commits one file onto `main` of a repository, as someone editing the backup by hand would. */
    void commitFile(String repo, String path, String content) throws Exception {
        commitFiles(repo, Map.of(path, content));
    }

    /** Commits files (path → content) onto `main` of a repository in one commit, as an older release or a person would. */
    void commitFiles(String repo, Map<String, String> files) throws Exception {
        Path work = Files.createTempDirectory(dir.getParent(), "edit");
        String bare = get("REPOS") + "/" + repo + ".git";
        run(Map.of(), List.of("git", "clone", "-q", "-b", "main", bare, work.toString()));
        for (Map.Entry<String, String> file : files.entrySet()) {
            Files.createDirectories(work.resolve(file.getKey()).getParent());
            Files.writeString(work.resolve(file.getKey()), file.getValue());
        }
        run(Map.of(), List.of("git", "-C", work.toString(), "add", "."));
        run(Map.of(), List.of("git", "-C", work.toString(), "-c", "user.name=editor", "-c", "user.email=editor@example.com", "commit", "-qm", "hand edit"));
        run(Map.of(), List.of("git", "-C", work.toString(), "push", "-q", "origin", "main"));
    }

    /** Stops the servers and removes their files (repositories, keys, logs). */
    @Override
    public void close() throws Exception {
        run(Map.of(), List.of("bash", script(), "stop", dir.toString()));
        try (Stream<Path> files = Files.walk(dir.getParent())) {
            files.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
        }
    }

    static String run(Map<String, String> environment, List<String> command) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(command).redirectErrorStream(true);
        pb.environment().putAll(environment);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS) && p.exitValue() == 0, command + ": " + out);
        return out;
    }

    private static String script() {
        return Path.of(System.getProperty("user.dir")).resolve("../tests/support/git-server.sh").normalize().toString();
    }
}
