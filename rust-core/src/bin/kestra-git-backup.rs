//! Command-line front end: runs one backup request through the same entry point as the JNI
//! bridge (`run_json`), prints log events to stderr as they come and the report to stdout.

use std::io::Read;
use std::process::ExitCode;

const USAGE: &str = "usage: kestra-git-backup run <request.json | ->
       kestra-git-backup --version

Runs one backup request (format: docs/request-report.md). Log events go to stderr,
the report (JSON) to stdout. Exit codes: 0 success, 2 invalid request, 3 authentication,
4 TLS, 5 network, 6 refused (deletion guard, unsafe path, push rejected, conflict), 1 other.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["--version"] => {
            println!("kestra-git-backup {}", kestra_git_backup::VERSION);
            ExitCode::SUCCESS
        }
        ["run", file] => match read_request(file) {
            Ok(json) => run(&json),
            Err(e) => {
                eprintln!("error: cannot read `{file}`: {e}");
                ExitCode::from(2)
            }
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn read_request(file: &str) -> std::io::Result<String> {
    if file == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s)
    } else {
        std::fs::read_to_string(file)
    }
}

fn run(json: &str) -> ExitCode {
    let mut print = |e: &kestra_git_backup::LogEvent| eprintln!("{} {}", e.level.as_str(), e.message);
    let answer = kestra_git_backup::run_json(json, &mut print);
    let value: serde_json::Value = serde_json::from_str(&answer).unwrap_or_default();
    if let Some(report) = value.get("report") {
        println!("{}", serde_json::to_string_pretty(report).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    let code = value.pointer("/error/code").and_then(|c| c.as_str()).unwrap_or("Internal");
    let message = value.pointer("/error/message").and_then(|m| m.as_str()).unwrap_or("unknown error");
    eprintln!("error[{code}]: {message}");
    if let Some(commit) = value.pointer("/error/localCommit").and_then(|c| c.as_str()) {
        eprintln!("the commit {commit} was kept locally");
    }
    ExitCode::from(match code {
        "InvalidConfig" => 2,
        "Auth" => 3,
        "Tls" => 4,
        "Network" | "KestraApi" => 5,
        "DeletionGuard" | "UnsafePath" | "PushRejected" | "Conflict" => 6,
        _ => 1,
    })
}
