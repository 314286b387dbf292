//! What the manifest (docs/manifest.md) says about a backup: the instance it came from, its items,
//! the plugin types its flows use, what it does not hold, and the coverage guard; through the
//! whole job against the Kestra API stub and the real HTTPS Git server, reading the server's bare
//! repository with the git CLI.

mod support;

use serde_json::{Value, json};
use support::git_server::{GitServer, ServerRepo};
use support::kestra_stub::KestraStub;

fn run_logged(request: &Value) -> (Value, Vec<String>) {
    let mut lines = Vec::new();
    let mut sink = |e: &kestra_git_backup::LogEvent| lines.push(e.message.clone());
    let out = serde_json::from_str(&kestra_git_backup::run_json(&request.to_string(), &mut sink)).unwrap();
    (out, lines)
}

fn report(v: &Value) -> &Value {
    v.get("report").unwrap_or_else(|| panic!("expected a report, got {v}"))
}

fn flow(id: &str, ns: &str) -> String {
    format!("id: {id}\nnamespace: {ns}\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n")
}

/// A whole-instance backup with a manifest: flows in `flows/`, files in `files/`.
fn backup(stub: &KestraStub, server: &GitServer, repo: &str) -> Value {
    let discover = |kind: &str, dir: &str| json!({"kind": kind, "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": dir});
    json!({
        "kestra": {"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}},
        "git": {"url": server.https_url(repo), "username": server.user(), "password": server.token(), "trustedCaPemPath": server.ca_pem_path()},
        "sources": [discover("flows", "flows"), discover("namespaceFiles", "files")],
        "manifest": true
    })
}

fn manifest_at(repo: &ServerRepo, rev: &str) -> Value {
    serde_json::from_str(&repo.git(&["show", &format!("{rev}:.kestra-backup/manifest.json")])).unwrap()
}

#[test]
fn the_manifest_names_the_instance_kestra_reports_and_its_url_without_credentials() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("identity"));
    let stub = KestraStub::start();
    stub.set_flow("company", "etl", &flow("etl", "company"));
    let uuid = stub.model.lock().unwrap().instance_uuid.clone().unwrap();
    let mut request = backup(&stub, &server, "identity");
    // Credentials in the URL never reach the manifest.
    request["kestra"]["url"] = json!(stub.url.replace("http://", "http://someone:url-s3cret@"));

    let (out, _) = run_logged(&request);
    report(&out);
    let m = manifest_at(&repo, "main");
    assert_eq!(m["instance"], json!({"id": uuid, "version": "2.0.0", "url": stub.url}), "{m}");
    assert!(!repo.git(&["show", "main:.kestra-backup/manifest.json"]).contains("url-s3cret"));

    // An older server without `configs`: the backup goes on, says why, and names no id.
    stub.model.lock().unwrap().instance_uuid = None;
    stub.set_flow("company", "load", &flow("load", "company"));
    let (out, lines) = run_logged(&request);
    report(&out);
    let m = manifest_at(&repo, "main");
    assert_eq!(m["instance"], json!({"url": stub.url}), "{m}");
    assert!(lines.iter().any(|l| l.contains("identity could not be read") && l.contains("/api/v1/configs")), "{lines:?}");
    assert!(lines.iter().all(|l| !l.contains("url-s3cret") && !l.contains(&stub.password)), "{lines:?}");
}
