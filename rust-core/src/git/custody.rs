//! Chain of custody: the backup commits of a branch, linked by their manifests. Each manifest
//! names the backup commit before it (`previous`) and a serial one above that commit's; walking
//! first parents from the tip must meet exactly those commits, in order. A rewritten history (a
//! force-push, a reset, a branch recreated) breaks the walk where a backup commit went missing,
//! or leaves a custody record (`record`) naming a commit the branch no longer holds (`check`).

use super::Workspace;
use crate::error::CoreError;
use crate::progress::Log;
use crate::snapshot::manifest::{self, ItemFile, Manifest, Previous, Stored};
use git2::Oid;

/// Commits without a manifest a walk steps over looking for the next backup commit (commits
/// made by hand, or by plugin-git, between two backups) before it decides there is none.
const SEARCH: usize = 100;

/// Missing backup commits a finding names one by one; more are counted.
const NAMED: usize = 10;

/// One backup commit of the chain.
#[derive(Debug, Clone)]
pub struct Link {
    pub commit: Oid,
    /// Committer date, RFC 3339 UTC.
    pub date: String,
    /// The manifest's header: its items only when it is of format 1 (inline); format 2 keeps
    /// them in `item_files`, read by `full_manifest`.
    pub manifest: Manifest,
    pub item_files: Vec<ItemFile>,
}

impl Link {
    /// The manifest with all its items.
    pub fn full_manifest(&self, ws: &Workspace) -> Result<Manifest, CoreError> {
        let stored = Stored { header: self.manifest.clone(), item_files: self.item_files.clone() };
        stored.load(&ws.at(self.commit), &self.commit.to_string())
    }

    /// What the next backup's manifest names as its `previous`.
    pub fn as_previous(&self) -> Previous {
        Previous { commit: self.commit.to_string(), serial: self.manifest.serial, date: self.date.clone() }
    }
}

/// Where the chain broke: `after`'s manifest names a previous backup commit that the first-parent
/// history does not hold (any more).
#[derive(Debug, Clone)]
pub struct Break {
    pub after: Oid,
    pub missing: Previous,
    /// The backup commit the history holds there instead, if any.
    pub found: Option<Oid>,
}

/// The backup commits walked from a commit, newest first.
#[derive(Debug, Default)]
pub struct Chain {
    pub links: Vec<Link>,
    pub broken: Option<Break>,
    /// True when the walk reached the commit that starts the chain (no `previous`); false when it
    /// stopped at the limit or at a break.
    pub complete: bool,
}

/// The newest backup commit at or below `from` along first parents, or None when none is found
/// within `SEARCH` commits. A backup commit is one that changed the manifest: a commit made by
/// hand on top of a backup carries that backup's manifest unchanged, and is stepped over.
pub fn newest_backup(ws: &mut Workspace, from: Oid, log: &mut Log) -> Result<Option<Link>, CoreError> {
    let mut next = Some(from);
    for _ in 0..=SEARCH {
        let Some(commit) = next else { return Ok(None) };
        let blob = manifest_blob(ws, commit)?;
        next = ws.first_parent(commit, log)?;
        if blob.is_some() && next.map(|parent| manifest_blob(ws, parent)).transpose()?.flatten() != blob {
            return link_at(ws, commit);
        }
    }
    Ok(None)
}

/// The link of `commit` as its own manifest describes it; None when its tree has no manifest.
pub fn link_at(ws: &Workspace, commit: Oid) -> Result<Option<Link>, CoreError> {
    let Some(Stored { header, item_files }) = manifest::read_stored(&ws.at(commit), &commit.to_string())? else { return Ok(None) };
    Ok(Some(Link { commit, date: ws.commit_info(commit)?.date, manifest: header, item_files }))
}

fn manifest_blob(ws: &Workspace, commit: Oid) -> Result<Option<Oid>, CoreError> {
    ws.at(commit).blob_at(manifest::PATH)
}

/// Walks the chain from the newest backup commit at or below `from`, at most `limit` backup
/// commits, checking every `previous` pointer and that serials are consecutive.
pub fn walk(ws: &mut Workspace, from: Oid, limit: usize, log: &mut Log) -> Result<Chain, CoreError> {
    walk_each(ws, from, limit, log, &mut |_, _| Ok(()), true)
}

/// `walk`, handing each backup commit to `visit` as it is reached; with `keep_items` false the
/// links keep their manifests without the item lists, so memory stays flat over a long history.
pub fn walk_each(
    ws: &mut Workspace,
    from: Oid,
    limit: usize,
    log: &mut Log,
    visit: &mut dyn FnMut(&Workspace, &Link) -> Result<(), CoreError>,
    keep_items: bool,
) -> Result<Chain, CoreError> {
    let mut chain = Chain::default();
    let mut current = newest_backup(ws, from, log)?;
    while let Some(mut link) = current.take() {
        visit(ws, &link)?;
        if !keep_items {
            link.manifest.kinds.values_mut().for_each(|kind| kind.items = Vec::new());
        }
        let previous = link.manifest.previous.clone();
        let (after, serial) = (link.commit, link.manifest.serial);
        chain.links.push(link);
        let Some(previous) = previous else {
            chain.complete = true;
            break;
        };
        if chain.links.len() >= limit {
            break;
        }
        let below = match ws.first_parent(after, log)? {
            Some(parent) => newest_backup(ws, parent, log)?,
            None => None,
        };
        match below {
            Some(found) if found.commit.to_string() == previous.commit && found.manifest.serial == previous.serial && previous.serial + 1 == serial => {
                current = Some(found);
            }
            found => {
                chain.broken = Some(Break { after, missing: previous, found: found.map(|f| f.commit) });
            }
        }
    }
    Ok(chain)
}

/// Whether `known` is `tip` or one of its first-parent ancestors. With `serial` (the manifest
/// serial of `known`), the walk stops where the serials pass below it or the manifests end;
/// without, it goes down to the first commit.
pub fn holds(ws: &mut Workspace, tip: Oid, known: Oid, serial: Option<u64>, log: &mut Log) -> Result<bool, CoreError> {
    let mut next = Some(tip);
    while let Some(commit) = next {
        if commit == known {
            return Ok(true);
        }
        if let Some(serial) = serial {
            match manifest::read_stored(&ws.at(commit), &commit.to_string())? {
                Some(m) if m.header.serial >= serial => {}
                _ => return Ok(false),
            }
        }
        next = ws.first_parent(commit, log)?;
    }
    Ok(false)
}

/// What the chain check found on one remote: the history was rewritten.
#[derive(Debug)]
pub struct Rewrite {
    /// One sentence per finding, naming the missing backup commits (SHA, serial, date).
    pub findings: Vec<String>,
    /// The last backup commit known to be intact, to build on instead of the tip: the cache's
    /// record when its check failed, else the remote record's; None when only the link check
    /// failed (no intact commit is known).
    pub base: Option<Oid>,
    /// Where the branch stands now (tip, newest backup).
    pub now: String,
}

/// The chain check of one remote before a backup commit (docs/custody.md): the cache's record
/// and the remote's custody record must each be the branch's newest backup commit or one of its
/// first-parent ancestors; when `building` a commit on a branch that carries manifests
/// (`manifests`, or a remote record), the newest link of the chain must also hold.
pub fn check(ws: &mut Workspace, manifests: bool, building: bool, log: &mut Log) -> Result<Option<Rewrite>, CoreError> {
    let tip = if ws.branch_missing() { None } else { ws.tip() };
    let (cached, remote) = (ws.cached_record(), ws.remote_record());
    let mut findings = Vec::new();
    let mut base = None;
    // The cache first: when both failed it is the base, since a rewrite may recreate the remote record.
    let records = [(cached, "this cache's record of the last push"), (remote.filter(|r| Some(*r) != cached), "the remote's custody record")];
    for (known, source) in records {
        let Some(known) = known else { continue };
        let link = link_at(ws, known)?;
        let serial = link.as_ref().map(|l| l.manifest.serial);
        if let Some(tip) = tip
            && holds(ws, tip, known, serial, log)?
        {
            continue;
        }
        let source = if remote == cached { "this cache's record and the remote's custody record".to_string() } else { source.to_string() };
        let missing = missing_from(ws, tip, known, link, log)?;
        findings.push(format!("{source} name{} {}, which the branch no longer holds; missing: {}", if remote == cached { "" } else { "s" }, short(known), missing));
        base.get_or_insert(known);
    }
    if building
        && let Some(tip) = tip
        && (manifests || remote.is_some())
        && let Some(broken) = walk(ws, tip, 2, log)?.broken
    {
        let found = broken.found.map_or_else(|| "no backup commit".to_string(), |f| format!("backup commit {}", short(f)));
        findings.push(format!(
            "the manifest of backup commit {} names {} as the backup before it, but its first-parent history holds {found} there",
            short(broken.after),
            named(&broken.missing)
        ));
    }
    if findings.is_empty() {
        return Ok(None);
    }
    let now = match tip {
        None => format!("branch `{}` no longer exists", ws.branch()),
        Some(tip) => match newest_backup(ws, tip, log)? {
            Some(l) => format!("branch `{}` now stands at {} (its newest backup: serial {}, {})", ws.branch(), short(tip), l.manifest.serial, l.date),
            None => format!("branch `{}` now stands at {}, with no backup commit", ws.branch(), short(tip)),
        },
    };
    Ok(Some(Rewrite { findings, base, now }))
}

/// `known` and the backups before it that the branch does not hold, as far as this repository
/// has their manifests: `abc1234 (serial 3, 2026-12-02T07:30:00Z), ...`.
fn missing_from(ws: &mut Workspace, tip: Option<Oid>, known: Oid, link: Option<Link>, log: &mut Log) -> Result<String, CoreError> {
    let Some(link) = link else { return Ok(format!("{known} ({})", ws.commit_info(known)?.date)) };
    let mut names = vec![named(&link.as_previous())];
    let mut more = 0;
    let mut previous = link.manifest.previous;
    while let Some(p) = previous.take() {
        let Ok(commit) = Oid::from_str(&p.commit) else { break };
        let held = match tip {
            Some(tip) => holds(ws, tip, commit, Some(p.serial), log)?,
            None => false,
        };
        if held {
            break;
        }
        if names.len() < NAMED { names.push(named(&p)) } else { more += 1 }
        // Older manifests are read only when this repository has the commit (a cache may).
        if ws.has(commit) {
            previous = link_at(ws, commit)?.and_then(|l| l.manifest.previous);
        }
    }
    if more > 0 {
        names.push(format!("and {more} more"));
    }
    Ok(names.join(", "))
}

/// `<full SHA> (serial 3, 2026-12-02T07:30:00Z)`: the SHA is what a recovery needs.
fn named(p: &Previous) -> String {
    format!("{} (serial {}, {})", p.commit, p.serial, p.date)
}

fn short(commit: Oid) -> String {
    commit.to_string()[..12].to_string()
}
