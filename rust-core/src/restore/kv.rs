//! KV entries of the backup back into Kestra. `prepare` reads every entry file of the backup,
//! compares it with Kestra's listing, unseals what will be written (a value that does not unseal
//! fails the job before anything is written) and gives the plan rows; `write` puts the entries
//! (missing ones; with `overwrite`, differing ones), each with `ttl` = expiry − now and its
//! description; an entry already expired is skipped. Nothing is deleted. A drill unseals every
//! sealed value with the identity, or without one checks that each sealed file is well-formed and
//! sealed to the recipients it records (and to `kv.recipients` when set).

use super::plan::Row;
use crate::error::{CoreError, ErrorCode};
use crate::export::kv::{self as api, KvEntry};
use crate::export::kv_file::{KvFile, SealedValue, ValueMode};
use crate::export::KestraClient;
use crate::progress::Log;
use crate::report::KvReport;
use crate::request::{in_namespace_tree, Job, KvOptions, Request};
use crate::seal::{self, Identities, Recipients};
use crate::snapshot::TipTree;
use std::collections::HashMap;
use std::time::{Duration, SystemTime};

/// An entry to write: where, the ION body, the description and the expiry (RFC 3339).
pub struct Write {
    namespace: String,
    key: String,
    body: String,
    description: Option<String>,
    expiration_date: Option<String>,
}

pub struct Prepared {
    pub rows: Vec<Row>,
    pub report: KvReport,
    writes: Vec<Write>,
}

/// Reads and checks the backup's entries under `options.gitDirectory`, as the plan of `req.job`.
pub fn prepare(client: &KestraClient, options: &KvOptions, req: &Request, backup: &dyn TipTree, log: &mut Log) -> Result<Prepared, CoreError> {
    let identities = req.restore.identity.as_ref().map(|i| Identities::parse(i, "restore.identity")).transpose()?;
    // A drill proves the backup is sealed to the keys configured now; a restore may read an older one.
    let configured = (req.job == Job::Drill && !options.recipients.is_empty()).then(|| Recipients::parse(&options.recipients, "kv.recipients")).transpose()?.map(|r| r.texts());
    let dir = crate::snapshot::safe_path::normalise_dir(&options.git_directory, "kv.gitDirectory")?;
    let mut files = backup.files_under(&dir)?;
    files.retain(|f| f.path.ends_with(".json") && in_namespace_tree(f.path[dir.len()..].trim_start_matches('/').split('/').next().unwrap_or_default(), &options.namespace_prefix));
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let mut out = Prepared { rows: Vec::new(), report: KvReport::default(), writes: Vec::new() };
    // A backup without KV entries asks nothing of Kestra's KV API (Kestra 1.x has another one).
    if files.is_empty() {
        return Ok(out);
    }
    let in_kestra: HashMap<(String, String), KvEntry> =
        api::list(client, &options.namespace_prefix, log)?.into_iter().map(|e| ((e.namespace.clone(), e.key.clone()), e)).collect();
    let now = SystemTime::now();
    for tip_file in &files {
        let path = tip_file.path.as_str();
        let file = KvFile::parse(&backup.read_blob(tip_file.oid)?, path)?;
        let expected = crate::snapshot::safe_path::join(&crate::snapshot::safe_path::join(&dir, &file.namespace), &crate::export::kv_file::file_name(&file.key));
        if expected != path {
            return Err(CoreError::new(ErrorCode::InvalidBackup, format!("`{path}` holds the KV entry `{}` of `{}`, which belongs in `{expected}`; move it there", file.key, file.namespace)));
        }
        let what = format!("KV entry `{path}`");
        out.report.entries += 1;
        // The value, when this run can know it: in clear, or unsealed.
        let value = match file.mode() {
            ValueMode::Sealed(recorded) => {
                out.report.sealed += 1;
                let sealed = file.sealed.as_deref().unwrap_or_default();
                if let Some(want) = configured.as_ref().filter(|want| **want != recorded) {
                    return Err(CoreError::new(
                        ErrorCode::InvalidBackup,
                        format!("{what} is sealed to other recipients than `kv.recipients` ({} recorded, {} configured); run a backup with the current recipients to re-seal it", recorded.len(), want.len()),
                    ));
                }
                match &identities {
                    Some(ids) => {
                        let value = unseal(ids, sealed, &file, &what)?;
                        out.report.unsealed += 1;
                        Some(value)
                    }
                    None => {
                        seal::well_formed(sealed, &recorded).map_err(|why| {
                            CoreError::new(ErrorCode::InvalidBackup, format!("{what}: {why}; restore this file from an earlier backup commit"))
                        })?;
                        None
                    }
                }
            }
            ValueMode::Plaintext => {
                out.report.plaintext += 1;
                file.value.clone()
            }
            ValueMode::Stub => {
                out.report.stubs += 1;
                None
            }
        };
        let current = in_kestra.get(&(file.namespace.clone(), file.key.clone()));
        let expired = file.expiration_date.as_deref().and_then(expiry).is_some_and(|at| at <= now);
        let (action, reason): (&'static str, Option<&'static str>) = if expired {
            out.report.skipped_expired += 1;
            ("skip", Some("expired: its expiration date has passed"))
        } else {
            let differs = match (current, &value) {
                (None, _) => {
                    out.report.missing_in_kestra += 1;
                    None
                }
                (Some(_), Some(v)) => {
                    let now_in_kestra = api::detail(client, &file.namespace, &file.key, log)?;
                    let same = now_in_kestra.is_some_and(|d| d.kind == file.kind && d.value == *v) && current.is_some_and(|c| c.description == file.description);
                    if same { out.report.in_sync += 1 } else { out.report.differing += 1 }
                    Some(!same)
                }
                (Some(_), None) => Some(true),
            };
            let write = differs.is_none() || (differs == Some(true) && (req.restore.overwrite || req.job == Job::Drill));
            match (differs, value.is_some()) {
                (Some(false), _) => ("unchanged", None),
                (_, false) if file.mode() == ValueMode::Stub => ("skip", Some("the backup holds no value for it (backed up without `kv.recipients`)")),
                (Some(true), false) if !req.restore.overwrite => ("skip", Some("Kestra holds this key; comparing it needs `restore.identity`, replacing it `restore.overwrite: true`")),
                (_, false) => {
                    out.report.need_identity += 1;
                    ("skip", Some("sealed: set `restore.identity` to unseal and restore it"))
                }
                (Some(true), true) if !write => ("skip", Some("differs from Kestra; set `restore.overwrite: true` to replace it")),
                (Some(true), true) => ("replace", None),
                (None, true) => ("create", None),
            }
        };
        if let Some(v) = value.filter(|_| matches!(action, "create" | "replace")) {
            out.writes.push(Write {
                namespace: file.namespace.clone(),
                key: file.key.clone(),
                body: ion_literal(&file.kind, &v),
                description: file.description.clone(),
                expiration_date: file.expiration_date.clone(),
            });
        }
        out.rows.push(Row { file: path.to_string(), kind: "kv", namespace: file.namespace.clone(), path: file.key.clone(), action, reason, diff: None, required_by: None });
    }
    if out.report.need_identity > 0 {
        log.warn(format!("{} sealed KV value(s) cannot be restored without `restore.identity`; the plan lists them", out.report.need_identity));
    }
    Ok(out)
}

/// Puts the prepared entries; the number written.
pub fn write(client: &KestraClient, prepared: &Prepared, log: &mut Log) -> Result<usize, CoreError> {
    let mut written = 0;
    for entry in &prepared.writes {
        let ttl = match entry.expiration_date.as_deref().and_then(expiry) {
            Some(at) => match at.duration_since(SystemTime::now()) {
                Ok(left) => Some(format!("PT{}S", left.as_secs().max(1))),
                Err(_) => {
                    log.warn(format!("KV entry `{}` of `{}` expired during the restore; skipped", entry.key, entry.namespace));
                    continue;
                }
            },
            None => None,
        };
        api::put(client, &entry.namespace, &entry.key, &entry.body, ttl, entry.description.as_deref(), log).map_err(|e| too_large(e, entry))?;
        written += 1;
    }
    if written > 0 {
        log.info(format!("Restored {written} KV entr{}", if written == 1 { "y" } else { "ies" }));
    }
    Ok(written)
}

/// Kestra's 413 named as what it is.
fn too_large(e: CoreError, entry: &Write) -> CoreError {
    if e.code == ErrorCode::KestraApi && e.message.contains(" answered 413") {
        return CoreError::new(
            ErrorCode::KestraApi,
            format!(
                "the value of KV entry `{}` of `{}` ({} bytes) is too large for Kestra (HTTP 413); raise the server's `micronaut.server.max-request-size`, then run the restore again",
                entry.key,
                entry.namespace,
                entry.body.len()
            ),
        );
    }
    e
}

fn unseal(ids: &Identities, sealed: &str, file: &KvFile, what: &str) -> Result<serde_json::Value, CoreError> {
    let plain = ids.unseal(sealed, what)?;
    let payload: SealedValue = serde_json::from_slice(&plain)
        .map_err(|_| CoreError::new(ErrorCode::InvalidBackup, format!("{what}: the sealed value is not a KV value; restore this file from an earlier backup commit")))?;
    if payload.namespace != file.namespace || payload.key != file.key {
        return Err(CoreError::new(
            ErrorCode::InvalidBackup,
            format!("{what}: the sealed value belongs to the KV entry `{}` of `{}`; restore this file from an earlier backup commit", payload.key, payload.namespace),
        ));
    }
    Ok(payload.value)
}

/// The value as the ION literal Kestra's `PUT` parses back into the same type: strings, numbers,
/// booleans and JSON as JSON text (JSON is ION); dates and date-times as ION timestamps
/// (unquoted). A duration comes out of Kestra's API as seconds (`300.0`); it goes back as the
/// ISO-8601 string `"PT300S"`, which Kestra's KV store reads back as a duration (it turns every
/// string `P…` of whole units into one; a fraction of a second is kept, as a string).
pub fn ion_literal(kind: &str, value: &serde_json::Value) -> String {
    match (kind, value) {
        ("DATETIME" | "DATE", serde_json::Value::String(text)) => text.clone(),
        ("DURATION", serde_json::Value::Number(seconds)) => {
            let whole = seconds.as_f64().filter(|s| s.fract() == 0.0 && s.abs() < 1e15).map(|s| (s as i64).to_string());
            serde_json::Value::String(format!("PT{}S", whole.unwrap_or_else(|| seconds.to_string()))).to_string()
        }
        _ => value.to_string(),
    }
}

/// An RFC 3339 instant as Kestra writes expiration dates (`2026-12-01T10:00:00.250Z`), to the second.
fn expiry(text: &str) -> Option<SystemTime> {
    let seconds = crate::instant::parse_instant(text)?;
    Some(SystemTime::UNIX_EPOCH + Duration::from_secs(u64::try_from(seconds).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn instants_parse() {
        let at = |t: &str| expiry(t).unwrap().duration_since(SystemTime::UNIX_EPOCH).unwrap().as_secs();
        assert_eq!(at("1970-01-01T00:00:00Z"), 0);
        assert_eq!(at("2026-12-01T10:00:00.250Z"), 1_796_119_200);
        assert_eq!(at("2026-12-01T12:00:00+02:00"), 1_796_119_200);
        assert!(expiry("yesterday").is_none());
    }

    #[test]
    fn values_go_back_as_ion_literals_of_their_type() {
        assert_eq!(ion_literal("STRING", &json!("a \"b\"")), r#""a \"b\"""#);
        assert_eq!(ion_literal("NUMBER", &json!(42.5)), "42.5");
        assert_eq!(ion_literal("BOOLEAN", &json!(true)), "true");
        assert_eq!(ion_literal("DATETIME", &json!("2026-12-01T10:00:00Z")), "2026-12-01T10:00:00Z");
        assert_eq!(ion_literal("DATE", &json!("2026-12-01")), "2026-12-01");
        assert_eq!(ion_literal("DURATION", &json!(300.0)), r#""PT300S""#);
        assert_eq!(ion_literal("DURATION", &json!(0.5)), r#""PT0.5S""#);
        assert_eq!(ion_literal("DURATION", &json!("PT5M")), r#""PT5M""#);
        assert_eq!(ion_literal("JSON", &json!({"a": [1, 2]})), r#"{"a":[1,2]}"#);
    }
}
