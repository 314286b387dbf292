//! Restore and drill of any backup of the history (`restore.ref`), selection, dependencies, the
//! plan, and the CLI's `log`, against a real HTTPS Git server holding 30 hourly backups with
//! known committer dates, and the Kestra API stub as "Kestra now".

mod support;

use serde_json::{Value, json};
use std::process::Command;
use support::core_run::{run_logged as run};
use support::git_server::{GitServer, ServerRepo};
use support::kestra_stub::KestraStub;

/// 2026-11-01T00:00:00Z; backup `i` is committed at `BASE + i` hours.
const BASE: i64 = 1_793_491_200;
const BACKUPS: usize = 30;

fn flow_text(id: &str, ns: &str, extra: &str) -> String {
    format!("id: {id}\nnamespace: {ns}\n\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: \"Hi {extra}\"\n")
}

fn parent_flow() -> String {
    "id: parent\nnamespace: company\ntasks:\n  - id: call\n    type: io.kestra.plugin.core.flow.Subflow\n    namespace: company.sub\n    flowId: child\n".into()
}

/// The history: `etl` changes every time; `first`, `parent` and `company.sub/child` exist in
/// backups 1–20; `lib/a.py` changes until backup 10; the tip also holds 1,200 small files outside
/// the sources (so that two of its objects share a 4-digit SHA prefix). Returns the SHAs, oldest first.
fn write_history(bare: &std::path::Path) -> Vec<String> {
    let work = tempfile::tempdir().unwrap();
    let git = |args: &[&str], date: Option<i64>| {
        let mut cmd = Command::new("git");
        cmd.arg("-C").arg(work.path()).args(args).env("GIT_AUTHOR_NAME", "Backup Bot").env("GIT_AUTHOR_EMAIL", "bot@example.com");
        cmd.env("GIT_COMMITTER_NAME", "Backup Bot").env("GIT_COMMITTER_EMAIL", "bot@example.com");
        if let Some(d) = date {
            cmd.env("GIT_AUTHOR_DATE", format!("@{d} +0000")).env("GIT_COMMITTER_DATE", format!("@{d} +0000"));
        }
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    git(&["init", "-q", "-b", "main"], None);
    let write = |path: &str, text: &str| {
        let file = work.path().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    };
    let mut shas = Vec::new();
    for i in 1..=BACKUPS {
        write("flows/company/etl.yml", &flow_text("etl", "company", &format!("v{i}")));
        write("files/company/lib/a.py", &format!("print('v{}')\n", i.min(10)));
        if i <= 20 {
            write("flows/company/first.yml", &flow_text("first", "company", "first"));
            write("flows/company/parent.yml", &parent_flow());
            write("flows/company.sub/child.yml", &flow_text("child", "company.sub", "child"));
        } else {
            for gone in ["flows/company/first.yml", "flows/company/parent.yml", "flows/company.sub/child.yml"] {
                let _ = std::fs::remove_file(work.path().join(gone));
            }
        }
        if i == BACKUPS {
            for k in 0..1_200 {
                write(&format!("noise/{k}.txt"), &format!("noise {k}\n"));
            }
        }
        git(&["add", "-A"], None);
        git(&["commit", "-q", "-m", &format!("Backup {i}")], Some(BASE + i as i64 * 3_600));
        shas.push(git(&["rev-parse", "HEAD"], None));
    }
    git(&["push", "-q", bare.to_str().unwrap(), "main"], None);
    shas
}

struct Setup {
    server: GitServer,
    stub: KestraStub,
    shas: Vec<String>,
}

impl Setup {
    fn new() -> Setup {
        let server = GitServer::start();
        let shas = write_history(&server.repo("history"));
        // Kestra now: as the tip, less the flows deleted after backup 20.
        let stub = KestraStub::start();
        stub.set_flow("company", "etl", &flow_text("etl", "company", "v30"));
        stub.put_file("company", "lib/a.py", b"print('v10')\n");
        Setup { server, stub, shas }
    }

    fn sha(&self, backup: usize) -> &str {
        &self.shas[backup - 1]
    }

    fn request(&self, job: &str, restore: Value) -> Value {
        let discover = |kind: &str, dir: &str| json!({"kind": kind, "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": dir});
        json!({
            "job": job, "restore": restore,
            "kestra": {"url": self.stub.url, "auth": {"basic": {"username": self.stub.user, "password": self.stub.password}}},
            "git": {"url": self.server.https_url("history"), "username": self.server.user(), "password": self.server.token(),
                    "trustedCaPemPath": self.server.ca_pem_path()},
            "sources": [discover("flows", "flows"), discover("namespaceFiles", "files")]
        })
    }
}

fn restored(answer: &Value) -> &Value {
    answer.pointer("/report/restore").unwrap_or_else(|| panic!("expected a restore report, got {answer}"))
}

fn invalid_config(answer: &Value) -> String {
    assert_eq!(answer.pointer("/error/code"), Some(&json!("InvalidConfig")), "{answer}");
    answer.pointer("/error/message").unwrap().as_str().unwrap().to_string()
}

fn cli(args: &[&str], request: &Value) -> (bool, String, String) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), request.to_string()).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kestra-git-backup")).arg(args[0]).arg(file.path()).args(&args[1..]).output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into(), String::from_utf8_lossy(&out.stderr).into())
}

#[test]
fn refs_resolve_to_the_backup_they_name_fetching_only_as_deep_as_needed() {
    let s = Setup::new();
    let repo = ServerRepo(s.server.repo_path("history"));
    repo.git(&["tag", "-a", "backup-7", "-m", "seven", s.sha(7)]);
    repo.git(&["tag", "light", s.sha(8)]);
    repo.git(&["branch", "other", s.sha(9)]);
    let from = |reference: &str| {
        let (answer, _) = run(&s.request("drill", json!({"ref": reference})));
        restored(&answer)["restoredFrom"]["commit"].as_str().unwrap().to_string()
    };

    // A SHA 26 backups deep: the shallow tip is deepened, and the plan says what a restore would do.
    let plan = tempfile::NamedTempFile::new().unwrap();
    let (answer, lines) = run(&s.request("drill", json!({"ref": s.sha(5), "planFile": plan.path()})));
    let report = restored(&answer);
    assert_eq!(report["restoredFrom"], json!({"commit": s.sha(5), "date": "2026-11-01T05:00:00Z", "message": "Backup 5"}));
    assert_eq!(report["latestBackup"]["commit"], s.sha(30));
    assert!(lines.iter().any(|l| l.starts_with("Fetching older backups of `main`")), "{lines:?}");
    let rows: Vec<Value> = std::fs::read_to_string(plan.path()).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let row = |file: &str| rows.iter().find(|r| r["file"] == file).unwrap_or_else(|| panic!("no row for {file}: {rows:?}")).clone();
    assert_eq!(row("flows/company/etl.yml")["action"], "replace");
    let diff = row("flows/company/etl.yml")["diff"].as_str().unwrap().to_string();
    assert!(diff.contains("-    message: \"Hi v30\"\n+    message: \"Hi v5\"\n"), "{diff}");
    assert_eq!(row("flows/company/first.yml")["action"], "create");
    assert_eq!(row("files/company/lib/a.py")["action"], "replace");
    assert_eq!(report["plan"], json!({"create": 3, "replace": 2, "unchanged": 0, "skip": 0}), "{report}");

    assert_eq!(from(&s.sha(3)[..7]), s.sha(3), "abbreviated SHA");
    assert_eq!(from("2026-11-01T13:30:00+01:00"), s.sha(12), "12:30Z: the newest backup at or before it");
    assert_eq!(from("2026-11-01T12:00:00Z"), s.sha(12), "at the very second");
    assert_eq!(from("2026-11-01"), s.sha(23), "a date alone: the end of that day, UTC");
    assert_eq!(from("backup-7"), s.sha(7), "annotated tag");
    assert_eq!(from("light"), s.sha(8), "lightweight tag");
    assert_eq!(from("other"), s.sha(9), "branch");
    assert_eq!(from(""), s.sha(30), "blank: the tip");

    // Bad refs fail naming what was wrong; nothing is written anywhere.
    let message = invalid_config(&run(&s.request("restore", json!({"ref": "2026-10-31T00:00:00Z"}))).0);
    assert!(message.contains("is before the first backup of branch `main`") && message.contains("2026-11-01T01:00:00Z \"Backup 1\""), "{message}");
    let message = invalid_config(&run(&s.request("restore", json!({"ref": "nope"}))).0);
    assert!(message.starts_with("`restore.ref`: `nope` is not a tag, a branch, a date or a commit"), "{message}");
    assert!(message.contains(&format!("{} 2026-11-02T06:00:00Z \"Backup 30\"", &s.sha(30)[..7])) && message.contains(&s.sha(26)[..7]), "{message}");
    assert!(!message.contains(&s.sha(25)[..7]), "five newest only: {message}");
    let message = invalid_config(&run(&s.request("restore", json!({"ref": "2026-11-45"}))).0);
    assert!(message.contains("is not a date") && message.contains("2026-11-20T19:00:00+01:00"), "{message}");
    let objects = repo.git(&["ls-tree", "-r", "-t", "--object-only", s.sha(30)]);
    let mut prefixes = std::collections::HashMap::new();
    for oid in objects.lines() {
        *prefixes.entry(&oid[..4]).or_insert(0) += 1;
    }
    let shared = prefixes.iter().find(|(_, n)| **n > 1).map(|(p, _)| p.to_string()).expect("two objects of the tip share 4 hex digits");
    let message = invalid_config(&run(&s.request("restore", json!({"ref": shared}))).0);
    assert!(message.contains(&format!("the short SHA `{shared}` is ambiguous")), "{message}");
    assert_eq!(s.stub.model.lock().unwrap().flows.len(), 1, "nothing restored");
    assert_eq!(repo.commit_count("main"), BACKUPS, "restores never write to Git");

    // A cache directory keeps the history it fetched: the same old ref fetches nothing more.
    let cache = tempfile::tempdir().unwrap();
    let mut cached = s.request("drill", json!({"ref": s.sha(2)}));
    cached["git"]["cacheDir"] = json!(cache.path());
    let (_, first) = run(&cached);
    assert!(first.iter().any(|l| l.starts_with("Fetching older backups")), "{first:?}");
    let (answer, again) = run(&cached);
    assert_eq!(restored(&answer)["restoredFrom"]["commit"], s.sha(2));
    assert!(!again.iter().any(|l| l.starts_with("Fetching older backups")), "{again:?}");
}

#[test]
fn a_selection_restores_only_what_it_names_with_the_subflows_it_calls() {
    let s = Setup::new();
    let flows = |stub: &KestraStub| stub.model.lock().unwrap().flows.iter().map(|((ns, id), src)| (format!("{ns}/{id}"), src.clone())).collect::<Vec<_>>();

    // One deleted flow, as it was at backup 15: back byte for byte, nothing else written.
    let (answer, _) = run(&s.request("restore", json!({"ref": s.sha(15), "flows": ["company/first"]})));
    let report = restored(&answer);
    assert_eq!((report["restoredFlows"].clone(), report["restoredFiles"].clone()), (json!(1), json!(0)), "{report}");
    assert_eq!(report["plan"], json!({"create": 1, "replace": 0, "unchanged": 0, "skip": 0}));
    assert_eq!(
        flows(&s.stub),
        [("company/etl".to_string(), flow_text("etl", "company", "v30")), ("company/first".to_string(), flow_text("first", "company", "first"))]
    );

    // A parent and the subflow it calls, both deleted: selecting the parent brings both.
    let (answer, _) = run(&s.request("restore", json!({"ref": s.sha(15), "flows": ["company/par*"], "withDependencies": true})));
    let report = restored(&answer);
    assert_eq!(report["dependencies"], json!([{"flow": "company.sub/child", "requiredBy": "company/parent"}]));
    assert_eq!(report["restoredFlows"], 2);
    let now = flows(&s.stub);
    assert!(now.contains(&("company/parent".into(), parent_flow())) && now.contains(&("company.sub/child".into(), flow_text("child", "company.sub", "child"))), "{now:?}");

    // A file rolled back with `overwrite`; the differing flow is not selected, so not touched.
    let (answer, _) = run(&s.request("restore", json!({"ref": "2026-11-01T05:59:59Z", "files": ["company/lib/*"]})));
    assert_eq!(restored(&answer)["plan"]["skip"], 1, "differs, overwrite off: {answer}");
    let (answer, _) = run(&s.request("restore", json!({"ref": "2026-11-01T05:59:59Z", "files": ["company/lib/*"], "overwrite": true})));
    assert_eq!(restored(&answer)["restoredFiles"], 1);
    assert_eq!(s.stub.model.lock().unwrap().files[&("company".to_string(), "lib/a.py".to_string())], b"print('v5')\n");
    assert_eq!(flows(&s.stub)[0], ("company/etl".to_string(), flow_text("etl", "company", "v30")));

    // The same on a one-namespace layout (PushFlows + PushNamespaceFiles for `company`).
    s.stub.delete_flow("company", "first");
    let mut one = s.request("restore", json!({"ref": s.sha(15), "flows": ["company/first"]}));
    one["sources"] = json!([
        {"kind": "flows", "namespaces": {"one": {"namespace": "company"}}, "gitDirectory": "flows/company"},
        {"kind": "namespaceFiles", "namespaces": {"one": {"namespace": "company"}}, "gitDirectory": "files/company"}
    ]);
    let (answer, _) = run(&one);
    assert_eq!(restored(&answer)["restoredFlows"], 1, "{answer}");
    assert!(flows(&s.stub).contains(&("company/first".to_string(), flow_text("first", "company", "first"))));

    // A glob without a namespace names the field and the fix.
    let message = invalid_config(&run(&s.request("restore", json!({"flows": ["first"]}))).0);
    assert!(message.starts_with("`restore.flows[0]`: `first` has no `/`"), "{message}");
}

#[test]
fn the_cli_lists_backups_and_restores_by_ref() {
    let s = Setup::new();
    let request = s.request("drill", json!({}));
    let (ok, out, err) = cli(&["log", "--flow", "company/first", "--limit", "0"], &request);
    assert!(ok, "{err}");
    let commits: Vec<&str> = out.lines().filter(|l| !l.starts_with(' ')).collect();
    assert_eq!(commits.len(), 2, "added in backup 1, deleted in backup 21: {out}");
    assert!(commits[0].starts_with(&s.sha(21)[..12]) && commits[0].contains("2026-11-01T21:00:00Z") && commits[0].contains("Backup 21"), "{out}");
    assert!(out.contains("    D flows/company/first.yml") && out.contains("    A flows/company/first.yml"), "{out}");
    assert!(commits[1].starts_with(&s.sha(1)[..12]) && commits[1].contains("+5 ~0 -0"), "{out}");

    let (ok, out, _) = cli(&["log", "--limit", "3", "--json"], &request);
    let entries: Vec<Value> = serde_json::from_str(&out).unwrap();
    assert!(ok && entries.len() == 3 && entries[0]["commit"] == s.sha(30) && entries[0]["added"] == 1_200, "{out}");
    assert_eq!(entries[0]["author"], "Backup Bot <bot@example.com>");
    assert!(entries[0].get("matched").is_none(), "paths are listed only for a filter: {out}");

    let (ok, out, err) = cli(&["run", "--ref", &s.sha(21)[..10]], &request);
    assert!(ok, "{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["restore"]["restoredFrom"]["commit"], s.sha(21));
    let (ok, _, err) = cli(&["log", "--flow", "first"], &request);
    assert!(!ok && err.contains("error[InvalidConfig]: `--flow`: `first` is not `namespace/id`"), "{err}");
}
