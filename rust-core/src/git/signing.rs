//! Signed commits: an SSH signature (`gpg.format=ssh`, what `git commit -S` makes with an SSH key)
//! over the commit object, stored in its `gpgsig` header. GitHub, GitLab and Bitbucket show such
//! commits as verified once the public key is registered as a signing key; `git verify-commit`
//! checks them against an allowed-signers file. The key is read from memory (OpenSSH format).

use crate::error::{CoreError, ErrorCode};
use crate::secret::Secret;
use ssh_key::{HashAlg, LineEnding, PrivateKey};

/// Git signs commits in the `git` namespace with SHA-512.
const NAMESPACE: &str = "git";

pub struct CommitSigner {
    key: PrivateKey,
}

impl CommitSigner {
    /// Parses (and decrypts) the key now, so a bad key fails the run before anything is exported.
    pub fn load(key: &Secret, passphrase: Option<&Secret>) -> Result<Self, CoreError> {
        let text = key.expose().trim();
        if !text.starts_with("-----BEGIN OPENSSH PRIVATE KEY-----") {
            return Err(CoreError::invalid(
                "signingKey",
                "is not an OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`); PEM keys can be converted with `ssh-keygen -p -f <key>`",
            ));
        }
        let parsed = PrivateKey::from_openssh(text).map_err(|e| CoreError::invalid("signingKey", format!("cannot be read: {e}")))?;
        let key = if parsed.is_encrypted() {
            let passphrase = passphrase.ok_or_else(|| CoreError::invalid("signingKeyPassphrase", "is missing; the signing key is encrypted"))?;
            parsed
                .decrypt(passphrase.expose().as_bytes())
                .map_err(|_| CoreError::invalid("signingKeyPassphrase", "does not decrypt `signingKey`"))?
        } else {
            parsed
        };
        Ok(CommitSigner { key })
    }

    /// `SHA256:<base64>` of the public key, as `ssh-keygen -lf` prints it (for the log).
    pub fn fingerprint(&self) -> String {
        self.key.public_key().fingerprint(HashAlg::Sha256).to_string()
    }

    /// The armored signature (`-----BEGIN SSH SIGNATURE-----`) of a commit object's bytes.
    pub fn sign(&self, commit: &[u8]) -> Result<String, CoreError> {
        self.key
            .sign(NAMESPACE, HashAlg::Sha512, commit)
            .and_then(|signature| signature.to_pem(LineEnding::LF))
            .map_err(|e| CoreError::new(ErrorCode::Internal, format!("cannot sign the commit with `signingKey`: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_that_cannot_sign_name_the_property_and_the_fix() {
        let pem = CommitSigner::load(&Secret::new("-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"), None).err().unwrap();
        assert_eq!(pem.code, ErrorCode::InvalidConfig);
        assert!(pem.message.starts_with("`signingKey`") && pem.message.contains("ssh-keygen -p"), "{}", pem.message);
        let garbage = CommitSigner::load(&Secret::new("-----BEGIN OPENSSH PRIVATE KEY-----\nnot base64\n-----END OPENSSH PRIVATE KEY-----\n"), None);
        assert!(garbage.err().unwrap().message.starts_with("`signingKey`: cannot be read"));
    }
}
