package io.kestra.plugin.git.backup.internal;

import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;
import java.security.KeyStore;
import java.security.cert.X509Certificate;
import java.util.Base64;

/**
 * The CA certificates the JVM trusts (cacerts or {@code -Djavax.net.ssl.trustStore}), as PEM, so
 * that the native core trusts what plugin-git (JGit on the JVM) trusts. Read once per JVM; the
 * JVM's default SSL context is never changed.
 */
public final class TrustedIssuers {
    private static volatile String pem;

    private TrustedIssuers() {
    }

    public static String pem() {
        if (pem == null) {
            synchronized (TrustedIssuers.class) {
                if (pem == null) {
                    pem = load();
                }
            }
        }
        return pem;
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
