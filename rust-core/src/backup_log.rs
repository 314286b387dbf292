//! The backup commits of a branch, newest first, with what each one changed: how a user finds the
//! `ref` to restore (the CLI's `log`). Optionally only the commits that changed one flow
//! (`namespace/id`, placed by the request's layout) or a path prefix.

use crate::error::CoreError;
use crate::git::Workspace;
use crate::progress::Log;
use crate::request::{Request, SourceKind};
use crate::snapshot::Snapshot;
use serde::Serialize;

#[derive(Debug, Default, Clone)]
pub struct Filter {
    /// `namespace/id` of a flow.
    pub flow: Option<String>,
    /// A repository path, or a directory of it.
    pub path: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub commit: String,
    /// Committer date, RFC 3339 UTC.
    pub date: String,
    pub author: String,
    pub message: String,
    pub added: usize,
    pub modified: usize,
    pub deleted: usize,
    /// With a filter: the matching paths this commit changed, as `A path`, `M path`, `D path`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub matched: Vec<String>,
}

/// Up to `limit` entries (0: no limit) of `request`'s branch that match `filter`.
pub fn entries(request: &Request, filter: &Filter, limit: usize, log: &mut Log) -> Result<Vec<Entry>, CoreError> {
    let layout = Snapshot::new(&request.sources)?;
    if let Some(flow) = &filter.flow
        && !flow.contains('/')
    {
        return Err(CoreError::invalid("--flow", format!("`{}` is not `namespace/id`, e.g. `company.team/etl`", crate::error::shown(flow))));
    }
    let mut ws = Workspace::open(&request.git, log)?;
    if ws.branch_missing() {
        return Err(CoreError::invalid("git.branch", format!("`{}` does not exist on the remote: there are no backups", request.git.branch)));
    }
    let mut out = Vec::new();
    let mut next = ws.tip();
    while let Some(commit) = next {
        if limit > 0 && out.len() >= limit {
            break;
        }
        let parent = ws.first_parent(commit, log)?;
        let changes = ws.changed_paths(commit, parent)?;
        let filtered = filter.flow.is_some() || filter.path.is_some();
        let matched: Vec<String> = if filtered {
            changes.iter().filter(|(_, path)| matches(filter, &layout, path)).map(|(status, path)| format!("{status} {path}")).collect()
        } else {
            Vec::new()
        };
        if !filtered || !matched.is_empty() {
            let info = ws.commit_info(commit)?;
            let count = |s: char| changes.iter().filter(|(status, _)| *status == s).count();
            out.push(Entry {
                commit: info.commit,
                date: info.date,
                author: ws.author(commit)?,
                message: info.message,
                added: count('A'),
                modified: count('M'),
                deleted: count('D'),
                matched,
            });
        }
        next = parent;
    }
    Ok(out)
}

fn matches(filter: &Filter, layout: &Snapshot, path: &str) -> bool {
    let by_path = filter.path.as_deref().is_none_or(|p| {
        let p = p.trim_matches('/');
        path == p || path.starts_with(&format!("{p}/"))
    });
    let by_flow = filter.flow.as_deref().is_none_or(|wanted| match layout.place(path) {
        Some((SourceKind::Flows, namespace, relative)) => {
            wanted == format!("{namespace}/{}", crate::snapshot::flow_id(&relative))
        }
        _ => false,
    });
    by_path && by_flow
}
