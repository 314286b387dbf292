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

/// The manifest of `rev` in `repo`, parsed.
pub fn manifest_at(repo: &ServerRepo, rev: &str) -> Value {
    serde_json::from_str(&repo.git(&["show", &format!("{rev}:.kestra-backup/manifest.json")])).unwrap()
}
