//! Selection globs, in plugin-git's two dialects (§8.2), and the glob rule that scopes deletions
//! (§8.6). Java `glob:` semantics: `*` and `?` stay inside one path component, `**` crosses them.

use crate::error::CoreError;
use globset::{Glob, GlobBuilder, GlobMatcher};
use regex::Regex;

enum Pattern {
    Glob(GlobMatcher),
    Regex(Regex),
}

impl Pattern {
    fn matches(&self, text: &str) -> bool {
        match self {
            Pattern::Glob(g) => g.is_match(text),
            Pattern::Regex(r) => r.is_match(text),
        }
    }
}

fn java_glob(pattern: &str, field: &str) -> Result<GlobMatcher, CoreError> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|g: Glob| g.compile_matcher())
        .map_err(|e| CoreError::invalid(field, format!("`{pattern}` is not a valid glob: {e}")))
}

fn full_regex(pattern: &str, field: &str) -> Result<Regex, CoreError> {
    // Java's PathMatcher regexes match the whole path.
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| CoreError::invalid(field, format!("`{pattern}` is not a valid regex: {e}")))
}

/// The globs of one source: empty = everything selected.
pub struct Selection {
    select: Vec<Pattern>,
    scope: Vec<Pattern>,
}

impl Selection {
    /// Flow-id globs (PushFlows `flows`).
    pub fn for_flow_ids(globs: &[String]) -> Result<Self, CoreError> {
        let select = globs.iter().map(|g| java_glob(g, "flows").map(Pattern::Glob)).collect::<Result<_, _>>()?;
        Ok(Selection { select, scope: Self::scope_patterns(globs, "flows")? })
    }

    /// Namespace-file globs (PushNamespaceFiles `files`), matched like Kestra's PathMatcherPredicate:
    /// against the path with a leading `/`; a pattern starting with a word character gets `**/` in
    /// front; `glob:`/`regex:` prefixes are used as given.
    pub fn for_files(globs: &[String]) -> Result<Self, CoreError> {
        let select = globs
            .iter()
            .map(|g| {
                if let Some(r) = g.strip_prefix("regex:") {
                    full_regex(r, "files").map(Pattern::Regex)
                } else if let Some(p) = g.strip_prefix("glob:") {
                    java_glob(p, "files").map(Pattern::Glob)
                } else if g.chars().next().is_some_and(|c| c.is_alphanumeric() || c == '_') {
                    java_glob(&format!("**/{g}"), "files").map(Pattern::Glob)
                } else {
                    java_glob(g, "files").map(Pattern::Glob)
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Selection { select, scope: Self::scope_patterns(globs, "files")? })
    }

    /// Deletion scope uses the plain patterns (prefixes removed, no `**/` added).
    fn scope_patterns(globs: &[String], field: &str) -> Result<Vec<Pattern>, CoreError> {
        globs
            .iter()
            .map(|g| match g.strip_prefix("regex:") {
                Some(r) => full_regex(r, field).map(Pattern::Regex),
                None => java_glob(g.strip_prefix("glob:").unwrap_or(g), field).map(Pattern::Glob),
            })
            .collect()
    }

    /// Flow selection: `key` is the flow id. File selection: `key` is the namespace-relative path
    /// with a leading `/`.
    pub fn selects(&self, key: &str) -> bool {
        self.select.is_empty() || self.select.iter().any(|p| p.matches(key))
    }

    /// Whether a file already in Git may be deleted by this source: with globs, only if one matches
    /// its repository path, its file name, or its file name without the last extension.
    pub fn scopes_deletion_of(&self, repo_path: &str) -> bool {
        if self.scope.is_empty() {
            return true;
        }
        let name = repo_path.rsplit('/').next().unwrap_or(repo_path);
        let stem = name.rsplit_once('.').map_or(name, |(stem, _)| stem);
        self.scope.iter().any(|p| p.matches(repo_path) || p.matches(name) || p.matches(stem))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(globs: &[&str]) -> Vec<String> {
        globs.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn flow_globs_match_the_id_alone() {
        let s = Selection::for_flow_ids(&v(&["backup*", "hello"])).unwrap();
        assert!(s.selects("backup_daily") && s.selects("hello"));
        assert!(!s.selects("hello2") && !s.selects("my_backup"));
        assert!(Selection::for_flow_ids(&[]).unwrap().selects("anything"));
    }

    #[test]
    fn file_globs_follow_kestra_path_matcher() {
        let s = Selection::for_files(&v(&["nested/*"])).unwrap();
        assert!(s.selects("/nested/x.txt") && s.selects("/a/nested/x.txt"));
        assert!(!s.selects("/nested/deeper/x.txt"));
        let s = Selection::for_files(&v(&["**/*.sql"])).unwrap();
        assert!(s.selects("/a/b.sql") && !s.selects("/b.py"));
        let s = Selection::for_files(&v(&["glob:/top.txt", "regex:/r/.*\\.py"])).unwrap();
        assert!(s.selects("/top.txt") && !s.selects("/a/top.txt") && s.selects("/r/x/y.py"));
    }

    #[test]
    fn deletion_scope_matches_path_name_or_stem() {
        let s = Selection::for_files(&v(&["second*"])).unwrap();
        assert!(s.scopes_deletion_of("scripts/second-deleted-after-second-push.txt"));
        assert!(!s.scopes_deletion_of("scripts/first-file.txt"));
        let s = Selection::for_flow_ids(&v(&["backup"])).unwrap();
        assert!(s.scopes_deletion_of("flows/ns/backup.yml"));
        assert!(!s.scopes_deletion_of("flows/ns/backup2.yml"));
        assert!(Selection::for_flow_ids(&[]).unwrap().scopes_deletion_of("anything"));
    }

    #[test]
    fn bad_glob_names_the_field() {
        let err = Selection::for_files(&v(&["a[b"])).err().unwrap();
        assert!(err.message.starts_with("`files`"), "{}", err.message);
    }
}
