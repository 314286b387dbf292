//! Benchmark (prints figures; not a test): the drill's verification of a 1,000-backup history. The
//! history — a first backup of 20 namespaces × 100 flows, then 999 backups changing one flow each,
//! an hour apart, every commit carrying its manifest chained to the one before — is written with
//! `git fast-import` (asking it each commit's SHA for the next manifest's `previous`) into a real
//! Git server's repository (HTTPS); the Kestra API stub holds the tip. Cases: the drill verifying
//! the whole history without a cache directory, with a new one, with the same one again, and
//! the last 10 backups only.
//!
//!     cargo run --release -p kestra-git-backup --example verify_bench

#[path = "../tests/support/mod.rs"]
mod support;

use kestra_git_backup::snapshot::manifest::{self, Instance, Item, Kind, KindItems, Manifest, PluginUse, Previous};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Instant;
use support::git_server::GitServer;
use support::kestra_stub::KestraStub;

const NAMESPACES: usize = 20;
const FLOWS_PER_NAMESPACE: usize = 100;
const BACKUPS: usize = 1_000;
/// 2026-01-01T00:00:00Z
const START: u64 = 1_767_225_600;

fn flow(n: usize, version: usize) -> (String, String, String) {
    let (ns, id) = (format!("company.team{:02}", n / FLOWS_PER_NAMESPACE), format!("flow_{:03}", n % FLOWS_PER_NAMESPACE));
    let text = format!("id: {id}\nnamespace: {ns}\ndescription: version {version}\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: hello\n");
    (ns, id, text)
}

/// Writes the history through one fast-import process; returns the tip's flows.
fn write_history(bare: &std::path::Path) -> Vec<(String, String, String)> {
    let total = NAMESPACES * FLOWS_PER_NAMESPACE;
    let mut import = Command::new("git").arg("-C").arg(bare).args(["fast-import", "--quiet"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut input = std::io::BufWriter::new(import.stdin.take().unwrap());
    let mut marks = BufReader::new(import.stdout.take().unwrap());
    let mut version = vec![1usize; total];
    let mut items: BTreeMap<String, Item> = BTreeMap::new();
    let mut previous: Option<Previous> = None;
    for backup in 1..=BACKUPS {
        let when = START + backup as u64 * 3_600;
        let message = format!("Backup {backup}");
        write!(input, "commit refs/heads/main\nmark :{backup}\ncommitter Bench <bench@example.com> {when} +0000\ndata {}\n{message}\n", message.len()).unwrap();
        let changed: Vec<usize> = if backup == 1 { (0..total).collect() } else { vec![(backup * 7919) % total] };
        for n in changed {
            if backup > 1 {
                version[n] = backup;
            }
            let (ns, id, text) = flow(n, version[n]);
            let path = format!("flows/{ns}/{id}.yml");
            let blob = git2::Oid::hash_object(git2::ObjectType::Blob, text.as_bytes()).unwrap().to_string();
            items.insert(path.clone(), Item { path: path.clone(), blob, namespace: Some(ns), name: Some(id.clone()), revision: Some(version[n] as u64), types: vec!["io.kestra.plugin.core.log.Log".into()], ..Item::default() });
            write!(input, "M 100644 inline {path}\ndata {}\n{text}\n", text.len()).unwrap();
        }
        let kinds = BTreeMap::from([(Kind::Flows, KindItems { count: items.len(), items: items.values().cloned().collect() })]);
        let plugins = vec![PluginUse { plugin_type: "io.kestra.plugin.core.log.Log".into(), flows: total }];
        let m = Manifest { format: manifest::FORMAT, serial: backup as u64, previous: previous.take(), instance: Instance::default(), kinds, plugins, not_covered: Vec::new(), last_full_export: None };
        for (path, bytes) in m.files() {
            write!(input, "M 100644 inline {path}\ndata {}\n", bytes.len()).unwrap();
            input.write_all(&bytes).unwrap();
        }
        write!(input, "\nget-mark :{backup}\n").unwrap();
        input.flush().unwrap();
        let mut sha = String::new();
        marks.read_line(&mut sha).unwrap();
        let date = kestra_git_backup::instant::rfc3339(when as i64);
        previous = Some(Previous { commit: sha.trim().to_string(), serial: backup as u64, date });
    }
    drop(input);
    assert!(import.wait().unwrap().success());
    (0..total).map(|n| flow(n, version[n])).collect()
}

fn main() {
    let server = GitServer::start();
    let bare = server.repo("verified");
    let t = Instant::now();
    let tip = write_history(&bare);
    let size = String::from_utf8(Command::new("du").args(["-sh"]).arg(&bare).output().unwrap().stdout).unwrap();
    println!("history: {BACKUPS} backups of {} flows, each with its manifest, written in {} ms ({})", tip.len(), t.elapsed().as_millis(), size.split_whitespace().next().unwrap_or("?"));

    let stub = KestraStub::start();
    for (ns, id, text) in &tip {
        stub.set_flow(ns, id, text);
    }
    let request = |depth: Option<usize>, cache: Option<&std::path::Path>| {
        json!({
            "job": "drill", "restore": {"verifyDepth": depth},
            "kestra": {"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}},
            "git": {"url": server.https_url("verified"), "username": server.user(), "password": server.token(),
                    "trustedCaPemPath": server.ca_pem_path(), "cacheDir": cache},
            "sources": [{"kind": "flows", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": "flows"}]
        })
    };
    println!("{:<36} {:>9} {:>9} {:>7} {:>13} {:>9}", "case", "total ms", "verify ms", "chain", "bytes fetched", "peak RSS");
    let cache = tempfile::tempdir().unwrap();
    for (case, depth, cache) in [
        ("whole history, no cache", None, None),
        ("whole history, new cache", None, Some(cache.path())),
        ("whole history, same cache again", None, Some(cache.path())),
        ("last 10 backups, same cache", Some(10), Some(cache.path())),
    ] {
        let mut sink = |_: &kestra_git_backup::LogEvent| {};
        let answer: Value = serde_json::from_str(&kestra_git_backup::run_json(&request(depth, cache).to_string(), &mut sink)).unwrap();
        let report = answer.get("report").unwrap_or_else(|| panic!("{answer}"));
        let v = &report["restore"]["verification"];
        assert!(v["broken"].is_null() && v["files"] == json!([]), "{v}");
        let ms = |key: &str| report["timingsMs"][key].as_u64().unwrap_or(0);
        println!("{case:<36} {:>9} {:>9} {:>7} {:>13} {:>9}", ms("total"), ms("verify"), v["chainLength"], report["bytesFetched"], peak_rss());
    }
}

/// This process's peak resident memory so far (`VmHWM`), as /proc prints it.
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status").unwrap_or_default().lines().find_map(|l| l.strip_prefix("VmHWM:")).map(|v| v.trim().replace(' ', "")).unwrap_or_default()
}
