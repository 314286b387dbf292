//! Reads the two top-level keys of a flow source the export needs (`id`, `namespace`; in Kestra
//! 2.0 `draft` is revision metadata, never part of the source).
//! Nearly every flow starts with plain `id: x` / `namespace: y` lines, so those are read line by
//! line (only unindented `key: value` lines count, quotes and comments removed); a source written
//! another way (quoted keys, block scalars, a flow mapping, an anchor) goes through the YAML parser,
//! so that no valid flow is left out of a backup for the way it is written.

use serde_yaml_ng::Value;

pub struct FlowHeader {
    pub id: Option<String>,
    pub namespace: Option<String>,
}

pub fn read(source: &str) -> FlowHeader {
    let header = read_lines(source);
    if header.id.as_deref().is_some_and(is_name) && header.namespace.as_deref().is_some_and(is_name) {
        return header;
    }
    parsed(source).unwrap_or(FlowHeader { id: header.id.filter(|v| is_name(v)), namespace: header.namespace.filter(|v| is_name(v)) })
}

/// The characters Kestra allows in flow ids and namespaces: anything else on a plain line is YAML
/// syntax (`|`, `&anchor`, `!tag`, `{`) that the line reader does not understand.
fn is_name(value: &str) -> bool {
    !value.is_empty() && value.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn read_lines(source: &str) -> FlowHeader {
    let mut header = FlowHeader { id: None, namespace: None };
    for line in source.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        if key.starts_with([' ', '\t', '-', '#']) {
            continue;
        }
        let value = scalar(value);
        match key.trim_end() {
            "id" if header.id.is_none() => header.id = Some(value),
            "namespace" if header.namespace.is_none() => header.namespace = Some(value),
            _ => {}
        }
    }
    header
}

/// The header as Kestra's own YAML parser sees it; `None` when the source is not a YAML mapping.
fn parsed(source: &str) -> Option<FlowHeader> {
    let Ok(Value::Mapping(top)) = serde_yaml_ng::from_str::<Value>(source) else { return None };
    let text = |key: &str| match top.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    Some(FlowHeader { id: text("id"), namespace: text("namespace") })
}

/// A plain or quoted YAML scalar on one line, without a trailing comment.
fn scalar(raw: &str) -> String {
    let v = raw.trim();
    for q in ['"', '\''] {
        if let Some(rest) = v.strip_prefix(q)
            && let Some(end) = rest.find(q)
        {
            return rest[..end].to_string();
        }
    }
    match v.find(" #") {
        Some(i) => v[..i].trim_end().to_string(),
        None => v.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::read;

    fn fields(source: &str) -> (Option<String>, Option<String>) {
        let h = read(source);
        (h.id, h.namespace)
    }

    fn some(id: &str, namespace: &str) -> (Option<String>, Option<String>) {
        (Some(id.to_string()), Some(namespace.to_string()))
    }

    #[test]
    fn reads_top_level_keys_only() {
        let src = "# c\nid: \"hello\"\nnamespace: company.team # main\ntasks:\n  - id: t1\n    namespace: other\n";
        assert_eq!(fields(src), some("hello", "company.team"));
        assert_eq!(fields("id: 'x'\r\nnamespace: n\r\n"), some("x", "n"));
    }

    #[test]
    fn sources_written_another_way_go_through_the_yaml_parser() {
        assert_eq!(fields("\"id\": quoted_key\n'namespace': team\ntasks: []\n"), some("quoted_key", "team"));
        assert_eq!(fields("id: >-\n  folded\nnamespace: team\n"), some("folded", "team"));
        assert_eq!(fields("{id: inline, namespace: team, tasks: []}\n"), some("inline", "team"));
        assert_eq!(fields("id: 2024\nnamespace: &ns team\n"), some("2024", "team"));
    }

    #[test]
    fn an_unparsable_source_keeps_only_plain_names() {
        assert_eq!(fields("id: ok\nnamespace: [unclosed\n"), (Some("ok".to_string()), None));
    }
}
