//! The drill's verification of the backup's history (chain, files against the manifests,
//! signatures against `verifyKeys`, the plugin inventory against Kestra's plugins) and the
//! restore's refusal of an unsigned commit, against the real HTTPS Git server (signed backups
//! made by the core, commits made or rewritten by hand with the git CLI) and the Kestra API stub.

mod support;

use serde_json::{Value, json};
use std::process::Command;
use support::core_run::run;
use support::git_server::{GitServer, ServerRepo};
use support::kestra_stub::KestraStub;

fn flow(id: &str, message: &str) -> String {
    format!("id: {id}\nnamespace: company\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: {message}\n")
}

struct Setup {
    server: GitServer,
    repo: ServerRepo,
    stub: KestraStub,
    name: String,
}

impl Setup {
    fn new(name: &str) -> Setup {
        let server = GitServer::start();
        let repo = ServerRepo(server.repo(name));
        let stub = KestraStub::start();
        stub.put_file("company", "lib/run.py", b"print(1)\n");
        Setup { server, repo, stub, name: name.into() }
    }

    fn request(&self, job: &str, restore: Value) -> Value {
        let discover = |kind: &str, dir: &str| json!({"kind": kind, "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": dir});
        json!({
            "job": job, "restore": restore, "manifest": job == "backup",
            "kestra": {"url": self.stub.url, "auth": {"basic": {"username": self.stub.user, "password": self.stub.password}}},
            "git": {"url": self.server.https_url(&self.name), "username": self.server.user(), "password": self.server.token(), "trustedCaPemPath": self.server.ca_pem_path()},
            "sources": [discover("flows", "flows"), discover("namespaceFiles", "files")]
        })
    }

    /// A backup of `etl` saying `message`, signed with the SSH key `KEY_ED25519_PASS` when `signed`.
    fn backup(&self, message: &str, signed: bool) -> String {
        self.stub.set_flow("company", "etl", &flow("etl", message));
        let mut request = self.request("backup", json!({}));
        if signed {
            request["git"]["signingKey"] = json!(self.server.key("KEY_ED25519_PASS"));
            request["git"]["signingKeyPassphrase"] = json!(self.server.get("SSH_PASSPHRASE"));
        }
        let answer = run(&request);
        answer.pointer("/report/commitId").and_then(Value::as_str).unwrap_or_else(|| panic!("no commit: {answer}")).to_string()
    }

    fn public_key(&self, key: &str) -> String {
        std::fs::read_to_string(format!("{}.pub", self.server.get(key))).unwrap().trim().to_string()
    }

    /// A clone of the server's repository to change by hand.
    fn clone(&self) -> Clone {
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new("git").arg("clone").arg("-q").arg(&self.repo.0).arg(dir.path()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        Clone(dir)
    }
}

struct Clone(tempfile::TempDir);

impl Clone {
    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .arg("-C")
            .arg(self.0.path())
            .args(["-c", "user.name=Someone", "-c", "user.email=someone@example.com", "-c", "commit.gpgsign=false"])
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }
    fn write(&self, path: &str, text: &str) {
        let file = self.0.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }
}

fn verification(answer: &Value) -> &Value {
    answer.pointer("/report/restore/verification").unwrap_or_else(|| panic!("expected a verification, got {answer}"))
}

fn error(answer: &Value, code: &str) -> String {
    assert_eq!(answer.pointer("/error/code"), Some(&json!(code)), "{answer}");
    answer.pointer("/error/message").unwrap().as_str().unwrap().to_string()
}

#[test]
fn a_signed_chain_verifies_and_an_unsigned_commit_is_named_and_not_restored() {
    let s = Setup::new("signed-chain");
    let shas: Vec<String> = ["one", "two", "three"].iter().map(|m| s.backup(m, true)).collect();
    let trusted = s.public_key("KEY_ED25519_PASS");

    let answer = run(&s.request("drill", json!({"verifyKeys": [trusted]})));
    let v = verification(&answer);
    assert_eq!((v["chainLength"].as_u64(), v["firstSerial"].as_u64(), v["lastSerial"].as_u64()), (Some(3), Some(1), Some(3)), "{v}");
    assert_eq!((v["complete"].as_bool(), v["signaturesChecked"].as_u64(), v["unverifiableCommits"].as_u64()), (Some(true), Some(3), Some(0)), "{v}");
    assert!(v["broken"].is_null() && v["unsigned"] == json!([]) && v["files"] == json!([]) && v["missingPlugins"] == json!([]), "{v}");
    assert_eq!(answer.pointer("/report/restore/backup/serial"), Some(&json!(3)));

    // The same history against another key: every commit is named, with why.
    let answer = run(&s.request("drill", json!({"verifyKeys": [s.public_key("KEY_ED25519")], "failOnUnverified": false})));
    let unsigned = verification(&answer)["unsigned"].as_array().unwrap().clone();
    assert_eq!(unsigned.iter().map(|u| u["commit"].as_str().unwrap()).collect::<Vec<_>>(), [&shas[2], &shas[1], &shas[0]]);
    assert!(unsigned[0]["reason"].as_str().unwrap().contains("not one of the verify keys"), "{unsigned:?}");

    // One unsigned commit pushed by hand on top.
    let work = s.clone();
    work.write("flows/company/etl.yml", &flow("etl", "edited by hand"));
    work.git(&["commit", "-q", "-am", "Edited by hand"]);
    work.git(&["push", "-q", "origin", "main"]);
    let by_hand = work.git(&["rev-parse", "HEAD"]);

    let message = error(&run(&s.request("drill", json!({"verifyKeys": [trusted]}))), "InvalidBackup");
    assert!(message.contains(&format!("commit {by_hand}")) && message.contains("is not signed by a verify key: unsigned"), "{message}");
    assert!(!message.contains(&shas[2]), "the signed backups are not named: {message}");
    let answer = run(&s.request("drill", json!({"verifyKeys": [trusted], "failOnUnverified": false})));
    let v = verification(&answer);
    assert_eq!((v["signaturesChecked"].as_u64(), v["unsigned"].as_array().unwrap().len()), (Some(4), 1), "{v}");
    assert_eq!(v["unsigned"][0]["commit"], json!(by_hand));

    // A restore of that commit is refused; of a signed backup, or with `allowUnsigned`, it goes ahead.
    let message = error(&run(&s.request("restore", json!({"verifyKeys": [trusted]}))), "InvalidBackup");
    assert!(message.contains(&format!("commit {by_hand} is unsigned")) && message.contains("`restore.allowUnsigned: true`"), "{message}");
    assert!(s.stub.model.lock().unwrap().writes.is_empty(), "nothing was written");
    let mut signed = s.request("restore", json!({"verifyKeys": [trusted], "ref": shas[2]}));
    signed["dryRun"] = json!(true);
    let signed = run(&signed);
    assert!(signed.pointer("/report/restore").is_some(), "{signed}");
    let allowed = run(&s.request("restore", json!({"verifyKeys": [trusted], "allowUnsigned": true})));
    assert!(allowed.pointer("/report/restore").is_some(), "{allowed}");
}

#[test]
fn openpgp_signatures_verify_against_the_armored_public_key() {
    let s = Setup::new("pgp-chain");
    let gpg = support::gpg_home::GpgHome::new();
    let (secret, _) = gpg.make_key("Backup Bot <bot@example.com>", "", true);
    let public = gpg.export_public("Backup Bot <bot@example.com>");
    s.stub.set_flow("company", "etl", &flow("etl", "one"));
    let mut request = s.request("backup", json!({}));
    request["git"]["signingKey"] = json!(secret);
    assert!(run(&request).pointer("/report/commitId").is_some());

    let v = verification(&run(&s.request("drill", json!({"verifyKeys": [public]})))).clone();
    assert_eq!((v["signaturesChecked"].as_u64(), v["unsigned"].as_array().unwrap().len()), (Some(1), 0), "{v}");
    // An SSH key does not vouch for an OpenPGP signature.
    let answer = run(&s.request("drill", json!({"verifyKeys": [s.public_key("KEY_ED25519")], "failOnUnverified": false})));
    assert!(verification(&answer)["unsigned"][0]["reason"].as_str().unwrap().contains("OpenPGP signature that no verify key validates"), "{answer}");
    // A key that is not a key names its index and the fix.
    let message = error(&run(&s.request("drill", json!({"verifyKeys": [public, "AAAA"]}))), "InvalidConfig");
    assert!(message.starts_with("`restore.verifyKeys[1]`: is neither an SSH public key"), "{message}");
}

#[test]
fn a_rewritten_history_a_tampered_file_and_a_missing_plugin_are_named() {
    let s = Setup::new("tampered");
    let shas: Vec<String> = ["one", "two", "three"].iter().map(|m| s.backup(m, false)).collect();
    let work = s.clone();
    let manifest_of = |rev: &str| -> Value { serde_json::from_str(&work.git(&["show", &format!("{rev}:.kestra-backup/manifest.json")])).unwrap() };

    // The newest backup's commit rebuilt by hand: its flow edited and a file removed, the
    // manifest left as the backup wrote it, plus a plugin inventory naming a type Kestra lacks.
    let mut manifest = manifest_of(&shas[2]);
    manifest["plugins"] = json!([
        {"type": "io.kestra.plugin.core.log.Log", "flows": 1},
        {"type": "io.kestra.core.tasks.log.Log", "flows": 1},
        {"type": "io.kestra.plugin.scripts.python.Script", "flows": 2}
    ]);
    s.stub.model.lock().unwrap().aliases = vec!["io.kestra.core.tasks.log.Log".into()];
    work.write(".kestra-backup/manifest.json", &serde_json::to_string_pretty(&manifest).unwrap());
    work.write("flows/company/etl.yml", &flow("etl", "tampered"));
    work.git(&["rm", "-q", "files/company/lib/run.py"]);
    work.git(&["commit", "-q", "-am", "Backup three, rebuilt"]);
    work.git(&["push", "-q", "origin", "main"]);
    let rebuilt = work.git(&["rev-parse", "HEAD"]);
    // Pushed on top of backup 3, the rebuilt commit repeats serial 3: the chain breaks there.
    let answer = run(&s.request("drill", json!({"failOnUnverified": false})));
    let v = verification(&answer);
    assert!(v["broken"].as_str().unwrap().contains(&format!("backup {rebuilt} names as its previous backup {}", shas[1])), "{v}");

    // Rewritten instead: the rebuilt backup replaces backup 3 (a force-push), so the chain holds.
    work.git(&["reset", "-q", "--hard", &shas[1]]);
    let tree = work.git(&["rev-parse", &format!("{rebuilt}^{{tree}}")]);
    let replaced = work.git(&["commit-tree", &tree, "-p", &shas[1], "-m", "Backup three, rebuilt"]);
    work.git(&["push", "-q", "-f", "origin", &format!("{replaced}:refs/heads/main")]);
    let answer = run(&s.request("drill", json!({"failOnUnverified": false})));
    let v = verification(&answer);
    assert!(v["broken"].is_null(), "{v}");
    assert_eq!(
        v["files"],
        json!([
            {"commit": replaced, "serial": 3, "file": "files/company/lib/run.py", "state": "missing"},
            {"commit": replaced, "serial": 3, "file": "flows/company/etl.yml", "state": "differing"}
        ])
    );
    assert_eq!(v["missingPlugins"], json!([{"type": "io.kestra.plugin.scripts.python.Script", "flows": 2}]));
    let message = error(&run(&s.request("drill", json!({}))), "InvalidBackup");
    assert!(message.contains("plugin type `io.kestra.plugin.scripts.python.Script` (used by 2 flow(s)) is not installed"), "{message}");
    assert!(message.contains("`flows/company/etl.yml` of backup") && message.contains("3 problem(s)"), "{message}");

    // A fourth backup (the force-push above was on purpose: it accepts the rewritten history,
    // which custody would refuse), then backups 2 and 3 cut out of the history under it.
    s.stub.set_flow("company", "etl", &flow("etl", "four"));
    let mut request = s.request("backup", json!({}));
    request["git"]["acceptRewrittenHistory"] = json!(true);
    let answer = run(&request);
    let four = answer.pointer("/report/commitId").and_then(Value::as_str).unwrap_or_else(|| panic!("no commit: {answer}")).to_string();
    work.git(&["fetch", "-q", "origin"]);
    let tree = work.git(&["rev-parse", &format!("{four}^{{tree}}")]);
    let orphan = work.git(&["commit-tree", &tree, "-p", &shas[0], "-m", "Backup four, on backup one"]);
    work.git(&["push", "-q", "-f", "origin", &format!("{orphan}:refs/heads/main")]);
    let message = error(&run(&s.request("drill", json!({}))), "InvalidBackup");
    assert!(message.contains(&format!("the chain is broken: backup {orphan} names as its previous backup {replaced} (serial 3")), "{message}");
}

#[test]
fn older_commits_without_a_manifest_are_counted_and_the_depth_bounds_the_walk() {
    let s = Setup::new("older");
    // Two commits as plugin-git writes them, then three backups with manifests.
    let work = s.clone();
    for n in 1..=2 {
        work.write("flows/company/etl.yml", &flow("etl", &format!("plugin-git {n}")));
        work.git(&["add", "-A"]);
        work.git(&["commit", "-q", "-m", &format!("Add flows from company namespace {n}")]);
    }
    work.git(&["push", "-q", "origin", "HEAD:main"]);
    for m in ["one", "two", "three"] {
        s.backup(m, false);
    }
    let answer = run(&s.request("drill", json!({})));
    let v = verification(&answer);
    assert_eq!((v["chainLength"].as_u64(), v["complete"].as_bool(), v["unverifiableCommits"].as_u64()), (Some(3), Some(true), Some(2)), "{v}");

    let v = verification(&run(&s.request("drill", json!({"verifyDepth": 2})))).clone();
    assert_eq!((v["chainLength"].as_u64(), v["firstSerial"].as_u64(), v["lastSerial"].as_u64()), (Some(2), Some(2), Some(3)), "{v}");
    assert_eq!((v["complete"].as_bool(), v["unverifiableCommits"].as_u64()), (Some(false), Some(0)), "{v}");
    let message = error(&run(&s.request("drill", json!({"verifyDepth": 0}))), "InvalidConfig");
    assert!(message.starts_with("`restore.verifyDepth`: must be at least 1"), "{message}");
}

#[test]
fn a_backup_of_another_instance_is_refused_unless_allowed_and_the_origin_is_reported() {
    let s = Setup::new("identity");
    let first = s.backup("one", false);
    let recorded = s.stub.model.lock().unwrap().instance_uuid.clone().unwrap();
    s.stub.delete_flow("company", "etl");

    // The same instance: restored, and the report says where the backup came from.
    let answer = run(&s.request("restore", json!({})));
    let backup = answer.pointer("/report/restore/backup").unwrap_or_else(|| panic!("{answer}"));
    assert_eq!((backup["serial"].as_u64(), backup["commit"].as_str(), backup["instanceId"].as_str()), (Some(1), Some(first.as_str()), Some(recorded.as_str())), "{backup}");
    assert_eq!(answer.pointer("/report/restore/restoredFlows"), Some(&json!(1)));

    // Another Kestra (another uuid) is refused, nothing written; `allowOtherInstance` restores it.
    s.stub.delete_flow("company", "etl");
    s.stub.model.lock().unwrap().instance_uuid = Some("0b7e0000-0000-4000-8000-000000000002".into());
    let writes = s.stub.model.lock().unwrap().writes.len();
    let message = error(&run(&s.request("restore", json!({}))), "InvalidBackup");
    assert!(message.contains(&format!("comes from Kestra instance {recorded}")) && message.contains("not from this one (0b7e0000-0000-4000-8000-000000000002)"), "{message}");
    assert!(message.contains("`restore.allowOtherInstance: true`"), "{message}");
    assert_eq!(s.stub.model.lock().unwrap().writes.len(), writes, "nothing written");
    let answer = run(&s.request("restore", json!({"allowOtherInstance": true})));
    assert_eq!(answer.pointer("/report/restore/restoredFlows"), Some(&json!(1)), "{answer}");

    // A Kestra that reports no id: nothing to compare, restored.
    s.stub.delete_flow("company", "etl");
    s.stub.model.lock().unwrap().instance_uuid = None;
    assert_eq!(run(&s.request("restore", json!({}))).pointer("/report/restore/restoredFlows"), Some(&json!(1)));
}
