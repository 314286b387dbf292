//! Coverage guard (`docs/manifest.md`): the backup about to be committed may not cover less than
//! the previous backup without saying so. A namespace that had items before and has none now
//! (across kinds), or a kind whose count falls by more than `guard.maxDeletionRatio` allows, looks
//! like an outage or a selection that moved, not an intent, and fails the run. Only items in
//! `scope` are judged: a task that writes part of a branch answers for its own part.

use super::manifest::{Item, Kind, Manifest};
use crate::error::{CoreError, ErrorCode};
use crate::progress::Log;
use crate::request::DeletionGuard;
use std::collections::{BTreeMap, BTreeSet};

/// Logs one line per kind (count now, count before) and fails with `[DeletionGuard]` naming what
/// vanished.
pub fn check(guard: &DeletionGuard, before: &Manifest, now: &Manifest, scope: &dyn Fn(&Item) -> bool, log: &mut Log) -> Result<(), CoreError> {
    let counts = |m: &Manifest| -> BTreeMap<Kind, usize> { m.kinds.iter().map(|(k, items)| (*k, items.items.iter().filter(|i| scope(i)).count())).collect() };
    let (was, is) = (counts(before), counts(now));
    let mut problems = Vec::new();
    for kind in was.keys().chain(is.keys()).collect::<BTreeSet<_>>() {
        let (before_count, now_count) = (was.get(kind).copied().unwrap_or(0), is.get(kind).copied().unwrap_or(0));
        log.info(format!("Coverage of {}: {now_count} now, {before_count} before (serial {})", kind.label(), before.serial));
        let fell = before_count.saturating_sub(now_count);
        let ratio = fell as f64 / before_count.max(1) as f64;
        if fell > 0 && before_count >= guard.min_files_for_ratio && ratio > guard.max_deletion_ratio {
            problems.push(format!(
                "{} fell from {before_count} to {now_count} ({:.0}%, more than `guard.maxDeletionRatio` allows, {:.0}%)",
                kind.label(),
                ratio * 100.0,
                guard.max_deletion_ratio * 100.0
            ));
        }
    }
    let namespaces = |m: &Manifest| -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for item in m.kinds.values().flat_map(|k| &k.items).filter(|i| scope(i)) {
            if let Some(ns) = &item.namespace {
                *out.entry(ns.clone()).or_insert(0) += 1;
            }
        }
        out
    };
    let still = namespaces(now);
    let gone: Vec<String> = namespaces(before).into_iter().filter(|(ns, _)| !still.contains_key(ns)).map(|(ns, n)| format!("`{ns}` ({n} item(s) before)")).collect();
    let mut fixes = Vec::new();
    if !gone.is_empty() && !guard.allow_namespace_removal {
        problems.push(format!("namespace(s) no longer in the backup: {}", gone.join(", ")));
        fixes.push("`guard.allowNamespaceRemoval: true`");
    }
    if problems.len() > fixes.len() {
        fixes.push("a higher `guard.maxDeletionRatio`");
    }
    if problems.is_empty() {
        return Ok(());
    }
    Err(CoreError::new(
        ErrorCode::DeletionGuard,
        format!(
            "the backup would cover less than the previous one (serial {}): {}; an outage or a moved selection must not shrink a backup \
             unnoticed. If this is intended, run once with {}",
            before.serial,
            problems.join("; "),
            fixes.join(" and ")
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::manifest::{Instance, KindItems, FORMAT};

    fn manifest(items: &[(Kind, &str, &str)]) -> Manifest {
        let mut kinds: BTreeMap<Kind, KindItems> = BTreeMap::new();
        for (kind, ns, path) in items {
            let entry = kinds.entry(*kind).or_default();
            entry.items.push(Item { path: path.to_string(), blob: "00".repeat(20), namespace: Some(ns.to_string()), ..Item::default() });
            entry.count = entry.items.len();
        }
        Manifest { format: FORMAT, serial: 7, previous: None, instance: Instance::default(), kinds, plugins: Vec::new(), not_covered: Vec::new(), last_full_export: None }
    }

    #[test]
    fn a_namespace_gone_across_kinds_fails_unless_allowed_and_each_kind_is_logged() {
        let before = manifest(&[(Kind::Flows, "a", "flows/a/x.yml"), (Kind::NamespaceFiles, "b", "files/b/f"), (Kind::Flows, "c", "flows/c/y.yml")]);
        let now = manifest(&[(Kind::Flows, "a", "flows/a/x.yml"), (Kind::Flows, "c", "flows/c/y.yml")]);
        let mut sink = |_: &crate::progress::LogEvent| {};
        let mut log = Log::new(&mut sink, Vec::new());
        let err = check(&DeletionGuard::default(), &before, &now, &|_| true, &mut log).unwrap_err();
        assert_eq!(err.code, ErrorCode::DeletionGuard);
        assert!(err.message.contains("no longer in the backup: `b` (1 item(s) before)") && err.message.contains("allowNamespaceRemoval"), "{}", err.message);
        let allowed = DeletionGuard { allow_namespace_removal: true, ..DeletionGuard::default() };
        check(&allowed, &before, &now, &|_| true, &mut log).unwrap();
        // Out of scope, the same removal is not this task's to judge.
        check(&DeletionGuard::default(), &before, &now, &|i| i.path.starts_with("flows/"), &mut log).unwrap();
    }

    #[test]
    fn a_kind_falling_beyond_the_ratio_fails_from_the_minimum_size() {
        let ten: Vec<(Kind, &str, String)> = (0..10).map(|i| (Kind::Flows, "a", format!("flows/a/{i}.yml"))).collect();
        let four: Vec<(Kind, &str, &str)> = ten.iter().take(4).map(|(k, ns, p)| (*k, *ns, p.as_str())).collect();
        let all: Vec<(Kind, &str, &str)> = ten.iter().map(|(k, ns, p)| (*k, *ns, p.as_str())).collect();
        let mut sink = |_: &crate::progress::LogEvent| {};
        let mut log = Log::new(&mut sink, Vec::new());
        let err = check(&DeletionGuard::default(), &manifest(&all), &manifest(&four), &|_| true, &mut log).unwrap_err();
        assert!(err.message.contains("flows fell from 10 to 4 (60%") && err.message.contains("maxDeletionRatio"), "{}", err.message);
        check(&DeletionGuard::default(), &manifest(&all[..9]), &manifest(&four), &|_| true, &mut log).unwrap();
    }
}
