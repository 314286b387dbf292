//! The manifest's `notCovered` list: what a backup taken with this request does not hold, in
//! words, so nobody mistakes it for a full copy of the instance. Some gaps hold for every backup
//! (Kestra never hands out secret values, executions are not configuration); others follow from
//! the request (a kind not asked for, a namespace selection, globs, KV values left out).

use crate::request::{NamespaceSelector, Request, SourceKind};

/// The gaps of every backup, whatever its request.
const ALWAYS: [&str; 5] = [
    "Secret values: flows name secrets with `secret('...')`; the values stay in Kestra's secret backend and are never read",
    "Execution history, task runs, logs, metrics and outputs (runtime data, not configuration)",
    "Older revisions of flows and namespace files, and flow drafts: only each item's last saved revision",
    "Enterprise and Cloud objects: dashboards, apps, tests, custom blueprints, users, groups, roles, service accounts and their bindings",
    "Kestra's server configuration (application.yaml, plugin defaults set there, the plugins installed)",
];

/// Each gap as one sentence, in a fixed order.
pub fn list(req: &Request) -> Vec<String> {
    let mut out: Vec<String> = ALWAYS.iter().map(|s| s.to_string()).collect();
    let has = |kind: SourceKind| req.sources.iter().any(|s| s.kind == kind);
    if !has(SourceKind::Flows) {
        out.push("Flows: no flow source in this backup".into());
    }
    if !has(SourceKind::NamespaceFiles) {
        out.push("Namespace files: no namespace-file source in this backup".into());
    }
    for source in &req.sources {
        let what = match source.kind {
            SourceKind::Flows => "flows",
            SourceKind::NamespaceFiles => "namespace files",
            SourceKind::Kv => continue,
        };
        match &source.namespaces {
            NamespaceSelector::One { namespace, include_children } => out.push(format!(
                "{} of namespaces other than `{namespace}`{} (this commit's task backs up one namespace)",
                capitalised(what),
                if *include_children && source.kind == SourceKind::Flows { " and its children" } else { "" }
            )),
            NamespaceSelector::Discover { prefix } if !prefix.is_empty() => out.push(format!("{} of namespaces outside `{prefix}`", capitalised(what))),
            NamespaceSelector::Discover { .. } => {}
        }
        if source.kind == SourceKind::NamespaceFiles && matches!(source.namespaces, NamespaceSelector::Discover { .. }) {
            out.push(
                "Namespace files of a namespace that holds no flow and has no flow below it (Kestra's API lists namespaces through their flows), \
                 unless the backup already held that namespace"
                    .into(),
            );
        }
        if !source.globs.is_empty() {
            out.push(format!("{} left out by the globs {}", capitalised(what), source.globs.iter().map(|g| format!("`{g}`")).collect::<Vec<_>>().join(", ")));
        }
    }
    match &req.kv {
        None => out.push("The KV store (set `kv` to back it up)".into()),
        Some(kv) if kv.recipients.is_empty() && !kv.plaintext => out.push("KV values: entries are backed up without their values (no `kv.recipients`)".into()),
        Some(_) => {}
    }
    match &req.trigger_state {
        None => out.push("Trigger state: which triggers are disabled at run time (set `triggerState` to back it up)".into()),
        Some(_) => out.push("Trigger run-time dates (next and last evaluation, backfills): only each trigger's on/off flag".into()),
    }
    out
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(extra: serde_json::Value) -> Request {
        let mut base = serde_json::json!({"git": {"url": "https://h/r.git"}, "sources": []});
        base.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn what_the_request_leaves_out_is_named() {
        let one = request(serde_json::json!({"sources": [{"kind": "flows", "namespaces": {"one": {"namespace": "company", "includeChildren": true}}, "gitDirectory": "f", "globs": ["etl*"]}]}));
        let text = list(&one).join("\n");
        for expected in ["Secret values", "Execution history", "Namespace files: no namespace-file source", "namespaces other than `company` and its children", "globs `etl*`", "The KV store", "Trigger state"] {
            assert!(text.contains(expected), "{expected} missing from\n{text}");
        }
        let whole = request(serde_json::json!({
            "sources": [{"kind": "flows", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": "flows"}, {"kind": "namespaceFiles", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": "files"}],
            "kv": {"recipients": ["age1xyz"]}, "triggerState": {"gitDirectory": "triggers"}
        }));
        let text = list(&whole).join("\n");
        assert!(text.contains("holds no flow") && text.contains("on/off flag"), "{text}");
        assert!(!text.contains("KV store") && !text.contains("no flow source") && !text.contains("other than"), "{text}");
    }
}
