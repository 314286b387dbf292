package io.kestra.plugin.git.backup;

import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Loads the plugin jar's native core the way Kestra does (a class loader that sees only the jar)
 * and makes two native calls: the version, and a dry run of one namespace file against a local
 * bare repository. Only JDK classes, Java 17: tests/run-all.sh runs it in an arm64 JVM under qemu.
 *
 *     java -cp <test classes> io.kestra.plugin.git.backup.NativeCallProbe <plugin jar> <empty bare repo>
 */
public final class NativeCallProbe {
    private NativeCallProbe() {
    }

    public static void main(String[] args) throws Exception {
        Path jar = Path.of(args[0]);
        Path repo = Path.of(args[1]).toAbsolutePath();
        Path file = Files.writeString(Files.createTempFile("probe", ".py"), "print('hello')\n");
        try (URLClassLoader loader = new URLClassLoader(new URL[]{jar.toUri().toURL()}, ClassLoader.getPlatformClassLoader())) {
            Class<?> core = loader.loadClass("io.kestra.plugin.git.backup.internal.NativeCore");
            Class<?> sinkType = loader.loadClass("io.kestra.plugin.git.backup.internal.LogSink");
            Object sink = Proxy.newProxyInstance(loader, new Class<?>[]{sinkType}, (proxy, method, a) -> null);
            Method call = core.getMethod("call", String.class, sinkType);
            String request = "{\"git\":{\"url\":\"" + repo.toUri() + "\",\"branch\":\"main\"},\"dryRun\":true,\"sources\":[{\"kind\":\"namespaceFiles\","
                + "\"namespaces\":{\"one\":{\"namespace\":\"ansible\"}},\"gitDirectory\":\"scripts/ansible\","
                + "\"providedFiles\":[{\"path\":\"lib/util.py\",\"localPath\":\"" + file + "\"}]}]}";
            System.out.println("os.arch=" + System.getProperty("os.arch") + " java.version=" + System.getProperty("java.version"));
            System.out.println("version=" + core.getMethod("loadedVersion").invoke(null));
            String answer = (String) call.invoke(null, request, sink);
            System.out.println("dry run=" + answer);
            if (!answer.startsWith("{\"report\"") || !answer.contains("\"scripts/ansible/lib/util.py\"")) {
                System.exit(1);
            }
        } finally {
            Files.delete(file);
        }
    }
}
