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

/// Every entry of the namespace tree `prefix` (`""` = all), sorted by namespace and key.
pub fn list(client: &KestraClient, prefix: &str, log: &mut Log) -> Result<Vec<KvEntry>, CoreError> {
    let mut query = vec![("sort", "namespace:asc"), ("sort", "key:asc")];
    if !prefix.is_empty() {
        query.push(("filters[namespace][STARTS_WITH]", prefix));
    }
    let unexpected = |e: String| CoreError::new(ErrorCode::KestraApi, format!("Kestra API kv: unexpected answer: {e}"));
    let mut out: Vec<KvEntry> = client.get_all_pages("kv", &query, PAGE_SIZE, &unexpected, log)?;
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
///
/// `backed_up` are the (namespace, key) of the tip's files: an entry the listing leaves out but
/// that still reads by key keeps its file. In Kestra 2.0.0 two keys whose `<namespace>_<key>` join
/// the same way share one listing row (kestra-io/kestra#18506), and a lost row must not delete a
/// value from the backup.
#[allow(clippy::too_many_arguments)]
pub fn export(
    client: &KestraClient,
    prefix: &str,
    mode: &ValueMode,
    recipients: &Recipients,
    previous: PreviousFile,
    backed_up: Vec<(String, String)>,
    log: &mut Log,
    on_item: OnItem,
) -> Result<KvExport, CoreError> {
    let mut done = KvExport::default();
    let listing = list(client, prefix, log)?;
    let listed_keys: std::collections::HashSet<(String, String)> = listing.iter().map(|e| (e.namespace.clone(), e.key.clone())).collect();
    for entry in listing {
        let listed = KvFile::listed(&entry);
        let previous = previous(&entry.namespace, &entry.key)?;
        let fetch = || detail(client, &entry.namespace, &entry.key, log);
        match entry_file(listed, previous, fetch, mode, recipients, &mut done)? {
            Some(bytes) => on_item(ExportedItem::KvEntry { namespace: entry.namespace, key: entry.key, bytes })?,
            None => log.info(format!("KV entry `{}` of `{}` is gone or expired since it was listed; left out", entry.key, entry.namespace)),
        }
    }
    for (namespace, key) in backed_up {
        if !in_namespace_tree(&namespace, prefix) || listed_keys.contains(&(namespace.clone(), key.clone())) {
            continue;
        }
        let Some(found) = detail(client, &namespace, &key, log)? else { continue };
        // A damaged file follows the listing (its entry is not listed: the file goes).
        let Some((bytes, file)) = previous(&namespace, &key)?.and_then(|b| KvFile::parse(&b, &key).ok().map(|f| (b, f))) else { continue };
        log.warn(format!(
            "KV entry `{key}` of `{namespace}` reads by key but is missing from Kestra's KV listing (kestra-io/kestra#18506: another namespace's key took its listing row); kept in the backup as last backed up"
        ));
        let listed = KvFile { recipients: Vec::new(), sealed: None, value: None, ..file };
        if let Some(bytes) = entry_file(listed, Some(bytes), || Ok(Some(found)), mode, recipients, &mut done)? {
            on_item(ExportedItem::KvEntry { namespace, key, bytes })?;
        }
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

/// The file of one entry: the tip's `previous` bytes when they still stand for `listed` (no new
/// seal), otherwise written from the value `fetch` reads (`None`: the entry is gone). Counts it.
fn entry_file(
    listed: KvFile,
    previous: Option<Vec<u8>>,
    fetch: impl FnOnce() -> Result<Option<KvDetail>, CoreError>,
    mode: &ValueMode,
    recipients: &Recipients,
    done: &mut KvExport,
) -> Result<Option<Vec<u8>>, CoreError> {
    let kept = previous.filter(|bytes| KvFile::parse(bytes, &listed.key).is_ok_and(|old| old.still_current(&listed, mode)));
    let bytes = match kept {
        Some(bytes) => bytes,
        None => {
            let Some(detail) = fetch()? else { return Ok(None) };
            let mut file = KvFile { kind: detail.kind.clone(), ..listed };
            match mode {
                ValueMode::Sealed(texts) => {
                    let payload = SealedValue { namespace: file.namespace.clone(), key: file.key.clone(), kind: detail.kind, value: detail.value };
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
    Ok(Some(bytes))
}
