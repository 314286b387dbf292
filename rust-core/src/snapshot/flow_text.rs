//! Flow source rules (plugin-git §8.3): the server-side `revision:` line is removed, and with a
//! target namespace the `namespace:` lines are rewritten. Nothing else changes: no YAML
//! re-serialisation, CRLF kept.

/// Removes every line that starts at column 0 with `revision:`, optional spaces, digits.
pub fn strip_revision(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    for line in source.split_inclusive('\n') {
        if !is_revision_line(line) {
            out.push_str(line);
        }
    }
    out
}

fn is_revision_line(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("revision:") else { return false };
    let rest = rest.trim_start_matches(' ');
    let digits = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    digits > 0 && rest[digits..].trim_end_matches(['\r', '\n']).trim_end().is_empty()
}

/// Rewrites `namespace: <from>` and `namespace: <from>.<child>` values to `<to>` / `<to>.<child>`
/// on any line (task properties such as a Subflow's `namespace:` included, as plugin-git does),
/// but never a sibling such as `development` for `dev`.
pub fn rewrite_namespace(source: &str, from: &str, to: &str) -> String {
    if from == to {
        return source.to_string();
    }
    let mut out = String::with_capacity(source.len());
    for line in source.split_inclusive('\n') {
        out.push_str(&rewrite_line(line, from, to).unwrap_or_else(|| line.to_string()));
    }
    out
}

fn rewrite_line(line: &str, from: &str, to: &str) -> Option<String> {
    let indent = line.len() - line.trim_start().len();
    let after_key = line[indent..].strip_prefix("namespace:")?;
    let spaces = after_key.len() - after_key.trim_start_matches([' ', '\t']).len();
    let value_start = indent + "namespace:".len() + spaces;
    let value = &line[value_start..];
    let quote = value.chars().next().filter(|c| *c == '"' || *c == '\'');
    let name_start = value_start + quote.map_or(0, |_| 1);
    let rest = line[name_start..].strip_prefix(from)?;
    // What follows the namespace must end it: a child separator, a quote, a comment or the line end.
    let boundary = rest.chars().next().is_none_or(|c| c == '.' || c == '"' || c == '\'' || c.is_whitespace() || c == '#');
    boundary.then(|| format!("{}{}{}", &line[..name_start], to, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_revision_lines_only_at_column_zero() {
        let src = "id: a\r\nrevision: 12\r\nnamespace: x\n  revision: 3\nrevision:4\nrevision: v2\n";
        assert_eq!(strip_revision(src), "id: a\r\nnamespace: x\n  revision: 3\nrevision: v2\n");
        assert_eq!(strip_revision("id: a\nrevision: 7"), "id: a\n");
    }

    #[test]
    fn rewrites_exact_and_child_namespaces_not_siblings() {
        let src = "id: a\nnamespace: dev\ntasks:\n  - id: s\n    namespace: \"dev.team\"\n    namespace: development\n    namespace: dev # c\n";
        assert_eq!(
            rewrite_namespace(src, "dev", "prod"),
            "id: a\nnamespace: prod\ntasks:\n  - id: s\n    namespace: \"prod.team\"\n    namespace: development\n    namespace: prod # c\n"
        );
    }

    #[test]
    fn same_namespace_changes_nothing() {
        let src = "namespace: a\r\n";
        assert_eq!(rewrite_namespace(src, "a", "a"), src);
        assert_eq!(rewrite_namespace(src, "a", "b"), "namespace: b\r\n");
    }
}
