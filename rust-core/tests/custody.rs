//! The manifest chain (docs/manifest.md) and the chain-of-custody check (docs/custody.md) through
//! the whole job, against the Kestra API stub and the real HTTPS Git server; assertions read the
//! server's bare repository with the git CLI, and history is rewritten there with `git push --force`.

mod support;

use serde_json::{Value, json};
use support::core_run::{report, run};
use support::git_server::{GitServer, ServerRepo};
use support::kestra_stub::KestraStub;
use support::manifest_backup::{backup, manifest_at};

fn error(v: &Value) -> &Value {
    v.get("error").unwrap_or_else(|| panic!("expected an error, got {v}"))
}

const RECORD: &str = "refs/kestra-backup/last/main";

fn rev(repo: &ServerRepo, rev: &str) -> String {
    repo.git(&["rev-parse", rev]).trim().to_string()
}

/// `git push --force` of `commit` to `refname` of the server's repository (what an operator
/// rewriting the history does), pushed from that repository itself so any of its objects can go.
fn force_push(repo: &ServerRepo, commit: &str, refname: &str) {
    repo.git(&["push", "-q", "--force", repo.0.to_str().unwrap(), &format!("{commit}:{refname}")]);
}

/// The rescue branch a failed run pushed, as the error names it and as the server holds it.
fn rescue_branch(repo: &ServerRepo, failed: &Value) -> String {
    let branch = error(failed)["rescue"]["branch"].as_str().unwrap_or_else(|| panic!("no rescue in {failed}")).to_string();
    assert!(branch.starts_with("main-rescue-") && branch.len() >= "main-rescue-20261202-073000".len(), "{branch}");
    assert_eq!(error(failed)["rescue"]["commit"].as_str().unwrap(), rev(repo, &format!("refs/heads/{branch}")));
    branch
}

fn flow(id: &str, ns: &str, message: &str) -> String {
    format!("id: {id}\nnamespace: {ns}\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: {message}\n")
}

#[test]
fn every_backup_commit_carries_a_manifest_chained_to_the_one_before() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("chain"));
    let stub = KestraStub::start();
    stub.set_flow("company", "etl", &flow("etl", "company", "one"));
    stub.put_file("company", "scripts/run.py", b"print(1)\n");
    let request = backup(&stub, &server, "chain");

    let first = run(&request);
    let first_commit = report(&first)["commitId"].as_str().unwrap().to_string();
    assert_eq!(rev(&repo, RECORD), first_commit, "the custody record names the backup pushed");
    let m1 = manifest_at(&repo, "main");
    assert_eq!((m1["format"].as_u64(), m1["serial"].as_u64()), (Some(2), Some(1)));
    assert!(m1["previous"].is_null(), "{m1}");
    assert_eq!(m1["kinds"]["flows"]["count"], 1);
    assert_eq!(m1["kinds"]["flows"]["items"][0]["path"], "flows/company/etl.yml");
    assert_eq!(m1["kinds"]["flows"]["items"][0]["blob"].as_str().unwrap(), repo.git(&["rev-parse", "main:flows/company/etl.yml"]).trim());
    assert_eq!(m1["kinds"]["namespaceFiles"]["count"], 1);
    // The manifest is not in the diff of Kestra's content.
    assert_eq!(report(&first)["diff"].as_array().unwrap().len(), 2, "{first}");

    // No change: no commit, no push (not even of the record), the manifest untouched.
    let unchanged = run(&request);
    assert!(report(&unchanged)["commitId"].is_null(), "{unchanged}");
    assert_eq!((report(&unchanged)["pushAttempts"].as_u64(), report(&unchanged)["bytesPushed"].as_u64()), (Some(0), Some(0)), "{unchanged}");
    assert_eq!(repo.commit_count("main"), 1);
    assert_eq!(rev(&repo, RECORD), first_commit);

    stub.set_flow("company", "etl", &flow("etl", "company", "two"));
    let second = run(&request);
    let second_commit = report(&second)["commitId"].as_str().unwrap().to_string();
    let m2 = manifest_at(&repo, "main");
    assert_eq!(rev(&repo, RECORD), second_commit);
    assert_eq!(m2["serial"], 2);
    assert_eq!(m2["previous"]["commit"].as_str().unwrap(), first_commit);
    assert_eq!(m2["previous"]["serial"], 1);
    assert_eq!(m2["previous"]["date"].as_str().unwrap(), repo.git(&["log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ", &first_commit]).trim());

    stub.delete_flow("company", "etl");
    stub.set_flow("company", "load", &flow("load", "company", "three"));
    run(&request);
    let m3 = manifest_at(&repo, "main");
    assert_eq!((m3["serial"].as_u64(), m3["previous"]["commit"].as_str()), (Some(3), Some(second_commit.as_str())));
    assert_eq!(m3["kinds"]["flows"]["items"][0]["path"], "flows/company/load.yml");
    assert_eq!(m3["kinds"]["flows"]["count"], 1);
}

#[test]
fn a_source_at_the_repository_root_never_touches_the_manifest() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("root"));
    let stub = KestraStub::start();
    stub.set_flow("company", "etl", &flow("etl", "company", "one"));
    let mut request = backup(&stub, &server, "root");
    request["sources"] = json!([{"kind": "flows", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": ""}]);
    run(&request);
    stub.set_flow("company", "etl", &flow("etl", "company", "two"));
    let second = run(&request);
    assert_eq!(report(&second)["diff"].as_array().unwrap().len(), 1, "{second}");
    assert_eq!(repo.files("main"), [".kestra-backup/items/flows/company.json", ".kestra-backup/manifest.json", "company/etl.yml"]);
    assert_eq!(manifest_at(&repo, "main")["serial"], 2);
}

/// Three backups (serials 1 to 3) of flow `company/etl`; their commits, oldest first.
fn three_backups(stub: &KestraStub, request: &Value) -> Vec<String> {
    (1..=3)
        .map(|n| {
            stub.set_flow("company", "etl", &flow("etl", "company", &format!("v{n}")));
            report(&run(request))["commitId"].as_str().unwrap().to_string()
        })
        .collect()
}

#[test]
fn a_force_push_dropping_the_two_newest_backups_fails_and_the_backup_goes_to_a_rescue_branch() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("forced"));
    let stub = KestraStub::start();
    let request = backup(&stub, &server, "forced");
    let b = three_backups(&stub, &request);

    force_push(&repo, &b[0], "refs/heads/main");
    stub.set_flow("company", "etl", &flow("etl", "company", "v4"));
    let failed = run(&request);
    assert_eq!(error(&failed)["code"], "HistoryRewritten", "{failed}");
    let message = error(&failed)["message"].as_str().unwrap();
    let date = |c: &str| repo.git(&["log", "-1", "--format=%cd", "--date=format-local:%Y-%m-%dT%H:%M:%SZ", c]).trim().to_string();
    for (commit, serial) in [(&b[2], 3), (&b[1], 2)] {
        assert!(message.contains(&format!("{commit} (serial {serial}, {})", date(commit))), "names {commit}: {message}");
    }
    assert!(message.contains(&format!("now stands at {}", &b[0][..12])), "{message}");
    // The branch is left as the rewrite left it; the backup is on the rescue branch, on top of
    // the last intact backup, holding the new snapshot.
    assert_eq!(rev(&repo, "main"), b[0]);
    let rescue = rescue_branch(&repo, &failed);
    assert!(message.contains(&format!("`{rescue}`")) && message.contains(error(&failed)["rescue"]["commitUrl"].as_str().unwrap()), "{message}");
    assert_eq!(rev(&repo, &format!("{rescue}^")), b[2], "built on the last intact backup");
    assert!(String::from_utf8(repo.show(&rescue, "flows/company/etl.yml")).unwrap().contains("message: v4"));
    let m = manifest_at(&repo, &rescue);
    assert_eq!((m["serial"].as_u64(), m["previous"]["commit"].as_str()), (Some(4), Some(b[2].as_str())));
    assert_eq!(rev(&repo, RECORD), b[2], "the record is not moved by a rescue");

    // Nothing changed since: the next run fails the same way, its rescue branch names the same commit.
    let again = run(&request);
    assert_eq!(error(&again)["code"], "HistoryRewritten", "{again}");
    assert_eq!(rev(&repo, "main"), b[0]);
}

#[test]
fn a_rebase_dropping_a_middle_backup_is_caught_by_the_link_check() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("rebased"));
    let stub = KestraStub::start();
    let request = backup(&stub, &server, "rebased");
    let b = three_backups(&stub, &request);

    // The third backup's content re-committed onto the first, the second dropped; the custody
    // record moved along, so only the manifests' links can tell.
    let rewritten = repo.git(&["-c", "user.name=Operator", "-c", "user.email=op@example.com", "commit-tree", &format!("{}^{{tree}}", b[2]), "-p", &b[0], "-m", "rebased"]).trim().to_string();
    force_push(&repo, &rewritten, "refs/heads/main");
    force_push(&repo, &rewritten, RECORD);
    stub.set_flow("company", "etl", &flow("etl", "company", "v4"));
    let failed = run(&request);
    assert_eq!(error(&failed)["code"], "HistoryRewritten", "{failed}");
    let message = error(&failed)["message"].as_str().unwrap();
    assert!(message.contains(&format!("the manifest of backup commit {} names {} (serial 2,", &rewritten[..12], b[1])), "{message}");
    assert!(message.contains(&format!("holds backup commit {} there", &b[0][..12])), "{message}");
    assert!(message.contains("no intact backup commit is known"), "{message}");
    let rescue = rescue_branch(&repo, &failed);
    assert_eq!(rev(&repo, &format!("{rescue}^")), rewritten, "no intact commit known: built on the tip");
    assert_eq!(rev(&repo, "main"), rewritten);
}

#[test]
fn a_mirror_reset_to_an_older_commit_is_caught_for_that_mirror_only() {
    let server = GitServer::start();
    let primary = ServerRepo(server.repo("primary"));
    let mirror = ServerRepo(server.repo("mirror"));
    let stub = KestraStub::start();
    let mut request = backup(&stub, &server, "primary");
    request["git"]["mirrors"] = json!([{"url": server.https_url("mirror"), "username": server.user(), "password": server.token(), "trustedCaPemPath": server.ca_pem_path()}]);
    let b = three_backups(&stub, &request);
    let mirror_b: Vec<String> = (0..3).map(|n| rev(&mirror, &format!("main~{}", 2 - n))).collect();
    // The mirror's commits are its own; they may still equal the primary's byte for byte (same
    // tree, parent, author and second), so only the mirror's history is rewritten below.
    assert_eq!(manifest_at(&mirror, "main")["serial"], 3);

    force_push(&mirror, &mirror_b[0], "refs/heads/main");
    stub.set_flow("company", "etl", &flow("etl", "company", "v4"));
    let failed = run(&request);
    assert_eq!(error(&failed)["code"], "HistoryRewritten", "{failed}");
    let message = error(&failed)["message"].as_str().unwrap();
    assert!(message.starts_with("the backup was pushed (") && message.contains(&format!("the mirror {}", server.https_url("mirror"))), "{message}");
    assert!(message.contains(&format!("{} (serial 3,", mirror_b[2])), "{message}");
    // The primary went on as usual; the mirror's branch is untouched, its backup on its rescue branch.
    assert_eq!((manifest_at(&primary, "main")["serial"].as_u64(), rev(&primary, "main~1")), (Some(4), b[2].clone()));
    assert_eq!(rev(&primary, RECORD), rev(&primary, "main"));
    assert_eq!(rev(&mirror, "main"), mirror_b[0]);
    let rescue = rescue_branch(&mirror, &failed);
    assert_eq!(rev(&mirror, &format!("{rescue}^")), mirror_b[2]);
    assert_eq!(mirror.files(&rescue), primary.files("main"));
}

#[test]
fn a_branch_recreated_with_a_plausible_chain_and_record_is_caught_through_the_cache() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("recreated"));
    let stub = KestraStub::start();
    let cache = tempfile::tempdir().unwrap();
    let mut cached = backup(&stub, &server, "recreated");
    cached["git"]["cacheDir"] = json!(cache.path());
    let b = three_backups(&stub, &cached);

    // The branch recreated from the first backup, the record deleted, then a run without the
    // cache: a consistent chain (serial 2 on serial 1) and a record naming it.
    force_push(&repo, &b[0], "refs/heads/main");
    repo.git(&["update-ref", "-d", RECORD]);
    stub.set_flow("company", "etl", &flow("etl", "company", "forged"));
    let plain = backup(&stub, &server, "recreated");
    let forged = report(&run(&plain))["commitId"].as_str().unwrap().to_string();
    assert_eq!((rev(&repo, RECORD), manifest_at(&repo, "main")["serial"].as_u64()), (forged.clone(), Some(2)));

    stub.set_flow("company", "etl", &flow("etl", "company", "v5"));
    let failed = run(&cached);
    assert_eq!(error(&failed)["code"], "HistoryRewritten", "{failed}");
    let message = error(&failed)["message"].as_str().unwrap();
    assert!(message.contains("this cache's record of the last push names") && message.contains(&format!("{} (serial 3,", b[2])) && message.contains(&format!("{} (serial 2,", b[1])), "{message}");
    let rescue = rescue_branch(&repo, &failed);
    assert_eq!(rev(&repo, &format!("{rescue}^")), b[2], "built on the cache's commit, which the server had lost");
    assert_eq!(rev(&repo, &format!("{rescue}~3")), b[0]);
    assert_eq!(rev(&repo, "main"), forged);
}

#[test]
fn accept_rewritten_history_builds_on_the_rewritten_branch_and_moves_the_record() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("accepted"));
    let stub = KestraStub::start();
    let mut request = backup(&stub, &server, "accepted");
    let b = three_backups(&stub, &request);

    force_push(&repo, &b[0], "refs/heads/main");
    stub.set_flow("company", "etl", &flow("etl", "company", "v4"));
    request["git"]["acceptRewrittenHistory"] = json!(true);
    let mut warnings = Vec::new();
    let mut sink = |e: &kestra_git_backup::LogEvent| {
        if e.level == kestra_git_backup::Level::Warn {
            warnings.push(e.message.clone());
        }
    };
    let answer: Value = serde_json::from_str(&kestra_git_backup::run_json(&request.to_string(), &mut sink)).unwrap();
    let commit = report(&answer)["commitId"].as_str().unwrap().to_string();
    assert!(warnings.iter().any(|w| w.contains("acceptRewrittenHistory") && w.contains(&b[2]) && w.contains(&b[1])), "{warnings:?}");
    assert_eq!((rev(&repo, "main"), rev(&repo, "main^")), (commit.clone(), b[0].clone()));
    assert_eq!(manifest_at(&repo, "main")["previous"]["commit"].as_str(), Some(b[0].as_str()));
    assert_eq!(rev(&repo, RECORD), commit, "the record moved back, forced");
    assert_eq!(repo.git(&["for-each-ref", "--format=%(refname)", "refs/heads"]).trim(), "refs/heads/main", "no rescue branch");

    // The next run without the switch builds on the accepted history.
    request["git"]["acceptRewrittenHistory"] = json!(false);
    stub.set_flow("company", "etl", &flow("etl", "company", "v5"));
    let next = run(&request);
    assert_eq!(report(&next)["commitId"].as_str().map(|c| rev(&repo, &format!("{c}^"))), Some(commit), "{next}");
}

#[test]
fn a_first_run_with_custody_on_an_existing_chain_creates_the_record_without_a_commit() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("upgrade"));
    let stub = KestraStub::start();
    let request = backup(&stub, &server, "upgrade");
    let b = three_backups(&stub, &request);
    // A version without custody records: the chain is there, the record is not.
    repo.git(&["update-ref", "-d", RECORD]);
    let unchanged = run(&request);
    assert!(report(&unchanged)["commitId"].is_null(), "{unchanged}");
    assert_eq!(rev(&repo, RECORD), b[2]);
    assert_eq!(repo.git(&["for-each-ref", "--format=%(refname)", "refs/heads"]).trim(), "refs/heads/main");
}

#[test]
fn without_manifests_the_cache_record_of_the_last_push_catches_a_force_push() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("plain"));
    let stub = KestraStub::start();
    let cache = tempfile::tempdir().unwrap();
    // PushFlows' shape: one namespace at the repository root, no manifest.
    let mut request = backup(&stub, &server, "plain");
    request["manifest"] = json!(false);
    request["sources"] = json!([{"kind": "flows", "namespaces": {"one": {"namespace": "company"}}, "gitDirectory": ""}]);
    request["git"]["cacheDir"] = json!(cache.path());
    let b = three_backups(&stub, &request);
    assert_eq!(repo.files("main"), ["etl.yml"], "plugin-git's tree: no manifest");
    assert!(repo.git(&["for-each-ref", "refs/kestra-backup"]).is_empty(), "no remote record without manifests");

    force_push(&repo, &b[0], "refs/heads/main");
    stub.set_flow("company", "etl", &flow("etl", "company", "v4"));
    let failed = run(&request);
    assert_eq!(error(&failed)["code"], "HistoryRewritten", "{failed}");
    let message = error(&failed)["message"].as_str().unwrap();
    assert!(message.contains(&format!("this cache's record of the last push names {}", &b[2][..12])) && message.contains(&b[2]), "{message}");
    let rescue = rescue_branch(&repo, &failed);
    assert_eq!(rev(&repo, &format!("{rescue}^")), b[2]);
    assert_eq!(rev(&repo, "main"), b[0]);

    // Without a cache there is nothing to check a manifest-less branch against (docs/custody.md).
    let mut uncached = request.clone();
    uncached["git"].as_object_mut().unwrap().remove("cacheDir");
    let built = run(&uncached);
    assert_eq!(report(&built)["commitId"].as_str().map(|c| rev(&repo, &format!("{c}^"))), Some(b[0].clone()), "{built}");
}

/// `kestra-git-backup verify <request>`: (exit code, stdout).
fn verify_cli(request: &Value) -> (i32, String) {
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), request.to_string()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_kestra-git-backup")).arg("verify").arg(file.path()).output().unwrap();
    (out.status.code().unwrap(), String::from_utf8(out.stdout).unwrap())
}

#[test]
fn verify_prints_the_chain_and_fails_once_the_history_was_rewritten() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("verified"));
    let stub = KestraStub::start();
    let request = backup(&stub, &server, "verified");
    let b = three_backups(&stub, &request);

    let (code, out) = verify_cli(&request);
    assert_eq!(code, 0, "{out}");
    let serials: Vec<&str> = out.lines().filter(|l| l.starts_with("serial")).collect();
    assert_eq!(serials.len(), 3, "{out}");
    assert!(serials[0].contains(&b[2]) && serials[0].contains("custody record") && serials[2].contains(&b[0]), "{out}");
    assert!(out.contains("the chain starts at serial 1"), "{out}");

    force_push(&repo, &b[0], "refs/heads/main");
    let (code, out) = verify_cli(&request);
    assert_eq!(code, 8, "{out}");
    assert!(out.contains(&format!("REWRITTEN: the custody record names {} (serial 3)", b[2])), "{out}");
    assert!(!out.contains(server.token()), "no secret in the output");
}
