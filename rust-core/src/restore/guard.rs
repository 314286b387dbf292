//! What a restore checks about the backup before it reads a single item
//! (`docs/tasks/restore-instance.md`, "Guards"):
//! - with `verifyKeys`, the commit read is signed by one of them (`allowUnsigned` lets an
//!   unsigned or otherwise signed one through);
//! - the backup was taken from this Kestra: its manifest's instance id is the one Kestra reports
//!   (`allowOtherInstance` lets another through), as Terraform refuses a state of another lineage.
//!
//! The sequence guard (`sequence`) runs later, once the plan says what the restore replaces.
//!
//! The origin (serial, instance) of the backup read is logged and reported either way.

use crate::error::{CoreError, ErrorCode};
use crate::git::custody::{self, Link};
use crate::git::signature_check::{Signed, VerifyKeys};
use crate::git::Workspace;
use crate::progress::Log;
use crate::report::BackupOrigin;
use crate::snapshot::manifest::Instance;
use git2::Oid;

/// The manifest of the backup read (`at`, or the newest backup commit below it), logged; None
/// when the history there has no manifest.
pub fn origin(ws: &mut Workspace, at: Oid, log: &mut Log) -> Result<Option<(BackupOrigin, Link)>, CoreError> {
    let Some(link) = custody::newest_backup(ws, at, log)? else {
        log.info("The backup has no manifest (`.kestra-backup/manifest.json`): its serial and the instance it came from are unknown");
        return Ok(None);
    };
    let (commit, manifest, instance) = (link.commit, &link.manifest, &link.manifest.instance);
    log.info(format!(
        "Backup serial {} ({commit}), taken from Kestra instance {} at {} (version {})",
        manifest.serial,
        instance.id.as_deref().unwrap_or("(id unknown)"),
        instance.url.as_deref().unwrap_or("(URL unknown)"),
        instance.version.as_deref().unwrap_or("unknown"),
    ));
    let origin = BackupOrigin {
        commit: commit.to_string(),
        serial: manifest.serial,
        instance_id: instance.id.clone(),
        instance_url: instance.url.clone(),
        instance_version: instance.version.clone(),
    };
    Ok(Some((origin, link)))
}

/// With trusted keys, the commit read must be signed by one of them unless `allow_unsigned`.
pub fn signature(ws: &Workspace, at: Oid, keys: &VerifyKeys, allow_unsigned: bool, log: &mut Log) -> Result<(), CoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let why = match keys.check(ws, at)? {
        Signed::By(key) => {
            log.info(format!("Commit {at} is signed by the {key}, one of `restore.verifyKeys`"));
            return Ok(());
        }
        Signed::Unsigned => "is unsigned".to_string(),
        Signed::NotTrusted(why) => format!("carries {why}"),
    };
    if allow_unsigned {
        log.warn(format!("Commit {at} {why}; restoring it anyway (`restore.allowUnsigned`)"));
        return Ok(());
    }
    Err(CoreError::new(
        ErrorCode::InvalidBackup,
        format!(
            "commit {at} {why}, so it is not restored: `restore.verifyKeys` is set and no verify key signed it; restore a signed backup (`restore.ref`), \
             or set `restore.allowUnsigned: true` if you trust this commit"
        ),
    ))
}

/// The backup's instance against the Kestra written to (`kestra`: the id it reports): refused
/// when both ids are known and differ, unless `allow_other`. Ok(true): the backup is known to
/// come from another instance (and `allow_other` let it through).
pub fn identity(backup: &Instance, kestra: Option<&str>, allow_other: bool, log: &mut Log) -> Result<bool, CoreError> {
    let (Some(theirs), Some(ours)) = (backup.id.as_deref(), kestra) else {
        log.info("The instance the backup came from cannot be compared with this Kestra (an id is unknown); restoring");
        return Ok(false);
    };
    if theirs == ours {
        return Ok(false);
    }
    let from = backup.url.as_deref().map(|u| format!(" ({u})")).unwrap_or_default();
    if allow_other {
        log.warn(format!("The backup comes from another Kestra instance, {theirs}{from}, than this one ({ours}); restoring it anyway (`restore.allowOtherInstance`)"));
        return Ok(true);
    }
    Err(CoreError::new(
        ErrorCode::InvalidBackup,
        format!(
            "the backup comes from Kestra instance {theirs}{from}, not from this one ({ours}); nothing was restored. \
             Set `restore.allowOtherInstance: true` to restore it here (a migration, a new instance)"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(id: Option<&str>) -> Instance {
        Instance { id: id.map(str::to_string), version: None, url: Some("http://old:8080".into()) }
    }

    #[test]
    fn another_instance_is_refused_unless_allowed_and_an_unknown_id_is_not_compared() {
        let mut sink = |_: &crate::LogEvent| {};
        let mut log = Log::new(&mut sink, Vec::new());
        let err = identity(&instance(Some("a")), Some("b"), false, &mut log).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidBackup);
        assert!(err.message.contains("instance a (http://old:8080), not from this one (b)") && err.message.contains("`restore.allowOtherInstance: true`"), "{}", err.message);
        assert!(identity(&instance(Some("a")), Some("b"), true, &mut log).unwrap(), "another instance, let through");
        assert!(!identity(&instance(Some("a")), Some("a"), false, &mut log).unwrap());
        assert!(!identity(&instance(None), Some("b"), false, &mut log).unwrap());
        assert!(!identity(&instance(Some("a")), None, false, &mut log).unwrap());
    }
}
