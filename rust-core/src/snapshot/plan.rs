//! Planning: the changes that turn the branch tip into the snapshot (plugin-git §8.5–8.7), per
//! source counts, and the deletion guard. Files outside every source directory are never looked at.

use super::guard::{self, SourceDeletions};
use super::kestraignore::{KestraIgnore, FILE_NAME as IGNORE_FILE};
use super::layout::{Snapshot, SourceState};
use super::safe_path::join;
use super::{Change, Plan, TipFile, TipTree};
use crate::error::CoreError;
use crate::export::join_names;
use crate::progress::Log;
use crate::report::SourceCounts;
use crate::request::DeletionGuard;
use std::collections::{BTreeMap, HashMap};

const MODE_FILE: i32 = 0o100644;
const MODE_LINK: i32 = 0o120000;
const MODE_SUBMODULE: i32 = 0o160000;

impl Snapshot {
    /// The changes that turn `tip` into this snapshot, with `.kestraignore`, deletion rules and
    /// the mass-deletion guard applied.
    pub fn plan(&self, tip: &dyn TipTree, delete: bool, guard: &DeletionGuard, log: &mut Log) -> Result<Plan, CoreError> {
        let mut changes = BTreeMap::new();
        let mut counts = Vec::with_capacity(self.sources.len());
        for source in &self.sources {
            let tip_files: HashMap<String, TipFile> =
                tip.files_under(&source.dir)?.into_iter().map(|f| (f.path.clone(), f)).collect();
            let ignores = Ignores::load(source, &tip_files, tip)?;
            let mut c = SourceCounts { git_directory: source.dir.clone(), exported: source.exported, ..SourceCounts::default() };

            for (path, &oid) in &source.entries {
                if ignores.is_ignored(source, path) {
                    log.debug(format!("Skipped ignored file: {path}"));
                    c.ignored += 1;
                    continue;
                }
                match tip_files.get(path) {
                    Some(old) if old.oid == oid => c.unchanged += 1,
                    Some(old) => {
                        c.modified += 1;
                        changes.insert(path.clone(), Change::Upsert { path: path.clone(), oid, mode: old.mode, previous: Some(old.oid) });
                    }
                    None => {
                        c.added += 1;
                        changes.insert(path.clone(), Change::Upsert { path: path.clone(), oid, mode: MODE_FILE, previous: None });
                    }
                }
            }

            let mut copies: Vec<&TipFile> = tip_files.values().filter(|f| source.is_flow_copy(&f.path)).collect();
            if !copies.is_empty() {
                copies.sort_by(|a, b| a.path.cmp(&b.path));
                let paths: Vec<&str> = copies.iter().map(|f| f.path.as_str()).collect();
                log.info(format!(
                    "`{}`: removing {} cop{} of flows under `_flows/` (Kestra bundled them into namespace files; the flows are backed up from the flow export): {}",
                    source.dir,
                    copies.len(),
                    if copies.len() == 1 { "y" } else { "ies" },
                    join_names(&paths)
                ));
                for f in copies {
                    c.deleted += 1;
                    changes.insert(f.path.clone(), Change::Delete { path: f.path.clone(), previous: f.oid });
                }
            }

            if delete {
                let candidates: Vec<&TipFile> = tip_files
                    .values()
                    .filter(|f| f.mode != MODE_LINK && f.mode != MODE_SUBMODULE && !source.is_flow_copy(&f.path))
                    .filter(|f| !f.path.ends_with(&format!("/{IGNORE_FILE}")) && f.path != IGNORE_FILE)
                    .filter(|f| !ignores.is_ignored(source, &f.path))
                    .filter(|f| source.selection.scopes_deletion_of(&f.path))
                    .collect();
                let mut deleting: Vec<&&TipFile> = candidates.iter().filter(|f| !source.entries.contains_key(&f.path)).collect();
                if source.unreadable > 0 && !deleting.is_empty() {
                    log.warn(format!(
                        "`{}`: {} item(s) of Kestra's export could not be read (the export is partial); the {} file(s) it no longer lists are kept this run",
                        source.dir,
                        source.unreadable,
                        deleting.len()
                    ));
                    deleting.clear();
                }
                guard::check(
                    guard,
                    &SourceDeletions { dir: &source.dir, exported: source.exported, existing: candidates.len(), deleting: deleting.len() },
                )?;
                for f in deleting {
                    c.deleted += 1;
                    changes.insert(f.path.clone(), Change::Delete { path: f.path.clone(), previous: f.oid });
                }
            }
            counts.push(c);
        }
        Ok(Plan { changes: changes.into_values().collect(), counts })
    }
}

/// The `.kestraignore` of each namespace root directory of one source: the exported one wins
/// (namespace files), else the one committed in the tip.
pub(super) struct Ignores(HashMap<String, KestraIgnore>);

impl Ignores {
    pub(super) fn load(source: &SourceState, tip_files: &HashMap<String, TipFile>, tip: &dyn TipTree) -> Result<Self, CoreError> {
        let mut map = HashMap::new();
        for (root, bytes) in &source.exported_ignores {
            map.insert(root.clone(), KestraIgnore::parse(bytes, &join(root, IGNORE_FILE))?);
        }
        for (path, file) in tip_files {
            let Some(root) = path.strip_suffix(IGNORE_FILE).map(|r| r.trim_end_matches('/')) else { continue };
            if (path == IGNORE_FILE || path.ends_with(&format!("/{IGNORE_FILE}"))) && source.root_of(path) == root && !map.contains_key(root) {
                map.insert(root.to_string(), KestraIgnore::parse(&tip.read_blob(file.oid)?, path)?);
            }
        }
        Ok(Ignores(map))
    }

    pub(super) fn is_ignored(&self, source: &SourceState, path: &str) -> bool {
        let root = source.root_of(path);
        let relative = if root.is_empty() { path } else { &path[root.len() + 1..] };
        self.0.get(&root).is_some_and(|k| k.is_ignored(relative))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorCode;
    use crate::export::ExportedItem;
    use crate::request::{NamespaceSelector, Source, SourceKind};
    use crate::snapshot::mem_tip::MemTip;

    fn source(kind: SourceKind, ns: &str, dir: &str, globs: &[&str]) -> Source {
        Source {
            kind,
            namespaces: NamespaceSelector::One { namespace: ns.into(), include_children: false },
            git_directory: dir.into(),
            globs: globs.iter().map(|g| g.to_string()).collect(),
            target_namespace: None,
            provided_files: None,
        }
    }

    fn flow(ns: &str, id: &str) -> ExportedItem {
        ExportedItem::Flow { namespace: ns.into(), id: id.into(), source: format!("id: {id}\nnamespace: {ns}\nrevision: 3\n") }
    }

    fn file(ns: &str, path: &str, bytes: &[u8]) -> ExportedItem {
        ExportedItem::File { namespace: ns.into(), path: path.into(), bytes: bytes.to_vec() }
    }

    fn snapshot(sources: &[Source], items: Vec<(usize, ExportedItem)>, tip: &MemTip) -> Result<Snapshot, CoreError> {
        let mut snap = Snapshot::new(sources)?;
        for (i, item) in items {
            snap.add(i, item, &mut |b| Ok(tip.blob(b)))?;
        }
        Ok(snap)
    }

    fn plan(snap: &Snapshot, tip: &MemTip, delete: bool, guard: &DeletionGuard) -> Result<Plan, CoreError> {
        let mut sink = |_: &crate::progress::LogEvent| {};
        snap.plan(tip, delete, guard, &mut Log::new(&mut sink, vec![]))
    }

    fn paths(p: &Plan) -> Vec<String> {
        p.changes.iter().map(|c| format!("{}{}", if matches!(c, Change::Delete { .. }) { "-" } else { "+" }, c.path())).collect()
    }

    #[test]
    fn first_run_adds_everything_with_revision_stripped() {
        let tip = MemTip::default();
        let sources = [source(SourceKind::Flows, "ansible", "flows/ansible", &[])];
        let snap = snapshot(&sources, vec![(0, flow("ansible", "b")), (0, flow("ansible", "a"))], &tip).unwrap();
        let p = plan(&snap, &tip, true, &DeletionGuard::default()).unwrap();
        assert_eq!(paths(&p), ["+flows/ansible/a.yml", "+flows/ansible/b.yml"]);
        let Change::Upsert { oid, mode, .. } = &p.changes[0] else { panic!() };
        assert_eq!(*mode, MODE_FILE);
        assert_eq!(tip.read_blob(*oid).unwrap(), b"id: a\nnamespace: ansible\n");
        assert_eq!((p.counts[0].exported, p.counts[0].added), (2, 2));
    }

    #[test]
    fn unchanged_modified_deleted_and_outside_files() {
        let tip = MemTip::default()
            .with("flows/ansible/a.yml", b"id: a\nnamespace: ansible\n", 0o100755)
            .with("flows/ansible/b.yml", b"old", MODE_FILE)
            .with("flows/ansible/gone.yml", b"x", MODE_FILE)
            .with("flows/ansible/link", b"target", MODE_LINK)
            .with("README.md", b"outside", MODE_FILE);
        let sources = [source(SourceKind::Flows, "ansible", "flows/ansible", &[])];
        let snap = snapshot(&sources, vec![(0, flow("ansible", "a")), (0, flow("ansible", "b"))], &tip).unwrap();
        let p = plan(&snap, &tip, true, &DeletionGuard::default()).unwrap();
        assert_eq!(paths(&p), ["+flows/ansible/b.yml", "-flows/ansible/gone.yml"]);
        let c = &p.counts[0];
        assert_eq!((c.unchanged, c.modified, c.deleted, c.added), (1, 1, 1, 0));
        // delete: false keeps stale files
        let p = plan(&snap, &tip, false, &DeletionGuard::default()).unwrap();
        assert_eq!(paths(&p), ["+flows/ansible/b.yml"]);
    }

    #[test]
    fn a_partial_export_deletes_nothing() {
        let tip = MemTip::default().with("flows/ansible/a.yml", b"x", MODE_FILE).with("flows/ansible/b.yml", b"y", MODE_FILE);
        let sources = [source(SourceKind::Flows, "ansible", "flows/ansible", &[])];
        let snap = snapshot(&sources, vec![(0, flow("ansible", "a")), (0, ExportedItem::Unreadable), (0, flow("ansible", "c"))], &tip).unwrap();
        let mut warnings = Vec::new();
        let mut sink = |e: &crate::progress::LogEvent| warnings.push(e.message.clone());
        let p = snap.plan(&tip, true, &DeletionGuard::default(), &mut Log::new(&mut sink, vec![])).unwrap();
        assert_eq!(paths(&p), ["+flows/ansible/a.yml", "+flows/ansible/c.yml"], "b.yml is kept");
        assert_eq!(p.counts[0].deleted, 0);
        assert!(warnings.iter().any(|w| w.contains("could not be read") && w.contains("1 file(s)")), "{warnings:?}");
    }

    #[test]
    fn executable_mode_is_kept_on_update() {
        let tip = MemTip::default().with("s/run.sh", b"v1", 0o100755);
        let sources = [source(SourceKind::NamespaceFiles, "a", "s", &[])];
        let snap = snapshot(&sources, vec![(0, file("a", "run.sh", b"v2"))], &tip).unwrap();
        let p = plan(&snap, &tip, true, &DeletionGuard::default()).unwrap();
        assert!(matches!(p.changes[0], Change::Upsert { mode: 0o100755, .. }));
    }

    #[test]
    fn empty_export_is_refused_by_the_guard() {
        let tip = MemTip::default().with("flows/ansible/a.yml", b"x", MODE_FILE);
        let sources = [source(SourceKind::Flows, "ansible", "flows/ansible", &[])];
        let snap = snapshot(&sources, vec![], &tip).unwrap();
        let err = plan(&snap, &tip, true, &DeletionGuard::default()).err().unwrap();
        assert_eq!(err.code, ErrorCode::DeletionGuard);
        let allow = DeletionGuard { allow_empty_export: true, ..DeletionGuard::default() };
        assert_eq!(paths(&plan(&snap, &tip, true, &allow).unwrap()), ["-flows/ansible/a.yml"]);
    }

    #[test]
    fn kestraignore_from_export_wins_and_protects_tip_files() {
        let tip = MemTip::default()
            .with("s/.kestraignore", b"nothing\n", MODE_FILE)
            .with("s/tmp/old.log", b"x", MODE_FILE)
            .with("s/keep.txt", b"k", MODE_FILE);
        let sources = [source(SourceKind::NamespaceFiles, "a", "s", &[])];
        let items = vec![(0, file("a", ".kestraignore", b"tmp/\n*.bak\n")), (0, file("a", "x.bak", b"b")), (0, file("a", "keep.txt", b"k"))];
        let snap = snapshot(&sources, items, &tip).unwrap();
        let p = plan(&snap, &tip, true, &DeletionGuard::default()).unwrap();
        // the ignored export is not committed, the ignored tip file is not deleted
        assert_eq!(paths(&p), ["+s/.kestraignore"]);
        assert_eq!(p.counts[0].ignored, 1);
    }

    #[test]
    fn flows_use_the_committed_kestraignore() {
        let tip = MemTip::default().with("f/.kestraignore", b"draft_*\n", MODE_FILE).with("f/draft_x.yml", b"x", MODE_FILE);
        let sources = [source(SourceKind::Flows, "a", "f", &[])];
        let snap = snapshot(&sources, vec![(0, flow("a", "draft_y")), (0, flow("a", "ok"))], &tip).unwrap();
        let p = plan(&snap, &tip, true, &DeletionGuard::default()).unwrap();
        assert_eq!(paths(&p), ["+f/ok.yml"]);
    }

    #[test]
    fn globs_select_and_scope_deletions() {
        let tip = MemTip::default()
            .with("s/first-file.txt", b"1", MODE_FILE)
            .with("s/second-deleted.txt", b"2", MODE_FILE);
        let sources = [source(SourceKind::NamespaceFiles, "a", "s", &["second*"])];
        let snap = snapshot(&sources, vec![(0, file("a", "second-new.txt", b"n")), (0, file("a", "other.txt", b"o"))], &tip).unwrap();
        let p = plan(&snap, &tip, true, &DeletionGuard::default()).unwrap();
        assert_eq!(paths(&p), ["-s/second-deleted.txt", "+s/second-new.txt"]);
    }

    #[test]
    fn children_go_to_subdirectories_and_siblings_are_skipped() {
        let tip = MemTip::default();
        let mut s = source(SourceKind::Flows, "company", "f", &[]);
        s.namespaces = NamespaceSelector::One { namespace: "company".into(), include_children: true };
        let items = vec![(0, flow("company.team.crm", "x")), (0, flow("companyx", "y")), (0, flow("company", "z"))];
        let snap = snapshot(&[s], items, &tip).unwrap();
        assert_eq!(paths(&plan(&snap, &tip, true, &DeletionGuard::default()).unwrap()), ["+f/team/crm/x.yml", "+f/z.yml"]);
    }

    #[test]
    fn discovered_namespaces_get_their_own_directory() {
        let tip = MemTip::default();
        let mut s = source(SourceKind::NamespaceFiles, "", "scripts", &[]);
        s.namespaces = NamespaceSelector::Discover { prefix: "ansible".into() };
        let items = vec![(0, file("ansible", "a.py", b"a")), (0, file("ansible.roles", "r/b.py", b"b")), (0, file("ansiblex", "c", b"c"))];
        let snap = snapshot(&[s], items, &tip).unwrap();
        assert_eq!(
            paths(&plan(&snap, &tip, true, &DeletionGuard::default()).unwrap()),
            ["+scripts/ansible.roles/r/b.py", "+scripts/ansible/a.py"]
        );
    }

    #[test]
    fn target_namespace_rewrites_the_source() {
        let tip = MemTip::default();
        let mut s = source(SourceKind::Flows, "dev", "f", &[]);
        s.target_namespace = Some("prod".into());
        let snap = snapshot(&[s], vec![(0, flow("dev", "a"))], &tip).unwrap();
        let p = plan(&snap, &tip, true, &DeletionGuard::default()).unwrap();
        let Change::Upsert { oid, .. } = &p.changes[0] else { panic!() };
        assert_eq!(tip.read_blob(*oid).unwrap(), b"id: a\nnamespace: prod\n");
    }

    #[test]
    fn traversal_and_collisions_are_refused() {
        let tip = MemTip::default();
        let sources = [source(SourceKind::NamespaceFiles, "a", "s", &[])];
        let err = snapshot(&sources, vec![(0, file("a", "../../etc/passwd", b"x"))], &tip).err().unwrap();
        assert_eq!(err.code, ErrorCode::UnsafePath);
        assert!(err.message.contains("../../etc/passwd"), "{}", err.message);
        let mut children = source(SourceKind::Flows, "a", "f", &[]);
        children.namespaces = NamespaceSelector::One { namespace: "a".into(), include_children: true };
        let err = snapshot(&[children], vec![(0, flow("a.b", "x")), (0, flow("a.b", "x"))], &tip).err().unwrap();
        assert_eq!(err.code, ErrorCode::UnsafePath);
        assert!(err.message.contains("flow `a.b.x` and flow `a.b.x` both map to `f/b/x.yml`"), "{}", err.message);
    }

    #[test]
    fn sources_sharing_or_nesting_a_directory_are_refused() {
        for (a, b) in [("d", "d/"), ("d", "d/sub"), ("", "scripts"), ("flows/x", "flows")] {
            let sources = [source(SourceKind::Flows, "a", a, &[]), source(SourceKind::NamespaceFiles, "a", b, &[])];
            let err = Snapshot::new(&sources).err().unwrap_or_else(|| panic!("{a} and {b} overlap"));
            assert_eq!(err.code, ErrorCode::InvalidConfig);
            assert!(err.message.starts_with("`sources[1].gitDirectory`") && err.message.contains("overlaps"), "{}", err.message);
        }
        let apart = [source(SourceKind::Flows, "a", "flows", &[]), source(SourceKind::NamespaceFiles, "a", "flows-files", &[])];
        Snapshot::new(&apart).unwrap();
    }
}
