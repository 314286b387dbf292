//! The backup's manifest, `.kestra-backup/manifest.json` (field by field: `docs/manifest.md`):
//! what one backup commit holds and where it came from. A serial that rises by one per backup
//! commit and a pointer to the previous backup commit chain the backups together (`git::custody`
//! checks the chain); the items name each file's blob, so a backup can be checked file by file.
//!
//! The manifest directory is the backup's own: `TipTree::files_under("")` of a commit never
//! lists it, so no source at the repository root sees it as a file to back up, delete or restore.

use super::{Change, TipFile, TipTree};
use crate::error::{CoreError, ErrorCode};
use crate::request::SourceKind;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The directory of the backup's own files.
pub const DIR: &str = ".kestra-backup";
pub const PATH: &str = ".kestra-backup/manifest.json";
/// Version of the manifest's format; a reader refuses a newer one.
pub const FORMAT: u32 = 1;

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
    /// Sorted by path.
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// Repository path.
    pub path: String,
    /// Git blob id (SHA-1 hex) of the file's content.
    pub blob: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Kestra's revision of the item when the backup read it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
    /// Kestra's last update of the item when the backup read it, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated: Option<String>,
    /// Namespace files: the size Kestra's listing gave, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
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
    /// The bytes committed: pretty JSON, keys in a fixed order, one trailing newline.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// The same manifest without what only the chain changes (serial, previous): two backups
    /// with equal content compare equal.
    pub fn content_eq(&self, other: &Manifest) -> bool {
        let strip = |m: &Manifest| Manifest { serial: 0, previous: None, last_full_export: None, ..m.clone() };
        strip(self) == strip(other)
    }
}

/// The manifest of `tree`, None when it has none. A manifest that cannot be read is an error:
/// it breaks the chain, it is not "no manifest".
pub fn read(tree: &dyn TipTree, commit: &str) -> Result<Option<Manifest>, CoreError> {
    let Some(file) = tree.files_under(DIR)?.into_iter().find(|f| f.path == PATH) else { return Ok(None) };
    let bytes = tree.read_blob(file.oid)?;
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .map_err(|e| CoreError::new(ErrorCode::InvalidBackup, format!("the manifest `{PATH}` of commit {commit} cannot be read: {e}")))?;
    if manifest.format > FORMAT {
        return Err(CoreError::new(
            ErrorCode::InvalidBackup,
            format!("the manifest of commit {commit} has format {}, newer than this plugin reads ({FORMAT}); upgrade the plugin", manifest.format),
        ));
    }
    Ok(Some(manifest))
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

/// A manifest of what `tip` holds once `changes` are applied, for the kinds in `dirs` (kind,
/// directory); the chain fields are left for the caller (`serial` 0, no `previous`).
pub fn describe(tip: &dyn TipTree, changes: &[Change], dirs: &[(Kind, &str)], instance: Instance) -> Result<Manifest, CoreError> {
    let mut kinds: BTreeMap<Kind, KindItems> = BTreeMap::new();
    for (kind, dir) in dirs {
        let entry = kinds.entry(*kind).or_default();
        for (path, oid) in files_after(tip, dir, changes)? {
            entry.items.push(Item { path, blob: oid.to_string(), namespace: None, revision: None, updated: None, size: None });
        }
    }
    for entry in kinds.values_mut() {
        entry.items.sort_by(|a, b| a.path.cmp(&b.path));
        entry.count = entry.items.len();
    }
    Ok(Manifest { format: FORMAT, serial: 0, previous: None, instance, kinds, plugins: Vec::new(), not_covered: Vec::new(), last_full_export: None })
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
        kinds.insert(Kind::Flows, KindItems { count: 1, items: vec![Item { path: "flows/a/b.yml".into(), blob: "00".repeat(20), namespace: Some("a".into()), revision: Some(3), updated: None, size: None }] });
        Manifest { format: FORMAT, serial, previous: None, instance: Instance::default(), kinds, plugins: Vec::new(), not_covered: Vec::new(), last_full_export: None }
    }

    #[test]
    fn reads_back_what_it_writes_and_compares_content_without_the_chain() {
        let m = manifest(4);
        let tip = MemTip::default().with(PATH, &m.to_bytes(), 0o100644);
        assert_eq!(read(&tip, "c").unwrap(), Some(m.clone()));
        let next = Manifest { serial: 5, previous: Some(Previous { commit: "c".into(), serial: 4, date: "2026-12-02T00:00:00Z".into() }), ..m.clone() };
        assert!(next.content_eq(&m));
        assert!(String::from_utf8(m.to_bytes()).unwrap().contains("\"flows\": {"));
    }

    #[test]
    fn a_newer_or_broken_manifest_is_an_error_not_an_absence() {
        let newer = Manifest { format: FORMAT + 1, ..manifest(1) };
        let tip = MemTip::default().with(PATH, &newer.to_bytes(), 0o100644);
        assert!(read(&tip, "c").unwrap_err().message.contains("upgrade the plugin"));
        let broken = MemTip::default().with(PATH, b"{", 0o100644);
        assert_eq!(read(&broken, "c").unwrap_err().code, ErrorCode::InvalidBackup);
        assert_eq!(read(&MemTip::default(), "c").unwrap(), None);
    }
}
