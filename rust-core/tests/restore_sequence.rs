//! The restore's sequence guard: a flow or namespace file the restore would replace that Kestra
//! changed after the backup read it (a higher revision, a later modification than the manifest
//! recorded) refuses a restore of the branch tip, before anything is written; an explicit `ref`
//! restores it with a warning. Against the real HTTPS Git server and the Kestra API stub, whose
//! flow search raises a flow's revision when its source changes and whose directory listing moves
//! a file's modification time when its bytes change.

mod support;

use serde_json::{Value, json};
use support::git_server::{GitServer, ServerRepo};
use support::kestra_stub::KestraStub;
use support::manifest_backup;

fn run(request: &Value) -> (Value, Vec<String>) {
    let mut lines = Vec::new();
    let mut sink = |e: &kestra_git_backup::LogEvent| lines.push(format!("{:?} {}", e.level, e.message));
    let answer = serde_json::from_str(&kestra_git_backup::run_json(&request.to_string(), &mut sink)).unwrap();
    (answer, lines)
}

fn flow(message: &str) -> String {
    format!("id: etl\nnamespace: company\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: {message}\n")
}

fn error(answer: &Value) -> String {
    assert_eq!(answer.pointer("/error/code"), Some(&json!("InvalidBackup")), "{answer}");
    answer.pointer("/error/message").unwrap().as_str().unwrap().to_string()
}

fn restored(answer: &Value) -> &Value {
    answer.pointer("/report/restore").unwrap_or_else(|| panic!("expected a restore report, got {answer}"))
}

struct Setup {
    server: GitServer,
    repo: ServerRepo,
    stub: KestraStub,
}

impl Setup {
    /// Kestra holding `company/etl` and `company/lib/run.py`; an empty repository `repo`.
    fn new(repo: &str) -> Setup {
        let (server, stub) = (GitServer::start(), KestraStub::start());
        let repo = ServerRepo(server.repo(repo));
        stub.set_flow("company", "etl", &flow("as backed up"));
        stub.put_file("company", "lib/run.py", b"print('as backed up')\n");
        Setup { server, repo, stub }
    }

    /// BackupInstance's backup (manifest with Kestra's revisions); its commit.
    fn backup(&self, repo: &str) -> String {
        let (answer, _) = run(&manifest_backup::backup(&self.stub, &self.server, repo));
        answer.pointer("/report/commitId").and_then(Value::as_str).unwrap_or_else(|| panic!("no commit: {answer}")).to_string()
    }

    fn restore(&self, repo: &str, restore: Value) -> Value {
        let mut request = manifest_backup::backup(&self.stub, &self.server, repo);
        request.as_object_mut().unwrap().remove("manifest");
        request["job"] = json!("restore");
        request["restore"] = restore;
        request
    }

    fn writes(&self) -> usize {
        self.stub.model.lock().unwrap().writes.len()
    }

    fn flow_now(&self) -> String {
        self.stub.model.lock().unwrap().flows[&("company".to_string(), "etl".to_string())].clone()
    }
}

#[test]
fn a_flow_changed_in_kestra_after_the_backup_refuses_the_tip_and_an_explicit_ref_restores_it() {
    let s = Setup::new("flow");
    let commit = s.backup("flow");
    let manifest = manifest_backup::manifest_at(&s.repo, "main");
    assert_eq!(manifest["kinds"]["flows"]["items"][0]["revision"], 1, "{manifest}");
    s.stub.set_flow("company", "etl", &flow("changed in Kestra"));
    let before = s.writes();

    // The tip, no `ref`: refused before anything is written, naming the flow, both revisions and the backup.
    let message = error(&run(&s.restore("flow", json!({"overwrite": true}))).0);
    assert!(message.contains("`flows/company/etl.yml` (revision 1 in the backup, 2 in Kestra)"), "{message}");
    assert!(message.contains(&format!("after backup serial 1 ({commit}, ")) && message.contains("so nothing was restored"), "{message}");
    assert!(message.contains("Set `restore.ref` explicitly (e.g. the branch name or a commit)"), "{message}");
    assert_eq!((s.writes(), s.flow_now()), (before, flow("changed in Kestra")), "nothing written");

    // Without `overwrite` nothing is replaced, so nothing is compared: the differing flow is left alone.
    let (answer, _) = run(&s.restore("flow", json!({})));
    assert_eq!((restored(&answer)["restoredFlows"].clone(), restored(&answer)["newerInKestra"].clone()), (json!(0), json!([])), "{answer}");

    // A dry run says what the restore would refuse and fails nothing.
    let mut dry = s.restore("flow", json!({"overwrite": true}));
    dry["dryRun"] = json!(true);
    let (answer, lines) = run(&dry);
    let newer = &restored(&answer)["newerInKestra"];
    assert_eq!(newer.as_array().map(Vec::len), Some(1), "{answer}");
    assert_eq!((newer[0]["file"].as_str(), newer[0]["kind"].as_str()), (Some("flows/company/etl.yml"), Some("flow")));
    assert_eq!((newer[0]["backupRevision"].as_u64(), newer[0]["kestraRevision"].as_u64()), (Some(1), Some(2)));
    assert!(newer[0]["backupUpdated"].is_string() && newer[0]["kestraUpdated"].is_string(), "{newer}");
    assert!(lines.iter().any(|l| l.starts_with("Warn Dry run — without `restore.ref` this restore would be refused")), "{lines:?}");
    dry["restore"]["ref"] = json!("main");
    let (_, lines) = run(&dry);
    assert!(lines.iter().any(|l| l.starts_with("Warn Dry run — a restore would write backup serial 1 (`restore.ref`) over 1 item(s)")), "{lines:?}");
    assert_eq!(s.writes(), before, "a dry run writes nothing");

    // The same restore naming the backup: restored over Kestra's change, with a warning and the report's row.
    let (answer, lines) = run(&s.restore("flow", json!({"overwrite": true, "ref": "main"})));
    let report = restored(&answer);
    assert_eq!(report["restoredFlows"], 1, "{answer}");
    assert_eq!(report["newerInKestra"][0]["file"], "flows/company/etl.yml");
    assert!(lines.iter().any(|l| l.starts_with("Warn Restoring backup serial 1 (`restore.ref`) over 1 item(s) Kestra changed since it was taken: `flows/company/etl.yml` (revision 1 in the backup, 2 in Kestra)")), "{lines:?}");
    assert_eq!(s.flow_now(), flow("as backed up"));

    // A backup of another instance, let through by `allowOtherInstance`: revisions are not compared.
    s.stub.set_flow("company", "etl", &flow("changed again"));
    s.stub.model.lock().unwrap().instance_uuid = Some("0b7e0000-0000-4000-8000-000000000002".into());
    let (answer, lines) = run(&s.restore("flow", json!({"overwrite": true, "allowOtherInstance": true})));
    assert_eq!(restored(&answer)["restoredFlows"], 1, "{answer}");
    assert!(lines.iter().any(|l| l.contains("Sequence guard skipped: the backup comes from another Kestra instance")), "{lines:?}");
}

/// Namespaces nested in one another (`company`, `company.team`): the guard lists flows once, for
/// the topmost (Kestra's search by namespace prefix returns the children too), and still compares
/// the child's flow.
#[test]
fn nested_namespaces_are_listed_once_and_both_changes_are_caught() {
    let s = Setup::new("nested");
    let child = |message: &str| flow(message).replace("namespace: company\n", "namespace: company.team\n");
    s.stub.set_flow("company.team", "etl", &child("as backed up"));
    s.backup("nested");
    s.stub.set_flow("company", "etl", &flow("changed in Kestra"));
    s.stub.set_flow("company.team", "etl", &child("changed in Kestra"));
    let searches = || s.stub.model.lock().unwrap().calls("GET flows/search");
    let before = searches();
    let message = error(&run(&s.restore("nested", json!({"overwrite": true}))).0);
    assert!(message.contains("`flows/company/etl.yml` (revision 1 in the backup, 2 in Kestra)"), "{message}");
    assert!(message.contains("`flows/company.team/etl.yml` (revision 1 in the backup, 2 in Kestra)"), "{message}");
    assert_eq!(searches() - before, 1, "one flow listing for both namespaces");
}

#[test]
fn a_namespace_file_modified_in_kestra_after_the_backup_is_refused_likewise() {
    let s = Setup::new("file");
    s.backup("file");
    let manifest = manifest_backup::manifest_at(&s.repo, "main");
    let recorded = manifest["kinds"]["namespaceFiles"]["items"][0]["updated"].as_str().unwrap_or_else(|| panic!("{manifest}")).to_string();
    std::thread::sleep(std::time::Duration::from_millis(5));
    s.stub.put_file("company", "lib/run.py", b"print('changed in Kestra')\n");
    let before = s.writes();

    let message = error(&run(&s.restore("file", json!({"overwrite": true}))).0);
    assert!(message.contains(&format!("`files/company/lib/run.py` (modified {recorded} in the backup, ")), "{message}");
    assert!(message.starts_with("1 item(s) the restore would replace"), "only the file changed: {message}");
    assert_eq!(s.writes(), before, "nothing written");

    let (answer, _) = run(&s.restore("file", json!({"overwrite": true, "ref": "main"})));
    let newer = &restored(&answer)["newerInKestra"][0];
    assert_eq!((newer["kind"].as_str(), newer["backupUpdated"].as_str()), (Some("file"), Some(recorded.as_str())), "{answer}");
    assert!(newer["kestraUpdated"].as_str().unwrap() > recorded.as_str(), "{newer}");
    assert_eq!(restored(&answer)["restoredFiles"], 1);
    assert_eq!(s.stub.model.lock().unwrap().files[&("company".to_string(), "lib/run.py".to_string())], b"print('as backed up')\n");
}

#[test]
fn a_backup_without_recorded_revisions_skips_the_guard_and_says_so() {
    let s = Setup::new("plain");
    // PushFlows with `manifest: true`: one namespace, no listings, so no revisions recorded.
    let mut backup = manifest_backup::backup(&s.stub, &s.server, "plain");
    backup["sources"] = json!([{"kind": "flows", "namespaces": {"one": {"namespace": "company"}}, "gitDirectory": "flows/company"}]);
    let (answer, _) = run(&backup);
    assert!(answer.pointer("/report/commitId").is_some(), "{answer}");
    let manifest = manifest_backup::manifest_at(&s.repo, "main");
    assert!(manifest["kinds"]["flows"]["items"][0].get("revision").is_none(), "{manifest}");
    s.stub.set_flow("company", "etl", &flow("changed in Kestra"));

    let mut restore = s.restore("plain", json!({"overwrite": true}));
    restore["sources"] = backup["sources"].clone();
    let (answer, lines) = run(&restore);
    assert_eq!(restored(&answer)["restoredFlows"], 1, "{answer}");
    assert!(
        lines.iter().any(|l| l == "Info Sequence guard skipped: the manifest of backup serial 1 records no Kestra revision for the 1 item(s) to replace (a backup taken before revisions were recorded, or not by BackupInstance)"),
        "{lines:?}"
    );
    assert_eq!(s.flow_now(), flow("as backed up"));
}
