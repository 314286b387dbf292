//! The chain-of-custody check on its own (the CLI's `verify`, docs/custody.md): the request's
//! branch walked from its tip over the whole manifest chain (or its newest N backups), and where
//! the remote's custody record and the cache's record stand on it. Reads only, pushes nothing.

use crate::error::CoreError;
use crate::git::{custody, Workspace};
use crate::progress::Log;
use crate::request::Request;
use crate::snapshot::manifest::Previous;
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ChainReport {
    pub branch: String,
    pub tip: String,
    /// Backup commits walked, newest first (`commit`, `serial`, `date`).
    pub links: Vec<Previous>,
    /// The walk reached the backup that starts the chain.
    pub complete: bool,
    /// Where a manifest names a previous backup the first-parent history does not hold.
    pub broken: Option<BrokenLink>,
    /// The remote's custody record, `refs/kestra-backup/last/<branch>`; None when it has none.
    pub record: Option<Record>,
    /// With `git.cacheDir`: the cache's record of the last commit pushed.
    pub cache: Option<Record>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BrokenLink {
    pub after: String,
    pub missing: Previous,
    pub found: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Record {
    pub commit: String,
    /// Its manifest's serial; None for a commit without one.
    pub serial: Option<u64>,
    /// The branch holds it (its tip or a first-parent ancestor).
    pub held: bool,
}

impl ChainReport {
    /// Nothing found broken: the chain's links hold and both records are on the branch.
    pub fn intact(&self) -> bool {
        self.broken.is_none() && [&self.record, &self.cache].iter().all(|r| r.as_ref().is_none_or(|r| r.held))
    }
}

/// Walks at most `limit` backup commits (0: all) of `request`'s branch.
pub fn check(request: &Request, limit: usize, log: &mut Log) -> Result<ChainReport, CoreError> {
    let mut ws = Workspace::open(&request.git, log)?;
    let tip = match ws.tip() {
        Some(tip) if !ws.branch_missing() => tip,
        _ => return Err(CoreError::invalid("git.branch", format!("`{}` does not exist on the remote: there is no chain to check", request.git.branch))),
    };
    let chain = custody::walk(&mut ws, tip, if limit == 0 { usize::MAX } else { limit }, log)?;
    let record = ws.remote_record().map(|r| where_is(&mut ws, tip, r, log)).transpose()?;
    let cache = ws.cached_record().map(|r| where_is(&mut ws, tip, r, log)).transpose()?;
    Ok(ChainReport {
        branch: request.git.branch.clone(),
        tip: tip.to_string(),
        links: chain.links.iter().map(custody::Link::as_previous).collect(),
        complete: chain.complete,
        broken: chain.broken.map(|b| BrokenLink { after: b.after.to_string(), missing: b.missing, found: b.found.map(|f| f.to_string()) }),
        record,
        cache,
    })
}

/// Where a record's commit stands against the branch.
fn where_is(ws: &mut Workspace, tip: git2::Oid, commit: git2::Oid, log: &mut Log) -> Result<Record, CoreError> {
    let serial = custody::link_at(ws, commit)?.map(|l| l.manifest.serial);
    let held = custody::holds(ws, tip, commit, serial, log)?;
    Ok(Record { commit: commit.to_string(), serial, held })
}
