//! Layout (plugin-git §8.1, §8.4): where each exported item lands in the repository, and the
//! snapshot that records it (path → blob id; the bytes go straight to the object database).

use super::flow_text::{rewrite_namespace, strip_revision};
use super::globs::Selection;
use super::kestraignore::FILE_NAME as IGNORE_FILE;
use super::safe_path::{self, join};
use super::TipTree;
use crate::error::{CoreError, ErrorCode};
use crate::export::ExportedItem;
use crate::request::{in_namespace_tree, NamespaceSelector, Source, SourceKind};
use git2::Oid;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// One source's directory and what the export put in it.
pub(super) struct SourceState {
    pub kind: SourceKind,
    pub selector: NamespaceSelector,
    /// Normalised `gitDirectory` (`""` = repository root).
    pub dir: String,
    pub selection: Selection,
    target_namespace: Option<String>,
    /// Repository path → blob, for every exported item (before `.kestraignore`).
    pub entries: BTreeMap<String, Oid>,
    /// Namespace root directory → bytes of the `.kestraignore` the export brought there.
    pub exported_ignores: HashMap<String, Vec<u8>>,
    /// Items the export selected for this source (before `.kestraignore`).
    pub exported: usize,
    /// Entries of the export that could not be read: deletions are off for this source.
    pub unreadable: usize,
}

impl SourceState {
    /// The namespace root directory a repository path of this source belongs to: the source
    /// directory itself, or `<dir>/<namespace>` for discovered namespaces.
    pub fn root_of(&self, repo_path: &str) -> String {
        let below = if self.dir.is_empty() { repo_path } else { &repo_path[self.dir.len() + 1..] };
        match self.selector {
            NamespaceSelector::Discover { .. } => join(&self.dir, below.split('/').next().unwrap_or(below)),
            NamespaceSelector::One { .. } => self.dir.clone(),
        }
    }

    /// The Kestra namespace and name (flow id, namespace-relative file path, KV key) of the item at
    /// a repository path of this source: `add`'s placement read backwards.
    fn item_at(&self, repo_path: &str) -> Option<(String, String)> {
        let below = if self.dir.is_empty() { repo_path } else { repo_path.strip_prefix(self.dir.as_str())?.strip_prefix('/')? };
        let (namespace, rest) = match &self.selector {
            NamespaceSelector::Discover { .. } => below.split_once('/').map(|(ns, rest)| (ns.to_string(), rest))?,
            NamespaceSelector::One { namespace, .. } if self.kind == SourceKind::Flows => match below.rsplit_once('/') {
                Some((children, file)) => (format!("{namespace}.{}", children.replace('/', ".")), file),
                None => (namespace.clone(), below),
            },
            NamespaceSelector::One { namespace, .. } => (namespace.clone(), below),
        };
        let name = match self.kind {
            SourceKind::Flows => rest.strip_suffix(".yml")?,
            SourceKind::Kv => rest.strip_suffix(".json")?,
            SourceKind::NamespaceFiles => rest,
        };
        Some((namespace, name.to_string()))
    }

    /// Directory for items of `namespace`, or None when the namespace is not this source's.
    fn namespace_dir(&self, namespace: &str) -> Option<String> {
        match &self.selector {
            NamespaceSelector::One { namespace: own, include_children } => {
                if namespace == own {
                    Some(self.dir.clone())
                } else {
                    let child = namespace.strip_prefix(own.as_str())?.strip_prefix('.')?;
                    (*include_children && self.kind == SourceKind::Flows).then(|| join(&self.dir, &child.replace('.', "/")))
                }
            }
            NamespaceSelector::Discover { prefix } => {
                in_namespace_tree(namespace, prefix).then(|| join(&self.dir, namespace))
            }
        }
    }
}

/// Two sources of one request may not share a directory or nest one inside the other: each would
/// see the other's files as its own to delete.
fn refuse_nested_directories(states: &[SourceState]) -> Result<(), CoreError> {
    let contains = |outer: &str, inner: &str| outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}/"));
    for (i, a) in states.iter().enumerate() {
        for (j, b) in states.iter().enumerate().skip(i + 1) {
            if contains(&a.dir, &b.dir) || contains(&b.dir, &a.dir) {
                let shown = |d: &str| if d.is_empty() { "/".to_string() } else { d.to_string() };
                return Err(CoreError::invalid(
                    &format!("sources[{j}].gitDirectory"),
                    format!(
                        "`{}` overlaps `sources[{i}].gitDirectory` `{}`; give each source a directory of its own (e.g. `flows` and `files`)",
                        shown(&b.dir),
                        shown(&a.dir)
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The desired content of every source directory: repository path → blob id. Small (ids only).
pub struct Snapshot {
    pub(super) sources: Vec<SourceState>,
    /// Repository path → the item that claimed it, to refuse collisions with both names.
    owners: HashMap<String, String>,
}

impl Snapshot {
    pub fn new(sources: &[Source]) -> Result<Self, CoreError> {
        let states = sources
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let dir = safe_path::normalise_dir(&s.git_directory, &format!("sources[{i}].gitDirectory"))?;
                let selection = match s.kind {
                    SourceKind::Flows => Selection::for_flow_ids(&s.globs)?,
                    SourceKind::NamespaceFiles | SourceKind::Kv => Selection::for_files(&s.globs)?,
                };
                Ok(SourceState {
                    kind: s.kind,
                    selector: s.namespaces.clone(),
                    dir,
                    selection,
                    target_namespace: s.target_namespace.clone(),
                    entries: BTreeMap::new(),
                    exported_ignores: HashMap::new(),
                    exported: 0,
                    unreadable: 0,
                })
            })
            .collect::<Result<Vec<SourceState>, CoreError>>()?;
        refuse_nested_directories(&states)?;
        Ok(Snapshot { sources: states, owners: HashMap::new() })
    }

    /// Each source's kind and normalised directory, in request order.
    pub fn source_dirs(&self) -> impl Iterator<Item = (SourceKind, &str)> {
        self.sources.iter().map(|s| (s.kind, s.dir.as_str()))
    }

    /// The Kestra namespace and name of the item at a repository path, by the source whose
    /// directory holds it; None outside every source.
    pub fn item_at(&self, repo_path: &str) -> Option<(String, String)> {
        let inside = |dir: &str| dir.is_empty() || repo_path.starts_with(&format!("{dir}/"));
        self.sources.iter().find(|s| inside(&s.dir)).and_then(|s| s.item_at(repo_path))
    }

    /// The namespaces the branch tip holds for namespace-file source `index` when it discovers
    /// namespaces: the first directories below its directory that belong to its namespace tree.
    /// Empty otherwise (flows come in one query for the whole tree, not per namespace).
    pub fn namespaces_in_backup(&self, index: usize, tip: &dyn TipTree) -> Result<Vec<String>, CoreError> {
        let source = &self.sources[index];
        let (SourceKind::NamespaceFiles, NamespaceSelector::Discover { prefix }) = (source.kind, &source.selector) else { return Ok(Vec::new()) };
        let mut namespaces = BTreeSet::new();
        for file in tip.files_under(&source.dir)? {
            let below = if source.dir.is_empty() { file.path.as_str() } else { &file.path[source.dir.len() + 1..] };
            if let Some((namespace, _)) = below.split_once('/').filter(|(ns, _)| in_namespace_tree(ns, prefix)) {
                namespaces.insert(namespace.to_string());
            }
        }
        Ok(namespaces.into_iter().collect())
    }

    /// Maps one exported item of source `index` to its path (layout rules, `revision:` strip,
    /// namespace rewrite, globs, path safety, collisions) and stores it through `write_blob`.
    pub fn add(
        &mut self,
        index: usize,
        item: ExportedItem,
        write_blob: &mut dyn FnMut(&[u8]) -> Result<Oid, CoreError>,
    ) -> Result<(), CoreError> {
        let (path, what, bytes) = match item {
            ExportedItem::Flow { namespace, id, source: text } => {
                let name = Name::Flow(&id);
                let Some(path) = self.path_for(index, &namespace, &name) else { return Ok(()) };
                let source = &self.sources[index];
                let mut text = strip_revision(&text);
                if let (Some(target), NamespaceSelector::One { namespace: own, .. }) = (&source.target_namespace, &source.selector) {
                    text = rewrite_namespace(&text, own, target);
                }
                (path, name.what(&namespace), text.into_bytes())
            }
            ExportedItem::File { namespace, path, bytes } => {
                let name = Name::File(&path);
                let Some(repo_path) = self.path_for(index, &namespace, &name) else { return Ok(()) };
                if path == IGNORE_FILE {
                    let root = repo_path.strip_suffix(IGNORE_FILE).unwrap_or_default().trim_end_matches('/').to_string();
                    self.sources[index].exported_ignores.insert(root, bytes.clone());
                }
                (repo_path, name.what(&namespace), bytes)
            }
            ExportedItem::KvEntry { namespace, key, bytes } => {
                let name = Name::Kv(&key);
                let Some(path) = self.path_for(index, &namespace, &name) else { return Ok(()) };
                (path, name.what(&namespace), bytes)
            }
            ExportedItem::Unreadable => {
                self.sources[index].unreadable += 1;
                return Ok(());
            }
        };
        self.claim(&path, &what)?;
        let oid = write_blob(&bytes)?;
        self.record(index, path, oid);
        Ok(())
    }

    /// The repository path an item of source `index` lands at (layout rules, globs), None when
    /// the source does not take it. The same mapping as `add`'s.
    pub fn path_for(&self, index: usize, namespace: &str, name: &Name) -> Option<String> {
        let source = &self.sources[index];
        let selected = match name {
            Name::Flow(id) => source.selection.selects(id),
            Name::File(path) => source.selection.selects(&format!("/{path}")),
            Name::Kv(_) => true,
        };
        let dir = source.namespace_dir(namespace).filter(|_| selected)?;
        Some(match name {
            Name::Flow(id) => join(&dir, &format!("{id}.yml")),
            Name::File(path) => join(&dir, path),
            Name::Kv(key) => join(&dir, &crate::export::kv_file::file_name(key)),
        })
    }

    /// Takes an item as the blob the branch tip holds at its path, without its content: the
    /// incremental export's unchanged items, under the same rules as `add`. A `.kestraignore`
    /// is never kept this way (its rules come from the export), so the caller downloads those.
    pub fn keep(&mut self, index: usize, namespace: &str, name: &Name, tip_blob: Oid) -> Result<(), CoreError> {
        let Some(path) = self.path_for(index, namespace, name) else { return Ok(()) };
        if matches!(name, Name::File(p) if *p == IGNORE_FILE) {
            return Err(CoreError::new(ErrorCode::Internal, format!("`{path}`: a `{IGNORE_FILE}` is read from the export, never kept")));
        }
        self.claim(&path, &name.what(namespace))?;
        self.record(index, path, tip_blob);
        Ok(())
    }

    /// The blob the export put at `path` for source `index`, if any.
    pub fn entry(&self, index: usize, path: &str) -> Option<Oid> {
        self.sources[index].entries.get(path).copied()
    }

    /// Path safety and collisions: each path is claimed by one item.
    fn claim(&mut self, path: &str, what: &str) -> Result<(), CoreError> {
        safe_path::check(path, what)?;
        if let Some(first) = self.owners.insert(path.to_string(), what.to_string()) {
            return Err(CoreError::new(
                ErrorCode::UnsafePath,
                format!("{first} and {what} both map to `{path}`; give one of them another id or directory"),
            ));
        }
        Ok(())
    }

    fn record(&mut self, index: usize, path: String, oid: Oid) {
        let source = &mut self.sources[index];
        source.entries.insert(path, oid);
        source.exported += 1;
    }
}

/// What names an item within its namespace.
pub enum Name<'a> {
    /// A flow id.
    Flow(&'a str),
    /// A namespace file's path (namespace-relative, no leading `/`).
    File(&'a str),
    /// A KV key.
    Kv(&'a str),
}

impl Name<'_> {
    /// The item in words, for errors.
    fn what(&self, namespace: &str) -> String {
        match self {
            Name::Flow(id) => format!("flow `{namespace}.{id}`"),
            Name::File(path) => format!("namespace file `{path}` of `{namespace}`"),
            Name::Kv(key) => format!("KV entry `{key}` of `{namespace}`"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(sources: serde_json::Value) -> Snapshot {
        let mut sources = serde_json::from_value::<Vec<Source>>(sources).unwrap();
        sources.push(crate::request::KvOptions { git_directory: "kv".into(), namespace_prefix: String::new(), recipients: Vec::new(), plaintext: false }.source());
        Snapshot::new(&sources).unwrap()
    }

    #[test]
    fn item_at_reads_each_layout_backwards() {
        let whole = snapshot(serde_json::json!([
            {"kind": "flows", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": "flows"},
            {"kind": "namespaceFiles", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": "files"}
        ]));
        let named = |s: &Snapshot, p: &str| s.item_at(p).map(|(ns, name)| format!("{ns} {name}"));
        assert_eq!(named(&whole, "flows/company.team/etl.yml").as_deref(), Some("company.team etl"));
        assert_eq!(named(&whole, "files/company/scripts/run.py").as_deref(), Some("company scripts/run.py"));
        assert_eq!(named(&whole, "kv/company/db_url.json").as_deref(), Some("company db_url"));
        assert_eq!(named(&whole, "elsewhere/x.yml"), None);
        let one = snapshot(serde_json::json!([
            {"kind": "flows", "namespaces": {"one": {"namespace": "ansible", "includeChildren": true}}, "gitDirectory": "_flows"},
            {"kind": "namespaceFiles", "namespaces": {"one": {"namespace": "ansible"}}, "gitDirectory": "_files"}
        ]));
        assert_eq!(named(&one, "_flows/etl.yml").as_deref(), Some("ansible etl"));
        assert_eq!(named(&one, "_flows/dev/eu/etl.yml").as_deref(), Some("ansible.dev.eu etl"));
        assert_eq!(named(&one, "_files/lib/util.py").as_deref(), Some("ansible lib/util.py"));
    }
}
