//! The one report type: what a run did. Serialized as camelCase JSON for the Java tasks and the CLI.

use serde::Serialize;

/// The serial of the manifest a backup committed, and the backup commit it follows.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestReport {
    pub serial: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_commit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_serial: Option<u64>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// Full SHA of the commit pushed (or, when the push finally failed, never set: see the error).
    pub commit_id: Option<String>,
    /// Web URL of that commit (plugin-git rules).
    pub commit_url: Option<String>,
    pub dry_run: bool,
    /// The branch did not exist on the remote and was created by this run.
    pub branch_created: bool,
    /// One entry per request source, in request order.
    pub sources: Vec<SourceCounts>,
    /// Every changed file, sorted by `file` (byte order).
    pub diff: Vec<DiffRow>,
    /// Bytes sent to the remote by the push (0 when nothing was pushed).
    pub bytes_pushed: u64,
    /// Bytes received from the remote by the fetches (0 when a cache held everything).
    pub bytes_fetched: u64,
    /// Push attempts made (0 = no push).
    pub push_attempts: u32,
    pub timings_ms: Timings,
    /// Backup with a manifest and discovered namespaces: `full` or `incremental` (which export
    /// ran; the log says why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_mode: Option<String>,
    /// Backup with mirrors: what each mirror got, in request order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mirrors: Vec<MirrorReport>,
    /// Backup with `git.tag`: the tag and the commit it names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<TagReport>,
    /// Backup with `manifest`, when a commit was made (or would be, in a dry run): its manifest's place in the chain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest: Option<ManifestReport>,
    /// With `kv`: what the backup, restore or drill did with the KV entries.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kv: Option<KvReport>,
    /// Restore and drill only: how the backup compares with Kestra, and what was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restore: Option<RestoreReport>,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RestoreReport {
    /// Files of the backup that Kestra holds with the same content.
    pub in_sync: usize,
    /// Files of the backup that Kestra does not have.
    pub missing_in_kestra: usize,
    /// Files of the backup that Kestra holds with other content.
    pub differing: usize,
    /// Flows and files Kestra holds that the backup does not (never deleted by a restore).
    pub only_in_kestra: usize,
    /// Flows of the backup that were checked with Kestra's validation.
    pub flows_validated: usize,
    /// Written to Kestra by a restore.
    pub restored_flows: usize,
    pub restored_files: usize,
    /// Every file that is not in sync, sorted by `file`.
    pub drift: Vec<DriftRow>,
    /// The backup commit read (the `ref`, resolved).
    pub restored_from: Option<CommitInfo>,
    /// The tip of the branch: the newest backup.
    pub latest_backup: Option<CommitInfo>,
    /// What the plan says per selected item (rows in `restore.planFile`).
    pub plan: PlanCounts,
    /// Flows added to the selection because a selected flow calls them (`withDependencies`).
    pub dependencies: Vec<DependencyRow>,
    /// With `triggerState`: the triggers of the selected flows whose on/off state in Kestra
    /// differs from the backup (before the restore set them), sorted by `trigger`.
    pub trigger_drift: Vec<TriggerDriftRow>,
    /// Restore with `triggerState`: triggers switched on or off to the recorded state.
    pub triggers_set: usize,
    /// Where the backup read came from, as its manifest records it; None: no manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup: Option<BackupOrigin>,
    /// Drill: what the verification of the backup's history found.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<VerificationReport>,
    /// Restore: flows and files it replaces (or, refused or dry, would replace) that Kestra holds
    /// in a newer state than the backup read (the sequence guard), sorted by `file`.
    pub newer_in_kestra: Vec<NewerRow>,
}

/// An item Kestra changed after the backup read it: a higher revision of a flow, a later
/// modification of a namespace file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewerRow {
    /// Path in the repository.
    pub file: String,
    /// `flow` or `file`.
    pub kind: &'static str,
    /// Flows: Kestra's revision the backup's manifest recorded, and Kestra's revision now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_revision: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kestra_revision: Option<u64>,
    /// The last update the manifest recorded and Kestra's now, RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backup_updated: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kestra_updated: Option<String>,
}

/// The manifest's account of a backup: its serial and the Kestra it was taken from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupOrigin {
    /// The backup commit whose manifest this is (the commit read, or the newest backup below it).
    pub commit: String,
    pub serial: u64,
    pub instance_id: Option<String>,
    pub instance_url: Option<String>,
    pub instance_version: Option<String>,
}

/// Drill: the backup's history checked against its manifests, signatures and Kestra's plugins.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VerificationReport {
    /// Backup commits (with a manifest) walked, newest first, up to `verifyDepth`.
    pub chain_length: usize,
    /// Serial of the oldest and of the newest backup commit walked.
    pub first_serial: Option<u64>,
    pub last_serial: Option<u64>,
    /// True when the walk reached the first backup of the chain (one without `previous`).
    pub complete: bool,
    /// Where the chain breaks, in words; None: unbroken.
    pub broken: Option<String>,
    /// Files a manifest lists that its commit does not hold with the blob it names.
    pub files: Vec<FileProblemRow>,
    /// With `verifyKeys`: commits whose signature was checked.
    pub signatures_checked: usize,
    /// With `verifyKeys`: commits not signed by any of them, newest first.
    pub unsigned: Vec<UnsignedRow>,
    /// Types the backup's flows use that Kestra has not installed, sorted.
    pub missing_plugins: Vec<MissingPluginRow>,
    /// Commits older than the chain, without a manifest: not verifiable (never a failure).
    pub unverifiable_commits: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileProblemRow {
    pub commit: String,
    pub serial: u64,
    pub file: String,
    /// `missing` (not in the commit), `differing` (another blob), or `miscounted` (`file` names a
    /// kind whose header count differs from the items listed).
    pub state: &'static str,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UnsignedRow {
    pub commit: String,
    /// Committer date, RFC 3339 UTC.
    pub date: String,
    /// `unsigned`, or why the signature is not trusted.
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MissingPluginRow {
    #[serde(rename = "type")]
    pub plugin_type: String,
    /// Flows of the backup that use it.
    pub flows: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerDriftRow {
    /// `namespace/flowId/triggerId`.
    pub trigger: String,
    /// `disabled` or `enabled`: as the backup recorded it.
    pub backup: &'static str,
    /// As Kestra holds it.
    pub kestra: &'static str,
}

/// KV entries (`docs/kv-store.md`). Backup: `entries` listed, written as `sealed` (of them
/// `newlySealed` this run), `plaintext` or `stubs`. Restore and drill: `entries` in the backup
/// (`sealed`, `plaintext`, `stubs`), `unsealed` by the identity, `restored` to Kestra,
/// `skippedExpired`, `needIdentity` (sealed values not written for want of `restore.identity`),
/// `inSync` and `differing` with Kestra, `missingInKestra`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KvReport {
    pub entries: usize,
    pub sealed: usize,
    pub newly_sealed: usize,
    pub plaintext: usize,
    pub stubs: usize,
    pub unsealed: usize,
    pub restored: usize,
    pub skipped_expired: usize,
    pub need_identity: usize,
    pub in_sync: usize,
    pub differing: usize,
    pub missing_in_kestra: usize,
}

/// A commit of the backup branch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CommitInfo {
    /// Full SHA.
    pub commit: String,
    /// Committer date, RFC 3339 in UTC (`2026-11-20T18:00:00Z`).
    pub date: String,
    /// The commit message's first line.
    pub message: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlanCounts {
    pub create: usize,
    pub replace: usize,
    pub unchanged: usize,
    pub skip: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DependencyRow {
    /// `namespace/id` of the flow added.
    pub flow: String,
    /// `namespace/id` of the selected flow that calls it.
    pub required_by: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TagReport {
    pub name: String,
    /// The commit the tag names (on the primary repository).
    pub commit: String,
    /// False when the tag already named that commit (a re-run): nothing was pushed for it.
    pub created: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DriftRow {
    pub file: String,
    /// `missingInKestra`, `differing` or `onlyInKestra`.
    pub state: &'static str,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceCounts {
    pub git_directory: String,
    /// Items read from Kestra after filtering (globs, drafts, `.kestraignore`).
    pub exported: usize,
    pub added: usize,
    pub modified: usize,
    pub deleted: usize,
    pub unchanged: usize,
    /// Exported items dropped by `.kestraignore`.
    pub ignored: usize,
}

/// One changed file, counted like plugin-git (see `diff` module).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DiffRow {
    /// Path from the repository root; for a deletion, the old path.
    pub file: String,
    pub additions: u64,
    pub deletions: u64,
    pub changes: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    pub fetch: u64,
    /// Restore and drill: the guards and the drill's verification of the history.
    pub verify: u64,
    pub export: u64,
    pub snapshot: u64,
    pub commit: u64,
    pub push: u64,
    pub total: u64,
    /// The finer phases of a backup's fixed cost, in fractional milliseconds (`Phases`).
    #[serde(flatten)]
    pub phases: Phases,
}

/// Where the fixed cost of a backup goes, in milliseconds with a fraction (`docs/request-report.md`):
/// the parts of `fetch`, the Kestra API client, the time spent in the caller's log sink, and the
/// removal of the run's temporary repository.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Phases {
    /// Reading and checking the request JSON.
    pub request: f64,
    /// The Git trust stores: the worker's CA bundle into libgit2, `trustedCaPemPath` parsed.
    pub git_trust: f64,
    /// The local repository: a temp dir (or the cache) opened and configured.
    pub workdir: f64,
    /// Connecting to the Git remote (TLS handshake, SSH) and listing its refs.
    pub list_refs: f64,
    /// Fetching the tip on that connection: negotiation and pack.
    pub fetch_pack: f64,
    /// The Kestra API client: built, or taken from the process's clients.
    pub kestra_client: f64,
    /// Kestra's listings with their metadata (flow search, namespace-file directories), read by an
    /// incremental export to decide what to download; part of `export`.
    pub listing: f64,
    /// Inside the caller's log sink (the JNI callback into Kestra's logger).
    pub logging: f64,
    /// Removing the run's temporary repository at the end.
    pub cleanup: f64,
}

/// Milliseconds of a duration, to the hundredth.
pub fn ms(d: std::time::Duration) -> f64 {
    (d.as_secs_f64() * 100_000.0).round() / 100.0
}

/// One mirror's outcome: its own commit (same tree as the primary's), or why it failed.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MirrorReport {
    /// The mirror's URL without credentials.
    pub url: String,
    pub commit_id: Option<String>,
    pub commit_url: Option<String>,
    pub bytes_pushed: u64,
    pub error: Option<String>,
}
