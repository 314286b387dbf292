//! Runs `tests/support/git-server.sh` (HTTPS with basic auth and a CA made for the run, HTTP, SSH)
//! and exposes its URLs, credentials and key texts. Servers stop on drop.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct GitServer {
    pub dir: PathBuf,
    env: HashMap<String, String>,
    _temp: tempfile::TempDir,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/support/git-server.sh")
}

impl GitServer {
    pub fn start() -> GitServer {
        let temp = tempfile::Builder::new().prefix("git-server-").tempdir().unwrap();
        let dir = temp.path().join("srv");
        let out = Command::new("bash").arg(script()).arg("start").arg(&dir).output().unwrap();
        assert!(out.status.success(), "git server did not start: {}", String::from_utf8_lossy(&out.stderr));
        let env = std::fs::read_to_string(dir.join("server.env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_string(), v.to_string())))
            .collect();
        GitServer { dir, env, _temp: temp }
    }

    pub fn get(&self, key: &str) -> &str {
        &self.env[key]
    }

    /// Creates `<name>.git` (empty, default branch main) and returns its bare path.
    pub fn repo(&self, name: &str) -> PathBuf {
        let out = Command::new("bash").arg(script()).arg("repo").arg(&self.dir).arg(name).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        self.repo_path(name)
    }

    pub fn repo_path(&self, name: &str) -> PathBuf {
        PathBuf::from(self.get("REPOS")).join(format!("{name}.git"))
    }

    pub fn https_url(&self, name: &str) -> String {
        format!("https://127.0.0.1:{}/git/{name}.git", self.get("HTTPS_PORT"))
    }

    pub fn ssh_url(&self, name: &str) -> String {
        format!("ssh://{}@127.0.0.1:{}{}", self.get("SSH_USER"), self.get("SSH_PORT"), self.repo_path(name).display())
    }

    pub fn user(&self) -> &str {
        self.get("GIT_USER")
    }
    pub fn token(&self) -> &str {
        self.get("GIT_TOKEN")
    }
    pub fn ca_pem_path(&self) -> PathBuf {
        PathBuf::from(self.get("CA_PEM"))
    }
    pub fn key(&self, name: &str) -> String {
        std::fs::read_to_string(self.get(name)).unwrap()
    }

    /// `git <verify-commit|verify-tag> <rev>` in `repo` with SSH signatures (`gpg.format=ssh`),
    /// allowing only the public key of the client key `signer_key` for `bot@example.com`:
    /// (passed, what git said).
    pub fn verify_ssh_signature(&self, repo: &ServerRepo, command: &str, rev: &str, signer_key: &str) -> (bool, String) {
        let allowed = tempfile::NamedTempFile::new().unwrap();
        let public = std::fs::read_to_string(format!("{}.pub", self.get(signer_key))).unwrap();
        std::fs::write(allowed.path(), format!("bot@example.com {public}")).unwrap();
        let allowed = format!("gpg.ssh.allowedSignersFile={}", allowed.path().display());
        let out = Command::new("git").arg("-C").arg(&repo.0).args(["-c", "gpg.format=ssh", "-c", &allowed, command, rev]).output().unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stderr).to_string())
    }

    /// Requests the web server has logged so far.
    pub fn http_requests(&self) -> usize {
        std::fs::read_to_string(self.get("ACCESS_LOG")).map(|s| s.lines().count()).unwrap_or(0)
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = Command::new("bash").arg(script()).arg("stop").arg(&self.dir).status();
    }
}

/// Reads the bare repository on the server side with the git CLI (the assertion's ground truth).
pub struct ServerRepo(pub PathBuf);

impl ServerRepo {
    pub fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git").args(["-c", "core.quotepath=off", "-C"]).arg(&self.0).args(args).output().unwrap();
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    }
    pub fn commit_count(&self, branch: &str) -> usize {
        let out = Command::new("git").arg("-C").arg(&self.0).args(["rev-list", "--count", branch]).output().unwrap();
        if !out.status.success() {
            return 0;
        }
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    }
    pub fn files(&self, branch: &str) -> Vec<String> {
        self.git(&["ls-tree", "-r", "--name-only", branch]).lines().map(str::to_string).collect()
    }
    pub fn show(&self, branch: &str, path: &str) -> Vec<u8> {
        let out = Command::new("git").arg("-C").arg(&self.0).args(["show", &format!("{branch}:{path}")]).output().unwrap();
        assert!(out.status.success(), "no {path} on {branch}");
        out.stdout
    }
    /// Paths changed by the tip commit of `branch`.
    pub fn last_commit_paths(&self, branch: &str) -> Vec<String> {
        self.git(&["show", "--name-only", "--format=", branch]).lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
    }
}
