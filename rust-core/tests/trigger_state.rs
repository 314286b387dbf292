//! Trigger state (docs/trigger-state.md) through the whole job: the Kestra API stub's triggers
//! endpoints (Kestra 2.0's search and set-disabled, Kestra 1.x's search) and a real Git server.

mod support;

use serde_json::{Value, json};
use support::core_run::{report, run};
use support::git_server::{GitServer, ServerRepo};
use support::kestra_stub::{KestraStub, TriggerApi};

fn error_code(v: &Value) -> &str {
    v.pointer("/error/code").and_then(Value::as_str).unwrap_or_else(|| panic!("expected an error, got {v}"))
}

fn flow(id: &str, ns: &str) -> String {
    format!("id: {id}\nnamespace: {ns}\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n")
}

/// A whole-instance backup of `company` with trigger state in `triggers/`.
fn backup(stub: &KestraStub, server: &GitServer) -> Value {
    let discover = |kind: &str, dir: &str| json!({"kind": kind, "namespaces": {"discover": {"prefix": "company"}}, "gitDirectory": dir});
    json!({
        "kestra": {"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}},
        "git": {"url": server.https_url("triggers"), "username": server.user(), "password": server.token(), "trustedCaPemPath": server.ca_pem_path()},
        "sources": [discover("flows", "flows"), discover("namespaceFiles", "files")],
        "triggerState": {"gitDirectory": "triggers"}
    })
}

fn job(backup: &Value, name: &str, options: Value) -> Value {
    let mut request = backup.clone();
    request["job"] = json!(name);
    request["restore"] = options;
    request
}

fn disabled(stub: &KestraStub, ns: &str, flow: &str, trigger: &str) -> bool {
    stub.model.lock().unwrap().triggers[&(ns.to_string(), flow.to_string(), trigger.to_string())]
}

/// Flows of `company` (and one of `other`) with triggers, a state whose flow is gone, and more
/// triggers than one search page holds.
fn seed(stub: &KestraStub) {
    stub.set_flow("company", "etl", &flow("etl", "company"));
    stub.set_flow("company.team", "report", &flow("report", "company.team"));
    stub.set_flow("company", "many", &flow("many", "company"));
    stub.set_flow("other", "x", &flow("x", "other"));
    stub.set_trigger("company", "etl", "nightly", true);
    stub.set_trigger("company", "etl", "hourly", false);
    stub.set_trigger("company.team", "report", "weekly", false);
    stub.set_trigger("other", "x", "t", true);
    stub.set_trigger("company", "ghost", "t", true); // a state whose flow is gone: Kestra leaves it out
    for i in 0..150 {
        stub.set_trigger("company", "many", &format!("t{i:03}"), i % 7 == 0); // more than one page
    }
}

#[test]
fn backup_records_restore_reapplies_and_drill_reports_trigger_state() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("triggers"));
    let stub = KestraStub::start();
    seed(&stub);
    let backup = backup(&stub, &server);

    // One file per flow with triggers, in the namespace tree backed up, and nothing else.
    let first = run(&backup);
    assert!(report(&first)["commitId"].is_string(), "{first}");
    let files = repo.files("main");
    let triggers: Vec<&String> = files.iter().filter(|f| f.starts_with("triggers/")).collect();
    assert_eq!(triggers, ["triggers/company.team/report.json", "triggers/company/etl.json", "triggers/company/many.json"]);
    let etl: Value = serde_json::from_slice(&repo.show("main", "triggers/company/etl.json")).unwrap();
    assert_eq!(etl, json!({"namespace": "company", "flowId": "etl", "triggers": {"hourly": {"disabled": false}, "nightly": {"disabled": true}}}));
    let many: Value = serde_json::from_slice(&repo.show("main", "triggers/company/many.json")).unwrap();
    assert_eq!(many["triggers"].as_object().unwrap().len(), 150, "every page read");
    assert_eq!(many["triggers"]["t007"]["disabled"], true);

    // No change, no commit; one trigger switched → one commit changing one file.
    assert!(report(&run(&backup))["commitId"].is_null(), "a no-change run makes no commit");
    stub.set_trigger("company", "etl", "hourly", true);
    let switched = run(&backup);
    assert!(report(&switched)["commitId"].is_string(), "{switched}");
    assert_eq!(repo.last_commit_paths("main"), ["triggers/company/etl.json"]);
    assert_eq!(report(&switched)["diff"].as_array().unwrap().len(), 1);

    // Someone re-enables the nightly schedule: the drill reports it, and fails on it when asked.
    stub.set_trigger("company", "etl", "nightly", false);
    let drill = run(&job(&backup, "drill", json!({})));
    assert_eq!(
        report(&drill)["restore"]["triggerDrift"],
        json!([{"trigger": "company/etl/nightly", "backup": "disabled", "kestra": "enabled"}]),
        "{drill}"
    );
    let strict = run(&job(&backup, "drill", json!({"failOnDrift": true})));
    assert_eq!(error_code(&strict), "Drift");
    assert!(strict.to_string().contains("trigger `company/etl/nightly` disabled in the backup, enabled in Kestra"), "{strict}");

    // The switch off (no `triggerState`) and a dry run leave Kestra's state alone.
    let mut untouched = job(&backup, "restore", json!({}));
    untouched.as_object_mut().unwrap().remove("triggerState");
    let r = run(&untouched);
    assert_eq!(report(&r)["restore"]["triggersSet"], 0, "{r}");
    let mut dry = job(&backup, "restore", json!({}));
    dry["dryRun"] = json!(true);
    let r = run(&dry);
    assert_eq!(report(&r)["restore"]["triggerDrift"].as_array().unwrap().len(), 1, "{r}");
    assert!(!disabled(&stub, "company", "etl", "nightly") && stub.model.lock().unwrap().trigger_writes.is_empty());

    // The restore sets the one trigger that differs back to the recorded state.
    let r = run(&job(&backup, "restore", json!({})));
    assert_eq!(report(&r)["restore"]["triggersSet"], 1, "{r}");
    assert!(disabled(&stub, "company", "etl", "nightly"));
    assert_eq!(stub.model.lock().unwrap().trigger_writes, ["company/etl/nightly true"]);
    assert_eq!(report(&run(&job(&backup, "drill", json!({"failOnDrift": true}))))["restore"]["triggerDrift"], json!([]));

    // Triggers of flows the restore does not select are not touched.
    stub.set_trigger("company", "etl", "hourly", false);
    stub.set_trigger("company.team", "report", "weekly", true);
    let r = run(&job(&backup, "restore", json!({"flows": ["company.team/*"]})));
    assert_eq!(report(&r)["restore"]["triggersSet"], 1, "{r}");
    assert!(!disabled(&stub, "company.team", "report", "weekly"));
    assert!(!disabled(&stub, "company", "etl", "hourly"), "not selected: left as Kestra has it");
    assert!(disabled(&stub, "other", "x", "t"), "outside the backup's namespaces: untouched");
    assert_eq!(repo.commit_count("main"), 2, "restores and drills never write to Git");
}

#[test]
fn the_trigger_state_directory_may_not_overlap_a_source() {
    let server = GitServer::start();
    let stub = KestraStub::start();
    let mut request = backup(&stub, &server);
    request["triggerState"]["gitDirectory"] = json!("flows/triggers");
    let r = run(&request);
    assert_eq!(error_code(&r), "InvalidConfig");
    assert!(r.to_string().contains("`triggerState.gitDirectory`") && r.to_string().contains("overlaps"), "{r}");
    assert_eq!(stub.request_count(), 0, "refused before any connection");
}

#[test]
fn kestra_1x_answers_are_recorded_alike_and_a_restore_there_sets_nothing() {
    let server = GitServer::start();
    let (repo_20, repo_1x) = (ServerRepo(server.repo("triggers")), ServerRepo(server.repo("triggers-1x")));
    let stub = KestraStub::start();
    seed(&stub);
    let backup_20 = backup(&stub, &server);
    assert!(report(&run(&backup_20))["commitId"].is_string());

    // Kestra 1.x's shape (`triggerContext`, a gone flow's state with no `abstractTrigger`): the same files, byte for byte.
    stub.model.lock().unwrap().trigger_api = TriggerApi::Kestra1x;
    let mut backup_1x = backup_20.clone();
    backup_1x["git"]["url"] = json!(server.https_url("triggers-1x"));
    let first = run(&backup_1x);
    assert!(report(&first)["commitId"].is_string(), "{first}");
    let files = repo_20.files("main");
    assert!(files.iter().filter(|f| f.starts_with("triggers/")).count() == 3, "{files:?}");
    assert_eq!(repo_1x.files("main"), files);
    for file in files.iter().filter(|f| f.starts_with("triggers/")) {
        assert_eq!(repo_1x.show("main", file), repo_20.show("main", file), "{file}");
    }

    // A drill reports drift as on 2.0; a restore with nothing to set succeeds.
    let r = run(&job(&backup_1x, "restore", json!({})));
    assert_eq!(report(&r)["restore"]["triggersSet"], 0, "{r}");
    stub.set_trigger("company", "etl", "nightly", false);
    let drill = run(&job(&backup_1x, "drill", json!({})));
    assert_eq!(report(&drill)["restore"]["triggerDrift"], json!([{"trigger": "company/etl/nightly", "backup": "disabled", "kestra": "enabled"}]), "{drill}");

    // A restore that would set a trigger: Kestra 1.x cannot, so it fails naming the trigger and the switch.
    let r = run(&job(&backup_1x, "restore", json!({})));
    assert_eq!(error_code(&r), "KestraApi");
    let message = r.to_string();
    assert!(message.contains("company/etl/nightly") && message.contains("`includeTriggerState: false`"), "{message}");
    assert!(!disabled(&stub, "company", "etl", "nightly"));
    assert!(stub.model.lock().unwrap().trigger_writes.is_empty());
}

#[test]
fn a_search_answer_in_no_known_shape_fails_and_deletes_no_recorded_file() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("triggers"));
    let stub = KestraStub::start();
    seed(&stub);
    let backup = backup(&stub, &server);
    assert!(report(&run(&backup))["commitId"].is_string());
    let before = repo.files("main");

    stub.model.lock().unwrap().trigger_api = TriggerApi::Unknown;
    let r = run(&backup);
    assert_eq!(error_code(&r), "KestraApi");
    let message = r.to_string();
    assert!(message.contains("triggers/search") && message.contains("neither `state`") && message.contains("`includeTriggerState: false`"), "{message}");
    assert_eq!((repo.commit_count("main"), repo.files("main")), (1, before), "nothing committed, no recorded file deleted");
}
