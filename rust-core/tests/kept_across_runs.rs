//! What the core keeps across runs of one process (a worker JVM: parsed CA files, Kestra API
//! clients and their connections) never carries one run's trust into another: each run trusts
//! only its own `trustedCaPemPath` (Git) and its own `kestra.trustedCaPem` (Kestra API), in
//! whichever order the runs come.

mod support;

use serde_json::{Value, json};
use support::core_run::run;
use support::git_server::GitServer;

fn code(answer: &Value) -> &str {
    answer.pointer("/error/code").and_then(Value::as_str).unwrap_or("none")
}

fn files_backup(server: &GitServer, repo: &str, ca: &GitServer, dir: &std::path::Path) -> Value {
    let file = dir.join("util.py");
    std::fs::write(&file, format!("print('{repo}')\n")).unwrap();
    json!({
        "git": {"url": server.https_url(repo), "username": server.user(), "password": server.token(),
                "trustedCaPemPath": ca.ca_pem_path(), "commitMessage": "trust test"},
        "sources": [{"kind": "namespaceFiles", "namespaces": {"one": {"namespace": "ansible"}}, "gitDirectory": "scripts",
                     "providedFiles": [{"path": "util.py", "localPath": file}]}]
    })
}

#[test]
fn git_each_run_trusts_only_its_own_ca_file_before_and_after_the_other_succeeded() {
    let (a, b) = (GitServer::start(), GitServer::start());
    a.repo("t");
    b.repo("t");
    let dir = tempfile::tempdir().unwrap();
    for (server, own, other) in [(&a, &a, &b), (&b, &b, &a)] {
        let wrong = run(&files_backup(server, "t", other, dir.path()));
        assert_eq!(code(&wrong), "Tls", "{wrong}");
        assert!(wrong["error"]["message"].as_str().unwrap().contains("trustedCaPemPath"), "{wrong}");
        let right = run(&files_backup(server, "t", own, dir.path()));
        assert!(right["report"]["commitId"].is_string(), "{right}");
        let wrong = run(&files_backup(server, "t", other, dir.path()));
        assert_eq!(code(&wrong), "Tls", "after a run that trusted the right CA: {wrong}");
    }
    // The same CA content at another path is the same trust.
    let copy = dir.path().join("copy.pem");
    std::fs::copy(a.ca_pem_path(), &copy).unwrap();
    let mut request = files_backup(&a, "t", &a, dir.path());
    request["git"]["trustedCaPemPath"] = json!(copy);
    let answer = run(&request);
    assert!(answer.get("report").is_some(), "{answer}");
}

/// The Kestra API at an HTTPS server of the test's own CA (the Git server's lighttpd: it answers
/// the API path with an HTTP error, after the TLS handshake); the Git side is a local repository.
fn api_backup(server: &GitServer, ca: &GitServer, repo: &std::path::Path) -> Value {
    json!({
        "kestra": {"url": format!("https://127.0.0.1:{}", server.get("HTTPS_PORT")),
                   "trustedCaPem": std::fs::read_to_string(ca.ca_pem_path()).unwrap(), "maxRetries": 0},
        "git": {"url": repo, "commitMessage": "trust test"},
        "sources": [{"kind": "flows", "namespaces": {"one": {"namespace": "ansible"}}, "gitDirectory": "flows"}]
    })
}

#[test]
fn kestra_api_each_run_trusts_only_its_own_ca_bundle_whatever_client_was_kept() {
    let (a, b) = (GitServer::start(), GitServer::start());
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("local.git");
    git2::Repository::init_bare(&repo).unwrap();
    for (server, own, other) in [(&a, &a, &b), (&b, &b, &a)] {
        let wrong = run(&api_backup(server, other, &repo));
        assert_eq!(code(&wrong), "Tls", "{wrong}");
        let right = run(&api_backup(server, own, &repo));
        // Past the handshake: the web server, not being Kestra, answers with an HTTP error.
        assert!(matches!(code(&right), "KestraApi" | "Auth"), "{right}");
        assert!(right["error"]["message"].as_str().unwrap().contains("answered"), "{right}");
        let wrong = run(&api_backup(server, other, &repo));
        assert_eq!(code(&wrong), "Tls", "after a run that trusted the right CA: {wrong}");
    }
}

/// The Git side: without `git.cacheDir`, the process keeps one work repository per remote URL. The
/// next run to the URL finds the tip it pushed and fetches nothing, a run after another writer
/// fetches and builds on that writer's commit, and one run's `git.config` never reaches the next.
#[test]
fn git_work_repository_kept_per_remote_reuses_the_tip_and_nothing_of_one_run_reaches_the_next() {
    let server = GitServer::start();
    let repo = support::git_server::ServerRepo(server.repo("kept"));
    let dir = tempfile::tempdir().unwrap();
    let backup = |content: &str, config: Value| {
        let mut request = files_backup(&server, "kept", &server, dir.path());
        std::fs::write(dir.path().join("util.py"), content).unwrap();
        request["git"]["config"] = config;
        let answer = run(&request);
        assert!(answer.get("report").is_some(), "{answer}");
        answer["report"].clone()
    };
    let author = || repo.git(&["log", "-1", "--format=%an", "main"]).trim().to_string();

    let first = backup("one\n", json!({"user.name": "Only The First Run"}));
    assert_eq!(author(), "Only The First Run");
    assert!(first["commitId"].is_string(), "{first}");

    let second = backup("two\n", json!({}));
    assert_eq!(second["bytesFetched"], 0, "the tip the first run pushed is already here: {second}");
    assert_eq!(repo.git(&["rev-parse", "main^"]).trim(), first["commitId"].as_str().unwrap());
    assert_ne!(author(), "Only The First Run", "the first run's `git.config` stayed with it");

    // Another writer moves the branch: the next run fetches its commit and builds on it.
    let tree = repo.git(&["rev-parse", "main^{tree}"]);
    let other = repo.git(&["-c", "user.name=o", "-c", "user.email=o@o", "commit-tree", tree.trim(), "-p", "main", "-m", "other writer"]);
    repo.git(&["update-ref", "refs/heads/main", other.trim()]);
    let third = backup("three\n", json!({}));
    assert!(third["bytesFetched"].as_u64().unwrap() > 0, "{third}");
    assert_eq!(repo.git(&["rev-parse", "main^"]).trim(), other.trim(), "built on the other writer's commit");
    assert_eq!(repo.show("main", "scripts/util.py"), b"three\n");
}

/// A kept repository that started from a shallow fetch (the branch has older history) builds
/// several runs in a row on its own pushed tips: the shallow boundary stays one.
#[test]
fn git_kept_repository_started_shallow_pushes_run_after_run() {
    let server = GitServer::start();
    let repo = support::git_server::ServerRepo(server.repo("deep"));
    let dir = tempfile::tempdir().unwrap();
    let backup = |content: &str| {
        let request = files_backup(&server, "deep", &server, dir.path());
        std::fs::write(dir.path().join("util.py"), content).unwrap();
        let answer = run(&request);
        assert!(answer.get("report").is_some(), "{answer}");
        answer["report"]["bytesFetched"].as_u64().unwrap()
    };
    backup("a\n");
    backup("b\n");
    // Another writer: the kept repository must fetch (shallow) and then build on its own tips.
    for n in 0..2 {
        let tree = repo.git(&["rev-parse", "main^{tree}"]);
        let other = repo.git(&["-c", "user.name=o", "-c", "user.email=o@o", "commit-tree", tree.trim(), "-p", "main", "-m", &format!("other {n}")]);
        repo.git(&["update-ref", "refs/heads/main", other.trim()]);
    }
    for (n, content) in ["c\n", "d\n", "e\n", "f\n"].into_iter().enumerate() {
        let fetched = backup(content);
        assert_eq!(fetched > 0, n == 0, "only the run after the other writer fetches ({fetched} bytes)");
        assert_eq!(repo.show("main", "scripts/util.py"), content.as_bytes());
    }
    assert_eq!(repo.commit_count("main"), 8);
}
