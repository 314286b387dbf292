package io.kestra.plugin.git.backup.internal;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Locale;

/**
 * The native core: loads {@code libkestra_git_backup.so} once per class loader, thread-safely, and
 * exposes its two native methods. The library comes from {@code /native/<os>-<arch>/} in the jar,
 * copied to a fresh temp directory (so each plugin class loader gets its own copy), or from the
 * path in the system property {@value #OVERRIDE_PROPERTY} during development.
 */
public final class NativeCore {
    public static final String OVERRIDE_PROPERTY = "kestra.gitbackup.native.path";
    static final String LIBRARY = "libkestra_git_backup.so";

    private static volatile boolean loaded;

    private NativeCore() {
    }

    /** The core's version. */
    static native String version();

    /** Runs one backup: request JSON in, {@code {"report":…}} or {@code {"error":…}} out. */
    static native String run(String requestJson, LogSink sink);

    /** Loads the library if needed and runs one request. */
    public static String call(String requestJson, LogSink sink) {
        ensureLoaded();
        return run(requestJson, sink);
    }

    public static String loadedVersion() {
        ensureLoaded();
        return version();
    }

    static void ensureLoaded() {
        if (loaded) {
            return;
        }
        synchronized (NativeCore.class) {
            if (loaded) {
                return;
            }
            String override = System.getProperty(OVERRIDE_PROPERTY);
            System.load(override != null && !override.isBlank() ? Path.of(override).toAbsolutePath().toString() : extract().toString());
            String version = version();
            if (version == null || version.isBlank()) {
                throw new IllegalStateException("the native core answered no version; the library is broken");
            }
            loaded = true;
        }
    }

    /** {@code linux-x86_64}, {@code linux-aarch64}, ... */
    static String platform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        String osName = os.contains("linux") ? "linux" : os.contains("mac") ? "macos" : os.contains("win") ? "windows" : os;
        String archName = switch (arch) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> arch;
        };
        return osName + "-" + archName;
    }

    private static Path extract() {
        String resource = "/native/" + platform() + "/" + LIBRARY;
        try (InputStream in = NativeCore.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new UnsupportedOperationException("the Git backup plugin has no native library for platform `" + platform()
                    + "` (looked for " + resource + " in the jar); supported: linux-x86_64 with glibc 2.34+");
            }
            Path dir = Files.createTempDirectory("kestra-git-backup-");
            // Deleted at exit in reverse order of registration: the library first, then its folder.
            dir.toFile().deleteOnExit();
            Path target = dir.resolve(LIBRARY);
            target.toFile().deleteOnExit();
            Files.copy(in, target, StandardCopyOption.REPLACE_EXISTING);
            return target;
        } catch (IOException e) {
            throw new IllegalStateException("cannot extract the native library " + resource + ": " + e.getMessage(), e);
        }
    }
}
