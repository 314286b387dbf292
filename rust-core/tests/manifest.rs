//! What the manifest (docs/manifest.md) says about a backup: the instance it came from, its items,
//! the plugin types its flows use, what it does not hold, and the coverage guard; through the
//! whole job against the Kestra API stub and the real HTTPS Git server, reading the server's bare
//! repository with the git CLI.

mod support;

use serde_json::{Value, json};
use support::core_run::{report, run_logged};
use support::git_server::{GitServer, ServerRepo};
use support::kestra_stub::KestraStub;
use support::manifest_backup::{backup, manifest_at};

fn flow(id: &str, ns: &str) -> String {
    format!("id: {id}\nnamespace: {ns}\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: hi\n")
}

#[test]
fn the_manifest_names_the_instance_kestra_reports_and_its_url_without_credentials() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("identity"));
    let stub = KestraStub::start();
    stub.set_flow("company", "etl", &flow("etl", "company"));
    let uuid = stub.model.lock().unwrap().instance_uuid.clone().unwrap();
    let mut request = backup(&stub, &server, "identity");
    // Credentials in the URL never reach the manifest.
    request["kestra"]["url"] = json!(stub.url.replace("http://", "http://someone:url-s3cret@"));

    let (out, _) = run_logged(&request);
    report(&out);
    let m = manifest_at(&repo, "main");
    assert_eq!(m["instance"], json!({"id": uuid, "version": "2.0.0", "url": stub.url}), "{m}");
    assert!(!repo.git(&["show", "main:.kestra-backup/manifest.json"]).contains("url-s3cret"));

    // An older server without `configs`: the backup goes on, says why, and names no id.
    stub.model.lock().unwrap().instance_uuid = None;
    stub.set_flow("company", "load", &flow("load", "company"));
    let (out, lines) = run_logged(&request);
    report(&out);
    let m = manifest_at(&repo, "main");
    assert_eq!(m["instance"], json!({"url": stub.url}), "{m}");
    assert!(lines.iter().any(|l| l.contains("identity could not be read") && l.contains("/api/v1/configs")), "{lines:?}");
    assert!(lines.iter().all(|l| !l.contains("url-s3cret") && !l.contains(&stub.password)), "{lines:?}");
}

/// A flow whose plugin types sit at every depth the inventory reads.
const NESTED: &str = "id: nested
namespace: company.team
inputs:
  - id: day
    type: STRING
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [1, 2]
    tasks:
      - id: py
        type: io.kestra.plugin.scripts.python.Script
        taskRunner:
          type: io.kestra.plugin.scripts.runner.docker.Docker
        script: print(1)
errors:
  - id: alert
    type: io.kestra.plugin.core.log.Log
    message: failed
triggers:
  - id: daily
    type: io.kestra.plugin.core.trigger.Schedule
    cron: 0 9 * * *
";

#[test]
fn items_are_named_the_flows_plugin_types_counted_and_the_gaps_listed() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("inventory"));
    let stub = KestraStub::start();
    stub.set_flow("company", "etl", &flow("etl", "company"));
    stub.set_flow("company.team", "nested", NESTED);
    stub.put_file("company", "scripts/run.py", b"print(1)\n");

    let (out, _) = run_logged(&backup(&stub, &server, "inventory"));
    assert_eq!(report(&out)["manifest"], json!({"serial": 1}), "{out}");
    let m = manifest_at(&repo, "main");
    let flows = &m["kinds"]["flows"]["items"];
    assert_eq!((&flows[0]["path"], &flows[0]["namespace"], &flows[0]["name"]), (&json!("flows/company.team/nested.yml"), &json!("company.team"), &json!("nested")));
    assert_eq!((&flows[1]["namespace"], &flows[1]["name"]), (&json!("company"), &json!("etl")));
    let file = &m["kinds"]["namespaceFiles"]["items"][0];
    assert_eq!((&file["path"], &file["namespace"], &file["name"]), (&json!("files/company/scripts/run.py"), &json!("company"), &json!("scripts/run.py")));
    assert_eq!(
        m["plugins"],
        json!([
            {"type": "io.kestra.plugin.core.flow.ForEach", "flows": 1},
            {"type": "io.kestra.plugin.core.log.Log", "flows": 2},
            {"type": "io.kestra.plugin.core.trigger.Schedule", "flows": 1},
            {"type": "io.kestra.plugin.scripts.python.Script", "flows": 1},
            {"type": "io.kestra.plugin.scripts.runner.docker.Docker", "flows": 1}
        ])
    );
    let gaps = m["notCovered"].as_array().unwrap().iter().map(|g| g.as_str().unwrap().to_string()).collect::<Vec<_>>().join("\n");
    for expected in ["Secret values", "Execution history", "Enterprise", "The KV store", "Trigger state", "holds no flow"] {
        assert!(gaps.contains(expected), "`{expected}` missing from notCovered:\n{gaps}");
    }

    // A flow changed: only its types are read again; the other flow's come from the manifest before.
    stub.set_flow("company", "etl", &flow("etl", "company").replace("io.kestra.plugin.core.log.Log", "io.kestra.plugin.core.debug.Return"));
    let (out, _) = run_logged(&backup(&stub, &server, "inventory"));
    let first = repo.git(&["rev-parse", "main~1"]);
    assert_eq!(report(&out)["manifest"], json!({"serial": 2, "previousCommit": first.trim(), "previousSerial": 1}), "{out}");
    let m = manifest_at(&repo, "main");
    let uses = |t: &str| m["plugins"].as_array().unwrap().iter().find(|p| p["type"] == t).map(|p| p["flows"].clone());
    assert_eq!((uses("io.kestra.plugin.core.log.Log"), uses("io.kestra.plugin.core.debug.Return")), (Some(json!(1)), Some(json!(1))));

    // No change: no commit, no manifest in the report.
    let (out, _) = run_logged(&backup(&stub, &server, "inventory"));
    assert!(report(&out)["commitId"].is_null() && report(&out).get("manifest").is_none(), "{out}");
    assert_eq!(manifest_at(&repo, "main")["serial"], 2);

    // The CLI prints the manifest of any ref, its items inline.
    let request_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(request_file.path(), backup(&stub, &server, "inventory").to_string()).unwrap();
    let cli = |args: &[&str]| std::process::Command::new(env!("CARGO_BIN_EXE_kestra-git-backup")).arg("manifest").arg(request_file.path()).args(args).output().unwrap();
    let printed = cli(&["--ref", first.trim()]);
    assert!(printed.status.success(), "{}", String::from_utf8_lossy(&printed.stderr));
    assert_eq!(serde_json::from_slice::<Value>(&printed.stdout).unwrap(), manifest_at(&repo, first.trim()));
    let tip: Value = serde_json::from_slice(&cli(&[]).stdout).unwrap();
    assert_eq!(tip["serial"], 2);
    // A commit without one (plugin-git's, say) is named, exit code 7.
    let without = repo.git(&["commit-tree", "-m", "by plugin-git", "4b825dc642cb6eb9a060e54bf8d69288fbee4904"]);
    repo.git(&["tag", "no-manifest", without.trim()]);
    let refused = cli(&["--ref", "no-manifest"]);
    assert_eq!(refused.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&refused.stderr).contains(&format!("commit {} has no manifest", without.trim())), "{}", String::from_utf8_lossy(&refused.stderr));
}

#[test]
fn a_namespace_gone_from_kestra_fails_the_coverage_guard_until_allowed() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("coverage"));
    let stub = KestraStub::start();
    stub.set_flow("company", "etl", &flow("etl", "company"));
    stub.set_flow("marketing", "mail", &flow("mail", "marketing"));
    stub.put_file("marketing", "template.html", b"<p>hi</p>\n");
    stub.put_file("company", "run.py", b"print(1)\n");
    let mut request = backup(&stub, &server, "coverage");
    report(&run_logged(&request).0);
    let tip = repo.git(&["rev-parse", "main"]);

    stub.delete_flow("marketing", "mail");
    stub.delete_file("marketing", "template.html");
    let (out, lines) = run_logged(&request);
    assert_eq!(out["error"]["code"], "DeletionGuard", "{out}");
    let message = out["error"]["message"].as_str().unwrap();
    assert!(message.contains("`marketing` (2 item(s) before)") && message.contains("guard.allowNamespaceRemoval"), "{message}");
    assert!(lines.iter().any(|l| l == "Coverage of flows: 1 now, 2 before (serial 1)"), "{lines:?}");
    assert!(lines.iter().any(|l| l == "Coverage of namespace files: 1 now, 2 before (serial 1)"), "{lines:?}");
    assert_eq!(repo.git(&["rev-parse", "main"]), tip, "nothing was pushed");

    request["guard"] = json!({"allowNamespaceRemoval": true});
    let (out, _) = run_logged(&request);
    assert_eq!(report(&out)["manifest"]["serial"], 2, "{out}");
    let m = manifest_at(&repo, "main");
    assert_eq!((m["kinds"]["flows"]["count"].as_u64(), m["kinds"]["namespaceFiles"]["count"].as_u64()), (Some(1), Some(1)));
    let own: Vec<String> = repo.files("main").into_iter().filter(|f| f.starts_with(".kestra-backup/")).collect();
    assert!(!own.iter().any(|f| f.contains("marketing")), "the vanished namespace's item files are gone: {own:?}");
}

/// A PushFlows-like (flows of `ns` in `flows/<ns>`) or PushNamespaceFiles-like (files of `ns` in
/// `files/<ns>`) request on one branch, as the seed's loop runs them.
fn push(stub: &KestraStub, server: &GitServer, repo: &str, kind: &str, ns: &str, manifest: bool) -> Value {
    let dir = if kind == "flows" { format!("flows/{ns}") } else { format!("files/{ns}") };
    json!({
        "kestra": {"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}},
        "git": {"url": server.https_url(repo), "username": server.user(), "password": server.token(), "trustedCaPemPath": server.ca_pem_path(), "commitMessage": format!("{kind} of {ns}")},
        "sources": [{"kind": kind, "namespaces": {"one": {"namespace": ns}}, "gitDirectory": dir}],
        "manifest": manifest
    })
}

#[test]
fn push_tasks_write_no_manifest_unless_asked_and_then_keep_the_other_tasks_items() {
    let server = GitServer::start();
    let stub = KestraStub::start();
    stub.set_flow("company", "etl", &flow("etl", "company"));
    stub.put_file("company", "run.py", b"print(1)\n");

    // Default: plugin-git's tree, nothing else.
    let plain = ServerRepo(server.repo("plain"));
    for kind in ["flows", "namespaceFiles"] {
        let (out, _) = run_logged(&push(&stub, &server, "plain", kind, "company", false));
        assert!(report(&out).get("manifest").is_none(), "{out}");
    }
    assert_eq!(plain.git(&["ls-tree", "-r", "--name-only", "main"]), "files/company/run.py\nflows/company/etl.yml\n");

    // With `manifest`: each commit's manifest describes the whole branch.
    let repo = ServerRepo(server.repo("both"));
    run_logged(&push(&stub, &server, "both", "flows", "company", true));
    let (out, _) = run_logged(&push(&stub, &server, "both", "namespaceFiles", "company", true));
    assert_eq!(report(&out)["manifest"]["serial"], 2, "{out}");
    let m = manifest_at(&repo, "main");
    assert_eq!(m["kinds"]["flows"]["items"][0]["path"], "flows/company/etl.yml", "the flows task's item is kept: {m}");
    assert_eq!(m["kinds"]["namespaceFiles"]["items"][0]["name"], "run.py");
    assert_eq!(m["plugins"], json!([{"type": "io.kestra.plugin.core.log.Log", "flows": 1}]));

    stub.set_flow("company", "load", &flow("load", "company"));
    run_logged(&push(&stub, &server, "both", "flows", "company", true));
    let m = manifest_at(&repo, "main");
    assert_eq!((m["serial"].as_u64(), m["kinds"]["flows"]["count"].as_u64(), m["kinds"]["namespaceFiles"]["count"].as_u64()), (Some(3), Some(2), Some(1)));
    assert_eq!(m["instance"]["id"], stub.model.lock().unwrap().instance_uuid.clone().unwrap());
}
