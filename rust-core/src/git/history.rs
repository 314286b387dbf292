//! The backup branch's history: which commit a restore reads (`ref`: a tag, a branch, an instant,
//! a full or abbreviated SHA), fetched only as deep as the ref needs, and the backup commits
//! listed newest first (the CLI's `log`).
//!
//! Parents are read from the raw commit objects rather than through libgit2's shallow grafts, so a
//! cache directory that already holds older backups is walked without fetching anything; a parent
//! that is not here yet deepens the fetch of the branch step by step (`DEPTHS`).

use super::{git_error, Workspace};
use crate::error::{CoreError, ErrorCode};
use crate::instant::{parse_instant, rfc3339};
use crate::progress::Log;
use crate::report::CommitInfo;
use git2::Oid;

/// Commits of the branch fetched when a walk needs more history; the last step is all of it.
const DEPTHS: [i32; 5] = [10, 100, 1_000, 10_000, i32::MAX];

/// How many of the newest backups an unknown `ref` error lists.
const LISTED: usize = 5;

const ACCEPTED: &str = "a commit SHA (4 to 40 hex digits), a tag, a branch, or a date: `2026-11-20` (the end of that day, UTC), \
`2026-11-20T18:00:00Z` or `2026-11-20T19:00:00+01:00` (a date-time needs `Z` or an offset)";

impl Workspace {
    /// The commit `reference` names (see the module doc); blank or unset: the branch tip. A tag
    /// or branch of that exact name wins over reading it as a date or a SHA.
    pub fn resolve(&mut self, reference: Option<&str>, log: &mut Log) -> Result<Oid, CoreError> {
        let tip = self.tip.ok_or_else(|| CoreError::invalid("git.branch", format!("`{}` has no commit: there is no backup to read", self.config.branch)))?;
        let Some(wanted) = reference.map(str::trim).filter(|r| !r.is_empty()) else { return Ok(tip) };
        let refs = self.list_remote_refs(log)?;
        for name in [format!("refs/tags/{wanted}"), format!("refs/heads/{wanted}")] {
            if refs.iter().any(|(r, _)| *r == name) {
                let oid = self.fetch_ref(&name, Some(1), log)?;
                let commit = self.repo.find_object(oid, None).and_then(|o| o.peel_to_commit()).map_err(|e| git_error("cannot read the ref's commit", &e))?;
                log.info(format!("`restore.ref` {wanted}: {} {}", short(commit.id()), name.trim_start_matches("refs/")));
                return Ok(commit.id());
            }
        }
        let found = if looks_like_date(wanted) {
            let seconds = parse_instant(wanted).ok_or_else(|| CoreError::invalid("restore.ref", format!("`{}` is not a date this task reads; use {ACCEPTED}", crate::error::shown(wanted))))?;
            self.newest_at_or_before(tip, seconds, wanted, log)?
        } else if (4..=40).contains(&wanted.len()) && wanted.chars().all(|c| c.is_ascii_hexdigit()) {
            self.commit_by_sha(tip, &wanted.to_ascii_lowercase(), log)?
        } else {
            None
        };
        match found {
            Some(commit) => {
                log.info(format!("`restore.ref` {wanted}: backup {}", self.describe(commit)?));
                Ok(commit)
            }
            None => Err(self.unknown_ref(tip, wanted, log)),
        }
    }

    /// SHA, committer date (UTC) and the message's first line of `commit`.
    pub fn commit_info(&self, commit: Oid) -> Result<CommitInfo, CoreError> {
        let c = self.repo.find_commit(commit).map_err(|e| git_error("cannot read a backup commit", &e))?;
        Ok(CommitInfo { commit: commit.to_string(), date: rfc3339(c.committer().when().seconds()), message: c.summary().ok().flatten().unwrap_or_default().to_string() })
    }

    /// `Name <email>` of the author of `commit`.
    pub fn author(&self, commit: Oid) -> Result<String, CoreError> {
        let c = self.repo.find_commit(commit).map_err(|e| git_error("cannot read a backup commit", &e))?;
        let author = c.author();
        Ok(format!("{} <{}>", author.name().unwrap_or_default(), author.email().unwrap_or_default()))
    }

    /// Up to `limit` backup commits of the branch, newest first (first-parent history).
    pub fn backups(&mut self, limit: usize, log: &mut Log) -> Result<Vec<Oid>, CoreError> {
        let Some(tip) = self.tip else { return Ok(Vec::new()) };
        let mut walk = FirstParents::from(tip);
        let mut out = Vec::new();
        while out.len() < limit {
            match walk.next(self, log)? {
                Some(commit) => out.push(commit),
                None => break,
            }
        }
        Ok(out)
    }

    /// The first parent of `commit` as its object records it, fetched if need be (None: the first backup).
    pub fn first_parent(&mut self, commit: Oid, log: &mut Log) -> Result<Option<Oid>, CoreError> {
        let parent = self.raw_parents(commit)?.into_iter().next();
        if let Some(p) = parent {
            self.ensure_present(p, log)?;
        }
        Ok(parent)
    }

    /// The paths `commit` added (`A`), modified (`M`) or deleted (`D`) against `parent` (None:
    /// the first backup, everything added), sorted.
    pub fn changed_paths(&self, commit: Oid, parent: Option<Oid>) -> Result<Vec<(char, String)>, CoreError> {
        let tree = |c: Oid| self.repo.find_commit(c).and_then(|c| c.tree()).map_err(|e| git_error("cannot read a backup's tree", &e));
        let new = tree(commit)?;
        let old = parent.map(tree).transpose()?;
        let diff = self.repo.diff_tree_to_tree(old.as_ref(), Some(&new), None).map_err(|e| git_error("cannot compare two backups", &e))?;
        let mut out: Vec<(char, String)> = diff
            .deltas()
            .filter_map(|d| {
                let status = match d.status() {
                    git2::Delta::Added => 'A',
                    git2::Delta::Deleted => 'D',
                    _ => 'M',
                };
                let file = if status == 'D' { d.old_file() } else { d.new_file() };
                file.path().and_then(|p| p.to_str()).map(|p| (status, p.to_string()))
            })
            .collect();
        out.sort_by(|a, b| a.1.cmp(&b.1));
        Ok(out)
    }

    fn newest_at_or_before(&mut self, tip: Oid, seconds: i64, wanted: &str, log: &mut Log) -> Result<Option<Oid>, CoreError> {
        let mut walk = FirstParents::from(tip);
        let mut oldest = None;
        while let Some(commit) = walk.next(self, log)? {
            if self.committed_at(commit)? <= seconds {
                return Ok(Some(commit));
            }
            oldest = Some(commit);
        }
        let first = match oldest {
            Some(c) => self.describe(c)?,
            None => "none".into(),
        };
        Err(CoreError::invalid(
            "restore.ref",
            format!("`{}` ({}) is before the first backup of branch `{}`: {first}", crate::error::shown(wanted), rfc3339(seconds), self.config.branch),
        ))
    }

    /// A commit of this repository whose SHA starts with `prefix`: found here (a cache may hold
    /// it already), else along the branch's history, deepening it as needed.
    fn commit_by_sha(&mut self, tip: Oid, prefix: &str, log: &mut Log) -> Result<Option<Oid>, CoreError> {
        if let Some(found) = self.local_commit_with_prefix(prefix)? {
            return Ok(Some(found));
        }
        let mut walk = FirstParents::from(tip);
        while let Some(commit) = walk.next(self, log)? {
            if commit.to_string().starts_with(prefix) {
                return self.local_commit_with_prefix(prefix);
            }
        }
        Ok(None)
    }

    fn local_commit_with_prefix(&self, prefix: &str) -> Result<Option<Oid>, CoreError> {
        let odb = self.repo.odb().map_err(|e| git_error("cannot open the object database", &e))?;
        let padded = Oid::from_str(&format!("{prefix:0<40}")).map_err(|e| git_error("invalid SHA", &e))?;
        match odb.exists_prefix(padded, prefix.len()) {
            Ok(oid) => Ok(self.repo.find_commit(oid).ok().map(|c| c.id())),
            Err(e) if e.code() == git2::ErrorCode::Ambiguous => Err(CoreError::invalid(
                "restore.ref",
                format!("the short SHA `{prefix}` is ambiguous: more than one object starts with it; give more digits"),
            )),
            Err(_) => Ok(None),
        }
    }

    fn unknown_ref(&mut self, tip: Oid, wanted: &str, log: &mut Log) -> CoreError {
        let newest = self.backups(LISTED, log).unwrap_or_else(|_| vec![tip]);
        let listed: Vec<String> = newest.iter().filter_map(|c| self.describe(*c).ok()).collect();
        CoreError::invalid(
            "restore.ref",
            format!(
                "`{}` is not a tag, a branch, a date or a commit of branch `{}`; the newest backups: {}. Give {ACCEPTED}",
                crate::error::shown(wanted),
                self.config.branch,
                listed.join("; ")
            ),
        )
    }

    /// `abc1234 2026-11-20T18:00:00Z "message"`, for logs and errors.
    fn describe(&self, commit: Oid) -> Result<String, CoreError> {
        let info = self.commit_info(commit)?;
        Ok(format!("{} {} \"{}\"", short(commit), info.date, info.message))
    }

    fn committed_at(&self, commit: Oid) -> Result<i64, CoreError> {
        self.repo.find_commit(commit).map(|c| c.committer().when().seconds()).map_err(|e| git_error("cannot read a backup commit", &e))
    }

    /// The parents written in the commit object itself (libgit2 hides them at a shallow boundary).
    fn raw_parents(&self, commit: Oid) -> Result<Vec<Oid>, CoreError> {
        let odb = self.repo.odb().map_err(|e| git_error("cannot open the object database", &e))?;
        let object = odb.read(commit).map_err(|e| git_error("cannot read a backup commit", &e))?;
        let header = object.data().split(|b| *b == b'\n').take_while(|line| !line.is_empty());
        Ok(header.filter_map(|line| line.strip_prefix(b"parent ")).filter_map(|hex| std::str::from_utf8(hex).ok().and_then(|h| Oid::from_str(h).ok())).collect())
    }

    /// Fetches the branch deeper, step by step, until `commit` is here.
    fn ensure_present(&mut self, commit: Oid, log: &mut Log) -> Result<(), CoreError> {
        let branch = format!("refs/heads/{}", self.config.branch);
        for depth in DEPTHS {
            if self.has(commit) {
                return Ok(());
            }
            if depth <= self.fetched_depth {
                continue;
            }
            let shown = if depth == i32::MAX { "the whole history".to_string() } else { format!("{depth} commits") };
            log.info(format!("Fetching older backups of `{}`: {shown}", self.config.branch));
            self.fetch_ref(&branch, Some(depth), log)?;
            self.fetched_depth = depth;
        }
        if self.has(commit) {
            Ok(())
        } else {
            Err(CoreError::new(ErrorCode::Git, format!("the remote did not send commit {commit} of branch `{}`, which the history names", self.config.branch)))
        }
    }

    pub(super) fn has(&self, commit: Oid) -> bool {
        self.repo.odb().map(|odb| odb.exists(commit)).unwrap_or(false)
    }
}

/// A walk along first parents from a tip, fetching deeper as it goes.
struct FirstParents {
    next: Option<Oid>,
}

impl FirstParents {
    fn from(tip: Oid) -> Self {
        FirstParents { next: Some(tip) }
    }

    fn next(&mut self, ws: &mut Workspace, log: &mut Log) -> Result<Option<Oid>, CoreError> {
        let Some(commit) = self.next else { return Ok(None) };
        self.next = ws.first_parent(commit, log)?;
        Ok(Some(commit))
    }
}

fn short(commit: Oid) -> String {
    commit.to_string()[..7].to_string()
}

/// `YYYY-MM-DD` at the start: meant as a date, so a malformed one is reported as such.
fn looks_like_date(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() >= 10 && b[..4].iter().all(u8::is_ascii_digit) && b[4] == b'-' && b[5..7].iter().all(u8::is_ascii_digit) && b[7] == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_date_shaped_refs_are_read_as_dates() {
        assert!(looks_like_date("2026-11-20") && looks_like_date("2026-11-99T"));
        assert!(!looks_like_date("backup-2026-11-20") && !looks_like_date("abc1234") && !looks_like_date("2026-1-2"));
    }
}
