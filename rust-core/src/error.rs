//! The core error: one enum, a stable `code()` that the Java side maps to its exception's code.
//! Module errors fold into it. Messages name the field and the fix and never carry a secret
//! value (the bridge and the CLI run one more redaction pass over every message anyway).

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ErrorCode {
    /// The request is wrong: a field is missing, malformed or contradictory.
    InvalidConfig,
    /// A server (Git or Kestra) refused the credentials.
    Auth,
    /// TLS: certificate not trusted, hostname mismatch, SSH host key mismatch.
    Tls,
    /// Connection, DNS, timeout, or a transient HTTP status that outlived the retries.
    Network,
    /// Kestra answered with an error (4xx other than auth, malformed export).
    KestraApi,
    /// An exported item maps to a path that is not allowed or collides with another.
    UnsafePath,
    /// The deletion guard refused the run (empty export, too many deletions).
    DeletionGuard,
    /// The remote refused the push (protected branch, hook, permissions).
    PushRejected,
    /// The branch kept moving: every push attempt lost the race.
    Conflict,
    /// The backup holds flows Kestra refuses to load (restore and drill).
    InvalidBackup,
    /// The drill found differences between Kestra and the backup (`failOnDrift`).
    Drift,
    /// The branch's history was rewritten or truncated under the backup (docs/custody.md): the
    /// commit went to a rescue branch instead.
    HistoryRewritten,
    /// Another local Git failure.
    Git,
    /// Local file system failure.
    Io,
    /// A bug: a panic or an invariant broken.
    Internal,
}

#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CoreError {
    pub code: ErrorCode,
    pub message: String,
    /// The commit that was built but could not be pushed, so nothing is lost.
    pub local_commit: Option<String>,
    /// The Git bundle file that holds `local_commit` (see `backup::keep_unpushed`).
    pub unpushed_bundle: Option<std::path::PathBuf>,
    /// `HistoryRewritten`: where the backup went instead of the rewritten branch.
    pub rescue: Option<Box<Rescue>>,
}

/// A rescue branch a run pushed to instead of a branch whose history was rewritten.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Rescue {
    pub branch: String,
    /// Its commit: the run's backup commit, or the last intact backup commit when the backup
    /// held nothing new against it.
    pub commit: String,
    pub commit_url: String,
}

impl CoreError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CoreError { code, message: message.into(), local_commit: None, unpushed_bundle: None, rescue: None }
    }
    pub fn code(&self) -> ErrorCode {
        self.code
    }
    pub fn invalid(field: &str, problem: impl AsRef<str>) -> Self {
        CoreError::new(ErrorCode::InvalidConfig, format!("`{field}`: {}", problem.as_ref()))
    }
}

/// A user's value quoted in a message, cut to a readable length (a value can be megabytes).
pub fn shown(value: &str) -> String {
    cut(value, 120)
}

/// `text` up to `max` characters, followed by `… (<length> characters)` when it was longer.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((end, _)) => format!("{}… ({} characters)", &text[..end], text.chars().count()),
        None => text.to_string(),
    }
}

/// A request that does not parse, described without echoing its values: serde quotes a string
/// of the wrong type, and a field name that is not a plain name may be a value that lost its
/// quotes (a token, a password); plain names are kept, since they show the typo to fix.
pub fn invalid_request(e: &serde_json::Error) -> CoreError {
    static QUOTED_STRING: once_cell::sync::Lazy<regex::Regex> = once_cell::sync::Lazy::new(|| regex::Regex::new(r#"string "(?:[^"\\]|\\.)*""#).unwrap());
    static NAMED: once_cell::sync::Lazy<regex::Regex> = once_cell::sync::Lazy::new(|| regex::Regex::new(r"(unknown (?:field|variant)) `((?s).*?)`, expected").unwrap());
    let text = e.to_string();
    let text = QUOTED_STRING.replace_all(&text, "a string");
    let text = NAMED.replace_all(&text, |c: &regex::Captures| {
        let plain = c[2].len() <= 64 && c[2].chars().all(|ch| ch.is_ascii_alphanumeric() || matches!(ch, '_' | '-' | '.'));
        if plain { format!("{} `{}`, expected", &c[1], &c[2]) } else { format!("{} (a name that is not a plain field name, not shown), expected", &c[1]) }
    });
    CoreError::new(ErrorCode::InvalidConfig, format!("invalid request: {text}"))
}

impl From<std::io::Error> for CoreError {
    fn from(e: std::io::Error) -> Self {
        CoreError::new(ErrorCode::Io, e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_error(json: &str) -> String {
        invalid_request(&serde_json::from_str::<crate::Request>(json).unwrap_err()).message
    }

    #[test]
    fn a_request_that_does_not_parse_is_described_without_its_values() {
        let typo = parse_error(r#"{"git": {"url": "x", "pasword": "tok-1"}, "sources": []}"#);
        assert!(typo.starts_with("invalid request: unknown field `pasword`, expected one of") && !typo.contains("tok-1"), "{typo}");
        let lost_quote = parse_error(r#"{"git": {"url": "x", "password: tok-secret-2": 1}, "sources": []}"#);
        assert!(lost_quote.contains("unknown field (a name that is not a plain field name, not shown)") && !lost_quote.contains("tok-secret-2"), "{lost_quote}");
        let wrong_type = parse_error(r#"{"dryRun": "tok-secret-3", "git": {"url": "x"}, "sources": []}"#);
        assert!(wrong_type.contains("invalid type: a string, expected a boolean") && !wrong_type.contains("tok-secret-3"), "{wrong_type}");
        let variant = parse_error(r#"{"job": "bakup", "git": {"url": "x"}, "sources": []}"#);
        assert!(variant.contains("unknown variant `bakup`, expected one of"), "{variant}");
    }
}
