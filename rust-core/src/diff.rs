//! Diff rows counted like plugin-git (`plugin-git-compat.md` §5.2): per edit region of a Myers
//! line diff, surplus new lines are additions, a shortfall is deletions, and an equal-sized region
//! counts as changes. New file = `+N`, deleted file = `-N`, binary content = 0/0/0.

use crate::error::CoreError;
use crate::report::DiffRow;
use crate::snapshot::{Change, TipTree};
use similar::{Algorithm, DiffOp, TextDiff};

/// Rows for `changes` (already sorted by path), reading old and new blobs through `blobs`.
pub fn rows(changes: &[Change], blobs: &dyn TipTree) -> Result<Vec<DiffRow>, CoreError> {
    changes
        .iter()
        .map(|change| {
            let (old, new) = match change {
                Change::Upsert { oid, previous, .. } => {
                    (previous.map(|p| blobs.read_blob(p)).transpose()?.unwrap_or_default(), blobs.read_blob(*oid)?)
                }
                Change::Delete { previous, .. } => (blobs.read_blob(*previous)?, Vec::new()),
            };
            let (additions, deletions, changes) = count(&old, &new);
            Ok(DiffRow { file: change.path().to_string(), additions, deletions, changes })
        })
        .collect()
}

/// (additions, deletions, changes) between two contents.
pub fn count(old: &[u8], new: &[u8]) -> (u64, u64, u64) {
    if is_binary(old) || is_binary(new) {
        return (0, 0, 0);
    }
    let (old, new) = (String::from_utf8_lossy(old), String::from_utf8_lossy(new));
    let diff = TextDiff::configure().algorithm(Algorithm::Myers).diff_lines(old.as_ref(), new.as_ref());
    let mut totals = (0, 0, 0);
    // Adjacent delete/insert/replace ops form one edit region, as in JGit's edit list.
    let mut region = (0u64, 0u64);
    let mut close = |region: &mut (u64, u64)| {
        let (o, n) = std::mem::take(region);
        match n.cmp(&o) {
            std::cmp::Ordering::Greater => totals.0 += n - o,
            std::cmp::Ordering::Less => totals.1 += o - n,
            std::cmp::Ordering::Equal => totals.2 += n,
        }
    };
    for op in diff.ops() {
        match *op {
            DiffOp::Equal { .. } => close(&mut region),
            DiffOp::Delete { old_len, .. } => region.0 += old_len as u64,
            DiffOp::Insert { new_len, .. } => region.1 += new_len as u64,
            DiffOp::Replace { old_len, new_len, .. } => {
                region.0 += old_len as u64;
                region.1 += new_len as u64;
            }
        }
    }
    close(&mut region);
    totals
}

/// Git's heuristic: a NUL byte in the first 8000 bytes.
fn is_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(8000)].contains(&0)
}

#[cfg(test)]
mod tests {
    use super::count;

    fn lines(n: usize) -> String {
        (1..=n).map(|i| format!("line {i}\n")).collect()
    }

    #[test]
    fn new_and_deleted_files() {
        assert_eq!(count(b"", lines(10).as_bytes()), (10, 0, 0));
        assert_eq!(count(lines(10).as_bytes(), b""), (0, 10, 0));
        assert_eq!(count(b"", b"no newline at end"), (1, 0, 0));
    }

    #[test]
    fn replaced_lines_count_as_changes_and_surplus() {
        assert_eq!(count(b"a\nb\nc\n", b"a\nB\nc\n"), (0, 0, 1));
        assert_eq!(count(b"x\na\nb\nc\ny\n", b"x\n1\n2\n3\n4\n5\ny\n"), (2, 0, 0));
        assert_eq!(count(b"x\na\nb\nc\ny\n", b"x\n1\ny\n"), (0, 2, 0));
        assert_eq!(count(b"a\nb\n", b"a\nb\n"), (0, 0, 0));
    }

    #[test]
    fn separate_regions_add_up() {
        assert_eq!(count(b"a\nb\nc\nd\n", b"A\nb\nc\nd\ne\nf\n"), (2, 0, 1));
    }

    #[test]
    fn binary_counts_nothing() {
        assert_eq!(count(b"\0\x01", b"\0\x02\n\n"), (0, 0, 0));
    }
}
