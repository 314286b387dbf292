//! Annotated tags on backups, as `git tag -a` and `git tag -s` make them: the tag name checked up
//! front, the remote's tag of that name read from its ref listing, the rule that a tag is never
//! moved, and the tag object itself (tagger: the tagged commit's committer; signed with the run's
//! signing key when there is one), pushed from a local ref of its own.

use super::signing::CommitSigner;
use crate::error::{shown, CoreError, ErrorCode};
use crate::progress::Log;
use git2::{ObjectType, Oid, Repository, Signature};

/// Refuses a name Git would refuse as `refs/tags/<name>`, before anything is fetched.
pub fn check_name(name: &str) -> Result<(), CoreError> {
    if git2::Reference::is_valid_name(&format!("refs/tags/{name}")) {
        return Ok(());
    }
    Err(CoreError::invalid(
        "git.tag",
        format!(
            "`{}` is not a valid Git tag name (no spaces, `..`, `~`, `^`, `:`, `?`, `*`, `[`, `\\`, nor a trailing `/`, `.` or `.lock`); \
             render it to a name such as `backup-2026-12-01`",
            shown(name)
        ),
    ))
}

/// The commit the remote's tag `name` names, from the remote's ref listing: the peeled entry
/// (`refs/tags/<name>^{}`) of an annotated tag, else the ref itself (a lightweight tag).
pub fn remote_target(refs: &[(String, Oid)], name: &str) -> Option<Oid> {
    let tag = format!("refs/tags/{name}");
    let peeled = format!("{tag}^{{}}");
    let find = |wanted: &str| refs.iter().find(|(refname, _)| refname == wanted).map(|(_, oid)| *oid);
    find(&peeled).or_else(|| find(&tag))
}

/// Whether the run must create tag `name`. `existing`: the commit the remote's tag of that name
/// names; `target`: the commit the run would tag (None: the commit it is about to build);
/// `lost_race`: a commit this run pushed with the tag while the branch moved in the same push.
/// A tag on another commit is never moved: the run fails, saying why and what to do.
pub fn must_create(name: &str, existing: Option<Oid>, target: Option<Oid>, lost_race: Option<Oid>, remote: &str) -> Result<bool, CoreError> {
    let Some(existing) = existing else { return Ok(true) };
    if Some(existing) == target {
        return Ok(false);
    }
    if Some(existing) == lost_race {
        // A push is not atomic: the server took the tag but refused the branch update.
        return Err(CoreError::new(
            ErrorCode::Conflict,
            format!(
                "tag `{name}` was pushed to {remote} on commit {existing}, but the branch moved on the remote during that same push, \
                 so the commit is not on the branch; a tag is never moved: delete the tag on the remote and run the task again"
            ),
        ));
    }
    let wanted = target.map_or_else(|| "the commit this run is about to make".to_string(), |t| format!("the branch tip {t}"));
    Err(CoreError::invalid(
        "git.tag",
        format!(
            "tag `{name}` already exists on {remote} and names commit {existing}, not {wanted}; a tag is never moved or deleted. \
             Give each run its own tag name (e.g. with the date and time), and in a loop of per-namespace tasks set `tag` on the last task only"
        ),
    ))
}

/// Local ref holding the tag object until it is pushed; one per remote, as the mirrors' tags name
/// their own commits.
pub fn local_ref(remote: &str, name: &str) -> String {
    format!("refs/kestra-backup/{remote}/tags/{name}")
}

/// Writes the annotated tag object `name` on `commit` with `message` (signed by `signer`, like
/// `git tag -s`: the armored signature after the message), points `local_ref` at it and returns
/// the refspec that pushes it as `refs/tags/<name>`.
pub fn write(repo: &Repository, name: &str, commit: Oid, message: &str, signer: Option<&CommitSigner>, local_ref: &str, log: &mut Log) -> Result<String, CoreError> {
    let failed = |e: git2::Error| CoreError::new(ErrorCode::Git, format!("cannot write tag `{name}`: {}", e.message()));
    let committer = repo.find_commit(commit).map_err(failed)?.committer().to_owned();
    let tagger = Signature::now(&String::from_utf8_lossy(committer.name_bytes()), &String::from_utf8_lossy(committer.email_bytes())).map_err(failed)?;
    let mut text = format!("object {commit}\ntype commit\ntag {name}\ntagger {}\n\n{}", signature_line(&tagger), message.trim_end());
    text.push('\n');
    if let Some(signer) = signer {
        let armored = signer.sign(text.as_bytes())?;
        text.push_str(armored.trim_end());
        text.push('\n');
        log.info(format!("Signed tag `{name}` with the {}", signer.describe()));
    }
    let tag = repo.odb().and_then(|odb| odb.write(ObjectType::Tag, text.as_bytes())).map_err(failed)?;
    repo.reference(local_ref, tag, true, "kestra-git-backup tag").map_err(failed)?;
    log.info(format!("Tagged {commit} as `{name}`"));
    Ok(format!("{local_ref}:refs/tags/{name}"))
}

/// `Name <email> <seconds> <+hhmm>`, as Git writes identities in objects.
fn signature_line(sig: &Signature) -> String {
    let when = sig.when();
    let offset = when.offset_minutes().abs();
    format!(
        "{} <{}> {} {}{:02}{:02}",
        String::from_utf8_lossy(sig.name_bytes()),
        String::from_utf8_lossy(sig.email_bytes()),
        when.seconds(),
        when.sign(),
        offset / 60,
        offset % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_names_are_checked_like_git_refs() {
        for ok in ["backup-2026-12-01", "v1.0", "nightly/2026-12-01"] {
            check_name(ok).unwrap();
        }
        for bad in ["two words", "a..b", "x~1", "ends.lock", "", "a:b"] {
            let err = check_name(bad).unwrap_err();
            assert!(err.message.starts_with("`git.tag`") && err.message.contains("not a valid Git tag name"), "{bad}: {}", err.message);
        }
    }

    #[test]
    fn the_remote_tag_is_read_peeled() {
        let (tag_object, commit, other) = (Oid::from_bytes(&[1; 20]).unwrap(), Oid::from_bytes(&[2; 20]).unwrap(), Oid::from_bytes(&[3; 20]).unwrap());
        let refs = vec![
            ("refs/heads/main".to_string(), commit),
            ("refs/tags/annotated".to_string(), tag_object),
            ("refs/tags/annotated^{}".to_string(), commit),
            ("refs/tags/light".to_string(), other),
        ];
        assert_eq!(remote_target(&refs, "annotated"), Some(commit));
        assert_eq!(remote_target(&refs, "light"), Some(other));
        assert_eq!(remote_target(&refs, "missing"), None);
    }

    #[test]
    fn a_tag_is_created_once_and_never_moved() {
        let (a, b) = (Oid::from_bytes(&[1; 20]).unwrap(), Oid::from_bytes(&[2; 20]).unwrap());
        assert!(must_create("t", None, None, None, "r").unwrap());
        assert!(!must_create("t", Some(a), Some(a), None, "r").unwrap());
        for target in [Some(b), None] {
            let err = must_create("t", Some(a), target, None, "https://h/r").unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidConfig);
            assert!(err.message.contains(&format!("tag `t` already exists on https://h/r and names commit {a}")), "{}", err.message);
            assert!(err.message.contains("`tag` on the last task only"), "{}", err.message);
        }
        assert_eq!(must_create("t", Some(a), None, Some(a), "r").unwrap_err().code, ErrorCode::Conflict);
    }
}
