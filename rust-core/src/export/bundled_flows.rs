//! `_flows/`, reserved in namespace files. Kestra's namespace-file export has long appended every
//! flow of the namespace as `_flows/<id>.yml`, and its namespace-file upload imports any such ZIP
//! entry as a flow (namespace rewritten, no validation, whatever the restore's `overwrite`). So a
//! namespace-relative path whose first component is `_flows` is never a namespace file here: the
//! export drops it, a backup that holds one removes it, a restore never sends it.

/// The reserved first path component.
pub const DIR: &str = "_flows";

/// Whether a namespace-relative path (`/`-separated, leading `/` allowed) lies in `_flows/`.
pub fn is_bundled_flow(path: &str) -> bool {
    path.trim_start_matches('/').split('/').next() == Some(DIR) && path.trim_start_matches('/').contains('/')
}

#[cfg(test)]
mod tests {
    use super::is_bundled_flow;

    #[test]
    fn only_the_first_component_counts() {
        assert!(is_bundled_flow("_flows/etl.yml") && is_bundled_flow("/_flows/a/b.yml"));
        assert!(!is_bundled_flow("lib/_flows/etl.yml") && !is_bundled_flow("_flows.yml") && !is_bundled_flow("_flowsx/a.yml"));
        assert!(!is_bundled_flow("_flows"), "a file named `_flows` is not inside the directory");
    }
}
