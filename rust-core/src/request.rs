//! The one request type of the core, shared by the CLI (JSON/YAML file) and the JNI bridge (JSON).
//! Field by field documentation with defaults: `docs/request-report.md`. JSON names are camelCase.

use crate::error::{shown, CoreError};
use crate::secret::Secret;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::PathBuf;

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Request {
    /// What to do: back up Kestra to Git (default), restore the backup into Kestra, or check that
    /// it would restore (a drill: nothing is written).
    #[serde(default)]
    pub job: Job,
    /// Options of `restore` and `drill`.
    #[serde(default)]
    pub restore: RestoreOptions,
    /// Where to read flows and namespace files from. Needed unless every source provides its files.
    #[serde(default)]
    pub kestra: Option<KestraConfig>,
    pub git: GitConfig,
    /// What to back up: each source maps something in Kestra to a directory of the repository.
    pub sources: Vec<Source>,
    /// Mirror deletions: files under a source's directory that the export no longer has are removed.
    #[serde(default = "default_true")]
    pub delete: bool,
    /// Compute the same diff, push nothing.
    #[serde(default)]
    pub dry_run: bool,
    #[serde(default)]
    pub guard: DeletionGuard,
    /// The KV store: a backup writes one file per entry under `kv.gitDirectory` (values sealed to
    /// `kv.recipients`); a restore or drill reads them back. Unset: KV is left alone.
    #[serde(default)]
    pub kv: Option<KvOptions>,
    /// Record (backup), re-apply (restore) or compare (drill) each flow trigger's on/off state;
    /// unset: trigger state is left out. See `docs/trigger-state.md`.
    #[serde(default)]
    pub trigger_state: Option<TriggerStateOptions>,
    /// Write `.kestra-backup/manifest.json` in every backup commit (`docs/manifest.md`);
    /// BackupInstance sets it, PushFlows and PushNamespaceFiles only with `manifest: true`.
    #[serde(default)]
    pub manifest: bool,
    /// With `manifest`, sources that discover namespaces are exported incrementally (only what
    /// Kestra's listings say changed since the backup's manifest), and in full at least this
    /// often: an ISO-8601 duration (`P1D`, `PT6H`); `PT0S` = every run exports everything.
    #[serde(default = "default_full_export_every")]
    pub full_export_every: String,
}

fn default_full_export_every() -> String {
    "P1D".to_string()
}

/// KV entries in the backup (`docs/kv-store.md`).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KvOptions {
    /// Repository directory: `<gitDirectory>/<namespace>/<key>.json`.
    #[serde(default = "default_kv_directory")]
    pub git_directory: String,
    /// Backup: the namespace tree whose entries are backed up (`""` = every namespace).
    #[serde(default)]
    pub namespace_prefix: String,
    /// Backup: public keys every value is sealed to (age `age1…`, SSH `ssh-ed25519`/`ssh-rsa`).
    /// Drill: when set, every sealed file must be sealed to exactly these.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Backup without recipients: write values in clear text instead of stubs. Unsafe.
    #[serde(default)]
    pub plaintext: bool,
}

impl KvOptions {
    /// The KV entries as a source of the snapshot (one directory per namespace).
    pub fn source(&self) -> Source {
        Source {
            kind: SourceKind::Kv,
            namespaces: NamespaceSelector::Discover { prefix: self.namespace_prefix.clone() },
            git_directory: self.git_directory.clone(),
            globs: Vec::new(),
            target_namespace: None,
            provided_files: None,
        }
    }
}

/// Where the per-flow trigger-state files live: `<gitDirectory>/<namespace>/<flowId>.json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerStateOptions {
    pub git_directory: String,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Job {
    #[default]
    Backup,
    Restore,
    Drill,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RestoreOptions {
    /// Restore: also replace flows and files that Kestra holds with other content. Off: only what
    /// Kestra is missing is written.
    #[serde(default)]
    pub overwrite: bool,
    /// Drill: fail when Kestra and the backup differ (besides failing on flows Kestra refuses).
    #[serde(default)]
    pub fail_on_drift: bool,
    /// Which backup: a commit SHA (full or abbreviated), a tag, a branch, or an instant (the newest
    /// backup commit of `git.branch` at or before it). Unset or blank: the branch tip.
    #[serde(default, rename = "ref")]
    pub git_ref: Option<String>,
    /// Globs over `namespace/id` selecting flows. When `flows` or `files` is set, only what they
    /// select is compared, validated and written; both unset: everything.
    #[serde(default)]
    pub flows: Vec<String>,
    /// Globs over `namespace/path` selecting namespace files (see `flows`).
    #[serde(default)]
    pub files: Vec<String>,
    /// Also select, transitively, the flows a selected flow calls as subflows (as they are at `ref`).
    #[serde(default)]
    pub with_dependencies: bool,
    /// Where to write the plan: one JSON object per line (valid ION), one per selected item.
    #[serde(default)]
    pub plan_file: Option<PathBuf>,
    /// Restore: entries per archive written to Kestra (flow imports, namespace-file uploads).
    #[serde(default = "default_batch_size")]
    pub batch_size: usize,
    /// Restore: namespace files of at least this many bytes are uploaded one by one, without an
    /// archive (Kestra's ZIP-bomb protection may limit the size of an archive entry).
    #[serde(default = "default_large_file_bytes")]
    pub large_file_bytes: u64,
    /// Restore and drill: the age secret key (or unencrypted OpenSSH private key) that unseals
    /// the backup's KV values. Unset: KV values are not written, and the plan lists them.
    #[serde(default)]
    pub identity: Option<Secret>,
    /// Public keys (SSH `ssh-ed25519 …`/`ssh-rsa …`, or armored OpenPGP) that sign the backup's
    /// commits (`git.signingKey`'s public half). Drill: every commit of the verified history must
    /// be signed by one of them; restore: the commit read must be (unless `allowUnsigned`).
    #[serde(default)]
    pub verify_keys: Vec<String>,
    /// Drill: how many backup commits (the newest first) the verification walks; unset: all.
    #[serde(default)]
    pub verify_depth: Option<usize>,
    /// Drill: fail when the verification finds a problem (off: report it only).
    #[serde(default = "default_true")]
    pub fail_on_unverified: bool,
    /// Restore with `verifyKeys`: also restore a commit that is unsigned or signed by another key.
    #[serde(default)]
    pub allow_unsigned: bool,
    /// Restore: also restore a backup taken from another Kestra instance (another instance id).
    #[serde(default)]
    pub allow_other_instance: bool,
}

impl Default for RestoreOptions {
    fn default() -> Self {
        RestoreOptions {
            overwrite: false,
            fail_on_drift: false,
            git_ref: None,
            flows: Vec::new(),
            files: Vec::new(),
            with_dependencies: false,
            plan_file: None,
            batch_size: default_batch_size(),
            large_file_bytes: default_large_file_bytes(),
            identity: None,
            verify_keys: Vec::new(),
            verify_depth: None,
            fail_on_unverified: true,
            allow_unsigned: false,
            allow_other_instance: false,
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KestraConfig {
    /// Base URL, e.g. `http://localhost:8080` (a trailing `/` is ignored).
    pub url: String,
    /// Tenant id; Kestra OSS uses `main`.
    #[serde(default = "default_tenant")]
    pub tenant: String,
    #[serde(default)]
    pub auth: Option<KestraAuth>,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_read_timeout_ms")]
    pub read_timeout_ms: u64,
    /// Writes (flow imports, namespace-file uploads) answer only once Kestra applied the whole
    /// batch, so they get their own, longer timeout.
    #[serde(default = "default_write_timeout_ms")]
    pub write_timeout_ms: u64,
    /// The server's system-flows namespace (`kestra.system-flows.namespace`), which Kestra lists
    /// as a namespace even without flows: discovery backs up its files.
    #[serde(default = "default_system_flows_namespace")]
    pub system_flows_namespace: String,
    /// Retries after the first try, only on transient failures (connect, timeout, 5xx, 429).
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// PEM CA certificates trusted for the Kestra API in addition to the built-in roots.
    #[serde(default)]
    pub trusted_ca_pem: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum KestraAuth {
    Basic { username: String, password: Secret },
    Bearer { token: Secret },
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitConfig {
    /// `https://`, `http://`, `ssh://`, scp-like `user@host:path`, or `file://`/local path.
    pub url: String,
    #[serde(default = "default_branch")]
    pub branch: String,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    /// SSH private key text (OpenSSH or PEM), never a path.
    #[serde(default)]
    pub private_key: Option<Secret>,
    #[serde(default)]
    pub passphrase: Option<Secret>,
    /// SSH private key (OpenSSH format, text) that signs every commit (`gpg.format=ssh`).
    #[serde(default)]
    pub signing_key: Option<Secret>,
    #[serde(default)]
    pub signing_key_passphrase: Option<Secret>,
    /// Path of a PEM file with CA certificates trusted for HTTPS in addition to `trustedCaPem`.
    #[serde(default)]
    pub trusted_ca_pem_path: Option<PathBuf>,
    /// PEM text of CA certificates to trust (the Java side passes the JVM's trusted issuers here).
    #[serde(default)]
    pub trusted_ca_pem: Option<String>,
    /// Pin for the SSH host key: `SHA256:<base64>` as printed by `ssh-keygen -lf`. Unset: any host
    /// key is accepted (plugin-git behaviour) and its fingerprint is logged.
    #[serde(default)]
    pub host_key_fingerprint: Option<String>,
    /// Explicit proxy URL for HTTP(S) transports; unset = direct connection (environment ignored).
    #[serde(default)]
    pub proxy: Option<String>,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    #[serde(default = "default_read_timeout_ms")]
    pub read_timeout_ms: u64,
    /// Reusable directory for the local copy of the branch; unset = a temporary directory per run.
    #[serde(default)]
    pub cache_dir: Option<PathBuf>,
    /// Directory where a commit that could not be pushed is saved as a Git bundle; unset = the
    /// system temp directory.
    #[serde(default)]
    pub unpushed_dir: Option<PathBuf>,
    /// `section.key` → value, applied to the local repository's config (plugin-git `gitConfig`).
    #[serde(default)]
    pub config: BTreeMap<String, serde_json::Value>,
    /// Commit message; default `Backup of <n> source(s) from Kestra`. The Java tasks always set it.
    #[serde(default)]
    pub commit_message: Option<String>,
    #[serde(default)]
    pub author_name: Option<String>,
    #[serde(default)]
    pub author_email: Option<String>,
    /// Push attempts in total when the branch moved under us (non-fast-forward); never forced.
    #[serde(default = "default_push_attempts")]
    pub max_push_attempts: u32,
    /// Backup only: an annotated tag on the commit the run produced (or on the tip when nothing
    /// changed), pushed with the branch and to the mirrors; never moved.
    #[serde(default)]
    pub tag: Option<String>,
    /// Backup only: more repositories that get the same content after `url`, each with a commit
    /// of its own on its own history (a copy at another provider survives losing the first).
    #[serde(default)]
    pub mirrors: Vec<Mirror>,
    /// Backup only, for one run after a rewrite made on purpose: build on the rewritten branch
    /// (the chain check only warns) and move the custody records there (docs/custody.md).
    #[serde(default)]
    pub accept_rewritten_history: bool,
}

/// A second repository for the same backup: where it is and how to reach it. Unset fields other
/// than the credentials are those of the primary repository.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Mirror {
    pub url: String,
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub password: Option<Secret>,
    #[serde(default)]
    pub private_key: Option<Secret>,
    #[serde(default)]
    pub passphrase: Option<Secret>,
    #[serde(default)]
    pub trusted_ca_pem_path: Option<PathBuf>,
    #[serde(default)]
    pub host_key_fingerprint: Option<String>,
    #[serde(default)]
    pub proxy: Option<String>,
}

impl GitConfig {
    /// The configuration that reaches `mirror`: its remote and credentials, everything else
    /// (identity, signing, timeouts, message) from this one. No mirror of a mirror.
    pub fn for_mirror(&self, mirror: &Mirror) -> GitConfig {
        GitConfig {
            url: mirror.url.clone(),
            branch: mirror.branch.clone().filter(|b| !b.trim().is_empty()).unwrap_or_else(|| self.branch.clone()),
            username: mirror.username.clone(),
            password: mirror.password.clone(),
            private_key: mirror.private_key.clone(),
            passphrase: mirror.passphrase.clone(),
            trusted_ca_pem_path: mirror.trusted_ca_pem_path.clone(),
            host_key_fingerprint: mirror.host_key_fingerprint.clone(),
            proxy: mirror.proxy.clone(),
            mirrors: Vec::new(),
            ..self.clone()
        }
    }
}

/// One thing to back up.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Source {
    pub kind: SourceKind,
    /// Which namespaces.
    pub namespaces: NamespaceSelector,
    /// Repository directory the source owns (relative, `/`-separated; `""` = repository root).
    pub git_directory: String,
    /// Globs selecting flows by id (`kind: flows`) or files by namespace-relative path
    /// (`kind: namespaceFiles`). Empty = everything.
    #[serde(default)]
    pub globs: Vec<String>,
    /// Flows only: rewrite `namespace:` lines from the source namespace to this one.
    #[serde(default)]
    pub target_namespace: Option<String>,
    /// Namespace files only: the files, already read by the caller (the Java task reads them from
    /// Kestra's namespace storage). When set, the Kestra API is not called for this source.
    #[serde(default)]
    pub provided_files: Option<Vec<ProvidedFile>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SourceKind {
    Flows,
    NamespaceFiles,
    /// KV entries: never a request source of its own, added from `kv` (`KvOptions::source`).
    #[serde(skip)]
    Kv,
}

/// Which namespaces a source covers, and so how its directory is laid out.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase", deny_unknown_fields)]
pub enum NamespaceSelector {
    /// One namespace, its items directly under the directory; with `includeChildren`, children
    /// go to sub-directories (`a.b.c` under source `a` → `b/c/`). PushFlows/PushNamespaceFiles.
    One { namespace: String, #[serde(default)] include_children: bool },
    /// Every namespace whose name is `prefix` or starts with `prefix.` (`""` = all namespaces),
    /// discovered at run time; each goes to `<gitDirectory>/<full.dotted.namespace>/`.
    Discover { #[serde(default)] prefix: String },
}

/// Whether `namespace` is `root` or one of its descendants (`root.x`, never a sibling `rootx`);
/// the empty root covers every namespace.
pub fn in_namespace_tree(namespace: &str, root: &str) -> bool {
    root.is_empty() || namespace == root || namespace.strip_prefix(root).is_some_and(|rest| rest.starts_with('.'))
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ProvidedFile {
    /// Namespace-relative path, `/`-separated, no leading `/`.
    pub path: String,
    /// Local file holding the bytes.
    pub local_path: PathBuf,
}

/// Refuses deletions that look like an outage rather than an intent.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeletionGuard {
    /// Allow a source whose export is empty to delete every file it had in Git.
    #[serde(default)]
    pub allow_empty_export: bool,
    /// Largest share (0.0–1.0) of a source's existing files one run may delete.
    #[serde(default = "default_max_deletion_ratio")]
    pub max_deletion_ratio: f64,
    /// Sources with fewer existing files than this are not checked by the ratio (nor, by the
    /// coverage guard, kinds with fewer items in the previous backup).
    #[serde(default = "default_min_files_for_ratio")]
    pub min_files_for_ratio: usize,
    /// With `manifest`: let a namespace that had items in the previous backup have none now.
    #[serde(default)]
    pub allow_namespace_removal: bool,
}

impl Default for DeletionGuard {
    fn default() -> Self {
        DeletionGuard {
            allow_empty_export: false,
            max_deletion_ratio: default_max_deletion_ratio(),
            min_files_for_ratio: default_min_files_for_ratio(),
            allow_namespace_removal: false,
        }
    }
}

fn default_true() -> bool {
    true
}
fn default_tenant() -> String {
    "main".into()
}
fn default_branch() -> String {
    "main".into()
}
fn default_connect_timeout_ms() -> u64 {
    10_000
}
fn default_read_timeout_ms() -> u64 {
    60_000
}
fn default_write_timeout_ms() -> u64 {
    600_000
}
fn default_system_flows_namespace() -> String {
    "system".into()
}
fn default_batch_size() -> usize {
    100
}
fn default_large_file_bytes() -> u64 {
    1 << 20
}
fn default_kv_directory() -> String {
    "kv".into()
}
fn default_max_retries() -> u32 {
    3
}
fn default_push_attempts() -> u32 {
    40
}
fn default_max_deletion_ratio() -> f64 {
    0.5
}
fn default_min_files_for_ratio() -> usize {
    10
}

impl Request {
    /// Every secret in the request, for redaction of everything that leaves the core.
    pub fn secrets(&self) -> Vec<Secret> {
        let mut out = Vec::new();
        out.extend(self.git.password.clone());
        out.extend(self.git.private_key.clone());
        out.extend(self.git.passphrase.clone());
        out.extend(self.git.signing_key.clone());
        out.extend(self.git.signing_key_passphrase.clone());
        for mirror in &self.git.mirrors {
            out.extend(mirror.password.clone());
            out.extend(mirror.private_key.clone());
            out.extend(mirror.passphrase.clone());
        }
        out.extend(self.restore.identity.clone());
        match self.kestra.as_ref().and_then(|k| k.auth.as_ref()) {
            Some(KestraAuth::Basic { password, .. }) => out.push(password.clone()),
            Some(KestraAuth::Bearer { token }) => out.push(token.clone()),
            None => {}
        }
        out
    }
}

impl Request {
    /// Checks what serde cannot: values, combinations. Errors name the field and the fix.
    pub fn validate(&self) -> Result<(), CoreError> {
        self.validate_git()?;
        if self.sources.is_empty() {
            return Err(CoreError::invalid("sources", "is empty; give at least one source to back up"));
        }
        if !(0.0..=1.0).contains(&self.guard.max_deletion_ratio) {
            return Err(CoreError::invalid("guard.maxDeletionRatio", "must be between 0.0 and 1.0"));
        }
        for (i, mirror) in self.git.mirrors.iter().enumerate() {
            if mirror.url.trim().is_empty() {
                return Err(CoreError::invalid(&format!("git.mirrors[{i}].url"), "is empty; set the mirror's Git URL"));
            }
            if mirror.url.trim() == self.git.url.trim() {
                return Err(CoreError::invalid(&format!("git.mirrors[{i}].url"), "is the primary `git.url`; a mirror must be another repository"));
            }
            check_remote(&format!("git.mirrors[{i}].url"), &mirror.url)?;
            if let Some(branch) = &mirror.branch {
                check_branch(&format!("git.mirrors[{i}].branch"), branch)?;
            }
        }
        if self.restore.batch_size == 0 {
            return Err(CoreError::invalid("restore.batchSize", "must be at least 1 (entries per archive written to Kestra)"));
        }
        if self.restore.verify_depth == Some(0) {
            return Err(CoreError::invalid("restore.verifyDepth", "must be at least 1 (backup commits to verify); leave it unset to verify the whole history"));
        }
        self.full_export_interval()?;
        if self.git.max_push_attempts == 0 {
            return Err(CoreError::invalid("git.maxPushAttempts", "must be at least 1"));
        }
        if self.job != Job::Backup {
            for (i, source) in self.sources.iter().enumerate() {
                if source.provided_files.is_some() {
                    return Err(CoreError::invalid(&format!("sources[{i}].providedFiles"), "a restore reads the backup, not provided files; remove it"));
                }
                if source.target_namespace.is_some() || !source.globs.is_empty() {
                    return Err(CoreError::invalid(
                        &format!("sources[{i}]"),
                        "a restore reads the backup as the backup wrote it; remove `targetNamespace` and `globs`",
                    ));
                }
            }
        }
        if let Some(kv) = self.kv.as_ref().filter(|kv| kv.plaintext && !kv.recipients.is_empty()) {
            return Err(CoreError::invalid(
                "kv.plaintext",
                format!("is true while {} `kv.recipients` are set; remove one: values are either sealed to the recipients or (unsafe) in clear text", kv.recipients.len()),
            ));
        }
        let needs_api = self.kv.is_some() || self.sources.iter().any(|s| s.provided_files.is_none());
        if needs_api && self.kestra.is_none() {
            return Err(CoreError::invalid("kestra", "is missing; set the Kestra API URL (and credentials) to export from"));
        }
        Ok(())
    }

    /// The backup's sources: the request's, then the KV entries when `kv` is set.
    pub fn backup_sources(&self) -> Vec<Source> {
        let mut sources = self.sources.clone();
        sources.extend(self.kv.as_ref().map(KvOptions::source));
        sources
    }

    /// The checks of `validate` that reading the backup's history needs: the remote and the branch.
    pub fn validate_git(&self) -> Result<(), CoreError> {
        if self.git.url.trim().is_empty() {
            return Err(CoreError::invalid("git.url", "is empty; set the Git remote, e.g. https://gitlab.example.com/group/backup.git"));
        }
        check_remote("git.url", &self.git.url)?;
        if self.git.branch.trim().is_empty() {
            return Err(CoreError::invalid("git.branch", "is empty; set a branch name such as `main`"));
        }
        check_branch("git.branch", &self.git.branch)
    }

    /// `fullExportEvery` as seconds.
    pub fn full_export_interval(&self) -> Result<i64, CoreError> {
        crate::instant::parse_duration(&self.full_export_every).ok_or_else(|| {
            CoreError::invalid(
                "fullExportEvery",
                format!("`{}` is not an ISO-8601 duration; use e.g. `P1D` (one day), `PT6H` or `PT0S` (always export everything)", shown(&self.full_export_every)),
            )
        })
    }

    /// The commit message: the one given, else a summary of the sources.
    pub fn commit_message(&self) -> String {
        match &self.git.commit_message {
            Some(m) if !m.trim().is_empty() => m.clone(),
            _ => format!("Backup of {} source(s) from Kestra", self.sources.len()),
        }
    }
}

/// A remote libgit2 can reach: a URL of a scheme it speaks, `[user@]host:path`, or an existing
/// local repository (libgit2 reports a missing one as "unsupported URL protocol").
fn check_remote(field: &str, url: &str) -> Result<(), CoreError> {
    let url = url.trim();
    let local = |path: &str| {
        if std::path::Path::new(path).exists() {
            Ok(())
        } else {
            Err(CoreError::invalid(
                field,
                format!("`{}` is neither a remote URL (https://…, ssh://…, git@host:path) nor an existing local repository", shown(url)),
            ))
        }
    };
    if let Some((scheme, rest)) = url.split_once("://") {
        return match scheme.to_ascii_lowercase().as_str() {
            "https" | "http" | "ssh" | "git" => Ok(()),
            "file" => local(rest),
            other => Err(CoreError::invalid(field, format!("unsupported scheme `{}`; use https://, ssh://, git@host:path or a local path", shown(other)))),
        };
    }
    // scp-like `git@host:group/repo.git`: a `:` before any `/`
    let scp_like = url.find(':').is_some_and(|colon| colon > 0 && !url[..colon].contains('/'));
    if scp_like { Ok(()) } else { local(url) }
}

fn check_branch(field: &str, branch: &str) -> Result<(), CoreError> {
    if git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
        Ok(())
    } else {
        Err(CoreError::invalid(field, format!("`{}` is not a valid Git branch name (no spaces, `..`, `~`, `^`, `:`, `\\`, or trailing `/` or `.lock`)", shown(branch))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The request examples of docs/request-report.md (the JSON blocks before "## Report").
    fn documented_examples() -> Vec<String> {
        let doc = include_str!("../../docs/request-report.md");
        let requests = doc.split("## Report").next().unwrap();
        requests.split("```json").skip(1).map(|block| block.split("```").next().unwrap().to_string()).collect()
    }

    #[test]
    fn documented_examples_parse_with_camel_case_names() {
        let examples = documented_examples();
        assert_eq!(examples.len(), 4);
        for json in &examples {
            serde_json::from_str::<Request>(json).unwrap_or_else(|e| panic!("{e}: {json}"));
        }
        let drill: Request = serde_json::from_str(&examples[3]).unwrap();
        assert!(drill.job == Job::Drill && drill.restore.fail_on_drift);
        drill.validate().unwrap();
        let flows: Request = serde_json::from_str(&examples[0]).unwrap();
        assert!(matches!(
            &flows.sources[0].namespaces,
            NamespaceSelector::One { namespace, include_children: true } if namespace == "ansible"
        ));
    }

    #[test]
    fn a_restore_reads_the_backup_as_written() {
        let json = r#"{"job": "restore", "kestra": {"url": "http://k"}, "git": {"url": "https://git.example/x.git"},
            "sources": [{"kind": "flows", "namespaces": {"one": {"namespace": "a"}}, "gitDirectory": "_flows", "targetNamespace": "b"}]}"#;
        let err = serde_json::from_str::<Request>(json).unwrap().validate().unwrap_err();
        assert!(err.message.starts_with("`sources[0]`") && err.message.contains("targetNamespace"), "{}", err.message);
    }

    #[test]
    fn remotes_and_branches_are_checked_before_any_connection() {
        let request = |git: &str| {
            let json = format!(r#"{{"kestra": {{"url": "http://k"}}, "git": {git}, "sources": [{{"kind": "flows", "namespaces": {{"one": {{"namespace": "a"}}}}, "gitDirectory": "f"}}]}}"#);
            serde_json::from_str::<Request>(&json).unwrap().validate()
        };
        let here = env!("CARGO_MANIFEST_DIR");
        for ok in ["https://h/g/r.git", "HTTP://h/r", "ssh://git@h:2222/r.git", "git@h:g/r.git", "h:r", "git://h/r", here, &format!("file://{here}")] {
            request(&format!(r#"{{"url": "{ok}"}}"#)).unwrap_or_else(|e| panic!("{ok}: {}", e.message));
        }
        for (git, field, says) in [
            (r#"{"url": "ftp://h/r"}"#, "`git.url`", "unsupported scheme `ftp`; use https://"),
            (r#"{"url": "/no/such/repo.git"}"#, "`git.url`", "nor an existing local repository"),
            (r#"{"url": "file:///no/such/repo.git"}"#, "`git.url`", "nor an existing local repository"),
            (r#"{"url": "https://h/r", "branch": "main..x"}"#, "`git.branch`", "`main..x` is not a valid Git branch name"),
            (r#"{"url": "https://h/r", "branch": "my branch"}"#, "`git.branch`", "not a valid Git branch name"),
            (r#"{"url": "https://h/r", "mirrors": [{"url": "ftps://m/r"}]}"#, "`git.mirrors[0].url`", "unsupported scheme `ftps`"),
            (r#"{"url": "https://h/r", "mirrors": [{"url": "https://m/r", "branch": "x~1"}]}"#, "`git.mirrors[0].branch`", "not a valid"),
        ] {
            let err = request(git).unwrap_err();
            assert_eq!(err.code, crate::ErrorCode::InvalidConfig);
            assert!(err.message.starts_with(field) && err.message.contains(says), "{git}: {}", err.message);
        }
    }

    #[test]
    fn snake_case_field_names_are_refused() {
        let json = r#"{"git": {"url": "x"}, "sources": [{"kind": "flows", "namespaces": {"one": {"namespace": "a", "include_children": true}}, "gitDirectory": "f"}]}"#;
        let err = serde_json::from_str::<Request>(json).unwrap_err().to_string();
        assert!(err.contains("include_children") && err.contains("includeChildren"), "{err}");
    }
}
