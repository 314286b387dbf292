//! KV entries through the whole job: the Kestra API stub's KV endpoints (paged listing, typed
//! values, `PUT` with `ttl`/`description`), a local bare repository, and keys made by the
//! reference tools (`age-keygen` from Debian's `age`, `ssh-keygen`). Assertions read the bare
//! repository with the git CLI.

mod support;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use support::core_run::{report, run_logged as run};
use support::git_server::ServerRepo;
use support::kestra_stub::{rfc3339, KestraStub};

/// An age key pair made by `age-keygen`: (secret key file text, public key).
fn age_key(dir: &Path, name: &str) -> (String, String) {
    let path = dir.join(name);
    let out = Command::new("age-keygen").arg("-o").arg(&path).output().expect("age-keygen (Debian package `age`) is installed");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let public = Command::new("age-keygen").arg("-y").arg(&path).output().unwrap();
    (std::fs::read_to_string(&path).unwrap(), String::from_utf8(public.stdout).unwrap().trim().to_string())
}

/// An ed25519 key pair made by `ssh-keygen`: (private key text, public key line).
fn ssh_key(dir: &Path, name: &str) -> (String, String) {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-C", "kv@test", "-f"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    (std::fs::read_to_string(&path).unwrap(), std::fs::read_to_string(path.with_extension("pub")).unwrap().trim().to_string())
}

fn bare_repo(dir: &Path) -> PathBuf {
    let path = dir.join("backup.git");
    assert!(Command::new("git").args(["init", "-q", "--bare", "-b", "main"]).arg(&path).status().unwrap().success());
    path
}

fn request(stub: &KestraStub, repo: &Path, job: &str, kv: Value, restore: Value) -> Value {
    json!({
        "job": job,
        "kestra": {"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}},
        "git": {"url": repo, "branch": "main", "authorName": "Backup Bot", "authorEmail": "bot@example.com"},
        "sources": [{"kind": "flows", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": "flows"}],
        "kv": kv,
        "restore": restore,
    })
}

const SECRET: &str = "tok-4f9a-very-secret";

fn seed(stub: &KestraStub) {
    stub.set_flow("company.team", "etl", "id: etl\nnamespace: company.team\ntasks: []\n");
    let in_a_day = rfc3339(std::time::SystemTime::now() + std::time::Duration::from_secs(86_400));
    stub.put_kv("company.team", "api_token", "STRING", json!(SECRET), Some("the partner API token"), Some(&in_a_day));
    stub.put_kv("company.team", "limit", "NUMBER", json!(4217.5), None, None);
    stub.put_kv("company.team", "enabled", "BOOLEAN", json!(true), Some("feature flag"), None);
    stub.put_kv("company.team", "cutover", "DATETIME", json!("2026-11-30T08:15:00Z"), None, None);
    stub.put_kv("company.team", "day", "DATE", json!("2026-11-30"), None, None);
    stub.put_kv("ops.kvonly", "settings", "JSON", json!({"region": "eu-west-9", "replicas": [1, 2]}), None, None);
    // More than one page of the listing (100 per page).
    for i in 0..103 {
        stub.put_kv("bulk", &format!("k{i:03}"), "STRING", json!(format!("bulk-value-{i:03}")), None, None);
    }
}

/// Every object of the bare repository, as text.
fn all_objects(repo: &ServerRepo) -> String {
    let out = Command::new("git").arg("-C").arg(&repo.0).args(["cat-file", "--batch-all-objects", "--batch"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).to_string()
}

#[test]
fn sealed_backup_change_rule_rotation_and_restore() {
    let dir = tempfile::tempdir().unwrap();
    let (age_secret, age_public) = age_key(dir.path(), "age.key");
    let (ssh_secret, ssh_public) = ssh_key(dir.path(), "id_ed25519");
    let (rotated_secret, rotated_public) = age_key(dir.path(), "rotated.key");
    let stub = KestraStub::start();
    seed(&stub);
    let path = bare_repo(dir.path());
    let repo = ServerRepo(path.clone());
    let kv = json!({"recipients": [age_public, ssh_public]});

    // First backup: one file per entry, every value sealed to both recipients.
    let (answer, log) = run(&request(&stub, &path, "backup", kv.clone(), json!({})));
    let r = report(&answer);
    assert_eq!(r["kv"]["entries"], 109, "{r}");
    assert_eq!((r["kv"]["sealed"].as_u64(), r["kv"]["newlySealed"].as_u64(), r["kv"]["stubs"].as_u64()), (Some(109), Some(109), Some(0)));
    let files = repo.files("main");
    assert!(files.contains(&"kv/company.team/api_token.json".to_string()) && files.contains(&"kv/ops.kvonly/settings.json".to_string()), "{files:?}");
    assert!(files.contains(&"kv/bulk/k102.json".to_string()), "the second page is listed too");
    let token: Value = serde_json::from_slice(&repo.show("main", "kv/company.team/api_token.json")).unwrap();
    assert_eq!(token["type"], "STRING");
    assert_eq!(token["description"], "the partner API token");
    assert!(token["sealed"].as_str().unwrap().starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    assert_eq!(token["recipients"].as_array().unwrap().len(), 2);
    assert!(token.get("value").is_none());
    let objects = all_objects(&repo);
    for value in [SECRET, "4217.5", "eu-west-9", "bulk-value-007"] {
        assert!(!objects.contains(value), "`{value}` is in the pushed objects");
        assert!(!log.iter().any(|l| l.contains(value)), "`{value}` is in the log");
    }

    // No change in Kestra: no commit.
    let commits = repo.commit_count("main");
    let (answer, _) = run(&request(&stub, &path, "backup", kv.clone(), json!({})));
    assert!(report(&answer)["commitId"].is_null(), "{answer}");
    assert_eq!(report(&answer)["kv"]["newlySealed"], 0);
    assert_eq!(repo.commit_count("main"), commits);

    // One value changed: one file in the commit.
    stub.put_kv("company.team", "limit", "NUMBER", json!(5000), None, None);
    let (answer, _) = run(&request(&stub, &path, "backup", kv.clone(), json!({})));
    assert!(report(&answer)["commitId"].is_string(), "{answer}");
    assert_eq!(repo.last_commit_paths("main"), ["kv/company.team/limit.json"]);

    // Recipients rotated: one commit re-sealing every value.
    let rotated = json!({"recipients": [rotated_public]});
    let (answer, _) = run(&request(&stub, &path, "backup", rotated.clone(), json!({})));
    assert_eq!(report(&answer)["kv"]["newlySealed"], 109, "{answer}");
    assert_eq!(repo.last_commit_paths("main").len(), 109);
    assert_eq!(repo.commit_count("main"), commits + 2);

    // The drill: the old identity matches no recipient any more and fails naming the first entry;
    // without an identity the sealed files are checked against the configured recipients.
    let (answer, _) = run(&request(&stub, &path, "drill", rotated.clone(), json!({"identity": age_secret})));
    let message = answer["error"]["message"].as_str().unwrap_or_else(|| panic!("{answer}"));
    assert!(message.starts_with("KV entry `kv/bulk/k000.json`: `restore.identity` matches none"), "{message}");
    assert!(!message.contains("AGE-SECRET-KEY"), "{message}");
    let (answer, _) = run(&request(&stub, &path, "drill", kv.clone(), json!({})));
    assert!(answer["error"]["message"].as_str().unwrap_or_default().contains("sealed to other recipients than `kv.recipients`"), "{answer}");
    let (answer, _) = run(&request(&stub, &path, "drill", rotated.clone(), json!({})));
    assert_eq!(report(&answer)["kv"]["sealed"], 109, "{answer}");
    let (answer, _) = run(&request(&stub, &path, "drill", rotated.clone(), json!({"identity": rotated_secret})));
    assert_eq!(report(&answer)["kv"]["unsealed"], 109, "{answer}");

    // Kestra's KV emptied. Without the identity the plan lists them and nothing is written.
    stub.model.lock().unwrap().kv.clear();
    let plan = dir.path().join("plan.jsonl");
    let (answer, _) = run(&request(&stub, &path, "restore", rotated.clone(), json!({"planFile": plan})));
    assert_eq!(report(&answer)["kv"]["needIdentity"], 109, "{answer}");
    let plan_text = std::fs::read_to_string(&plan).unwrap();
    assert!(plan_text.contains(r#""kind":"kv""#) && plan_text.contains("set `restore.identity`"), "{plan_text}");
    assert!(!plan_text.contains("BEGIN AGE"), "no sealed text in the plan");
    assert!(stub.model.lock().unwrap().kv.is_empty());

    // With the identity: every entry back with its type, value, description and expiry.
    let (answer, log) = run(&request(&stub, &path, "restore", rotated.clone(), json!({"identity": rotated_secret})));
    assert_eq!(report(&answer)["kv"]["restored"], 109, "{answer}");
    assert!(!log.iter().any(|l| l.contains(SECRET) || l.contains("AGE-SECRET-KEY")), "{log:?}");
    let m = stub.model.lock().unwrap();
    let token = &m.kv[&("company.team".to_string(), "api_token".to_string())];
    assert_eq!((token.kind.as_str(), &token.value, token.description.as_deref()), ("STRING", &json!(SECRET), Some("the partner API token")));
    let expiry = token.expiration_date.clone().unwrap();
    let in_a_day = rfc3339(std::time::SystemTime::now() + std::time::Duration::from_secs(86_400));
    assert!(expiry[..15] == in_a_day[..15], "expiry {expiry} within a minute of {in_a_day}");
    for (ns, key, kind, value) in [
        ("company.team", "limit", "NUMBER", json!(5000)),
        ("company.team", "enabled", "BOOLEAN", json!(true)),
        ("company.team", "cutover", "DATETIME", json!("2026-11-30T08:15:00Z")),
        ("company.team", "day", "DATE", json!("2026-11-30")),
        ("ops.kvonly", "settings", "JSON", json!({"region": "eu-west-9", "replicas": [1, 2]})),
    ] {
        let e = &m.kv[&(ns.to_string(), key.to_string())];
        assert_eq!((e.kind.as_str(), &e.value), (kind, &value), "{ns}/{key}");
    }
    drop(m);

    // A value changed in Kestra: left alone without `overwrite`, replaced with it; nothing deleted.
    stub.put_kv("company.team", "limit", "NUMBER", json!(1), None, None);
    stub.put_kv("company.team", "only_in_kestra", "STRING", json!("mine"), None, None);
    let (answer, _) = run(&request(&stub, &path, "restore", rotated.clone(), json!({"identity": rotated_secret})));
    let counts = &report(&answer)["kv"];
    assert_eq!((counts["differing"].as_u64(), counts["restored"].as_u64()), (Some(1), Some(0)), "{answer}");
    assert_eq!(stub.model.lock().unwrap().kv[&("company.team".to_string(), "limit".to_string())].value, json!(1));
    let (answer, _) = run(&request(&stub, &path, "restore", rotated.clone(), json!({"identity": rotated_secret, "overwrite": true})));
    assert_eq!(report(&answer)["kv"]["restored"], 1, "{answer}");
    let m = stub.model.lock().unwrap();
    assert_eq!(m.kv[&("company.team".to_string(), "limit".to_string())].value, json!(5000));
    assert!(m.kv.contains_key(&("company.team".to_string(), "only_in_kestra".to_string())), "a restore never deletes");
    drop(m);

    // The SSH identity of the first backup's recipients unseals an older commit's values too.
    let first = repo.git(&["rev-list", "--reverse", "main"]).lines().next().unwrap().to_string();
    let (answer, _) = run(&request(&stub, &path, "drill", kv, json!({"identity": ssh_secret, "ref": first})));
    assert_eq!(report(&answer)["kv"]["unsealed"], 109, "{answer}");
}

#[test]
fn without_recipients_entries_are_stubs_and_plaintext_is_explicit() {
    let dir = tempfile::tempdir().unwrap();
    let stub = KestraStub::start();
    seed(&stub);
    let path = bare_repo(dir.path());
    let repo = ServerRepo(path.clone());
    let (answer, log) = run(&request(&stub, &path, "backup", json!({}), json!({})));
    assert_eq!(report(&answer)["kv"]["stubs"], 109, "{answer}");
    assert!(log.iter().any(|l| l.contains("Left the values of 109 KV entries out")), "{log:?}");
    let token: Value = serde_json::from_slice(&repo.show("main", "kv/company.team/api_token.json")).unwrap();
    assert!(token.get("sealed").is_none() && token.get("value").is_none() && token["type"] == "STRING", "{token}");
    assert!(!all_objects(&repo).contains(SECRET));

    let (answer, _) = run(&request(&stub, &path, "backup", json!({"plaintext": true}), json!({})));
    assert_eq!(report(&answer)["kv"]["plaintext"], 109, "{answer}");
    let token: Value = serde_json::from_slice(&repo.show("main", "kv/company.team/api_token.json")).unwrap();
    assert_eq!(token["value"], SECRET);

    let (answer, _) = run(&request(&stub, &path, "backup", json!({"recipients": ["age1nope"]}), json!({})));
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("`kv.recipients[0]`: `age1nope` is not a recipient"), "{message}");
}

#[test]
fn a_value_too_large_for_kestra_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let stub = KestraStub::start();
    stub.set_flow("a", "f", "id: f\nnamespace: a\ntasks: []\n");
    stub.put_kv("a", "big", "STRING", json!("x".repeat(2000)), None, None);
    let path = bare_repo(dir.path());
    let (answer, _) = run(&request(&stub, &path, "backup", json!({"plaintext": true}), json!({})));
    report(&answer);
    stub.model.lock().unwrap().kv.clear();
    stub.model.lock().unwrap().kv_max_body = 1000;
    let (answer, _) = run(&request(&stub, &path, "restore", json!({}), json!({})));
    let message = answer["error"]["message"].as_str().unwrap_or_else(|| panic!("{answer}"));
    assert!(message.contains("KV entry `big` of `a`") && message.contains("too large for Kestra (HTTP 413)"), "{message}");
}

#[test]
fn an_entry_expired_since_the_backup_is_skipped_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let stub = KestraStub::start();
    stub.set_flow("a", "f", "id: f\nnamespace: a\ntasks: []\n");
    let soon = rfc3339(std::time::SystemTime::now() + std::time::Duration::from_secs(2));
    stub.put_kv("a", "short", "STRING", json!("brief"), None, Some(&soon));
    stub.put_kv("a", "long", "STRING", json!("lasting"), None, None);
    let path = bare_repo(dir.path());
    let (answer, _) = run(&request(&stub, &path, "backup", json!({"plaintext": true}), json!({})));
    assert_eq!(report(&answer)["kv"]["entries"], 2, "{answer}");
    std::thread::sleep(std::time::Duration::from_secs(3));
    stub.model.lock().unwrap().kv.clear();
    let plan = dir.path().join("plan.jsonl");
    let (answer, _) = run(&request(&stub, &path, "restore", json!({}), json!({"planFile": plan})));
    let kv = &report(&answer)["kv"];
    assert_eq!((kv["skippedExpired"].as_u64(), kv["restored"].as_u64()), (Some(1), Some(1)), "{answer}");
    assert!(std::fs::read_to_string(&plan).unwrap().contains(r#""path":"short","action":"skip","reason":"expired"#));
    assert_eq!(stub.model.lock().unwrap().kv.keys().map(|(_, k)| k.as_str()).collect::<Vec<_>>(), ["long"]);
}

#[test]
fn an_entry_missing_from_the_listing_but_readable_keeps_its_file() {
    // kestra-io/kestra#18506: Kestra 2.0.0 lists one of two keys whose namespace + key join the
    // same way; the other still reads by key. Its backed-up value must not be deleted.
    let dir = tempfile::tempdir().unwrap();
    let stub = KestraStub::start();
    stub.set_flow("kvc.team", "f", "id: f\nnamespace: kvc.team\ntasks: []\n");
    stub.put_kv("kvc.team", "x_y", "STRING", json!("first"), None, None);
    stub.put_kv("kvc.team", "z", "STRING", json!("stays listed"), None, None);
    let path = bare_repo(dir.path());
    let repo = ServerRepo(path.clone());
    let (answer, _) = run(&request(&stub, &path, "backup", json!({"plaintext": true}), json!({})));
    assert_eq!(report(&answer)["kv"]["entries"], 2, "{answer}");
    let commits = repo.commit_count("main");

    stub.put_kv("kvc.team_x", "y", "STRING", json!("second"), None, None);
    stub.model.lock().unwrap().kv_unlisted.insert(("kvc.team".to_string(), "x_y".to_string()));
    let (answer, log) = run(&request(&stub, &path, "backup", json!({"plaintext": true}), json!({})));
    assert_eq!(report(&answer)["kv"]["entries"], 3, "{answer}");
    assert!(log.iter().any(|l| l.contains("KV entry `x_y` of `kvc.team` reads by key but is missing from Kestra's KV listing")), "{log:?}");
    assert_eq!(repo.commit_count("main"), commits + 1);
    assert_eq!(repo.last_commit_paths("main"), ["kv/kvc.team_x/y.json"], "the unlisted entry's file stays as it was");
    let kept: Value = serde_json::from_slice(&repo.show("main", "kv/kvc.team/x_y.json")).unwrap();
    assert_eq!(kept["value"], "first");

    // Gone for real (no longer readable): its file goes, as any deleted entry's.
    stub.model.lock().unwrap().kv.remove(&("kvc.team".to_string(), "x_y".to_string()));
    let (answer, _) = run(&request(&stub, &path, "backup", json!({"plaintext": true}), json!({})));
    report(&answer);
    assert!(!repo.files("main").contains(&"kv/kvc.team/x_y.json".to_string()));
}
