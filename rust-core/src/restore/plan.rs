//! The plan of a restore or drill, to read before anything is written: one row per selected item
//! — `create`, `replace`, `unchanged`, or `skip` and why — and for each `replace` of a text, a
//! unified diff from what Kestra holds now to the backup. Written as JSON lines (valid ION).

use super::select::item_name;
use crate::error::{CoreError, ErrorCode};
use crate::report::{DependencyRow, PlanCounts};
use crate::request::SourceKind;
use crate::snapshot::{BackupFile, Drift, TipTree};
use serde::Serialize;
use similar::TextDiff;
use std::io::Write;
use std::path::Path;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Row {
    /// Path in the repository.
    pub file: String,
    /// `flow` or `file`.
    pub kind: &'static str,
    pub namespace: String,
    /// The flow id, or the namespace-relative path of a file.
    pub path: String,
    pub action: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
    /// The selected flow that calls this one (`withDependencies`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required_by: Option<String>,
}

/// The rows for `files` (sorted by path). `replace` says whether differing items would be
/// written (a restore with `overwrite`, or a drill, which plans as such a restore); blobs of both
/// sides are read through `blobs`.
pub fn rows(files: &[BackupFile], dependencies: &[DependencyRow], replace: bool, blobs: &dyn TipTree) -> Result<Vec<Row>, CoreError> {
    files
        .iter()
        .map(|f| {
            let name = item_name(f);
            let (action, reason) = match f.drift {
                Drift::MissingInKestra => ("create", None),
                Drift::InSync => ("unchanged", None),
                Drift::Differing if replace => ("replace", None),
                Drift::Differing => ("skip", Some("differs from Kestra; set `restore.overwrite: true` to replace it")),
                Drift::OnlyInKestra => ("skip", Some("only in Kestra: a restore never deletes")),
            };
            let diff = match (action, f.kestra, f.backup) {
                ("replace", Some(now), Some(then)) => unified_diff(&blobs.read_blob(now)?, &blobs.read_blob(then)?),
                _ => None,
            };
            Ok(Row {
                file: f.path.clone(),
                kind: if f.kind == SourceKind::Flows { "flow" } else { "file" },
                namespace: f.namespace.clone(),
                path: name[f.namespace.len() + 1..].to_string(),
                action,
                reason,
                diff,
                required_by: dependencies.iter().find(|d| d.flow == name && f.kind == SourceKind::Flows).map(|d| d.required_by.clone()),
            })
        })
        .collect()
}

pub fn counts(rows: &[Row]) -> PlanCounts {
    let mut counts = PlanCounts::default();
    for row in rows {
        match row.action {
            "create" => counts.create += 1,
            "replace" => counts.replace += 1,
            "unchanged" => counts.unchanged += 1,
            _ => counts.skip += 1,
        }
    }
    counts
}

/// One line for the log: `create flow company/etl (flows/company/etl.yml)`.
pub fn describe(row: &Row) -> String {
    let reason = row.reason.map(|r| format!(": {r}")).unwrap_or_default();
    let why = row.required_by.as_ref().map(|by| format!(", called by {by}")).unwrap_or_default();
    format!("{} {} {}/{} ({}{why}){reason}", row.action, row.kind, row.namespace, row.path, row.file)
}

pub fn write(rows: &[Row], target: &Path) -> Result<(), CoreError> {
    let failed = |e: std::io::Error| CoreError::new(ErrorCode::Io, format!("cannot write the plan {}: {e}", target.display()));
    let mut out = std::io::BufWriter::new(std::fs::File::create(target).map_err(failed)?);
    for row in rows {
        serde_json::to_writer(&mut out, row).map_err(|e| CoreError::new(ErrorCode::Internal, format!("cannot write a plan row: {e}")))?;
        out.write_all(b"\n").map_err(failed)?;
    }
    out.flush().map_err(failed)
}

/// Unified diff from Kestra's text to the backup's; None when either side is not UTF-8 text.
fn unified_diff(now: &[u8], then: &[u8]) -> Option<String> {
    let (now, then) = (std::str::from_utf8(now).ok()?, std::str::from_utf8(then).ok()?);
    if now.contains('\0') || then.contains('\0') {
        return None;
    }
    Some(TextDiff::from_lines(now, then).unified_diff().context_radius(3).header("kestra", "backup").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::mem_tip::MemTip;

    fn item(kind: SourceKind, relative: &str, drift: Drift, kestra: Option<git2::Oid>, backup: Option<git2::Oid>) -> BackupFile {
        let dir = if kind == SourceKind::Flows { "flows" } else { "files" };
        BackupFile { path: format!("{dir}/co/{relative}"), kind, namespace: "co".into(), relative: relative.into(), backup, kestra, drift }
    }

    #[test]
    fn each_drift_has_its_action_and_replaced_texts_their_diff() {
        let tip = MemTip::default();
        let (old, new) = (tip.blob(b"id: a\nnamespace: co\n# edited\n"), tip.blob(b"id: a\nnamespace: co\n# as backed up\n"));
        let (bin_now, bin_then) = (tip.blob(b"\0\x01"), tip.blob(b"\0\x02"));
        let files = [
            item(SourceKind::Flows, "a.yml", Drift::Differing, Some(old), Some(new)),
            item(SourceKind::Flows, "gone.yml", Drift::MissingInKestra, None, Some(new)),
            item(SourceKind::NamespaceFiles, "bin", Drift::Differing, Some(bin_now), Some(bin_then)),
            item(SourceKind::NamespaceFiles, "lib/x.py", Drift::InSync, Some(new), Some(new)),
            item(SourceKind::NamespaceFiles, "only.py", Drift::OnlyInKestra, Some(new), None),
        ];
        let deps = [DependencyRow { flow: "co/gone".into(), required_by: "co/a".into() }];
        let replaced = rows(&files, &deps, true, &tip).unwrap();
        let actions: Vec<(&str, &str, Option<&str>)> = replaced.iter().map(|r| (r.path.as_str(), r.action, r.reason)).collect();
        assert_eq!(
            actions,
            [
                ("a", "replace", None),
                ("gone", "create", None),
                ("bin", "replace", None),
                ("lib/x.py", "unchanged", None),
                ("only.py", "skip", Some("only in Kestra: a restore never deletes"))
            ]
        );
        assert_eq!(replaced[0].diff.as_deref(), Some("--- kestra\n+++ backup\n@@ -1,3 +1,3 @@\n id: a\n namespace: co\n-# edited\n+# as backed up\n"));
        assert_eq!(replaced[2].diff, None, "binary: no diff");
        assert_eq!(replaced[1].required_by.as_deref(), Some("co/a"));
        assert_eq!(counts(&replaced), PlanCounts { create: 1, replace: 2, unchanged: 1, skip: 1 });

        let kept = rows(&files, &[], false, &tip).unwrap();
        assert_eq!((kept[0].action, kept[0].diff.as_deref()), ("skip", None));
        assert_eq!(describe(&kept[0]), "skip flow co/a (flows/co/a.yml): differs from Kestra; set `restore.overwrite: true` to replace it");

        let target = tempfile::NamedTempFile::new().unwrap();
        write(&replaced, target.path()).unwrap();
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(target.path()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[1], serde_json::json!({"file": "flows/co/gone.yml", "kind": "flow", "namespace": "co", "path": "gone", "action": "create", "requiredBy": "co/a"}));
    }
}
