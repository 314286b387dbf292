//! Benchmark (prints figures; not a test): a synthetic instance of 50 namespaces × 200 flows and
//! 5,000 namespace files (some binary) behind the Kestra API stub, backed up in ONE commit to a
//! real Git server over HTTPS, as BackupInstance does it (with the manifest). Cases: first backup,
//! no-change run, one-change run; each with a full export every run (`fullExportEvery: PT0S`, the
//! behaviour before the incremental export), incremental, and incremental with a cache directory.
//! Each row gives the Kestra API requests the run made and which export ran. Then the restore side on that backup: a drill of the intact
//! instance (every flow validated), a restore after Kestra lost everything, a drill after it.
//! Ends with peak memory: of the core alone (the three backup cases again, each in a process of
//! its own that runs only the core), and of this whole process (the stub and its model included).
//!
//!     cargo run --release -p kestra-git-backup --example bench

#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::{Value, json};
use std::time::Instant;
use support::git_server::{GitServer, ServerRepo};
use support::kestra_stub::KestraStub;

const NAMESPACES: usize = 50;
const FLOWS_PER_NAMESPACE: usize = 200;
const FILES_PER_NAMESPACE: usize = 100;

/// Argument of the child processes that run one request through the core and print its peak.
const CORE_ONLY: &str = "--core-only";

fn main() {
    if let [_, flag, request] = &std::env::args().collect::<Vec<_>>()[..]
        && flag == CORE_ONLY
    {
        return core_only(request);
    }
    let server = GitServer::start();
    let stub = KestraStub::start();
    for n in 0..NAMESPACES {
        let ns = format!("company.team{n:02}");
        for f in 0..FLOWS_PER_NAMESPACE {
            let id = format!("flow_{f:03}");
            stub.set_flow(&ns, &id, &format!(
                "id: {id}\nnamespace: {ns}\ndescription: synthetic flow {f} of {ns}\n\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: \"{{{{ flow.id }}}} says hello {f}\"\n  - id: wait\n    type: io.kestra.plugin.core.flow.Sleep\n    duration: PT1S\n"
            ));
        }
        for f in 0..FILES_PER_NAMESPACE {
            let (path, bytes) = if f % 10 == 0 {
                (format!("bin/blob_{f:03}.bin"), (0..4096u32).map(|i| (i.wrapping_mul(2654435761).wrapping_add(f as u32) >> 13) as u8).collect::<Vec<u8>>())
            } else {
                (format!("scripts/s_{f:03}.py"), format!("# script {f} of {ns}\n").repeat(20).into_bytes())
            };
            stub.put_file(&ns, &path, &bytes);
        }
    }
    println!("synthetic instance: {NAMESPACES} namespaces x {FLOWS_PER_NAMESPACE} flows = {} flows, {} namespace files", NAMESPACES * FLOWS_PER_NAMESPACE, NAMESPACES * FILES_PER_NAMESPACE);
    println!("{:<12} {:<18} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>12} {:>7} {:>8} {:>11}", "mode", "case", "total ms", "fetch", "export", "plan", "commit", "push", "bytes pushed", "changed", "requests", "export ran");

    for (label, cache, every) in [("full", None, "PT0S"), ("incremental", None, "P1D"), ("incr_cache", Some(tempfile::tempdir().unwrap()), "P1D")] {
        let repo_name = format!("bench_{label}");
        let repo = ServerRepo(server.repo(&repo_name));
        let request = instance_backup(&stub, &server, &repo_name, cache.as_ref().map(|c| c.path()), every);
        case(&stub, label, "first backup", &request);
        case(&stub, label, "no change", &request);
        let changed = format!("id: flow_042\nnamespace: company.team07\ndescription: changed for {label}\ntasks: []\n");
        stub.set_flow("company.team07", "flow_042", &changed);
        case(&stub, label, "one flow changed", &request);
        println!("{:<12} repository: {} commits, {} files; the changed flow is {} bytes", "", repo.commit_count("main"), repo.files("main").len(), changed.len());
        println!("{:<12} objects new in the one-change commit (zlib sizes as the server stores them): {}", "", new_objects(&repo));
    }

    core_memory(&stub, &server);

    let backup = json!({
        "kestra": {"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}},
        "git": {"url": server.https_url("bench_full"), "username": server.user(), "password": server.token(),
                "trustedCaPemPath": server.ca_pem_path()},
        "sources": [
            {"kind": "flows", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": "flows"},
            {"kind": "namespaceFiles", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": "scripts"}
        ]
    });
    let job = |name: &str| {
        let mut request = backup.clone();
        request["job"] = json!(name);
        request
    };
    println!("\n{:<26} {:>8} {:>8} {:>8} {:>16} {:>8} {:>9} {:>9}", "restore side", "total ms", "fetch", "export", "compare+validate", "writes", "validated", "restored");
    restore_case("drill, intact instance", &job("drill"));
    {
        let mut model = stub.model.lock().unwrap();
        model.flows.clear();
        model.files.clear();
    }
    restore_case("restore, Kestra emptied", &job("restore"));
    restore_case("drill after the restore", &job("drill"));
    println!("\npeak memory of this whole process (VmHWM; the stub, its model and every case above): {}", peak_memory());
}

/// BackupInstance's request (with the manifest) for the whole stub instance into `repo`.
fn instance_backup(stub: &KestraStub, server: &GitServer, repo: &str, cache: Option<&std::path::Path>, full_export_every: &str) -> Value {
    json!({
        "kestra": {"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}},
        "git": {"url": server.https_url(repo), "username": server.user(), "password": server.token(),
                "trustedCaPemPath": server.ca_pem_path(), "cacheDir": cache,
                "authorName": "bench", "authorEmail": "bench@example.com", "commitMessage": "Instance backup"},
        "sources": [
            {"kind": "flows", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": "flows"},
            {"kind": "namespaceFiles", "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": "scripts"}
        ],
        "manifest": true,
        "fullExportEvery": full_export_every
    })
}

fn peak_memory() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmHWM")).map_or("?".into(), |l| l[6..].trim().to_string())
}

/// The core's own peak memory on the large instance: the incremental backup's three cases on a
/// fresh repository, each in a child process that runs only the request (this binary with
/// `CORE_ONLY`), so neither the stub nor earlier cases are counted.
fn core_memory(stub: &KestraStub, server: &GitServer) {
    let repo_name = "bench_memory";
    server.repo(repo_name);
    let request = instance_backup(stub, server, repo_name, None, "P1D");
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), request.to_string()).unwrap();
    let mut peaks = Vec::new();
    for case in ["first backup", "no change", "one flow changed"] {
        if case == "one flow changed" {
            stub.set_flow("company.team11", "flow_007", "id: flow_007\nnamespace: company.team11\ndescription: changed for the memory run\ntasks: []\n");
        }
        let out = std::process::Command::new(std::env::current_exe().unwrap()).arg(CORE_ONLY).arg(file.path()).output().unwrap();
        assert!(out.status.success(), "{case}: {}", String::from_utf8_lossy(&out.stderr));
        peaks.push(format!("{case} {}", String::from_utf8_lossy(&out.stdout).trim()));
    }
    println!("{:<12} peak memory of the core alone (a process of its own per case, incremental): {}", "", peaks.join(", "));
}

/// Child process: runs the request in `path` and prints this process's peak memory.
fn core_only(path: &str) {
    let request = std::fs::read_to_string(path).unwrap();
    let mut sink = |_: &kestra_git_backup::LogEvent| {};
    let answer: Value = serde_json::from_str(&kestra_git_backup::run_json(&request, &mut sink)).unwrap();
    if answer.get("report").is_none() {
        eprintln!("{answer}");
        std::process::exit(1);
    }
    println!("{}", peak_memory());
}

/// The objects of `main` that `main~1` lacks, summed by what they belong to: the manifest's
/// files and trees (`.kestra-backup/`), or the rest (Kestra's content, its trees, the commit).
fn new_objects(repo: &ServerRepo) -> String {
    let listed = repo.git(&["rev-list", "--objects", "main~1..main"]);
    let mut child = std::process::Command::new("git")
        .arg("-C")
        .arg(&repo.0)
        .args(["cat-file", "--batch-check=%(objectsize:disk) %(objecttype) %(rest)"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), listed.as_bytes()).unwrap();
    let out = String::from_utf8(child.wait_with_output().unwrap().stdout).unwrap();
    let (mut manifest, mut rest) = ((0u64, 0usize), (0u64, 0usize));
    for line in out.lines() {
        let mut parts = line.splitn(3, ' ');
        let size: u64 = parts.next().and_then(|s| s.parse().ok()).unwrap_or(0);
        let path = parts.nth(1).unwrap_or("");
        let sum = if path.starts_with(".kestra-backup") { &mut manifest } else { &mut rest };
        *sum = (sum.0 + size, sum.1 + 1);
    }
    format!("manifest {} bytes in {} objects, the rest {} bytes in {} objects", manifest.0, manifest.1, rest.0, rest.1)
}

fn restore_case(name: &str, request: &Value) {
    let started = Instant::now();
    let mut sink = |_: &kestra_git_backup::LogEvent| {};
    let answer: Value = serde_json::from_str(&kestra_git_backup::run_json(&request.to_string(), &mut sink)).unwrap();
    let elapsed = started.elapsed().as_millis();
    let report = answer.get("report").unwrap_or_else(|| panic!("{name} failed: {answer}"));
    let (t, r) = (&report["timingsMs"], &report["restore"]);
    let restored = r["restoredFlows"].as_u64().unwrap_or(0) + r["restoredFiles"].as_u64().unwrap_or(0);
    println!(
        "{:<26} {:>8} {:>8} {:>8} {:>16} {:>8} {:>9} {:>9}",
        name, elapsed, t["fetch"].to_string(), t["export"].to_string(), t["snapshot"].to_string(), t["push"].to_string(), r["flowsValidated"].to_string(), restored
    );
}

fn case(stub: &KestraStub, label: &str, name: &str, request: &Value) {
    let requests = stub.request_count();
    let started = Instant::now();
    let mut sink = |_: &kestra_git_backup::LogEvent| {};
    let answer: Value = serde_json::from_str(&kestra_git_backup::run_json(&request.to_string(), &mut sink)).unwrap();
    let elapsed = started.elapsed().as_millis();
    let report = answer.get("report").unwrap_or_else(|| panic!("{name} failed: {answer}"));
    let t = &report["timingsMs"];
    println!(
        "{:<12} {:<18} {:>8} {:>8} {:>8} {:>8} {:>8} {:>8} {:>12} {:>7} {:>8} {:>11}",
        label,
        name,
        elapsed,
        t["fetch"].to_string(),
        t["export"].to_string(),
        t["snapshot"].to_string(),
        t["commit"].to_string(),
        t["push"].to_string(),
        report["bytesPushed"].to_string(),
        report["diff"].as_array().map_or(0, Vec::len),
        stub.request_count() - requests,
        report["exportMode"].as_str().unwrap_or("-")
    );
}
