//! Sealing KV values to public keys with age (<https://age-encryption.org>): the only module that
//! touches key material. A backup holds recipients (age X25519 `age1…` keys, SSH ed25519/RSA public
//! keys) and can seal but never unseal; a restore or drill holds an identity (an age secret key or
//! an unencrypted OpenSSH private key) and unseals. Sealed text is ASCII-armored age. Messages
//! name a recipient by its start only and never quote an identity or a value.

use crate::error::{CoreError, ErrorCode};
use crate::secret::Secret;
use std::io::{Read, Write};

/// One recipient, parsed; `text` is its canonical form (an SSH key without its comment), which
/// is what the backup records beside each sealed value.
pub struct Recipient {
    pub text: String,
    key: Box<dyn age::Recipient + Send>,
}

/// The recipients of a backup, parsed, sorted and without duplicates.
pub struct Recipients(Vec<Recipient>);

impl Recipients {
    /// Parses `texts`; `field` names the request field in errors.
    pub fn parse(texts: &[String], field: &str) -> Result<Self, CoreError> {
        let mut out: Vec<Recipient> = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            let recipient = parse_recipient(text.trim()).map_err(|why| {
                CoreError::invalid(
                    &format!("{field}[{i}]"),
                    format!(
                        "`{}` is not a recipient age can seal to ({why}); give an age public key (`age1…`, printed by `age-keygen -y`) or an SSH public key (`ssh-ed25519 …` or `ssh-rsa …`, 2048 bits or more)",
                        start_of(text.trim())
                    ),
                )
            })?;
            if !out.iter().any(|r| r.text == recipient.text) {
                out.push(recipient);
            }
        }
        out.sort_by(|a, b| a.text.cmp(&b.text));
        Ok(Recipients(out))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The canonical texts, sorted: what a sealed file records as its recipients.
    pub fn texts(&self) -> Vec<String> {
        self.0.iter().map(|r| r.text.clone()).collect()
    }

    /// `plaintext` sealed to every recipient, as armored age text (randomised: sealing the same
    /// value twice gives two different texts).
    pub fn seal(&self, plaintext: &[u8]) -> Result<String, CoreError> {
        let keys = self.0.iter().map(|r| r.key.as_ref() as &dyn age::Recipient);
        let encryptor = age::Encryptor::with_recipients(keys).map_err(|e| CoreError::new(ErrorCode::InvalidConfig, format!("cannot seal to these recipients: {e}")))?;
        let sealed = (|| -> std::io::Result<Vec<u8>> {
            let armor = age::armor::ArmoredWriter::wrap_output(Vec::new(), age::armor::Format::AsciiArmor)?;
            let mut writer = encryptor.wrap_output(armor)?;
            writer.write_all(plaintext)?;
            writer.finish()?.finish()
        })()
        .map_err(|e| CoreError::new(ErrorCode::Internal, format!("cannot seal a value: {e}")))?;
        String::from_utf8(sealed).map_err(|_| CoreError::new(ErrorCode::Internal, "armored age text is not UTF-8"))
    }
}

fn parse_recipient(text: &str) -> Result<Recipient, String> {
    if text.starts_with("age1") {
        let key: age::x25519::Recipient = text.parse().map_err(|e: &str| e.to_string())?;
        return Ok(Recipient { text: key.to_string(), key: Box::new(key) });
    }
    if text.starts_with("ssh-") {
        let key: age::ssh::Recipient = text.parse().map_err(|e| match e {
            age::ssh::ParseRecipientKeyError::RsaModulusTooSmall => "an RSA key under 2048 bits".to_string(),
            age::ssh::ParseRecipientKeyError::RsaModulusTooLarge => "an RSA key over 16384 bits".to_string(),
            age::ssh::ParseRecipientKeyError::Unsupported(kind) => format!("SSH key type `{kind}` is not supported"),
            age::ssh::ParseRecipientKeyError::Invalid(why) => why.to_string(),
            _ => "not a supported SSH public key".to_string(),
        })?;
        // Type and key, without the comment: a new comment is not a new recipient.
        let canonical = text.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        return Ok(Recipient { text: canonical, key: Box::new(key) });
    }
    Err("neither `age1…` nor `ssh-…`".to_string())
}

/// The first characters of a public key, enough to tell which one is meant.
pub fn start_of(text: &str) -> String {
    let shown: String = text.chars().take(24).collect();
    if shown.len() < text.len() { format!("{shown}…") } else { shown }
}

/// The identities that unseal: every age secret key of an identity file (`age-keygen` output,
/// comments allowed), or one unencrypted OpenSSH private key.
pub struct Identities {
    keys: Vec<Box<dyn age::Identity>>,
}

impl Identities {
    /// Parses `identity` (the request field `field`); the error never quotes it.
    pub fn parse(identity: &Secret, field: &str) -> Result<Self, CoreError> {
        let text = identity.expose().trim();
        let invalid = |why: &str| {
            CoreError::invalid(
                field,
                format!("{why}; give an age secret key (`AGE-SECRET-KEY-1…`, as `age-keygen` writes it) or an unencrypted OpenSSH private key, through `secret()`"),
            )
        };
        if text.starts_with("-----BEGIN") {
            let key = age::ssh::Identity::from_buffer(text.as_bytes(), None).map_err(|_| invalid("is not an SSH private key age can read"))?;
            return match key {
                age::ssh::Identity::Unencrypted(_) => Ok(Identities { keys: vec![Box::new(key)] }),
                age::ssh::Identity::Encrypted(_) => Err(invalid("is a passphrase-protected SSH key, which cannot be unlocked without a prompt")),
                age::ssh::Identity::Unsupported(_) => Err(invalid("is an SSH key of a type age does not support")),
            };
        }
        let mut keys: Vec<Box<dyn age::Identity>> = Vec::new();
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with('#')) {
            let key: age::x25519::Identity = line.parse().map_err(|_| invalid("holds a line that is not an age secret key"))?;
            keys.push(Box::new(key));
        }
        if keys.is_empty() {
            return Err(invalid("is empty"));
        }
        Ok(Identities { keys })
    }

    /// The plaintext of armored age text; `what` names the entry in errors.
    pub fn unseal(&self, sealed: &str, what: &str) -> Result<Vec<u8>, CoreError> {
        let decryptor = age::Decryptor::new_buffered(age::armor::ArmoredReader::new(sealed.as_bytes()))
            .map_err(|e| CoreError::new(ErrorCode::InvalidBackup, format!("{what}: the sealed value is not well-formed age text ({e}); restore this file from an earlier backup commit")))?;
        let mut reader = decryptor.decrypt(self.keys.iter().map(|k| k.as_ref() as &dyn age::Identity)).map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => CoreError::new(
                ErrorCode::InvalidConfig,
                format!("{what}: `restore.identity` matches none of the recipients the value was sealed to; give the secret key of one of them"),
            ),
            other => CoreError::new(ErrorCode::InvalidBackup, format!("{what}: the sealed value does not unseal ({other}); restore this file from an earlier backup commit")),
        })?;
        let mut plain = Vec::new();
        reader
            .read_to_end(&mut plain)
            .map_err(|e| CoreError::new(ErrorCode::InvalidBackup, format!("{what}: the sealed value is damaged ({e}); restore this file from an earlier backup commit")))?;
        Ok(plain)
    }
}

/// Whether `sealed` is armored age text whose header holds one stanza per recipient (age does
/// not name recipients in the header, so the count and the stanza kinds are what can be checked
/// without an identity).
pub fn well_formed(sealed: &str, recipients: &[String]) -> Result<(), String> {
    let mut plain = Vec::new();
    age::armor::ArmoredReader::new(sealed.as_bytes()).read_to_end(&mut plain).map_err(|e| format!("not armored age text ({e})"))?;
    let header_end = plain.windows(4).position(|w| w == b"\n---").ok_or("no age header")?;
    let header = String::from_utf8_lossy(&plain[..header_end]);
    if !header.starts_with("age-encryption.org/v1\n") {
        return Err("not an age v1 file".into());
    }
    // age adds random "grease" stanzas; only the recipient kinds count.
    let mut stanzas: Vec<&str> = header
        .lines()
        .filter_map(|l| l.strip_prefix("-> "))
        .filter_map(|l| l.split(' ').next())
        .filter(|tag| ["X25519", "ssh-ed25519", "ssh-rsa"].contains(tag))
        .collect();
    stanzas.sort();
    let mut expected: Vec<&str> = recipients
        .iter()
        .map(|r| if r.starts_with("age1") { "X25519" } else if r.starts_with("ssh-ed25519") { "ssh-ed25519" } else { "ssh-rsa" })
        .collect();
    expected.sort();
    if stanzas != expected {
        return Err(format!("sealed to {} key(s) ({}), not to the {} recipient(s) it records", stanzas.len(), stanzas.join(", "), expected.len()));
    }
    age::Decryptor::new_buffered(plain.as_slice()).map_err(|e| format!("not an age file ({e})"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_and_unseal_with_generated_keys() {
        let a = age::x25519::Identity::generate();
        let b = age::x25519::Identity::generate();
        let recipients = Recipients::parse(&[b.to_public().to_string(), a.to_public().to_string(), a.to_public().to_string()], "kv.recipients").unwrap();
        assert_eq!(recipients.texts().len(), 2, "duplicates are dropped");
        let sealed = recipients.seal(b"\"s3cr3t\"").unwrap();
        assert!(sealed.starts_with("-----BEGIN AGE ENCRYPTED FILE-----") && !sealed.contains("s3cr3t"));
        assert_ne!(sealed, recipients.seal(b"\"s3cr3t\"").unwrap(), "sealing is randomised");
        well_formed(&sealed, &recipients.texts()).unwrap();
        assert!(well_formed(&sealed, &recipients.texts()[..1]).unwrap_err().contains("sealed to 2 key(s)"));
        for key in [&a, &b] {
            let ids = Identities::parse(&Secret::new(key.to_string().expose_secret_for_test()), "restore.identity").unwrap();
            assert_eq!(ids.unseal(&sealed, "`ns/k`").unwrap(), b"\"s3cr3t\"");
        }
        let stranger = age::x25519::Identity::generate();
        let ids = Identities::parse(&Secret::new(stranger.to_string().expose_secret_for_test()), "restore.identity").unwrap();
        let err = ids.unseal(&sealed, "`ns/k`").unwrap_err();
        assert!(err.message.starts_with("`ns/k`: `restore.identity` matches none"), "{}", err.message);
    }

    #[test]
    fn a_damaged_sealed_text_is_named_not_unsealed() {
        let key = age::x25519::Identity::generate();
        let recipients = Recipients::parse(&[key.to_public().to_string()], "kv.recipients").unwrap();
        let sealed = recipients.seal(b"1").unwrap();
        let ids = Identities::parse(&Secret::new(key.to_string().expose_secret_for_test()), "restore.identity").unwrap();
        let lines: Vec<&str> = sealed.lines().collect();
        let damaged = format!("{}\n{}\n{}\n", lines[0], lines[1].chars().rev().collect::<String>(), lines[2..].join("\n"));
        let err = ids.unseal(&damaged, "KV entry `kv/a/k.json`").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidBackup);
        assert!(err.message.starts_with("KV entry `kv/a/k.json`: the sealed value"), "{}", err.message);
        assert!(well_formed("not age", &recipients.texts()).unwrap_err().starts_with("not armored age text"));
    }

    #[test]
    fn bad_recipients_and_identities_are_named_not_quoted() {
        let err = Recipients::parse(&["age1notakey".into()], "kv.recipients").err().unwrap();
        assert!(err.message.starts_with("`kv.recipients[0]`: `age1notakey` is not a recipient"), "{}", err.message);
        let err = Recipients::parse(&["ssh-dss AAAAB3NzaC1kc3MAAACBAP".into()], "kv.recipients").err().unwrap();
        assert!(err.message.contains("`kv.recipients[0]`") && err.message.contains("ssh-ed25519"), "{}", err.message);
        let secret = "AGE-SECRET-KEY-1NOTVALIDNOTVALIDNOTVALID";
        let err = Identities::parse(&Secret::new(secret), "restore.identity").err().unwrap();
        assert!(err.message.starts_with("`restore.identity`: holds a line") && !err.message.contains(secret), "{}", err.message);
    }

    trait ExposeForTest {
        fn expose_secret_for_test(self) -> String;
    }
    impl ExposeForTest for age::secrecy::SecretString {
        fn expose_secret_for_test(self) -> String {
            use age::secrecy::ExposeSecret;
            self.expose_secret().to_string()
        }
    }
}
