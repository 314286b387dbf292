//! Benchmark (prints figures; not a test): restore one flow from a backup 1,000 commits deep. The
//! history — a first backup of 50 namespaces × 200 flows, then 999 backups changing one flow each,
//! an hour apart — is written with `git fast-import` into a real Git server's repository (HTTPS);
//! the Kestra API stub holds the tip, less the flow to restore. Cases: the tip (no history
//! needed), then the oldest backup without a cache directory, with a new one, and with the same
//! one again.
//!
//!     cargo run --release -p kestra-git-backup --example restore_bench

#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::{Value, json};
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Instant;
use support::git_server::GitServer;
use support::kestra_stub::KestraStub;

const NAMESPACES: usize = 50;
const FLOWS_PER_NAMESPACE: usize = 200;
const BACKUPS: usize = 1_000;
/// 2026-01-01T00:00:00Z
const START: u64 = 1_767_225_600;

fn flow(ns: &str, id: &str, version: usize) -> String {
    format!("id: {id}\nnamespace: {ns}\ndescription: version {version}\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: \"{{{{ flow.id }}}} says hello\"\n")
}

fn name(n: usize) -> (String, String) {
    (format!("company.team{:02}", n / FLOWS_PER_NAMESPACE), format!("flow_{:03}", n % FLOWS_PER_NAMESPACE))
}

/// The fast-import stream of the whole history; the content of each flow at the tip.
fn history() -> (Vec<u8>, Vec<(String, String, String)>) {
    let total = NAMESPACES * FLOWS_PER_NAMESPACE;
    let mut version = vec![1usize; total];
    let mut out = Vec::new();
    for backup in 1..=BACKUPS {
        let when = START + backup as u64 * 3_600;
        let message = format!("Backup {backup}");
        write!(out, "commit refs/heads/main\ncommitter Bench <bench@example.com> {when} +0000\ndata {}\n{message}\n", message.len()).unwrap();
        let changed: Vec<usize> = if backup == 1 { (0..total).collect() } else { vec![(backup * 7919) % total] };
        for n in changed {
            if backup > 1 {
                version[n] = backup;
            }
            let (ns, id) = name(n);
            let text = flow(&ns, &id, version[n]);
            write!(out, "M 100644 inline flows/{ns}/{id}.yml\ndata {}\n{text}\n", text.len()).unwrap();
        }
    }
    let tip = (0..total).map(|n| {
        let (ns, id) = name(n);
        let text = flow(&ns, &id, version[n]);
        (ns, id, text)
    });
    (out, tip.collect())
}

fn main() {
    let server = GitServer::start();
    let bare = server.repo("deep");
    let (stream, tip) = history();
    let t = Instant::now();
    let mut import = Command::new("git").arg("-C").arg(&bare).args(["fast-import", "--quiet"]).stdin(Stdio::piped()).spawn().unwrap();
    import.stdin.take().unwrap().write_all(&stream).unwrap();
    assert!(import.wait().unwrap().success());
    let oldest = String::from_utf8(Command::new("git").arg("-C").arg(&bare).args(["rev-list", "--max-parents=0", "main"]).output().unwrap().stdout).unwrap();
    let oldest = oldest.trim().to_string();
    println!("history: {BACKUPS} backups of {} flows written in {} ms; restoring one flow from {oldest}", tip.len(), t.elapsed().as_millis());

    let stub = KestraStub::start();
    for (ns, id, text) in &tip {
        stub.set_flow(ns, id, text);
    }
    let (ns, id) = name(42);
    let request = |reference: &str, cache: Option<&std::path::Path>| {
        json!({
            "job": "restore", "restore": {"ref": reference, "flows": [format!("{ns}/{id}")]},
            "kestra": {"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}},
            "git": {"url": server.https_url("deep"), "username": server.user(), "password": server.token(),
                    "trustedCaPemPath": server.ca_pem_path(), "cacheDir": cache},
            "sources": [{"kind": "flows", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": "flows"}]
        })
    };
    println!("{:<34} {:>9} {:>9} {:>9} {:>13}", "case", "total ms", "fetch ms", "export ms", "bytes fetched");
    let cache = tempfile::tempdir().unwrap();
    for (case, reference, cache) in [
        ("tip, no cache", "main", None),
        ("1,000 deep, no cache", oldest.as_str(), None),
        ("1,000 deep, new cache", oldest.as_str(), Some(cache.path())),
        ("1,000 deep, same cache again", oldest.as_str(), Some(cache.path())),
    ] {
        stub.delete_flow(&ns, &id);
        let mut sink = |_: &kestra_git_backup::LogEvent| {};
        let answer: Value = serde_json::from_str(&kestra_git_backup::run_json(&request(reference, cache).to_string(), &mut sink)).unwrap();
        let report = answer.get("report").unwrap_or_else(|| panic!("{answer}"));
        assert_eq!(report["restore"]["restoredFlows"], 1, "{answer}");
        let ms = |key: &str| report["timingsMs"][key].as_u64().unwrap_or(0);
        println!("{case:<34} {:>9} {:>9} {:>9} {:>13}", ms("total"), ms("fetch"), ms("export"), report["bytesFetched"]);
    }
}
