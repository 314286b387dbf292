//! The sequence guard of a restore (`docs/tasks/restore-instance.md`, "Guards"): a flow or
//! namespace file the restore would replace that Kestra changed after the backup read it. Its
//! manifest recorded Kestra's revision of each flow and the last modification of each file;
//! Kestra's listings (`export::listing`) give them now. A newer revision or a later modification
//! means restoring would silently undo that change, as Terraform refuses a state of a lower
//! serial over a newer one. The caller decides what a finding does (`mod.rs`): without an
//! explicit `ref` a restore is refused, with one it is restored with a warning.

use super::listed;
use crate::error::{CoreError, ErrorCode};
use crate::export::listing;
use crate::export::KestraClient;
use crate::git::custody::Link;
use crate::progress::Log;
use crate::report::NewerRow;
use crate::request::{in_namespace_tree, SourceKind};
use crate::snapshot::manifest::{self, Item, Kind, ITEMS_DIR};
use crate::snapshot::{BackupFile, TipTree};
use std::collections::{BTreeSet, HashMap};

/// Why the guard does not compare, or what it compares.
pub enum Check<'a> {
    /// Said in an INFO line.
    Skipped(String),
    /// The backup commit whose manifest is compared with Kestra.
    Against(&'a Link),
}

/// (is a flow, namespace, flow id or file path).
type ItemKey = (bool, String, String);

/// What Kestra's listing says about an item now.
struct Listed {
    revision: Option<u64>,
    updated: Option<String>,
}

/// Which check applies: none without a manifest (`backup`), or when the backup comes from another
/// instance (its revisions count another Kestra's changes).
pub fn applies<'a>(backup: Option<&'a Link>, other_instance: bool) -> Check<'a> {
    match backup {
        None => Check::Skipped("the backup has no manifest, so no Kestra revisions to compare with".into()),
        Some(_) if other_instance => Check::Skipped("the backup comes from another Kestra instance, whose revisions do not compare with this one's".into()),
        Some(link) => Check::Against(link),
    }
}

/// The items of `replaced` (flows and namespace files) that Kestra holds in a newer state than
/// `backup`'s manifest recorded, sorted by file. Lists only the namespaces they lie in.
/// `tree` is the backup commit's, where its manifest's item files are read.
pub fn newer_in_kestra(client: &KestraClient, backup: &Link, tree: &dyn TipTree, replaced: &[&BackupFile], log: &mut Log) -> Result<Vec<NewerRow>, CoreError> {
    let replaced: Vec<&BackupFile> = replaced.iter().copied().filter(|f| f.kind != SourceKind::Kv).collect();
    let items = recorded_items(backup, tree, &replaced)?;
    let recorded: HashMap<&str, &Item> = items.iter().map(|i| (i.path.as_str(), i)).collect();
    let compared: Vec<(&BackupFile, &Item)> = replaced
        .iter()
        .filter_map(|f| recorded.get(f.path.as_str()).filter(|i| i.revision.is_some() || i.updated.is_some()).map(|i| (*f, *i)))
        .collect();
    let unrecorded = replaced.len() - compared.len();
    if compared.is_empty() {
        log.info(format!(
            "Sequence guard skipped: the manifest of backup serial {} records no Kestra revision for the {unrecorded} item(s) to replace (a backup taken before revisions were recorded, or not by BackupInstance)",
            backup.manifest.serial
        ));
        return Ok(Vec::new());
    }
    if unrecorded > 0 {
        log.info(format!("Sequence guard: {unrecorded} item(s) to replace have no recorded Kestra revision in the manifest and are not compared"));
    }
    let in_kind = |kind: SourceKind| compared.iter().filter(move |(f, _)| f.kind == kind);
    let flow_namespaces: BTreeSet<&str> = in_kind(SourceKind::Flows).map(|(f, _)| f.namespace.as_str()).collect();
    let file_namespaces: BTreeSet<&str> = in_kind(SourceKind::NamespaceFiles).map(|(f, _)| f.namespace.as_str()).collect();
    let mut live: HashMap<ItemKey, Listed> = HashMap::new();
    // The flow search lists a namespace with its children: one listing per topmost namespace.
    let topmost = flow_namespaces.iter().filter(|ns| !flow_namespaces.iter().any(|other| other != *ns && in_namespace_tree(ns, other)));
    for root in topmost {
        for flow in listing::flows(client, root, log)?.into_iter().filter(|f| flow_namespaces.contains(f.namespace.as_str())) {
            live.insert((true, flow.namespace, flow.id), Listed { revision: Some(flow.revision), updated: flow.updated });
        }
    }
    for namespace in file_namespaces {
        for file in listing::files(client, namespace, log)? {
            live.insert((false, file.namespace, file.path), Listed { revision: None, updated: Some(file.updated) });
        }
    }
    let mut newer = Vec::new();
    for (file, item) in compared {
        let name = match file.kind {
            SourceKind::Flows => crate::snapshot::flow_id(&file.relative).to_string(),
            _ => file.relative.clone(),
        };
        let Some(Listed { revision, updated }) = live.get(&(file.kind == SourceKind::Flows, file.namespace.clone(), name)) else { continue };
        let is_newer = match (file.kind, item.revision, revision) {
            (SourceKind::Flows, Some(then), Some(now)) => *now > then,
            _ => matches!((&item.updated, updated), (Some(then), Some(now)) if later(now, then)),
        };
        if is_newer {
            newer.push(NewerRow {
                file: file.path.clone(),
                kind: if file.kind == SourceKind::Flows { "flow" } else { "file" },
                backup_revision: item.revision,
                kestra_revision: *revision,
                backup_updated: item.updated.clone(),
                kestra_updated: updated.clone(),
            });
        }
    }
    newer.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(newer)
}

/// The manifest's items of the kinds and namespaces of `replaced`: a format-1 header's inline
/// items, else only the item files of those namespaces (`<kind>/<namespace>.json`).
fn recorded_items(backup: &Link, tree: &dyn TipTree, replaced: &[&BackupFile]) -> Result<Vec<Item>, CoreError> {
    let wanted: BTreeSet<String> = replaced.iter().map(|f| format!("{ITEMS_DIR}/{}/{}.json", Kind::from(f.kind).dir_name(), f.namespace)).collect();
    let mut items: Vec<Item> = backup.manifest.kinds.values().flat_map(|k| k.items.iter().cloned()).collect();
    for file in backup.item_files.iter().filter(|f| wanted.contains(&f.path)) {
        items.extend(manifest::read_items(tree, file, &backup.commit.to_string())?);
    }
    Ok(items)
}

/// Whether instant `a` is after `b` (RFC 3339; Kestra's listings print milliseconds, which the
/// tie-break on the text compares when both have the same second).
fn later(a: &str, b: &str) -> bool {
    let at = |t: &str| crate::instant::parse_instant(t);
    match (at(a), at(b)) {
        (Some(x), Some(y)) if x != y => x > y,
        (Some(_), Some(_)) => a.len() == b.len() && a > b,
        _ => false,
    }
}

/// One finding in words: `` `flows/co/etl.yml` (revision 3 in the backup, 4 in Kestra) ``.
pub fn describe(row: &NewerRow) -> String {
    let unknown = || "unknown".to_string();
    match (row.backup_revision, row.kestra_revision) {
        (Some(then), Some(now)) => format!("`{}` (revision {then} in the backup, {now} in Kestra)", row.file),
        _ => format!(
            "`{}` (modified {} in the backup, {} in Kestra)",
            row.file,
            row.backup_updated.clone().unwrap_or_else(unknown),
            row.kestra_updated.clone().unwrap_or_else(unknown)
        ),
    }
}

/// The restore refused: what Kestra holds newer than `backup`, and the way through.
pub fn refusal(backup: &Link, newer: &[NewerRow]) -> CoreError {
    CoreError::new(
        ErrorCode::InvalidBackup,
        format!(
            "{} item(s) the restore would replace changed in Kestra after backup serial {} ({}, {}) read them, so nothing was restored \
             (restoring the branch tip would silently undo those changes): {}. Set `restore.ref` explicitly (e.g. the branch name or a commit) \
             to restore this backup over those changes, or back up first",
            newer.len(),
            backup.manifest.serial,
            backup.commit,
            backup.date,
            listed(newer.iter().map(describe))
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::manifest::{Instance, KindItems, Manifest, FORMAT};
    use crate::snapshot::mem_tip::MemTip;
    use crate::snapshot::Drift;
    use std::collections::BTreeMap;

    fn link(format: u32, inline: Vec<Item>, item_files: Vec<manifest::ItemFile>) -> Link {
        let kinds = BTreeMap::from([(Kind::Flows, KindItems { count: inline.len(), items: inline })]);
        let manifest = Manifest { format, serial: 1, previous: None, instance: Instance::default(), kinds, plugins: Vec::new(), not_covered: Vec::new(), last_full_export: None };
        Link { commit: git2::Oid::ZERO_SHA1, date: "2026-12-02T00:00:00Z".into(), manifest, item_files }
    }

    fn replaced(path: &str, namespace: &str) -> BackupFile {
        BackupFile { path: path.into(), kind: SourceKind::Flows, namespace: namespace.into(), relative: "etl.yml".into(), backup: None, kestra: None, drift: Drift::Differing }
    }

    #[test]
    fn only_the_item_files_of_the_replaced_namespaces_are_read_and_inline_items_count_too() {
        let item = |path: &str| Item { path: path.into(), blob: "00".repeat(20), revision: Some(2), ..Item::default() };
        let tip = MemTip::default();
        let company = tip.blob(format!("[\n{}\n]\n", serde_json::to_string(&item("flows/company/etl.yml")).unwrap()).as_bytes());
        // Another namespace's item file is broken: reading it would fail.
        let other = tip.blob(b"not json");
        let files = vec![
            manifest::ItemFile { kind: Kind::Flows, path: format!("{ITEMS_DIR}/flows/company.json"), blob: company },
            manifest::ItemFile { kind: Kind::Flows, path: format!("{ITEMS_DIR}/flows/other.json"), blob: other },
        ];
        let etl = replaced("flows/company/etl.yml", "company");
        let read = recorded_items(&link(FORMAT, Vec::new(), files.clone()), &tip, &[&etl]).unwrap();
        assert_eq!(read, [item("flows/company/etl.yml")]);
        assert!(recorded_items(&link(FORMAT, Vec::new(), files), &tip, &[&replaced("flows/other/etl.yml", "other")]).is_err());
        let inline = recorded_items(&link(1, vec![item("flows/company/etl.yml")], Vec::new()), &tip, &[&etl]).unwrap();
        assert_eq!(inline, [item("flows/company/etl.yml")], "format 1: the header's items");
    }

    #[test]
    fn later_compares_instants_then_milliseconds_of_the_same_format() {
        assert!(later("2026-12-02T10:00:01.000Z", "2026-12-02T10:00:00.999Z"));
        assert!(later("2026-12-02T10:00:00.500Z", "2026-12-02T10:00:00.499Z"));
        assert!(!later("2026-12-02T10:00:00.499Z", "2026-12-02T10:00:00.499Z"));
        assert!(later("2026-12-02T11:00:00+01:00", "2026-12-02T09:59:59Z"));
        assert!(!later("not a date", "2026-12-02T09:59:59Z"));
    }

    #[test]
    fn a_finding_names_both_revisions_or_both_dates() {
        let flow = NewerRow { file: "flows/co/etl.yml".into(), kind: "flow", backup_revision: Some(3), kestra_revision: Some(4), backup_updated: None, kestra_updated: None };
        assert_eq!(describe(&flow), "`flows/co/etl.yml` (revision 3 in the backup, 4 in Kestra)");
        let file = NewerRow { file: "files/co/a.py".into(), kind: "file", backup_revision: None, kestra_revision: None, backup_updated: Some("2026-12-01T10:00:00.000Z".into()), kestra_updated: Some("2026-12-02T10:00:00.000Z".into()) };
        assert_eq!(describe(&file), "`files/co/a.py` (modified 2026-12-01T10:00:00.000Z in the backup, 2026-12-02T10:00:00.000Z in Kestra)");
    }
}
