//! Benchmark (prints figures; not a test): the fixed cost of small backups on a warm process, the
//! seed flow's shape without Kestra — PushFlows and PushNamespaceFiles for four namespaces (eight
//! core runs, eight commits on a first backup) — against the local HTTPS Git server and the Kestra
//! API stub. Each round backs up a new repository (first backup), then again (no change), then after
//! one flow changed. Prints, per case, the median over the rounds of the eight runs' summed times
//! and phases.
//!
//!     cargo run --release -p kestra-git-backup --example fixed_cost [rounds]

#[path = "../tests/support/mod.rs"]
mod support;

use serde_json::{Value, json};
use std::time::Instant;
use support::git_server::GitServer;
use support::kestra_stub::KestraStub;

const NAMESPACES: [&str; 4] = ["ansible", "outputs", "posting", "proxmox"];
const CASES: [&str; 3] = ["first backup", "no change", "one flow changed"];
/// Summed per case: wall time, then the report's timings and phases.
const COLUMNS: [&str; 6] = ["total", "listRefs", "fetchPack", "export", "commit", "push"];

fn main() {
    let rounds: usize = std::env::args().nth(1).map_or(9, |r| r.parse().expect("rounds: a number"));
    let server = GitServer::start();
    let stub = KestraStub::start();
    for ns in NAMESPACES {
        stub.set_flow(ns, "main", &flow(ns, 0));
        stub.put_file(ns, "scripts/run.sh", format!("#!/bin/sh\necho {ns}\n").as_bytes());
    }
    // samples[case][column] = one sum per round
    let mut samples = vec![vec![Vec::new(); COLUMNS.len()]; CASES.len()];
    for round in 0..rounds {
        let repo = format!("seed_{round}");
        server.repo(&repo);
        for (c, case) in CASES.iter().enumerate() {
            if *case == "one flow changed" {
                stub.set_flow("ansible", "main", &flow("ansible", round + 1));
            }
            let sums = seed_run(&stub, &server, &repo);
            for (k, v) in sums.into_iter().enumerate() {
                samples[c][k].push(v);
            }
        }
    }
    println!("{rounds} rounds; each figure the median over rounds of the 8 runs' sum (ms)");
    println!("{:<18} {}", "case", COLUMNS.map(|c| format!("{c:>11}")).join(" "));
    for (c, case) in CASES.iter().enumerate() {
        let row: Vec<String> = samples[c].iter_mut().map(|s| format!("{:>11.1}", median(s))).collect();
        println!("{case:<18} {}", row.join(" "));
    }
}

/// The eight runs of the seed's shape; returns COLUMNS summed.
fn seed_run(stub: &KestraStub, server: &GitServer, repo: &str) -> Vec<f64> {
    let mut sums = vec![0.0; COLUMNS.len()];
    for ns in NAMESPACES {
        for (kind, dir) in [("flows", "flows"), ("namespaceFiles", "scripts")] {
            let request = json!({
                "kestra": {"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}},
                "git": {"url": server.https_url(repo), "branch": "main", "username": server.user(), "password": server.token(),
                        "trustedCaPemPath": server.ca_pem_path(), "commitMessage": format!("Backup of {ns}")},
                "sources": [{"kind": kind, "namespaces": {"one": {"namespace": ns}}, "gitDirectory": format!("{dir}/{ns}")}]
            });
            let started = Instant::now();
            let mut sink = |_: &kestra_git_backup::LogEvent| {};
            let answer: Value = serde_json::from_str(&kestra_git_backup::run_json(&request.to_string(), &mut sink)).unwrap();
            let total = started.elapsed().as_secs_f64() * 1000.0;
            let t = &answer.get("report").unwrap_or_else(|| panic!("{ns} {kind} failed: {answer}"))["timingsMs"];
            let figure = |k: &str| t[k].as_f64().unwrap_or(0.0);
            let values = [total, figure("listRefs"), figure("fetchPack"), figure("export"), figure("commit"), figure("push")];
            for (sum, v) in sums.iter_mut().zip(values) {
                *sum += v;
            }
        }
    }
    sums
}

fn flow(ns: &str, version: usize) -> String {
    format!("id: main\nnamespace: {ns}\ntasks:\n  - id: log\n    type: io.kestra.plugin.core.log.Log\n    message: version {version}\n")
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}
