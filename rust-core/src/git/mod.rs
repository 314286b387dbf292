//! Git: a local copy of one branch (fetched shallow into a cache or a temp dir), blobs and trees
//! built in the object database, one commit on the tip (and an annotated tag, `tags`), a push
//! that never forces, and the URLs shown to users.

mod commit_url;
pub mod custody;
mod history;
mod http_push;
mod record;
mod scratch;
mod server_text;
mod identity;
pub mod signature_check;
mod signing;
mod socket_stream;
pub mod tags;
mod thin_pack;
mod transport;

use crate::error::{CoreError, ErrorCode};
use crate::progress::{Log, Ticker};
use crate::request::GitConfig;
use crate::snapshot::{Change, TipFile, TipTree};
use git2::build::TreeUpdateBuilder;
use git2::{FileMode, Oid, Repository};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{Duration, Instant};
use signing::CommitSigner;
use transport::{Session, TaskTrust};

pub use commit_url::{commit_url, display_url};
pub use scratch::remove_idle as remove_kept_repositories;

/// Pushes tried again after the connection broke off (not counting the first).
const BROKEN_PUSH_RETRIES: u32 = 3;

pub enum PushOutcome {
    Pushed { bytes: u64 },
    /// Non-fast-forward or the remote's ref lock moved: fetch, re-plan, retry.
    BranchMoved { bytes: u64 },
}

/// Where the time of reaching the remote went (the report's finer phases of `fetch`).
#[derive(Default, Clone, Copy)]
pub struct SyncTimes {
    pub trust: Duration,
    pub workdir: Duration,
    pub list_refs: Duration,
    pub fetch_pack: Duration,
}

pub struct Workspace {
    repo: Repository,
    config: GitConfig,
    /// Keeps the local repository's directory for this run (see `LocalDir`).
    _local: LocalDir,
    tip: Option<Oid>,
    branch_missing: bool,
    trust: Option<Rc<TaskTrust>>,
    signer: Option<CommitSigner>,
    /// Bytes received by every fetch of this run.
    bytes_fetched: std::cell::Cell<u64>,
    /// How deep the branch's history has been fetched (commits; `i32::MAX`: all of it).
    fetched_depth: i32,
    /// The remote's refs as last listed (branches and tags, peeled tags as `<tag>^{}`).
    remote_refs: Vec<(String, Oid)>,
    /// Which remote this workspace talks to: "origin", or "mirror-<n>" after `switch_to_mirror`.
    /// Names the local refs, so each remote's tip and commits are kept apart in one repository.
    remote: String,
    times: SyncTimes,
    /// The commit the remote's custody record (`record::remote_ref`) named at the last sync.
    record: Option<Oid>,
    /// Set by `divert_to`: the branch that gets the commit instead of `config.branch`.
    rescue_branch: Option<String>,
}

impl Workspace {
    /// Fetches the branch tip (or notes that the branch / the whole remote is empty).
    pub fn open(config: &GitConfig, log: &mut Log) -> Result<Self, CoreError> {
        let started = Instant::now();
        transport::configure_process(config)?;
        let trust = TaskTrust::load(config)?;
        let mut times = SyncTimes { trust: started.elapsed(), ..SyncTimes::default() };
        let signer = config.signing_key.as_ref().map(|key| CommitSigner::load(key, config.signing_key_passphrase.as_ref())).transpose()?;
        if config.private_key.is_some() && config.url.starts_with("http") {
            log.warn("`git.privateKey` is ignored for an HTTP(S) URL; use `git.username` and `git.password`");
        }
        let started = Instant::now();
        let (repo, local) = open_local(config, log)?;
        apply_git_config(&repo, config, log)?;
        times.workdir = started.elapsed();
        let mut ws = Workspace { repo, config: config.clone(), _local: local, tip: None, branch_missing: false, trust, signer, bytes_fetched: Default::default(), fetched_depth: 0, remote_refs: Vec::new(), remote: "origin".into(), times, record: None, rescue_branch: None };
        log.info(format!("Start cloning from '{}'", ws.display_url()));
        ws.branch_missing = !ws.sync(log)?;
        if ws.branch_missing {
            log.info(format!("Branch {} does not exist, creating it", config.branch));
        }
        Ok(ws)
    }

    /// Points this workspace at a mirror (index `n` of `mirrors`) and fetches its branch: the
    /// snapshot's blobs are already in the object database, so the same snapshot is planned and
    /// committed again on the mirror's own tip.
    pub fn switch_to_mirror(&mut self, n: usize, config: GitConfig, log: &mut Log) -> Result<(), CoreError> {
        self.trust = TaskTrust::load(&config)?;
        self.config = config;
        self.remote = format!("mirror-{n}");
        self.tip = None;
        self.rescue_branch = None;
        self.fetched_depth = 0;
        log.info(format!("Mirror: start cloning from '{}'", self.display_url()));
        self.branch_missing = !self.sync(log)?;
        Ok(())
    }

    /// The local branch that holds this remote's commit until it is pushed.
    fn local_branch(&self) -> String {
        if self.remote == "origin" {
            format!("refs/heads/{}", self.push_branch())
        } else {
            // Outside refs/heads, so no branch name of the primary can collide with it.
            format!("refs/kestra-backup/{}/{}", self.remote, self.push_branch())
        }
    }

    /// The branch the next push goes to: `branch`, or the rescue branch after `divert_to`.
    fn push_branch(&self) -> &str {
        self.rescue_branch.as_deref().unwrap_or(&self.config.branch)
    }

    /// From now on the commit is built on `base` (None: on the tip) and pushed to the new branch
    /// `rescue`, leaving `branch` as it is (`custody`: a rewritten history). Returns the commit
    /// the rescue branch starts from.
    pub fn divert_to(&mut self, rescue: String, base: Option<Oid>) -> Option<Oid> {
        self.rescue_branch = Some(rescue);
        self.tip = base.or(self.tip);
        self.tip
    }

    /// Points the local branch at `commit`, so a push sends it as it is (a rescue branch that
    /// needs no new commit).
    pub fn stage_existing(&self, commit: Oid) -> Result<(), CoreError> {
        self.repo.reference(&self.local_branch(), commit, true, "kestra-git-backup rescue").map(drop).map_err(|e| git_error("cannot update the local branch", &e))
    }

    /// The branch this workspace pushes to.
    pub fn branch(&self) -> &str {
        &self.config.branch
    }

    /// Where the time of reaching the remote went so far.
    pub fn sync_times(&self) -> SyncTimes {
        self.times
    }

    /// Bytes received by the fetches so far.
    pub fn bytes_fetched(&self) -> u64 {
        self.bytes_fetched.get()
    }

    /// The commit the remote's branch pointed to at the last fetch; None for a new branch.
    pub fn tip(&self) -> Option<Oid> {
        self.tip
    }

    /// True when the remote had no such branch at `open` (it is created by the push).
    pub fn branch_missing(&self) -> bool {
        self.branch_missing
    }

    /// Whether the remote had a branch `name` at the last fetch.
    pub fn remote_has_branch(&self, name: &str) -> bool {
        self.remote_refs.iter().any(|(r, _)| r.strip_prefix("refs/heads/") == Some(name))
    }

    /// The commit the remote's tag `name` names, as of the last fetch.
    pub fn remote_tag(&self, name: &str) -> Option<Oid> {
        tags::remote_target(&self.remote_refs, name)
    }

    /// Writes the annotated tag `name` on `commit` (signed when the run signs) and returns the
    /// refspec that pushes it.
    pub fn write_tag(&self, name: &str, commit: Oid, message: &str, log: &mut Log) -> Result<String, CoreError> {
        tags::write(&self.repo, name, commit, message, self.signer.as_ref(), &tags::local_ref(&self.remote, name), log)
    }

    pub fn write_blob(&mut self, bytes: &[u8]) -> Result<Oid, CoreError> {
        // Most blobs of a backup are already in the fetched pack: hash in memory and skip the
        // write (libgit2's write path re-stats and "freshens" the pack for every existing object).
        let oid = Oid::hash_object(git2::ObjectType::Blob, bytes).map_err(|e| git_error("cannot hash a blob", &e))?;
        let known = self.repo.odb().map(|odb| odb.exists(oid)).unwrap_or(false);
        if known {
            return Ok(oid);
        }
        self.repo.blob(bytes).map_err(|e| git_error("cannot write a blob", &e))
    }

    /// Builds the tree (tip tree + changes) and a commit on the tip; author per plugin-git rules.
    pub fn commit(&mut self, changes: &[Change], message: &str, log: &mut Log) -> Result<Oid, CoreError> {
        let parent = self.tip.map(|t| self.repo.find_commit(t)).transpose().map_err(|e| git_error("cannot read the tip", &e))?;
        let base = match &parent {
            Some(c) => c.tree(),
            None => self.repo.treebuilder(None).and_then(|b| b.write()).and_then(|id| self.repo.find_tree(id)),
        }
        .map_err(|e| git_error("cannot read the tip tree", &e))?;
        let mut update = TreeUpdateBuilder::new();
        for change in changes {
            match change {
                Change::Upsert { path, oid, mode, .. } => update.upsert(path.as_str(), *oid, file_mode(*mode)),
                Change::Delete { path, .. } => update.remove(path.as_str()),
            };
        }
        let tree_id = update.create_updated(&self.repo, &base).map_err(|e| git_error("cannot build the tree", &e))?;
        let tree = self.repo.find_tree(tree_id).map_err(|e| git_error("cannot read the new tree", &e))?;
        let signature = identity::signature(&self.repo, &self.config).map_err(|e| git_error("cannot build the author", &e))?;
        let parents: Vec<&git2::Commit> = parent.iter().collect();
        let commit = match &self.signer {
            None => self.repo.commit(None, &signature, &signature, message, &tree, &parents),
            Some(signer) => {
                let content = self
                    .repo
                    .commit_create_buffer(&signature, &signature, message, &tree, &parents)
                    .map_err(|e| git_error("cannot create the commit", &e))?;
                let armored = signer.sign(&content)?;
                log.info(format!("Signed the commit with the {}", signer.describe()));
                let content = std::str::from_utf8(&content)
                    .map_err(|e| CoreError::new(ErrorCode::Internal, format!("the commit to sign is not UTF-8: {e}")))?;
                self.repo.commit_signed(content, &armored, None)
            }
        }
        .map_err(|e| git_error("cannot create the commit", &e))?;
        // A local branch ref keeps the commit reachable (and in the cache) whatever the push does.
        self.repo
            .reference(&self.local_branch(), commit, true, "kestra-git-backup commit")
            .map_err(|e| git_error("cannot update the local branch", &e))?;
        log.info(format!("Committed {} ({} file(s) changed) as {} <{}>", commit, changes.len(), signature.name().unwrap_or(""), signature.email().unwrap_or("")));
        Ok(commit)
    }

    /// Pushes `commit` to the branch (when given) and the `extra` refspecs (a tag) in one push.
    pub fn push(&mut self, commit: Option<Oid>, extra: &[String], log: &mut Log) -> Result<PushOutcome, CoreError> {
        let url = self.display_url();
        let target = self.push_branch().to_string();
        match commit {
            Some(_) => log.info(format!("Pushing to {url} on branch {target}")),
            None => log.info(format!("Pushing {} to {url}", extra.iter().filter_map(|r| r.rsplit(':').next()).collect::<Vec<_>>().join(", "))),
        }
        let remote_branch = format!("refs/heads/{target}");
        // One ref's update goes in one request with a thin pack where the server speaks HTTP.
        if let Some((refname, new, old, have)) = self.one_request_update(commit, extra, &remote_branch)
            && let Some(answer) = http_push::push(&self.repo, &self.config, new, old, have, &refname, log)
        {
            return match answer {
                http_push::Answer::Updated { bytes } => Ok(self.pushed(commit, &[(refname, new)], bytes, log)),
                http_push::Answer::Refused { reason, said, bytes } => self.refused(commit, &[(refname, reason)], &said, bytes),
            };
        }
        let branch = commit.map(|_| format!("{}:{remote_branch}", self.local_branch()));
        let refspecs: Vec<&str> = branch.iter().chain(extra).map(String::as_str).collect();
        let mut broken = 0;
        let session = loop {
            let session = Session::new(self.trust.clone());
            let result = {
                let mut remote = self.repo.remote_anonymous(&self.config.url).map_err(|e| git_error("invalid `git.url`", &e))?;
                let ticker = Ticker::new(log);
                let mut options = transport::push_options(&self.config, &session, &ticker);
                remote.push(&refspecs, Some(&mut options))
            };
            let Err(e) = result else { break session };
            let bytes = *session.bytes_sent.borrow();
            if is_lost_race(e.message()) || e.code() == git2::ErrorCode::NotFastForward {
                return Ok(PushOutcome::BranchMoved { bytes });
            }
            // A connection the network or the server dropped: the same push again on a new one. If
            // the server had taken it, the branch is already at the commit and the retry is a no-op.
            if transport::is_broken_connection(&e) && broken < BROKEN_PUSH_RETRIES {
                let delay = crate::retry::backoff(broken, std::time::Duration::from_secs(1), std::time::Duration::from_secs(8));
                broken += 1;
                log.warn(format!("Push to {url} broke off ({}); trying again on a new connection in {} ms ({broken} of {BROKEN_PUSH_RETRIES})", e.message(), delay.as_millis()));
                std::thread::sleep(delay);
                continue;
            }
            return Err(transport::network_error(&e, &session, "push to", &url, &self.config));
        };
        let bytes = *session.bytes_sent.borrow();
        let rejections = session.rejections.borrow().clone();
        if !rejections.is_empty() {
            return self.refused(commit, &rejections, &session.remote_text(), bytes);
        }
        Ok(self.pushed(commit, &commit.map(|c| (remote_branch, c)).into_iter().collect::<Vec<_>>(), bytes, log))
    }

    /// The update a push in one request makes, `(remote ref, new value, value listed (zero:
    /// none), the commit the new ones build on that the server holds)`: the branch's to `commit`,
    /// or one ref's (a custody record) to a commit the remote lists, fast-forward unless forced;
    /// None when it is neither or that is not known.
    fn one_request_update(&self, commit: Option<Oid>, extra: &[String], remote_branch: &str) -> Option<(String, Oid, Oid, Option<Oid>)> {
        let listed = |name: &str| self.remote_refs.iter().find(|(n, _)| n == name).map(|(_, oid)| *oid);
        let remote_holds = |oid: &Oid| self.remote_refs.iter().any(|(_, o)| o == oid);
        match (commit, extra) {
            (Some(commit), []) => {
                let (old, have) = match listed(remote_branch) {
                    Some(old) => (old, Some(old)),
                    None if self.remote_refs.is_empty() => (Oid::ZERO_SHA1, None),
                    // A new branch: from the tip it started at, when the remote lists it.
                    None => (Oid::ZERO_SHA1, Some(self.tip.filter(remote_holds)?)),
                };
                Some((remote_branch.to_string(), commit, old, have))
            }
            (None, [spec]) => {
                let (force, spec) = spec.strip_prefix('+').map_or((false, spec.as_str()), |s| (true, s));
                let (src, dst) = spec.split_once(':')?;
                let new = self.repo.refname_to_id(src).ok().filter(remote_holds)?;
                let old = listed(dst).unwrap_or(Oid::ZERO_SHA1);
                let fast_forward = old.is_zero() || old == new || self.repo.graph_descendant_of(new, old).unwrap_or(false);
                (force || fast_forward).then(|| (dst.to_string(), new, old, Some(new)))
            }
            _ => None,
        }
    }

    /// After a push the server took: the branch's tip here, and each updated ref as last listed.
    fn pushed(&mut self, commit: Option<Oid>, updated: &[(String, Oid)], bytes: u64, log: &mut Log) -> PushOutcome {
        log.info(format!("Pushed {bytes} bytes"));
        self.tip = commit.or(self.tip);
        for (name, oid) in updated {
            match self.remote_refs.iter_mut().find(|(n, _)| n == name) {
                Some(listed) => listed.1 = *oid,
                None => self.remote_refs.push((name.clone(), *oid)),
            }
        }
        PushOutcome::Pushed { bytes }
    }

    /// The refs the server refused (`(ref, reason)`, in its order): a lost race to fetch and plan
    /// again, else an error naming the first and what the server said.
    fn refused(&mut self, commit: Option<Oid>, rejections: &[(String, String)], said: &str, bytes: u64) -> Result<PushOutcome, CoreError> {
        let (refname, msg) = &rejections[0];
        if is_lost_race(msg) {
            return Ok(PushOutcome::BranchMoved { bytes });
        }
        let url = self.display_url();
        let target = self.push_branch().to_string();
        let said = if said.is_empty() { String::new() } else { format!(" (the server said: {said})") };
        // Refs are updated one by one: only the tag may have been refused.
        let remote_branch = format!("refs/heads/{target}");
        let landed = commit.filter(|_| !rejections.iter().any(|(r, _)| *r == remote_branch));
        let landed_note = landed.map(|c| format!("; branch `{target}` was pushed ({c})")).unwrap_or_default();
        self.tip = landed.or(self.tip);
        let protection = if refname.starts_with("refs/tags/") { "tag" } else { "branch" };
        Err(CoreError::new(
            ErrorCode::PushRejected,
            format!("the remote rejected the push of {refname} to {url}: {msg}{said}{landed_note}; check {protection} protection and the token's rights"),
        ))
    }

    /// Fetches the branch again after a lost race; the next `files_under` and `commit` use the
    /// new tip.
    pub fn refresh(&mut self, log: &mut Log) -> Result<(), CoreError> {
        self.sync(log).map(|_| ())
    }

    /// Lists the remote's branches and fetches the tip to build on: our branch when it exists
    /// (returns true), else the remote's default branch (plugin-git starts a missing branch from
    /// it), else nothing (empty remote). One connection for both: the fetch negotiates on the
    /// listing it connected with, with no second handshake nor second ref advertisement.
    fn sync(&mut self, log: &mut Log) -> Result<bool, CoreError> {
        let started = Instant::now();
        let session = Session::new(self.trust.clone());
        let mut remote = self.repo.remote_anonymous(&self.config.url).map_err(|e| git_error("invalid `git.url`", &e))?;
        let mut conn = connect(&mut remote, &self.config, &session, log)?;
        // Kept whole: the tags decide what `git.tag` does (`remote_tag`).
        self.remote_refs = advertised(&conn, &self.config, &session)?;
        self.times.list_refs += started.elapsed();
        let heads: Vec<String> = self.remote_refs.iter().map(|(name, _)| name.clone()).filter(|name| name.starts_with("refs/heads/")).collect();
        let wanted = format!("refs/heads/{}", self.config.branch);
        let exists = heads.contains(&wanted);
        let start = if exists { Some(wanted.as_str()) } else { heads.first().map(String::as_str) };
        let Some(start) = start else {
            self.tip = None;
            self.record = None;
            return Ok(false);
        };
        let branch = start.trim_start_matches("refs/heads/");
        let depth = shallow_depth(&self.config.url);
        // The custody record comes in the same fetch: usually it names the tip, so it costs nothing.
        let record = record::remote_ref(&self.config.branch);
        let listed = self.remote_refs.iter().any(|(name, _)| *name == record);
        let wanted: Vec<&str> = std::iter::once(start).chain(listed.then_some(record.as_str())).collect();
        let started = Instant::now();
        let fetched = match self.already_here(&wanted, depth)? {
            Some(oids) => {
                log.debug("The remote's tip is already in the local repository; nothing to fetch");
                oids
            }
            None => fetch_into(&self.repo, conn.remote(), &self.config, &self.remote, &session, &wanted, depth, log)?,
        };
        self.bytes_fetched.set(self.bytes_fetched.get() + *session.bytes_received.borrow());
        self.times.fetch_pack += started.elapsed();
        self.fetched_depth = self.fetched_depth.max(depth.unwrap_or(i32::MAX));
        let tip = fetched[0];
        self.record = fetched.get(1).copied();
        self.tip = Some(tip);
        log.debug(format!("Tip of {branch} is {tip}"));
        Ok(exists)
    }

    /// When every ref of `wanted` names an object the local repository already holds (a kept or
    /// cached repository that fetched or pushed it before), points the tracking refs at them as a
    /// fetch would and returns them: a fetch would only have negotiated to get nothing. Shallow
    /// fetches only: a whole-history fetch (a local path) also brings history that may be missing.
    fn already_here(&self, wanted: &[&str], depth: Option<i32>) -> Result<Option<Vec<Oid>>, CoreError> {
        if depth.is_none() {
            return Ok(None);
        }
        let advertised: Option<Vec<Oid>> = wanted.iter().map(|w| self.remote_refs.iter().find(|(name, _)| name == w).map(|(_, oid)| *oid)).collect();
        let Some(oids) = advertised.filter(|oids| oids.iter().all(|oid| self.has(*oid))) else {
            return Ok(None);
        };
        for (remote_ref, oid) in wanted.iter().zip(&oids) {
            self.repo
                .reference(&tracking_ref(&self.remote, remote_ref), *oid, true, "kestra-git-backup: already here")
                .map_err(|e| git_error("cannot update a tracking ref", &e))?;
        }
        Ok(Some(oids))
    }

    /// Fetches one remote ref (`refs/heads/x`, `refs/tags/y`), `depth` commits deep (None: whole
    /// history), into this remote's tracking namespace, on a connection of its own; returns the
    /// object it names.
    fn fetch_ref(&self, remote_ref: &str, depth: Option<i32>, log: &mut Log) -> Result<Oid, CoreError> {
        Ok(self.fetch_refs(&[remote_ref], depth, log)?[0])
    }

    /// `fetch_ref` for several refs in one fetch; the objects they name, in the same order.
    fn fetch_refs(&self, remote_refs: &[&str], depth: Option<i32>, log: &mut Log) -> Result<Vec<Oid>, CoreError> {
        let session = Session::new(self.trust.clone());
        let mut remote = self.repo.remote_anonymous(&self.config.url).map_err(|e| git_error("invalid `git.url`", &e))?;
        let oids = fetch_into(&self.repo, &mut remote, &self.config, &self.remote, &session, remote_refs, depth, log)?;
        self.bytes_fetched.set(self.bytes_fetched.get() + *session.bytes_received.borrow());
        Ok(oids)
    }

    /// Web URL of a commit (plugin-git rules, `plugin-git-compat.md` §11).
    pub fn commit_url(&self, commit: Oid) -> String {
        commit_url(&self.config.url, self.push_branch(), &commit.to_string())
    }

    /// The remote URL without any credentials, for logs.
    pub fn display_url(&self) -> String {
        display_url(&self.config.url)
    }

    /// Writes `commit` into `dir` as a Git bundle (v2): the objects its parent lacks, the parent as
    /// prerequisite and the commit as `refs/heads/<branch>`, so `git pull <bundle> <branch>` in any
    /// clone of the branch brings it in. Returns the file's path.
    pub fn write_bundle(&self, commit: Oid, dir: &Path) -> Result<PathBuf, CoreError> {
        let failed = |e: git2::Error| git_error("cannot pack the commit to save", &e);
        let object = self.repo.find_commit(commit).map_err(failed)?;
        let mut walk = self.repo.revwalk().map_err(failed)?;
        walk.push(commit).map_err(failed)?;
        let mut header = String::from("# v2 git bundle\n");
        for parent in object.parent_ids() {
            walk.hide(parent).map_err(failed)?;
            header.push_str(&format!("-{parent}\n"));
        }
        header.push_str(&format!("{commit} refs/heads/{}\n\n", self.config.branch));
        let path = dir.join(format!("kestra-backup-{}.bundle", &commit.to_string()[..12]));
        let io_failed = |e: std::io::Error| CoreError::new(ErrorCode::Io, format!("cannot write the bundle {}: {e}", path.display()));
        std::fs::create_dir_all(dir).map_err(io_failed)?;
        let mut file = std::io::BufWriter::new(std::fs::File::create(&path).map_err(io_failed)?);
        std::io::Write::write_all(&mut file, header.as_bytes()).map_err(io_failed)?;
        // The pack goes to the file chunk by chunk as libgit2 produces it, never whole in memory.
        let mut builder = self.repo.packbuilder().map_err(failed)?;
        // One thread: each extra delta-search thread holds its own window and heap arena.
        builder.set_threads(1);
        builder.insert_walk(&mut walk).map_err(failed)?;
        let mut written = Ok(());
        let packed = builder.foreach(|chunk| {
            written = std::io::Write::write_all(&mut file, chunk);
            written.is_ok()
        });
        written.map_err(io_failed)?;
        packed.map_err(failed)?;
        std::io::Write::flush(&mut file).map_err(io_failed)?;
        Ok(path)
    }

    /// Every ref the remote advertises (branches with its default branch first, tags, peeled
    /// tags as `refs/tags/x^{}`), on a connection of its own.
    fn list_remote_refs(&self, log: &mut Log) -> Result<Vec<(String, Oid)>, CoreError> {
        let session = Session::new(self.trust.clone());
        let mut remote = self.repo.remote_anonymous(&self.config.url).map_err(|e| git_error("invalid `git.url`", &e))?;
        let conn = connect(&mut remote, &self.config, &session, log)?;
        advertised(&conn, &self.config, &session)
    }
}

/// Connects for a fetch (the first connection of every sync, so it also logs the SSH host key).
fn connect<'r, 'c, 'cb>(remote: &'c mut git2::Remote<'r>, config: &'cb GitConfig, session: &'cb Session, log: &mut Log) -> Result<transport::Connection<'r, 'c, 'cb>, CoreError> {
    let url = display_url(&config.url);
    let conn = transport::Connection::open(remote, config, session).map_err(|e| transport::network_error(&e, session, "connect to", &url, config))?;
    if let Some(fp) = session.host_key() {
        log_host_key(config, &fp, log);
    }
    Ok(conn)
}

/// The refs a connection advertised, the remote's default branch (HEAD's target) first, so a
/// missing branch starts from it.
fn advertised(conn: &transport::Connection, config: &GitConfig, session: &Session) -> Result<Vec<(String, Oid)>, CoreError> {
    conn.advertised().map_err(|e| transport::network_error(&e, session, "list", &display_url(&config.url), config))
}

/// Fetches `remote_ref` into the tracking namespace of `remote_name` (reusing `remote`'s
/// connection when it has one); returns the object it names.
#[allow(clippy::too_many_arguments)]
fn fetch_into(
    repo: &Repository,
    remote: &mut git2::Remote,
    config: &GitConfig,
    remote_name: &str,
    session: &Session,
    remote_refs: &[&str],
    depth: Option<i32>,
    log: &mut Log,
) -> Result<Vec<Oid>, CoreError> {
    let tracking: Vec<String> = remote_refs.iter().map(|r| tracking_ref(remote_name, r)).collect();
    let refspecs: Vec<String> = remote_refs.iter().zip(&tracking).map(|(r, t)| format!("+{r}:{t}")).collect();
    let refspecs: Vec<&str> = refspecs.iter().map(String::as_str).collect();
    {
        let ticker = Ticker::new(log);
        let mut options = transport::fetch_options(config, session, &ticker, depth);
        remote
            .fetch(&refspecs, Some(&mut options), None)
            .map_err(|e| transport::network_error(&e, session, "fetch from", &display_url(&config.url), config))?;
    }
    tracking.iter().map(|t| repo.refname_to_id(t).map_err(|e| git_error("the fetched ref is missing", &e))).collect()
}

/// Where a fetch of `remote_ref` from `remote_name` lands locally.
fn tracking_ref(remote_name: &str, remote_ref: &str) -> String {
    format!("refs/remotes/{remote_name}/{}", remote_ref.trim_start_matches("refs/heads/"))
}

fn log_host_key(config: &GitConfig, fingerprint: &str, log: &mut Log) {
    if config.host_key_fingerprint.is_some() {
        log.info(format!("SSH host key {fingerprint} matches `git.hostKeyFingerprint`"));
    } else {
        log.warn(format!("SSH host key {fingerprint} accepted without check; pin it with `git.hostKeyFingerprint`"));
    }
}

impl TipTree for Workspace {
    fn files_under(&self, dir: &str) -> Result<Vec<TipFile>, CoreError> {
        match self.tip {
            Some(tip) => self.at(tip).files_under(dir),
            None => Ok(Vec::new()),
        }
    }

    fn read_blob(&self, oid: Oid) -> Result<Vec<u8>, CoreError> {
        blob_bytes(&self.repo, oid)
    }
}

impl Workspace {
    /// The files of `commit` (a backup of the branch's history, see `history`).
    pub fn at(&self, commit: Oid) -> CommitTree<'_> {
        CommitTree { repo: &self.repo, commit }
    }
}

/// Read access to the tree of one commit of the local repository.
pub struct CommitTree<'a> {
    repo: &'a Repository,
    commit: Oid,
}

impl CommitTree<'_> {
    /// The blob at `path` in this commit; None when the commit holds no file there.
    pub fn blob_at(&self, path: &str) -> Result<Option<Oid>, CoreError> {
        let root = self.repo.find_commit(self.commit).and_then(|c| c.tree()).map_err(|e| git_error("cannot read the commit's tree", &e))?;
        Ok(root.get_path(Path::new(path)).ok().filter(|entry| entry.kind() == Some(git2::ObjectType::Blob)).map(|entry| entry.id()))
    }
}

impl TipTree for CommitTree<'_> {
    fn files_under(&self, dir: &str) -> Result<Vec<TipFile>, CoreError> {
        let root = self.repo.find_commit(self.commit).and_then(|c| c.tree()).map_err(|e| git_error("cannot read the commit's tree", &e))?;
        let tree = if dir.is_empty() {
            root
        } else {
            match root.get_path(std::path::Path::new(dir)) {
                Ok(entry) if entry.kind() == Some(git2::ObjectType::Tree) => {
                    self.repo.find_tree(entry.id()).map_err(|e| git_error("cannot read a tree", &e))?
                }
                _ => return Ok(Vec::new()),
            }
        };
        let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
        let mut files = Vec::new();
        tree.walk(git2::TreeWalkMode::PreOrder, |parent, entry| {
            if dir.is_empty() && parent.is_empty() && entry.name() == Ok(crate::snapshot::manifest::DIR) {
                return git2::TreeWalkResult::Skip;
            }
            if entry.kind() != Some(git2::ObjectType::Tree)
                && let Ok(name) = entry.name()
            {
                files.push(TipFile { path: format!("{prefix}{parent}{name}"), oid: entry.id(), mode: entry.filemode() });
            }
            git2::TreeWalkResult::Ok
        })
        .map_err(|e| git_error("cannot walk the tip tree", &e))?;
        Ok(files)
    }

    fn read_blob(&self, oid: Oid) -> Result<Vec<u8>, CoreError> {
        blob_bytes(self.repo, oid)
    }
}

fn blob_bytes(repo: &Repository, oid: Oid) -> Result<Vec<u8>, CoreError> {
    repo.find_blob(oid).map(|b| b.content().to_vec()).map_err(|e| git_error("cannot read a blob", &e))
}

/// Where the local repository lives for one run.
enum LocalDir {
    /// A directory of its own, removed at the end (a run with mirrors).
    Temp { _dir: tempfile::TempDir },
    /// The repository the process keeps for the remote URL, given back at the end (`scratch`).
    Kept { _borrowed: scratch::Borrowed },
    /// The cache directory, locked: runs sharing it take turns, since two fetches into one
    /// repository, or a rebuild under another run, would break each other's tips.
    Cache { _lock: std::fs::File },
}

/// The cache repository (reused; rebuilt once if it cannot be opened), else the process's kept
/// repository of the remote, else (with mirrors: several remotes) a fresh temp one.
fn open_local(config: &GitConfig, log: &mut Log) -> Result<(Repository, LocalDir), CoreError> {
    let Some(dir) = config.cache_dir.as_ref() else {
        if config.mirrors.is_empty() {
            let (repo, borrowed) = scratch::borrow(&config.url)?;
            return Ok((repo, LocalDir::Kept { _borrowed: borrowed }));
        }
        let temp = tempfile::Builder::new().prefix("kestra-git-backup-").tempdir()?;
        let repo = init_bare(temp.path()).map_err(|e| git_error("cannot create a work repository", &e))?;
        return Ok((repo, LocalDir::Temp { _dir: temp }));
    };
    std::fs::create_dir_all(dir).map_err(|e| CoreError::invalid("git.cacheDir", format!("cannot create `{}`: {e}", dir.display())))?;
    let lock = lock_dir(dir, log)?;
    let repo = match open_bare(dir) {
        Ok(repo) => repo,
        Err(_) if std::fs::read_dir(dir)?.next().is_none() => init_bare(dir).map_err(|e| git_error("cannot create the cache repository", &e))?,
        Err(e) => {
            log.warn(format!("cache `{}` is not a usable repository ({}); rebuilding it once", dir.display(), e.message()));
            // Emptied, not removed: the lock is on the directory itself.
            for entry in std::fs::read_dir(dir)? {
                let path = entry?.path();
                if path.is_dir() { std::fs::remove_dir_all(&path)? } else { std::fs::remove_file(&path)? }
            }
            init_bare(dir).map_err(|e| git_error("cannot rebuild the cache repository", &e))?
        }
    };
    Ok((repo, LocalDir::Cache { _lock: lock }))
}

/// Opens an existing bare repository with its shallow boundary loaded: `Repository::open_bare`
/// skips it, and libgit2's walks (push, bundle) would then follow a fetched tip's parents, which
/// a shallow fetch left out, once local commits are built on it (a kept or cached repository).
fn open_bare(path: &Path) -> Result<Repository, git2::Error> {
    Repository::open_ext(path, git2::RepositoryOpenFlags::NO_SEARCH | git2::RepositoryOpenFlags::BARE, std::iter::empty::<&std::ffi::OsStr>())
}

/// A bare repository without the system's template files (sample hooks and the like, which
/// libgit2 never runs): fewer files to write and to remove.
fn init_bare(path: &Path) -> Result<Repository, git2::Error> {
    Repository::init_opts(path, git2::RepositoryInitOptions::new().bare(true).external_template(false))
}

/// An exclusive advisory lock on `dir`, held until the returned handle is dropped; waits (saying
/// so) while another run holds it.
fn lock_dir(dir: &std::path::Path, log: &mut Log) -> Result<std::fs::File, CoreError> {
    let handle = std::fs::File::open(dir)?;
    match handle.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            log.info(format!("Cache `{}` is in use by another run; waiting for it", dir.display()));
            handle.lock()?;
        }
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(CoreError::invalid("git.cacheDir", format!("cannot lock `{}`: {e}", dir.display())));
        }
    }
    Ok(handle)
}

/// plugin-git `gitConfig`: `section.key` (or `section.sub.key`) values into the local repository.
fn apply_git_config(repo: &Repository, config: &GitConfig, log: &mut Log) -> Result<(), CoreError> {
    if config.config.is_empty() {
        return Ok(());
    }
    let mut cfg = repo.config().and_then(|c| c.open_level(git2::ConfigLevel::Local)).map_err(|e| git_error("cannot open the repository config", &e))?;
    for (key, value) in &config.config {
        if !key.contains('.') {
            log.warn(format!("gitConfig key `{key}` has no section (expected `section.key`); skipped"));
            continue;
        }
        let set = match value {
            serde_json::Value::Null => cfg.remove(key).or(Ok(())),
            serde_json::Value::Bool(b) => cfg.set_bool(key, *b),
            serde_json::Value::Number(n) if n.as_i64().is_some_and(|v| i32::try_from(v).is_ok()) => cfg.set_i32(key, n.as_i64().unwrap_or(0) as i32),
            serde_json::Value::String(s) if s.trim().is_empty() => cfg.remove(key).or(Ok(())),
            serde_json::Value::String(s) => cfg.set_str(key, s.trim()),
            serde_json::Value::Array(items) => {
                let _ = cfg.remove_multivar(key, ".*");
                items.iter().try_for_each(|v| cfg.set_multivar(key, "^$", &json_text(v)))
            }
            other => cfg.set_str(key, &json_text(other)),
        };
        set.map_err(|e| CoreError::invalid("git.config", format!("cannot set `{key}`: {}", e.message())))?;
    }
    Ok(())
}

fn json_text(v: &serde_json::Value) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())
}

/// libgit2's local transport cannot fetch shallow; every network transport can.
fn shallow_depth(url: &str) -> Option<i32> {
    let local = url.starts_with("file://") || url.starts_with('/') || url.starts_with('.') || std::path::Path::new(url).exists();
    (!local).then_some(1)
}

/// Messages with which servers and libgit2 report that the branch moved under us.
fn is_lost_race(message: &str) -> bool {
    let m = message.to_lowercase();
    ["non-fast-forward", "fetch first", "failed to update ref", "cannot lock ref", "not present locally", "stale info", "non-fastforwardable"]
        .iter()
        .any(|s| m.contains(s))
}

fn file_mode(mode: i32) -> FileMode {
    match mode {
        0o100755 => FileMode::BlobExecutable,
        0o120000 => FileMode::Link,
        _ => FileMode::Blob,
    }
}

fn git_error(what: &str, e: &git2::Error) -> CoreError {
    CoreError::new(ErrorCode::Git, format!("{what}: {}", e.message()))
}
