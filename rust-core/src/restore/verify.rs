//! The drill's verification of the backup's history (`docs/tasks/restore-drill.md`): from the
//! backup read down, at most `verifyDepth` backup commits,
//! - the manifest chain (`git::custody`): every `previous` pointer met along first parents,
//!   serials consecutive;
//! - every file each manifest lists is in its commit with the blob it names;
//! - with `verifyKeys`, every commit from the one read down to the oldest backup walked is signed
//!   by one of them (the signature verified over the commit's content);
//! - every plugin type the newest manifest's flows use is installed in Kestra.
//!
//! Commits older than the chain's first backup carry no manifest (written by plugin-git, or by an
//! earlier version of this plugin): they are counted as not verifiable, never a failure.

use crate::error::{CoreError, ErrorCode};
use crate::export::{plugins, KestraClient};
use crate::git::custody::{self, Chain, Link};
use crate::git::signature_check::{Signed, VerifyKeys};
use crate::git::Workspace;
use crate::progress::Log;
use crate::report::{FileProblemRow, MissingPluginRow, UnsignedRow, VerificationReport};
use crate::snapshot::TipTree;
use git2::Oid;
use std::collections::{HashMap, HashSet};

/// The report, and each problem in words (empty: verified).
pub struct Verification {
    pub report: VerificationReport,
    pub problems: Vec<String>,
}

pub fn run(ws: &mut Workspace, at: Oid, depth: Option<usize>, keys: &VerifyKeys, client: &KestraClient, log: &mut Log) -> Result<Verification, CoreError> {
    let mut files = FileCheck::default();
    let chain = custody::walk_each(ws, at, depth.unwrap_or(usize::MAX), log, &mut |ws, link| files.visit(ws, link), false)?;
    let mut report = VerificationReport {
        chain_length: chain.links.len(),
        first_serial: chain.links.last().map(|l| l.manifest.serial),
        last_serial: chain.links.first().map(|l| l.manifest.serial),
        complete: chain.complete,
        broken: chain.broken.as_ref().map(|b| {
            let found = b.found.map(|f| format!(" (the history holds {f} there instead)")).unwrap_or_default();
            format!("backup {} names as its previous backup {} (serial {}, {}), which the branch's history does not hold{found}", b.after, b.missing.commit, b.missing.serial, b.missing.date)
        }),
        files: files.problems,
        ..VerificationReport::default()
    };
    let (signed_range, older) = ranges(ws, at, &chain, log)?;
    report.unverifiable_commits = older;
    if !keys.is_empty() {
        for commit in signed_range {
            report.signatures_checked += 1;
            let reason = match keys.check(ws, commit)? {
                Signed::By(_) => continue,
                Signed::Unsigned => "unsigned".to_string(),
                Signed::NotTrusted(why) => why,
            };
            report.unsigned.push(UnsignedRow { commit: commit.to_string(), date: ws.commit_info(commit)?.date, reason });
        }
    }
    if let Some(newest) = chain.links.first().filter(|l| !l.manifest.plugins.is_empty()) {
        let installed = plugins::installed_types(client, log)?;
        report.missing_plugins = newest
            .manifest
            .plugins
            .iter()
            .filter(|p| !installed.contains(&p.plugin_type))
            .map(|p| MissingPluginRow { plugin_type: p.plugin_type.clone(), flows: p.flows })
            .collect();
    }
    log_summary(&report, !keys.is_empty(), log);
    let problems = problems(&report);
    Ok(Verification { report, problems })
}

/// The commits whose signature is checked (from `at` down to the oldest backup walked; only `at`
/// when the branch has no manifest there) and how many older commits have no manifest to verify
/// them by (below a complete chain, or the whole history when there is no chain).
fn ranges(ws: &mut Workspace, at: Oid, chain: &Chain, log: &mut Log) -> Result<(Vec<Oid>, usize), CoreError> {
    let Some(oldest) = chain.links.last().map(|l| l.commit) else {
        let mut older = 0;
        let mut next = Some(at);
        while let Some(commit) = next {
            older += 1;
            next = ws.first_parent(commit, log)?;
        }
        return Ok((vec![at], older));
    };
    let mut range = Vec::new();
    let mut next = Some(at);
    while let Some(commit) = next {
        range.push(commit);
        next = if commit == oldest { None } else { ws.first_parent(commit, log)? };
    }
    let mut older = 0;
    if chain.complete {
        let mut next = ws.first_parent(oldest, log)?;
        while let Some(commit) = next {
            older += 1;
            next = ws.first_parent(commit, log)?;
        }
    }
    Ok((range, older))
}

/// Files of each manifest against its commit. Consecutive backups share most files: an item the
/// newer backup verified, listed with the same blob and at a path the two commits do not differ
/// at, is not looked up again.
#[derive(Default)]
struct FileCheck {
    problems: Vec<FileProblemRow>,
    /// The newer backup commit visited, and its items that verified (path → blob).
    newer: Option<(Oid, HashMap<String, String>)>,
}

impl FileCheck {
    fn visit(&mut self, ws: &Workspace, link: &Link) -> Result<(), CoreError> {
        let tree = ws.at(link.commit);
        let items = link.manifest.kinds.values().flat_map(|k| k.items.iter());
        let mut verified = HashMap::new();
        let first_problem = self.problems.len();
        match self.newer.take() {
            None => {
                let held: HashMap<String, Oid> = tree.files_under("")?.into_iter().map(|f| (f.path, f.oid)).collect();
                for item in items {
                    self.judge(link, &item.path, &item.blob, held.get(&item.path).copied(), &mut verified);
                }
            }
            Some((newer, newer_verified)) => {
                let changed: HashSet<String> = ws.changed_paths(newer, Some(link.commit))?.into_iter().map(|(_, path)| path).collect();
                for item in items {
                    let same = newer_verified.get(&item.path) == Some(&item.blob) && !changed.contains(&item.path);
                    let held = if same { Oid::from_str(&item.blob).ok() } else { tree.blob_at(&item.path)? };
                    self.judge(link, &item.path, &item.blob, held, &mut verified);
                }
            }
        }
        self.problems[first_problem..].sort_by(|a, b| a.file.cmp(&b.file));
        self.newer = Some((link.commit, verified));
        Ok(())
    }

    fn judge(&mut self, link: &Link, path: &str, blob: &str, held: Option<Oid>, verified: &mut HashMap<String, String>) {
        let state = match held {
            None => "missing",
            Some(oid) if oid.to_string() == blob => {
                verified.insert(path.to_string(), blob.to_string());
                return;
            }
            Some(_) => "differing",
        };
        self.problems.push(FileProblemRow { commit: link.commit.to_string(), serial: link.manifest.serial, file: path.to_string(), state });
    }
}

fn log_summary(report: &VerificationReport, signatures: bool, log: &mut Log) {
    match (report.first_serial, report.last_serial) {
        (Some(first), Some(last)) => log.info(format!(
            "Verified {} backup commit(s), serials {first} to {last}{}",
            report.chain_length,
            if report.complete { ", down to the first backup of the chain" } else { "" }
        )),
        _ => log.warn("No backup commit with a manifest (`.kestra-backup/manifest.json`) here: the chain, the files and the plugins cannot be verified"),
    }
    if report.unverifiable_commits > 0 {
        log.info(format!("Could not verify {} older commit(s): they have no manifest (written before this plugin wrote manifests)", report.unverifiable_commits));
    }
    if signatures {
        log.info(format!("Checked the signature of {} commit(s): {} not signed by a verify key", report.signatures_checked, report.unsigned.len()));
    }
}

/// Each problem the report holds, in words.
fn problems(report: &VerificationReport) -> Vec<String> {
    let mut out = Vec::new();
    out.extend(report.broken.as_ref().map(|b| format!("the chain is broken: {b}")));
    out.extend(report.files.iter().map(|f| format!("`{}` of backup {} (serial {}) is {} in its commit", f.file, f.commit, f.serial, if f.state == "missing" { "missing" } else { "not the blob the manifest names" })));
    out.extend(report.unsigned.iter().map(|u| format!("commit {} of {} is not signed by a verify key: {}", u.commit, u.date, u.reason)));
    out.extend(report.missing_plugins.iter().map(|p| format!("plugin type `{}` (used by {} flow(s)) is not installed in this Kestra", p.plugin_type, p.flows)));
    out
}

/// The error a failed verification ends the drill with.
pub fn failure(problems: &[String]) -> CoreError {
    CoreError::new(
        ErrorCode::InvalidBackup,
        format!(
            "the backup's history does not verify ({} problem(s); `restore.failOnUnverified: false` reports without failing): {}",
            problems.len(),
            super::listed(problems.iter().cloned())
        ),
    )
}
