//! The incremental export (issue 15) through the whole job, against the Kestra API stub (its
//! requests counted per endpoint) and the real HTTPS Git server: only what Kestra's listings say
//! changed is downloaded, deletions come from the listings, a periodic full export catches what
//! the metadata hid, and the tree equals the one a full export gives.

mod support;

use serde_json::{Value, json};
use support::core_run::{report, run_logged as run};
use support::git_server::{GitServer, ServerRepo};
use support::manifest_backup::manifest_at;
use support::kestra_stub::KestraStub;

fn flow(id: &str, ns: &str, message: &str) -> String {
    format!("id: {id}\nnamespace: {ns}\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: {message}\n")
}

/// BackupInstance's request: flows and files of every namespace, with a manifest.
fn backup(stub: &KestraStub, server: &GitServer, repo: &str, full_export_every: &str) -> Value {
    let discover = |kind: &str, dir: &str| json!({"kind": kind, "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": dir});
    json!({
        "kestra": {"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}},
        "git": {"url": server.https_url(repo), "username": server.user(), "password": server.token(), "trustedCaPemPath": server.ca_pem_path()},
        "sources": [discover("flows", "flows"), discover("namespaceFiles", "files")],
        "manifest": true,
        "fullExportEvery": full_export_every
    })
}

/// Three namespaces of four flows and three files (one in a sub-directory).
fn instance(stub: &KestraStub) {
    for ns in ["company.a", "company.b", "company.c"] {
        for id in ["one", "two", "three", "four"] {
            stub.set_flow(ns, id, &flow(id, ns, &format!("{ns} {id}")));
        }
        stub.put_file(ns, "run.py", format!("print('{ns}')\n").as_bytes());
        stub.put_file(ns, "lib/util.py", b"def util(): pass\n");
        stub.put_file(ns, "lib/data.bin", &[0, 1, 2, 3]);
    }
}

/// The content of `main` without the backup's own directory: `<mode> <blob> <path>` per file.
fn tree(repo: &ServerRepo) -> Vec<String> {
    repo.git(&["ls-tree", "-r", "main"]).lines().filter(|l| !l.contains(".kestra-backup/")).map(str::to_string).collect()
}

fn calls(stub: &KestraStub, endpoint: &str) -> usize {
    stub.model.lock().unwrap().calls(endpoint)
}

fn reset_calls(stub: &KestraStub) {
    stub.model.lock().unwrap().calls.clear();
}

#[test]
fn an_incremental_run_downloads_only_what_changed_and_gives_the_tree_of_a_full_export() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("incremental"));
    let stub = KestraStub::start();
    instance(&stub);
    let request = backup(&stub, &server, "incremental", "P1D");

    let (first, log) = run(&request);
    assert_eq!(report(&first)["exportMode"], "full", "{first}");
    assert!(log.iter().any(|l| l.starts_with("Full export: the branch has no backup manifest")), "{log:?}");
    let manifest = manifest_at(&repo, "main");
    assert!(manifest["lastFullExport"].as_str().is_some(), "{manifest}");
    let item = &manifest["kinds"]["flows"]["items"][0];
    assert_eq!((item["path"].as_str(), item["namespace"].as_str(), item["revision"].as_u64()), (Some("flows/company.a/four.yml"), Some("company.a"), Some(1)));
    assert!(item["updated"].as_str().is_some_and(|u| u.ends_with('Z')), "{item}");
    let file = manifest["kinds"]["namespaceFiles"]["items"].as_array().unwrap().iter().find(|i| i["path"] == "files/company.a/lib/data.bin").unwrap().clone();
    assert_eq!(file["size"], 4, "{file}");

    // No change: listings only, nothing downloaded, no commit.
    reset_calls(&stub);
    let (unchanged, log) = run(&request);
    assert_eq!(report(&unchanged)["exportMode"], "incremental", "{log:?}");
    assert!(report(&unchanged)["commitId"].is_null(), "{unchanged}");
    assert_eq!(calls(&stub, "POST flows/export/by-ids") + calls(&stub, "GET flows/export/by-query") + calls(&stub, "GET namespaces/{ns}/files") + calls(&stub, "GET namespaces/{ns}/files/export"), 0);
    assert!(calls(&stub, "GET flows/search") >= 1 && calls(&stub, "GET namespaces/{ns}/files/directory") >= 3);
    let timings = &report(&unchanged)["timingsMs"];
    assert!(timings["listing"].as_f64().is_some_and(|ms| ms > 0.0 && ms <= timings["export"].as_f64().unwrap() + 1.0), "the listings are timed, within the export: {timings}");

    // One flow edited, one added, one deleted; one file edited, one deleted.
    stub.set_flow("company.b", "two", &flow("two", "company.b", "edited"));
    stub.set_flow("company.c", "five", &flow("five", "company.c", "new"));
    stub.delete_flow("company.a", "one");
    stub.put_file("company.a", "lib/util.py", b"def util(): return 2\n");
    stub.delete_file("company.c", "run.py");
    reset_calls(&stub);
    let (changed, log) = run(&request);
    let r = report(&changed);
    assert_eq!(r["exportMode"], "incremental", "{log:?}");
    assert!(log.iter().any(|l| l.contains("2 of 12 flow(s) and 1 of 8 namespace file(s) downloaded")), "{log:?}");
    assert_eq!(calls(&stub, "POST flows/export/by-ids"), 1);
    assert_eq!(calls(&stub, "GET namespaces/{ns}/files"), 1, "the edited file alone");
    assert_eq!(calls(&stub, "GET flows/export/by-query") + calls(&stub, "GET namespaces/{ns}/files/export"), 0);
    let diff: Vec<&str> = r["diff"].as_array().unwrap().iter().map(|d| d["file"].as_str().unwrap()).collect();
    assert_eq!(
        diff,
        ["files/company.a/lib/util.py", "files/company.c/run.py", "flows/company.a/one.yml", "flows/company.b/two.yml", "flows/company.c/five.yml"],
        "{changed}"
    );
    let files = repo.files("main");
    assert!(!files.iter().any(|f| f == "files/company.c/run.py" || f == "flows/company.a/one.yml"), "deleted from the listings: {files:?}");
    assert_eq!(String::from_utf8(repo.show("main", "flows/company.b/two.yml")).unwrap(), flow("two", "company.b", "edited"));
    let manifest = manifest_at(&repo, "main");
    let two = manifest["kinds"]["flows"]["items"].as_array().unwrap().iter().find(|i| i["path"] == "flows/company.b/two.yml").unwrap().clone();
    assert_eq!(two["revision"], 2, "{two}");
    // The chain as with a full export: the tip's manifest the export read is the previous one.
    assert_eq!((manifest["serial"].as_u64(), manifest["previous"]["commit"].as_str()), (Some(2), report(&first)["commitId"].as_str()), "{manifest}");
    assert_eq!(manifest["kinds"]["flows"]["count"], 12, "{manifest}");

    // A full export of the same Kestra into another repository gives the same tree.
    server.repo("full");
    let (full, _) = run(&backup(&stub, &server, "full", "PT0S"));
    assert_eq!(report(&full)["exportMode"], "full");
    assert_eq!(tree(&repo), tree(&ServerRepo(server.repo("full"))));
}

#[test]
fn a_flow_edited_without_a_new_revision_is_caught_by_the_periodic_full_export() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("silent"));
    let stub = KestraStub::start();
    instance(&stub);
    run(&backup(&stub, &server, "silent", "P1D"));

    // Kestra keeps revision 1 for an edited flow: the incremental run trusts it.
    stub.edit_flow_silently("company.a", "two", &flow("two", "company.a", "edited silently"));
    let (trusting, _) = run(&backup(&stub, &server, "silent", "P1D"));
    assert_eq!(report(&trusting)["exportMode"], "incremental");
    assert!(report(&trusting)["commitId"].is_null(), "{trusting}");

    // Once `fullExportEvery` has passed, the full export finds it, says so and commits it.
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    reset_calls(&stub);
    let (checked, log) = run(&backup(&stub, &server, "silent", "PT1S"));
    assert_eq!(report(&checked)["exportMode"], "full", "{log:?}");
    assert!(log.iter().any(|l| l.starts_with("Full export: the last full export ran at") && l.contains("`fullExportEvery` is PT1S")), "{log:?}");
    assert!(
        log.iter().any(|l| l.contains("found 1 item(s) whose content differs from what the backup kept") && l.contains("`flows/company.a/two.yml`")),
        "{log:?}"
    );
    assert_eq!(calls(&stub, "GET flows/export/by-query"), 1);
    assert!(report(&checked)["commitId"].is_string());
    assert_eq!(String::from_utf8(repo.show("main", "flows/company.a/two.yml")).unwrap(), flow("two", "company.a", "edited silently"));
    let manifest = manifest_at(&repo, "main");
    let (first, now) = (repo.git(&["show", "main~1:.kestra-backup/manifest.json"]), manifest["lastFullExport"].as_str().unwrap().to_string());
    assert!(!first.contains(&now), "the full export's time is recorded: {now}");
}

#[test]
fn a_listing_that_contradicts_the_record_makes_the_run_full() {
    let server = GitServer::start();
    server.repo("contradiction");
    let stub = KestraStub::start();
    instance(&stub);
    run(&backup(&stub, &server, "contradiction", "P1D"));
    // Other bytes under the same modification time: the metadata cannot explain it.
    {
        let mut m = stub.model.lock().unwrap();
        let key = ("company.b".to_string(), "run.py".to_string());
        m.files.insert(key.clone(), b"print('longer than before')\n".to_vec());
        m.file_times.get_mut(&key).unwrap().0 = b"print('longer than before')\n".to_vec();
    }
    let (run2, log) = run(&backup(&stub, &server, "contradiction", "P1D"));
    assert_eq!(report(&run2)["exportMode"], "full", "{log:?}");
    assert!(log.iter().any(|l| l.starts_with("Full export: Kestra lists `files/company.b/run.py` with the recorded modification time but 28 bytes instead of 19")), "{log:?}");
    assert!(report(&run2)["commitId"].is_string());
}

#[test]
fn full_export_every_zero_makes_every_run_full() {
    let server = GitServer::start();
    server.repo("always");
    let stub = KestraStub::start();
    instance(&stub);
    let request = backup(&stub, &server, "always", "PT0S");
    run(&request);
    reset_calls(&stub);
    let (second, log) = run(&request);
    assert_eq!(report(&second)["exportMode"], "full");
    assert!(log.iter().any(|l| l == "Full export: `fullExportEvery` is zero"), "{log:?}");
    assert_eq!(calls(&stub, "GET flows/export/by-query"), 1);
    assert_eq!(calls(&stub, "GET namespaces/{ns}/files/export"), 5, "company, its three children and system");
    assert_eq!(calls(&stub, "POST flows/export/by-ids") + calls(&stub, "GET namespaces/{ns}/files"), 0);

    let mut bad = request.clone();
    bad["fullExportEvery"] = json!("daily");
    let (refused, _) = run(&bad);
    assert!(refused["error"]["message"].as_str().unwrap().contains("`fullExportEvery`: `daily` is not an ISO-8601 duration"), "{refused}");
}

/// The flow search of a large instance spans pages, asked for a few at a time: every page is asked
/// for once and every flow is listed, so a no-change run downloads nothing and deletes nothing.
#[test]
fn a_listing_of_many_pages_reads_each_page_once_and_misses_no_flow() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("paged"));
    let stub = KestraStub::start();
    // 6 pages of the core's 500: five full ones and a short last one.
    for n in 0..2_600 {
        let ns = format!("company.n{:02}", n % 13);
        let id = format!("flow_{n:04}");
        stub.set_flow(&ns, &id, &flow(&id, &ns, "paged"));
    }
    let request = backup(&stub, &server, "paged", "P1D");
    let (first, _) = run(&request);
    assert_eq!(report(&first)["exportMode"], "full", "{first}");

    reset_calls(&stub);
    let (unchanged, log) = run(&request);
    assert_eq!(report(&unchanged)["exportMode"], "incremental", "{log:?}");
    assert!(report(&unchanged)["commitId"].is_null(), "nothing missed, nothing deleted: {unchanged}");
    assert_eq!(calls(&stub, "GET flows/search"), 6, "each page once");
    assert_eq!(calls(&stub, "POST flows/export/by-ids") + calls(&stub, "GET flows/export/by-query"), 0);
    assert_eq!(repo.files("main").iter().filter(|f| f.starts_with("flows/")).count(), 2_600);
}

/// A server whose `total` claims far more flows than it has: the listing ends at the first empty
/// pages instead of asking for every page the count implies.
#[test]
fn an_overstated_total_ends_at_the_first_empty_page() {
    let server = GitServer::start();
    let repo = ServerRepo(server.repo("overstated"));
    let stub = KestraStub::start();
    for n in 0..600 {
        let id = format!("flow_{n:03}");
        stub.set_flow("company.team", &id, &flow(&id, "company.team", "counted"));
    }
    stub.model.lock().unwrap().flow_total_overstated_by = 1_000_000;
    let (first, _) = run(&backup(&stub, &server, "overstated", "P1D"));
    assert!(report(&first)["commitId"].is_string(), "{first}");
    assert_eq!(repo.files("main").iter().filter(|f| f.starts_with("flows/")).count(), 600);
    // Page 1, then one batch of four pages (2 holds the last 100 flows, 3 to 5 are empty).
    assert_eq!(calls(&stub, "GET flows/search"), 5, "not the 2,001 pages the total implies");
}
