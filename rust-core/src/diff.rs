//! Diff rows counted like plugin-git (`plugin-git-compat.md` §5.2): per Myers edit region, surplus
//! new lines are additions, shortfall lines are deletions, equal-sized regions are changes.
//! Binary content counts 0/0/0.

// OWNER: snapshot helper. `rows` reads old/new blobs through `BlobSource` and returns rows sorted by path.

use crate::error::CoreError;
use crate::report::DiffRow;
use crate::snapshot::{Change, TipTree};

/// Rows for `changes` (already sorted by path), reading old and new blobs through `blobs`.
pub fn rows(changes: &[Change], blobs: &dyn TipTree) -> Result<Vec<DiffRow>, CoreError> {
    let _ = (changes, blobs);
    todo!("snapshot helper")
}
