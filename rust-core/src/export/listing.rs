//! Kestra's listings with their metadata, without content: the flow search (revision, last
//! update, draft flag) and the namespace-file directories (size, last modification). The
//! incremental export compares them with what the previous backup recorded; the manifest
//! records them. Formats: `docs/kestra-api.md`.

use super::bundled_flows;
use super::client::KestraClient;
use crate::error::{CoreError, ErrorCode};
use crate::progress::Log;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;

/// Flows per page of the flow search.
const FLOW_PAGE: usize = 500;

/// One flow as Kestra's search lists it: its newest revision, which may be a draft.
#[derive(Debug, Clone, Deserialize)]
pub struct ListedFlow {
    pub namespace: String,
    pub id: String,
    pub revision: u64,
    /// RFC 3339, as Kestra prints it.
    #[serde(default)]
    pub updated: Option<String>,
    /// The newest revision is a draft: the export gives the last saved revision instead (or
    /// nothing when every revision is a draft), so the listing does not say what it holds.
    #[serde(default)]
    pub draft: bool,
    #[serde(default)]
    deleted: bool,
}

/// One namespace file as Kestra's directory listing describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedFile {
    pub namespace: String,
    /// Namespace-relative, `/`-separated, no leading `/` (as the export names it).
    pub path: String,
    pub size: u64,
    /// Last modification, RFC 3339 with milliseconds.
    pub updated: String,
}

/// Every flow under `prefix` (`""` = all), newest revisions; deleted flows left out. Siblings a
/// prefix lets through (`devx` for `dev`) are the caller's to drop.
pub fn flows(client: &KestraClient, prefix: &str, log: &mut Log) -> Result<Vec<ListedFlow>, CoreError> {
    let query: Vec<(&str, &str)> = if prefix.is_empty() { vec![] } else { vec![("filters[namespace][STARTS_WITH]", prefix)] };
    let unexpected = |e: String| CoreError::new(ErrorCode::KestraApi, format!("Kestra API flows/search: unexpected answer: {e}"));
    let listed: Vec<ListedFlow> = client.get_all_pages("flows/search", &query, FLOW_PAGE, &unexpected, log)?;
    Ok(listed.into_iter().filter(|f| !f.deleted).collect())
}

/// Every file of `namespace`, walking its directories from the root; `_flows/` left out as the
/// export leaves it out.
pub fn files(client: &KestraClient, namespace: &str, log: &mut Log) -> Result<Vec<ListedFile>, CoreError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Attributes {
        file_name: String,
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        size: u64,
        #[serde(default)]
        last_modified_time: i64,
    }
    let path = format!("namespaces/{}/files/directory", utf8_percent_encode(namespace, NON_ALPHANUMERIC));
    let mut files = Vec::new();
    let mut directories = vec![String::new()];
    while let Some(directory) = directories.pop() {
        let at = format!("/{directory}");
        let body = client.get(&path, &[("path", at.as_str())], log)?.text().map_err(|e| CoreError::new(ErrorCode::Network, format!("Kestra API {path}: {e}")))?;
        let children: Vec<Attributes> = serde_json::from_str(&body)
            .map_err(|e| CoreError::new(ErrorCode::KestraApi, format!("Kestra API {path}?path={at}: unexpected answer: {e}")))?;
        for child in children {
            let full = if directory.is_empty() { child.file_name } else { format!("{directory}/{}", child.file_name) };
            if bundled_flows::is_bundled_flow(&full) || (directory.is_empty() && full == bundled_flows::DIR && child.kind == "Directory") {
                continue;
            }
            match child.kind.as_str() {
                "Directory" => directories.push(full),
                _ => files.push(ListedFile {
                    namespace: namespace.to_string(),
                    path: full,
                    size: child.size,
                    updated: crate::instant::rfc3339_millis(child.last_modified_time),
                }),
            }
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}
