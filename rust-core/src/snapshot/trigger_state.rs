//! Trigger state in the repository (`docs/trigger-state.md`): one small file per flow with
//! triggers, `<dir>/<namespace>/<flowId>.json`, recording whether each trigger is disabled at run
//! time. Only the flag is recorded (no dates), keys sorted, so a run with no change writes the
//! same bytes and a trigger switched on or off changes one file. The directory is the trigger
//! state's own: it may not overlap a source directory.

use super::safe_path::{self, join};
use super::{Change, Plan, TipTree};
use crate::error::{CoreError, ErrorCode};
use crate::export::triggers::TriggerKey;
use crate::request::{in_namespace_tree, NamespaceSelector, Source, SourceKind, TriggerStateOptions};
use git2::Oid;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

const MODE_FILE: i32 = 0o100644;
const SUFFIX: &str = ".json";

/// The content of one file.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct FlowTriggers {
    namespace: String,
    flow_id: String,
    triggers: BTreeMap<String, TriggerFlags>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerFlags {
    disabled: bool,
}

/// Where the files go, and which namespaces they cover: those of the request's flow sources.
pub struct TriggerLayout {
    dir: String,
    /// (namespace tree root, whether its children are covered) per flow source.
    roots: Vec<(String, bool)>,
}

impl TriggerLayout {
    pub fn new(options: &TriggerStateOptions, sources: &[Source]) -> Result<Self, CoreError> {
        let field = "triggerState.gitDirectory";
        let dir = safe_path::normalise_dir(&options.git_directory, field)?;
        if dir.is_empty() {
            return Err(CoreError::invalid(field, "is the repository root; give the trigger state a directory of its own, e.g. `triggers`"));
        }
        let within = |outer: &str, inner: &str| outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}/"));
        for (i, source) in sources.iter().enumerate() {
            let other = safe_path::normalise_dir(&source.git_directory, &format!("sources[{i}].gitDirectory"))?;
            if within(&other, &dir) || within(&dir, &other) {
                return Err(CoreError::invalid(
                    field,
                    format!("`{dir}` overlaps `sources[{i}].gitDirectory` `{}`; give the trigger state a directory of its own, e.g. `triggers`", if other.is_empty() { "/" } else { &other }),
                ));
            }
        }
        let roots = sources
            .iter()
            .filter(|s| s.kind == SourceKind::Flows)
            .map(|s| match &s.namespaces {
                NamespaceSelector::One { namespace, include_children } => (namespace.clone(), *include_children),
                NamespaceSelector::Discover { prefix } => (prefix.clone(), true),
            })
            .collect();
        Ok(TriggerLayout { dir, roots })
    }

    pub fn dir(&self) -> &str {
        &self.dir
    }

    /// The (namespace, flow id) of the file at a repository path: `<dir>/<namespace>/<flowId>.json`.
    pub fn flow_at(&self, path: &str) -> Option<(String, String)> {
        let below = if self.dir.is_empty() { path } else { path.strip_prefix(self.dir.as_str())?.strip_prefix('/')? };
        let (namespace, file) = below.split_once('/')?;
        Some((namespace.to_string(), file.strip_suffix(SUFFIX)?.to_string()))
    }

    /// The namespace tree to ask Kestra for: the one flow source's root, else every namespace.
    pub fn search_root(&self) -> &str {
        match self.roots.as_slice() {
            [(root, _)] => root,
            _ => "",
        }
    }

    /// Whether a flow of `namespace` is one of the request's flows.
    pub fn covers(&self, namespace: &str) -> bool {
        self.roots.iter().any(|(root, children)| if *children { in_namespace_tree(namespace, root) } else { namespace == root })
    }

    /// The file of each covered flow: repository path → bytes.
    pub fn files(&self, flags: &BTreeMap<TriggerKey, bool>) -> Result<BTreeMap<String, Vec<u8>>, CoreError> {
        let mut flows: BTreeMap<(&str, &str), BTreeMap<String, TriggerFlags>> = BTreeMap::new();
        for (key, &disabled) in flags.iter().filter(|(k, _)| self.covers(&k.namespace)) {
            flows.entry((&key.namespace, &key.flow_id)).or_default().insert(key.trigger_id.clone(), TriggerFlags { disabled });
        }
        let mut out = BTreeMap::new();
        for ((namespace, flow_id), triggers) in flows {
            let path = join(&self.dir, &format!("{namespace}/{flow_id}{SUFFIX}"));
            safe_path::check(&path, &format!("the trigger state of flow `{namespace}.{flow_id}`"))?;
            let content = FlowTriggers { namespace: namespace.to_string(), flow_id: flow_id.to_string(), triggers };
            let mut bytes = serde_json::to_vec_pretty(&content).map_err(|e| CoreError::new(ErrorCode::Internal, e.to_string()))?;
            bytes.push(b'\n');
            out.insert(path, bytes);
        }
        Ok(out)
    }

    /// Adds to `plan` the changes that turn the tip's trigger-state files into `desired` (path →
    /// blob); with `delete`, files of covered namespaces that `desired` lacks are removed.
    pub fn plan(&self, desired: &BTreeMap<String, Oid>, tip: &dyn TipTree, delete: bool, plan: &mut Plan) -> Result<(), CoreError> {
        let tip_files: BTreeMap<String, (Oid, i32)> = tip.files_under(&self.dir)?.into_iter().map(|f| (f.path, (f.oid, f.mode))).collect();
        for (path, &oid) in desired {
            match tip_files.get(path) {
                Some(&(old, _)) if old == oid => {}
                Some(&(old, mode)) => plan.changes.push(Change::Upsert { path: path.clone(), oid, mode, previous: Some(old) }),
                None => plan.changes.push(Change::Upsert { path: path.clone(), oid, mode: MODE_FILE, previous: None }),
            }
        }
        if delete {
            for (path, &(old, _)) in tip_files.iter().filter(|(p, _)| !desired.contains_key(*p)) {
                if self.namespace_of(path).is_some_and(|ns| self.covers(ns)) {
                    plan.changes.push(Change::Delete { path: path.clone(), previous: old });
                }
            }
        }
        plan.changes.sort_by(|a, b| a.path().cmp(b.path()));
        Ok(())
    }

    /// The flags the backup at `tree` records for the flows `wanted` accepts (namespace, flow id).
    pub fn recorded(&self, tree: &dyn TipTree, wanted: &dyn Fn(&str, &str) -> bool) -> Result<BTreeMap<TriggerKey, bool>, CoreError> {
        let mut out = BTreeMap::new();
        for file in tree.files_under(&self.dir)? {
            if self.namespace_of(&file.path).is_none() {
                continue;
            }
            let content: FlowTriggers = serde_json::from_slice(&tree.read_blob(file.oid)?).map_err(|e| {
                CoreError::new(ErrorCode::InvalidBackup, format!("`{}` in the backup is not a trigger-state file ({e}); fix or remove it", file.path))
            })?;
            if !wanted(&content.namespace, &content.flow_id) {
                continue;
            }
            for (trigger_id, flags) in content.triggers {
                let key = TriggerKey { namespace: content.namespace.clone(), flow_id: content.flow_id.clone(), trigger_id };
                out.insert(key, flags.disabled);
            }
        }
        Ok(out)
    }

    /// The namespace of `<dir>/<namespace>/<flowId>.json`; None for any other path.
    fn namespace_of<'a>(&self, path: &'a str) -> Option<&'a str> {
        let below = path.strip_prefix(&self.dir)?.strip_prefix('/')?;
        let (namespace, file) = below.split_once('/')?;
        (file.ends_with(SUFFIX) && !file.contains('/')).then_some(namespace)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::mem_tip::MemTip;

    fn layout(dir: &str, sources: serde_json::Value) -> Result<TriggerLayout, CoreError> {
        let sources: Vec<Source> = serde_json::from_value(sources).unwrap();
        TriggerLayout::new(&TriggerStateOptions { git_directory: dir.into() }, &sources)
    }

    fn instance() -> TriggerLayout {
        layout(
            "triggers",
            serde_json::json!([
                {"kind": "flows", "namespaces": {"discover": {"prefix": "company"}}, "gitDirectory": "flows"},
                {"kind": "namespaceFiles", "namespaces": {"discover": {"prefix": "company"}}, "gitDirectory": "files"}
            ]),
        )
        .unwrap()
    }

    fn key(ns: &str, flow: &str, trigger: &str) -> TriggerKey {
        TriggerKey { namespace: ns.into(), flow_id: flow.into(), trigger_id: trigger.into() }
    }

    #[test]
    fn one_sorted_file_per_covered_flow() {
        let flags = BTreeMap::from([
            (key("company.team", "etl", "nightly"), true),
            (key("company.team", "etl", "hourly"), false),
            (key("company", "report", "weekly"), false),
            (key("companyx", "other", "t"), true),
        ]);
        let files = instance().files(&flags).unwrap();
        assert_eq!(files.keys().collect::<Vec<_>>(), ["triggers/company.team/etl.json", "triggers/company/report.json"]);
        assert_eq!(
            String::from_utf8(files["triggers/company.team/etl.json"].clone()).unwrap(),
            "{\n  \"namespace\": \"company.team\",\n  \"flowId\": \"etl\",\n  \"triggers\": {\n    \"hourly\": {\n      \"disabled\": false\n    },\n    \"nightly\": {\n      \"disabled\": true\n    }\n  }\n}\n"
        );
        assert_eq!(instance().files(&flags).unwrap(), files, "the same flags, the same bytes");
    }

    #[test]
    fn the_directory_is_its_own() {
        let sources = serde_json::json!([{"kind": "flows", "namespaces": {"discover": {}}, "gitDirectory": "flows"}]);
        for (dir, says) in [("flows", "overlaps `sources[0].gitDirectory` `flows`"), ("flows/t", "overlaps"), ("/", "is the repository root"), ("../x", "`triggerState.gitDirectory`")] {
            let err = layout(dir, sources.clone()).err().unwrap();
            assert!(err.message.contains(says) && err.message.contains("triggerState.gitDirectory"), "{dir}: {}", err.message);
        }
        let root = serde_json::json!([{"kind": "flows", "namespaces": {"discover": {}}, "gitDirectory": ""}]);
        assert!(layout("triggers", root).is_err(), "a source at the root holds every directory");
        assert!(layout("triggers", sources).is_ok());
    }

    #[test]
    fn a_one_namespace_source_covers_children_only_when_asked() {
        let only = layout("t", serde_json::json!([{"kind": "flows", "namespaces": {"one": {"namespace": "a"}}, "gitDirectory": "f"}])).unwrap();
        assert!(only.covers("a") && !only.covers("a.b") && only.search_root() == "a");
        let children = layout("t", serde_json::json!([{"kind": "flows", "namespaces": {"one": {"namespace": "a", "includeChildren": true}}, "gitDirectory": "f"}])).unwrap();
        assert!(children.covers("a.b") && !children.covers("ab"));
    }

    #[test]
    fn plan_writes_changes_and_deletes_only_covered_flows() {
        let tip = MemTip::default()
            .with("triggers/company/same.json", b"same", MODE_FILE)
            .with("triggers/company/gone.json", b"gone", MODE_FILE)
            .with("triggers/other/outside.json", b"kept: not covered", MODE_FILE)
            .with("triggers/company/changed.json", b"old", MODE_FILE)
            .with("flows/company/x.yml", b"not ours", MODE_FILE);
        let (same, old, new) = (tip.blob(b"same"), tip.blob(b"old"), tip.blob(b"new"));
        let desired = BTreeMap::from([("triggers/company/same.json".to_string(), same), ("triggers/company/changed.json".to_string(), new)]);
        let mut plan = Plan { changes: Vec::new(), counts: Vec::new() };
        instance().plan(&desired, &tip, true, &mut plan).unwrap();
        assert_eq!(plan.changes.len(), 2, "{:?}", plan.changes);
        assert!(matches!(&plan.changes[0], Change::Upsert { path, previous: Some(p), .. } if path == "triggers/company/changed.json" && *p == old));
        assert!(matches!(&plan.changes[1], Change::Delete { path, .. } if path == "triggers/company/gone.json"));
        let mut kept = Plan { changes: Vec::new(), counts: Vec::new() };
        instance().plan(&desired, &tip, false, &mut kept).unwrap();
        assert_eq!(kept.changes.len(), 1, "no deletion without `delete`");
    }

    #[test]
    fn recorded_reads_the_wanted_flows_and_names_a_bad_file() {
        let flags = BTreeMap::from([(key("company", "a", "t1"), true), (key("company", "b", "t2"), false)]);
        let tip = instance().files(&flags).unwrap().iter().fold(MemTip::default(), |tip, (path, bytes)| tip.with(path, bytes, MODE_FILE));
        let all = instance().recorded(&tip, &|_, _| true).unwrap();
        assert_eq!(all, flags);
        let only_a = instance().recorded(&tip, &|_, flow| flow == "a").unwrap();
        assert_eq!(only_a.into_keys().collect::<Vec<_>>(), [key("company", "a", "t1")]);
        let tip = tip.with("triggers/company/bad.json", b"{not json", MODE_FILE);
        let err = instance().recorded(&tip, &|_, _| true).unwrap_err();
        assert!(err.code == ErrorCode::InvalidBackup && err.message.contains("`triggers/company/bad.json`"), "{}", err.message);
    }
}
