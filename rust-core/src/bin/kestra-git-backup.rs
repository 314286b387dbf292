//! Command-line front end: runs one request (backup, restore or drill) through the same entry point as the JNI
//! bridge (`run_json`), prints log events to stderr as they come and the report to stdout.

// The commands beyond `run` and `log` live in `cli/`, one file each.
#[path = "cli/verify.rs"]
mod verify;

use serde_json::Value;
use std::io::Read;
use std::process::ExitCode;

const USAGE: &str = "usage: kestra-git-backup run <request.json | request.yaml | -> [--dry-run] [--ref <ref>] [--env <field>=<VAR>]...
       kestra-git-backup log <request.json | request.yaml | -> [--flow <namespace/id>] [--path <path>] [--limit <n>] [--json] [--env <field>=<VAR>]...
       kestra-git-backup manifest <request.json | request.yaml | -> [--ref <ref>] [--env <field>=<VAR>]...
       kestra-git-backup verify <request.json | request.yaml | -> [--limit <n>] [--env <field>=<VAR>]...
       kestra-git-backup --version

run: runs one request (format: docs/request-report.md), given as JSON or YAML: a backup, or with
\"job\": \"restore\" / \"drill\" a restore of the backup into Kestra / a check that it would restore.
  --dry-run              compute and report, write nothing (no push, no restore)
  --ref <ref>            restore or drill this backup: a commit SHA, a tag, a branch or a date
                         (2026-11-20, 2026-11-20T18:00:00Z, 2026-11-20T19:00:00+01:00); default: the tip
  --env <field>=<VAR>    set a request field (dotted path, e.g. git.password) from the
                         environment variable VAR, so secrets stay out of files and argv
log: lists the backup commits of the request's branch, newest first: SHA, date, author,
files added/modified/deleted, message; the SHA or the date is a `--ref` to restore.
  --flow <ns/id>         only the commits that changed that flow (placed by the request's sources)
  --path <path>          only the commits that changed that file or directory of the repository
  --limit <n>            at most n commits (default 20; 0: all)
  --json                 one JSON array instead of lines
manifest: prints the backup's manifest (.kestra-backup/manifest.json, docs/manifest.md) of the
branch tip, or of --ref (a commit SHA, a tag, a branch or a date, as for run).
verify: the chain-of-custody check of the request's branch on its own (docs/custody.md): each
backup of the manifest chain (serial, commit, date), where the custody records stand, any break;
exit code 8 when the history was rewritten.
  --limit <n>            at most n backups (default 0: the whole chain)
Log events go to stderr, the report (JSON) to stdout. Exit codes: 0 success, 2 invalid
request, 3 authentication, 4 TLS, 5 network, 6 refused (deletion guard, unsafe path, push
rejected, conflict), 7 the backup does not restore (flows Kestra refuses, drift), 8 history
rewritten, 1 other.";

fn main() -> ExitCode {
    let code = command();
    // One command per process: the work repositories it kept would only be left behind.
    kestra_git_backup::git::remove_kept_repositories();
    code
}

fn command() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let env = |name: &str| std::env::var(name).ok();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["--version"] => {
            println!("kestra-git-backup {}", kestra_git_backup::VERSION);
            ExitCode::SUCCESS
        }
        ["run", file, options @ ..] => match load_request(file, options, env) {
            Ok(request) => run(&request.to_string()),
            Err(e) => invalid(&e),
        },
        ["log", file, options @ ..] => match log_options(options).and_then(|(query, rest)| Ok((query, load_request(file, &rest, env)?))) {
            Ok((query, request)) => log(request, &query),
            Err(e) => invalid(&e),
        },
        ["manifest", file, options @ ..] if !options.contains(&"--dry-run") => match load_request(file, options, env) {
            Ok(request) => manifest(request),
            Err(e) => invalid(&e),
        },
        ["verify", file, options @ ..] => match verify::options(options).and_then(|(limit, rest)| Ok((limit, load_request(file, &rest, env)?))) {
            Ok((limit, request)) => verify::run(request, limit),
            Err(e) => invalid(&e),
        },
        _ => {
            eprintln!("{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn invalid(message: &str) -> ExitCode {
    eprintln!("error[InvalidConfig]: {message}");
    ExitCode::from(2)
}

/// What `log` was asked for.
#[derive(Debug, Default, PartialEq)]
struct LogQuery {
    flow: Option<String>,
    path: Option<String>,
    limit: usize,
    json: bool,
}

/// `log`'s own options, and the others (for `load_request`).
fn log_options<'a>(options: &[&'a str]) -> Result<(LogQuery, Vec<&'a str>), String> {
    let mut query = LogQuery { limit: 20, ..LogQuery::default() };
    let mut rest = Vec::new();
    let mut options = options.iter();
    while let Some(option) = options.next() {
        let mut value = || options.next().map(|v| v.to_string()).ok_or_else(|| format!("`{option}` needs a value"));
        match *option {
            "--flow" => query.flow = Some(value()?),
            "--path" => query.path = Some(value()?),
            "--limit" => query.limit = value()?.parse().map_err(|_| "`--limit` takes a whole number (0: all)".to_string())?,
            "--json" => query.json = true,
            "--dry-run" | "--ref" => return Err(format!("`{option}` is an option of `run`, not of `log`")),
            other => rest.push(other),
        }
    }
    Ok((query, rest))
}

/// Reads the request file (JSON when it starts with `{`, else YAML) and applies the options.
fn load_request(file: &str, options: &[&str], env: impl Fn(&str) -> Option<String>) -> Result<Value, String> {
    let text = read(file).map_err(|e| format!("cannot read `{file}`: {e}"))?;
    let mut request: Value = if text.trim_start().starts_with('{') {
        serde_json::from_str(&text).map_err(|e| format!("`{file}` is not valid JSON: {e}"))?
    } else {
        serde_yaml_ng::from_str(&text).map_err(|e| format!("`{file}` is not valid YAML: {e}"))?
    };
    let mut options = options.iter();
    while let Some(option) = options.next() {
        match *option {
            "--dry-run" => set(&mut request, "dryRun", Value::Bool(true))?,
            "--ref" => {
                let reference = options.next().ok_or("`--ref` needs a commit SHA, a tag, a branch or a date, e.g. --ref 2026-11-20")?;
                set(&mut request, "restore.ref", Value::String(reference.to_string()))?;
            }
            "--env" => {
                let spec = options.next().ok_or("`--env` needs <field>=<VAR>, e.g. --env git.password=GIT_TOKEN")?;
                let (field, var) = spec.split_once('=').filter(|(f, v)| !f.is_empty() && !v.is_empty()).ok_or_else(|| {
                    format!("`--env {spec}`: expected <field>=<VAR>, e.g. --env git.password=GIT_TOKEN")
                })?;
                let value = env(var).ok_or_else(|| format!("`--env {spec}`: the environment variable {var} is not set"))?;
                set(&mut request, field, Value::String(value))?;
            }
            other => return Err(format!("unknown option `{other}`\n\n{USAGE}")),
        }
    }
    Ok(request)
}

fn read(file: &str) -> std::io::Result<String> {
    if file == "-" {
        let mut s = String::new();
        std::io::stdin().read_to_string(&mut s)?;
        Ok(s)
    } else {
        std::fs::read_to_string(file)
    }
}

/// Sets `a.b.c` in the request, creating objects on the way.
fn set(request: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let mut node = request;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let object = node.as_object_mut().ok_or_else(|| format!("`{path}`: `{part}` is not inside an object"))?;
        if parts.peek().is_none() {
            object.insert(part.to_string(), value);
            return Ok(());
        }
        node = object.entry(part).or_insert_with(|| Value::Object(Default::default()));
    }
    Err(format!("`{path}`: empty field name"))
}

fn log(request: Value, query: &LogQuery) -> ExitCode {
    let request: kestra_git_backup::Request = match serde_json::from_value(request) {
        Ok(r) => r,
        Err(e) => return invalid(&kestra_git_backup::error::invalid_request(&e).message),
    };
    let mut print = |e: &kestra_git_backup::LogEvent| eprintln!("{} {}", e.level.as_str(), e.message);
    let filter = kestra_git_backup::backup_log::Filter { flow: query.flow.clone(), path: query.path.clone() };
    match kestra_git_backup::backup_log(&request, &filter, query.limit, &mut print) {
        Ok(entries) if query.json => {
            println!("{}", serde_json::to_string_pretty(&entries).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Ok(entries) => {
            for e in &entries {
                println!("{}  {}  +{} ~{} -{}  {}  {}", &e.commit[..12], e.date, e.added, e.modified, e.deleted, e.author, e.message);
                for path in &e.matched {
                    println!("    {path}");
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => failed(&format!("{:?}", e.code), &e.message, None),
    }
}

fn manifest(request: Value) -> ExitCode {
    let request: kestra_git_backup::Request = match serde_json::from_value(request) {
        Ok(r) => r,
        Err(e) => return invalid(&kestra_git_backup::error::invalid_request(&e).message),
    };
    let mut print = |e: &kestra_git_backup::LogEvent| eprintln!("{} {}", e.level.as_str(), e.message);
    match kestra_git_backup::manifest_at(&request, &mut print) {
        Ok((_, Some(manifest))) => {
            print!("{}", String::from_utf8_lossy(&manifest.to_bytes()));
            ExitCode::SUCCESS
        }
        Ok((commit, None)) => failed(
            "InvalidBackup",
            &format!("commit {commit} has no manifest (`.kestra-backup/manifest.json`): it was not written by BackupInstance or a task with `manifest: true`"),
            None,
        ),
        Err(e) => failed(&format!("{:?}", e.code), &e.message, None),
    }
}

fn run(json: &str) -> ExitCode {
    let mut print = |e: &kestra_git_backup::LogEvent| eprintln!("{} {}", e.level.as_str(), e.message);
    let answer = kestra_git_backup::run_json(json, &mut print);
    let value: Value = serde_json::from_str(&answer).unwrap_or_default();
    if let Some(report) = value.get("report") {
        println!("{}", serde_json::to_string_pretty(report).unwrap_or_default());
        return ExitCode::SUCCESS;
    }
    let code = value.pointer("/error/code").and_then(|c| c.as_str()).unwrap_or("Internal");
    let message = value.pointer("/error/message").and_then(|m| m.as_str()).unwrap_or("unknown error");
    failed(code, message, value.pointer("/error/unpushedBundle").and_then(|c| c.as_str()))
}

/// Prints the error (and the bundle of a commit that could not be pushed); its exit code.
fn failed(code: &str, message: &str, bundle: Option<&str>) -> ExitCode {
    eprintln!("error[{code}]: {message}");
    if let Some(bundle) = bundle {
        eprintln!("bundle: {bundle} (bring it into a clone of the branch with `git pull {bundle} <branch>`, then push)");
    }
    ExitCode::from(match code {
        "InvalidConfig" => 2,
        "Auth" => 3,
        "Tls" => 4,
        "Network" | "KestraApi" => 5,
        "DeletionGuard" | "UnsafePath" | "PushRejected" | "Conflict" => 6,
        "InvalidBackup" | "Drift" => 7,
        "HistoryRewritten" => 8,
        _ => 1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(content: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), content).unwrap();
        f
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn yaml_and_json_requests_read_the_same() {
        let yaml = file("git:\n  url: https://git.example/backup.git\nsources:\n  - kind: flows\n    namespaces: {exact: dev}\n");
        let json = file(r#"{"git":{"url":"https://git.example/backup.git"},"sources":[{"kind":"flows","namespaces":{"exact":"dev"}}]}"#);
        let a = load_request(yaml.path().to_str().unwrap(), &[], no_env).unwrap();
        let b = load_request(json.path().to_str().unwrap(), &[], no_env).unwrap();
        assert_eq!(a, b);
    }

    #[test]
    fn options_set_dry_run_and_fields_from_the_environment() {
        let f = file("git:\n  url: https://git.example/backup.git\n");
        let env = |name: &str| (name == "GIT_TOKEN").then(|| "tok-123".to_string());
        let request = load_request(f.path().to_str().unwrap(), &["--dry-run", "--env", "git.password=GIT_TOKEN", "--env", "kestra.auth.bearer.token=GIT_TOKEN"], env).unwrap();
        assert_eq!(request["dryRun"], true);
        assert_eq!(request["git"]["password"], "tok-123");
        assert_eq!(request["git"]["url"], "https://git.example/backup.git");
        assert_eq!(request["kestra"]["auth"]["bearer"]["token"], "tok-123");
    }

    #[test]
    fn log_and_ref_options() {
        let (query, rest) = log_options(&["--flow", "company/etl", "--env", "git.password=T", "--limit", "0", "--json"]).unwrap();
        assert_eq!(query, LogQuery { flow: Some("company/etl".into()), path: None, limit: 0, json: true });
        assert_eq!(rest, ["--env", "git.password=T"]);
        assert_eq!(log_options(&[]).unwrap().0.limit, 20);
        assert!(log_options(&["--limit", "x"]).unwrap_err().contains("whole number"));
        assert!(log_options(&["--ref", "abc"]).unwrap_err().contains("option of `run`"));
        let f = file("git: {url: x}\n");
        let request = load_request(f.path().to_str().unwrap(), &["--ref", "2026-11-20"], no_env).unwrap();
        assert_eq!(request["restore"]["ref"], "2026-11-20");
    }

    #[test]
    fn bad_options_name_the_option_and_the_fix() {
        let f = file("git: {url: x}\n");
        let path = f.path().to_str().unwrap();
        let unset = load_request(path, &["--env", "git.password=NOPE"], no_env).unwrap_err();
        assert!(unset.contains("NOPE is not set"), "{unset}");
        let malformed = load_request(path, &["--env", "git.password"], no_env).unwrap_err();
        assert!(malformed.contains("expected <field>=<VAR>"), "{malformed}");
        let unknown = load_request(path, &["--force"], no_env).unwrap_err();
        assert!(unknown.contains("unknown option `--force`"), "{unknown}");
        let not_object = load_request(path, &["--env", "git.url.x=HOME"], |_| Some("v".into())).unwrap_err();
        assert!(not_object.contains("`git.url.x`"), "{not_object}");
        let bad_yaml = load_request(file("git: [\n").path().to_str().unwrap(), &[], no_env).unwrap_err();
        assert!(bad_yaml.contains("not valid YAML"), "{bad_yaml}");
    }
}
