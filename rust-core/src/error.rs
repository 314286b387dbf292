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
}

impl CoreError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CoreError { code, message: message.into(), local_commit: None, unpushed_bundle: None }
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

impl From<std::io::Error> for CoreError {
    fn from(e: std::io::Error) -> Self {
        CoreError::new(ErrorCode::Io, e.to_string())
    }
}
