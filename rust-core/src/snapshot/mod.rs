//! Snapshot: what the repository should contain. Maps exported items to repository paths
//! (plugin-git layout rules), applies globs and `.kestraignore`, rejects unsafe paths, and plans
//! the changes against a branch tip (deletions, mass-deletion guard).
//!
//! OWNER: snapshot helper. Interface used by `backup.rs` and `git` (keep these signatures):

use crate::error::CoreError;
use crate::export::ExportedItem;
use crate::progress::Log;
use crate::report::SourceCounts;
use crate::request::{DeletionGuard, Source};
use git2::Oid;

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

/// The desired content of every source directory: repository path → blob id. Small (ids only).
pub struct Snapshot {}

impl Snapshot {
    pub fn new(sources: &[Source]) -> Result<Self, CoreError> {
        let _ = sources;
        todo!("snapshot helper")
    }

    /// Maps one exported item of source `index` to its path (layout rules, `revision:` strip,
    /// namespace rewrite, globs, path safety, collisions) and stores it through `write_blob`.
    pub fn add(
        &mut self,
        index: usize,
        item: ExportedItem,
        write_blob: &mut dyn FnMut(&[u8]) -> Result<Oid, CoreError>,
    ) -> Result<(), CoreError> {
        let _ = (index, item, write_blob);
        todo!("snapshot helper")
    }

    /// The changes that turn `tip` into this snapshot, with `.kestraignore`, deletion rules and
    /// the mass-deletion guard applied.
    pub fn plan(&self, tip: &dyn TipTree, delete: bool, guard: &DeletionGuard, log: &mut Log) -> Result<Plan, CoreError> {
        let _ = (tip, delete, guard, log);
        todo!("snapshot helper")
    }
}
