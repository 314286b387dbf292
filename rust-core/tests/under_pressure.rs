//! Under pressure, against the real HTTPS Git server (lighttpd's defaults: 5 s keep-alive idle):
//! many backups of one branch at once, a hook refusing a large push, a connection broken during a
//! push, a large first backup and its peak memory, a missing repository, a Git server that never
//! answers, and garbage requests.

mod support;

use serde_json::{Value, json};
use std::process::{Command, Stdio};
use support::drop_proxy::DropProxy;
use support::git_server::{GitServer, ServerRepo};
use support::kestra_stub::KestraStub;

fn request(stub: &KestraStub, server: &GitServer, url: &str, ns: &str) -> Value {
    json!({
        "kestra": {"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}},
        "git": {"url": url, "username": server.user(), "password": server.token(), "trustedCaPemPath": server.ca_pem_path(),
                "authorName": "Backup Bot", "authorEmail": "bot@example.com", "commitMessage": format!("Backup of {ns}")},
        "sources": [{"kind": "flows", "namespaces": {"one": {"namespace": ns}}, "gitDirectory": format!("flows/{ns}")}]
    })
}

/// A flow of about 1.5 KB, different for every id.
fn flow(ns: &str, id: &str) -> String {
    let mut text = format!("id: {id}\nnamespace: {ns}\ndescription: |\n");
    for line in 0..24 {
        text.push_str(&format!("  line {line} of {ns}.{id}: the quick brown fox jumps over the lazy dog\n"));
    }
    text.push_str("tasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: hello\n");
    text
}

/// Runs the CLI on `request`; (success, stderr, the peak resident memory it logged in bytes: the
/// process's own `VmHWM` after each phase; 0 when it logged none).
fn cli(request: &Value) -> (bool, String, u64) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), request.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kestra-git-backup")).arg("run").arg(file.path()).stdout(Stdio::null()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let peak = stderr
        .lines()
        .filter_map(|l| l.split_once("Peak memory after ").and_then(|(_, rest)| rest.split(": ").nth(1)))
        .filter_map(|kb| kb.trim_end_matches(" kB").trim().parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    (out.status.success(), stderr, peak * 1024)
}

#[test]
fn twenty_backups_of_one_branch_at_once_all_land() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("crowd"));
    let stub = KestraStub::start();
    let writers = 20;
    for n in 0..writers {
        stub.set_flow(&format!("team{n:02}"), "etl", &flow(&format!("team{n:02}"), "etl"));
    }
    let results: Vec<(bool, String, u64)> = std::thread::scope(|s| {
        let runs: Vec<_> = (0..writers).map(|n| {
            let req = request(&stub, &server, &server.https_url("crowd"), &format!("team{n:02}"));
            s.spawn(move || cli(&req))
        }).collect();
        runs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (ok, stderr, _) in &results {
        assert!(ok, "every backup lands with the default settings: {stderr}");
    }
    assert_eq!(repo.commit_count("main"), writers, "one commit per run");
    assert_eq!(repo.git(&["rev-list", "--merges", "main"]), "", "linear history");
    let files = repo.files("main");
    for n in 0..writers {
        assert!(files.contains(&format!("flows/team{n:02}/etl.yml")), "{files:?}");
    }
    assert!(results.iter().any(|(_, e, _)| e.contains("moved on the remote; rebuilding the same snapshot on the new tip in")), "races were lost and retried");
}

#[test]
fn a_refused_large_push_says_why_and_a_broken_push_is_retried() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("guarded"));
    let stub = KestraStub::start();
    for n in 0..500 {
        stub.set_flow("big", &format!("flow_{n:03}"), &flow("big", &format!("flow_{n:03}")));
    }
    let hook = repo.0.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\ncat >/dev/null\necho 'policy: no pushes on Sunday' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let (ok, stderr, _) = cli(&request(&stub, &server, &server.https_url("guarded"), "big"));
    assert!(!ok && stderr.contains("error[PushRejected]"), "{stderr}");
    assert!(stderr.contains("(the server said: policy: no pushes on Sunday)") && !stderr.contains("Resolving deltas"), "{stderr}");
    std::fs::remove_file(&hook).unwrap();

    // The push's connection is broken once it carried 64 KiB, twice: the push in one request,
    // then libgit2's; libgit2's retry on a new connection lands it.
    let proxy = DropProxy::start(server.get("HTTPS_PORT").parse().unwrap(), 64 * 1024, 2);
    let through_proxy = format!("https://127.0.0.1:{}/git/guarded.git", proxy.port);
    let (ok, stderr, _) = cli(&request(&stub, &server, &through_proxy, "big"));
    assert!(ok, "{stderr}");
    assert_eq!(proxy.dropped(), 2, "{stderr}");
    assert!(stderr.contains("broke off") && stderr.contains("pushing again with libgit2 on a new connection"), "{stderr}");
    assert!(stderr.contains("trying again on a new connection in"), "libgit2's own retry: {stderr}");
    assert_eq!(repo.commit_count("main"), 1);
    assert_eq!(repo.files("main").len(), 500);
}

#[test]
fn a_large_first_backup_survives_the_keep_alive_and_stays_within_its_memory() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("large"));
    let stub = KestraStub::start();
    let mut exported = 0;
    for n in 0..20_000 {
        let ns = format!("company.team{:02}", n % 40);
        let text = flow(&ns, &format!("flow_{n:05}"));
        exported += text.len() as u64;
        stub.set_flow(&ns, &format!("flow_{n:05}"), &text);
    }
    let mut backup = request(&stub, &server, &server.https_url("large"), "company");
    backup["sources"] = json!([{"kind": "flows", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": "flows"}]);
    let (ok, stderr, peak) = cli(&backup);
    assert!(ok, "{stderr}");
    assert_eq!(repo.files("main").len(), 20_000);
    println!("20,000 flows, {exported} bytes exported: peak RSS {peak} bytes ({:.2}x) on success", peak as f64 / exported as f64);
    stderr.lines().filter(|l| l.contains("Peak memory")).for_each(|l| println!("  {l}"));
    assert!(peak > 0 && peak * 2 < exported * 3, "at most 1.5x: peak {peak} for {exported} exported");

    // Refused by a hook: the unpushed commit goes to a bundle, memory stays bounded too.
    let hook = repo.0.join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\ncat >/dev/null\necho 'read-only' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let bundles = tempfile::tempdir().unwrap();
    let mut refused = backup.clone();
    refused["git"]["url"] = json!(server.https_url("large2"));
    server.repo("large2");
    std::fs::copy(&hook, server.repo_path("large2").join("hooks/pre-receive")).unwrap();
    refused["git"]["unpushedDir"] = json!(bundles.path());
    let (ok, stderr, peak) = cli(&refused);
    assert!(!ok && stderr.contains("bundle: "), "{stderr}");
    println!("the same backup refused: peak RSS {peak} bytes ({:.2}x), bundle written", peak as f64 / exported as f64);
    stderr.lines().filter(|l| l.contains("Peak memory")).for_each(|l| println!("  {l}"));
    assert!(stderr.contains("Peak memory after the bundle"), "{stderr}");
    assert!(peak * 2 < exported * 3, "at most 1.5x: peak {peak} for {exported} exported");
}

#[test]
fn a_missing_repository_is_named_as_such() {
    let server = GitServer::start();
    let stub = KestraStub::start();
    let (ok, stderr, _) = cli(&request(&stub, &server, &server.https_url("no-such-repo"), "a"));
    assert!(!ok && stderr.contains("error[InvalidConfig]") && stderr.contains("no repository there") && stderr.contains("token's scope"), "{stderr}");
    assert!(!stderr.contains(server.token()));
}

/// A Git server that takes the connection and never answers: the backup ends on
/// `git.readTimeoutMs` (libgit2's connections are this core's own sockets, `socket_stream.rs`)
/// with a network error, instead of waiting for ever.
#[test]
fn a_git_server_that_never_answers_ends_on_the_read_timeout() {
    let stub = KestraStub::start();
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/git/silent.git", silent.local_addr().unwrap().port());
    let mut request = json!({
        "kestra": {"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}},
        "git": {"url": url, "username": "u", "password": "p", "readTimeoutMs": 500},
        "sources": [{"kind": "flows", "namespaces": {"one": {"namespace": "a"}}, "gitDirectory": "flows"}]
    });
    let started = std::time::Instant::now();
    let (ok, stderr, _) = cli(&request);
    assert!(!ok && stderr.contains("error[Network]") && stderr.contains("timed out"), "{stderr}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30), "took {:?}", started.elapsed());
    request["git"]["readTimeoutMs"] = json!(0);
    drop(silent);
    let (ok, stderr, _) = cli(&request);
    assert!(!ok && stderr.contains("error[Network]") && stderr.contains("failed to connect to 127.0.0.1"), "{stderr}");
}

/// 100,000 malformed, truncated, mistyped and oversized requests through the JSON entry point of
/// the JNI bridge and the CLI: each one is answered with an error envelope, never a panic.
#[test]
fn garbage_requests_always_get_an_error_envelope() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(20261202);
    // Valid in shape but never runnable: the local URL does not exist and `kestra` is missing,
    // so no request can reach a network, whatever the mutations leave intact.
    let base = json!({
        "job": "backup", "git": {"url": "/nonexistent/backup.git", "branch": "main", "password": "tok-fuzz-secret", "mirrors": [{"url": "/nonexistent/m.git"}]},
        "sources": [{"kind": "flows", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": "flows", "globs": ["a*"]}],
        "restore": {"ref": "2026-11-20", "flows": ["a/b"]}, "guard": {"maxDeletionRatio": 0.5}
    });
    let text = base.to_string();
    let started = std::time::Instant::now();
    for case in 0..100_000u32 {
        let input = match case % 6 {
            0 => text[..rng.random_range(0..text.len())].to_string(),
            1 => {
                let mut v = base.clone();
                mutate(&mut v, &mut rng);
                v.to_string()
            }
            2 => (0..rng.random_range(0..200)).map(|_| char::from(rng.random_range(0x20u8..0x7f))).collect(),
            3 => format!("{}{}", "[".repeat(rng.random_range(1..5_000)), "]".repeat(rng.random_range(0..3))),
            4 => text.replacen("/nonexistent/backup.git", &format!("\\ud{:03x}{}", rng.random_range(0..0xfff), "x".repeat(rng.random_range(0..2_000_000) * usize::from(case % 97 == 0))), 1),
            _ => {
                let mut bytes = text.clone().into_bytes();
                for _ in 0..rng.random_range(1..8) {
                    let at = rng.random_range(0..bytes.len());
                    bytes[at] = rng.random_range(0x20u8..0x7f);
                }
                String::from_utf8(bytes).unwrap()
            }
        };
        let mut sink = |_: &kestra_git_backup::LogEvent| {};
        let answer: Value = serde_json::from_str(&kestra_git_backup::run_json(&input, &mut sink)).unwrap_or_else(|e| panic!("case {case}: not JSON: {e}"));
        let error = answer.get("error").unwrap_or_else(|| panic!("case {case}: {input:.300} → {answer}"));
        let message = error["message"].as_str().unwrap();
        assert!(error["code"].is_string() && !message.is_empty() && message.len() <= 17_000, "case {case}");
        assert!(!message.contains("tok-fuzz-secret"), "case {case}: {message}");
    }
    println!("100,000 garbage requests answered in {} ms", started.elapsed().as_millis());
}

/// Replaces one value somewhere in `v` with another type, a huge string, deep nesting, or removes it.
fn mutate(v: &mut Value, rng: &mut impl rand::Rng) {
    let replacement = match rng.random_range(0..6) {
        0 => json!(rng.random::<i64>()),
        1 => json!(null),
        2 => json!("x".repeat(rng.random_range(0..100_000))),
        3 => serde_json::from_str(&format!("{}1{}", "[".repeat(100), "]".repeat(100))).unwrap(),
        4 => json!({"unknownField": true}),
        _ => json!(rng.random::<bool>()),
    };
    let mut node = v;
    loop {
        let keys: Vec<String> = match node {
            Value::Object(map) => map.keys().cloned().collect(),
            Value::Array(items) if !items.is_empty() => (0..items.len()).map(|i| i.to_string()).collect(),
            _ => {
                *node = replacement;
                return;
            }
        };
        let key = keys[rng.random_range(0..keys.len())].clone();
        let child = match node {
            Value::Object(map) => map.get_mut(&key).unwrap(),
            Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
            _ => unreachable!(),
        };
        if rng.random_range(0..3) == 0 {
            *child = replacement;
            return;
        }
        node = child;
    }
}
