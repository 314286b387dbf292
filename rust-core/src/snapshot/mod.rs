//! Snapshot: what the repository should contain. Maps exported items to repository paths
//! (plugin-git layout rules), applies globs and `.kestraignore`, rejects unsafe paths, and plans
//! the changes against a branch tip (deletions, mass-deletion guard); for restore, compares the
//! backup with Kestra and places each backup file back in its namespace.

mod compare;
pub mod coverage;
mod flow_plugins;
mod flow_copies;
mod flow_text;
mod globs;
mod guard;
mod kestraignore;
mod layout;
pub mod manifest;
pub mod not_covered;
#[cfg(test)]
pub(crate) mod mem_tip;
mod plan;
pub mod safe_path;
pub mod trigger_state;

pub use compare::{BackupFile, Drift};
pub use kestraignore::FILE_NAME as IGNORE_FILE;
pub use layout::{Name, Snapshot};

use git2::Oid;
use crate::error::CoreError;
use crate::report::SourceCounts;

/// The flow id of a flow file's name: `etl.yml` → `etl`.
pub fn flow_id(file_name: &str) -> &str {
    file_name.rsplit_once('.').map_or(file_name, |(stem, _)| stem)
}

/// A file in the branch tip, as `git` lists it.
#[derive(Debug, Clone)]
pub struct TipFile {
    /// Path from the repository root.
    pub path: String,
    pub oid: Oid,
    /// Git file mode (0o100644, 0o100755, 0o120000 for symlinks, ...).
    pub mode: i32,
}

/// Read access to the branch tip (implemented by `git::Workspace`; empty when the branch is new).
pub trait TipTree {
    /// Every blob under `dir` (recursively; `""` = whole repository).
    fn files_under(&self, dir: &str) -> Result<Vec<TipFile>, CoreError>;
    fn read_blob(&self, oid: Oid) -> Result<Vec<u8>, CoreError>;
}

/// One change to apply on the tip tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Create or replace `path` with blob `oid`; `previous` is the blob it replaces, if any.
    Upsert { path: String, oid: Oid, mode: i32, previous: Option<Oid> },
    Delete { path: String, previous: Oid },
}

impl Change {
    pub fn path(&self) -> &str {
        match self {
            Change::Upsert { path, .. } | Change::Delete { path, .. } => path,
        }
    }
}

pub struct Plan {
    /// Sorted by path; empty = nothing to commit.
    pub changes: Vec<Change>,
    /// One per request source, in request order.
    pub counts: Vec<SourceCounts>,
}

