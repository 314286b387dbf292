//! The whole job against real servers: a Kestra API stub in Kestra 2.0's formats and a real Git
//! server (HTTPS with basic auth and a private CA, SSH with keys). Assertions read the server's
//! bare repository with the git CLI.

mod support;

use serde_json::{Value, json};
use std::process::Command;
use support::connect_proxy::ConnectProxy;
use support::core_run::{run, run_logged, report};
use support::git_server::{GitServer, ServerRepo};
use support::gpg_home::GpgHome;
use support::kestra_stub::KestraStub;

/// Same request through the CLI, in its own process (libgit2's TLS trust is per process).
fn run_cli(request: &Value) -> (bool, String, String) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), request.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kestra-git-backup")).arg("run").arg(file.path()).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

/// Two CLI runs at the same time, each in its own process.
fn run_cli_together(a: &Value, b: &Value) -> ((bool, String, String), (bool, String, String)) {
    std::thread::scope(|s| {
        let ha = s.spawn(|| run_cli(a));
        let hb = s.spawn(|| run_cli(b));
        (ha.join().unwrap(), hb.join().unwrap())
    })
}

fn kestra(stub: &KestraStub) -> Value {
    json!({"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}})
}

fn https(server: &GitServer, repo: &str) -> Value {
    json!({
        "url": server.https_url(repo), "branch": "main", "username": server.user(), "password": server.token(),
        "trustedCaPemPath": server.ca_pem_path(), "authorName": "Backup Bot", "authorEmail": "bot@example.com",
        "commitMessage": "Add flows from ansible namespace"
    })
}

fn flows_source(ns: &str) -> Value {
    json!({"kind": "flows", "namespaces": {"one": {"namespace": ns}}, "gitDirectory": format!("flows/{ns}")})
}

fn files_source(ns: &str) -> Value {
    json!({"kind": "namespaceFiles", "namespaces": {"one": {"namespace": ns}}, "gitDirectory": format!("scripts/{ns}")})
}

fn flow_text(id: &str, ns: &str, extra: &str) -> String {
    format!("id: {id}\nnamespace: {ns}\n\n# a comment kept verbatim\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: \"Hi {extra}\"\n")
}

fn error_code(v: &Value) -> &str {
    v.pointer("/error/code").and_then(Value::as_str).unwrap_or_else(|| panic!("expected an error, got {v}"))
}

/// A whole-instance backup of the namespace tree `prefix` (`""`: all): flows in `flows/`, files in `files/`.
fn instance_backup(stub: &KestraStub, server: &GitServer, repo: &str, prefix: &str) -> Value {
    let discover = |kind: &str, dir: &str| json!({"kind": kind, "namespaces": {"discover": {"prefix": prefix}}, "gitDirectory": dir});
    json!({"kestra": kestra(stub), "git": https(server, repo), "sources": [discover("flows", "flows"), discover("namespaceFiles", "files")]})
}

/// The same request as a `restore` or `drill` job with these options.
fn as_job(backup: &Value, job: &str, options: Value) -> Value {
    let mut request = backup.clone();
    request["job"] = json!(job);
    request["restore"] = options;
    request
}

/// `git.proxy`: every Git connection goes through the HTTP proxy, which reaches the HTTPS server by
/// `CONNECT` (libgit2 opens the proxy connection on the core's own socket stream and adds TLS on
/// top), and a later run goes through it again.
#[test]
fn a_backup_through_an_http_proxy_tunnels_to_the_https_server() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("proxied"));
    let stub = KestraStub::start();
    stub.set_flow("ansible", "alpha", &flow_text("alpha", "ansible", "a"));
    let proxy = ConnectProxy::start();
    let mut git = https(&server, "proxied");
    git["proxy"] = json!(proxy.url());
    let request = json!({"kestra": kestra(&stub), "git": git, "sources": [flows_source("ansible")]});
    let answer = run(&request);
    assert!(report(&answer)["commitId"].is_string(), "{answer}");
    assert_eq!(repo.files("main"), vec!["flows/ansible/alpha.yml".to_string()]);
    let target = format!("127.0.0.1:{}", server.get("HTTPS_PORT"));
    let targets = proxy.targets();
    assert!(targets.len() >= 2 && targets.iter().all(|t| *t == target), "the listing and the push went through the proxy: {targets:?}");

    stub.set_flow("ansible", "alpha", &flow_text("alpha", "ansible", "changed"));
    let again = run(&request);
    assert!(report(&again)["commitId"].is_string(), "second: {again}");
}

#[test]
fn lifecycle_first_push_no_change_one_change_deletion() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("backup"));
    // A file outside the sources' directories, committed before the first backup.
    let seed = tempfile::tempdir().unwrap();
    let sh = |args: &[&str]| assert!(Command::new("git").current_dir(seed.path()).args(args).status().unwrap().success());
    sh(&["init", "-q", "-b", "main"]);
    std::fs::write(seed.path().join("README.md"), "kept\n").unwrap();
    sh(&["add", "."]);
    sh(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "seed"]);
    sh(&["push", "-q", repo.0.to_str().unwrap(), "main"]);

    let stub = KestraStub::start();
    for id in ["alpha", "beta", "gamma"] {
        stub.set_flow("ansible", id, &flow_text(id, "ansible", id));
    }
    stub.set_flow("ansible.roles", "child", &flow_text("child", "ansible.roles", "c"));
    stub.set_flow("ansiblex", "sibling", &flow_text("sibling", "ansiblex", "s"));
    stub.put_file("ansible", "lib/util.py", b"print('x')\n");
    stub.put_file("ansible", "dir with space/ünï.txt", "é\n".as_bytes());
    stub.put_file("ansible", "bin/blob.bin", &[0u8, 159, 146, 150, 0, 1]);
    stub.put_file("ansible", "empty.txt", b"");

    let request = json!({"kestra": kestra(&stub), "git": https(&server, "backup"),
        "sources": [flows_source("ansible"), files_source("ansible")]});

    // 1. first backup: one commit with every flow and file, revision lines stripped
    let r = run(&request);
    let rep = report(&r);
    assert_eq!(repo.commit_count("main"), 2);
    assert_eq!(rep["commitId"].as_str().unwrap(), repo.git(&["rev-parse", "main"]).trim());
    assert_eq!(
        repo.files("main"),
        [
            "README.md",
            "flows/ansible/alpha.yml",
            "flows/ansible/beta.yml",
            "flows/ansible/gamma.yml",
            "scripts/ansible/bin/blob.bin",
            "scripts/ansible/dir with space/ünï.txt",
            "scripts/ansible/empty.txt",
            "scripts/ansible/lib/util.py",
        ]
    );
    assert_eq!(repo.show("main", "flows/ansible/alpha.yml"), flow_text("alpha", "ansible", "alpha").as_bytes());
    assert_eq!(repo.show("main", "scripts/ansible/bin/blob.bin"), [0u8, 159, 146, 150, 0, 1]);
    assert_eq!(repo.git(&["log", "-1", "--format=%an <%ae>|%cn <%ce>|%s", "main"]).trim(), "Backup Bot <bot@example.com>|Backup Bot <bot@example.com>|Add flows from ansible namespace");
    assert_eq!(rep["sources"][0]["added"], 3);
    assert_eq!(rep["diff"][0], json!({"file": "flows/ansible/alpha.yml", "additions": 8, "deletions": 0, "changes": 0}));
    assert!(rep["commitUrl"].as_str().unwrap().ends_with(&format!("/git/backup/commit/{}", rep["commitId"].as_str().unwrap())));

    // 2. nothing changed: no commit, no push
    let r = run(&request);
    assert!(report(&r)["commitId"].is_null(), "{r}");
    assert_eq!(report(&r)["pushAttempts"], 0);
    assert_eq!(repo.commit_count("main"), 2);

    // 3. one flow edited: one commit touching one file, counted as one changed line
    stub.set_flow("ansible", "beta", &flow_text("beta", "ansible", "edited"));
    let r = run(&request);
    assert_eq!(repo.commit_count("main"), 3);
    assert_eq!(repo.last_commit_paths("main"), ["flows/ansible/beta.yml"]);
    assert_eq!(report(&r)["diff"], json!([{"file": "flows/ansible/beta.yml", "additions": 0, "deletions": 0, "changes": 1}]));

    // 4. a flow and a file removed in Kestra are removed from Git; README.md stays
    stub.delete_flow("ansible", "gamma");
    stub.delete_file("ansible", "empty.txt");
    let r = run(&request);
    assert_eq!(repo.last_commit_paths("main"), ["flows/ansible/gamma.yml", "scripts/ansible/empty.txt"]);
    assert_eq!(report(&r)["sources"][0]["deleted"], 1);
    assert_eq!(repo.show("main", "README.md"), b"kept\n");

    // 5. Kestra suddenly returns no flows: the guard refuses, the repository is untouched
    for id in ["alpha", "beta"] {
        stub.delete_flow("ansible", id);
    }
    let before = repo.git(&["rev-parse", "main"]);
    let r = run(&request);
    assert_eq!(error_code(&r), "DeletionGuard");
    assert!(r.pointer("/error/message").unwrap().as_str().unwrap().contains("allowEmptyExport"));
    assert_eq!(repo.git(&["rev-parse", "main"]), before);

    // ... unless the request allows it
    let mut allowed = request.clone();
    allowed["guard"] = json!({"allowEmptyExport": true});
    report(&run(&allowed));
    assert!(!repo.files("main").iter().any(|f| f.starts_with("flows/")));
}

#[test]
fn whole_instance_in_one_commit_with_discovered_namespaces() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("instance"));
    let stub = KestraStub::start();
    stub.set_flow("company.team", "etl", &flow_text("etl", "company.team", "etl"));
    stub.set_flow("company.team.crm", "sync", &flow_text("sync", "company.team.crm", "sync"));
    stub.set_flow("companyx", "other", &flow_text("other", "companyx", "x"));
    // `company` holds no flow, only shared files: found as the parent of `company.team`.
    stub.put_file("company", "shared/lib.py", b"def f(): pass\n");
    stub.put_file("company.team", "run.sh", b"#!/bin/sh\n");
    stub.put_file("company.team", ".kestraignore", b"*.tmp\n");
    stub.put_file("company.team", "scratch.tmp", b"ignored\n");
    stub.put_file("companyx", "no.txt", b"sibling\n");
    let discover = |kind: &str, dir: &str| json!({"kind": kind, "namespaces": {"discover": {"prefix": "company"}}, "gitDirectory": dir});
    let mut git = https(&server, "instance");
    git["commitMessage"] = json!("Backup of the Kestra instance");
    let request = json!({"kestra": kestra(&stub), "git": git,
        "sources": [discover("flows", "flows"), discover("namespaceFiles", "files")]});

    let r = run(&request);
    assert_eq!(repo.commit_count("main"), 1, "one commit for every namespace: {r}");
    assert_eq!(
        repo.files("main"),
        [
            "files/company.team/.kestraignore",
            "files/company.team/run.sh",
            "files/company/shared/lib.py",
            "flows/company.team.crm/sync.yml",
            "flows/company.team/etl.yml",
        ],
        "the sibling `companyx` is not under `company`; `.kestraignore` applies per namespace"
    );
    assert_eq!(report(&r)["sources"][1]["ignored"], 1);

    // A namespace's last flow removed: its directory goes, in one commit, the rest stays.
    stub.delete_flow("company.team.crm", "sync");
    run(&request);
    assert_eq!(repo.commit_count("main"), 2);
    assert_eq!(repo.last_commit_paths("main"), ["flows/company.team.crm/sync.yml"]);

    // The tree's last flow removed (allowed: the flows directory empties): Kestra's namespace
    // list no longer names `company` or `company.team`, but their files are still there, so the
    // backup keeps them.
    stub.delete_flow("company.team", "etl");
    let mut request = request;
    request["guard"] = json!({"allowEmptyExport": true});
    let r = run(&request);
    assert_eq!(repo.commit_count("main"), 3, "{r}");
    assert_eq!(repo.last_commit_paths("main"), ["flows/company.team/etl.yml"]);
    assert_eq!(repo.files("main"), ["files/company.team/.kestraignore", "files/company.team/run.sh", "files/company/shared/lib.py"]);
    // ... until Kestra deletes them too.
    stub.delete_file("company.team", "run.sh");
    run(&request);
    assert_eq!(repo.last_commit_paths("main"), ["files/company.team/run.sh"]);
}

#[test]
fn restore_and_drill_bring_the_backup_back_into_kestra() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("restore"));
    let stub = KestraStub::start();
    stub.set_flow("company", "etl", &flow_text("etl", "company", "etl"));
    stub.set_flow("company.team", "report", &flow_text("report", "company.team", "report"));
    stub.put_file("company", "lib/a.py", b"print('a')\n");
    stub.put_file("company.team", "bin/blob.bin", &[0u8, 159, 146, 150, 0, 1]);
    let backup = instance_backup(&stub, &server, "restore", "");
    report(&run(&backup));
    let job = |name: &str, options: Value| as_job(&backup, name, options);
    let summary = |r: &Value| report(r)["restore"].clone();

    // An intact instance: the drill validates every flow of the backup and finds no drift.
    let r = run(&job("drill", json!({})));
    assert_eq!(summary(&r)["inSync"], 4, "{r}");
    assert_eq!(summary(&r)["flowsValidated"], 2);
    assert_eq!(summary(&r)["drift"], json!([]));

    // Disaster: Kestra lost everything. The drill reports it (and fails only when asked to).
    let lost = {
        let mut model = stub.model.lock().unwrap();
        (std::mem::take(&mut model.flows), std::mem::take(&mut model.files))
    };
    let r = run(&job("drill", json!({})));
    assert_eq!(summary(&r)["missingInKestra"], 4);
    let r = run(&job("drill", json!({"failOnDrift": true})));
    assert_eq!(error_code(&r), "Drift");
    assert!(r.to_string().contains("`flows/company/etl.yml` missingInKestra"), "{r}");

    // A dry run restores nothing; the restore brings back every flow and file, byte for byte.
    let mut dry = job("restore", json!({}));
    dry["dryRun"] = json!(true);
    report(&run(&dry));
    assert!(stub.model.lock().unwrap().flows.is_empty());
    let r = run(&job("restore", json!({})));
    assert_eq!((summary(&r)["restoredFlows"].clone(), summary(&r)["restoredFiles"].clone()), (json!(2), json!(2)), "{r}");
    {
        let model = stub.model.lock().unwrap();
        assert_eq!(model.files, lost.1);
        assert_eq!(model.flows.keys().collect::<Vec<_>>(), lost.0.keys().collect::<Vec<_>>());
    }
    let r = run(&backup);
    assert!(report(&r)["commitId"].is_null(), "backup → restore → backup is exact: {r}");

    // Kestra edits a flow and gains one: a restore keeps both unless `overwrite` is set; never deletes.
    stub.set_flow("company", "etl", &flow_text("etl", "company", "edited in Kestra"));
    stub.set_flow("company", "new", &flow_text("new", "company", "new"));
    let r = run(&job("restore", json!({})));
    assert_eq!(summary(&r)["differing"], 1);
    assert_eq!(summary(&r)["onlyInKestra"], 1);
    assert_eq!(summary(&r)["restoredFlows"], 0);
    assert!(stub.model.lock().unwrap().flows[&("company".to_string(), "etl".to_string())].contains("edited in Kestra"));
    let r = run(&job("restore", json!({"overwrite": true})));
    assert_eq!(summary(&r)["restoredFlows"], 1);
    let model_flows = stub.model.lock().unwrap().flows.clone();
    assert_eq!(model_flows[&("company".to_string(), "etl".to_string())], flow_text("etl", "company", "etl"));
    assert!(model_flows.contains_key(&("company".to_string(), "new".to_string())), "a restore never deletes");

    // A flow Kestra refuses stops the restore before anything is written, naming the file.
    stub.set_flow("company", "broken", &flow_text("broken", "company", "INVALID"));
    report(&run(&backup));
    stub.model.lock().unwrap().flows.clear();
    let r = run(&job("restore", json!({})));
    assert_eq!(error_code(&r), "InvalidBackup");
    assert!(r.to_string().contains("`flows/company/broken.yml`: tasks[0].type: Invalid type"), "{r}");
    assert!(stub.model.lock().unwrap().flows.is_empty(), "nothing restored");
    assert_eq!(error_code(&run(&job("drill", json!({})))), "InvalidBackup");
    let (ok, _, stderr) = run_cli(&job("drill", json!({})));
    assert!(!ok && stderr.contains("error[InvalidBackup]") && stderr.contains("flows/company/broken.yml"), "{stderr}");
    assert_eq!(repo.commit_count("main"), 2, "restores and drills never write to Git");
}

#[test]
fn a_single_namespace_backup_restores_with_its_child_namespaces() {
    let server = GitServer::start();
    server.repo("single");
    let stub = KestraStub::start();
    stub.set_flow("company", "etl", &flow_text("etl", "company", "etl"));
    stub.set_flow("company.team.crm", "sync", &flow_text("sync", "company.team.crm", "sync"));
    stub.put_file("company", "lib/a.py", b"a\n");
    // PushFlows (includeChildNamespaces) and PushNamespaceFiles with their default directories.
    let backup = json!({"kestra": kestra(&stub), "git": https(&server, "single"), "sources": [
        {"kind": "flows", "namespaces": {"one": {"namespace": "company", "includeChildren": true}}, "gitDirectory": "_flows"},
        {"kind": "namespaceFiles", "namespaces": {"one": {"namespace": "company"}}, "gitDirectory": "_files"}]});
    report(&run(&backup));
    let (flows, files) = {
        let mut model = stub.model.lock().unwrap();
        (std::mem::take(&mut model.flows), std::mem::take(&mut model.files))
    };
    let mut restore = backup.clone();
    restore["job"] = json!("restore");
    let r = run(&restore);
    assert_eq!(report(&r)["restore"]["restoredFlows"], 2, "{r}");
    let model = stub.model.lock().unwrap();
    assert_eq!(model.flows.keys().collect::<Vec<_>>(), flows.keys().collect::<Vec<_>>(), "the child namespace's flow is back in `company.team.crm`");
    assert_eq!(model.files, files);
}

#[test]
fn a_mirror_gets_the_same_content_on_its_own_history() {
    let server = GitServer::start();
    let primary = ServerRepo(server.repo("primary"));
    let mirror = ServerRepo(server.repo("mirror"));
    let stub = KestraStub::start();
    stub.set_flow("ansible", "a", &flow_text("a", "ansible", "a"));
    stub.put_file("ansible", "x.txt", b"x\n");
    let with_pin = |pin: &str| {
        let mut git = https(&server, "primary");
        // Another transport and other credentials than the primary: SSH with a key.
        git["mirrors"] = json!([{"url": server.ssh_url("mirror"), "privateKey": server.key("KEY_ED25519"), "hostKeyFingerprint": pin}]);
        json!({"kestra": kestra(&stub), "git": git, "sources": [flows_source("ansible"), files_source("ansible")]})
    };
    let pin = server.get("SSH_HOST_FINGERPRINT").to_string();
    let tree = |repo: &ServerRepo| repo.git(&["rev-parse", "main^{tree}"]);

    let r = run(&with_pin(&pin));
    assert_eq!((primary.commit_count("main"), mirror.commit_count("main")), (1, 1), "{r}");
    assert_eq!(tree(&primary), tree(&mirror), "the same content");
    assert_eq!(report(&r)["mirrors"][0]["commitId"].as_str().unwrap(), mirror.git(&["rev-parse", "main"]).trim());
    report(&run(&with_pin(&pin)));
    assert_eq!((primary.commit_count("main"), mirror.commit_count("main")), (1, 1), "no change, no commit on either");

    // The mirror fails (its host key does not match the pin): the primary still gets its commit,
    // and the task fails saying so.
    stub.set_flow("ansible", "a", &flow_text("a", "ansible", "edited"));
    let r = run(&with_pin("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
    assert_eq!(error_code(&r), "Tls", "{r}");
    let message = r.pointer("/error/message").unwrap().as_str().unwrap();
    assert!(message.starts_with("the backup was pushed (") && message.contains("but the mirror ssh://"), "{message}");
    assert!(!message.contains(server.key("KEY_ED25519").lines().nth(1).unwrap()));
    assert_eq!((primary.commit_count("main"), mirror.commit_count("main")), (2, 1));

    // Fixed: the primary needs nothing, the mirror catches up with one commit.
    let r = run(&with_pin(&pin));
    assert!(report(&r)["commitId"].is_null());
    assert_eq!((primary.commit_count("main"), mirror.commit_count("main")), (2, 2));
    assert_eq!(tree(&primary), tree(&mirror));
}

#[test]
fn dry_run_pushes_nothing_and_reports_the_diff() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("dry"));
    let stub = KestraStub::start();
    stub.set_flow("outputs", "one", &flow_text("one", "outputs", "1"));
    let mut request = json!({"kestra": kestra(&stub), "git": https(&server, "dry"), "sources": [flows_source("outputs")]});
    request["dryRun"] = json!(true);
    let r = run(&request);
    assert!(report(&r)["commitId"].is_null());
    assert_eq!(report(&r)["diff"][0]["file"], "flows/outputs/one.yml");
    assert_eq!(repo.commit_count("main"), 0);
}

#[test]
fn concurrent_runs_on_one_branch_both_land_without_force() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("race"));
    let stub = KestraStub::start();
    for i in 0..20 {
        stub.set_flow("posting", &format!("p{i}"), &flow_text(&format!("p{i}"), "posting", "p"));
        stub.set_flow("proxmox", &format!("x{i}"), &flow_text(&format!("x{i}"), "proxmox", "x"));
    }
    // Seed the branch so both runs start from the same tip.
    stub.set_flow("outputs", "seed", &flow_text("seed", "outputs", "s"));
    report(&run(&json!({"kestra": kestra(&stub), "git": https(&server, "race"), "sources": [flows_source("outputs")]})));
    let a = json!({"kestra": kestra(&stub), "git": https(&server, "race"), "sources": [flows_source("posting")]});
    let b = json!({"kestra": kestra(&stub), "git": https(&server, "race"), "sources": [flows_source("proxmox")]});
    for round in 0..3 {
        if round > 0 {
            stub.set_flow("posting", "p0", &flow_text("p0", "posting", &format!("round {round}")));
            stub.set_flow("proxmox", "x0", &flow_text("x0", "proxmox", &format!("round {round}")));
        }
        let (ra, rb) = run_cli_together(&a, &b);
        assert!(ra.0 && rb.0, "round {round}: a: {}\nb: {}", ra.2, rb.2);
    }
    let files = repo.files("main");
    assert_eq!(files.iter().filter(|f| f.starts_with("flows/posting/")).count(), 20);
    assert_eq!(files.iter().filter(|f| f.starts_with("flows/proxmox/")).count(), 20);
    assert!(String::from_utf8(repo.show("main", "flows/posting/p0.yml")).unwrap().contains("round 2"));
    assert!(String::from_utf8(repo.show("main", "flows/proxmox/x0.yml")).unwrap().contains("round 2"));
    // Linear history (no merge), every run's commit on it: seed, then 2 per round.
    assert_eq!(repo.git(&["rev-list", "--merges", "--count", "main"]).trim(), "0");
    assert_eq!(repo.commit_count("main"), 7);
}

#[test]
fn runs_sharing_a_cache_directory_take_turns() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("shared-cache"));
    let stub = KestraStub::start();
    for i in 0..30 {
        stub.set_flow("posting", &format!("p{i}"), &flow_text(&format!("p{i}"), "posting", "p"));
        stub.put_file("proxmox", &format!("vm{i}.conf"), format!("cores: {i}\n").as_bytes());
    }
    let cache = tempfile::tempdir().unwrap();
    let mut git = https(&server, "shared-cache");
    git["cacheDir"] = json!(cache.path());
    let a = json!({"kestra": kestra(&stub), "git": git, "sources": [flows_source("posting")]});
    let b = json!({"kestra": kestra(&stub), "git": git, "sources": [files_source("proxmox")]});
    for round in 0..4 {
        stub.set_flow("posting", "p0", &flow_text("p0", "posting", &format!("round {round}")));
        stub.put_file("proxmox", "vm0.conf", format!("round {round}\n").as_bytes());
        let (ra, rb) = run_cli_together(&a, &b);
        assert!(ra.0 && rb.0, "round {round}: a: {}\nb: {}", ra.2, rb.2);
    }
    assert_eq!(repo.commit_count("main"), 8, "both runs of every round landed");
    assert!(String::from_utf8(repo.show("main", "scripts/proxmox/vm0.conf")).unwrap().contains("round 3"));
    let fsck = Command::new("git").arg("-C").arg(cache.path()).args(["fsck", "--connectivity-only"]).output().unwrap();
    assert!(fsck.status.success(), "the shared cache is intact: {}", String::from_utf8_lossy(&fsck.stderr));
}

#[test]
fn wrong_token_fails_with_auth_error_without_the_secret() {
    let server = GitServer::start();
    server.repo("auth");
    let stub = KestraStub::start();
    stub.set_flow("ansible", "a", &flow_text("a", "ansible", "a"));
    let mut git = https(&server, "auth");
    git["password"] = json!("wrong-token-value-123");
    let before = server.http_requests();
    let r = run(&json!({"kestra": kestra(&stub), "git": git, "sources": [flows_source("ansible")]}));
    assert_eq!(error_code(&r), "Auth");
    let text = r.to_string();
    assert!(text.contains("tried HTTP basic as `tester`"), "{text}");
    assert!(!text.contains("wrong-token-value-123"));
    // The credentials were offered once: a handful of requests, not a replay loop.
    assert!(server.http_requests() - before <= 4, "{} requests", server.http_requests() - before);

    // A wrong Kestra password: Auth error naming the method, not the value.
    let mut k = kestra(&stub);
    k["auth"]["basic"]["password"] = json!("bad-kestra-password");
    let r = run(&json!({"kestra": k, "git": https(&server, "auth"), "sources": [flows_source("ansible")]}));
    assert_eq!(error_code(&r), "Auth");
    assert!(!r.to_string().contains("bad-kestra-password"));

    // A bearer token, which Kestra OSS never accepts: the error says so and names basic auth.
    let mut k = kestra(&stub);
    k["auth"] = json!({"bearer": {"token": "kestra-token-value-42"}});
    let r = run(&json!({"kestra": k, "git": https(&server, "auth"), "sources": [flows_source("ansible")]}));
    assert_eq!(error_code(&r), "Auth");
    let message = r.pointer("/error/message").unwrap().as_str().unwrap();
    assert!(message.contains("Kestra OSS has no API tokens") && message.contains("`auth.username`/`auth.password`"), "{message}");
    assert!(!message.contains("kestra-token-value-42"));
}

#[test]
fn untrusted_certificate_is_refused_and_accepted_with_the_ca_file() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("tls"));
    let stub = KestraStub::start();
    stub.set_flow("ansible", "a", &flow_text("a", "ansible", "a"));
    let mut without_ca = https(&server, "tls");
    without_ca.as_object_mut().unwrap().remove("trustedCaPemPath");
    let (ok, _, err) = run_cli(&json!({"kestra": kestra(&stub), "git": without_ca, "sources": [flows_source("ansible")]}));
    assert!(!ok);
    assert!(err.contains("error[Tls]") && err.contains("trustedCaPemPath"), "{err}");
    assert!(!err.contains(server.token()));

    // In one process (a worker JVM): the CA given to one run is not trusted by the next run.
    let r = run(&json!({"kestra": kestra(&stub), "git": https(&server, "tls"), "sources": [flows_source("ansible")]}));
    assert!(r.get("report").is_some(), "{r}");
    assert_eq!(repo.files("main"), ["flows/ansible/a.yml"]);
    stub.set_flow("ansible", "b", &flow_text("b", "ansible", "b"));
    let r = run(&json!({"kestra": kestra(&stub), "git": without_ca, "sources": [flows_source("ansible")]}));
    assert_eq!(error_code(&r), "Tls", "{r}");
    assert_eq!(repo.files("main"), ["flows/ansible/a.yml"]);
}

#[test]
fn ssh_keys_with_and_without_passphrase_and_host_key_pin() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("ssh"));
    let stub = KestraStub::start();
    stub.set_flow("ansible", "a", &flow_text("a", "ansible", "a"));
    let ssh = |key: &str, passphrase: Option<&str>, pin: Option<&str>| {
        let mut git = json!({"url": server.ssh_url("ssh"), "privateKey": server.key(key), "hostKeyFingerprint": pin});
        if let Some(p) = passphrase {
            git["passphrase"] = json!(p);
        }
        json!({"kestra": kestra(&stub), "git": git, "sources": [flows_source("ansible")]})
    };
    let pin = server.get("SSH_HOST_FINGERPRINT").to_string();
    // passphrase-protected OpenSSH ed25519 key, host key pinned
    report(&run(&ssh("KEY_ED25519_PASS", Some(server.get("SSH_PASSPHRASE")), Some(&pin))));
    assert_eq!(repo.files("main"), ["flows/ansible/a.yml"]);
    // PEM RSA key
    stub.set_flow("ansible", "b", &flow_text("b", "ansible", "b"));
    report(&run(&ssh("KEY_RSA_PEM", None, None)));
    assert_eq!(repo.files("main").len(), 2);
    // passphrase-protected PEM ECDSA key, as plugin-git's docs have users make it
    stub.set_flow("ansible", "c", &flow_text("c", "ansible", "c"));
    report(&run(&ssh("KEY_ECDSA_PEM_PASS", Some(server.get("SSH_PASSPHRASE")), Some(&pin))));
    assert_eq!(repo.files("main").len(), 3);
    // the passphrase key without its passphrase: Auth, no key material in the message
    let r = run(&ssh("KEY_ED25519_PASS", None, None));
    assert_eq!(error_code(&r), "Auth", "{r}");
    assert!(!r.to_string().contains("PRIVATE KEY"));
    // a wrong pin is refused
    let r = run(&ssh("KEY_ED25519", None, Some("SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")));
    assert_eq!(error_code(&r), "Tls", "{r}");
    assert!(r.to_string().contains(&pin));
}

#[test]
fn commits_signed_with_an_ssh_key_verify_with_git() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("signed"));
    let stub = KestraStub::start();
    stub.set_flow("ansible", "a", &flow_text("a", "ansible", "a"));
    let signed = |key: &str, passphrase: Option<&str>| {
        let mut git = https(&server, "signed");
        git["signingKey"] = json!(server.key(key));
        git["signingKeyPassphrase"] = json!(passphrase);
        json!({"kestra": kestra(&stub), "git": git, "sources": [flows_source("ansible")]})
    };
    let passphrase = server.get("SSH_PASSPHRASE").to_string();

    // A bad key or passphrase fails before anything is pushed, naming the property, hiding the values.
    for (key, pass, field) in [("KEY_ED25519_PASS", Some("wrong-passphrase-42"), "`git.signingKeyPassphrase`"), ("KEY_ED25519_PASS", None, "`git.signingKeyPassphrase`"), ("KEY_RSA_PEM", None, "`git.signingKey`")] {
        let r = run(&signed(key, pass));
        assert_eq!(error_code(&r), "InvalidConfig", "{r}");
        let message = r.pointer("/error/message").unwrap().as_str().unwrap();
        assert!(message.starts_with(field), "{message}");
        let key_body = server.key(key).lines().nth(1).unwrap().to_string();
        assert!(!message.contains("wrong-passphrase-42") && !message.contains(&key_body), "{message}");
    }
    assert_eq!(repo.commit_count("main"), 0);

    report(&run(&signed("KEY_ED25519_PASS", Some(&passphrase))));
    let verify = |signer_key: &str| server.verify_ssh_signature(&repo, "verify-commit", "main", signer_key);
    let (ok, said) = verify("KEY_ED25519_PASS");
    assert!(ok && said.contains("Good \"git\" signature for bot@example.com"), "{said}");
    let (ok, said) = verify("KEY_ED25519");
    assert!(!ok, "another key must not verify the commit: {said}");
    assert!(repo.git(&["cat-file", "commit", "main"]).contains("gpgsig -----BEGIN SSH SIGNATURE-----"));
}

#[test]
fn commits_signed_with_an_openpgp_key_verify_with_git() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("pgp"));
    let stub = KestraStub::start();
    let gpg = GpgHome::new();
    let passphrase = "pgp-pass-8f3k2";
    let (with_subkey, subkey) = gpg.make_key("Backup Bot <bot@example.com>", passphrase, true);
    let (rsa_primary, rsa) = gpg.make_key("RSA Bot <rsa@example.com>", "", false);
    let signed = |key: &str, passphrase: Option<&str>| {
        let mut git = https(&server, "pgp");
        git["signingKey"] = json!(key);
        git["signingKeyPassphrase"] = json!(passphrase);
        json!({"kestra": kestra(&stub), "git": git, "sources": [flows_source("ansible")]})
    };

    for (pass, says) in [(Some("wrong-passphrase-42"), "does not decrypt"), (None, "is missing")] {
        let r = run(&signed(&with_subkey, pass));
        assert_eq!(error_code(&r), "InvalidConfig", "{r}");
        let message = r.pointer("/error/message").unwrap().as_str().unwrap();
        assert!(message.starts_with("`git.signingKeyPassphrase`") && message.contains(says), "{message}");
        assert!(!message.contains("wrong-passphrase-42") && !message.contains(with_subkey.lines().nth(3).unwrap()), "{message}");
    }
    assert_eq!(repo.commit_count("main"), 0);

    // Signed with the signing subkey, as gpg would; passphrase-protected.
    stub.set_flow("ansible", "a", &flow_text("a", "ansible", "a"));
    report(&run(&signed(&with_subkey, Some(passphrase))));
    let (ok, said, signer) = gpg.verify_commit(&repo.0, "main");
    assert!(ok && said.contains("Good signature from \"Backup Bot <bot@example.com>\""), "{said}");
    assert_eq!(signer, subkey, "the signing subkey signs, not the certify-only primary key");
    assert!(repo.git(&["cat-file", "commit", "main"]).contains("gpgsig -----BEGIN PGP SIGNATURE-----"));

    // An RSA key whose primary key signs, without a passphrase.
    stub.set_flow("ansible", "b", &flow_text("b", "ansible", "b"));
    report(&run(&signed(&rsa_primary, None)));
    let (ok, said, signer) = gpg.verify_commit(&repo.0, "main");
    assert!(ok && said.contains("Good signature from \"RSA Bot <rsa@example.com>\""), "{said}");
    assert_eq!(signer, rsa);
}

#[test]
fn unsafe_names_and_retries() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("misc"));
    let stub = KestraStub::start();
    stub.put_file("ansible", "../../outside.txt", b"x");
    let r = run(&json!({"kestra": kestra(&stub), "git": https(&server, "misc"), "sources": [files_source("ansible")]}));
    assert_eq!(error_code(&r), "UnsafePath");
    assert!(r.to_string().contains("../../outside.txt"));
    assert_eq!(repo.commit_count("main"), 0);

    // Two 503s, then success: retried (the core's backoff is short for the first tries).
    stub.delete_file("ansible", "../../outside.txt");
    stub.set_flow("ansible", "ok", &flow_text("ok", "ansible", "ok"));
    stub.fail_next(2, 503);
    let before = stub.request_count();
    let r = run(&json!({"kestra": kestra(&stub), "git": https(&server, "misc"), "sources": [flows_source("ansible")]}));
    report(&r);
    assert_eq!(stub.request_count() - before, 3);
    assert_eq!(repo.files("main"), ["flows/ansible/ok.yml"]);
}

#[test]
fn a_rejected_push_keeps_the_commit_as_a_bundle_and_a_broken_cache_is_rebuilt() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("guarded"));
    let stub = KestraStub::start();
    stub.set_flow("ansible", "a", &flow_text("a", "ansible", "a"));
    let bundles = tempfile::tempdir().unwrap();
    let mut git = https(&server, "guarded");
    git["unpushedDir"] = json!(bundles.path());
    let without_cache = json!({"kestra": kestra(&stub), "git": git.clone(), "sources": [flows_source("ansible")]});
    report(&run(&without_cache));

    // A protected branch: the server's hook refuses every push.
    let hook = repo.0.join("hooks/pre-receive");
    let protect = || {
        std::fs::write(&hook, "#!/bin/sh\necho 'GitLab: You are not allowed to push code to protected branches on this project.' >&2\nexit 1\n").unwrap();
        std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    };
    protect();
    stub.set_flow("ansible", "b", &flow_text("b", "ansible", "b"));
    let r = run(&without_cache);
    assert_eq!(error_code(&r), "PushRejected", "{r}");
    assert!(r.to_string().contains("not allowed to push") && r.to_string().contains("saved as a Git bundle"), "{r}");
    let kept = r.pointer("/error/localCommit").and_then(Value::as_str).expect("the local commit is reported").to_string();
    let bundle = r.pointer("/error/unpushedBundle").and_then(Value::as_str).expect("the bundle is reported").to_string();
    assert!(bundle.starts_with(bundles.path().to_str().unwrap()), "{bundle}");
    assert_eq!(repo.files("main"), ["flows/ansible/a.yml"]);

    // The temporary repository is gone, the commit is not: a clone of the branch pulls it from the
    // bundle (git checks the bundle's prerequisite) and pushes it once the branch is open again.
    let clone = tempfile::tempdir().unwrap();
    let git_in = |dir: &std::path::Path, args: &[&str]| {
        let out = Command::new("git").arg("-C").arg(dir).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git_in(clone.path(), &["clone", "-q", repo.0.to_str().unwrap(), "work"]);
    let work = clone.path().join("work");
    git_in(&work, &["bundle", "verify", &bundle]);
    git_in(&work, &["pull", "-q", "--ff-only", &bundle, "main"]);
    assert_eq!(git_in(&work, &["rev-parse", "HEAD"]), kept);
    std::fs::remove_file(&hook).unwrap();
    git_in(&work, &["push", "-q", "origin", "main"]);
    assert_eq!(repo.git(&["rev-parse", "main"]).trim(), kept);
    assert_eq!(repo.files("main"), ["flows/ansible/a.yml", "flows/ansible/b.yml"]);

    // With a cache directory the commit also stays in the cache.
    let cache = tempfile::tempdir().unwrap();
    git["cacheDir"] = json!(cache.path());
    let request = json!({"kestra": kestra(&stub), "git": git, "sources": [flows_source("ansible")]});
    protect();
    stub.set_flow("ansible", "c", &flow_text("c", "ansible", "c"));
    let r = run(&request);
    assert_eq!(error_code(&r), "PushRejected", "{r}");
    let kept = r.pointer("/error/localCommit").and_then(Value::as_str).expect("the local commit is reported").to_string();
    let cached = Command::new("git").arg("-C").arg(cache.path()).args(["cat-file", "-t", &kept]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&cached.stdout).trim(), "commit", "the commit stays in the cache");

    // The branch is unprotected and the cache damaged: the cache is rebuilt once and the push lands.
    std::fs::remove_file(&hook).unwrap();
    std::fs::write(cache.path().join("HEAD"), "garbage").unwrap();
    std::fs::remove_dir_all(cache.path().join("objects")).unwrap();
    let r = run(&request);
    assert_eq!(report(&r)["commitId"].as_str().unwrap(), repo.git(&["rev-parse", "main"]).trim());
    assert_eq!(repo.files("main"), ["flows/ansible/a.yml", "flows/ansible/b.yml", "flows/ansible/c.yml"]);
}

/// Commits `files` (path, text) to the branch by hand, as an older release or a person would.
fn commit_by_hand(repo: &ServerRepo, files: &[(String, String)]) {
    let work = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| assert!(Command::new("git").current_dir(work.path()).args(args).status().unwrap().success());
    git(&["clone", "-q", repo.0.to_str().unwrap(), "."]);
    for (path, text) in files {
        let file = work.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
    git(&["add", "."]);
    git(&["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "by hand"]);
    git(&["push", "-q", "origin", "main"]);
}

#[test]
fn flow_copies_under_flows_in_namespace_files_are_never_backed_up_restored_or_counted_by_the_guard() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("bundled"));
    let stub = KestraStub::start();
    stub.set_flow("company", "etl", &flow_text("etl", "company", "etl"));
    stub.put_file("company", "lib/a.py", b"a\n");
    stub.put_file("company", "lib/b.py", b"b\n");
    stub.model.lock().unwrap().bundle_flows = true;
    let backup = instance_backup(&stub, &server, "bundled", "company");

    // The server bundles `_flows/etl.yml` into the namespace files: the backup leaves it out.
    let (r, log) = run_logged(&backup);
    report(&r);
    assert_eq!(repo.files("main"), ["files/company/lib/a.py", "files/company/lib/b.py", "flows/company/etl.yml"]);
    assert!(log.iter().any(|l| l.contains("left out 1 `_flows/` entry")), "{log:?}");

    // A backup written by an older release holds the copies (an old one of etl, and 12 more).
    let mut copies = vec![("files/company/_flows/etl.yml".to_string(), flow_text("etl", "company", "an old copy"))];
    copies.extend((0..12).map(|i| (format!("files/company/_flows/gone{i}.yml"), flow_text(&format!("gone{i}"), "company", "copy"))));
    commit_by_hand(&repo, &copies);

    // The drill passes with `failOnDrift`: the copies are not the backup's files.
    let (r, log) = run_logged(&as_job(&backup, "drill", json!({"failOnDrift": true})));
    assert_eq!(report(&r)["restore"]["inSync"], 3, "{r}");
    assert!(log.iter().any(|l| l.contains("13 file(s) under `_flows/`") && l.contains("files/company/_flows/etl.yml")), "{log:?}");

    // A restore into an empty Kestra never sends a `_flows/` entry, which Kestra would import as
    // a flow (the stub does): the flow is the backup's, not the old copy; namespace files go first.
    {
        let mut model = stub.model.lock().unwrap();
        model.flows.clear();
        model.files.clear();
    }
    let r = run(&as_job(&backup, "restore", json!({})));
    assert_eq!(report(&r)["restore"]["restoredFiles"], 2, "{r}");
    {
        let model = stub.model.lock().unwrap();
        assert!(model.uploaded_entries.iter().all(|e| !e.starts_with("_flows")), "{:?}", model.uploaded_entries);
        assert_eq!(model.flows.keys().map(|(ns, id)| format!("{ns}.{id}")).collect::<Vec<_>>(), ["company.etl"]);
        assert_eq!(model.flows[&("company".to_string(), "etl".to_string())], flow_text("etl", "company", "etl"));
        assert_eq!(model.writes, ["upload zip company 2", "import zip 1"], "files first, then flows");
    }

    // The next backup removes the 13 copies in one commit, named in the log: they are not counted
    // as disappeared files (13 of 15 would trip the guard), whether the server still bundles ...
    let (r, log) = run_logged(&backup);
    report(&r);
    let mut removed: Vec<String> = copies.iter().map(|(p, _)| p.clone()).collect();
    removed.sort();
    assert_eq!(repo.last_commit_paths("main"), removed);
    assert!(log.iter().any(|l| l.contains("removing 13 copies of flows under `_flows/`") && l.contains("`files/company/_flows/etl.yml`")), "{log:?}");
    // ... or not.
    stub.model.lock().unwrap().bundle_flows = false;
    let before = repo.commit_count("main");
    let r = run(&backup);
    assert!(report(&r)["commitId"].is_null(), "{r}");
    assert_eq!(repo.commit_count("main"), before);
}

#[test]
fn a_restore_works_within_kestra_zip_limits_and_uploads_large_files_one_by_one() {
    let server = GitServer::start();
    server.repo("limits");
    let stub = KestraStub::start();
    for i in 0..7 {
        stub.set_flow("big", &format!("f{i}"), &flow_text(&format!("f{i}"), "big", "f"));
    }
    for i in 0..12 {
        stub.put_file("big", &format!("small/{i:02}.txt"), format!("{i}\n").as_bytes());
    }
    let blob: Vec<u8> = (0..3000u32).map(|i| (i * 7 % 251) as u8).collect();
    stub.put_file("big", "small/05b-large.bin", &blob);
    let backup = instance_backup(&stub, &server, "limits", "big");
    report(&run(&backup));
    let kestra_had = {
        let model = stub.model.lock().unwrap();
        (model.flows.clone(), model.files.clone())
    };
    let restore_with = |options: Value| {
        {
            let mut model = stub.model.lock().unwrap();
            model.flows.clear();
            model.files.clear();
            model.writes.clear();
        }
        let r = run(&as_job(&backup, "restore", options));
        let model = stub.model.lock().unwrap();
        assert_eq!((&model.flows, &model.files), (&kestra_had.0, &kestra_had.1), "everything restored: {r}");
        (report(&r)["restore"].clone(), model.writes.clone())
    };

    // An operator enabled the ZIP-bomb protection: at most 5 entries per archive, 2048 bytes per entry.
    stub.model.lock().unwrap().zip_limits = Some((5, 2048));
    // Archives of 8: refused for their entry count, sent again 5 per archive (and so are the next
    // ones); the one holding the large file is refused for its size, its entries go one by one.
    let (summary, writes) = restore_with(json!({"batchSize": 8}));
    assert_eq!((summary["restoredFiles"].clone(), summary["restoredFlows"].clone()), (json!(13), json!(7)));
    assert_eq!(
        writes,
        [
            "upload zip big 8", "refused 422", "upload zip big 5", "upload zip big 3", "refused 422",
            "upload file big /small/05.txt", "upload file big /small/05b-large.bin", "upload file big /small/06.txt",
            "upload zip big 5",
            "import zip 7", "refused 422", "import zip 5", "import zip 2",
        ]
    );

    // Files from `largeFileBytes` up go one by one from the start; the default batch fits the flows.
    stub.model.lock().unwrap().zip_limits = Some((100, 2048));
    let (_, writes) = restore_with(json!({"largeFileBytes": 2048}));
    assert_eq!(writes, ["upload file big /small/05b-large.bin", "upload zip big 12", "import zip 7"]);
}

#[test]
fn writes_wait_for_kestra_with_their_own_timeout_and_a_timed_out_write_says_what_to_do() {
    let server = GitServer::start();
    server.repo("slow");
    let stub = KestraStub::start();
    stub.set_flow("slow", "a", &flow_text("a", "slow", "a"));
    stub.put_file("slow", "x.txt", b"x\n");
    let backup = instance_backup(&stub, &server, "slow", "slow");
    report(&run(&backup));
    let restore = |write_timeout_ms: u64| {
        let mut request = as_job(&backup, "restore", json!({}));
        request["kestra"]["readTimeoutMs"] = json!(300);
        request["kestra"]["writeTimeoutMs"] = json!(write_timeout_ms);
        run(&request)
    };
    let lose_everything = || {
        let mut model = stub.model.lock().unwrap();
        model.flows.clear();
        model.files.clear();
    };

    // Kestra takes 1.5 s per write, longer than the read timeout: the write timeout applies.
    stub.model.lock().unwrap().write_delay = std::time::Duration::from_millis(1500);
    lose_everything();
    let r = restore(10_000);
    assert_eq!((report(&r)["restore"]["restoredFiles"].clone(), report(&r)["restore"]["restoredFlows"].clone()), (json!(1), json!(1)), "{r}");

    // A write that outlasts its timeout: the restore fails saying Kestra may still be applying it.
    lose_everything();
    let r = restore(500);
    assert_eq!(error_code(&r), "Network", "{r}");
    let message = r.pointer("/error/message").unwrap().as_str().unwrap();
    assert!(message.contains("Kestra may still be applying this batch; run the restore again to complete it") && message.contains("`kestra.writeTimeoutMs`"), "{message}");
    // Kestra did apply it (the files went first); running the restore again completes it.
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(stub.model.lock().unwrap().files.len(), 1);
    let r = restore(10_000);
    assert_eq!((report(&r)["restore"]["restoredFiles"].clone(), report(&r)["restore"]["restoredFlows"].clone()), (json!(0), json!(1)), "{r}");
}

#[test]
fn discovery_includes_the_system_flows_namespace_without_flows() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("system"));
    let stub = KestraStub::start();
    stub.set_flow("company", "etl", &flow_text("etl", "company", "etl"));
    stub.put_file("system", "shared/alerts.yml", b"to: ops\n");
    stub.put_file("ops.system", "x.txt", b"x\n");
    let files = json!({"kind": "namespaceFiles", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": "files"});
    report(&run(&json!({"kestra": kestra(&stub), "git": https(&server, "system"), "sources": [files]})));
    assert_eq!(repo.files("main"), ["files/system/shared/alerts.yml"], "Kestra lists `system` even without flows");

    // A server whose system flows live elsewhere (`kestra.system-flows.namespace`).
    let mut k = kestra(&stub);
    k["systemFlowsNamespace"] = json!("ops.system");
    report(&run(&json!({"kestra": k, "git": https(&server, "system"), "sources": [files]})));
    assert_eq!(repo.files("main"), ["files/ops.system/x.txt", "files/system/shared/alerts.yml"], "`system` stays: the backup holds it");
}
