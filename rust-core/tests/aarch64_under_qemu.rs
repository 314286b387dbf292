//! The aarch64 build of the CLI, run under qemu user-mode emulation, does the job the native
//! x86_64 build does against the same real servers (HTTPS Git server, Kestra API stub): first
//! backup, no-change run, one-change run, then a restore. Both repositories end with the same tree.
//!
//! Ignored by a plain `cargo test`: it needs the aarch64 CLI, qemu-aarch64 and Debian's libc6:arm64
//! (tests/prerequisites.sh installs them). `tests/run-all.sh` builds the CLI and runs it:
//!
//!     AARCH64_CLI=$PWD/target/aarch64-unknown-linux-gnu/release/kestra-git-backup cargo-zigbuild test \
//!         --release --test aarch64_under_qemu --target x86_64-unknown-linux-gnu.2.17 -- --ignored

mod support;

use serde_json::{Value, json};
use std::ffi::OsString;
use std::process::Command;
use support::git_server::{GitServer, ServerRepo};
use support::kestra_stub::KestraStub;

/// ELF `e_machine` of aarch64 (EM_AARCH64), at byte 18 of the header, little-endian.
const EM_AARCH64: u16 = 183;

/// The command line that starts a CLI: the native build, or the aarch64 build through qemu.
struct Cli {
    name: &'static str,
    command: Vec<OsString>,
}

impl Cli {
    fn native() -> Cli {
        Cli { name: "x86_64", command: vec![env!("CARGO_BIN_EXE_kestra-git-backup").into()] }
    }

    fn aarch64_under_qemu() -> Cli {
        let cli = std::env::var("AARCH64_CLI").unwrap_or_else(|_| {
            panic!("set AARCH64_CLI to the aarch64 build of the CLI: cargo zigbuild --release --bins --target aarch64-unknown-linux-gnu.2.17 (tests/run-all.sh does)")
        });
        let header = std::fs::read(&cli).unwrap_or_else(|e| panic!("AARCH64_CLI={cli}: {e}"));
        assert_eq!(u16::from_le_bytes([header[18], header[19]]), EM_AARCH64, "{cli} is not an aarch64 ELF binary");
        // `-L /`: the loader and libc of Debian's libc6:arm64 (multiarch), one glibc build. A sysroot
        // such as /usr/aarch64-linux-gnu (libc6-arm64-cross) gives that package's loader, but its
        // loader then finds the multiarch libc.so.6 under /lib/aarch64-linux-gnu: two builds of
        // glibc disagree on the loader's private data, and the first pthread_create spins forever.
        let sysroot = std::env::var("QEMU_LD_PREFIX").unwrap_or_else(|_| "/".into());
        Cli { name: "aarch64 (qemu)", command: vec!["qemu-aarch64".into(), "-L".into(), sysroot.into(), cli.into()] }
    }

    /// `run <request file>`; the report, or a panic with the CLI's stderr.
    fn run(&self, request: &Value) -> Value {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), request.to_string()).unwrap();
        let out = Command::new(&self.command[0]).args(&self.command[1..]).arg("run").arg(file.path()).output()
            .unwrap_or_else(|e| panic!("{}: cannot start {:?}: {e}", self.name, self.command));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{} failed ({}):\n{stderr}", self.name, out.status);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{}: no report on stdout ({e}):\n{stderr}", self.name))
    }
}

fn backup_request(stub: &KestraStub, server: &GitServer, repo: &str) -> Value {
    let discover = |kind: &str, dir: &str| json!({"kind": kind, "namespaces": {"discover": {"prefix": ""}}, "gitDirectory": dir});
    json!({
        "kestra": {"url": stub.url, "auth": {"basic": {"username": stub.user, "password": stub.password}}},
        "git": {"url": server.https_url(repo), "branch": "main", "username": server.user(), "password": server.token(),
                "trustedCaPemPath": server.ca_pem_path(), "authorName": "Backup Bot", "authorEmail": "bot@example.com",
                "commitMessage": "Instance backup"},
        "sources": [discover("flows", "flows"), discover("namespaceFiles", "files")]
    })
}

fn flow(id: &str, ns: &str, message: &str) -> String {
    format!("id: {id}\nnamespace: {ns}\n\n# a comment kept verbatim\ntasks:\n  - id: hello\n    type: io.kestra.plugin.core.log.Log\n    message: \"{message} é中\"\n")
}

fn tree(repo: &ServerRepo) -> String {
    repo.git(&["rev-parse", "main^{tree}"]).trim().to_string()
}

#[test]
#[ignore = "needs the aarch64 CLI and qemu-aarch64: run by tests/run-all.sh"]
fn the_aarch64_cli_under_qemu_backs_up_and_restores_like_the_native_one() {
    let (native, emulated) = (Cli::native(), Cli::aarch64_under_qemu());
    let server = GitServer::start();
    let stub = KestraStub::start();
    stub.set_flow("company", "etl", &flow("etl", "company", "etl"));
    stub.set_flow("company.team", "report", &flow("report", "company.team", "report"));
    stub.set_flow("ops", "cleanup", &flow("cleanup", "ops", "cleanup"));
    stub.put_file("company", "lib/a.py", b"print('a')\n");
    stub.put_file("company.team", "bin/blob.bin", &[0u8, 159, 146, 150, 0, 1, 255]);
    let repos = [(&native, "native"), (&emulated, "emulated")].map(|(cli, name)| (cli, name, ServerRepo(server.repo(name))));
    let run_both = |case: &str| -> Vec<Value> {
        repos.iter().map(|(cli, name, _)| {
            let report = cli.run(&backup_request(&stub, &server, name));
            println!("{case}: {} → commit {} , {} changed paths", cli.name, report["commitId"], report["diff"].as_array().map_or(0, Vec::len));
            report
        }).collect()
    };
    let same_tree = |case: &str| {
        let (a, b) = (tree(&repos[0].2), tree(&repos[1].2));
        assert_eq!(a, b, "{case}: the aarch64 run's tree differs from the native run's");
    };

    for report in run_both("first backup") {
        assert!(report["commitId"].is_string(), "first backup commits: {report}");
    }
    same_tree("first backup");
    assert_eq!(repos[1].2.files("main").len(), 5);

    for report in run_both("no change") {
        assert!(report["commitId"].is_null(), "nothing changed, no commit: {report}");
    }

    stub.set_flow("ops", "cleanup", &flow("cleanup", "ops", "edited"));
    for (report, (_, _, repo)) in run_both("one change").iter().zip(&repos) {
        assert!(report["commitId"].is_string(), "{report}");
        assert_eq!(repo.last_commit_paths("main"), vec!["flows/ops/cleanup.yml".to_string()]);
        assert_eq!(repo.commit_count("main"), 2);
    }
    same_tree("one change");

    // Kestra loses everything; the aarch64 CLI restores it from its own backup, byte for byte.
    let lost = {
        let mut model = stub.model.lock().unwrap();
        (std::mem::take(&mut model.flows), std::mem::take(&mut model.files))
    };
    let mut restore = backup_request(&stub, &server, "emulated");
    restore["job"] = json!("restore");
    let report = emulated.run(&restore);
    assert_eq!((report["restore"]["restoredFlows"].clone(), report["restore"]["restoredFiles"].clone()), (json!(3), json!(2)), "{report}");
    let model = stub.model.lock().unwrap();
    assert_eq!(model.files, lost.1, "namespace files restored byte for byte");
    assert_eq!(model.flows.keys().collect::<Vec<_>>(), lost.0.keys().collect::<Vec<_>>(), "every flow restored");
}
