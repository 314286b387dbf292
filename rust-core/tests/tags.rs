//! `git.tag` against the real HTTPS Git server: an annotated tag on the backup commit (or on the
//! unchanged tip), pushed with the branch and to mirrors, signed with `signingKey`, never moved.
//! Assertions read the server's bare repositories with the git CLI.

mod support;

use serde_json::{Value, json};
use std::process::Command;
use support::git_server::{GitServer, ServerRepo};
use support::kestra_stub::KestraStub;

/// Runs the core in this process; `on_log` sees every log event as it is emitted.
fn run_logged(request: &Value, on_log: &mut dyn FnMut(&str)) -> Value {
    let mut sink = |event: &kestra_git_backup::LogEvent| on_log(&event.message);
    serde_json::from_str(&kestra_git_backup::run_json(&request.to_string(), &mut sink)).unwrap()
}

fn run(request: &Value) -> Value {
    run_logged(request, &mut |_| {})
}

/// A one-namespace flows backup of the stub to `repo` on the server, tagged `tag`.
fn tagged_backup(server: &GitServer, stub: &KestraStub, repo: &str, tag: &str) -> Value {
    json!({
        "kestra": {"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}},
        "git": {
            "url": server.https_url(repo), "username": server.user(), "password": server.token(),
            "trustedCaPemPath": server.ca_pem_path(), "authorName": "Backup Bot", "authorEmail": "bot@example.com",
            "commitMessage": "Nightly backup", "tag": tag
        },
        "sources": [{"kind": "flows", "namespaces": {"one": {"namespace": "company"}}, "gitDirectory": "flows/company"}]
    })
}

/// A Git server with an empty repository `name`, and a Kestra stub holding the flow `company/etl`.
fn servers(name: &str) -> (GitServer, ServerRepo, KestraStub) {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo(name));
    let stub = KestraStub::start();
    set_flow(&stub, "etl", "one");
    (server, repo, stub)
}

fn set_flow(stub: &KestraStub, id: &str, says: &str) {
    stub.set_flow("company", id, &format!("id: {id}\nnamespace: company\ntasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: {says}\n"));
}

fn tag_report(r: &Value) -> &Value {
    r.pointer("/report/tag").unwrap_or_else(|| panic!("expected a report with a tag, got {r}"))
}

/// What `refs/tags/<tag>` holds on the server: (the tag object, the commit it names).
fn server_tag(repo: &ServerRepo, tag: &str) -> (String, String) {
    let object = repo.git(&["rev-parse", &format!("refs/tags/{tag}")]).trim().to_string();
    (object, repo.git(&["rev-parse", &format!("refs/tags/{tag}^{{commit}}")]).trim().to_string())
}

fn tip(repo: &ServerRepo) -> String {
    repo.git(&["rev-parse", "main"]).trim().to_string()
}

/// Another writer: clones `repo`, commits a file of its own and pushes it to `destination` (a
/// ref of the server); returns that commit.
fn push_from_another_clone(repo: &ServerRepo, destination: &str) -> String {
    let clone = tempfile::tempdir().unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git").current_dir(clone.path()).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    git(&["clone", "-q", repo.0.to_str().unwrap(), "."]);
    std::fs::write(clone.path().join("NOTES.md"), "written by someone else\n").unwrap();
    git(&["add", "."]);
    git(&["-c", "user.name=o", "-c", "user.email=o@o", "commit", "-qm", "other writer"]);
    git(&["push", "-q", "origin", &format!("HEAD:{destination}")]);
    git(&["rev-parse", "HEAD"])
}

/// Every ref of the repository with its value: branches and tags, to compare before and after.
fn refs(repo: &ServerRepo) -> String {
    repo.git(&["for-each-ref", "--format=%(refname) %(objectname)"])
}

#[test]
fn the_new_commit_is_tagged_in_the_same_push_and_a_tag_is_never_moved() {
    let (server, repo, stub) = servers("tags");

    // First backup: one commit, one annotated tag on it, sent in one push.
    let r = run(&tagged_backup(&server, &stub, "tags", "backup-2026-12-01"));
    let commit = tip(&repo);
    assert_eq!(r["report"]["commitId"], json!(commit), "{r}");
    assert_eq!(r["report"]["pushAttempts"], 1, "branch and tag in one push: {r}");
    assert_eq!(tag_report(&r), &json!({"name": "backup-2026-12-01", "commit": commit, "created": true}));
    let (object, named) = server_tag(&repo, "backup-2026-12-01");
    assert_eq!(named, commit);
    assert_eq!(repo.git(&["cat-file", "-t", &object]).trim(), "tag", "an annotated tag, not a lightweight one");
    let text = repo.git(&["cat-file", "tag", &object]);
    assert!(text.starts_with(&format!("object {commit}\ntype commit\ntag backup-2026-12-01\ntagger Backup Bot <bot@example.com> ")), "{text}");
    assert!(text.ends_with("\n\nNightly backup\n"), "{text}");
    repo.git(&["fsck", "--strict"]);

    // Same tag, nothing changed: it already names the tip; nothing is pushed.
    let r = run(&tagged_backup(&server, &stub, "tags", "backup-2026-12-01"));
    assert_eq!(tag_report(&r), &json!({"name": "backup-2026-12-01", "commit": commit, "created": false}));
    assert_eq!(r["report"]["pushAttempts"], 0, "{r}");
    assert_eq!(server_tag(&repo, "backup-2026-12-01").0, object, "the tag object is the first run's");

    // Another tag, nothing changed: the tip is tagged, no commit is made.
    let r = run(&tagged_backup(&server, &stub, "tags", "backup-2026-12-02"));
    assert!(r["report"]["commitId"].is_null(), "{r}");
    assert_eq!(tag_report(&r), &json!({"name": "backup-2026-12-02", "commit": commit, "created": true}));
    assert_eq!(server_tag(&repo, "backup-2026-12-02").1, commit);
    assert_eq!(repo.commit_count("main"), 1);

    // A change with a tag name already used: the tag would move, so the run fails before
    // committing anything, naming the tag and its commit; the server is untouched.
    set_flow(&stub, "etl", "two");
    let before = refs(&repo);
    let r = run(&tagged_backup(&server, &stub, "tags", "backup-2026-12-01"));
    assert_eq!(r.pointer("/error/code"), Some(&json!("InvalidConfig")), "{r}");
    let message = r.pointer("/error/message").and_then(Value::as_str).unwrap();
    assert!(message.starts_with("`git.tag`: tag `backup-2026-12-01` already exists") && message.contains(&format!("names commit {commit}")), "{message}");
    assert!(message.contains("set `tag` on the last task only"), "{message}");
    assert!(r.pointer("/error/localCommit").unwrap().is_null(), "nothing was committed: {r}");
    assert_eq!(refs(&repo), before);

    // A dry run says what it would tag and pushes nothing.
    let mut dry = tagged_backup(&server, &stub, "tags", "backup-2026-12-03");
    dry["dryRun"] = json!(true);
    let r = run(&dry);
    assert!(r["report"]["commitId"].is_null() && r["report"].get("tag").is_none(), "{r}");
    assert_eq!(refs(&repo), before);

    // A name Git refuses fails before any connection, naming the property.
    let requests = server.http_requests();
    let r = run(&tagged_backup(&server, &stub, "tags", "backup 2026-12-03"));
    assert_eq!(r.pointer("/error/code"), Some(&json!("InvalidConfig")), "{r}");
    assert!(r.pointer("/error/message").and_then(Value::as_str).unwrap().starts_with("`git.tag`: `backup 2026-12-03` is not a valid Git tag name"), "{r}");
    assert_eq!(server.http_requests(), requests);

    // A restore reads the backup by its tag (`restore.ref`).
    let mut drill = tagged_backup(&server, &stub, "tags", "unused");
    drill["git"].as_object_mut().unwrap().remove("tag");
    drill["job"] = json!("drill");
    drill["restore"] = json!({"ref": "backup-2026-12-01"});
    let r = run(&drill);
    assert_eq!(r.pointer("/report/restore/restoredFrom/commit"), Some(&json!(commit)), "{r}");
}

#[test]
fn a_signed_tag_verifies_with_git_verify_tag() {
    let (server, repo, stub) = servers("signed-tags");
    let mut request = tagged_backup(&server, &stub, "signed-tags", "backup-signed");
    request["git"]["signingKey"] = json!(server.key("KEY_ED25519_PASS"));
    request["git"]["signingKeyPassphrase"] = json!(server.get("SSH_PASSPHRASE"));
    let r = run(&request);
    assert_eq!(tag_report(&r)["created"], true, "{r}");
    assert!(!r.to_string().contains(server.get("SSH_PASSPHRASE")));

    let verify_tag = |signer_key: &str| server.verify_ssh_signature(&repo, "verify-tag", "backup-signed", signer_key);
    let (ok, said) = verify_tag("KEY_ED25519_PASS");
    assert!(ok && said.contains("Good \"git\" signature for bot@example.com"), "{said}");
    let (ok, said) = verify_tag("KEY_ED25519");
    assert!(!ok, "another key must not verify the tag: {said}");
    assert!(repo.git(&["cat-file", "tag", "backup-signed"]).contains("\n-----BEGIN SSH SIGNATURE-----\n"));
}

#[test]
fn a_mirror_gets_the_tag_on_its_own_commit() {
    let (server, primary, stub) = servers("tag-primary");
    let mirror = ServerRepo(server.repo("tag-mirror"));
    // The mirror has a history of its own, so its backup commit differs from the primary's.
    push_from_another_clone(&mirror, "refs/heads/main");
    let mut request = tagged_backup(&server, &stub, "tag-primary", "backup-mirrored");
    request["git"]["mirrors"] = json!([{"url": server.https_url("tag-mirror"), "username": server.user(), "password": server.token(),
        "trustedCaPemPath": server.ca_pem_path()}]);
    let r = run(&request);
    assert_eq!(tag_report(&r)["commit"], json!(tip(&primary)), "{r}");
    assert_eq!(r["report"]["mirrors"][0]["commitId"], json!(tip(&mirror)), "{r}");
    assert_ne!(tip(&primary), tip(&mirror));
    assert_eq!(server_tag(&primary, "backup-mirrored").1, tip(&primary));
    assert_eq!(server_tag(&mirror, "backup-mirrored").1, tip(&mirror), "the mirror's tag names the mirror's commit");
    assert_eq!(mirror.git(&["cat-file", "-t", "backup-mirrored"]).trim(), "tag");
}

#[test]
fn after_a_lost_push_race_the_tag_names_the_commit_that_lands() {
    let (server, repo, stub) = servers("tag-race");
    let request = tagged_backup(&server, &stub, "tag-race", "backup-raced");
    run(&request);
    set_flow(&stub, "etl", "two");

    // Another writer pushes to the branch right after the run committed, before it pushes.
    let mut other_commit = None;
    let r = run_logged(&tagged_backup(&server, &stub, "tag-race", "backup-raced-2"), &mut |message| {
        if message.starts_with("Committed ") && other_commit.is_none() {
            other_commit = Some(push_from_another_clone(&repo, "refs/heads/main"));
        }
    });
    let other_commit = other_commit.expect("the run committed");
    assert_eq!(r["report"]["pushAttempts"], 2, "the first push lost the race: {r}");
    let landed = tip(&repo);
    assert_eq!(repo.git(&["rev-parse", "main^"]).trim(), other_commit, "rebuilt on the other writer's commit");
    assert_eq!(tag_report(&r), &json!({"name": "backup-raced-2", "commit": landed, "created": true}));
    assert_eq!(server_tag(&repo, "backup-raced-2").1, landed, "the tag names the commit that landed");
}

#[test]
fn a_tag_the_server_took_while_refusing_the_branch_fails_the_run_with_conflict() {
    let (server, repo, stub) = servers("tag-split");
    run(&tagged_backup(&server, &stub, "tag-split", "backup-1"));

    // Another writer's commit, on the server but not yet on `main`.
    let other_commit = push_from_another_clone(&repo, "refs/heads/other");
    // Once, the writer's commit lands on `main` after the server received our push but before it
    // updates the refs: the server refuses our branch update and takes the tag (pushes are not atomic).
    let git_path = String::from_utf8(Command::new("sh").args(["-c", "command -v git"]).output().unwrap().stdout).unwrap();
    let hook = repo.0.join("hooks/pre-receive");
    std::fs::write(&hook, format!("#!/bin/sh\nrm -f \"$0\"\nenv -u GIT_QUARANTINE_PATH {} update-ref refs/heads/main {other_commit}\n", git_path.trim())).unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    set_flow(&stub, "etl", "two");
    let r = run(&tagged_backup(&server, &stub, "tag-split", "backup-2"));
    assert_eq!(r.pointer("/error/code"), Some(&json!("Conflict")), "{r}");
    assert_eq!(tip(&repo), other_commit);
    let (_, tagged) = server_tag(&repo, "backup-2");
    assert_ne!(tagged, other_commit);
    let message = r.pointer("/error/message").and_then(Value::as_str).unwrap();
    assert!(message.contains(&format!("tag `backup-2` was pushed to {} on commit {tagged}", server.https_url("tag-split"))), "{message}");
    assert!(message.contains("delete the tag on the remote and run the task again"), "{message}");

    // Done as the message says, the next run tags the commit that lands.
    repo.git(&["tag", "-d", "backup-2"]);
    let r = run(&tagged_backup(&server, &stub, "tag-split", "backup-2"));
    assert_eq!(tag_report(&r)["commit"], json!(tip(&repo)), "{r}");
    assert_eq!(repo.git(&["rev-parse", "main^"]).trim(), other_commit);
    assert_eq!(server_tag(&repo, "backup-2").1, tip(&repo));
}

#[test]
fn a_refused_tag_fails_the_run_after_the_branch_took_the_commit() {
    let (server, repo, stub) = servers("tag-protected");
    // Protected tags: the server's update hook refuses every tag, branches go through.
    let hook = repo.0.join("hooks/update");
    std::fs::write(&hook, "#!/bin/sh\ncase \"$1\" in refs/tags/*) echo 'tags are protected' >&2; exit 1;; esac\n").unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();

    let r = run(&tagged_backup(&server, &stub, "tag-protected", "backup-1"));
    assert_eq!(r.pointer("/error/code"), Some(&json!("PushRejected")), "{r}");
    let message = r.pointer("/error/message").and_then(Value::as_str).unwrap();
    assert!(message.contains("rejected the push of refs/tags/backup-1") && message.contains("check tag protection"), "{message}");
    assert!(message.contains(&format!("branch `main` was pushed ({})", tip(&repo))), "{message}");
    assert!(r.pointer("/error/unpushedBundle").unwrap().is_null(), "the branch has the commit: no bundle: {r}");
    assert_eq!(repo.files("main"), ["flows/company/etl.yml"]);
    assert_eq!(refs(&repo).lines().count(), 1, "no tag: {}", refs(&repo));

    // Tags allowed again: the next run tags the tip it left.
    std::fs::remove_file(&hook).unwrap();
    let r = run(&tagged_backup(&server, &stub, "tag-protected", "backup-1"));
    assert_eq!(tag_report(&r), &json!({"name": "backup-1", "commit": tip(&repo), "created": true}));
}
