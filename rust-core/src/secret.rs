//! Secrets as a type: a `Secret` never prints its value, and `redact` scrubs known secret values
//! from any text that leaves the core (errors, logs, reports).

use serde::{Deserialize, Deserializer};
use std::fmt;

/// A credential (token, password, private key, passphrase). Debug and Display print `***`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The raw value, for the one place that must hand it to a transport.
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// Replaces every occurrence of each secret value (and of its URL-encoded and base64 forms, which
/// is how a value can reappear inside a URL or an `Authorization` header) by `***`.
pub fn redact(text: &str, secrets: &[&Secret]) -> String {
    use base64::Engine;
    let mut out = text.to_string();
    for secret in secrets {
        let value = secret.expose();
        // Very short values would blank out ordinary words; they are not worth hiding anyway.
        if value.len() < 4 {
            continue;
        }
        let encoded = percent_encoding::utf8_percent_encode(value, percent_encoding::NON_ALPHANUMERIC).to_string();
        let b64 = base64::engine::general_purpose::STANDARD.encode(value);
        for form in [value, encoded.as_str(), b64.as_str()] {
            if out.contains(form) {
                out = out.replace(form, "***");
            }
        }
        // Multi-line secrets (private keys): hide each long line too, in case only part is echoed.
        for line in value.lines().map(str::trim).filter(|l| l.len() >= 16) {
            if out.contains(line) {
                out = out.replace(line, "***");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2-token");
        assert_eq!(format!("{s:?} {s}"), "*** ***");
    }

    #[test]
    fn redact_hides_plain_encoded_and_base64_forms() {
        use base64::Engine;
        let s = Secret::new("p@ss word/42");
        let b64 = base64::engine::general_purpose::STANDARD.encode("p@ss word/42");
        let text = format!("a p@ss word/42 b p%40ss%20word%2F42 c {b64}");
        assert_eq!(redact(&text, &[&s]), "a *** b *** c ***");
    }
}
