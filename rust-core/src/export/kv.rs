//! Kestra's KV store through its API (2.0): the tenant-wide listing `GET kv` (paged, filtered by
//! namespace; expired entries are not listed), one entry's typed value `GET
//! namespaces/{ns}/kv/{key}`, and a write `PUT namespaces/{ns}/kv/{key}` (an ION literal as
//! `text/plain`, `ttl` and `description` as headers). And the backup's side of it: each listed
//! entry becomes one file (`kv_file`), its value sealed to the recipients (`seal`), kept as it is
//! in the branch tip when Kestra's entry did not change.

use super::kv_file::{KvFile, SealedValue, ValueMode};
use super::{ExportedItem, OnItem};
use crate::error::{CoreError, ErrorCode};
use crate::export::KestraClient;
use crate::progress::Log;
use crate::request::in_namespace_tree;
use crate::seal::Recipients;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde::Deserialize;

/// Entries asked per page of the listing.
const PAGE_SIZE: usize = 100;

/// One entry of `GET kv` (Kestra's `KVEntry`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct KvEntry {
    pub namespace: String,
    pub key: String,
    pub revision: Option<i64>,
    pub description: Option<String>,
    pub update_date: Option<String>,
    pub expiration_date: Option<String>,
}

/// `GET namespaces/{ns}/kv/{key}` (Kestra's `KvDetail`).
#[derive(Deserialize)]
pub struct KvDetail {
    #[serde(rename = "type")]
    pub kind: String,
    pub value: serde_json::Value,
}

#[derive(Deserialize)]
struct Page {
    results: Vec<KvEntry>,
    total: usize,
}

/// Every entry of the namespace tree `prefix` (`""` = all), sorted by namespace and key.
pub fn list(client: &KestraClient, prefix: &str, log: &mut Log) -> Result<Vec<KvEntry>, CoreError> {
    let mut out: Vec<KvEntry> = Vec::new();
    for page in 1.. {
        let (page_text, size_text) = (page.to_string(), PAGE_SIZE.to_string());
        let mut query = vec![("page", page_text.as_str()), ("size", size_text.as_str()), ("sort", "namespace:asc"), ("sort", "key:asc")];
        if !prefix.is_empty() {
            query.push(("filters[namespace][STARTS_WITH]", prefix));
        }
        let body = client.get("kv", &query, log)?.text().map_err(|e| CoreError::new(ErrorCode::Network, format!("Kestra API kv: {e}")))?;
        let page: Page = serde_json::from_str(&body).map_err(|e| CoreError::new(ErrorCode::KestraApi, format!("Kestra API kv: unexpected answer: {e}")))?;
        let last = page.results.len() < PAGE_SIZE;
        out.extend(page.results);
        if last || out.len() >= page.total {
            break;
        }
    }
    out.retain(|e| in_namespace_tree(&e.namespace, prefix));
    out.sort_by(|a, b| (&a.namespace, &a.key).cmp(&(&b.namespace, &b.key)));
    out.dedup_by(|a, b| a.namespace == b.namespace && a.key == b.key);
    Ok(out)
}

fn entry_path(namespace: &str, key: &str) -> String {
    format!("namespaces/{}/kv/{}", utf8_percent_encode(namespace, NON_ALPHANUMERIC), utf8_percent_encode(key, NON_ALPHANUMERIC))
}

/// The typed value of one entry; None when it is gone or expired since it was listed.
pub fn detail(client: &KestraClient, namespace: &str, key: &str, log: &mut Log) -> Result<Option<KvDetail>, CoreError> {
    let path = entry_path(namespace, key);
    match client.get(&path, &[], log) {
        Ok(resp) => {
            let body = resp.text().map_err(|e| CoreError::new(ErrorCode::Network, format!("Kestra API {path}: {e}")))?;
            serde_json::from_str(&body).map(Some).map_err(|e| CoreError::new(ErrorCode::KestraApi, format!("Kestra API {path}: unexpected answer: {e}")))
        }
        Err(e) if e.code == ErrorCode::KestraApi && (e.message.contains(" answered 404") || e.message.contains(" answered 410")) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Writes one entry: `body` is an ION literal, `ttl` an ISO-8601 duration.
pub fn put(client: &KestraClient, namespace: &str, key: &str, body: &str, ttl: Option<String>, description: Option<&str>, log: &mut Log) -> Result<(), CoreError> {
    let mut headers = Vec::new();
    headers.extend(ttl.map(|t| ("ttl", t)));
    headers.extend(description.map(|d| ("description", d.to_string())));
    client.put(&entry_path(namespace, key), "text/plain", body.to_string(), &headers, log).map(|_| ())
}

/// Reads the file of (namespace, key) in the branch tip, if any.
pub type PreviousFile<'a> = &'a mut dyn FnMut(&str, &str) -> Result<Option<Vec<u8>>, CoreError>;

/// What the backup did with the KV entries.
#[derive(Debug, Default)]
pub struct KvExport {
    pub entries: usize,
    /// Files holding a sealed value, and of them the values sealed this run.
    pub sealed: usize,
    pub newly_sealed: usize,
    pub stubs: usize,
    pub plaintext: usize,
}

/// Exports every entry of `prefix` as a file, through `on_item`. `previous(namespace, key)` reads
/// the entry's file in the branch tip: kept as it is when it still stands for the entry
/// (`KvFile::still_current`), so an unchanged entry is neither read nor sealed again.
pub fn export(
    client: &KestraClient,
    prefix: &str,
    mode: &ValueMode,
    recipients: &Recipients,
    previous: PreviousFile,
    log: &mut Log,
    on_item: OnItem,
) -> Result<KvExport, CoreError> {
    let mut done = KvExport::default();
    for entry in list(client, prefix, log)? {
        let listed = KvFile {
            namespace: entry.namespace.clone(),
            key: entry.key.clone(),
            kind: String::new(),
            description: entry.description.clone(),
            expiration_date: entry.expiration_date.clone(),
            revision: entry.revision,
            update_date: entry.update_date.clone(),
            recipients: Vec::new(),
            sealed: None,
            value: None,
        };
        let kept = match previous(&entry.namespace, &entry.key)? {
            Some(bytes) => KvFile::parse(&bytes, &entry.key).ok().filter(|old| old.still_current(&listed, mode)).map(|_| bytes),
            None => None,
        };
        let bytes = match kept {
            Some(bytes) => bytes,
            None => {
                let Some(detail) = detail(client, &entry.namespace, &entry.key, log)? else {
                    log.info(format!("KV entry `{}` of `{}` is gone or expired since it was listed; left out", entry.key, entry.namespace));
                    continue;
                };
                let mut file = KvFile { kind: detail.kind.clone(), ..listed };
                match mode {
                    ValueMode::Sealed(texts) => {
                        let payload = SealedValue { namespace: entry.namespace.clone(), key: entry.key.clone(), kind: detail.kind, value: detail.value };
                        file.sealed = Some(recipients.seal(&serde_json::to_vec(&payload).expect("a JSON value serialises"))?);
                        file.recipients = texts.clone();
                        done.newly_sealed += 1;
                    }
                    ValueMode::Plaintext => file.value = Some(detail.value),
                    ValueMode::Stub => {}
                }
                file.to_bytes()
            }
        };
        match mode {
            ValueMode::Sealed(_) => done.sealed += 1,
            ValueMode::Plaintext => done.plaintext += 1,
            ValueMode::Stub => done.stubs += 1,
        }
        done.entries += 1;
        on_item(ExportedItem::KvEntry { namespace: entry.namespace, key: entry.key, bytes })?;
    }
    let what = if prefix.is_empty() { "all namespaces".to_string() } else { format!("namespace tree `{prefix}`") };
    log.info(format!(
        "Exported {} KV entr{} from {what}: {} sealed ({} sealed anew this run), {} in clear text, {} without value",
        done.entries,
        if done.entries == 1 { "y" } else { "ies" },
        done.sealed,
        done.newly_sealed,
        done.plaintext,
        done.stubs
    ));
    if done.stubs > 0 {
        log.warn(format!(
            "Left the values of {} KV entr{} out of the backup (no `kv.recipients` to seal them to): a restore brings back their keys' metadata only; set `kv.recipients`",
            done.stubs,
            if done.stubs == 1 { "y" } else { "ies" }
        ));
    }
    if done.plaintext > 0 {
        log.warn(format!("Wrote {} KV value(s) in clear text to the repository (`kv.plaintext: true`): anyone who can read the repository can read them", done.plaintext));
    }
    Ok(done)
}
