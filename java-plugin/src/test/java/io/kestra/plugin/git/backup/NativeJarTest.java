package io.kestra.plugin.git.backup;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The built plugin jar in a JVM: its own native library loads from the jar (through a class loader
 * that sees only the jar, as Kestra's plugin loader does), pushes to real repositories, maps
 * errors, and survives bad input and many calls.
 */
class NativeJarTest {
    private static final ObjectMapper JSON = new ObjectMapper();
    private static URLClassLoader loader;
    private static Method call;
    private static Class<?> sinkType;
    private static TestGitServer server;

    @BeforeAll
    static void loadJarAndStartGitServer() throws Exception {
        Path jar = Path.of(System.getProperty("plugin.jar"));
        assertTrue(Files.exists(jar), "build the jar first: " + jar);
        loader = new URLClassLoader(new URL[]{jar.toUri().toURL()}, ClassLoader.getPlatformClassLoader());
        Class<?> nativeCore = loader.loadClass("io.kestra.plugin.git.backup.internal.NativeCore");
        assertSame(loader, nativeCore.getClassLoader(), "NativeCore must come from the jar");
        sinkType = loader.loadClass("io.kestra.plugin.git.backup.internal.LogSink");
        call = nativeCore.getMethod("call", String.class, sinkType);
        server = new TestGitServer(Map.of(), "jni", "trust");
    }

    @AfterAll
    static void stop() throws Exception {
        if (server != null) {
            server.close();
        }
    }

    private static String sh(List<String> command) throws Exception {
        return TestGitServer.run(Map.of(), command);
    }

    /** Calls the core through the jar's class, collecting log lines. */
    private static JsonNode run(String request, List<String> logs) throws Exception {
        Object sink = Proxy.newProxyInstance(loader, new Class<?>[]{sinkType}, (proxy, method, args) -> {
            if (method.getName().equals("log")) {
                logs.add(args[0] + " " + args[1]);
            }
            return null;
        });
        return JSON.readTree((String) call.invoke(null, request, sink));
    }

    private static String fileRequest(Path repo, Path file, boolean dryRun, String url) throws Exception {
        return JSON.writeValueAsString(Map.of(
            "git", Map.of("url", url != null ? url : repo.toUri().toString(), "branch", "main", "commitMessage", "Add files from ansible namespace"),
            "dryRun", dryRun,
            "sources", List.of(Map.of(
                "kind", "namespaceFiles",
                "namespaces", Map.of("one", Map.of("namespace", "ansible")),
                "gitDirectory", "scripts/ansible",
                "providedFiles", List.of(Map.of("path", "lib/util.py", "localPath", file.toString()))
            ))));
    }

    private static String git(Path repo, String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of("git", "-C", repo.toString()));
        cmd.addAll(List.of(args));
        return sh(cmd).trim();
    }

    @Test
    void dryRunThenRealPushToALocalRepository(@TempDir Path dir) throws Exception {
        Path repo = dir.resolve("remote.git");
        sh(List.of("git", "init", "-q", "--bare", "-b", "main", repo.toString()));
        Path file = Files.writeString(dir.resolve("util.py"), "print('hello')\n");
        List<String> logs = new ArrayList<>();

        JsonNode dry = run(fileRequest(repo, file, true, null), logs).get("report");
        assertTrue(dry.get("commitId").isNull());
        assertEquals("scripts/ansible/lib/util.py", dry.at("/diff/0/file").asText());
        assertEquals(1, dry.at("/diff/0/additions").asInt());
        assertEquals("", git(repo, "for-each-ref"), "a dry run must push nothing");
        assertTrue(logs.stream().anyMatch(l -> l.startsWith("INFO Dry run")), "log events arrive in Java: " + logs);

        JsonNode real = run(fileRequest(repo, file, false, null), logs).get("report");
        assertEquals(git(repo, "rev-parse", "main"), real.get("commitId").asText());
        assertEquals("print('hello')", git(repo, "show", "main:scripts/ansible/lib/util.py"));
    }

    @Test
    void wrongTokenGivesAuthErrorWithoutTheTokenAndABadUrlAClearOne(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("util.py"), "x\n");
        String url = server.httpsUrl("jni");
        Map<String, Object> request = JSON.readValue(fileRequest(null, file, false, url), Map.class);
        @SuppressWarnings("unchecked") Map<String, Object> git = new java.util.HashMap<>((Map<String, Object>) request.get("git"));
        git.put("username", server.get("GIT_USER"));
        git.put("password", "definitely-wrong-token-4711");
        git.put("trustedCaPemPath", server.get("CA_PEM"));
        request.put("git", git);
        List<String> logs = new ArrayList<>();
        JsonNode answer = run(JSON.writeValueAsString(request), logs);
        assertEquals("Auth", answer.at("/error/code").asText(), answer.toString());
        assertTrue(answer.at("/error/message").asText().contains("tried HTTP basic as `" + server.get("GIT_USER") + "`"));
        assertFalse(answer.toString().contains("definitely-wrong-token-4711"));
        assertFalse(String.join("\n", logs).contains("definitely-wrong-token-4711"));

        git.put("url", "ftp://example.invalid/repo.git");
        git.put("password", server.get("GIT_TOKEN"));
        JsonNode bad = run(JSON.writeValueAsString(request), logs);
        assertEquals("InvalidConfig", bad.at("/error/code").asText(), bad.toString());
        assertTrue(bad.at("/error/message").asText().startsWith("`git.url`: unsupported scheme `ftp`; use https://"), bad.toString());
        assertFalse(bad.toString().contains(server.get("GIT_TOKEN")));
    }

    /**
     * What the core keeps across calls of one JVM (parsed CA files, libgit2's TLS context) never
     * carries one task's {@code trustedCaPemPath} into another: against each of two servers with
     * CAs of their own, the task pinning the other CA fails with the TLS error before and after
     * the task pinning the right one succeeded, in both orders.
     */
    @Test
    void twoTasksInOneJvmEachTrustOnlyTheirOwnCaFile(@TempDir Path dir) throws Exception {
        Path file = Files.writeString(dir.resolve("util.py"), "print('trust')\n");
        try (TestGitServer other = new TestGitServer(Map.of(), "trust")) {
            for (TestGitServer[] pair : new TestGitServer[][] {{server, other}, {other, server}}) {
                TestGitServer target = pair[0];
                String own = target.get("CA_PEM");
                String foreign = pair[1].get("CA_PEM");
                JsonNode wrong = run(pinned(target, foreign, file), new ArrayList<>());
                assertEquals("Tls", wrong.at("/error/code").asText(), wrong.toString());
                assertTrue(wrong.at("/error/message").asText().contains("trustedCaPemPath"), wrong.toString());
                JsonNode right = run(pinned(target, own, file), new ArrayList<>());
                assertEquals(target.git("trust", "rev-parse", "main"), right.at("/report/commitId").asText(), right.toString());
                JsonNode again = run(pinned(target, foreign, file), new ArrayList<>());
                assertEquals("Tls", again.at("/error/code").asText(), "after the task with the right CA succeeded: " + again);
            }
        }
    }

    /** A PushNamespaceFiles-like request to `target`'s repository `trust`, trusting only `caPem` beside the system's CAs. */
    private static String pinned(TestGitServer target, String caPem, Path file) throws Exception {
        Map<String, Object> request = JSON.readValue(fileRequest(null, file, false, target.httpsUrl("trust")), Map.class);
        @SuppressWarnings("unchecked") Map<String, Object> git = new java.util.HashMap<>((Map<String, Object>) request.get("git"));
        git.put("username", target.get("GIT_USER"));
        git.put("password", target.get("GIT_TOKEN"));
        git.put("trustedCaPemPath", caPem);
        request.put("git", git);
        return JSON.writeValueAsString(request);
    }

    @Test
    void badInputNeverCrashesTheJvm() throws Exception {
        List<String> logs = new ArrayList<>();
        String huge = "x".repeat(20_000_000);
        for (String input : List.of("", "{", "null", "[]", "{\"git\":{}}", "{\"git\":{\"url\":\"\"},\"sources\":[]}",
            "{\"git\":{\"url\":\"" + huge + "\"},\"sources\":[]}", "\u0000\uD83D\uDE00", "{\"sources\":" + "[".repeat(5000))) {
            JsonNode answer = run(input, logs);
            assertEquals("InvalidConfig", answer.at("/error/code").asText(), answer.toString().substring(0, Math.min(300, answer.toString().length())));
        }
    }

    @Test
    void aThousandCallsDoNotGrowMemory(@TempDir Path dir) throws Exception {
        Path repo = dir.resolve("remote.git");
        sh(List.of("git", "init", "-q", "--bare", "-b", "main", repo.toString()));
        Path file = Files.writeString(dir.resolve("util.py"), "print('hello')\n");
        String dryRun = fileRequest(repo, file, true, null);
        String invalid = "{\"git\":{\"url\":\"\"},\"sources\":[]}";
        List<String> logs = new ArrayList<>();
        for (int i = 0; i < 50; i++) { // warm up
            run(i % 10 == 0 ? dryRun : invalid, logs);
        }
        long before = rssKb();
        for (int i = 0; i < 1000; i++) {
            logs.clear();
            JsonNode answer = run(i % 10 == 0 ? dryRun : invalid, logs);
            assertNotNull(answer.get(i % 10 == 0 ? "report" : "error"));
        }
        long after = rssKb();
        System.out.printf("RSS before 1000 calls: %d KiB, after: %d KiB, growth: %d KiB%n", before, after, after - before);
        assertTrue(after - before < 64 * 1024, "RSS grew by " + (after - before) + " KiB");
    }

    private static long rssKb() throws IOException {
        System.gc();
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("\\D", ""));
            }
        }
        throw new IllegalStateException("no VmRSS");
    }
}
