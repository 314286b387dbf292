//! Author and committer (plugin-git §10.2): `authorName` (else `username`) with `authorEmail`
//! when both are known; otherwise Git's own fallback chain — `user.name`/`user.email` from the
//! repository, global and system config, then the OS user and `<user>@<hostname>`. Never fails
//! for lack of an identity (libgit2's default signature would).

use crate::request::GitConfig;
use git2::{Repository, Signature};

pub fn signature(repo: &Repository, config: &GitConfig) -> Result<Signature<'static>, git2::Error> {
    let name = config.author_name.clone().or_else(|| config.username.clone()).filter(|n| !n.trim().is_empty());
    let email = config.author_email.clone().filter(|e| !e.trim().is_empty());
    if let (Some(name), Some(email)) = (&name, &email) {
        return Signature::now(name, email);
    }
    let cfg = repo.config().ok();
    let from_config = |key: &str| cfg.as_ref().and_then(|c| c.get_string(key).ok()).filter(|v| !v.trim().is_empty());
    let user = os_user();
    let name = from_config("user.name").unwrap_or_else(|| user.clone());
    let email = from_config("user.email").unwrap_or_else(|| format!("{user}@{}", hostname()));
    Signature::now(&name, &email)
}

fn os_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "kestra".to_string())
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}
