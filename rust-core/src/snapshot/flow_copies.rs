//! Copies of flows under `_flows/` in a namespace-file directory of the backup. Kestra's
//! namespace-file export bundled them there (`export::bundled_flows`), and earlier versions of
//! this backup stored them as files. They are not namespace files: a backup removes them (one
//! commit, outside the deletion guard's count, since they left the export by design and not
//! through an outage), and a restore or drill leaves them out.

use super::layout::{Snapshot, SourceState};
use super::TipTree;
use crate::error::CoreError;
use crate::export::bundled_flows::is_bundled_flow;
use crate::request::SourceKind;

impl SourceState {
    /// Whether `repo_path` (under this source's directory) is a flow copy in a namespace's `_flows/`.
    pub(super) fn is_flow_copy(&self, repo_path: &str) -> bool {
        if self.kind != SourceKind::NamespaceFiles {
            return false;
        }
        let root = self.root_of(repo_path);
        let relative = if root.is_empty() { repo_path } else { repo_path.get(root.len() + 1..).unwrap_or("") };
        is_bundled_flow(relative)
    }
}

impl Snapshot {
    /// The flow copies the branch tip holds in the namespace-file directories, sorted.
    pub fn flow_copies_in_backup(&self, tip: &dyn TipTree) -> Result<Vec<String>, CoreError> {
        let mut copies = Vec::new();
        for source in self.sources.iter().filter(|s| s.kind == SourceKind::NamespaceFiles) {
            copies.extend(tip.files_under(&source.dir)?.into_iter().map(|f| f.path).filter(|p| source.is_flow_copy(p)));
        }
        copies.sort();
        Ok(copies)
    }
}
