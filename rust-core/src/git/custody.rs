//! Chain of custody: the backup commits of a branch, linked by their manifests. Each manifest
//! names the backup commit before it (`previous`) and a serial one above that commit's; walking
//! first parents from the tip must meet exactly those commits, in order. A rewritten history (a
//! force-push, a reset, a branch recreated) breaks the walk where a backup commit went missing.

use super::Workspace;
use crate::error::CoreError;
use crate::progress::Log;
use crate::snapshot::manifest::{self, Manifest, Previous};
use git2::Oid;

/// Commits without a manifest a walk steps over looking for the next backup commit (commits
/// made by hand, or by plugin-git, between two backups) before it decides there is none.
const SEARCH: usize = 100;

/// One backup commit of the chain.
#[derive(Debug, Clone)]
pub struct Link {
    pub commit: Oid,
    /// Committer date, RFC 3339 UTC.
    pub date: String,
    pub manifest: Manifest,
}

impl Link {
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
/// within `SEARCH` commits. A backup commit is one that wrote its manifest: a commit made by hand
/// on top of a backup carries the same manifest blob as its first parent and is stepped over.
pub fn newest_backup(ws: &mut Workspace, from: Oid, log: &mut Log) -> Result<Option<Link>, CoreError> {
    let mut next = Some(from);
    for _ in 0..=SEARCH {
        let Some(commit) = next else { return Ok(None) };
        next = ws.first_parent(commit, log)?;
        let Some(blob) = ws.at(commit).blob_at(manifest::PATH)? else { continue };
        if next.map(|parent| ws.at(parent).blob_at(manifest::PATH)).transpose()?.flatten() == Some(blob) {
            continue;
        }
        if let Some(manifest) = manifest::read(&ws.at(commit), &commit.to_string())? {
            return Ok(Some(Link { commit, date: ws.commit_info(commit)?.date, manifest }));
        }
    }
    Ok(None)
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
