//! The backup's manifest, `.kestra-backup/manifest.json` (field by field: `docs/manifest.md`):
//! what one backup commit holds and where it came from. A serial that rises by one per backup
//! commit and a pointer to the previous backup commit chain the backups together (`git::custody`
//! checks the chain); the items name each file's blob, so a backup can be checked file by file.
//!
//! Since format 2 the items live beside the header, one file per kind and namespace
//! (`.kestra-backup/items/<kind>/<namespace>.json`, one item per line): a commit that changes one
//! flow rewrites the header and that namespace's item file, not every item of the instance.
//! Format 1 (items inline in `manifest.json`) is still read.
//!
//! The manifest directory is the backup's own: `TipTree::files_under("")` of a commit never
//! lists it, so no source at the repository root sees it as a file to back up, delete or restore.

use super::{flow_plugins, Change, TipFile, TipTree};
use crate::error::{CoreError, ErrorCode};
use crate::request::SourceKind;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The directory of the backup's own files.
pub const DIR: &str = ".kestra-backup";
pub const PATH: &str = ".kestra-backup/manifest.json";
/// The items' directory: `<kind>/<namespace>.json` below it.
pub const ITEMS_DIR: &str = ".kestra-backup/items";
/// The item file name of items without a namespace (no Kestra namespace starts with `_`).
const NO_NAMESPACE: &str = "_";
/// Version of the manifest's format; a reader refuses a newer one.
pub const FORMAT: u32 = 2;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub format: u32,
    /// 1 for the first backup commit of a chain, then +1 per backup commit.
    pub serial: u64,
    /// The backup commit this one follows (None: the chain starts here).
    pub previous: Option<Previous>,
    /// The Kestra the backup was taken from.
    pub instance: Instance,
    /// What the commit holds, per kind.
    pub kinds: BTreeMap<Kind, KindItems>,
    /// Every task, trigger and task-runner type the backed-up flows use.
    #[serde(default)]
    pub plugins: Vec<PluginUse>,
    /// What this backup does not hold, in words.
    #[serde(default)]
    pub not_covered: Vec<String>,
    /// When the newest full export this content was checked against ran (RFC 3339); the
    /// incremental export trusts Kestra's revisions only until `fullExportEvery` after it. None:
    /// the items' revisions were never recorded, so the next run exports everything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_full_export: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Previous {
    pub commit: String,
    pub serial: u64,
    /// Committer date of that commit, RFC 3339 UTC.
    pub date: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Instance {
    /// The instance's id as Kestra reports it (its configuration endpoint's `uuid`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The Kestra API URL, without credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    Flows,
    NamespaceFiles,
    Kv,
    Triggers,
}

impl Kind {
    /// The kind in words, for log lines and messages.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Flows => "flows",
            Kind::NamespaceFiles => "namespace files",
            Kind::Kv => "KV entries",
            Kind::Triggers => "trigger states",
        }
    }
}

impl Kind {
    const ALL: [Kind; 4] = [Kind::Flows, Kind::NamespaceFiles, Kind::Kv, Kind::Triggers];

    /// The kind's directory under `ITEMS_DIR` (its name in the manifest).
    pub fn dir_name(self) -> &'static str {
        match self {
            Kind::Flows => "flows",
            Kind::NamespaceFiles => "namespaceFiles",
            Kind::Kv => "kv",
            Kind::Triggers => "triggers",
        }
    }
}

impl From<SourceKind> for Kind {
    fn from(kind: SourceKind) -> Self {
        match kind {
            SourceKind::Flows => Kind::Flows,
            SourceKind::NamespaceFiles => Kind::NamespaceFiles,
            SourceKind::Kv => Kind::Kv,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KindItems {
    pub count: usize,
    /// Sorted by path. Committed in the item files (format 2), inline in format 1.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// Repository path.
    pub path: String,
    /// Git blob id (SHA-1 hex) of the file's content.
    pub blob: String,
    /// The Kestra namespace the item was read from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// What names the item within its namespace: the flow id, the file's path (no leading `/`),
    /// the KV key, or the flow id of a trigger-state file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Kestra's revision of the item when the backup read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// Kestra's last update of the item when the backup read it, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// Namespace files: the size Kestra's listing gave, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// Flows: the plugin types the flow uses (`flow_plugins`), sorted.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub types: Vec<String>,
}

/// What Kestra's listing said about one item (`Item`'s namespace, revision, updated, size).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ItemMeta {
    pub namespace: String,
    pub revision: Option<u64>,
    pub updated: Option<String>,
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginUse {
    #[serde(rename = "type")]
    pub plugin_type: String,
    /// How many backed-up flows use it.
    pub flows: usize,
}

impl Manifest {
    /// The whole manifest, items inline, as one document: pretty JSON, keys in a fixed order, one
    /// trailing newline (what the CLI prints).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// The files the manifest is committed as, path → bytes: the header (`PATH`, the items'
    /// counts but not the items) and one item file per kind and namespace.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let kinds = self.kinds.iter().map(|(kind, k)| (*kind, KindItems { count: k.count, items: Vec::new() })).collect();
        let header = Manifest { kinds, plugins: self.plugins.clone(), not_covered: self.not_covered.clone(), previous: self.previous.clone(), instance: self.instance.clone(), last_full_export: self.last_full_export.clone(), ..*self };
        let mut grouped: BTreeMap<String, Vec<&Item>> = BTreeMap::new();
        for (kind, k) in &self.kinds {
            for item in &k.items {
                let namespace = item.namespace.as_deref().unwrap_or(NO_NAMESPACE);
                grouped.entry(format!("{ITEMS_DIR}/{}/{namespace}.json", kind.dir_name())).or_default().push(item);
            }
        }
        let mut files: BTreeMap<String, Vec<u8>> = grouped.into_iter().map(|(path, items)| (path, item_lines(&items))).collect();
        files.insert(PATH.to_string(), header.to_bytes());
        files
    }

    /// The same manifest without what only the chain changes (serial, previous): two backups
    /// with equal content compare equal.
    pub fn content_eq(&self, other: &Manifest) -> bool {
        let strip = |m: &Manifest| Manifest { serial: 0, previous: None, last_full_export: None, ..m.clone() };
        strip(self) == strip(other)
    }
}

/// A JSON array with one item per line.
fn item_lines(items: &[&Item]) -> Vec<u8> {
    let mut bytes = b"[\n".to_vec();
    for (n, item) in items.iter().enumerate() {
        bytes.extend(serde_json::to_vec(item).unwrap_or_default());
        bytes.extend_from_slice(if n + 1 < items.len() { b",\n" } else { b"\n" });
    }
    bytes.extend_from_slice(b"]\n");
    bytes
}

/// One committed file of a manifest's items: those of one kind in one namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemFile {
    pub kind: Kind,
    pub path: String,
    pub blob: git2::Oid,
}

/// A manifest as a commit holds it: the header (with the items of a format-1 manifest, which
/// has no item files) and its item files, unread.
#[derive(Debug, Clone)]
pub struct Stored {
    pub header: Manifest,
    pub item_files: Vec<ItemFile>,
}

impl Stored {
    /// The whole manifest: the header with every item file's items.
    pub fn load(mut self, tree: &dyn TipTree, commit: &str) -> Result<Manifest, CoreError> {
        for file in &self.item_files {
            let items = read_items(tree, file, commit)?;
            self.header.kinds.entry(file.kind).or_default().items.extend(items);
        }
        if !self.item_files.is_empty() {
            self.header.kinds.values_mut().for_each(|k| k.items.sort_by(|a, b| a.path.cmp(&b.path)));
        }
        Ok(self.header)
    }
}

/// The manifest of `tree` with its items, None when it has none. A manifest that cannot be read
/// is an error: it breaks the chain, it is not "no manifest".
pub fn read(tree: &dyn TipTree, commit: &str) -> Result<Option<Manifest>, CoreError> {
    read_stored(tree, commit)?.map(|stored| stored.load(tree, commit)).transpose()
}

/// The manifest's header and the list of its item files, None when `tree` has no manifest.
pub fn read_stored(tree: &dyn TipTree, commit: &str) -> Result<Option<Stored>, CoreError> {
    let files = tree.files_under(DIR)?;
    let Some(file) = files.iter().find(|f| f.path == PATH) else { return Ok(None) };
    let bytes = tree.read_blob(file.oid)?;
    let header: Manifest = serde_json::from_slice(&bytes).map_err(|e| unreadable(PATH, commit, e))?;
    if header.format > FORMAT {
        return Err(CoreError::new(
            ErrorCode::InvalidBackup,
            format!("the manifest of commit {commit} has format {}, newer than this plugin reads ({FORMAT}); upgrade the plugin", header.format),
        ));
    }
    let mut item_files = Vec::new();
    if header.format >= 2 {
        for f in files.iter().filter(|f| f.path.starts_with(&format!("{ITEMS_DIR}/"))) {
            let kind_dir = f.path[ITEMS_DIR.len() + 1..].split('/').next().unwrap_or_default();
            let kind = Kind::ALL.into_iter().find(|k| k.dir_name() == kind_dir).ok_or_else(|| {
                CoreError::new(ErrorCode::InvalidBackup, format!("the manifest of commit {commit} has an item file of an unknown kind: `{}`", f.path))
            })?;
            item_files.push(ItemFile { kind, path: f.path.clone(), blob: f.oid });
        }
    }
    Ok(Some(Stored { header, item_files }))
}

/// The items of one item file.
pub fn read_items(tree: &dyn TipTree, file: &ItemFile, commit: &str) -> Result<Vec<Item>, CoreError> {
    serde_json::from_slice(&tree.read_blob(file.blob)?).map_err(|e| unreadable(&file.path, commit, e))
}

fn unreadable(path: &str, commit: &str, e: serde_json::Error) -> CoreError {
    CoreError::new(ErrorCode::InvalidBackup, format!("the manifest file `{path}` of commit {commit} cannot be read: {e}"))
}

/// The files under `dir` once `changes` are applied to `tip`, sorted by path.
pub fn files_after(tip: &dyn TipTree, dir: &str, changes: &[Change]) -> Result<Vec<(String, git2::Oid)>, CoreError> {
    let inside = |path: &str| dir.is_empty() || path.starts_with(&format!("{dir}/"));
    let mut files: BTreeMap<String, git2::Oid> = tip.files_under(dir)?.into_iter().map(|f: TipFile| (f.path, f.oid)).collect();
    for change in changes.iter().filter(|c| inside(c.path())) {
        match change {
            Change::Upsert { path, oid, .. } => {
                files.insert(path.clone(), *oid);
            }
            Change::Delete { path, .. } => {
                files.remove(path);
            }
        }
    }
    Ok(files.into_iter().collect())
}

/// The namespace and name of the item of a kind at a repository path (the layout's inverse).
pub type NameOf<'a> = &'a dyn Fn(Kind, &str) -> Option<(String, String)>;

/// The directories one run writes and how to name what is in them.
pub struct Scope<'a> {
    /// (kind, directory) of each source of the run, and of the trigger-state directory.
    pub dirs: &'a [(Kind, &'a str)],
    pub name_of: NameOf<'a>,
}

impl Scope<'_> {
    /// Whether a repository path is in one of the run's own directories.
    pub fn owns(&self, path: &str) -> bool {
        self.dirs.iter().any(|(_, dir)| dir.is_empty() || path.starts_with(&format!("{dir}/")))
    }
}

/// A manifest of what `tip` holds once `changes` are applied: the items of the run's own
/// directories, named by `scope`; and, from `previous` (the last backup's manifest), the items of
/// other paths still in the tree (another task's part of the branch), with their current blob.
/// Flow items carry their plugin types: taken from `previous` for a blob it already described,
/// read from the flow otherwise, so only new or changed flows are parsed. The chain fields are
/// left for the caller (`serial` 0, no `previous`).
pub fn describe(tip: &dyn TipTree, changes: &[Change], scope: &Scope, previous: Option<&Manifest>, instance: Instance, not_covered: Vec<String>) -> Result<Manifest, CoreError> {
    let mut kinds: BTreeMap<Kind, KindItems> = BTreeMap::new();
    for (kind, dir) in scope.dirs {
        let entry = kinds.entry(*kind).or_default();
        for (path, oid) in files_after(tip, dir, changes)? {
            let (namespace, name) = (scope.name_of)(*kind, &path).unzip();
            entry.items.push(Item { path, blob: oid.to_string(), namespace, name, ..Item::default() });
        }
    }
    if let Some(previous) = previous {
        keep_other_items(tip, changes, scope, previous, &mut kinds)?;
    }
    let known: HashMap<&str, &Vec<String>> = previous
        .and_then(|p| p.kinds.get(&Kind::Flows))
        // A flow listed without types (none, or a manifest written before the inventory) is read again.
        .map(|flows| flows.items.iter().filter(|i| !i.types.is_empty()).map(|i| (i.blob.as_str(), &i.types)).collect())
        .unwrap_or_default();
    if let Some(flows) = kinds.get_mut(&Kind::Flows) {
        for item in flows.items.iter_mut() {
            item.types = match known.get(item.blob.as_str()) {
                Some(types) => (*types).clone(),
                None => flow_types(tip, &item.blob)?,
            };
        }
    }
    for entry in kinds.values_mut() {
        entry.items.sort_by(|a, b| a.path.cmp(&b.path));
        entry.count = entry.items.len();
    }
    let plugins = inventory(kinds.get(&Kind::Flows));
    Ok(Manifest { format: FORMAT, serial: 0, previous: None, instance, kinds, plugins, not_covered, last_full_export: None })
}

/// The previous manifest's items outside the run's own directories that the tree still holds.
fn keep_other_items(tip: &dyn TipTree, changes: &[Change], scope: &Scope, previous: &Manifest, kinds: &mut BTreeMap<Kind, KindItems>) -> Result<(), CoreError> {
    let others: Vec<(Kind, &Item)> = previous.kinds.iter().flat_map(|(k, items)| items.items.iter().map(move |i| (*k, i))).filter(|(_, i)| !scope.owns(&i.path)).collect();
    if others.is_empty() {
        return Ok(());
    }
    let tree: HashMap<String, git2::Oid> = files_after(tip, "", changes)?.into_iter().collect();
    for (kind, item) in others {
        let Some(oid) = tree.get(&item.path) else { continue };
        let blob = oid.to_string();
        // Changed since (by another tool): what was read with the old content no longer holds.
        let kept = if blob == item.blob { item.clone() } else { Item { blob, revision: None, updated: None, size: None, types: Vec::new(), ..item.clone() } };
        kinds.entry(kind).or_default().items.push(kept);
    }
    Ok(())
}

fn flow_types(tip: &dyn TipTree, blob: &str) -> Result<Vec<String>, CoreError> {
    let oid = git2::Oid::from_str(blob).map_err(|e| CoreError::new(ErrorCode::Internal, format!("blob id `{blob}`: {e}")))?;
    Ok(flow_plugins::types(&String::from_utf8_lossy(&tip.read_blob(oid)?)))
}

/// Every plugin type the flows use, with how many flows use it, sorted by type.
fn inventory(flows: Option<&KindItems>) -> Vec<PluginUse> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for item in flows.map(|f| f.items.as_slice()).unwrap_or_default() {
        for t in &item.types {
            *counts.entry(t.as_str()).or_insert(0) += 1;
        }
    }
    counts.into_iter().map(|(t, flows)| PluginUse { plugin_type: t.to_string(), flows }).collect()
}

/// Writes what Kestra's listings said (repository path → metadata) into the items they describe.
pub fn annotate(manifest: &mut Manifest, listed: &BTreeMap<String, ItemMeta>) {
    for item in manifest.kinds.values_mut().flat_map(|k| k.items.iter_mut()) {
        if let Some(meta) = listed.get(&item.path) {
            item.namespace = Some(meta.namespace.clone());
            item.revision = meta.revision;
            item.updated = meta.updated.clone();
            item.size = meta.size;
        }
    }
}

/// Whether a repository path is the backup's own (never an item of a source).
pub fn is_own(path: &str) -> bool {
    path == DIR || path.starts_with(&format!("{DIR}/"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::mem_tip::MemTip;

    fn manifest(serial: u64) -> Manifest {
        let mut kinds = BTreeMap::new();
        kinds.insert(Kind::Flows, KindItems { count: 1, items: vec![Item { path: "flows/a/b.yml".into(), blob: "00".repeat(20), namespace: Some("a".into()), revision: Some(3), ..Item::default() }] });
        Manifest { format: FORMAT, serial, previous: None, instance: Instance::default(), kinds, plugins: Vec::new(), not_covered: Vec::new(), last_full_export: None }
    }

    fn committed(m: &Manifest) -> MemTip {
        m.files().iter().fold(MemTip::default(), |tip, (path, bytes)| tip.with(path, bytes, 0o100644))
    }

    #[test]
    fn reads_back_what_it_writes_and_compares_content_without_the_chain() {
        let mut m = manifest(4);
        let other = Item { path: "flows/b/c.yml".into(), blob: "11".repeat(20), namespace: Some("b".into()), ..Item::default() };
        m.kinds.get_mut(&Kind::Flows).unwrap().items.push(other);
        m.kinds.get_mut(&Kind::Flows).unwrap().count = 2;
        let files = m.files();
        assert_eq!(files.keys().collect::<Vec<_>>(), [".kestra-backup/items/flows/a.json", ".kestra-backup/items/flows/b.json", PATH]);
        assert!(!String::from_utf8_lossy(&files[PATH]).contains("flows/a/b.yml"), "the header holds no item");
        assert_eq!(String::from_utf8_lossy(&files[".kestra-backup/items/flows/b.json"]).lines().count(), 3, "one item per line");
        assert_eq!(read(&committed(&m), "c").unwrap(), Some(m.clone()));
        // Format 1, items inline, is still read.
        let old = Manifest { format: 1, ..m.clone() };
        assert_eq!(read(&MemTip::default().with(PATH, &old.to_bytes(), 0o100644), "c").unwrap(), Some(old));
        let next = Manifest { serial: 5, previous: Some(Previous { commit: "c".into(), serial: 4, date: "2026-12-02T00:00:00Z".into() }), ..m.clone() };
        assert!(next.content_eq(&m));
        assert!(String::from_utf8(m.to_bytes()).unwrap().contains("\"flows\": {"));
    }

    #[test]
    fn describe_names_items_reuses_known_flow_types_and_keeps_other_tasks_items() {
        const LOG: &str = "io.kestra.plugin.core.log.Log";
        let etl = b"id: etl\nnamespace: a\ntasks:\n  - id: t\n    type: io.kestra.plugin.core.log.Log\n";
        let tip = MemTip::default().with("flows/a/etl.yml", etl, 0o100644).with("files/b/run.py", b"print(1)\n", 0o100644).with("files/b/gone.py", b"x", 0o100644);
        let new = tip.blob(b"id: new\nnamespace: a\ntriggers:\n  - id: s\n    type: io.kestra.plugin.core.trigger.Schedule\n");
        let changes = vec![Change::Upsert { path: "flows/a/new.yml".into(), oid: new, mode: 0o100644, previous: None }];
        let etl_blob = tip.blob(etl).to_string();
        // The previous manifest says which types the unchanged flow has: they are reused, not read again.
        let mut previous = manifest(1);
        previous.kinds.insert(Kind::Flows, KindItems { count: 1, items: vec![Item { path: "flows/a/etl.yml".into(), blob: etl_blob.clone(), types: vec!["x.Known".into()], ..Item::default() }] });
        let other = |path: &str, blob: &str| Item { path: path.into(), blob: blob.into(), namespace: Some("b".into()), name: Some("n".into()), revision: Some(2), ..Item::default() };
        let run_py = tip.blob(b"print(1)\n").to_string();
        previous.kinds.insert(Kind::NamespaceFiles, KindItems { count: 3, items: vec![other("files/b/run.py", &run_py), other("files/b/gone.py", &"11".repeat(20)), other("files/b/deleted.py", &run_py)] });
        let name_of = |kind: Kind, path: &str| (kind == Kind::Flows).then(|| ("a".to_string(), path.rsplit('/').next().unwrap().trim_end_matches(".yml").to_string()));
        let scope = Scope { dirs: &[(Kind::Flows, "flows")], name_of: &name_of };

        let m = describe(&tip, &changes, &scope, Some(&previous), Instance::default(), vec!["Secret values".into()]).unwrap();
        let flows = &m.kinds[&Kind::Flows];
        assert_eq!(flows.count, 2);
        assert_eq!((flows.items[0].namespace.as_deref(), flows.items[0].name.as_deref(), flows.items[0].types.clone()), (Some("a"), Some("etl"), vec!["x.Known".to_string()]));
        assert_eq!(flows.items[1].types, ["io.kestra.plugin.core.trigger.Schedule"]);
        assert_eq!(m.plugins, vec![
            PluginUse { plugin_type: "io.kestra.plugin.core.trigger.Schedule".into(), flows: 1 },
            PluginUse { plugin_type: "x.Known".into(), flows: 1 },
        ]);
        assert!(!m.plugins.iter().any(|p| p.plugin_type == LOG), "the unchanged flow was parsed again");
        // Another task's files: kept while in the tree, with the tree's blob (and no stale revision once changed).
        let files = &m.kinds[&Kind::NamespaceFiles];
        assert_eq!(files.items.iter().map(|i| i.path.as_str()).collect::<Vec<_>>(), ["files/b/gone.py", "files/b/run.py"]);
        assert_eq!((files.items[1].blob.as_str(), files.items[1].revision), (run_py.as_str(), Some(2)));
        assert_eq!((files.items[0].blob.clone(), files.items[0].revision), (tip.blob(b"x").to_string(), None));
        assert_eq!(m.not_covered, ["Secret values"]);
    }

    #[test]
    fn a_newer_or_broken_manifest_is_an_error_not_an_absence() {
        let newer = Manifest { format: FORMAT + 1, ..manifest(1) };
        let tip = committed(&newer);
        assert!(read(&tip, "c").unwrap_err().message.contains("upgrade the plugin"));
        let broken = MemTip::default().with(PATH, b"{", 0o100644);
        assert_eq!(read(&broken, "c").unwrap_err().code, ErrorCode::InvalidBackup);
        assert_eq!(read(&MemTip::default(), "c").unwrap(), None);
    }
}
