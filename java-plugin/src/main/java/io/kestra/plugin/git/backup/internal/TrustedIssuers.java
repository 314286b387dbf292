package io.kestra.plugin.git.backup.internal;

import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.Base64;

/**
 * The CA certificates the JVM trusts (cacerts or {@code -Djavax.net.ssl.trustStore}), as PEM, so
 * that the native core trusts what plugin-git (JGit on the JVM) trusts. Computed once per JVM and
 * again only when the trust store changes (another {@code javax.net.ssl.trustStore}, or its file
 * rewritten); the JVM's default SSL context is never changed.
 */
public final class TrustedIssuers {
    /** The PEM and the trust store it was read from. */
    private record Read(Store store, String pem) {
    }

    /** Which trust store file the JVM's default trust manager reads, and its state. */
    record Store(String path, String type, long modified, long size) {
        static Store current() {
            String configured = System.getProperty("javax.net.ssl.trustStore", "");
            Path security = Path.of(System.getProperty("java.home"), "lib", "security");
            // The JDK's order: the property, else jssecacerts, else cacerts.
            Path file = !configured.isBlank() ? Path.of(configured)
                : Files.exists(security.resolve("jssecacerts")) ? security.resolve("jssecacerts") : security.resolve("cacerts");
            long modified = file.toFile().lastModified();
            long size = file.toFile().length();
            return new Store(file.toString(), System.getProperty("javax.net.ssl.trustStoreType", ""), modified, size);
        }
    }

    private static volatile Read read;

    private TrustedIssuers() {
    }

    public static String pem() {
        Store store = Store.current();
        Read last = read;
        if (last == null || !last.store.equals(store)) {
            synchronized (TrustedIssuers.class) {
                last = read;
                if (last == null || !last.store.equals(store)) {
                    last = new Read(store, load());
                    read = last;
                }
            }
        }
        return last.pem;
    }

    private static String load() {
        try {
            TrustManagerFactory factory = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            factory.init((KeyStore) null);
            StringBuilder out = new StringBuilder();
            Base64.Encoder encoder = Base64.getMimeEncoder(64, "\n".getBytes());
            for (var manager : factory.getTrustManagers()) {
                if (manager instanceof X509TrustManager x509) {
                    for (X509Certificate cert : x509.getAcceptedIssuers()) {
                        out.append("-----BEGIN CERTIFICATE-----\n")
                            .append(encoder.encodeToString(cert.getEncoded()))
                            .append("\n-----END CERTIFICATE-----\n");
                    }
                }
            }
            return out.toString();
        } catch (Exception e) {
            // Without the JVM's roots the core still trusts the system store and trustedCaPemPath.
            return "";
        }
    }
}
