//! Git: a local copy of one branch (fetched shallow into a cache or a temp dir), blobs and trees
//! built in the object database, one commit, a push that never forces, and the commit URL.
//!
//! OWNER: git helper. Interface used by `backup.rs` (keep these signatures):

use crate::error::CoreError;
use crate::progress::Log;
use crate::request::GitConfig;
use crate::snapshot::{Change, TipFile, TipTree};
use git2::Oid;

pub enum PushOutcome {
    Pushed { bytes: u64 },
    /// Non-fast-forward or the remote's ref lock moved: fetch, re-plan, retry.
    BranchMoved { bytes: u64 },
}

pub struct Workspace {}

impl Workspace {
    /// Fetches the branch tip (or notes that the branch / the whole remote is empty).
    pub fn open(config: &GitConfig, log: &mut Log) -> Result<Self, CoreError> {
        let _ = (config, log);
        todo!("git helper")
    }
    /// True when the remote had no such branch at `open` (it is created by the push).
    pub fn branch_missing(&self) -> bool {
        todo!("git helper")
    }
    pub fn write_blob(&mut self, bytes: &[u8]) -> Result<Oid, CoreError> {
        let _ = bytes;
        todo!("git helper")
    }
    /// Builds the tree (tip tree + changes) and a commit on the tip; author per plugin-git rules.
    pub fn commit(&mut self, changes: &[Change], message: &str, log: &mut Log) -> Result<Oid, CoreError> {
        let _ = (changes, message, log);
        todo!("git helper")
    }
    pub fn push(&mut self, commit: Oid, log: &mut Log) -> Result<PushOutcome, CoreError> {
        let _ = (commit, log);
        todo!("git helper")
    }
    /// Fetches the branch again after a lost race; the next `files_under`/`commit` use the new tip.
    pub fn refresh(&mut self, log: &mut Log) -> Result<(), CoreError> {
        let _ = log;
        todo!("git helper")
    }
    /// Web URL of a commit (plugin-git rules, `plugin-git-compat.md` §11).
    pub fn commit_url(&self, commit: Oid) -> String {
        let _ = commit;
        todo!("git helper")
    }
    /// The remote URL without any credentials, for logs.
    pub fn display_url(&self) -> String {
        todo!("git helper")
    }
    /// `" in <cache dir>"` when a cache keeps the local commit, else `""`.
    pub fn cache_hint(&self) -> String {
        todo!("git helper")
    }
}

impl TipTree for Workspace {
    fn files_under(&self, dir: &str) -> Result<Vec<TipFile>, CoreError> {
        let _ = dir;
        todo!("git helper")
    }
    fn read_blob(&self, oid: Oid) -> Result<Vec<u8>, CoreError> {
        let _ = oid;
        todo!("git helper")
    }
}
