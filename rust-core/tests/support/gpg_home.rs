//! A throw-away GnuPG home: makes OpenPGP keys with the real `gpg` and checks signed commits with
//! `git verify-commit` against it. Its agent is stopped on drop.

use std::path::Path;
use std::process::{Command, Output};

pub struct GpgHome {
    dir: tempfile::TempDir,
}

impl GpgHome {
    pub fn new() -> GpgHome {
        // Short path: the agent's socket path must stay under the kernel's limit.
        let dir = tempfile::Builder::new().prefix("gpg").tempdir_in("/tmp").unwrap();
        // gpg warns about a home others could read.
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        GpgHome { dir }
    }

    fn gpg(&self, passphrase: &str, args: &[&str]) -> Output {
        let out = Command::new("gpg")
            .env("GNUPGHOME", self.dir.path())
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", passphrase])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "gpg {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        out
    }

    /// A key for `uid`: with `signing_subkey`, an ed25519 primary key that only certifies plus an
    /// ed25519 signing subkey (gpg signs with the subkey); else an RSA key whose primary signs.
    /// Returns the armored secret key and the fingerprint of the key that signs.
    pub fn make_key(&self, uid: &str, passphrase: &str, signing_subkey: bool) -> (String, String) {
        if signing_subkey {
            self.gpg(passphrase, &["--quick-gen-key", uid, "ed25519", "cert", "never"]);
            let primary = self.fingerprints(uid)[0].clone();
            self.gpg(passphrase, &["--quick-add-key", &primary, "ed25519", "sign", "never"]);
        } else {
            self.gpg(passphrase, &["--quick-gen-key", uid, "rsa2048", "sign", "never"]);
        }
        let armored = String::from_utf8(self.gpg(passphrase, &["--armor", "--export-secret-keys", uid]).stdout).unwrap();
        let signer = self.fingerprints(uid).last().unwrap().clone();
        (armored, signer)
    }

    /// The armored public key of `uid` (`gpg --armor --export`).
    pub fn export_public(&self, uid: &str) -> String {
        String::from_utf8(self.gpg("", &["--armor", "--export", uid]).stdout).unwrap()
    }

    /// Fingerprints of `uid`'s primary key and subkeys, in that order.
    fn fingerprints(&self, uid: &str) -> Vec<String> {
        let out = self.gpg("", &["--with-colons", "--list-keys", uid]);
        String::from_utf8(out.stdout).unwrap().lines().filter_map(|l| l.strip_prefix("fpr:")).map(|l| l.trim_matches(':').to_string()).collect()
    }

    /// `git verify-commit <rev>` with this home's keys: (passed, what git and gpg said, the
    /// fingerprint of the key that made the signature).
    pub fn verify_commit(&self, repo: &Path, rev: &str) -> (bool, String, String) {
        let git = |args: &[&str]| Command::new("git").env("GNUPGHOME", self.dir.path()).arg("-C").arg(repo).args(args).output().unwrap();
        let out = git(&["verify-commit", rev]);
        let signer = git(&["log", "-1", "--format=%GF", rev]);
        (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string(), String::from_utf8_lossy(&signer.stdout).trim().to_string())
    }
}

impl Drop for GpgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf").env("GNUPGHOME", self.dir.path()).args(["--kill", "gpg-agent"]).output();
    }
}
