//! Pushes in one request with a thin pack (`git/http_push.rs`): what a one-flow change costs on
//! the wire, and that the server completes the pack into an intact repository, against the real
//! Git server (lighttpd + git http-backend over HTTPS with basic auth).

mod support;

use serde_json::{Value, json};
use support::core_run::{report, run_logged};
use support::git_server::{GitServer, ServerRepo};
use support::kestra_stub::KestraStub;

const NS: &str = "company.team";

fn flow(n: usize, message: &str) -> String {
    format!("id: flow_{n:03}\nnamespace: {NS}\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: \"{message} {n}\"\n")
}

fn request(stub: &KestraStub, server: &GitServer) -> Value {
    json!({
        "kestra": {"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}},
        "git": {"url": server.https_url("thin"), "branch": "main", "username": server.user(), "password": server.token(),
                "trustedCaPemPath": server.ca_pem_path(), "commitMessage": "Backup"},
        "sources": [{"kind": "flows", "namespaces": {"one": {"namespace": NS}}, "gitDirectory": "flows"}]
    })
}

#[test]
fn a_one_flow_change_goes_as_deltas_in_one_request_and_the_server_repository_stays_whole() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("thin"));
    let stub = KestraStub::start();
    for n in 0..200 {
        stub.set_flow(NS, &format!("flow_{n:03}"), &flow(n, "hello"));
    }
    let request = request(&stub, &server);
    // The first backup of an empty repository: one request too, every object whole.
    let (first, lines) = run_logged(&request);
    report(&first);
    assert!(lines.iter().any(|l| l.contains("Sent 203 objects in one request (0 as deltas")), "{lines:#?}");
    let path = repo.files("main").into_iter().find(|p| p.ends_with("flow_100.yml")).expect("flow_100 backed up");
    let dir = &path[..path.rfind('/').unwrap()];
    let tree_bytes: usize = repo.git(&["cat-file", "-s", &format!("main:{dir}")]).trim().parse().unwrap();

    for (round, message) in ["changed", "changed again"].into_iter().enumerate() {
        stub.set_flow(NS, "flow_100", &flow(100, message));
        let (answer, lines) = run_logged(&request);
        let bytes = report(&answer)["bytesPushed"].as_u64().unwrap();
        assert!(lines.iter().any(|l| l.contains("in one request") && !l.contains("(0 as deltas")), "round {round}: {lines:#?}");
        assert!(
            bytes < 1_000,
            "round {round}: {bytes} bytes pushed for one flow changed (the namespace's tree alone is {tree_bytes} bytes, sent whole by libgit2)"
        );
        assert_eq!(String::from_utf8(repo.show("main", &path)).unwrap(), flow(100, message));
        // The server completed the thin pack with its own objects: every object is there and sound.
        repo.git(&["fsck", "--full", "--strict", "--no-dangling"]);
        assert_eq!(repo.commit_count("main"), round + 2);
    }
    assert!(tree_bytes > 5_000, "the namespace's tree is {tree_bytes} bytes");

    // Nothing changed: nothing pushed.
    let (answer, _) = run_logged(&request);
    assert_eq!(report(&answer)["bytesPushed"].as_u64(), Some(0));
}

#[test]
fn the_custody_record_moves_in_one_request_after_the_branch() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("record"));
    let stub = KestraStub::start();
    stub.set_flow(NS, "flow_001", &flow(1, "hello"));
    let request = support::manifest_backup::backup(&stub, &server, "record");
    for message in ["first", "second"] {
        stub.set_flow(NS, "flow_001", &flow(1, message));
        let (answer, lines) = run_logged(&request);
        let commit = report(&answer)["commitId"].as_str().unwrap().to_string();
        let one_request: Vec<&String> = lines.iter().filter(|l| l.contains("objects in one request")).collect();
        assert_eq!(one_request.len(), 2, "the branch, then the record: {lines:#?}");
        assert!(one_request[1].starts_with("Sent 0 objects in one request"), "the record is an update only: {lines:#?}");
        assert_eq!(repo.git(&["rev-parse", "refs/kestra-backup/last/main"]).trim(), commit);
        repo.git(&["fsck", "--full", "--strict", "--no-dangling"]);
    }
}

#[test]
fn a_server_only_libgit2_s_check_trusts_gets_libgit2_s_push_without_a_warning() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("thin"));
    let stub = KestraStub::start();
    // The server's own certificate as `trustedCaPemPath`: a trust anchor for the core's check of
    // libgit2's connections (partial chains), not for the HTTP client of the one-request push.
    let served = std::fs::read_to_string(server.ca_pem_path().with_file_name("server.pem")).unwrap();
    let start = served.find("-----BEGIN CERTIFICATE-----").unwrap();
    let end = served.find("-----END CERTIFICATE-----").unwrap() + "-----END CERTIFICATE-----".len();
    let dir = tempfile::tempdir().unwrap();
    let leaf = dir.path().join("leaf.pem");
    std::fs::write(&leaf, &served[start..end]).unwrap();
    let mut request = request(&stub, &server);
    request["git"]["trustedCaPemPath"] = json!(leaf);
    for (round, message) in ["first", "second"].into_iter().enumerate() {
        stub.set_flow(NS, "flow_001", &flow(1, message));
        let (answer, lines) = run_logged(&request);
        report(&answer);
        assert!(!lines.iter().any(|l| l.contains("broke off")), "round {round}: {lines:#?}");
        assert_eq!(lines.iter().any(|l| l.contains("did not trust the server")), round == 0, "round {round}: {lines:#?}");
        let path = repo.files("main").into_iter().find(|p| p.ends_with("flow_001.yml")).unwrap();
        assert_eq!(String::from_utf8(repo.show("main", &path)).unwrap(), flow(1, message));
    }
}
