//! Export: read flows and namespace files from Kestra's REST API (or from files the caller
//! provides) and hand them over one item at a time. Endpoints and formats: `docs/kestra-api.md`.

mod archive;
pub mod bundled_flows;
mod client;
pub(crate) mod flow_header;
pub mod instance;
pub mod kv;
pub mod kv_file;
pub mod plugins;
pub mod listing;
pub mod triggers;

pub use client::KestraClient;

use crate::error::{CoreError, ErrorCode};
use crate::progress::Log;
use crate::request::{in_namespace_tree, NamespaceSelector, Source, SourceKind};
use std::collections::BTreeSet;

/// One exported item, before any path mapping.
#[derive(Debug)]
pub enum ExportedItem {
    /// A flow's source as Kestra exports it: its last saved revision (Kestra 2.0 never exports a
    /// draft; older servers add a `revision:` line).
    Flow { namespace: String, id: String, source: String },
    /// A namespace file's latest revision; `path` is namespace-relative, `/`-separated, no leading `/`.
    File { namespace: String, path: String, bytes: Vec<u8> },
    /// A KV entry's backup file (`kv_file`): metadata and the value sealed, in clear or left out.
    KvEntry { namespace: String, key: String, bytes: Vec<u8> },
    /// An entry of the export that could not be read as a flow: the export is partial, so its
    /// source must not delete anything from the backup this run.
    Unreadable,
}

pub(crate) type OnItem<'a> = &'a mut dyn FnMut(ExportedItem) -> Result<(), CoreError>;

/// Exports one source, calling `on_item` for every item of its namespace selection (siblings a
/// prefix query lets through, globs and ignore rules are dealt with by `snapshot`).
/// `in_backup`: the namespaces the backup already holds for this source; discovery exports their
/// files too, so files Kestra's namespace list misses are kept, not deleted.
pub fn export_source(
    client: Option<&KestraClient>,
    source: &Source,
    in_backup: &[String],
    log: &mut Log,
    on_item: OnItem,
) -> Result<(), CoreError> {
    if let Some(files) = &source.provided_files {
        return provided_files(source, files, log, on_item);
    }
    let client = client.ok_or_else(|| CoreError::invalid("kestra", "is missing; set the Kestra API URL to export from"))?;
    match source.kind {
        SourceKind::Flows => flows(client, source, log, on_item),
        SourceKind::NamespaceFiles => {
            for namespace in file_namespaces(client, &source.namespaces, in_backup, log)? {
                namespace_files(client, &namespace, log, on_item)?;
            }
            Ok(())
        }
        // Exported by `kv::export`, which needs the branch tip and the recipients.
        SourceKind::Kv => Ok(()),
    }
}

/// One ZIP export for the whole selection: `EQUALS` for one namespace, `STARTS_WITH` for a
/// namespace with children or a discovered prefix, nothing for the whole instance.
fn flows(client: &KestraClient, source: &Source, log: &mut Log, on_item: OnItem) -> Result<(), CoreError> {
    let (operator, value) = match &source.namespaces {
        NamespaceSelector::One { namespace, include_children: false } => ("EQUALS", namespace.as_str()),
        NamespaceSelector::One { namespace, include_children: true } => ("STARTS_WITH", namespace.as_str()),
        NamespaceSelector::Discover { prefix } => ("STARTS_WITH", prefix.as_str()),
    };
    let key = format!("filters[namespace][{operator}]");
    let query: Vec<(&str, &str)> = if value.is_empty() { vec![] } else { vec![(key.as_str(), value)] };
    let what = if value.is_empty() { "all namespaces".to_string() } else { format!("namespace `{value}`") };
    flows_by_query(client, &query, &what, log, on_item)
}

/// The flows a `flows/export/by-query` filter selects (`what` words it for the log).
pub(crate) fn flows_by_query(client: &KestraClient, query: &[(&str, &str)], what: &str, log: &mut Log, on_item: OnItem) -> Result<(), CoreError> {
    let mut count = 0usize;
    let bytes = archive::for_each_entry(client, "flows/export/by-query", query, log, &mut |name, content, log| flow_entry(name, content, &mut count, log, on_item))?;
    log.info(format!("Exported {count} flow(s) from {what} ({bytes} bytes)"));
    Ok(())
}

/// The flows named by (namespace, id), from one `flows/export/by-ids` archive (the same entries
/// as the export by query: each flow's source).
pub(crate) fn flows_by_ids(client: &KestraClient, ids: &[(String, String)], log: &mut Log, on_item: OnItem) -> Result<(), CoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    let body = serde_json::Value::Array(ids.iter().map(|(namespace, id)| serde_json::json!({"namespace": namespace, "id": id})).collect());
    let path = "flows/export/by-ids";
    let response = client.post_json_read(path, &body, log)?;
    let mut count = 0usize;
    let bytes = archive::entries_of(response, path, log, &mut |name, content, log| flow_entry(name, content, &mut count, log, on_item))?;
    log.info(format!("Exported {count} flow(s) by id, of {} asked for ({bytes} bytes)", ids.len()));
    Ok(())
}

/// One entry of a flow archive: a flow read by its own top-level `id` and `namespace`, or an
/// unreadable entry (the export is then partial).
fn flow_entry(name: &str, content: Vec<u8>, count: &mut usize, log: &mut Log, on_item: OnItem) -> Result<(), CoreError> {
    if !(name.ends_with(".yml") || name.ends_with(".yaml")) {
        return Ok(());
    }
    let Ok(text) = String::from_utf8(content) else {
        log.warn(format!("skipped `{name}` from the flow export: not UTF-8"));
        return on_item(ExportedItem::Unreadable);
    };
    let header = flow_header::read(&text);
    let (Some(id), Some(namespace)) = (header.id, header.namespace) else {
        log.warn(format!("skipped `{name}` from the flow export: no top-level `id` or `namespace`"));
        return on_item(ExportedItem::Unreadable);
    };
    *count += 1;
    on_item(ExportedItem::Flow { namespace, id, source: text })
}

/// Namespaces whose files a source covers. Discovery asks for the namespaces that hold flows and
/// adds their parents and the system-flows namespace, as Kestra's own namespace list does: a parent
/// such as `company` often holds shared files while its flows live in `company.team`, and `system`
/// is listed by Kestra even without flows. The namespaces the backup already holds
/// are asked too: one whose last flow is gone may still have files (Kestra answers an empty
/// archive for a namespace without files).
pub(crate) fn file_namespaces(client: &KestraClient, selector: &NamespaceSelector, in_backup: &[String], log: &mut Log) -> Result<Vec<String>, CoreError> {
    let prefix = match selector {
        NamespaceSelector::One { namespace, .. } => return Ok(vec![namespace.clone()]),
        NamespaceSelector::Discover { prefix } => prefix,
    };
    let body = client
        .get("flows/distinct-namespaces", &[], log)?
        .text()
        .map_err(|e| CoreError::new(ErrorCode::Network, format!("Kestra API flows/distinct-namespaces: {e}")))?;
    let mut listed: Vec<String> = serde_json::from_str(&body)
        .map_err(|e| CoreError::new(ErrorCode::KestraApi, format!("Kestra API flows/distinct-namespaces: unexpected answer: {e}")))?;
    listed.push(client.system_flows_namespace.clone());
    let mut chosen = namespace_trees_under(&listed, prefix);
    let only_in_backup: Vec<&String> = in_backup.iter().filter(|ns| in_namespace_tree(ns, prefix) && !chosen.contains(ns)).collect();
    log.info(format!(
        "Discovered {} namespace(s){}{}",
        chosen.len(),
        if prefix.is_empty() { String::new() } else { format!(" under `{prefix}`") },
        if only_in_backup.is_empty() {
            String::new()
        } else {
            format!("; also asking for the files of {} namespace(s) only the backup lists: {}", only_in_backup.len(), join_names(&only_in_backup))
        }
    ));
    chosen.extend(only_in_backup.into_iter().cloned());
    chosen.sort();
    Ok(chosen)
}

/// Up to ten names in backquotes, then how many more, for a log line.
pub(crate) fn join_names<S: AsRef<str>>(names: &[S]) -> String {
    let shown: Vec<String> = names.iter().take(10).map(|n| format!("`{}`", n.as_ref())).collect();
    let more = if names.len() > 10 { format!(" and {} more", names.len() - 10) } else { String::new() };
    format!("{}{more}", shown.join(", "))
}

/// Every namespace of `namespaces` and each of their parents, limited to the tree of `prefix`; sorted.
fn namespace_trees_under(namespaces: &[String], prefix: &str) -> Vec<String> {
    let mut out = BTreeSet::new();
    for namespace in namespaces {
        let ends = namespace.match_indices('.').map(|(i, _)| i).chain([namespace.len()]);
        out.extend(ends.map(|end| &namespace[..end]).filter(|ns| in_namespace_tree(ns, prefix)).map(str::to_string));
    }
    out.into_iter().collect()
}

fn namespace_files(client: &KestraClient, namespace: &str, log: &mut Log, on_item: OnItem) -> Result<(), CoreError> {
    namespace_files_except(client, namespace, &|_| false, log, on_item)
}

/// The files of `namespace`'s archive but those `skip` names (namespace-relative paths).
pub(crate) fn namespace_files_except(client: &KestraClient, namespace: &str, skip: &dyn Fn(&str) -> bool, log: &mut Log, on_item: OnItem) -> Result<(), CoreError> {
    let path = format!("namespaces/{}/files/export", encoded(namespace));
    let (mut count, mut bundled) = (0usize, 0usize);
    let bytes = archive::for_each_entry(client, &path, &[], log, &mut |name, bytes, _| {
        if bundled_flows::is_bundled_flow(name) {
            bundled += 1;
            return Ok(());
        }
        if skip(name.trim_start_matches('/')) {
            return Ok(());
        }
        count += 1;
        on_item(ExportedItem::File { namespace: namespace.to_string(), path: name.trim_start_matches('/').to_string(), bytes })
    })?;
    log.info(format!("Exported {count} namespace file(s) from `{namespace}` ({bytes} bytes){}", bundled_note(bundled)));
    Ok(())
}

/// Files of `namespace` read one by one (`paths` namespace-relative, as the listing names them).
pub(crate) fn files_one_by_one(client: &KestraClient, namespace: &str, paths: &[String], log: &mut Log, on_item: OnItem) -> Result<(), CoreError> {
    let call = format!("namespaces/{}/files", encoded(namespace));
    let mut total = 0usize;
    for path in paths {
        let at = format!("/{path}");
        let bytes = client
            .get(&call, &[("path", at.as_str())], log)?
            .bytes()
            .map_err(|e| CoreError::new(ErrorCode::Network, format!("Kestra API {call}?path={at}: the download broke off: {e}")))?;
        total += bytes.len();
        on_item(ExportedItem::File { namespace: namespace.to_string(), path: path.clone(), bytes: bytes.to_vec() })?;
    }
    log.info(format!("Exported {} namespace file(s) of `{namespace}` one by one ({total} bytes)", paths.len()));
    Ok(())
}

fn encoded(namespace: &str) -> String {
    percent_encoding::utf8_percent_encode(namespace, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// What a log line says about the `_flows/` entries left out.
fn bundled_note(bundled: usize) -> String {
    if bundled == 0 {
        return String::new();
    }
    format!(
        "; left out {bundled} `{}/` entr{} (copies of flows Kestra bundles into namespace files; the flows are backed up from the flow export)",
        bundled_flows::DIR,
        if bundled == 1 { "y" } else { "ies" }
    )
}

/// Files the caller already read (the Java task reads Kestra's namespace storage in the worker).
fn provided_files(source: &Source, files: &[crate::request::ProvidedFile], log: &mut Log, on_item: OnItem) -> Result<(), CoreError> {
    let namespace = match &source.namespaces {
        NamespaceSelector::One { namespace, .. } => namespace.clone(),
        NamespaceSelector::Discover { .. } => {
            return Err(CoreError::invalid("sources[].providedFiles", "needs a single namespace (`namespaces.one`), not discovery"));
        }
    };
    let (mut bytes_total, mut bundled) = (0u64, 0usize);
    for file in files {
        if bundled_flows::is_bundled_flow(&file.path) {
            bundled += 1;
            continue;
        }
        let bytes = std::fs::read(&file.local_path)
            .map_err(|e| CoreError::new(ErrorCode::Io, format!("cannot read the namespace file `{}` handed over by the task: {e}", file.path)))?;
        bytes_total += bytes.len() as u64;
        on_item(ExportedItem::File { namespace: namespace.clone(), path: file.path.trim_start_matches('/').to_string(), bytes })?;
    }
    log.info(format!("Read {} namespace file(s) of `{namespace}` ({bytes_total} bytes){}", files.len() - bundled, bundled_note(bundled)));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::namespace_trees_under;

    #[test]
    fn discovery_adds_parent_namespaces_within_the_prefix() {
        let with_flows = ["company.team.crm".to_string(), "company.ops".to_string(), "companyx".to_string(), "system".to_string()];
        assert_eq!(
            namespace_trees_under(&with_flows, ""),
            ["company", "company.ops", "company.team", "company.team.crm", "companyx", "system"]
        );
        assert_eq!(namespace_trees_under(&with_flows, "company.team"), ["company.team", "company.team.crm"]);
        assert_eq!(namespace_trees_under(&with_flows, "company"), ["company", "company.ops", "company.team", "company.team.crm"]);
    }
}
