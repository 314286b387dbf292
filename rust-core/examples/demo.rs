//! The main job on an embedded default, no account needed: a local Git server (HTTPS with basic
//! auth and its own CA) and a local Kestra API stand-in (the test stub, serving Kestra 2.0's
//! export formats) holding a few example flows and namespace files. Runs the seed flow's backup
//! (flows/<ns> and scripts/<ns> for four namespaces) as ONE whole-instance commit, changes a flow,
//! runs again, and prints the commits and the tree.
//!
//!     cargo run --release -p kestra-git-backup --example demo

#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::json;
use support::git_server::{GitServer, ServerRepo};
use support::kestra_stub::KestraStub;

fn main() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("kestra-backup"));
    let stub = KestraStub::start();
    for ns in ["ansible", "outputs", "posting", "proxmox"] {
        stub.set_flow(ns, "hello", &format!("id: hello\nnamespace: {ns}\n\ntasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: Hello from {ns}\n"));
        stub.put_file(ns, "scripts/run.sh", format!("#!/bin/sh\necho {ns}\n").as_bytes());
    }
    stub.put_file("ansible", "roles/web/tasks/main.yml", b"- name: install\n  apt: name=nginx\n");

    let request = json!({
        "kestra": {"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}},
        "git": {"url": server.https_url("kestra-backup"), "username": server.user(), "password": server.token(),
                "trustedCaPemPath": server.ca_pem_path(), "commitMessage": "Backup of the Kestra instance",
                "authorName": "Kestra Backup", "authorEmail": "backup@localhost"},
        "sources": [
            {"kind": "flows", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": "flows"},
            {"kind": "namespaceFiles", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": "scripts"}
        ]
    });
    let run = |title: &str| {
        println!("\n== {title}");
        let mut print = |e: &kestra_git_backup::LogEvent| println!("  {} {}", e.level.as_str(), e.message);
        let answer: serde_json::Value = serde_json::from_str(&kestra_git_backup::run_json(&request.to_string(), &mut print)).unwrap();
        match answer.get("report") {
            Some(r) => println!("  commit: {}  changed files: {}", r["commitId"], r["diff"].as_array().map_or(0, Vec::len)),
            None => panic!("backup failed: {answer}"),
        }
    };
    run("first backup");
    run("second backup, nothing changed");
    stub.set_flow("posting", "hello", "id: hello\nnamespace: posting\n\ntasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: Hello again\n");
    run("after editing posting.hello");

    println!("\n== server repository {}", repo.0.display());
    print!("{}", repo.git(&["log", "--format=  %h %s (%an)", "main"]));
    for file in repo.files("main") {
        println!("  {file}");
    }
}
