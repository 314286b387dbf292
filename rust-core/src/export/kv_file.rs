//! One KV entry as the backup holds it: `<kv directory>/<namespace>/<key>.json`, pretty JSON with
//! the entry's metadata as Kestra lists it (type, description, expiration date, revision, update
//! date) and its value either sealed (`sealed`: armored age text, with the `recipients` it was
//! sealed to), in clear text (`value`, only with `kv.plaintext`), or left out (a stub). The sealed
//! text holds `{namespace, key, type, value}`, so a sealed blob copied to another file does not
//! unseal as that file's entry. Layout and rules: `docs/kv-store.md`.

use crate::error::{CoreError, ErrorCode};
use serde::{Deserialize, Serialize};

/// The file name of `key` in its namespace directory.
pub fn file_name(key: &str) -> String {
    format!("{key}.json")
}

/// The (namespace, key) of a file at `relative` (`<namespace>/<key>.json`) in the KV directory.
pub fn entry_at(relative: &str) -> Option<(String, String)> {
    let (namespace, name) = relative.split_once('/')?;
    let key = name.strip_suffix(".json").filter(|key| !key.is_empty() && !key.contains('/'))?;
    Some((namespace.to_string(), key.to_string()))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KvFile {
    pub namespace: String,
    pub key: String,
    /// Kestra's `KVType`: STRING, NUMBER, BOOLEAN, DATETIME, DATE, DURATION, JSON.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
    /// Kestra's revision and update date of the entry: the value is sealed anew only when they
    /// (or the recipients) change, since sealing the same value twice gives another text.
    pub revision: Option<i64>,
    pub update_date: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sealed: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
}

/// What a sealed text holds.
#[derive(Debug, Serialize, Deserialize)]
pub struct SealedValue {
    pub namespace: String,
    pub key: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub value: serde_json::Value,
}

/// How values are written this run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueMode {
    /// Sealed to these recipients (canonical texts, sorted).
    Sealed(Vec<String>),
    Plaintext,
    Stub,
}

impl KvFile {
    /// The metadata of an entry as Kestra lists it, no value yet.
    pub fn listed(entry: &super::kv::KvEntry) -> KvFile {
        KvFile {
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
        }
    }

    pub fn to_bytes(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("a KV file serialises");
        bytes.push(b'\n');
        bytes
    }

    /// Reads a backup file; `path` names it in errors.
    pub fn parse(bytes: &[u8], path: &str) -> Result<KvFile, CoreError> {
        serde_json::from_slice(bytes).map_err(|e| {
            CoreError::new(ErrorCode::InvalidBackup, format!("`{path}` in the backup is not a KV entry file ({e}); restore it from an earlier backup commit"))
        })
    }

    /// How this file holds its value.
    pub fn mode(&self) -> ValueMode {
        match (&self.sealed, &self.value) {
            (Some(_), _) => ValueMode::Sealed(self.recipients.clone()),
            (None, Some(_)) => ValueMode::Plaintext,
            (None, None) => ValueMode::Stub,
        }
    }

    /// The change rule: this file (from the branch tip) still stands for the entry Kestra lists
    /// now, written the way this run writes values, so it is kept byte for byte (no new seal).
    pub fn still_current(&self, listed: &KvFile, mode: &ValueMode) -> bool {
        self.namespace == listed.namespace
            && self.key == listed.key
            && self.revision == listed.revision
            && self.update_date == listed.update_date
            && self.description == listed.description
            && self.expiration_date == listed.expiration_date
            && self.mode() == *mode
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed() -> KvFile {
        KvFile {
            namespace: "company.team".into(),
            key: "api_token".into(),
            kind: "STRING".into(),
            description: Some("the token".into()),
            expiration_date: None,
            revision: Some(2),
            update_date: Some("2026-12-01T10:00:00Z".into()),
            recipients: Vec::new(),
            sealed: None,
            value: None,
        }
    }

    #[test]
    fn a_stub_holds_metadata_only() {
        let text = String::from_utf8(listed().to_bytes()).unwrap();
        assert_eq!(
            text,
            "{\n  \"namespace\": \"company.team\",\n  \"key\": \"api_token\",\n  \"type\": \"STRING\",\n  \"description\": \"the token\",\n  \"revision\": 2,\n  \"updateDate\": \"2026-12-01T10:00:00Z\"\n}\n"
        );
        assert_eq!(KvFile::parse(text.as_bytes(), "kv/x.json").unwrap().mode(), ValueMode::Stub);
        assert!(KvFile::parse(b"{\"key\": 1}", "kv/x.json").unwrap_err().message.starts_with("`kv/x.json` in the backup is not a KV entry file"));
    }

    #[test]
    fn the_change_rule() {
        let recipients = ValueMode::Sealed(vec!["age1a".into(), "age1b".into()]);
        let sealed = KvFile { recipients: vec!["age1a".into(), "age1b".into()], sealed: Some("-----BEGIN AGE".into()), ..listed() };
        assert!(sealed.still_current(&listed(), &recipients), "same revision, same recipients: kept");
        assert!(!sealed.still_current(&KvFile { revision: Some(3), ..listed() }, &recipients), "new revision");
        assert!(!sealed.still_current(&KvFile { update_date: Some("2026-12-02T00:00:00Z".into()), ..listed() }, &recipients), "updated");
        assert!(!sealed.still_current(&listed(), &ValueMode::Sealed(vec!["age1a".into(), "age1c".into()])), "recipients rotated");
        assert!(!sealed.still_current(&listed(), &ValueMode::Stub), "recipients removed");
        assert!(listed().still_current(&listed(), &ValueMode::Stub));
        assert!(!listed().still_current(&listed(), &ValueMode::Plaintext));
    }
}
