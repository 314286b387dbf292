//! Native core of the Kestra Git backup plugin.
//!
//! One request in, one report out: `run` exports flows and namespace files from Kestra
//! (`export`), maps them to repository paths and decides what the repository should contain
//! (`snapshot`), builds one commit on the branch tip and pushes it (`git`), and reports the
//! changed files counted like plugin-git (`diff`). A restore or drill (`restore`) goes the other
//! way: the branch tip back into Kestra. The CLI and the JNI bridge (`bridge`) both
//! call `run_json`; nothing here depends on a JVM.

pub mod backup;
pub mod backup_log;
mod bridge;
pub mod chain_check;
pub mod diff;
pub mod error;
pub mod export;
mod fan_out;
mod http_clients;
pub mod git;
mod incremental;
pub mod instant;
pub mod progress;
pub mod report;
pub mod request;
mod restore;
mod retry;
pub mod seal;
pub mod secret;
pub mod snapshot;

pub use error::{CoreError, ErrorCode};
pub use progress::{Level, LogEvent};
pub use report::Report;
pub use request::Request;

/// Runs the request's job: a backup (`backup`), or a restore or drill (`restore`). Every log
/// event goes through one `Log`, which redacts the request's secrets.
pub fn run(request: &Request, sink: progress::Sink) -> Result<Report, CoreError> {
    let started = std::time::Instant::now();
    request.validate()?;
    let mut log = progress::Log::new(sink, request.secrets());
    let mut report = Report { dry_run: request.dry_run, ..Report::default() };
    report.timings_ms.phases.request = report::ms(started.elapsed());
    match request.job {
        request::Job::Backup => backup::run(request, &mut report, &mut log)?,
        request::Job::Restore | request::Job::Drill => restore::run(request, &mut report, &mut log)?,
    }
    report.timings_ms.phases.logging = report::ms(log.time_in_sink());
    report.timings_ms.total = backup::elapsed_ms(started);
    Ok(report)
}

/// The backup commits of the request's branch, newest first (the CLI's `log`).
pub fn backup_log(request: &Request, filter: &backup_log::Filter, limit: usize, sink: progress::Sink) -> Result<Vec<backup_log::Entry>, CoreError> {
    read_only(request, sink, |log| backup_log::entries(request, filter, limit, log))
}

/// The commit at `restore.ref` (the branch tip when unset) and its manifest, None when it has none
/// (the CLI's `manifest`).
pub fn manifest_at(request: &Request, sink: progress::Sink) -> Result<(String, Option<snapshot::manifest::Manifest>), CoreError> {
    read_only(request, sink, |log| {
        let mut ws = git::Workspace::open(&request.git, log)?;
        let commit = ws.resolve(request.restore.git_ref.as_deref(), log)?;
        let manifest = snapshot::manifest::read(&ws.at(commit), &commit.to_string())?;
        Ok((commit.to_string(), manifest))
    })
}

/// The chain-of-custody check of the request's branch on its own (the CLI's `verify`).
pub fn verify_chain(request: &Request, limit: usize, sink: progress::Sink) -> Result<chain_check::ChainReport, CoreError> {
    read_only(request, sink, |log| chain_check::check(request, limit, log))
}

/// A command that only reads the branch: the Git settings checked first; log events and the
/// error redacted like `run`'s.
fn read_only<T>(request: &Request, sink: progress::Sink, body: impl FnOnce(&mut progress::Log) -> Result<T, CoreError>) -> Result<T, CoreError> {
    let secrets = request.secrets();
    let mut log = progress::Log::new(sink, secrets.clone());
    catch_panic(|| {
        request.validate_git()?;
        body(&mut log)
    })
    .map_err(|err| CoreError { message: redacted(&err, &secrets), ..err })
}

/// Version of the core, checked by the Java side when it loads the library.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// JSON in, JSON out, for callers across a language boundary. The answer is always one object:
/// `{"report": {...}}` on success or `{"error": {"code": "...", "message": "...", "localCommit": ..., "unpushedBundle": ..., "rescue": ...}}`.
/// Messages are redacted with the request's secrets (when the request could be parsed); a panic
/// of the job is answered as an `Internal` error.
pub fn run_json(request_json: &str, sink: progress::Sink) -> String {
    let parsing = std::time::Instant::now();
    let request: Request = match serde_json::from_str(request_json) {
        Ok(r) => r,
        Err(e) => return error_json(&error::invalid_request(&e), &[]),
    };
    let parsed = parsing.elapsed();
    let secrets = request.secrets();
    match catch_panic(|| run(&request, sink)) {
        Ok(mut report) => {
            report.timings_ms.phases.request += report::ms(parsed);
            serde_json::json!({ "report": report }).to_string()
        }
        Err(err) => error_json(&err, &secrets),
    }
}

/// A panic is a bug; it becomes an `Internal` error, redacted like any other, and never unwinds
/// into the caller (across JNI that would abort the JVM).
fn catch_panic<T>(body: impl FnOnce() -> Result<T, CoreError>) -> Result<T, CoreError> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)).unwrap_or_else(|panic| {
        let what = panic
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into());
        Err(CoreError::new(ErrorCode::Internal, format!("internal error in the native core: {what}")))
    })
}

/// Longest error message sent back; a message that quotes a huge input is cut, so the caller
/// never has to parse megabytes (Jackson refuses strings over 20 MB).
const MAX_MESSAGE_CHARS: usize = 16 * 1024;

/// The error's message without the request's secrets, cut to `MAX_MESSAGE_CHARS`.
fn redacted(err: &CoreError, secrets: &[secret::Secret]) -> String {
    let refs: Vec<&secret::Secret> = secrets.iter().collect();
    error::cut(&secret::redact(&err.message, &refs), MAX_MESSAGE_CHARS)
}

fn error_json(err: &CoreError, secrets: &[secret::Secret]) -> String {
    let message = redacted(err, secrets);
    serde_json::json!({
        "error": {
            "code": err.code,
            "message": message,
            "localCommit": err.local_commit,
            "unpushedBundle": err.unpushed_bundle,
            "rescue": err.rescue,
        }
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_a_redacted_internal_error() {
        let token = secret::Secret::new("tok-1234567890");
        let err = catch_panic::<()>(|| panic!("bad state near {}", token.expose())).unwrap_err();
        assert_eq!(err.code, ErrorCode::Internal);
        let answer: serde_json::Value = serde_json::from_str(&error_json(&err, &[token])).unwrap();
        assert_eq!(answer["error"]["code"], "Internal");
        assert_eq!(answer["error"]["message"], "internal error in the native core: bad state near ***");
    }

    #[test]
    fn huge_inputs_are_not_echoed_whole() {
        let huge = "x".repeat(1_000_000);
        let answer: serde_json::Value = serde_json::from_str(&run_json(&format!(r#"{{"{huge}": 1}}"#), &mut |_| {})).unwrap();
        assert_eq!(answer["error"]["code"], "InvalidConfig");
        assert!(answer["error"]["message"].as_str().unwrap().len() < MAX_MESSAGE_CHARS + 100);
        let request = format!(r#"{{"git": {{"url": "{huge}"}}, "sources": []}}"#);
        let answer: serde_json::Value = serde_json::from_str(&run_json(&request, &mut |_| {})).unwrap();
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("`git.url`: `xxx") && message.contains("… (1000000 characters)` is neither"), "{}", &message[..300]);
    }
}
