//! `verify`: the chain-of-custody check of the request's branch on its own (docs/custody.md),
//! printed one backup per line; exit code 8 when the history was rewritten.

use serde_json::Value;
use std::process::ExitCode;

/// `verify`'s `--limit` (default 0: the whole chain), and the other options (for `load_request`).
pub fn options<'a>(options: &[&'a str]) -> Result<(usize, Vec<&'a str>), String> {
    match options.iter().position(|o| *o == "--limit") {
        None => Ok((0, options.to_vec())),
        Some(at) => {
            let limit = options.get(at + 1).and_then(|v| v.parse().ok()).ok_or("`--limit` takes a whole number (0: the whole chain)")?;
            Ok((limit, options.iter().enumerate().filter(|(i, _)| *i != at && *i != at + 1).map(|(_, o)| *o).collect()))
        }
    }
}

pub fn run(request: Value, limit: usize) -> ExitCode {
    let request: kestra_git_backup::Request = match serde_json::from_value(request) {
        Ok(r) => r,
        Err(e) => return super::invalid(&kestra_git_backup::error::invalid_request(&e).message),
    };
    let mut print = |e: &kestra_git_backup::LogEvent| eprintln!("{} {}", e.level.as_str(), e.message);
    let chain = match kestra_git_backup::verify_chain(&request, limit, &mut print) {
        Ok(chain) => chain,
        Err(e) => return super::failed(&format!("{:?}", e.code), &e.message, None),
    };
    println!("branch {} at {}", chain.branch, chain.tip);
    for link in &chain.links {
        let mut marks: Vec<&str> = Vec::new();
        marks.extend(chain.record.as_ref().filter(|r| r.commit == link.commit).map(|_| "← custody record"));
        marks.extend(chain.cache.as_ref().filter(|r| r.commit == link.commit).map(|_| "← cache's record"));
        println!("serial {:>5}  {}  {}  {}", link.serial, link.commit, link.date, marks.join(" "));
    }
    match (&chain.broken, chain.complete) {
        (Some(b), _) => println!("BROKEN: {} names {} (serial {}, {}) as the backup before it; the history holds {} there", b.after, b.missing.commit, b.missing.serial, b.missing.date, b.found.as_deref().unwrap_or("no backup commit")),
        (None, true) => println!("the chain starts at serial {}", chain.links.last().map_or(0, |l| l.serial)),
        (None, false) => println!("{} backup(s) checked (--limit)", chain.links.len()),
    }
    for (name, record) in [("custody record", &chain.record), ("cache's record", &chain.cache)] {
        match record {
            Some(r) if !r.held => println!("REWRITTEN: the {name} names {} (serial {}), which the branch no longer holds", r.commit, r.serial.map_or("-".to_string(), |s| s.to_string())),
            Some(r) if !chain.links.iter().any(|l| l.commit == r.commit) => println!("the {name} names {}, on the branch below the backups listed", r.commit),
            Some(_) => {}
            None => println!("no {name}"),
        }
    }
    if chain.intact() { ExitCode::SUCCESS } else { ExitCode::from(8) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_a_limit_and_passes_the_other_options_on() {
        assert_eq!(options(&["--env", "git.password=T"]).unwrap(), (0, vec!["--env", "git.password=T"]));
        assert_eq!(options(&["--limit", "5", "--env", "git.password=T"]).unwrap(), (5, vec!["--env", "git.password=T"]));
        assert!(options(&["--limit", "x"]).unwrap_err().contains("whole number"));
    }
}
