//! The other direction, for restore and drill: every file of the backup's source directories
//! against what Kestra holds now, and where each backup file goes back to in Kestra (its
//! namespace and path, read from the layout the backup wrote: `layout` in reverse).

use super::layout::{Snapshot, SourceState};
use super::plan::Ignores;
use super::{TipFile, TipTree};
use crate::error::CoreError;
use crate::request::{in_namespace_tree, NamespaceSelector, SourceKind};
use git2::Oid;
use std::collections::{BTreeMap, HashMap};

const MODE_LINK: i32 = 0o120000;
const MODE_SUBMODULE: i32 = 0o160000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drift {
    InSync,
    MissingInKestra,
    Differing,
    OnlyInKestra,
}

impl Drift {
    pub fn as_str(self) -> &'static str {
        match self {
            Drift::InSync => "inSync",
            Drift::MissingInKestra => "missingInKestra",
            Drift::Differing => "differing",
            Drift::OnlyInKestra => "onlyInKestra",
        }
    }
}

/// One file of a source directory, in the backup, in Kestra, or both.
#[derive(Debug, Clone)]
pub struct BackupFile {
    /// Path from the repository root.
    pub path: String,
    pub kind: SourceKind,
    pub namespace: String,
    /// Path inside the namespace: the namespace file's path, or `<id>.yml` for a flow.
    pub relative: String,
    /// The blob in the backup; None when only Kestra has the file.
    pub backup: Option<Oid>,
    /// The blob of what Kestra holds now (written by the export); None when Kestra lacks it.
    pub kestra: Option<Oid>,
    pub drift: Drift,
}

impl Snapshot {
    /// Every file of every source directory, sorted by path. Backup files outside the sources'
    /// namespace trees, symlinks, submodules, flow copies under a namespace's `_flows/` and (for
    /// flows) anything but `<ns>/<id>.yml` are not the backup's to restore and are left out, as
    /// are Kestra's files that `.kestraignore` keeps out of the backup.
    pub fn compare(&self, tip: &dyn TipTree) -> Result<Vec<BackupFile>, CoreError> {
        let mut out = BTreeMap::new();
        for source in &self.sources {
            let tip_files = tip.files_under(&source.dir)?;
            let by_path: HashMap<String, TipFile> = tip_files.iter().map(|f| (f.path.clone(), f.clone())).collect();
            let ignores = Ignores::load(source, &by_path, tip)?;
            for file in tip_files {
                let Some((namespace, relative)) = locate(source, &file) else { continue };
                let kestra = source.entries.get(&file.path).copied();
                let drift = match kestra {
                    Some(oid) if oid == file.oid => Drift::InSync,
                    Some(_) => Drift::Differing,
                    None => Drift::MissingInKestra,
                };
                out.insert(file.path.clone(), BackupFile { path: file.path, kind: source.kind, namespace, relative, backup: Some(file.oid), kestra, drift });
            }
            for (path, oid) in &source.entries {
                if out.contains_key(path) || ignores.is_ignored(source, path) {
                    continue;
                }
                let Some((namespace, relative)) = split(source, path) else { continue };
                out.insert(path.clone(), BackupFile { path: path.clone(), kind: source.kind, namespace, relative, backup: None, kestra: Some(*oid), drift: Drift::OnlyInKestra });
            }
        }
        Ok(out.into_values().collect())
    }
}

impl Snapshot {
    /// Where a repository path belongs in Kestra: (kind, namespace, path in the namespace); None
    /// outside every source's directory.
    pub fn place(&self, path: &str) -> Option<(SourceKind, String, String)> {
        self.sources.iter().find_map(|source| split(source, path).map(|(namespace, relative)| (source.kind, namespace, relative)))
    }
}

fn locate(source: &SourceState, file: &TipFile) -> Option<(String, String)> {
    if file.mode == MODE_LINK || file.mode == MODE_SUBMODULE || source.is_flow_copy(&file.path) {
        return None;
    }
    let (namespace, relative) = split(source, &file.path)?;
    let flow_file = !relative.contains('/') && (relative.ends_with(".yml") || relative.ends_with(".yaml"));
    (source.kind == SourceKind::NamespaceFiles || flow_file).then_some((namespace, relative))
}

/// A repository path → (namespace, path in the namespace), by the layout the backup wrote:
/// `<dir>/<namespace>/<relative>` for discovered namespaces (within the source's tree); for one
/// namespace, `<dir>/<relative>`, its flows' child namespaces in sub-directories (`<dir>/b/c/x.yml`
/// → `ns.b.c`) when the source includes children.
fn split(source: &SourceState, path: &str) -> Option<(String, String)> {
    let below = if source.dir.is_empty() { path } else { path.strip_prefix(&source.dir)?.strip_prefix('/')? };
    match &source.selector {
        NamespaceSelector::Discover { prefix } => {
            let (namespace, relative) = below.split_once('/')?;
            (in_namespace_tree(namespace, prefix) && !relative.is_empty()).then(|| (namespace.to_string(), relative.to_string()))
        }
        NamespaceSelector::One { namespace, include_children } => match (source.kind, below.rsplit_once('/')) {
            (SourceKind::NamespaceFiles | SourceKind::Kv, _) | (SourceKind::Flows, None) => Some((namespace.clone(), below.to_string())),
            (SourceKind::Flows, Some((dirs, file))) => include_children.then(|| (format!("{namespace}.{}", dirs.replace('/', ".")), file.to_string())),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::ExportedItem;
    use crate::request::Source;
    use crate::snapshot::mem_tip::MemTip;

    fn discover(kind: SourceKind, dir: &str, prefix: &str) -> Source {
        Source {
            kind,
            namespaces: NamespaceSelector::Discover { prefix: prefix.into() },
            git_directory: dir.into(),
            globs: vec![],
            target_namespace: None,
            provided_files: None,
        }
    }

    #[test]
    fn a_single_namespace_layout_is_read_back_with_its_child_namespaces() {
        let tip = MemTip::default()
            .with("_flows/etl.yml", b"id: etl\nnamespace: company\n", 0o100644)
            .with("_flows/team/crm/sync.yml", b"id: sync\nnamespace: company.team.crm\n", 0o100644)
            .with("_files/lib/a.py", b"a", 0o100644);
        let one = |kind: SourceKind, dir: &str, include_children: bool| Source {
            namespaces: NamespaceSelector::One { namespace: "company".into(), include_children },
            ..discover(kind, dir, "")
        };
        let rows = |sources: &[Source]| -> Vec<(String, String)> {
            Snapshot::new(sources).unwrap().compare(&tip).unwrap().into_iter().map(|f| (f.namespace, f.relative)).collect()
        };
        let pair = |ns: &str, rel: &str| (ns.to_string(), rel.to_string());
        assert_eq!(
            rows(&[one(SourceKind::Flows, "_flows", true), one(SourceKind::NamespaceFiles, "_files", false)]),
            [pair("company", "lib/a.py"), pair("company", "etl.yml"), pair("company.team.crm", "sync.yml")]
        );
        assert_eq!(rows(&[one(SourceKind::Flows, "_flows", false)]), [pair("company", "etl.yml")], "children only when included");
    }

    #[test]
    fn each_backup_file_is_placed_back_in_its_namespace_with_its_drift() {
        let tip = MemTip::default()
            .with("flows/company/same.yml", b"id: same\nnamespace: company\n", 0o100644)
            .with("flows/company.team/changed.yml", b"id: changed\nnamespace: company.team\n# v1\n", 0o100644)
            .with("flows/company/lost.yml", b"id: lost\nnamespace: company\n", 0o100644)
            .with("flows/company/README.md", b"not a flow", 0o100644)
            .with("flows/company/nested/x.yml", b"not this layout", 0o100644)
            .with("flows/other/x.yml", b"id: x\nnamespace: other\n", 0o100644)
            .with("files/company/lib/a.py", b"a", 0o100644)
            .with("files/company/.kestraignore", b"*.tmp\n", 0o100644)
            .with("files/company/link", b"target", MODE_LINK)
            .with("README.md", b"outside", 0o100644);
        let sources = [discover(SourceKind::Flows, "flows", "company"), discover(SourceKind::NamespaceFiles, "files", "company")];
        let mut snap = Snapshot::new(&sources).unwrap();
        let mut write = |b: &[u8]| Ok(tip.blob(b));
        let flow = |ns: &str, id: &str, tail: &str| ExportedItem::Flow {
            namespace: ns.into(),
            id: id.into(),
            source: format!("id: {id}\nnamespace: {ns}\n{tail}revision: 2\n"),
        };
        snap.add(0, flow("company", "same", ""), &mut write).unwrap();
        snap.add(0, flow("company.team", "changed", "# v2\n"), &mut write).unwrap();
        snap.add(0, flow("company", "new", ""), &mut write).unwrap();
        let file = |path: &str, bytes: &[u8]| ExportedItem::File { namespace: "company".into(), path: path.into(), bytes: bytes.to_vec() };
        snap.add(1, file(".kestraignore", b"*.tmp\n"), &mut write).unwrap();
        snap.add(1, file("scratch.tmp", b"kept out of the backup"), &mut write).unwrap();

        let rows: Vec<(String, &str, String, String)> = snap
            .compare(&tip)
            .unwrap()
            .into_iter()
            .map(|f| (f.path, f.drift.as_str(), f.namespace, f.relative))
            .collect();
        let row = |p: &str, d: &'static str, ns: &str, rel: &str| (p.to_string(), d, ns.to_string(), rel.to_string());
        assert_eq!(
            rows,
            [
                row("files/company/.kestraignore", "inSync", "company", ".kestraignore"),
                row("files/company/lib/a.py", "missingInKestra", "company", "lib/a.py"),
                row("flows/company.team/changed.yml", "differing", "company.team", "changed.yml"),
                row("flows/company/lost.yml", "missingInKestra", "company", "lost.yml"),
                row("flows/company/new.yml", "onlyInKestra", "company", "new.yml"),
                row("flows/company/same.yml", "inSync", "company", "same.yml"),
            ]
        );
    }
}
