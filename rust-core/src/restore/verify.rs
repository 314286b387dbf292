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
use crate::snapshot::manifest::{self, Item, ItemFile, Kind};
use crate::snapshot::TipTree;
use git2::Oid;
use std::collections::{BTreeMap, HashMap, HashSet};

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

/// Files of each manifest against its commit, item file by item file. Consecutive backups share
/// most item files: one with the same blob as in the newer backup, where all its items verified,
/// is not read again; only its paths that differ between the two commits are looked up.
#[derive(Default)]
struct FileCheck {
    problems: Vec<FileProblemRow>,
    /// The newer backup commit visited, and its item files whose items all verified.
    newer: Option<(Oid, HashMap<String, Verified>)>,
}

/// An item file whose items all verified: its blob, and item path → item blob.
struct Verified {
    blob: Oid,
    items: HashMap<String, String>,
}

/// Items of one kind the check reads together: a format-2 item file, or a format-1 manifest's
/// inline items of one kind (`file` None).
struct Group<'a> {
    kind: Kind,
    file: Option<&'a ItemFile>,
    inline: &'a [Item],
}

impl FileCheck {
    fn visit(&mut self, ws: &Workspace, link: &Link) -> Result<(), CoreError> {
        let tree = ws.at(link.commit);
        let commit = link.commit.to_string();
        let (newer, mut newer_files) = self.newer.take().map_or((None, HashMap::new()), |(c, f)| (Some(c), f));
        let changed: HashSet<String> = match newer {
            Some(newer) => ws.changed_paths(newer, Some(link.commit))?.into_iter().map(|(_, path)| path).collect(),
            None => HashSet::new(),
        };
        // The first commit checks every item: one walk of its tree beats a lookup per item.
        let held_all: Option<HashMap<String, Oid>> = match newer {
            None => Some(tree.files_under("")?.into_iter().map(|f| (f.path, f.oid)).collect()),
            Some(_) => None,
        };
        let groups = link.item_files.iter().map(|f| Group { kind: f.kind, file: Some(f), inline: &[] });
        let groups = groups.chain(link.manifest.kinds.iter().filter(|(_, k)| !k.items.is_empty()).map(|(kind, k)| Group { kind: *kind, file: None, inline: &k.items }));
        let mut now = HashMap::new();
        let mut counted: BTreeMap<Kind, usize> = BTreeMap::new();
        let first_problem = self.problems.len();
        for group in groups {
            let before = self.problems.len();
            if let Some(file) = group.file
                && let Some(same) = newer_files.remove(&file.path).filter(|v| v.blob == file.blob)
            {
                *counted.entry(group.kind).or_default() += same.items.len();
                for (path, blob) in same.items.iter().filter(|(path, _)| changed.contains(*path)) {
                    self.judge(link, path, blob, tree.blob_at(path)?);
                }
                if self.problems.len() == before {
                    now.insert(file.path.clone(), same);
                }
                continue;
            }
            let read;
            let items = match group.file {
                Some(file) => {
                    read = manifest::read_items(&tree, file, &commit)?;
                    &read[..]
                }
                None => group.inline,
            };
            *counted.entry(group.kind).or_default() += items.len();
            let mut verified = HashMap::new();
            for item in items {
                let held = match &held_all {
                    Some(all) => all.get(&item.path).copied(),
                    None => tree.blob_at(&item.path)?,
                };
                if self.judge(link, &item.path, &item.blob, held) {
                    verified.insert(item.path.clone(), item.blob.clone());
                }
            }
            if let Some(file) = group.file.filter(|_| self.problems.len() == before) {
                now.insert(file.path.clone(), Verified { blob: file.blob, items: verified });
            }
        }
        for (kind, k) in &link.manifest.kinds {
            let listed = counted.get(kind).copied().unwrap_or(0);
            if listed != k.count {
                let file = format!("{} ({} counted, {listed} listed)", kind.dir_name(), k.count);
                self.problems.push(FileProblemRow { commit: commit.clone(), serial: link.manifest.serial, file, state: "miscounted" });
            }
        }
        self.problems[first_problem..].sort_by(|a, b| a.file.cmp(&b.file));
        self.newer = Some((link.commit, now));
        Ok(())
    }

    /// Records a problem unless `held` is the blob the manifest names; true when it is.
    fn judge(&mut self, link: &Link, path: &str, blob: &str, held: Option<Oid>) -> bool {
        let state = match held {
            None => "missing",
            Some(oid) if oid.to_string() == blob => return true,
            Some(_) => "differing",
        };
        self.problems.push(FileProblemRow { commit: link.commit.to_string(), serial: link.manifest.serial, file: path.to_string(), state });
        false
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
    out.extend(report.files.iter().map(|f| match f.state {
        "miscounted" => format!("the manifest of backup {} (serial {}) lists another number of {} than it counts", f.commit, f.serial, f.file),
        "missing" => format!("`{}` of backup {} (serial {}) is missing in its commit", f.file, f.commit, f.serial),
        _ => format!("`{}` of backup {} (serial {}) is not the blob the manifest names in its commit", f.file, f.commit, f.serial),
    }));
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
