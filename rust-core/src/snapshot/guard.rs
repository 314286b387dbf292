//! Mass-deletion guard: a run that would delete everything a source had (empty export) or more
//! than a configured share of it looks like a Kestra outage, not an intent, and is refused.

use crate::error::{CoreError, ErrorCode};
use crate::request::DeletionGuard;

pub struct SourceDeletions<'a> {
    pub dir: &'a str,
    pub exported: usize,
    /// Files the source had in Git that it could delete.
    pub existing: usize,
    pub deleting: usize,
}

pub fn check(guard: &DeletionGuard, s: &SourceDeletions) -> Result<(), CoreError> {
    if s.deleting == 0 {
        return Ok(());
    }
    let dir = if s.dir.is_empty() { "/" } else { s.dir };
    if s.exported == 0 && !guard.allow_empty_export {
        return Err(CoreError::new(
            ErrorCode::DeletionGuard,
            format!(
                "source `{dir}`: Kestra returned nothing but the backup holds {} file(s) there; refusing to delete them all \
                 (an outage or a wrong namespace must not wipe a backup). If this is intended, set `allowEmptyExport: true`",
                s.deleting
            ),
        ));
    }
    let ratio = s.deleting as f64 / s.existing.max(1) as f64;
    if s.existing >= guard.min_files_for_ratio && ratio > guard.max_deletion_ratio {
        return Err(CoreError::new(
            ErrorCode::DeletionGuard,
            format!(
                "source `{dir}`: this run would delete {} of {} file(s) ({:.0}%), more than `guard.maxDeletionRatio` allows ({:.0}%); \
                 if this is intended, raise `guard.maxDeletionRatio` for one run",
                s.deleting,
                s.existing,
                ratio * 100.0,
                guard.max_deletion_ratio * 100.0
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(exported: usize, existing: usize, deleting: usize) -> SourceDeletions<'static> {
        SourceDeletions { dir: "flows/ansible", exported, existing, deleting }
    }

    #[test]
    fn empty_export_is_refused_unless_allowed() {
        let g = DeletionGuard::default();
        let err = check(&g, &s(0, 3, 3)).unwrap_err();
        assert_eq!(err.code, ErrorCode::DeletionGuard);
        assert!(err.message.contains("flows/ansible") && err.message.contains("allowEmptyExport"));
        check(&DeletionGuard { allow_empty_export: true, ..g.clone() }, &s(0, 3, 3)).unwrap();
        check(&g, &s(0, 0, 0)).unwrap();
    }

    #[test]
    fn ratio_applies_from_the_minimum_size() {
        let g = DeletionGuard::default(); // 0.5 from 10 files
        let err = check(&g, &s(4, 10, 6)).unwrap_err();
        assert!(err.message.contains("6 of 10") && err.message.contains("maxDeletionRatio"));
        check(&g, &s(5, 10, 5)).unwrap();
        check(&g, &s(1, 9, 8)).unwrap();
    }
}
