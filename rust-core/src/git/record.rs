//! Custody records: the last backup commit a run pushed to a remote branch, remembered where a
//! rewrite of the branch cannot silently take it along. On the remote itself, the ref
//! `refs/kestra-backup/last/<branch>` (fetched with the branch, moved only after the branch push
//! succeeded); with `git.cacheDir`, also a local ref of the cache repository per remote URL and
//! branch, whose commit the cache keeps with its objects. `custody::check` reads both.

use super::{git_error, PushOutcome, Workspace};
use crate::error::CoreError;
use crate::progress::Log;
use git2::Oid;

/// The remote's custody record of `branch`.
pub fn remote_ref(branch: &str) -> String {
    format!("refs/kestra-backup/last/{branch}")
}

impl Workspace {
    /// The commit the remote's custody record named at the last fetch; None when it has none.
    pub fn remote_record(&self) -> Option<Oid> {
        self.record
    }

    /// Whether this run keeps a record of its pushes (it has a cache directory).
    pub fn keeps_cache_record(&self) -> bool {
        self.config.cache_dir.is_some()
    }

    /// The last commit this cache pushed to this remote's branch; None without a cache or before
    /// the first push.
    pub fn cached_record(&self) -> Option<Oid> {
        let name = self.cache_record_ref()?;
        self.repo.refname_to_id(&name).ok()
    }

    /// Remembers `commit` as the last one pushed to this remote's branch (with a cache only).
    pub fn remember_pushed(&self, commit: Oid, log: &mut Log) -> Result<(), CoreError> {
        let Some(name) = self.cache_record_ref() else { return Ok(()) };
        let why = format!("kestra-git-backup: pushed to {} branch {}", self.display_url(), self.config.branch);
        self.repo.reference(&name, commit, true, &why).map_err(|e| git_error("cannot update the cache's custody record", &e))?;
        log.debug(format!("The cache records {commit} as the last commit pushed to {} branch `{}`", self.display_url(), self.config.branch));
        Ok(())
    }

    /// Moves the remote's custody record to `commit`, in a push of its own after the branch's: a
    /// push of two refs is not atomic, and the record must never name a commit the branch lacks.
    /// Fast-forward only unless `force` (an accepted rewrite); a refused fast-forward means
    /// another run recorded a newer backup already. A record the server refuses is a warning: the
    /// backup itself was pushed.
    pub fn push_record(&mut self, commit: Oid, force: bool, log: &mut Log) {
        let local = format!("refs/kestra-backup/record/{}/{}", self.remote, self.config.branch);
        if let Err(e) = self.repo.reference(&local, commit, true, "kestra-git-backup custody record") {
            log.warn(format!("The custody record of branch `{}` was not moved: {}", self.config.branch, e.message()));
            return;
        }
        let refspec = format!("{}{local}:{}", if force { "+" } else { "" }, remote_ref(&self.config.branch));
        match self.push(None, &[refspec], log) {
            Ok(PushOutcome::Pushed { .. }) => {
                self.record = Some(commit);
                log.info(format!("Custody record {} of {} names {commit}", remote_ref(&self.config.branch), self.display_url()));
            }
            Ok(PushOutcome::BranchMoved { .. }) => log.debug(format!("The custody record of branch `{}` already names a newer backup; left as it is", self.config.branch)),
            Err(e) => log.warn(format!("The custody record {} was not pushed: [{:?}] {}", remote_ref(&self.config.branch), e.code, e.message)),
        }
    }

    /// The cache's local ref for this remote URL (without credentials) and branch.
    fn cache_record_ref(&self) -> Option<String> {
        if !self.keeps_cache_record() {
            return None;
        }
        let key = format!("{}\n{}", self.display_url(), self.config.branch);
        let id = Oid::hash_object(git2::ObjectType::Blob, key.as_bytes()).ok()?;
        Some(format!("refs/kestra-backup/pushed/{id}"))
    }
}
