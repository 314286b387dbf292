//! Checking commit signatures against the public keys a user trusts (`restore.verifyKeys`): the
//! signature in a commit's `gpgsig` header is verified over the commit's signed content (the
//! object without that header, as `git verify-commit` does), never taken on its presence. Two
//! kinds of key, told apart by their text, as `signing` makes signatures:
//! - an SSH public key (`ssh-ed25519 …`, `ssh-rsa …`, `ecdsa-sha2-…`): an SSH signature (SSHSIG)
//!   in the `git` namespace;
//! - an armored OpenPGP public key: a detached OpenPGP signature by its primary key or a subkey.

use super::{git_error, Workspace};
use crate::error::CoreError;
use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey};
use pgp::types::KeyDetails;
use ssh_key::{HashAlg, PublicKey, SshSig};

/// Git signs commits and tags in the `git` namespace.
const NAMESPACE: &str = "git";
const OPENPGP: &str = "-----BEGIN PGP PUBLIC KEY BLOCK-----";
const SSH_SIGNATURE: &str = "-----BEGIN SSH SIGNATURE-----";
const PGP_SIGNATURE: &str = "-----BEGIN PGP SIGNATURE-----";

/// What a commit's signature says against the trusted keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signed {
    /// A valid signature by the key described (`SSH key SHA256:…`, `OpenPGP key <fingerprint>`).
    By(String),
    /// No `gpgsig` header.
    Unsigned,
    /// A signature, but not a valid one by any trusted key: why, in words.
    NotTrusted(String),
}

/// The trusted public keys.
pub struct VerifyKeys {
    ssh: Vec<PublicKey>,
    pgp: Vec<SignedPublicKey>,
}

impl VerifyKeys {
    /// Reads every key of `keys` (field `field`, for errors); an unreadable one is an error naming
    /// its index, never skipped.
    pub fn load(field: &str, keys: &[String]) -> Result<Self, CoreError> {
        let mut out = VerifyKeys { ssh: Vec::new(), pgp: Vec::new() };
        for (i, key) in keys.iter().enumerate() {
            let text = key.trim();
            if text.starts_with(OPENPGP) {
                let (key, _) = SignedPublicKey::from_string(text).map_err(|e| CoreError::invalid(&format!("{field}[{i}]"), format!("cannot be read as an armored OpenPGP public key: {e}")))?;
                out.pgp.push(key);
            } else if text.starts_with("ssh-") || text.starts_with("ecdsa-") || text.starts_with("sk-") {
                let key = PublicKey::from_openssh(text).map_err(|e| CoreError::invalid(&format!("{field}[{i}]"), format!("cannot be read as an SSH public key: {e}")))?;
                out.ssh.push(key);
            } else {
                return Err(CoreError::invalid(
                    &format!("{field}[{i}]"),
                    format!(
                        "is neither an SSH public key (`ssh-ed25519 AAAA…`, as in a `.pub` file) nor an armored OpenPGP public key (`{OPENPGP}`, from `gpg --armor --export <id>`)"
                    ),
                ));
            }
        }
        Ok(out)
    }

    pub fn is_empty(&self) -> bool {
        self.ssh.is_empty() && self.pgp.is_empty()
    }

    /// The signature of `commit` checked against these keys.
    pub fn check(&self, ws: &Workspace, commit: git2::Oid) -> Result<Signed, CoreError> {
        let (signature, content) = match ws.repo.extract_signature(&commit, None) {
            Ok(parts) => parts,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(Signed::Unsigned),
            Err(e) => return Err(git_error("cannot read a commit's signature", &e)),
        };
        let signature = String::from_utf8_lossy(&signature).trim().to_string();
        Ok(self.verify(&signature, &content))
    }

    fn verify(&self, signature: &str, content: &[u8]) -> Signed {
        if signature.starts_with(SSH_SIGNATURE) {
            let Ok(sig) = SshSig::from_pem(signature) else { return Signed::NotTrusted("an SSH signature that cannot be read".into()) };
            if sig.namespace() != NAMESPACE {
                return Signed::NotTrusted(format!("an SSH signature for namespace `{}`, not `{NAMESPACE}`", sig.namespace()));
            }
            return match self.ssh.iter().find(|key| key.key_data() == sig.public_key()) {
                None => Signed::NotTrusted(format!("signed by SSH key {}, which is not one of the verify keys", PublicKey::from(sig.public_key().clone()).fingerprint(HashAlg::Sha256))),
                Some(key) => match key.verify(NAMESPACE, content, &sig) {
                    Ok(()) => Signed::By(format!("SSH key {}", key.fingerprint(HashAlg::Sha256))),
                    Err(_) => Signed::NotTrusted(format!("an SSH signature by {} that does not match the commit's content", key.fingerprint(HashAlg::Sha256))),
                },
            };
        }
        if signature.starts_with(PGP_SIGNATURE) {
            let Ok((sig, _)) = DetachedSignature::from_string(signature) else { return Signed::NotTrusted("an OpenPGP signature that cannot be read".into()) };
            for key in &self.pgp {
                if sig.verify(&key.primary_key, content).is_ok() {
                    return Signed::By(format!("OpenPGP key {:X}", key.primary_key.fingerprint()));
                }
                if let Some(sub) = key.public_subkeys.iter().find(|sub| sig.verify(&sub.key, content).is_ok()) {
                    return Signed::By(format!("OpenPGP key {:X}", sub.key.fingerprint()));
                }
            }
            return Signed::NotTrusted("an OpenPGP signature that no verify key validates (another key, or content changed after signing)".into());
        }
        Signed::NotTrusted("a signature of a kind this plugin does not read (neither SSH nor OpenPGP)".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ssh_key::{Algorithm, LineEnding, PrivateKey};

    fn ssh_key() -> PrivateKey {
        PrivateKey::random(&mut rand_core::OsRng, Algorithm::Ed25519).unwrap()
    }

    #[test]
    fn an_ssh_signature_is_checked_over_the_content_by_key_and_namespace() {
        let (trusted, other) = (ssh_key(), ssh_key());
        let keys = VerifyKeys::load("restore.verifyKeys", &[trusted.public_key().to_openssh().unwrap()]).unwrap();
        let sign = |key: &PrivateKey, namespace: &str, content: &[u8]| key.sign(namespace, HashAlg::Sha512, content).unwrap().to_pem(LineEnding::LF).unwrap();
        let content = b"tree 0000\n\nBackup\n";
        assert!(matches!(keys.verify(&sign(&trusted, "git", content), content), Signed::By(k) if k.starts_with("SSH key SHA256:")));
        assert!(matches!(keys.verify(&sign(&trusted, "git", content), b"tree 0000\n\nChanged\n"), Signed::NotTrusted(w) if w.contains("does not match the commit's content")));
        assert!(matches!(keys.verify(&sign(&trusted, "file", content), content), Signed::NotTrusted(w) if w.contains("namespace `file`")));
        assert!(matches!(keys.verify(&sign(&other, "git", content), content), Signed::NotTrusted(w) if w.contains("not one of the verify keys")));
        assert!(matches!(keys.verify("gpgsig of another kind", content), Signed::NotTrusted(_)));
    }

    #[test]
    fn keys_that_cannot_be_read_name_their_index_and_the_fix() {
        let err = VerifyKeys::load("restore.verifyKeys", &["ssh-ed25519 AAAA".into()]).err().unwrap();
        assert!(err.message.starts_with("`restore.verifyKeys[0]`: cannot be read as an SSH public key"), "{}", err.message);
        let err = VerifyKeys::load("restore.verifyKeys", &[ssh_key().public_key().to_openssh().unwrap(), "-----BEGIN OPENSSH PRIVATE KEY-----".into()]).err().unwrap();
        assert!(err.message.starts_with("`restore.verifyKeys[1]`: is neither") && err.message.contains("gpg --armor --export"), "{}", err.message);
    }
}
