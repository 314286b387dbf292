//! Web URLs for logs and outputs: the remote without credentials, and a commit's page following
//! plugin-git's rules bit for bit (`plugin-git-compat.md` §11).

/// The remote URL with any `user:password@` part removed.
pub fn display_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_once('/').map_or((rest, ""), |(a, p)| (a, p));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            if path.is_empty() && !rest.contains('/') { format!("{scheme}://{host}") } else { format!("{scheme}://{host}/{path}") }
        }
        None => url.to_string(),
    }
}

/// `<repository web URL>/commit/<sha>` (`/commits/` on Bitbucket, `?refName=` on Azure).
pub fn commit_url(url: &str, branch: &str, sha: &str) -> String {
    let mut base = if let Some((host, path)) = scp_like(url) {
        let host = host.strip_prefix("ssh.").unwrap_or(host);
        let path = strip_version_segment(path);
        let path = if host.contains("azure.com") { azure_git_path(path) } else { path.to_string() };
        format!("https://{host}/{path}")
    } else if url.contains('@') {
        display_url(url)
    } else {
        url.to_string()
    };
    if let Some(stripped) = base.strip_suffix(".git") {
        base = stripped.to_string();
    }
    let mut out = if base.contains("bitbucket.org") { format!("{base}/commits/{sha}") } else { format!("{base}/commit/{sha}") };
    if out.contains("azure.com") {
        out.push_str(&format!("?refName=refs%2Fheads%2F{branch}"));
    }
    out
}

/// `git@host:path` → (host, path); None for URLs with a scheme.
fn scp_like(url: &str) -> Option<(&str, &str)> {
    if url.contains("://") {
        return None;
    }
    let (user_host, path) = url.split_once(':')?;
    let host = user_host.rsplit_once('@').map_or(user_host, |(_, h)| h);
    Some((host, path.trim_start_matches('/')))
}

/// Azure SSH paths carry a `vN/` API version first.
fn strip_version_segment(path: &str) -> &str {
    match path.split_once('/') {
        Some((first, rest)) if first.len() > 1 && first.starts_with('v') && first[1..].chars().all(|c| c.is_ascii_digit()) => rest,
        _ => path,
    }
}

/// Azure: `org/project/repo` → `org/project/_git/repo`.
fn azure_git_path(path: &str) -> String {
    match path.rsplit_once('/') {
        Some((head, repo)) => format!("{head}/_git/{repo}"),
        None => path.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_urls_follow_plugin_git() {
        let sha = "abc123";
        assert_eq!(commit_url("https://gitlab-01.local/me/kestra", "main", sha), "https://gitlab-01.local/me/kestra/commit/abc123");
        assert_eq!(commit_url("https://github.com/o/r.git", "main", sha), "https://github.com/o/r/commit/abc123");
        assert_eq!(commit_url("git@github.com:o/r.git", "main", sha), "https://github.com/o/r/commit/abc123");
        assert_eq!(commit_url("https://u:tok@gitlab.com/o/r.git", "main", sha), "https://gitlab.com/o/r/commit/abc123");
        assert_eq!(commit_url("https://bitbucket.org/o/r.git", "main", sha), "https://bitbucket.org/o/r/commits/abc123");
        assert_eq!(
            commit_url("git@ssh.dev.azure.com:v3/org/proj/repo", "dev", sha),
            "https://dev.azure.com/org/proj/_git/repo/commit/abc123?refName=refs%2Fheads%2Fdev"
        );
        assert_eq!(commit_url("ssh://git@host:2222/o/r.git", "main", sha), "ssh://host:2222/o/r/commit/abc123");
    }

    #[test]
    fn display_url_drops_credentials() {
        assert_eq!(display_url("https://user:s3cr3t@host/a/b.git"), "https://host/a/b.git");
        assert_eq!(display_url("https://host/a"), "https://host/a");
        assert_eq!(display_url("git@host:a/b.git"), "git@host:a/b.git");
    }
}
