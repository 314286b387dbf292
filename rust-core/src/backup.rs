//! The one job: request → export → snapshot → tree → commit → push → report.
//! Data flows one way; a lost push race loops back to "plan on the new tip", nothing else.

use crate::error::{CoreError, ErrorCode};
use crate::export::{self, KestraClient};
use crate::git::{PushOutcome, Workspace};
use crate::progress::{Log, Sink};
use crate::report::Report;
use crate::request::Request;
use crate::snapshot::Snapshot;
use std::time::Instant;

pub fn run(req: &Request, sink: Sink) -> Result<Report, CoreError> {
    let mut log = Log::new(sink, req.secrets());
    let started = Instant::now();
    req.validate()?;
    let mut report = Report { dry_run: req.dry_run, ..Report::default() };

    let t = Instant::now();
    let mut ws = Workspace::open(&req.git, &mut log)?;
    report.branch_created = ws.branch_missing();
    report.timings_ms.fetch = elapsed_ms(t);

    let t = Instant::now();
    let client = req.kestra.as_ref().map(KestraClient::new).transpose()?;
    let snapshot = export_snapshot(req, client.as_ref(), &mut ws, &mut log)?;
    report.timings_ms.export = elapsed_ms(t);

    let mut attempts = 0;
    loop {
        let t = Instant::now();
        let plan = snapshot.plan(&ws, req.delete, &req.guard, &mut log)?;
        report.sources = plan.counts.clone();
        report.diff = crate::diff::rows(&plan.changes, &ws)?;
        report.timings_ms.snapshot += elapsed_ms(t);

        if plan.changes.is_empty() {
            log.info("No changes to commit. Skipping push.");
            break;
        }
        if req.dry_run {
            log.info(format!(
                "Dry run — no changes will be pushed to {} for now until you set the `dryRun` parameter to false",
                ws.display_url()
            ));
            break;
        }

        let t = Instant::now();
        let commit = ws.commit(&plan.changes, &req.commit_message(), &mut log)?;
        report.timings_ms.commit += elapsed_ms(t);

        let t = Instant::now();
        attempts += 1;
        let outcome = ws.push(commit, &mut log);
        report.timings_ms.push += elapsed_ms(t);
        report.push_attempts = attempts;
        match outcome? {
            PushOutcome::Pushed { bytes } => {
                report.bytes_pushed += bytes;
                report.commit_id = Some(commit.to_string());
                report.commit_url = Some(ws.commit_url(commit));
                log.info(format!("Pushed to {}", report.commit_url.as_deref().unwrap_or_default()));
                break;
            }
            PushOutcome::BranchMoved { bytes } => {
                report.bytes_pushed += bytes;
                if attempts >= req.git.max_push_attempts {
                    let mut err = CoreError::new(
                        ErrorCode::Conflict,
                        format!(
                            "branch `{}` kept moving: {attempts} push attempts lost the race; the commit {commit} is kept locally{}; run the task again",
                            req.git.branch,
                            ws.cache_hint()
                        ),
                    );
                    err.local_commit = Some(commit.to_string());
                    return Err(err);
                }
                log.info(format!(
                    "Branch `{}` moved on the remote; rebuilding the same snapshot on the new tip ({} attempts left)",
                    req.git.branch,
                    req.git.max_push_attempts - attempts
                ));
                ws.refresh(&mut log)?;
            }
        }
    }
    report.timings_ms.total = elapsed_ms(started);
    Ok(report)
}

/// What Kestra holds now, laid out as the repository would hold it. Every exported item is mapped
/// to its path and written as a blob at once, so memory holds one item at a time, never the export.
pub(crate) fn export_snapshot(req: &Request, client: Option<&KestraClient>, ws: &mut Workspace, log: &mut Log) -> Result<Snapshot, CoreError> {
    let mut snapshot = Snapshot::new(&req.sources)?;
    for (index, source) in req.sources.iter().enumerate() {
        export::export_source(client, source, log, &mut |item| snapshot.add(index, item, &mut |bytes| ws.write_blob(bytes)))?;
    }
    Ok(snapshot)
}

pub(crate) fn elapsed_ms(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}
