package io.kestra.plugin.git.backup.internal;

import org.junit.jupiter.api.Test;

import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Method;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The loader's platform detection: the jar's library folder for Linux x86_64/aarch64 on glibc
 * 2.17+, and for anything else one message naming the OS, architecture and libc it saw and the
 * supported platforms, before any library is loaded.
 */
class NativePlatformTest {

    @Test
    void linuxOnGlibc217OrNewerGetsTheLibraryOfItsArchitecture() {
        assertEquals("linux-x86_64", NativeCore.libraryFolder("Linux", "amd64", "glibc 2.17"));
        assertEquals("linux-x86_64", NativeCore.libraryFolder("Linux", "x86_64", "glibc 2.36"));
        assertEquals("linux-aarch64", NativeCore.libraryFolder("Linux", "aarch64", "glibc 2.39"));
        assertEquals("linux-aarch64", NativeCore.libraryFolder("Linux", "arm64", "glibc 3.0"));
        // A glibc whose version could not be read: the loader tries, and maps a refusal to the same message.
        assertEquals("linux-x86_64", NativeCore.libraryFolder("Linux", "amd64", "glibc"));
    }

    @Test
    void anyOtherPlatformFailsWithOneMessageNamingWhatItSaw() {
        List<String[]> unsupported = List.of(
            new String[]{"Mac OS X", "aarch64", "none"},
            new String[]{"Windows 11", "amd64", "none"},
            new String[]{"Linux", "amd64", "musl"},          // Alpine
            new String[]{"Linux", "x86", "glibc 2.36"},      // 32-bit JVM
            new String[]{"Linux", "arm", "glibc 2.36"},
            new String[]{"Linux", "amd64", "glibc 2.12"},    // CentOS 6
            new String[]{"Linux", "aarch64", "glibc 2.16"});
        for (String[] p : unsupported) {
            UnsupportedPlatformException e = assertThrows(UnsupportedPlatformException.class, () -> NativeCore.libraryFolder(p[0], p[1], p[2]));
            assertEquals("the Git backup plugin's native core does not run on this platform: OS `" + p[0] + "`, architecture `" + p[1]
                + "`, libc `" + p[2] + "`; supported: Linux x86_64 (amd64) or aarch64 (arm64) with glibc 2.17 or newer"
                + " (Debian 8+, Ubuntu 14.04+, RHEL/CentOS 7+, Amazon Linux 2+; not musl/Alpine, not 32-bit, not macOS or Windows)."
                + " Run the Kestra worker on a supported platform (e.g. Kestra's Docker image on linux/amd64 or linux/arm64)", e.getMessage());
        }
    }

    @Test
    void theLibcOfThisJvmIsReadAsGetconfNamesIt() throws Exception {
        Process getconf = new ProcessBuilder("getconf", "GNU_LIBC_VERSION").redirectErrorStream(true).start();
        String expected = new String(getconf.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertEquals(0, getconf.waitFor());
        assertEquals(expected, NativeCore.detectLibc());
    }

    /** The jar's own loader, as a task calls it, on a JVM that reports macOS: the one message, no linker error. */
    @Test
    void theJarRefusesASimulatedMacWithTheMessageAndNoLinkerError() throws Exception {
        Path jar = Path.of(System.getProperty("plugin.jar"));
        String osName = System.getProperty("os.name");
        String osArch = System.getProperty("os.arch");
        try (URLClassLoader loader = new URLClassLoader(new URL[]{jar.toUri().toURL()}, ClassLoader.getPlatformClassLoader())) {
            Class<?> sink = loader.loadClass("io.kestra.plugin.git.backup.internal.LogSink");
            Method call = loader.loadClass("io.kestra.plugin.git.backup.internal.NativeCore").getMethod("call", String.class, sink);
            System.setProperty("os.name", "Mac OS X");
            System.setProperty("os.arch", "aarch64");
            InvocationTargetException e = assertThrows(InvocationTargetException.class, () -> call.invoke(null, "{}", null));
            Throwable failure = e.getCause();
            assertEquals("io.kestra.plugin.git.backup.internal.UnsupportedPlatformException", failure.getClass().getName());
            assertTrue(failure.getMessage().startsWith("the Git backup plugin's native core does not run on this platform: OS `Mac OS X`,"
                + " architecture `aarch64`, libc `none`; supported: Linux x86_64 (amd64) or aarch64 (arm64) with glibc 2.17 or newer"), failure.getMessage());
            assertNull(failure.getCause(), "one message, no linker stack trace under it");
        } finally {
            System.setProperty("os.name", osName);
            System.setProperty("os.arch", osArch);
        }
    }
}
