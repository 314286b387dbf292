//! Restore and drill: a backup (the branch tip, or the commit `ref` names) back into Kestra.
//!
//! Both fetch the branch (as deep as `ref` needs), export what Kestra holds now (as a backup
//! would) and compare the selected items (`select`) file by file; the plan (`plan`) says what a
//! restore does with each. The flows to restore (a drill: every selected flow of the backup) go
//! through Kestra's own validation first; one refused flow stops the job before anything is
//! written. A restore then writes what Kestra is missing (and, with `overwrite`, what differs):
//! namespace files first, through ZIP uploads per namespace (a flow's trigger may fire as soon as
//! the flow is back and find its files), then flows, through ZIP imports; then, with
//! `triggerState`, the selected flows' triggers are switched to the on/off state the backup
//! recorded (`triggers`). Nothing is ever deleted from Kestra.

mod guard;
mod kv;
mod plan;
mod select;
mod sequence;
mod triggers;
mod upload;
mod validation;
mod verify;
mod write_target;

use crate::backup::{elapsed_ms, export_into};
use crate::error::{CoreError, ErrorCode};
use crate::export::{flow_header, KestraClient};
use crate::git::signature_check::VerifyKeys;
use crate::git::Workspace;
use crate::progress::Log;
use crate::report::{DriftRow, Report, RestoreReport};
use crate::request::{Job, Request, Source, SourceKind};
use crate::snapshot::trigger_state::TriggerLayout;
use crate::snapshot::{BackupFile, Drift, Snapshot, TipTree};
use select::Selection;
use std::collections::BTreeMap;
use std::time::Instant;

/// How many problems an error message lists before "and N more"; and plan rows the log shows.
const LISTED: usize = 20;

pub fn run(req: &Request, report: &mut Report, log: &mut Log) -> Result<(), CoreError> {
    let kestra = req.kestra.as_ref().ok_or_else(|| CoreError::invalid("kestra", "is missing; set the Kestra API URL to restore into"))?;
    let client = KestraClient::new(kestra)?;
    let selection = Selection::new(&req.restore)?;
    let keys = VerifyKeys::load("restore.verifyKeys", &req.restore.verify_keys)?;
    // A kind the selection leaves out is not even exported.
    let sources: Vec<Source> = req.sources.iter().filter(|s| selection.wants(s.kind)).cloned().collect();
    let mut snapshot = Snapshot::new(&sources)?;
    let trigger_layout = req.trigger_state.as_ref().map(|t| TriggerLayout::new(t, &sources)).transpose()?;
    let t = Instant::now();
    let mut ws = Workspace::open(&req.git, log)?;
    let Some(tip) = ws.tip().filter(|_| !ws.branch_missing()) else {
        return Err(CoreError::invalid("git.branch", format!("`{}` does not exist on the remote: there is no backup to restore", req.git.branch)));
    };
    let at = ws.resolve(req.restore.git_ref.as_deref(), log)?;
    let (restored_from, latest_backup) = (ws.commit_info(at)?, ws.commit_info(tip)?);
    if at != tip {
        log.info(format!("Reading the backup {} of {} (the newest is {} of {})", restored_from.commit, restored_from.date, latest_backup.commit, latest_backup.date));
    }
    report.timings_ms.fetch = elapsed_ms(t);

    let t = Instant::now();
    let (origin, backup_link) = guard::origin(&mut ws, at, log)?.unzip();
    let mut other_instance = false;
    let verification = match req.job {
        Job::Drill => Some(verify::run(&mut ws, at, req.restore.verify_depth, &keys, &client, log)?),
        _ => {
            guard::signature(&ws, at, &keys, req.restore.allow_unsigned, log)?;
            if let Some(link) = &backup_link {
                let kestra = crate::export::instance::fetch(&client, log)?;
                other_instance = guard::identity(&link.manifest.instance, kestra.id.as_deref(), req.restore.allow_other_instance, log)?;
            }
            None
        }
    };
    report.timings_ms.verify = elapsed_ms(t);
    if let Some(problems) = verification.as_ref().map(|v| &v.problems).filter(|p| !p.is_empty()) {
        if req.restore.fail_on_unverified {
            return Err(verify::failure(problems));
        }
        for problem in problems.iter().take(LISTED) {
            log.warn(format!("Not verified: {problem}"));
        }
    }

    let t = Instant::now();
    export_into(&mut snapshot, &sources, Some(&client), &mut ws, Some(at), log)?;
    report.timings_ms.export = elapsed_ms(t);

    let t = Instant::now();
    let backup = ws.at(at);
    let (files, dependencies) = selection.apply(snapshot.compare(&backup)?, req.restore.with_dependencies, &ws, log)?;
    let copies = snapshot.flow_copies_in_backup(&backup)?;
    if !copies.is_empty() {
        log.info(format!(
            "Leaving out {} file(s) under `_flows/` in the backup (copies of flows Kestra bundled into namespace files; an upload would import them as flows): {}",
            copies.len(),
            crate::export::join_names(&copies)
        ));
    }
    let mut summary = summarise(&files);
    summary.restored_from = Some(restored_from);
    summary.backup = origin;
    summary.verification = verification.map(|v| v.report);
    summary.latest_backup = Some(latest_backup);
    let mut rows = plan::rows(&files, &dependencies, req.job == Job::Drill || req.restore.overwrite, &ws)?;
    // KV entries: read, compared and unsealed now, written only after the flows' validation.
    let mut kv = req.kv.as_ref().map(|options| kv::prepare(&client, options, req, &backup, log)).transpose()?;
    rows.extend(kv.iter().flat_map(|k| k.rows.iter().cloned()));
    summary.plan = plan::counts(&rows);
    summary.dependencies = dependencies;
    if let Some(target) = &req.restore.plan_file {
        plan::write(&rows, target)?;
    }

    log.info(format!(
        "Backup against Kestra: {} in sync, {} missing in Kestra, {} differing, {} only in Kestra",
        summary.in_sync, summary.missing_in_kestra, summary.differing, summary.only_in_kestra
    ));
    let p = &summary.plan;
    log.info(format!("Plan: {} to create, {} to replace, {} unchanged, {} skipped", p.create, p.replace, p.unchanged, p.skip));
    let changing: Vec<&plan::Row> = rows.iter().filter(|r| r.action != "unchanged").collect();
    for row in changing.iter().take(LISTED) {
        log.info(format!("  {}", plan::describe(row)));
    }
    if changing.len() > LISTED {
        log.info(format!("  ... and {} more (all of them in the plan output)", changing.len() - LISTED));
    }
    let to_write: Vec<&BackupFile> = files
        .iter()
        .filter(|f| f.drift == Drift::MissingInKestra || (req.restore.overwrite && f.drift == Drift::Differing))
        .collect();
    if req.job == Job::Restore && !req.restore.overwrite && summary.differing > 0 {
        log.warn(format!("{} file(s) differ between Kestra and the backup and are left as Kestra has them; set `restore.overwrite: true` to restore them", summary.differing));
    }
    if req.job == Job::Restore {
        let replaced: Vec<&BackupFile> = to_write.iter().copied().filter(|f| f.drift == Drift::Differing).collect();
        summary.newer_in_kestra = sequence_guard(&client, &ws, backup_link.as_ref(), other_instance, &replaced, req, log)?;
    }
    let checked: Vec<&BackupFile> = match req.job {
        Job::Drill => files.iter().filter(|f| f.backup.is_some()).collect(),
        _ => to_write.clone(),
    };
    let flows = flow_sources(&checked, &ws)?;
    let refused = validation::refused_flows(&client, &flows, log)?;
    summary.flows_validated = flows.len();
    report.timings_ms.snapshot = elapsed_ms(t);
    if !refused.is_empty() {
        return Err(CoreError::new(
            ErrorCode::InvalidBackup,
            format!(
                "Kestra refuses {} of the {} flow(s) checked from the backup{}: {}",
                refused.len(),
                flows.len(),
                if req.job == Job::Drill { ", so the backup would not restore" } else { ", so nothing was restored" },
                listed(refused.iter().map(|(path, problem)| format!("`{path}`: {problem}")))
            ),
        ));
    }

    match req.job {
        Job::Drill => {
            summary.trigger_drift = triggers::step(&client, trigger_layout.as_ref(), &backup, &files, false, log)?.drift;
            let drifted = summary.drift.len() + summary.trigger_drift.len();
            if req.restore.fail_on_drift && drifted > 0 {
                let triggers = summary.trigger_drift.iter().map(|t| format!("trigger `{}` {} in the backup, {} in Kestra", t.trigger, t.backup, t.kestra));
                return Err(CoreError::new(
                    ErrorCode::Drift,
                    format!(
                        "the backup restores, but {drifted} file(s) or trigger(s) differ from Kestra (`restore.failOnDrift`): {}",
                        listed(summary.drift.iter().map(|d| format!("`{}` {}", d.file, d.state)).chain(triggers))
                    ),
                ));
            }
            log.info(format!("Restore drill passed: every one of the {} flow(s) of the backup is accepted by Kestra", flows.len()));
            if let Some(kv) = &kv {
                let r = &kv.report;
                match req.restore.identity {
                    Some(_) => log.info(format!("KV: every one of the {} sealed value(s) of the backup unseals with `restore.identity`", r.unsealed)),
                    None => log.info(format!("KV: every one of the {} sealed file(s) is well-formed and sealed to the recipients it records (no `restore.identity`: values not unsealed)", r.sealed)),
                }
            }
        }
        _ if req.dry_run => {
            log.info(format!("Dry run — {} flow(s) and {} file(s) would be restored", flows.len(), to_write.len() - flows.len()));
            summary.trigger_drift = triggers::step(&client, trigger_layout.as_ref(), &backup, &files, false, log)?.drift;
        }
        _ => {
            let t = Instant::now();
            if let Some(kv) = kv.as_mut() {
                kv.report.restored = kv::write(&client, kv, log)?;
            }
            summary.restored_files = restore_files(&client, &to_write, &ws, req, log)?;
            summary.restored_flows = upload::flows(&client, &flows, &req.restore, log)?;
            let outcome = triggers::step(&client, trigger_layout.as_ref(), &backup, &files, true, log)?;
            (summary.trigger_drift, summary.triggers_set) = (outcome.drift, outcome.set);
            report.timings_ms.push = elapsed_ms(t);
            log.info(format!("Restored {} flow(s) and {} namespace file(s)", summary.restored_flows, summary.restored_files));
        }
    }
    report.bytes_fetched = ws.bytes_fetched();
    report.kv = kv.map(|k| k.report);
    report.restore = Some(summary);
    Ok(())
}

/// The sequence guard over the items a restore replaces: what Kestra holds newer than the backup
/// refuses the restore, unless `restore.ref` names the backup explicitly (then a warning); a dry
/// run says what the restore would refuse and goes on.
fn sequence_guard(
    client: &KestraClient,
    ws: &Workspace,
    backup: Option<&crate::git::custody::Link>,
    other_instance: bool,
    replaced: &[&BackupFile],
    req: &Request,
    log: &mut Log,
) -> Result<Vec<crate::report::NewerRow>, CoreError> {
    if replaced.iter().all(|f| f.kind == SourceKind::Kv) {
        return Ok(Vec::new());
    }
    let backup = match sequence::applies(backup, other_instance) {
        sequence::Check::Skipped(why) => {
            log.info(format!("Sequence guard skipped: {why}"));
            return Ok(Vec::new());
        }
        sequence::Check::Against(link) => link,
    };
    let newer = sequence::newer_in_kestra(client, backup, &ws.at(backup.commit), replaced, log)?;
    if newer.is_empty() {
        return Ok(newer);
    }
    let explicit = req.restore.git_ref.as_deref().is_some_and(|r| !r.trim().is_empty());
    let items = listed(newer.iter().map(sequence::describe));
    if explicit {
        let verb = if req.dry_run { "Dry run — a restore would write" } else { "Restoring" };
        log.warn(format!("{verb} backup serial {} (`restore.ref`) over {} item(s) Kestra changed since it was taken: {items}", backup.manifest.serial, newer.len()));
    } else if req.dry_run {
        log.warn(format!("Dry run — without `restore.ref` this restore would be refused: {}", sequence::refusal(backup, &newer).message));
    } else {
        return Err(sequence::refusal(backup, &newer));
    }
    Ok(newer)
}

fn summarise(files: &[BackupFile]) -> RestoreReport {
    let mut summary = RestoreReport::default();
    for file in files {
        match file.drift {
            Drift::InSync => summary.in_sync += 1,
            Drift::MissingInKestra => summary.missing_in_kestra += 1,
            Drift::Differing => summary.differing += 1,
            Drift::OnlyInKestra => summary.only_in_kestra += 1,
        }
        if file.drift != Drift::InSync {
            summary.drift.push(DriftRow { file: file.path.clone(), state: file.drift.as_str() });
        }
    }
    summary
}

/// The backup's flow files among `files`: (repository path, source). A file whose `id` or
/// `namespace` does not match where it lies would be restored under another name: refused.
fn flow_sources(files: &[&BackupFile], tip: &dyn TipTree) -> Result<Vec<(String, String)>, CoreError> {
    let mut out = Vec::new();
    for file in files.iter().filter(|f| f.kind == SourceKind::Flows) {
        let Some(oid) = file.backup else { continue };
        let source = String::from_utf8(tip.read_blob(oid)?)
            .map_err(|_| CoreError::new(ErrorCode::InvalidBackup, format!("`{}` in the backup is not UTF-8 text, so not a flow", file.path)))?;
        let header = flow_header::read(&source);
        let id = crate::snapshot::flow_id(&file.relative);
        if header.id.as_deref() != Some(id) || header.namespace.as_deref() != Some(file.namespace.as_str()) {
            return Err(CoreError::new(
                ErrorCode::InvalidBackup,
                format!(
                    "`{}` in the backup holds the flow `{}.{}`, which belongs in another file; move it to `<flows directory>/<namespace>/<id>.yml`",
                    file.path,
                    header.namespace.unwrap_or_default(),
                    header.id.unwrap_or_default()
                ),
            ));
        }
        out.push((file.path.clone(), source));
    }
    Ok(out)
}

/// Namespace files to write, one upload per namespace, read from the backup one at a time.
fn restore_files(client: &KestraClient, to_write: &[&BackupFile], tip: &dyn TipTree, req: &Request, log: &mut Log) -> Result<usize, CoreError> {
    let mut by_namespace: BTreeMap<&str, Vec<(&str, git2::Oid)>> = BTreeMap::new();
    for file in to_write.iter().filter(|f| f.kind == SourceKind::NamespaceFiles) {
        if let Some(oid) = file.backup {
            by_namespace.entry(file.namespace.as_str()).or_default().push((file.relative.as_str(), oid));
        }
    }
    let mut count = 0;
    for (namespace, files) in by_namespace {
        let read = |i: usize| Ok((files[i].0.to_string(), tip.read_blob(files[i].1)?));
        upload::namespace_files(client, namespace, files.len(), &read, &req.restore, log)?;
        count += files.len();
    }
    Ok(count)
}

/// Up to `LISTED` items joined, then how many more.
fn listed(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    let mut text = items.iter().take(LISTED).cloned().collect::<Vec<_>>().join("; ");
    if items.len() > LISTED {
        text.push_str(&format!("; and {} more", items.len() - LISTED));
    }
    text
}
