//! The manifest chain (docs/manifest.md) through the whole job, against the Kestra API stub and
//! the real HTTPS Git server; assertions read the server's bare repository with the git CLI.

mod support;

use serde_json::{Value, json};
use support::git_server::{GitServer, ServerRepo};
use support::kestra_stub::KestraStub;

fn run(request: &Value) -> Value {
    let mut sink = |_: &kestra_git_backup::LogEvent| {};
    serde_json::from_str(&kestra_git_backup::run_json(&request.to_string(), &mut sink)).unwrap()
}

fn report(v: &Value) -> &Value {
    v.get("report").unwrap_or_else(|| panic!("expected a report, got {v}"))
}

fn flow(id: &str, ns: &str, message: &str) -> String {
    format!("id: {id}\nnamespace: {ns}\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: {message}\n")
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
fn every_backup_commit_carries_a_manifest_chained_to_the_one_before() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("chain"));
    let stub = KestraStub::start();
    stub.set_flow("company", "etl", &flow("etl", "company", "one"));
    stub.put_file("company", "scripts/run.py", b"print(1)\n");
    let request = backup(&stub, &server, "chain");

    let first = run(&request);
    let first_commit = report(&first)["commitId"].as_str().unwrap().to_string();
    let m1 = manifest_at(&repo, "main");
    assert_eq!((m1["format"].as_u64(), m1["serial"].as_u64()), (Some(1), Some(1)));
    assert!(m1["previous"].is_null(), "{m1}");
    assert_eq!(m1["kinds"]["flows"]["count"], 1);
    assert_eq!(m1["kinds"]["flows"]["items"][0]["path"], "flows/company/etl.yml");
    assert_eq!(m1["kinds"]["flows"]["items"][0]["blob"].as_str().unwrap(), repo.git(&["rev-parse", "main:flows/company/etl.yml"]).trim());
    assert_eq!(m1["kinds"]["namespaceFiles"]["count"], 1);
    // The manifest is not in the diff of Kestra's content.
    assert_eq!(report(&first)["diff"].as_array().unwrap().len(), 2, "{first}");

    // No change: no commit, the manifest untouched.
    let unchanged = run(&request);
    assert!(report(&unchanged)["commitId"].is_null(), "{unchanged}");
    assert_eq!(repo.commit_count("main"), 1);

    stub.set_flow("company", "etl", &flow("etl", "company", "two"));
    let second = run(&request);
    let second_commit = report(&second)["commitId"].as_str().unwrap().to_string();
    let m2 = manifest_at(&repo, "main");
    assert_eq!(m2["serial"], 2);
    assert_eq!(m2["previous"]["commit"].as_str().unwrap(), first_commit);
    assert_eq!(m2["previous"]["serial"], 1);
    assert_eq!(m2["previous"]["date"].as_str().unwrap(), repo.git(&["log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ", &first_commit]).trim());

    stub.delete_flow("company", "etl");
    stub.set_flow("company", "load", &flow("load", "company", "three"));
    run(&request);
    let m3 = manifest_at(&repo, "main");
    assert_eq!((m3["serial"].as_u64(), m3["previous"]["commit"].as_str()), (Some(3), Some(second_commit.as_str())));
    assert_eq!(m3["kinds"]["flows"]["items"][0]["path"], "flows/company/load.yml");
    assert_eq!(m3["kinds"]["flows"]["count"], 1);
}

#[test]
fn a_source_at_the_repository_root_never_touches_the_manifest() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("root"));
    let stub = KestraStub::start();
    stub.set_flow("company", "etl", &flow("etl", "company", "one"));
    let mut request = backup(&stub, &server, "root");
    request["sources"] = json!([{"kind": "flows", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": ""}]);
    run(&request);
    stub.set_flow("company", "etl", &flow("etl", "company", "two"));
    let second = run(&request);
    assert_eq!(report(&second)["diff"].as_array().unwrap().len(), 1, "{second}");
    assert_eq!(repo.files("main"), [".kestra-backup/manifest.json", "company/etl.yml"]);
    assert_eq!(manifest_at(&repo, "main")["serial"], 2);
}
