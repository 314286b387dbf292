//! Path safety: every repository path the snapshot writes is relative, `/`-separated, and free of
//! `..`, `.git`, NUL, backslashes and empty components. Anything else is refused, naming the item.

use crate::error::{CoreError, ErrorCode};

/// Checks one repository path; `what` names the exported item in the error.
pub fn check(path: &str, what: &str) -> Result<(), CoreError> {
    match problem(path) {
        None => Ok(()),
        Some(p) => Err(CoreError::new(
            ErrorCode::UnsafePath,
            format!("{what} maps to the repository path `{}`, which {p}; rename it in Kestra", path.escape_debug()),
        )),
    }
}

/// Normalises a configured directory: trims `/`, maps `.` to the root (`""`), and checks it.
pub fn normalise_dir(dir: &str, field: &str) -> Result<String, CoreError> {
    let trimmed = dir.trim().trim_matches('/');
    let trimmed = trimmed.strip_prefix("./").unwrap_or(trimmed);
    if trimmed.is_empty() || trimmed == "." {
        return Ok(String::new());
    }
    match problem(trimmed) {
        None => Ok(trimmed.to_string()),
        Some(p) => Err(CoreError::invalid(
            field,
            format!("`{}` {p}; use a directory inside the repository, e.g. `flows/ansible`", crate::error::shown(&trimmed.escape_debug().to_string())),
        )),
    }
}

/// What makes a repository path unsafe, if anything.
fn problem(path: &str) -> Option<&'static str> {
    if path.is_empty() {
        Some("is empty")
    } else if path.starts_with('/') {
        Some("is absolute")
    } else if path.contains('\0') {
        Some("contains a NUL byte")
    } else if path.contains('\\') {
        Some("contains a backslash")
    } else {
        path.split('/').find_map(|part| match part {
            "" => Some("has an empty path component"),
            "." | ".." => Some("has a `.` or `..` component"),
            p if p.eq_ignore_ascii_case(".git") => Some("has a `.git` component"),
            _ => None,
        })
    }
}

/// `dir/rest`, or `rest` when `dir` is the root.
pub fn join(dir: &str, rest: &str) -> String {
    if dir.is_empty() { rest.to_string() } else { format!("{dir}/{rest}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unsafe_paths() {
        for bad in ["", "/etc/passwd", "a/../b", "..", "a/.git/config", ".GIT/x", "a//b", "a\\b", "a/\0b", "./a"] {
            let err = check(bad, "flow `x`").unwrap_err();
            assert_eq!(err.code, ErrorCode::UnsafePath, "{bad:?}");
            assert!(err.message.contains("flow `x`"));
        }
    }

    #[test]
    fn accepts_ordinary_paths() {
        for ok in ["flows/a.yml", "scripts/ansible/lib/ü ñ.py", ".kestraignore", "a/.gitignore", "a/..b"] {
            check(ok, "x").unwrap();
        }
    }

    #[test]
    fn normalises_directories() {
        assert_eq!(normalise_dir("/flows/ansible/", "gitDirectory").unwrap(), "flows/ansible");
        assert_eq!(normalise_dir(".", "gitDirectory").unwrap(), "");
        assert_eq!(normalise_dir("./x", "gitDirectory").unwrap(), "x");
        let err = normalise_dir("a/../..", "gitDirectory").unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidConfig);
        assert_eq!(err.message, "`gitDirectory`: `a/../..` has a `.` or `..` component; use a directory inside the repository, e.g. `flows/ansible`");
    }
}
