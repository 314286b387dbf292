//! The backup branch's history: which commit a restore reads (`ref`: a tag, a branch, an instant,
//! a full or abbreviated SHA), fetched only as deep as the ref needs, and the backup commits
//! listed newest first (the CLI's `log`).
//!
//! Parents are read from the raw commit objects rather than through libgit2's shallow grafts, so a
//! cache directory that already holds older backups is walked without fetching anything; a parent
//! that is not here yet deepens the fetch of the branch step by step (`DEPTHS`).

use super::{git_error, Workspace};
use crate::error::{CoreError, ErrorCode};
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

    fn has(&self, commit: Oid) -> bool {
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

/// Seconds since the epoch of a date (`YYYY-MM-DD`: the end of that day, UTC) or an RFC 3339
/// date-time (`T` or a space, optional seconds and fraction, then `Z`, `±HH:MM` or `±HHMM`; a
/// `[Region/City]` suffix, as Java prints zoned date-times, is dropped). A date-time without a
/// zone is refused: Kestra's `date()` formats in the worker's zone, so reading it as UTC would
/// silently pick another backup.
pub fn parse_instant(text: &str) -> Option<i64> {
    let text = text.trim();
    let text = text.split_once('[').map_or(text, |(head, zone)| if zone.ends_with(']') { head } else { "" });
    let (date, time) = match text.len() {
        10 => (text, None),
        n if n > 11 && matches!(text.as_bytes()[10], b'T' | b't' | b' ') => (&text[..10], Some(&text[11..])),
        _ => return None,
    };
    let num = |s: &str| -> Option<i64> { (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok()).flatten() };
    let (y, m, d) = (num(&date[..4])?, num(&date[5..7])?, num(&date[8..10])?);
    if !(1..=12).contains(&m) || d < 1 || d > days_in_month(y, m) {
        return None;
    }
    let day = days_from_civil(y, m, d) * 86_400;
    let Some(time) = time else { return Some(day + 86_399) };
    let zone_at = time.find(['Z', 'z', '+', '-']).unwrap_or(time.len());
    let (clock, zone) = time.split_at(zone_at);
    let mut parts = clock.split(':');
    let h = num(parts.next()?)?;
    let min = num(parts.next()?)?;
    let sec = match parts.next() {
        Some(s) => num(s.split_once('.').map_or(s, |(whole, fraction)| if num(fraction).is_some() { whole } else { "" }))?,
        None => 0,
    };
    if parts.next().is_some() || h > 23 || min > 59 || sec > 60 {
        return None;
    }
    let offset = match zone {
        "" => return None,
        "Z" | "z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let digits = zone[1..].replace(':', "");
            if digits.len() != 4 && digits.len() != 2 {
                return None;
            }
            let (oh, om) = (num(&digits[..2])?, if digits.len() == 4 { num(&digits[2..])? } else { 0 });
            if oh > 18 || om > 59 {
                return None;
            }
            sign * (oh * 3_600 + om * 60)
        }
    };
    Some(day + h * 3_600 + min * 60 + sec - offset)
}

/// `2026-11-20T18:00:00Z` for seconds since the epoch.
pub fn rfc3339(seconds: i64) -> String {
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rest / 3_600, rest % 3_600 / 60, rest % 60)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_in_the_accepted_forms() {
        let at = |s: &str| parse_instant(s);
        assert_eq!(at("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(at("2026-11-20T18:00:00Z"), Some(1_795_197_600));
        assert_eq!(at("2026-11-20T19:00:00+01:00"), Some(1_795_197_600));
        assert_eq!(at("2026-11-20T13:00:00-0500"), Some(1_795_197_600));
        assert_eq!(at("2026-11-20 18:00:00.123456Z"), Some(1_795_197_600));
        assert_eq!(at("2026-11-20T19:00:00.5+01:00[Europe/Paris]"), Some(1_795_197_600));
        assert_eq!(at("2026-11-20T18:00Z"), Some(1_795_197_600));
        assert_eq!(at("2026-11-20T18:00:00"), None, "a date-time needs its zone");
        assert_eq!(at("2026-11-20"), Some(1_795_219_199), "a date alone is the end of that day, UTC");
        assert_eq!(at("2024-02-29"), Some(days_from_civil(2024, 2, 29) * 86_400 + 86_399));
        for bad in ["2026-13-01", "2026-02-30", "2025-02-29", "2026-11-20T25:00:00Z", "2026-11-20T18:00:00+1", "2026-11-20T18", "2026-11-2", "20261120", "2026-11-20X"] {
            assert_eq!(at(bad), None, "{bad}");
        }
    }

    #[test]
    fn dates_are_printed_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_795_197_600), "2026-11-20T18:00:00Z");
        for days in [-1_000, 0, 59, 60, 365, 11_016, 20_777, 100_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn only_date_shaped_refs_are_read_as_dates() {
        assert!(looks_like_date("2026-11-20") && looks_like_date("2026-11-99T"));
        assert!(!looks_like_date("backup-2026-11-20") && !looks_like_date("abc1234") && !looks_like_date("2026-1-2"));
    }
}
