//! The incremental export of a backup whose sources discover namespaces (BackupInstance): list
//! what Kestra holds with its metadata (`export::listing`), compare with what the branch tip's
//! manifest recorded, and download only what is new or changed; unchanged items keep the tip's
//! blob (`Snapshot::keep`), items gone from the listings are deleted by the plan as after a full
//! export. A full export still runs when nothing was recorded, when a listing contradicts the
//! record in a way Kestra's metadata cannot explain, and at least every `fullExportEvery`; a full
//! export names the items whose content changed although their metadata did not.

use crate::error::CoreError;
use crate::export::listing::{self, ListedFile, ListedFlow};
use crate::export::{self, join_names, ExportedItem, KestraClient};
use crate::git::Workspace;
use crate::progress::Log;
use crate::request::{NamespaceSelector, Request, Source, SourceKind};
use crate::snapshot::manifest::{self, Item, ItemMeta, Manifest};
use crate::snapshot::{Name, Snapshot, TipTree};
use git2::Oid;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

/// The file of the cache directory that remembers, per remote and branch, the last full export
/// that found nothing to commit (a run without a commit writes no manifest).
const CACHE_RECORD: &str = "kestra-backup-full-exports.json";

/// What the export knew that the manifest records.
pub struct Exported {
    /// Repository path → what Kestra's listing said about the item there.
    pub listed: BTreeMap<String, ItemMeta>,
    /// The newest full export the snapshot was checked against, RFC 3339.
    pub last_full_export: String,
    /// `full` or `incremental`.
    pub mode: &'static str,
    /// Time spent reading Kestra's listings.
    pub listing: std::time::Duration,
    /// The branch tip's manifest the export compared with, and that commit: the manifest step
    /// reuses it when the tip is still the newest backup, instead of reading it again.
    pub record: Option<(Oid, Manifest)>,
}

/// Whether `sources` can be exported incrementally: a backup that writes a manifest, with a
/// Kestra API, whose flow and namespace-file sources all discover namespaces from Kestra.
pub fn applies(req: &Request, sources: &[Source]) -> bool {
    req.manifest
        && req.kestra.is_some()
        && sources.iter().all(|s| s.kind == SourceKind::Kv || (matches!(s.namespaces, NamespaceSelector::Discover { .. }) && s.provided_files.is_none()))
}

/// One listed item of one source, mapped to its repository path.
struct Listed {
    path: String,
    namespace: String,
    name: ListedName,
    meta: ItemMeta,
}

enum ListedName {
    Flow { id: String, draft: bool },
    File { path: String },
}

impl Listed {
    fn name(&self) -> Name<'_> {
        match &self.name {
            ListedName::Flow { id, .. } => Name::Flow(id),
            ListedName::File { path } => Name::File(path),
        }
    }

    /// Kestra's metadata says the item is what the record describes.
    fn matches(&self, recorded: &Item) -> bool {
        recorded.revision == self.meta.revision && recorded.updated == self.meta.updated && recorded.size == self.meta.size
    }

    /// The listing contradicts the record in a way metadata cannot explain: a flow of the same
    /// revision updated at another time, a file of the same modification time with another size.
    fn contradicts(&self, recorded: &Item) -> Option<String> {
        match &self.name {
            ListedName::Flow { .. } if recorded.revision == self.meta.revision && recorded.updated != self.meta.updated => {
                Some(format!("Kestra lists revision {} of `{}` with another update time than the backup recorded", self.meta.revision.unwrap_or_default(), self.path))
            }
            ListedName::File { .. } if recorded.updated == self.meta.updated && recorded.size != self.meta.size => Some(format!(
                "Kestra lists `{}` with the recorded modification time but {} bytes instead of {}",
                self.path,
                self.meta.size.unwrap_or_default(),
                recorded.size.unwrap_or_default()
            )),
            _ => None,
        }
    }
}

/// Fills `snapshot` with what Kestra holds, incrementally when the tip's manifest allows it,
/// else through `full_export` (the usual export of every source).
pub fn export(
    snapshot: &mut Snapshot,
    sources: &[Source],
    client: &KestraClient,
    ws: &mut Workspace,
    req: &Request,
    log: &mut Log,
    full_export: &mut dyn FnMut(&mut Snapshot, &mut Workspace, &mut Log) -> Result<(), CoreError>,
) -> Result<Exported, CoreError> {
    let every = req.full_export_interval()?;
    let now = now_seconds();
    let tip = ws.tip();
    let record = match tip {
        Some(tip) => manifest::read(ws, &tip.to_string())?,
        None => None,
    };
    let started = std::time::Instant::now();
    let listings = list(snapshot, sources, client, ws, log)?;
    let listing = started.elapsed();
    let listed: BTreeMap<String, ItemMeta> = listings.iter().flatten().map(|l| (l.path.clone(), l.meta.clone())).collect();
    let recorded: HashMap<&str, &Item> = record.iter().flat_map(|m| m.kinds.values().flat_map(|k| k.items.iter())).map(|i| (i.path.as_str(), i)).collect();
    let mut tip_blobs: HashMap<String, Oid> = HashMap::new();
    for (_, dir) in snapshot.source_dirs() {
        tip_blobs.extend(ws.files_under(dir)?.into_iter().map(|f| (f.path, f.oid)));
    }
    // An item the record describes and the tip still holds as recorded.
    let kept_blob = |l: &Listed| -> Option<Oid> {
        let item = recorded.get(l.path.as_str()).filter(|i| l.matches(i))?;
        tip_blobs.get(&l.path).copied().filter(|oid| oid.to_string() == item.blob)
    };
    let last_full = last_full_export(record.as_ref(), req, ws);

    match full_reason(record.as_ref(), last_full, now, every, &req.full_export_every, listings.iter().flatten(), &recorded) {
        Some(reason) => {
            log.info(format!("Full export: {reason}"));
            full_export(snapshot, ws, log)?;
            let differing: Vec<&str> = sources
                .iter()
                .enumerate()
                .flat_map(|(index, _)| listings[index].iter().map(move |l| (index, l)))
                .filter(|(index, l)| kept_blob(l).is_some_and(|kept| snapshot.entry(*index, &l.path).is_some_and(|now| now != kept)))
                .map(|(_, l)| l.path.as_str())
                .collect();
            if !differing.is_empty() {
                log.warn(format!(
                    "The full export found {} item(s) whose content differs from what the backup kept although Kestra's metadata did not change; this commit takes Kestra's content: {}",
                    differing.len(),
                    join_names(&differing)
                ));
            }
            Ok(Exported { listed, last_full_export: crate::instant::rfc3339(now), mode: "full", listing, record: tip.zip(record) })
        }
        None => {
            let last_full = last_full.unwrap_or(now);
            let mut downloaded = (0usize, 0usize);
            for (index, source) in sources.iter().enumerate() {
                let got = match source.kind {
                    SourceKind::Flows => flows(snapshot, index, source, &listings[index], &kept_blob, client, ws, log)?,
                    SourceKind::NamespaceFiles => files(snapshot, index, &listings[index], &kept_blob, client, ws, log)?,
                    SourceKind::Kv => 0,
                };
                if source.kind == SourceKind::Flows { downloaded.0 += got } else { downloaded.1 += got }
            }
            let count = |kind: SourceKind| sources.iter().enumerate().filter(|(_, s)| s.kind == kind).map(|(i, _)| listings[i].len()).sum::<usize>();
            log.info(format!(
                "Incremental export (last full export {}, `fullExportEvery` {}): {} of {} flow(s) and {} of {} namespace file(s) downloaded as new or changed; the rest kept from the backup",
                crate::instant::rfc3339(last_full),
                req.full_export_every,
                downloaded.0,
                count(SourceKind::Flows),
                downloaded.1,
                count(SourceKind::NamespaceFiles)
            ));
            Ok(Exported { listed, last_full_export: crate::instant::rfc3339(last_full), mode: "incremental", listing, record: tip.zip(record) })
        }
    }
}

/// Why this run must export everything, or None.
fn full_reason<'a>(
    record: Option<&Manifest>,
    last_full: Option<i64>,
    now: i64,
    every: i64,
    every_text: &str,
    mut listed: impl Iterator<Item = &'a Listed>,
    recorded: &HashMap<&str, &Item>,
) -> Option<String> {
    if record.is_none() {
        return Some("the branch has no backup manifest to compare Kestra's listings with".into());
    }
    let Some(last) = last_full else {
        return Some("the backup's manifest records no full export and no Kestra revisions".into());
    };
    if every == 0 {
        return Some("`fullExportEvery` is zero".into());
    }
    if now - last >= every {
        return Some(format!("the last full export ran at {}, `fullExportEvery` is {every_text}", crate::instant::rfc3339(last)));
    }
    listed.find_map(|l| l.contradicts(recorded.get(l.path.as_str())?)).map(|why| format!("{why}; the listings cannot be trusted this run"))
}

/// The newest full export known: the tip manifest's, or a later one remembered by the cache
/// directory (a full export that found no change made no commit).
fn last_full_export(record: Option<&Manifest>, req: &Request, ws: &Workspace) -> Option<i64> {
    let recorded = record?.last_full_export.as_deref().and_then(crate::instant::parse_instant)?;
    let cached = req.git.cache_dir.as_deref().and_then(|dir| read_cache_record(dir).remove(&cache_key(ws))).and_then(|t| crate::instant::parse_instant(&t));
    Some(cached.map_or(recorded, |c| c.max(recorded)))
}

/// Remembers in `git.cacheDir` that a full export at `at` (RFC 3339) found the branch up to date
/// or committed; without a cache directory only the manifest of a commit records it.
pub fn remember_full_export(req: &Request, ws: &Workspace, at: &str, log: &mut Log) {
    let Some(dir) = req.git.cache_dir.as_deref() else { return };
    let mut records = read_cache_record(dir);
    records.insert(cache_key(ws), at.to_string());
    let written = serde_json::to_vec_pretty(&records).map_err(std::io::Error::other).and_then(|bytes| std::fs::write(cache_path(dir), bytes));
    if let Err(e) = written {
        log.warn(format!("Could not note the full export in `git.cacheDir` ({e}); the next run may export everything again"));
    }
}

fn cache_key(ws: &Workspace) -> String {
    format!("{} {}", ws.display_url(), ws.branch())
}

fn cache_path(dir: &Path) -> PathBuf {
    dir.join(CACHE_RECORD)
}

fn read_cache_record(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read(cache_path(dir)).ok().and_then(|bytes| serde_json::from_slice(&bytes).ok()).unwrap_or_default()
}

fn now_seconds() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

/// Kestra's listings per source (empty for KV), each item mapped to its repository path; items
/// the source does not take (other namespaces, globs) are left out.
fn list(snapshot: &Snapshot, sources: &[Source], client: &KestraClient, ws: &Workspace, log: &mut Log) -> Result<Vec<Vec<Listed>>, CoreError> {
    let mut all = Vec::with_capacity(sources.len());
    for (index, source) in sources.iter().enumerate() {
        let prefix = match &source.namespaces {
            NamespaceSelector::Discover { prefix } => prefix.as_str(),
            NamespaceSelector::One { namespace, .. } => namespace.as_str(),
        };
        let mut listed = Vec::new();
        match source.kind {
            SourceKind::Flows => {
                for ListedFlow { namespace, id, revision, updated, draft, .. } in listing::flows(client, prefix, log)? {
                    let Some(path) = snapshot.path_for(index, &namespace, &Name::Flow(&id)) else { continue };
                    let meta = ItemMeta { namespace: namespace.clone(), revision: Some(revision), updated, size: None };
                    listed.push(Listed { path, namespace, name: ListedName::Flow { id, draft }, meta });
                }
            }
            SourceKind::NamespaceFiles => {
                let in_backup = snapshot.namespaces_in_backup(index, ws)?;
                let namespaces = export::file_namespaces(client, &source.namespaces, &in_backup, log)?;
                for files in crate::fan_out::each(&namespaces, log, |namespace, log| listing::files(client, namespace, log))? {
                    for ListedFile { namespace, path: file, size, updated } in files {
                        let Some(path) = snapshot.path_for(index, &namespace, &Name::File(&file)) else { continue };
                        let meta = ItemMeta { namespace: namespace.clone(), revision: None, updated: Some(updated), size: Some(size) };
                        listed.push(Listed { path, namespace, name: ListedName::File { path: file }, meta });
                    }
                }
            }
            SourceKind::Kv => {}
        }
        all.push(listed);
    }
    Ok(all)
}

/// True when more than half of `total` items changed: one archive of them all costs less than
/// asking for each.
fn mostly_changed(changed: usize, total: usize) -> bool {
    changed > 1 && changed * 2 > total
}

/// The flows of one source: unchanged ones kept, changed ones by id. A flow whose newest revision
/// is a draft is exported by Kestra as its last saved revision, which only the export by query
/// resolves: its namespace comes from that export. Returns how many flows were downloaded.
#[allow(clippy::too_many_arguments)]
fn flows(
    snapshot: &mut Snapshot,
    index: usize,
    source: &Source,
    listed: &[Listed],
    kept_blob: &dyn Fn(&Listed) -> Option<Oid>,
    client: &KestraClient,
    ws: &mut Workspace,
    log: &mut Log,
) -> Result<usize, CoreError> {
    let changed: Vec<&Listed> = listed.iter().filter(|l| kept_blob(l).is_none()).collect();
    let add = |item: ExportedItem, ws: &mut Workspace, snapshot: &mut Snapshot| snapshot.add(index, item, &mut |bytes| ws.write_blob(bytes));
    if mostly_changed(changed.len(), listed.len()) {
        export::export_source(Some(client), source, &[], log, &mut |item| add(item, ws, snapshot))?;
        return Ok(listed.len());
    }
    let by_query: BTreeSet<&str> = changed.iter().filter(|l| matches!(l.name, ListedName::Flow { draft: true, .. })).map(|l| l.namespace.as_str()).collect();
    for l in listed.iter().filter(|l| !by_query.contains(l.namespace.as_str())) {
        if let Some(oid) = kept_blob(l) {
            snapshot.keep(index, &l.namespace, &l.name(), oid)?;
        }
    }
    let ids: Vec<(String, String)> = changed
        .iter()
        .filter(|l| !by_query.contains(l.namespace.as_str()))
        .filter_map(|l| match &l.name {
            ListedName::Flow { id, .. } => Some((l.namespace.clone(), id.clone())),
            ListedName::File { .. } => None,
        })
        .collect();
    export::flows_by_ids(client, &ids, log, &mut |item| add(item, ws, snapshot))?;
    for namespace in &by_query {
        let query = [("filters[namespace][EQUALS]", *namespace)];
        let what = format!("namespace `{namespace}` (a flow of it has a draft as its newest revision)");
        export::flows_by_query(client, &query, &what, log, &mut |item| add(item, ws, snapshot))?;
    }
    Ok(ids.len() + listed.iter().filter(|l| by_query.contains(l.namespace.as_str())).count())
}

/// The namespace files of one source, namespace by namespace: unchanged ones kept, changed ones
/// one by one, or from the namespace's archive when most of it changed. A namespace root's
/// `.kestraignore` is always read from Kestra. Returns how many files were downloaded.
fn files(
    snapshot: &mut Snapshot,
    index: usize,
    listed: &[Listed],
    kept_blob: &dyn Fn(&Listed) -> Option<Oid>,
    client: &KestraClient,
    ws: &mut Workspace,
    log: &mut Log,
) -> Result<usize, CoreError> {
    let mut by_namespace: BTreeMap<&str, Vec<&Listed>> = BTreeMap::new();
    for l in listed {
        by_namespace.entry(l.namespace.as_str()).or_default().push(l);
    }
    let mut downloaded = 0;
    for (namespace, items) in by_namespace {
        let is_ignore = |l: &Listed| matches!(&l.name, ListedName::File { path } if path == crate::snapshot::IGNORE_FILE);
        let (changed, unchanged): (Vec<&Listed>, Vec<&Listed>) = items.iter().partition(|l| is_ignore(l) || kept_blob(l).is_none());
        let mut kept = BTreeSet::new();
        for l in &unchanged {
            if let (Some(oid), ListedName::File { path }) = (kept_blob(l), &l.name) {
                snapshot.keep(index, namespace, &l.name(), oid)?;
                kept.insert(path.as_str());
            }
        }
        if changed.is_empty() {
            continue;
        }
        downloaded += changed.len();
        let mut add = |item: ExportedItem| snapshot.add(index, item, &mut |bytes| ws.write_blob(bytes));
        if mostly_changed(changed.len(), items.len()) {
            export::namespace_files_except(client, namespace, &|path| kept.contains(path), log, &mut add)?;
        } else {
            let paths: Vec<String> = changed.iter().filter_map(|l| if let ListedName::File { path } = &l.name { Some(path.clone()) } else { None }).collect();
            export::files_one_by_one(client, namespace, &paths, log, &mut add)?;
        }
    }
    Ok(downloaded)
}
