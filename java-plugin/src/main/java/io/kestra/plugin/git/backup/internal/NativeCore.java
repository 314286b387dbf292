package io.kestra.plugin.git.backup.internal;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * The native core: loads {@code libkestra_git_backup.so} once per class loader, thread-safely, and
 * exposes its two native methods. The library comes from {@code /native/linux-x86_64/} or
 * {@code /native/linux-aarch64/} in the jar, picked by {@code os.arch} after checking the libc;
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
            String osName = System.getProperty("os.name", "");
            String osArch = System.getProperty("os.arch", "");
            String libc = detectLibc();
            String override = System.getProperty(OVERRIDE_PROPERTY);
            Path library = override != null && !override.isBlank()
                ? Path.of(override).toAbsolutePath() : extract(libraryFolder(osName, osArch, libc));
            try {
                System.load(library.toString());
            } catch (UnsatisfiedLinkError e) {
                throw new UnsupportedPlatformException(osName, osArch, libc, e.getMessage());
            }
            String version = version();
            if (version == null || version.isBlank()) {
                throw new IllegalStateException("the native core answered no version; the library is broken");
            }
            loaded = true;
        }
    }

    /** The platforms the jar carries a library for, as the error message names them. */
    static final String SUPPORTED = "Linux x86_64 (amd64) or aarch64 (arm64) with glibc 2.17 or newer"
        + " (Debian 8+, Ubuntu 14.04+, RHEL/CentOS 7+, Amazon Linux 2+; not musl/Alpine, not 32-bit, not macOS or Windows)";
    private static final int[] GLIBC_FLOOR = {2, 17};
    /** libc's file name in {@code /proc/self/maps}: {@code libc.so.6}, or {@code libc-2.17.so} before glibc 2.34. */
    private static final Pattern GLIBC_FILE = Pattern.compile(".*/libc(\\.so\\.6|-[0-9.]+\\.so)$");
    private static final Pattern GLIBC_BANNER = Pattern.compile("GNU C Library [^\\n]*? version (\\d+)\\.(\\d+)");
    private static final Pattern GLIBC_NAME = Pattern.compile("glibc (\\d+)\\.(\\d+)");

    /**
     * The jar's library folder for a platform ({@code linux-x86_64} or {@code linux-aarch64}), from
     * {@code os.name}, {@code os.arch} and the libc seen ({@link #detectLibc()}); for any other
     * platform, one {@link UnsupportedPlatformException} naming what was seen and what is supported.
     */
    static String libraryFolder(String osName, String osArch, String libc) {
        String arch = switch (osArch.toLowerCase(Locale.ROOT)) {
            case "amd64", "x86_64" -> "x86_64";
            case "aarch64", "arm64" -> "aarch64";
            default -> null;
        };
        boolean linux = osName.toLowerCase(Locale.ROOT).startsWith("linux");
        if (!linux || arch == null || !glibcAtLeastFloor(libc)) {
            throw new UnsupportedPlatformException(osName, osArch, libc);
        }
        return "linux-" + arch;
    }

    /** Whether a libc as {@link #detectLibc()} names it is glibc 2.17+; when unsure, yes (the loader tries). */
    static boolean glibcAtLeastFloor(String libc) {
        Matcher version = GLIBC_NAME.matcher(libc);
        if (!version.matches()) {
            return libc.equals("glibc") || libc.equals("unknown"); // cannot tell: let the loader try
        }
        int major = Integer.parseInt(version.group(1));
        int minor = Integer.parseInt(version.group(2));
        return major > GLIBC_FLOOR[0] || (major == GLIBC_FLOOR[0] && minor >= GLIBC_FLOOR[1]);
    }

    /**
     * The C library this JVM runs on, read from the libraries mapped into the process: {@code musl}
     * (Alpine), {@code glibc X.Y} (from the banner inside libc), {@code glibc} when its version
     * cannot be read, {@code none} off Linux, {@code unknown} when nothing can be read.
     */
    static String detectLibc() {
        if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).startsWith("linux")) {
            return "none";
        }
        List<String> mapped;
        try (Stream<String> lines = Files.lines(Path.of("/proc/self/maps"))) {
            mapped = lines.map(line -> line.substring(line.lastIndexOf(' ') + 1)).distinct().toList();
        } catch (IOException | UncheckedIOException e) {
            return "unknown";
        }
        if (mapped.stream().anyMatch(file -> file.contains("musl"))) {
            return "musl";
        }
        return mapped.stream().filter(file -> GLIBC_FILE.matcher(file).matches()).findFirst()
            .map(NativeCore::glibcVersion).orElse("unknown");
    }

    private static String glibcVersion(String libcFile) {
        try {
            Matcher banner = GLIBC_BANNER.matcher(new String(Files.readAllBytes(Path.of(libcFile)), StandardCharsets.ISO_8859_1));
            return banner.find() ? "glibc " + banner.group(1) + "." + banner.group(2) : "glibc";
        } catch (IOException e) {
            return "glibc";
        }
    }

    private static Path extract(String folder) {
        String resource = "/native/" + folder + "/" + LIBRARY;
        try (InputStream in = NativeCore.class.getResourceAsStream(resource)) {
            if (in == null) {
                throw new IllegalStateException("the plugin jar has no " + resource + "; rebuild it with `gradle :java-plugin:jar`");
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
