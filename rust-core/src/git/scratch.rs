//! Scratch repositories kept for the process (a worker JVM runs many tasks): without `git.cacheDir`
//! a run borrows the local repository of its remote URL and gives it back at the end, so the next
//! run to that URL skips creating and removing a repository, and finds the tip it pushed (or
//! fetched) already there instead of fetching it again.
//!
//! What stays between runs is only what came from that one remote or was built for it: its
//! objects, the remote-tracking refs (`refs/remotes/origin/*`) and the shallow boundary. Before each
//! run every other ref (local branches, tags, anything a run wrote) is removed and the repository
//! config is written back as it was created (`git.config` is one run's own). Credentials never
//! reach the repository (transport). Runs with mirrors talk to several remotes, so they get a
//! repository of their own, removed at the end, as do runs beyond `MAX_USES`.

use crate::error::CoreError;
use git2::Repository;
use once_cell::sync::Lazy;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use tempfile::TempDir;

/// Idle repositories kept at most (the oldest is removed first).
const MAX_IDLE: usize = 8;
/// Runs one repository serves before it is removed: each fetch adds a pack, and libgit2 searches
/// every pack for every object.
const MAX_USES: u32 = 100;
/// A kept repository of an ended process untouched for this long is removed (`sweep_dead_processes`).
const STALE_AFTER: std::time::Duration = std::time::Duration::from_secs(3600);
/// The name of a kept repository's directory: the prefix, the process id, a random tail.
const PREFIX: &str = "kestra-git-backup-kept-";

/// A repository of one remote URL, idle in the pool.
struct Idle {
    url: String,
    dir: TempDir,
    uses: u32,
    /// The config file as created, written back before every run.
    config: Vec<u8>,
}

static POOL: Lazy<Mutex<Vec<Idle>>> = Lazy::new(|| {
    // On a thread of its own: removing a stale repository of a large backup (tens of thousands of
    // loose objects) took 18 s, which the first run of a worker would otherwise wait for.
    let temp = std::env::temp_dir();
    let _ = std::thread::Builder::new().name("kestra-git-backup-sweep".into()).spawn(move || sweep_dead_processes(&temp));
    Mutex::new(Vec::new())
});

/// A repository borrowed for one run: given back to the pool when dropped.
pub struct Borrowed {
    idle: Option<Idle>,
}

impl Drop for Borrowed {
    fn drop(&mut self) {
        let Some(idle) = self.idle.take() else { return };
        if idle.uses >= MAX_USES {
            return;
        }
        let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
        pool.push(idle);
        if pool.len() > MAX_IDLE {
            // Removed outside the lock.
            let oldest = pool.remove(0);
            drop(pool);
            drop(oldest);
        }
    }
}

/// Removes the idle kept repositories: for a process that ends after its runs (the CLI), which
/// could not give them to a later run anyway.
pub fn remove_idle() {
    let idle = std::mem::take(&mut *POOL.lock().unwrap_or_else(|p| p.into_inner()));
    drop(idle);
}

/// The repository kept for `url` (reset for this run), or a new one.
pub fn borrow(url: &str) -> Result<(Repository, Borrowed), CoreError> {
    let kept = {
        let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
        pool.iter().rposition(|idle| idle.url == url).map(|i| pool.remove(i))
    };
    if let Some(mut idle) = kept {
        // A repository that cannot be reset is dropped (removed) and replaced by a new one.
        if let Ok(repo) = reset(&idle) {
            // Marks it in use for `sweep_dead_processes` of other processes.
            let _ = std::fs::File::open(idle.dir.path()).and_then(|dir| dir.set_modified(std::time::SystemTime::now()));
            idle.uses += 1;
            return Ok((repo, Borrowed { idle: Some(idle) }));
        }
    }
    let dir = tempfile::Builder::new().prefix(&format!("{PREFIX}{}-", std::process::id())).tempdir()?;
    let repo = super::init_bare(dir.path()).map_err(|e| super::git_error("cannot create a work repository", &e))?;
    let config = std::fs::read(dir.path().join("config"))?;
    Ok((repo, Borrowed { idle: Some(Idle { url: url.to_string(), dir, uses: 1, config }) }))
}

/// Opens a kept repository with only the previous runs' remote-tracking refs left and its config
/// as created.
fn reset(idle: &Idle) -> Result<Repository, CoreError> {
    let path = idle.dir.path();
    if std::fs::read(path.join("config"))? != idle.config {
        std::fs::write(path.join("config"), &idle.config)?;
    }
    let repo = super::open_bare(path).map_err(|e| super::git_error("cannot open a kept work repository", &e))?;
    let failed = |e: git2::Error| super::git_error("cannot reset a kept work repository", &e);
    let names: Vec<String> = repo.references().map_err(failed)?.names().filter_map(|n| n.ok().map(str::to_string)).collect();
    for name in names.iter().filter(|n| !n.starts_with("refs/remotes/origin/")) {
        repo.find_reference(name).and_then(|mut r| r.delete()).map_err(failed)?;
    }
    Ok(repo)
}

/// Removes the kept repositories of processes that have ended (a worker that stopped cannot give
/// its repositories back). Linux: a process is alive while `/proc/<pid>` exists; a repository
/// used in the last hour is left alone all the same (a process of another PID namespace sharing
/// the temp directory is not in our `/proc`).
fn sweep_dead_processes(temp: &Path) {
    let recent = |path: &Path| path.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().is_ok_and(|age| age < STALE_AFTER));
    if !Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(temp) else { return };
    let own = std::process::id().to_string();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name.to_str().and_then(|n| n.strip_prefix(PREFIX)).and_then(|rest| rest.split('-').next()) else { continue };
        if pid.chars().all(|c| c.is_ascii_digit()) && pid != own && !PathBuf::from("/proc").join(pid).exists() && !recent(&entry.path()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kept_repository_keeps_only_its_remote_tracking_refs_and_objects_and_no_other_url_gets_it() {
        let (url, other_url) = ("https://kept.example/a.git", "https://kept.example/b.git");
        let (repo, borrowed) = borrow(url).unwrap();
        let path = repo.path().to_path_buf();
        let blob = repo.blob(b"fetched from a").unwrap();
        let commit = {
            let tree = repo.treebuilder(None).unwrap().write().unwrap();
            let me = git2::Signature::now("t", "t@t").unwrap();
            repo.commit(None, &me, &me, "m", &repo.find_tree(tree).unwrap(), &[]).unwrap()
        };
        for name in ["refs/remotes/origin/main", "refs/heads/main", "refs/tags/v1", "refs/kestra-backup/mirror-0/main", "refs/remotes/mirror-0/main"] {
            repo.reference(name, commit, true, "test").unwrap();
        }
        repo.config().unwrap().set_str("user.name", "one run's own").unwrap();
        drop((repo, borrowed));

        let (again, borrowed) = borrow(url).unwrap();
        assert_eq!(again.path(), path, "the same repository, kept");
        let refs: Vec<String> = again.references().unwrap().names().map(|n| n.unwrap().to_string()).collect();
        assert_eq!(refs, ["refs/remotes/origin/main"]);
        assert!(again.config().unwrap().open_level(git2::ConfigLevel::Local).unwrap().get_string("user.name").is_err(), "config as created");
        assert!(again.odb().unwrap().exists(blob), "the remote's objects stay");

        // Taken while the first is out: each run has a repository of its own.
        let (second, second_borrowed) = borrow(url).unwrap();
        assert_ne!(second.path(), path);
        let (other, other_borrowed) = borrow(other_url).unwrap();
        assert_ne!(other.path(), path);
        assert!(!other.odb().unwrap().exists(blob), "another URL never sees this remote's objects");
        drop((again, borrowed, second, second_borrowed, other, other_borrowed));
    }

    #[test]
    fn sweep_removes_repositories_of_ended_processes_unused_for_an_hour_only() {
        let temp = tempfile::tempdir().unwrap();
        let own = temp.path().join(format!("{PREFIX}{}-abc", std::process::id()));
        // Above Linux's largest pid (4194304): never a live process.
        let dead = temp.path().join(format!("{PREFIX}99999999-abc"));
        let dead_recent = temp.path().join(format!("{PREFIX}99999999-def"));
        let other = temp.path().join("kestra-git-backup-abc");
        for dir in [&own, &dead, &dead_recent, &other] {
            std::fs::create_dir(dir).unwrap();
        }
        let old = std::time::SystemTime::now() - STALE_AFTER * 2;
        for dir in [&own, &dead, &other] {
            std::fs::File::open(dir).unwrap().set_modified(old).unwrap();
        }
        sweep_dead_processes(temp.path());
        assert!(own.exists() && other.exists() && dead_recent.exists());
        assert!(!dead.exists());
    }
}
