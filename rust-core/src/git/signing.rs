//! Signed commits, as `git commit -S` makes them: a signature over the commit object stored in its
//! `gpgsig` header. Two kinds of key, told apart by their text:
//! - an SSH key (OpenSSH format): an SSH signature (`gpg.format=ssh`), verified by `git
//!   verify-commit` against an allowed-signers file;
//! - an OpenPGP secret key (`gpg --armor --export-secret-keys`): an OpenPGP detached signature,
//!   made with the key's signing subkey if it has one (as gpg does), else its primary key.
//!
//! GitHub, GitLab and Bitbucket show either as verified once the public key is registered. Keys
//! are read from memory and decrypted when loaded, so a bad key or passphrase fails the run before
//! anything is exported.

use crate::error::{CoreError, ErrorCode};
use crate::secret::Secret;
use pgp::composed::{ArmorOptions, Deserializable, DetachedSignature, SignedSecretKey};
use pgp::crypto::hash::HashAlgorithm as PgpHash;
use pgp::types::{KeyDetails, Password, SigningKey};
use ssh_key::{HashAlg, LineEnding, PrivateKey};

/// Git signs commits and tags in the `git` namespace with SHA-512.
const NAMESPACE: &str = "git";
const OPENSSH: &str = "-----BEGIN OPENSSH PRIVATE KEY-----";
const OPENPGP: &str = "-----BEGIN PGP PRIVATE KEY BLOCK-----";

// One signer per run: the size of its variants does not matter.
#[allow(clippy::large_enum_variant)]
pub enum CommitSigner {
    Ssh(PrivateKey),
    OpenPgp(PgpSigner),
}

pub struct PgpSigner {
    key: SignedSecretKey,
    /// Index in `key.secret_subkeys` of the signing subkey; None: the primary key signs.
    subkey: Option<usize>,
    passphrase: Password,
}

impl CommitSigner {
    pub fn load(key: &Secret, passphrase: Option<&Secret>) -> Result<Self, CoreError> {
        let text = key.expose().trim();
        if text.starts_with(OPENSSH) {
            load_ssh(text, passphrase).map(CommitSigner::Ssh)
        } else if text.starts_with(OPENPGP) {
            PgpSigner::load(text, passphrase).map(CommitSigner::OpenPgp)
        } else {
            Err(CoreError::invalid(
                "git.signingKey",
                format!(
                    "is neither an OpenSSH private key (`{OPENSSH}`) nor an OpenPGP secret key (`{OPENPGP}`); \
                     convert a PEM SSH key with `ssh-keygen -p -f <key>`, export a GPG key with `gpg --armor --export-secret-keys <id>`"
                ),
            ))
        }
    }

    /// Names the key for the log: `SSH key SHA256:…` as `ssh-keygen -lf` prints it, or
    /// `OpenPGP key <fingerprint>` as `gpg --list-keys` prints it.
    pub fn describe(&self) -> String {
        match self {
            CommitSigner::Ssh(key) => format!("SSH key {}", key.public_key().fingerprint(HashAlg::Sha256)),
            CommitSigner::OpenPgp(signer) => format!("OpenPGP key {}", signer.fingerprint()),
        }
    }

    /// The armored signature of an object's bytes: a commit's (for its `gpgsig` header) or a
    /// tag's (appended to it, as `git tag -s` does).
    pub fn sign(&self, object: &[u8]) -> Result<String, CoreError> {
        let failed = |e: &dyn std::fmt::Display| CoreError::new(ErrorCode::Internal, format!("cannot sign with `git.signingKey`: {e}"));
        match self {
            CommitSigner::Ssh(key) => key
                .sign(NAMESPACE, HashAlg::Sha512, object)
                .and_then(|signature| signature.to_pem(LineEnding::LF))
                .map_err(|e| failed(&e)),
            CommitSigner::OpenPgp(signer) => signer.sign(object).map_err(|e| failed(&e)),
        }
    }
}

fn load_ssh(text: &str, passphrase: Option<&Secret>) -> Result<PrivateKey, CoreError> {
    let parsed = PrivateKey::from_openssh(text).map_err(|e| CoreError::invalid("git.signingKey", format!("cannot be read: {e}")))?;
    if !parsed.is_encrypted() {
        return Ok(parsed);
    }
    let passphrase = passphrase.ok_or_else(|| passphrase_error(None))?;
    parsed.decrypt(passphrase.expose().as_bytes()).map_err(|_| passphrase_error(Some(passphrase)))
}

/// The key is encrypted and `passphrase` (given or not) does not open it.
fn passphrase_error(passphrase: Option<&Secret>) -> CoreError {
    match passphrase {
        None => CoreError::invalid("git.signingKeyPassphrase", "is missing; the signing key is encrypted"),
        Some(_) => CoreError::invalid("git.signingKeyPassphrase", "does not decrypt `git.signingKey`"),
    }
}

impl PgpSigner {
    fn load(text: &str, passphrase: Option<&Secret>) -> Result<Self, CoreError> {
        let (key, _) = SignedSecretKey::from_string(text).map_err(|e| CoreError::invalid("git.signingKey", format!("cannot be read as an OpenPGP secret key: {e}")))?;
        key.verify_bindings().map_err(|e| CoreError::invalid("git.signingKey", format!("has invalid self-signatures: {e}")))?;
        // The newest subkey whose binding allows signing, as gpg picks it.
        let subkey = key
            .secret_subkeys
            .iter()
            .enumerate()
            .filter(|(_, sub)| sub.signatures.iter().any(|sig| sig.key_flags().sign()))
            .max_by_key(|(_, sub)| sub.key.created_at())
            .map(|(i, _)| i);
        let signer = PgpSigner {
            key,
            subkey,
            passphrase: passphrase.map(|p| Password::from(p.expose())).unwrap_or_else(Password::empty),
        };
        // Unlocking needs the passphrase: try it now rather than at the first commit.
        signer.sign(b"").map_err(|_| passphrase_error(passphrase))?;
        Ok(signer)
    }

    /// The key that signs: the chosen subkey, else the primary key.
    fn signing_key(&self) -> &dyn SigningKey {
        match self.subkey {
            Some(i) => &self.key.secret_subkeys[i].key,
            None => &self.key.primary_key,
        }
    }

    fn fingerprint(&self) -> String {
        format!("{:X}", self.signing_key().fingerprint())
    }

    fn sign(&self, data: &[u8]) -> pgp::errors::Result<String> {
        DetachedSignature::sign_binary_data(rand_core::OsRng, &Box::new(self.signing_key()), &self.passphrase, PgpHash::Sha256, data)?
            .to_armored_string(ArmorOptions::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_cannot_sign_name_the_property_and_the_fix() {
        let pem = CommitSigner::load(&Secret::new("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"), None).err().unwrap();
        assert_eq!(pem.code, ErrorCode::InvalidConfig);
        assert!(pem.message.starts_with("`git.signingKey`") && pem.message.contains("ssh-keygen -p"), "{}", pem.message);
        assert!(pem.message.contains("gpg --armor --export-secret-keys"), "{}", pem.message);
        let garbage = CommitSigner::load(&Secret::new("-----BEGIN OPENSSH PRIVATE KEY-----\nnot base64\n-----END OPENSSH PRIVATE KEY-----\n"), None);
        assert!(garbage.err().unwrap().message.starts_with("`git.signingKey`: cannot be read"));
        let garbage = CommitSigner::load(&Secret::new("-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nnot base64\n-----END PGP PRIVATE KEY BLOCK-----\n"), None);
        assert!(garbage.err().unwrap().message.starts_with("`git.signingKey`: cannot be read as an OpenPGP secret key"));
    }
}
