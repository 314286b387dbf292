package io.kestra.plugin.git.backup;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.jar.Attributes;
import java.util.jar.JarEntry;
import java.util.jar.JarFile;

import static org.junit.jupiter.api.Assertions.*;

/** The built plugin jar is what Kestra's plugin loader expects: manifest, registrations, icons, the native libraries of both architectures, no Kestra classes. */
class PluginJarContentsTest {
    private static final List<String> TASKS = List.of("BackupInstance", "PushFlows", "PushNamespaceFiles", "RestoreDrill", "RestoreInstance");

    @Test
    void manifestRegistrationsIconsAndNativeLibrary() throws IOException {
        try (JarFile jar = new JarFile(System.getProperty("plugin.jar"))) {
            Attributes manifest = jar.getManifest().getMainAttributes();
            for (String attribute : List.of("X-Kestra-Name", "X-Kestra-Title", "X-Kestra-Group", "X-Kestra-Description", "X-Kestra-Version")) {
                assertFalse(manifest.getValue(attribute) == null || manifest.getValue(attribute).isBlank(), attribute + " missing from the manifest");
            }
            assertEquals("io.kestra.plugin.git.backup", manifest.getValue("X-Kestra-Group"));

            String services;
            try (InputStream in = jar.getInputStream(jar.getEntry("META-INF/services/io.kestra.core.models.Plugin"))) {
                services = new String(in.readAllBytes(), StandardCharsets.UTF_8);
            }
            assertEquals(TASKS.stream().map(t -> "io.kestra.plugin.git.backup." + t).toList(), services.lines().toList());
            for (String task : TASKS) {
                assertNotNull(jar.getEntry("io/kestra/plugin/git/backup/" + task + ".class"), task + " class");
                assertNotNull(jar.getEntry("icons/io.kestra.plugin.git.backup." + task + ".svg"), task + " icon");
            }
            assertNotNull(jar.getEntry("icons/io.kestra.plugin.git.backup.svg"), "plugin group icon");
            // One library per architecture, each an ELF of that machine (e_machine at byte 18: 62 x86-64, 183 AArch64).
            assertEquals(List.of("native/linux-aarch64/libkestra_git_backup.so", "native/linux-x86_64/libkestra_git_backup.so"),
                jar.stream().map(JarEntry::getName).filter(n -> n.startsWith("native/") && !n.endsWith("/")).sorted().toList());
            for (Map.Entry<String, Integer> arch : Map.of("x86_64", 62, "aarch64", 183).entrySet()) {
                JarEntry library = jar.getJarEntry("native/linux-" + arch.getKey() + "/libkestra_git_backup.so");
                assertTrue(library.getSize() > 1_000_000, "the native core is packed for " + arch.getKey());
                try (InputStream in = jar.getInputStream(library)) {
                    byte[] header = in.readNBytes(20);
                    assertEquals(arch.getValue(), (header[18] & 0xff) | (header[19] & 0xff) << 8, "ELF machine of " + library.getName());
                }
            }
            assertTrue(jar.stream().noneMatch(e -> e.getName().startsWith("io/kestra/core/")), "no Kestra core classes bundled");
        }
    }
}
