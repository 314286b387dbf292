//! The whole-instance backup request with a manifest that the manifest and custody tests share,
//! and the manifest a commit of the server's repository holds.

use super::git_server::{GitServer, ServerRepo};
use super::kestra_stub::KestraStub;
use serde_json::{Value, json};

/// A whole-instance backup with a manifest: flows in `flows/`, files in `files/`.
pub fn backup(stub: &KestraStub, server: &GitServer, repo: &str) -> Value {
    let discover = |kind: &str, dir: &str| json!({"kind": kind, "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": dir});
    json!({
        "kestra": {"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}},
        "git": {"url": server.https_url(repo), "username": server.user(), "password": server.token(), "trustedCaPemPath": server.ca_pem_path()},
        "sources": [discover("flows", "flows"), discover("namespaceFiles", "files")],
        "manifest": true
    })
}

/// The manifest of `rev` in `repo`, parsed, with the items of its item files
/// (`.kestra-backup/items/<kind>/<namespace>.json`) in `kinds.<kind>.items`, sorted by path.
pub fn manifest_at(repo: &ServerRepo, rev: &str) -> Value {
    let mut manifest: Value = serde_json::from_str(&repo.git(&["show", &format!("{rev}:.kestra-backup/manifest.json")])).unwrap();
    for file in repo.git(&["ls-tree", "-r", "--name-only", rev, ".kestra-backup/items/"]).lines() {
        let kind = file.split('/').nth(2).unwrap();
        let items: Vec<Value> = serde_json::from_str(&repo.git(&["show", &format!("{rev}:{file}")])).unwrap();
        let listed = manifest["kinds"][kind]["items"].as_array().cloned().unwrap_or_default();
        let mut all: Vec<Value> = listed.into_iter().chain(items).collect();
        all.sort_by(|a, b| a["path"].as_str().cmp(&b["path"].as_str()));
        manifest["kinds"][kind]["items"] = Value::Array(all);
    }
    manifest
}
