//! Reads the few top-level keys of a flow source the export needs (`id`, `namespace`, `draft`)
//! without a YAML parser: only unindented `key: value` lines count, quotes and comments removed.

pub struct FlowHeader {
    pub id: Option<String>,
    pub namespace: Option<String>,
    pub draft: bool,
}

pub fn read(source: &str) -> FlowHeader {
    let mut header = FlowHeader { id: None, namespace: None, draft: false };
    for line in source.lines() {
        let Some((key, value)) = line.split_once(':') else { continue };
        if key.starts_with([' ', '\t', '-', '#']) {
            continue;
        }
        let value = scalar(value);
        match key.trim_end() {
            "id" if header.id.is_none() => header.id = Some(value),
            "namespace" if header.namespace.is_none() => header.namespace = Some(value),
            "draft" => header.draft = value == "true",
            _ => {}
        }
    }
    header
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

    #[test]
    fn reads_top_level_keys_only() {
        let h = read("# c\nid: \"hello\"\nnamespace: company.team # main\ntasks:\n  - id: t1\n    namespace: other\ndraft: true\n");
        assert_eq!(h.id.as_deref(), Some("hello"));
        assert_eq!(h.namespace.as_deref(), Some("company.team"));
        assert!(h.draft);
        let h = read("id: 'x'\r\nnamespace: n\r\n");
        assert_eq!((h.id.as_deref(), h.namespace.as_deref(), h.draft), (Some("x"), Some("n"), false));
    }
}
