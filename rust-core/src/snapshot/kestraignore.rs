//! `.kestraignore` (plugin-git §8.5): gitignore syntax, paths relative to the namespace root
//! directory of a source. Ignored exported items are not committed; ignored files already in Git
//! are never deleted; the `.kestraignore` file itself is never ignored.

use crate::error::{CoreError, ErrorCode};
use ignore::gitignore::{Gitignore, GitignoreBuilder};

pub const FILE_NAME: &str = ".kestraignore";

pub struct KestraIgnore {
    rules: Option<Gitignore>,
}

impl KestraIgnore {
    /// Parses the file's bytes; `location` names it in errors.
    pub fn parse(bytes: &[u8], location: &str) -> Result<Self, CoreError> {
        let mut builder = GitignoreBuilder::new("/");
        for line in String::from_utf8_lossy(bytes).lines() {
            builder.add_line(None, line).map_err(|e| {
                CoreError::new(ErrorCode::InvalidConfig, format!("`{location}`: invalid line `{line}`: {e}"))
            })?;
        }
        let rules = builder.build().map_err(|e| CoreError::new(ErrorCode::InvalidConfig, format!("`{location}`: {e}")))?;
        Ok(KestraIgnore { rules: Some(rules) })
    }

    /// `relative` is the path below the namespace root directory.
    pub fn is_ignored(&self, relative: &str) -> bool {
        if relative == FILE_NAME {
            return false;
        }
        self.rules.as_ref().is_some_and(|r| {
            let path = std::path::Path::new("/").join(relative);
            r.matched_path_or_any_parents(&path, false).is_ignore()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gitignore_syntax_relative_to_the_root() {
        let k = KestraIgnore::parse(b"# comment\n*.tmp\n/build/\nsecret.txt\n!keep.tmp\n", "x").unwrap();
        assert!(k.is_ignored("a.tmp") && k.is_ignored("deep/b.tmp"));
        assert!(!k.is_ignored("keep.tmp"));
        assert!(k.is_ignored("build/out.bin") && !k.is_ignored("src/build.txt"));
        assert!(k.is_ignored("secret.txt") && k.is_ignored("x/secret.txt"));
        assert!(!k.is_ignored("main.py"));
        assert!(!KestraIgnore::parse(b"*\n", "x").unwrap().is_ignored(".kestraignore"));
    }
}
