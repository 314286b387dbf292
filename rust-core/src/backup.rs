//! The one job: request → export → snapshot → tree → commit (and tag) → push → report, then the
//! same snapshot onto each mirror. Data flows one way; a lost push race loops back to "plan on the
//! new tip", nothing else.

use crate::error::{CoreError, ErrorCode, Rescue};
use crate::export::{self, KestraClient};
use crate::git::{custody, tags, PushOutcome, Workspace};
use crate::incremental::{self, Exported};
use crate::progress::Log;
use crate::export::kv_file::{self, ValueMode};
use crate::report::{ms, DiffRow, KvReport, ManifestReport, MirrorReport, Report, SourceCounts, TagReport, Timings};
use crate::request::{DeletionGuard, KvOptions, Request, Source};
use crate::seal::Recipients;
use crate::snapshot::trigger_state::TriggerLayout;
use crate::snapshot::manifest::{self, Instance, Kind, Scope};
use crate::snapshot::{coverage, not_covered};
use crate::snapshot::{Change, Plan, TipTree};
use std::collections::HashMap;
use crate::snapshot::Snapshot;
use git2::Oid;
use std::collections::BTreeMap;
use std::time::Instant;

/// Wait after a push that lost the race for the branch: from 0.25 s, doubling, at most 8 s; with
/// the default 40 attempts a run keeps trying for about four minutes at most.
const RACE_BACKOFF_BASE: std::time::Duration = std::time::Duration::from_millis(250);
const RACE_BACKOFF_CAP: std::time::Duration = std::time::Duration::from_secs(8);

pub fn run(req: &Request, report: &mut Report, log: &mut Log) -> Result<(), CoreError> {
    // The Kestra URL, the sources' directories and globs and the tag name are checked before any
    // connection.
    if let Some(name) = &req.git.tag {
        tags::check_name(name)?;
    }
    let t = Instant::now();
    let client = req.kestra.as_ref().map(KestraClient::new).transpose()?;
    report.timings_ms.phases.kestra_client = ms(t.elapsed());
    let kv = req.kv.as_ref().map(|kv| Ok::<_, CoreError>((kv, Recipients::parse(&kv.recipients, "kv.recipients")?))).transpose()?;
    let sources = req.backup_sources();
    let mut snapshot = Snapshot::new(&sources)?;
    let trigger_layout = req.trigger_state.as_ref().map(|t| TriggerLayout::new(t, &sources)).transpose()?;
    let t = Instant::now();
    let mut ws = Workspace::open(&req.git, log)?;
    report.branch_created = ws.branch_missing();
    report.timings_ms.fetch = elapsed_ms(t);
    let times = ws.sync_times();
    let phases = &mut report.timings_ms.phases;
    (phases.git_trust, phases.workdir, phases.list_refs, phases.fetch_pack) = (ms(times.trust), ms(times.workdir), ms(times.list_refs), ms(times.fetch_pack));

    let t = Instant::now();
    let exported = match client.as_ref().filter(|_| incremental::applies(req, &sources)) {
        Some(client) => Some(incremental::export(&mut snapshot, &sources, client, &mut ws, req, log, &mut |snapshot, ws, log| {
            export_into(snapshot, &sources, Some(client), ws, None, log)
        })?),
        None => {
            export_into(&mut snapshot, &sources, client.as_ref(), &mut ws, None, log)?;
            None
        }
    };
    report.export_mode = exported.as_ref().map(|e| e.mode.to_string());
    report.timings_ms.phases.listing = exported.as_ref().map_or(0.0, |e| ms(e.listing));
    if let (Some((options, recipients)), Some(client)) = (&kv, &client) {
        report.kv = Some(export_kv(&mut snapshot, sources.len() - 1, options, recipients, client, &mut ws, log)?);
    }
    let triggers = trigger_layout.map(|layout| record_triggers(layout, client.as_ref(), &mut ws, log)).transpose()?;
    let manifest_inputs = req.manifest.then(|| manifest_inputs(req, client.as_ref(), exported, log)).transpose()?;
    report.timings_ms.export = elapsed_ms(t);
    log.peak_memory("the export");

    let primary = publish(&mut ws, &snapshot, triggers.as_ref(), manifest_inputs.as_ref(), req, &mut report.timings_ms, log)?;
    if let Some(e) = manifest_inputs.as_ref().and_then(|m| m.exported.as_ref()).filter(|e| e.mode == "full" && !req.dry_run) {
        incremental::remember_full_export(req, &ws, &e.last_full_export, log);
    }
    report.sources = primary.counts;
    report.diff = primary.diff;
    report.commit_id = primary.commit.map(|c| c.to_string());
    report.commit_url = primary.commit.map(|c| ws.commit_url(c));
    report.bytes_pushed = primary.bytes;
    report.push_attempts = primary.attempts;
    report.bytes_fetched = ws.bytes_fetched();
    report.tag = primary.tag;
    report.manifest = primary.manifest;

    let mut first_failure = None;
    for (n, mirror) in req.git.mirrors.iter().enumerate() {
        let url = crate::git::display_url(&mirror.url);
        let outcome = ws.switch_to_mirror(n, req.git.for_mirror(mirror), log).and_then(|()| publish(&mut ws, &snapshot, triggers.as_ref(), manifest_inputs.as_ref(), req, &mut report.timings_ms, log));
        let mut row = MirrorReport { url: url.clone(), ..MirrorReport::default() };
        match outcome {
            Ok(published) => {
                row.commit_id = published.commit.map(|c| c.to_string());
                row.commit_url = published.commit.map(|c| ws.commit_url(c));
                row.bytes_pushed = published.bytes;
            }
            Err(e) => {
                log.warn(format!("Mirror {url} failed: [{:?}] {}", e.code, e.message));
                row.error = Some(e.message.clone());
                first_failure.get_or_insert((url, e));
            }
        }
        report.mirrors.push(row);
    }
    if let Some((url, e)) = first_failure {
        let primary = match &report.commit_url {
            Some(commit) => format!("the backup was pushed ({commit})"),
            None => "the primary repository needed no change".to_string(),
        };
        return Err(CoreError {
            message: format!("{primary}, but the mirror {url} failed: {}", e.message),
            ..e
        });
    }
    let t = Instant::now();
    drop(ws);
    report.timings_ms.phases.cleanup = ms(t.elapsed());
    Ok(())
}

/// What one remote got from `publish`.
struct Published {
    counts: Vec<SourceCounts>,
    diff: Vec<DiffRow>,
    /// The commit pushed; None when nothing changed or in a dry run.
    commit: Option<Oid>,
    bytes: u64,
    attempts: u32,
    /// The commit `git.tag` names on this remote; None without a tag, in a dry run, or when the
    /// branch has no commit to tag.
    tag: Option<TagReport>,
    /// With `manifest`: the manifest of the commit made (or planned, in a dry run).
    manifest: Option<ManifestReport>,
}

/// What `git.tag` asks of one attempt to publish.
struct TagStep<'a> {
    name: &'a str,
    /// The commit to tag: the tip when nothing changed; None: the commit about to be built.
    target: Option<Oid>,
    /// The remote has no tag of that name yet (otherwise it already names `target`).
    create: bool,
}

impl TagStep<'_> {
    fn report(&self, commit: Oid, created: bool) -> TagReport {
        TagReport { name: self.name.to_string(), commit: commit.to_string(), created }
    }
}

/// Plans the snapshot on the workspace's remote tip, commits, tags (`git.tag`) and pushes the
/// branch and the tag in one push; a lost race loops back to "plan on the new tip", never forcing,
/// within `maxPushAttempts`.
fn publish(
    ws: &mut Workspace,
    snapshot: &Snapshot,
    triggers: Option<&RecordedTriggers>,
    manifest: Option<&ManifestInputs>,
    req: &Request,
    timings: &mut Timings,
    log: &mut Log,
) -> Result<Published, CoreError> {
    let mut published = Published { counts: Vec::new(), diff: Vec::new(), commit: None, bytes: 0, attempts: 0, tag: None, manifest: None };
    // A commit pushed with the tag in a push whose branch update lost the race.
    let mut tagged_in_lost_race = None;
    // Set when the chain check found the history rewritten: the backup goes to a rescue branch.
    let mut rescue: Option<Diverted> = None;
    // Set when `acceptRewrittenHistory` let a rewrite pass: the custody records move, forced.
    let mut accepted = false;
    loop {
        let t = Instant::now();
        let mut plan = snapshot.plan(ws, req.delete, &req.guard, log)?;
        if let Some(t) = triggers {
            t.layout.plan(&t.blobs, ws, req.delete, &mut plan)?;
        }
        published.counts = plan.counts.clone();
        published.diff = crate::diff::rows(&plan.changes, ws)?;
        if rescue.is_none()
            && let Some(rewrite) = custody::check(ws, req.manifest, !plan.changes.is_empty(), log)?
        {
            if req.git.accept_rewritten_history {
                log.warn(format!("`git.acceptRewrittenHistory`: building on the rewritten branch and dropping from the custody chain: {}; {}", rewrite.findings.join("; "), rewrite.now));
                accepted = true;
            } else if req.dry_run {
                return Err(rewritten(ws, &rewrite, "a run that is not a dry run would push its backup to a rescue branch".to_string()));
            } else {
                let branch = rescue_name(ws);
                let base = ws.divert_to(branch.clone(), rewrite.base);
                log.warn(format!("The history of branch `{}` was rewritten; this backup goes to the new branch `{branch}` instead", ws.branch()));
                rescue = Some(Diverted { rewrite, branch, base });
                continue;
            }
        }
        let known_base = rescue.as_ref().and_then(|d| d.rewrite.base);
        published.manifest = match manifest.filter(|_| !plan.changes.is_empty()) {
            Some(inputs) => Some(add_manifest(ws, snapshot, triggers, inputs, known_base, &mut plan, log)?),
            None => None,
        };
        timings.snapshot += elapsed_ms(t);

        let changed = !plan.changes.is_empty();
        // Checked before anything is committed: a tag in the way fails the run with nothing pushed.
        // A rescue branch gets no tag: the tag belongs to the branch's history.
        let tag = if rescue.is_some() { None } else { tag_step(ws, req, changed, tagged_in_lost_race, log)? };
        let tag_to_push = tag.as_ref().filter(|t| t.create);
        if req.dry_run {
            if changed {
                log.info(format!(
                    "Dry run — no changes will be pushed to {} for now until you set the `dryRun` parameter to false",
                    ws.display_url()
                ));
            } else {
                log.info("No changes to commit. Skipping push.");
            }
            if let Some(t) = tag_to_push {
                let what = t.target.map_or_else(|| "the new commit".to_string(), |c| c.to_string());
                log.info(format!("Dry run — would tag {what} as `{}`", t.name));
            }
            return Ok(published);
        }
        if !changed && tag_to_push.is_none() {
            if let Some(diverted) = rescue {
                return Err(rescue_as_is(ws, diverted, log));
            }
            log.info("No changes to commit. Skipping push.");
            published.tag = tag.and_then(|t| t.target.map(|tip| t.report(tip, false)));
            keep_custody(ws, req, None, accepted, log)?;
            return Ok(published);
        }

        let t = Instant::now();
        let commit = if changed { Some(ws.commit(&plan.changes, &req.commit_message(), log)?) } else { None };
        let tagged = tag_to_push.and_then(|t| t.target.or(commit));
        let refspecs = match (tag_to_push, tagged) {
            (Some(t), Some(target)) => vec![ws.write_tag(t.name, target, &req.commit_message(), log)?],
            _ => Vec::new(),
        };
        timings.commit += elapsed_ms(t);
        log.peak_memory("the commit");

        let t = Instant::now();
        published.attempts += 1;
        let outcome = ws.push(commit, &refspecs, log);
        timings.push += elapsed_ms(t);
        log.peak_memory("the push");
        let unpushed = |ws: &Workspace, e: CoreError, log: &mut Log| match commit {
            // The branch took the commit when only the tag was refused: nothing to keep.
            Some(commit) if ws.tip() != Some(commit) => keep_unpushed(ws, commit, e, req, log),
            _ => e,
        };
        match outcome.map_err(|e| unpushed(ws, e, log))? {
            PushOutcome::Pushed { bytes } => {
                published.bytes += bytes;
                published.commit = commit;
                published.tag = tag_to_push.zip(tagged).map(|(t, c)| t.report(c, true));
                if let Some(commit) = commit {
                    log.info(format!("Pushed to {}", ws.commit_url(commit)));
                }
                if let Some(diverted) = rescue {
                    return Err(rescued(ws, &diverted, commit.or(diverted.base)));
                }
                keep_custody(ws, req, commit, accepted, log)?;
                return Ok(published);
            }
            PushOutcome::BranchMoved { bytes } if rescue.is_some() => {
                published.bytes += bytes;
                let err = CoreError::new(ErrorCode::Conflict, format!("the rescue branch `{}` appeared on {} during the push; run the task again", rescue.map(|d| d.branch).unwrap_or_default(), ws.display_url()));
                return Err(unpushed(ws, err, log));
            }
            PushOutcome::BranchMoved { bytes } => {
                published.bytes += bytes;
                tagged_in_lost_race = tagged.or(tagged_in_lost_race);
                let attempts = published.attempts;
                if attempts >= req.git.max_push_attempts {
                    let err = CoreError::new(
                        ErrorCode::Conflict,
                        format!("branch `{}` of {} kept moving: {attempts} push attempts lost the race; run the task again", ws.branch(), ws.display_url()),
                    );
                    return Err(unpushed(ws, err, log));
                }
                // Writers that lost together must not retry together: each waits its own while.
                let delay = crate::retry::backoff(attempts - 1, RACE_BACKOFF_BASE, RACE_BACKOFF_CAP);
                log.info(format!(
                    "Branch `{}` moved on the remote; rebuilding the same snapshot on the new tip in {} ms ({} attempts left)",
                    ws.branch(),
                    delay.as_millis(),
                    req.git.max_push_attempts - attempts
                ));
                std::thread::sleep(delay);
                ws.refresh(log)?;
            }
        }
    }
}

/// What the manifest needs besides the tree, read once per run for the primary and the mirrors.
struct ManifestInputs {
    /// None: the run has no Kestra API (PushNamespaceFiles reads the worker's storage); the
    /// previous manifest's instance is kept.
    instance: Option<Instance>,
    not_covered: Vec<String>,
    /// The request's guard, which the coverage guard applies too.
    guard: DeletionGuard,
    /// What an incremental-capable export learnt from Kestra's listings.
    exported: Option<Exported>,
}

/// The instance the backup reads from (its identity as Kestra reports it, and the API URL without
/// credentials) and what the request leaves out.
fn manifest_inputs(req: &Request, client: Option<&KestraClient>, exported: Option<Exported>, log: &mut Log) -> Result<ManifestInputs, CoreError> {
    let instance = match (client, &req.kestra) {
        (Some(client), Some(config)) => {
            let identity = export::instance::fetch(client, log)?;
            Some(Instance { id: identity.id, version: identity.version, url: Some(crate::git::display_url(&config.url)) })
        }
        _ => None,
    };
    Ok(ManifestInputs { instance, not_covered: not_covered::list(req), guard: req.guard.clone(), exported })
}

/// With `manifest`: the backup's manifest joins a commit that changes something (a no-change run
/// still makes no commit); its serial follows the newest backup commit of the branch, which it
/// names as `previous`. With an incremental-capable export, it records Kestra's metadata of each
/// item and the last full export. The coverage guard compares it with that backup's first. On a rescue
/// branch, `known_base` is the intact backup commit it starts from.
fn add_manifest(
    ws: &mut Workspace,
    snapshot: &Snapshot,
    triggers: Option<&RecordedTriggers>,
    inputs: &ManifestInputs,
    known_base: Option<Oid>,
    plan: &mut Plan,
    log: &mut Log,
) -> Result<ManifestReport, CoreError> {
    let mut dirs: Vec<(Kind, &str)> = snapshot.source_dirs().map(|(kind, dir)| (Kind::from(kind), dir)).collect();
    if let Some(t) = triggers {
        dirs.push((Kind::Triggers, t.layout.dir()));
    }
    let last = match (known_base, ws.tip()) {
        (Some(base), _) => custody::link_at(ws, base)?,
        (None, Some(tip)) => custody::newest_backup(ws, tip, log)?,
        (None, None) => None,
    };
    // The incremental export read the tip's manifest already: read again only for another commit.
    let read_by_export = inputs.exported.as_ref().and_then(|e| e.record.as_ref()).filter(|(commit, _)| last.as_ref().is_some_and(|l| l.commit == *commit));
    let read_here = match (&last, read_by_export) {
        (Some(l), None) => Some(l.full_manifest(ws)?),
        _ => None,
    };
    let before = read_by_export.map(|(_, m)| m).or(read_here.as_ref());
    let name_of = |kind: Kind, path: &str| match kind {
        Kind::Triggers => triggers.and_then(|t| t.layout.flow_at(path)),
        _ => snapshot.item_at(path),
    };
    let scope = Scope { dirs: &dirs, name_of: &name_of };
    let instance = inputs.instance.clone().or_else(|| before.map(|b| b.instance.clone())).unwrap_or_default();
    let mut described = manifest::describe(ws, &plan.changes, &scope, before, instance, inputs.not_covered.clone())?;
    if let Some(exported) = &inputs.exported {
        manifest::annotate(&mut described, &exported.listed);
        described.last_full_export = Some(exported.last_full_export.clone());
    }
    if let Some(before) = before {
        coverage::check(&inputs.guard, before, &described, &|item| scope.owns(&item.path), log)?;
    }
    described.serial = before.map_or(1, |b| b.serial + 1);
    described.previous = last.map(|l| l.as_previous());
    let mut committed: HashMap<String, Oid> = ws.files_under(manifest::DIR)?.into_iter().map(|f| (f.path, f.oid)).collect();
    for (path, bytes) in described.files() {
        let oid = ws.write_blob(&bytes)?;
        let previous = committed.remove(&path);
        if previous != Some(oid) {
            plan.changes.push(Change::Upsert { path, oid, mode: 0o100644, previous });
        }
    }
    // Item files of namespaces that have no items any more.
    let gone = committed.into_iter().filter(|(path, _)| path.starts_with(&format!("{}/", manifest::ITEMS_DIR)));
    plan.changes.extend(gone.map(|(path, oid)| Change::Delete { path, previous: oid }));
    plan.changes.sort_by(|a, b| a.path().cmp(b.path()));
    Ok(ManifestReport {
        serial: described.serial,
        previous_commit: described.previous.as_ref().map(|p| p.commit.clone()),
        previous_serial: described.previous.as_ref().map(|p| p.serial),
    })
}

/// Where a run whose branch history was rewritten puts its backup (`custody::check`).
struct Diverted {
    rewrite: custody::Rewrite,
    branch: String,
    /// The commit the rescue branch starts from: the last intact backup commit, else the tip.
    base: Option<Oid>,
}

/// After a push to the branch, or a run with nothing to push: the custody records follow. A
/// pushed commit moves the cache's record and, when it carries a manifest, the remote's. Without
/// a commit they move only to start (first run with custody) or after an accepted rewrite, to
/// the branch's newest backup commit (its tip without manifests).
fn keep_custody(ws: &mut Workspace, req: &Request, pushed: Option<Oid>, accepted: bool, log: &mut Log) -> Result<(), CoreError> {
    let remote_wanted = req.manifest && (pushed.is_some() || accepted || ws.remote_record().is_none());
    let cache_wanted = ws.keeps_cache_record() && (pushed.is_some() || accepted || ws.cached_record().is_none());
    let anchor = match (pushed, ws.tip()) {
        (Some(commit), _) => Some(commit),
        // The tip of a missing branch is the default branch's: nothing of ours to record.
        (None, _) if ws.branch_missing() || (!remote_wanted && !cache_wanted) => None,
        (None, None) => None,
        (None, Some(tip)) if req.manifest => match custody::link_at(ws, tip)? {
            // Only a tip that carries a manifest is looked under: no walk on a branch without one.
            Some(_) => custody::newest_backup(ws, tip, log)?.map(|l| l.commit),
            None => None,
        },
        (None, Some(tip)) => Some(tip),
    };
    let Some(anchor) = anchor else { return Ok(()) };
    if cache_wanted {
        ws.remember_pushed(anchor, log)?;
    }
    if remote_wanted {
        ws.push_record(anchor, accepted, log);
    }
    Ok(())
}

/// `<branch>-rescue-<yyyyMMdd-HHmmss, UTC>`; `-2`, `-3`... when a run of the same second took it.
fn rescue_name(ws: &Workspace) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let digits: String = crate::instant::rfc3339(now).chars().filter(char::is_ascii_digit).collect();
    let name = format!("{}-rescue-{}-{}", ws.branch(), &digits[..8], &digits[8..14]);
    (1..).map(|n| if n == 1 { name.clone() } else { format!("{name}-{n}") }).find(|n| !ws.remote_has_branch(n)).unwrap_or(name)
}

/// The `HistoryRewritten` error: what the check found, where the branch stands, and `then`.
fn rewritten(ws: &Workspace, rewrite: &custody::Rewrite, then: String) -> CoreError {
    CoreError::new(
        ErrorCode::HistoryRewritten,
        format!(
            "the history of branch `{}` of {} was rewritten: {}; {}. Nothing was pushed to `{}`: {then}. If the rewrite was made on purpose, \
             run once with `git.acceptRewrittenHistory: true`; see docs/custody.md",
            ws.branch(),
            ws.display_url(),
            rewrite.findings.join("; "),
            rewrite.now,
            ws.branch()
        ),
    )
}

/// The error of a run whose backup went to its rescue branch as `commit`.
fn rescued(ws: &Workspace, diverted: &Diverted, commit: Option<Oid>) -> CoreError {
    let Some(commit) = commit else {
        return rewritten(ws, &diverted.rewrite, "the branch holds no commit to rescue".to_string());
    };
    let url = ws.commit_url(commit);
    let built = match (diverted.base, diverted.rewrite.base) {
        (Some(base), Some(_)) if base == commit => format!("the last intact backup commit {base}, which this backup adds nothing to"),
        (Some(base), Some(_)) => format!("built on the last intact backup commit {base}"),
        _ => "built on the current tip (no intact backup commit is known)".to_string(),
    };
    let then = format!(
        "the backup went to the new branch `{}` ({url}), {built}. To bring `{}` back: `git push --force <remote> {}:{}`",
        diverted.branch,
        ws.branch(),
        diverted.branch,
        ws.branch()
    );
    CoreError { rescue: Some(Box::new(Rescue { branch: diverted.branch.clone(), commit: commit.to_string(), commit_url: url })), ..rewritten(ws, &diverted.rewrite, then) }
}

/// A rescue with nothing new against its base: the base itself is pushed as the rescue branch,
/// so the commits the rewrite dropped are on a branch again.
fn rescue_as_is(ws: &mut Workspace, diverted: Diverted, log: &mut Log) -> CoreError {
    let Some(base) = diverted.base else { return rescued(ws, &diverted, None) };
    let pushed = ws.stage_existing(base).and_then(|()| ws.push(Some(base), &[], log));
    match pushed {
        Ok(PushOutcome::Pushed { .. }) => rescued(ws, &diverted, Some(base)),
        Ok(PushOutcome::BranchMoved { .. }) => CoreError::new(ErrorCode::Conflict, format!("the rescue branch `{}` appeared on {} during the push; run the task again", diverted.branch, ws.display_url())),
        Err(e) => CoreError { message: format!("{}; and the rescue branch `{}` could not be pushed: {}", rewritten(ws, &diverted.rewrite, format!("the last intact backup commit is {base}")).message, diverted.branch, e.message), ..e },
    }
}

/// What `git.tag` asks of this attempt, checked against the remote's tag of that name as fetched:
/// none without a tag (or without a commit to tag); an error when the tag names another commit.
fn tag_step<'a>(ws: &Workspace, req: &'a Request, changed: bool, tagged_in_lost_race: Option<Oid>, log: &mut Log) -> Result<Option<TagStep<'a>>, CoreError> {
    let Some(name) = req.git.tag.as_deref() else { return Ok(None) };
    let target = if changed { None } else { ws.tip() };
    if !changed && target.is_none() {
        log.warn(format!("Tag `{name}` not created: branch `{}` of {} has no commit to tag", ws.branch(), ws.display_url()));
        return Ok(None);
    }
    let create = tags::must_create(name, ws.remote_tag(name), target, tagged_in_lost_race, &ws.display_url())?;
    if !create {
        log.info(format!("Tag `{name}` already names {}; nothing to push for it", target.map(|t| t.to_string()).unwrap_or_default()));
    }
    Ok(Some(TagStep { name, target, create }))
}

/// A commit that was built but not pushed is never dropped with the run's temporary repository:
/// it is saved as a Git bundle in `unpushedDir` (default: the system temp directory) and both are
/// named in the error, for the caller to keep or show.
fn keep_unpushed(ws: &Workspace, commit: Oid, mut err: CoreError, req: &Request, log: &mut Log) -> CoreError {
    err.local_commit = Some(commit.to_string());
    let dir = req.git.unpushed_dir.clone().unwrap_or_else(std::env::temp_dir);
    let written = ws.write_bundle(commit, &dir);
    log.peak_memory("the bundle");
    match written {
        Ok(path) => {
            err.message = format!("{}; the commit {commit} is saved as a Git bundle", err.message);
            err.unpushed_bundle = Some(path);
        }
        Err(e) => log.warn(format!("The commit {commit} could not be saved as a Git bundle: {}", e.message)),
    }
    err
}

/// The trigger-state files of `req.triggerState`, their blobs written: repository path → blob.
struct RecordedTriggers {
    layout: TriggerLayout,
    blobs: BTreeMap<String, Oid>,
}

fn record_triggers(layout: TriggerLayout, client: Option<&KestraClient>, ws: &mut Workspace, log: &mut Log) -> Result<RecordedTriggers, CoreError> {
    let client = client.ok_or_else(|| CoreError::invalid("kestra", "is missing; trigger state is read from the Kestra API"))?;
    let flags = export::triggers::disabled_flags(client, layout.search_root(), log)?.disabled;
    let mut blobs = BTreeMap::new();
    for (path, bytes) in layout.files(&flags)? {
        blobs.insert(path, ws.write_blob(&bytes)?);
    }
    let disabled = flags.iter().filter(|(k, d)| **d && layout.covers(&k.namespace)).count();
    log.info(format!("Recorded the on/off state of the triggers of {} flow(s) in `{}` ({disabled} disabled)", blobs.len(), layout.dir()));
    Ok(RecordedTriggers { layout, blobs })
}

/// Fills `snapshot` with what Kestra holds now, laid out as the repository would hold it. Every
/// exported item is mapped to its path and written as a blob at once, so memory holds one item at
/// a time, never the export. Namespaces the backup holds (at `backup`, default the tip) are
/// exported too, even when no flow of Kestra names them.
pub(crate) fn export_into(
    snapshot: &mut Snapshot,
    sources: &[Source],
    client: Option<&KestraClient>,
    ws: &mut Workspace,
    backup: Option<Oid>,
    log: &mut Log,
) -> Result<(), CoreError> {
    for (index, source) in sources.iter().enumerate() {
        let in_backup = match backup {
            Some(commit) => snapshot.namespaces_in_backup(index, &ws.at(commit))?,
            None => snapshot.namespaces_in_backup(index, ws)?,
        };
        export::export_source(client, source, &in_backup, log, &mut |item| snapshot.add(index, item, &mut |bytes| ws.write_blob(bytes)))?;
    }
    Ok(())
}

/// The KV entries into the snapshot's source `index`; a file of the branch tip that still stands
/// for its entry is kept byte for byte (`KvFile::still_current`), so no change means no commit.
fn export_kv(snapshot: &mut Snapshot, index: usize, options: &KvOptions, recipients: &Recipients, client: &KestraClient, ws: &mut Workspace, log: &mut Log) -> Result<KvReport, CoreError> {
    let mode = match (recipients.is_empty(), options.plaintext) {
        (false, _) => ValueMode::Sealed(recipients.texts()),
        (true, true) => ValueMode::Plaintext,
        (true, false) => ValueMode::Stub,
    };
    let dir = crate::snapshot::safe_path::normalise_dir(&options.git_directory, "kv.gitDirectory")?;
    let in_tip: HashMap<String, Oid> = ws.files_under(&dir)?.into_iter().map(|f| (f.path, f.oid)).collect();
    let mut items = Vec::new();
    let done = {
        let ws: &Workspace = ws;
        let mut previous = |namespace: &str, key: &str| {
            let path = crate::snapshot::safe_path::join(&crate::snapshot::safe_path::join(&dir, namespace), &kv_file::file_name(key));
            in_tip.get(&path).map(|oid| ws.read_blob(*oid)).transpose()
        };
        let relative = |path: &str| if dir.is_empty() { Some(path.to_string()) } else { path.strip_prefix(&dir)?.strip_prefix('/').map(str::to_string) };
        let backed_up = in_tip.keys().filter_map(|path| kv_file::entry_at(&relative(path)?)).collect();
        export::kv::export(client, &options.namespace_prefix, &mode, recipients, &mut previous, backed_up, log, &mut |item| {
            items.push(item);
            Ok(())
        })?
    };
    for item in items {
        snapshot.add(index, item, &mut |bytes| ws.write_blob(bytes))?;
    }
    Ok(KvReport { entries: done.entries, sealed: done.sealed, newly_sealed: done.newly_sealed, plaintext: done.plaintext, stubs: done.stubs, ..KvReport::default() })
}

pub(crate) fn elapsed_ms(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}
