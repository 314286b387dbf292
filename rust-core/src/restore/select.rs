//! Which items of the backup a restore or drill looks at: the `flows` globs (over
//! `namespace/id`) and `files` globs (over `namespace/path`); with `withDependencies`, also the
//! flows a selected flow calls as a subflow, transitively, as the backup holds them.

use crate::error::CoreError;
use crate::progress::Log;
use crate::report::DependencyRow;
use crate::request::{RestoreOptions, SourceKind};
use crate::snapshot::{BackupFile, TipTree};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use serde_yaml_ng::Value;
use std::collections::{BTreeMap, VecDeque};

/// Task types that start another flow, named by literal `namespace` and `flowId` properties.
const FLOW_CALLS: [&str; 5] = [
    "io.kestra.plugin.core.flow.Subflow",
    "io.kestra.core.tasks.flows.Subflow",
    "io.kestra.core.tasks.flows.Flow",
    "io.kestra.plugin.core.flow.ForEachItem",
    "io.kestra.core.tasks.flows.ForEachItem",
];

pub struct Selection {
    /// None: every item of that kind. Some(empty set): none (the other list was given).
    flows: Option<GlobSet>,
    files: Option<GlobSet>,
}

impl Selection {
    pub fn new(options: &RestoreOptions) -> Result<Self, CoreError> {
        if options.flows.is_empty() && options.files.is_empty() {
            return Ok(Selection { flows: None, files: None });
        }
        Ok(Selection { flows: Some(glob_set("flows", &options.flows)?), files: Some(glob_set("files", &options.files)?) })
    }

    /// Whether any item of `kind` can be selected (a source of another kind is not even exported).
    pub fn wants(&self, kind: SourceKind) -> bool {
        match self.set(kind) {
            None => true,
            Some(set) => !set.is_empty(),
        }
    }

    fn set(&self, kind: SourceKind) -> Option<&GlobSet> {
        match kind {
            SourceKind::Flows => self.flows.as_ref(),
            SourceKind::NamespaceFiles => self.files.as_ref(),
            // KV entries are restored by `restore::kv`, never selected as files.
            SourceKind::Kv => None,
        }
    }

    /// The selected files of `all`, and with `with_dependencies` the flows they call (read
    /// through `backup`), each with the flow that needed it.
    pub fn apply(&self, all: Vec<BackupFile>, with_dependencies: bool, backup: &dyn TipTree, log: &mut Log) -> Result<(Vec<BackupFile>, Vec<DependencyRow>), CoreError> {
        let (mut selected, rest): (Vec<BackupFile>, Vec<BackupFile>) =
            all.into_iter().partition(|f| self.set(f.kind).is_none_or(|set| set.is_match(item_name(f))));
        let mut dependencies = Vec::new();
        // With no `flows` list every flow is selected already: nothing to follow.
        if with_dependencies && self.flows.is_some() {
            let mut candidates: BTreeMap<String, BackupFile> =
                rest.into_iter().filter(|f| f.kind == SourceKind::Flows && f.backup.is_some()).map(|f| (item_name(&f), f)).collect();
            let mut queue: VecDeque<BackupFile> = selected.iter().filter(|f| f.kind == SourceKind::Flows).cloned().collect();
            while let Some(flow) = queue.pop_front() {
                let Some(oid) = flow.backup else { continue };
                let source = String::from_utf8_lossy(&backup.read_blob(oid)?).into_owned();
                for called in flow_calls(&source) {
                    let Some(dependency) = candidates.remove(&called) else {
                        if !selected.iter().any(|f| f.kind == SourceKind::Flows && item_name(f) == called) {
                            log.warn(format!("`{}` calls `{called}`, which the backup does not hold; it is not restored with it", item_name(&flow)));
                        }
                        continue;
                    };
                    log.info(format!("Selected `{called}`: `{}` calls it as a subflow", item_name(&flow)));
                    dependencies.push(DependencyRow { flow: called, required_by: item_name(&flow) });
                    queue.push_back(dependency.clone());
                    selected.push(dependency);
                }
            }
            selected.sort_by(|a, b| a.path.cmp(&b.path));
        }
        Ok((selected, dependencies))
    }
}

/// `namespace/id` of a flow, `namespace/path` of a namespace file: what the globs match.
pub fn item_name(file: &BackupFile) -> String {
    match file.kind {
        SourceKind::Flows => format!("{}/{}", file.namespace, crate::snapshot::flow_id(&file.relative)),
        SourceKind::NamespaceFiles | SourceKind::Kv => format!("{}/{}", file.namespace, file.relative),
    }
}

fn glob_set(field: &str, globs: &[String]) -> Result<GlobSet, CoreError> {
    let mut set = GlobSetBuilder::new();
    for (i, glob) in globs.iter().enumerate() {
        let glob = glob.trim();
        if !glob.contains('/') {
            return Err(CoreError::invalid(
                &format!("restore.{field}[{i}]"),
                format!("`{}` has no `/`; write `namespace/{}`, e.g. `company.team/{}`", crate::error::shown(glob), if field == "flows" { "id" } else { "path" }, crate::error::shown(glob)),
            ));
        }
        let compiled = GlobBuilder::new(glob)
            .literal_separator(true)
            .build()
            .map_err(|e| CoreError::invalid(&format!("restore.{field}[{i}]"), format!("`{}` is not a valid glob: {}", crate::error::shown(glob), e.kind())))?;
        set.add(compiled);
    }
    set.build().map_err(|e| CoreError::invalid(&format!("restore.{field}"), format!("invalid globs: {e}")))
}

/// The flows (`namespace/id`) a flow source starts through a flow-calling task, anywhere in it
/// (tasks, errors, finally, nested flowable tasks), where both names are literal.
fn flow_calls(source: &str) -> Vec<String> {
    let Ok(value) = serde_yaml_ng::from_str::<Value>(source) else { return Vec::new() };
    let mut out = Vec::new();
    let mut stack = vec![&value];
    while let Some(node) = stack.pop() {
        match node {
            Value::Mapping(map) => {
                let text = |key: &str| map.get(key).and_then(Value::as_str).filter(|v| !v.contains("{{") && !v.trim().is_empty());
                if map.get("type").and_then(Value::as_str).is_some_and(|t| FLOW_CALLS.contains(&t))
                    && let (Some(namespace), Some(id)) = (text("namespace"), text("flowId"))
                {
                    let call = format!("{}/{}", namespace.trim(), id.trim());
                    if !out.contains(&call) {
                        out.push(call);
                    }
                }
                stack.extend(map.values());
            }
            Value::Sequence(items) => stack.extend(items.iter()),
            Value::Tagged(tagged) => stack.push(&tagged.value),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::mem_tip::MemTip;
    use crate::snapshot::Drift;
    use git2::Oid;

    fn options(flows: &[&str], files: &[&str]) -> RestoreOptions {
        RestoreOptions { flows: flows.iter().map(|s| s.to_string()).collect(), files: files.iter().map(|s| s.to_string()).collect(), ..RestoreOptions::default() }
    }

    fn flow(ns: &str, id: &str, oid: Oid) -> BackupFile {
        BackupFile { path: format!("flows/{ns}/{id}.yml"), kind: SourceKind::Flows, namespace: ns.into(), relative: format!("{id}.yml"), backup: Some(oid), kestra: None, drift: Drift::MissingInKestra }
    }

    fn file(ns: &str, path: &str) -> BackupFile {
        BackupFile { path: format!("files/{ns}/{path}"), kind: SourceKind::NamespaceFiles, namespace: ns.into(), relative: path.into(), backup: Some(Oid::ZERO_SHA1), kestra: None, drift: Drift::MissingInKestra }
    }

    #[test]
    fn subflow_calls_are_found_anywhere_when_literal() {
        let source = "id: parent\nnamespace: a\ntasks:\n  - id: p\n    type: io.kestra.plugin.core.flow.Parallel\n    tasks:\n      - id: s\n        type: io.kestra.plugin.core.flow.Subflow\n        namespace: a.b\n        flowId: child\n  - id: dyn\n    type: io.kestra.plugin.core.flow.Subflow\n    namespace: \"{{ inputs.ns }}\"\n    flowId: x\nerrors:\n  - id: e\n    type: io.kestra.core.tasks.flows.Subflow\n    namespace: a\n    flowId: on_error\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    namespace: not\n    flowId: a_call\n";
        let mut calls = flow_calls(source);
        calls.sort();
        assert_eq!(calls, ["a.b/child", "a/on_error"]);
        assert!(flow_calls(": not yaml [").is_empty());
    }

    #[test]
    fn globs_select_per_kind_and_name_the_field_when_wrong() {
        let all = || vec![flow("company", "etl_daily", Oid::ZERO_SHA1), flow("company.team", "etl_x", Oid::ZERO_SHA1), file("company", "lib/a.py"), file("company", "b.sql")];
        let names = |s: Selection| {
            let mut sink = |_: &crate::LogEvent| {};
            let mut log = crate::progress::Log::new(&mut sink, vec![]);
            s.apply(all(), false, &MemTip::default(), &mut log).unwrap().0.iter().map(item_name).collect::<Vec<_>>()
        };
        assert_eq!(names(Selection::new(&options(&[], &[])).unwrap()).len(), 4, "no lists: everything");
        assert_eq!(names(Selection::new(&options(&["company/etl_*"], &[])).unwrap()), ["company/etl_daily"], "`*` stays in the namespace; no files");
        assert_eq!(names(Selection::new(&options(&[], &["company/lib/**"])).unwrap()), ["company/lib/a.py"]);
        assert!(!Selection::new(&options(&["a/b"], &[])).unwrap().wants(SourceKind::NamespaceFiles));
        let err = Selection::new(&options(&["etl_daily"], &[])).err().unwrap();
        assert!(err.message.starts_with("`restore.flows[0]`") && err.message.contains("namespace/id"), "{}", err.message);
        let err = Selection::new(&options(&[], &["a/[x"])).err().unwrap();
        assert!(err.message.starts_with("`restore.files[0]`") && err.message.contains("not a valid glob"), "{}", err.message);
    }

    #[test]
    fn dependencies_are_added_transitively_once_and_say_why() {
        let tip = MemTip::default();
        let calls = |ns: &str, id: &str| format!("id: x\ntasks:\n  - id: c\n    type: io.kestra.plugin.core.flow.Subflow\n    namespace: {ns}\n    flowId: {id}\n");
        let all = vec![
            flow("a", "parent", tip.blob(calls("a", "child").as_bytes())),
            flow("a", "child", tip.blob(calls("b", "grandchild").as_bytes())),
            flow("b", "grandchild", tip.blob(calls("a", "parent").as_bytes())),
            flow("b", "unrelated", tip.blob(b"id: unrelated\n")),
        ];
        let selection = Selection::new(&options(&["a/parent"], &[])).unwrap();
        let mut sink = |_: &crate::LogEvent| {};
        let mut log = crate::progress::Log::new(&mut sink, vec![]);
        let (selected, deps) = selection.apply(all.clone(), true, &tip, &mut log).unwrap();
        assert_eq!(selected.iter().map(item_name).collect::<Vec<_>>(), ["a/child", "a/parent", "b/grandchild"]);
        let why: Vec<(&str, &str)> = deps.iter().map(|d| (d.flow.as_str(), d.required_by.as_str())).collect();
        assert_eq!(why, [("a/child", "a/parent"), ("b/grandchild", "a/child")]);
        let (alone, none) = selection.apply(all, false, &tip, &mut log).unwrap();
        assert_eq!((alone.len(), none.len()), (1, 0));
    }
}
