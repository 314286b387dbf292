//! The plugin types installed in Kestra (`GET /api/v1/plugins`, instance-wide): every class of
//! every plugin's element lists (tasks, triggers, conditions, task runners, ...) and the aliases
//! Kestra still accepts for renamed types. A restore needs every type its flows use among them.

use super::KestraClient;
use crate::error::{CoreError, ErrorCode};
use crate::progress::Log;
use std::collections::BTreeSet;

/// Every type Kestra can load, by class name or alias.
pub fn installed_types(client: &KestraClient, log: &mut Log) -> Result<BTreeSet<String>, CoreError> {
    let body = client.get_instance("plugins", log)?.text().map_err(|e| CoreError::new(ErrorCode::Network, format!("Kestra API plugins: {e}")))?;
    parse(&body)
}

/// The types of a `plugins` answer: an array of plugins, each with arrays of `{cls, ...}` per kind
/// of element and `aliases`, an array of names.
fn parse(body: &str) -> Result<BTreeSet<String>, CoreError> {
    let plugins: Vec<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(body)
        .map_err(|e| CoreError::new(ErrorCode::KestraApi, format!("Kestra API plugins answered something else than a list of plugins: {e}")))?;
    let mut types = BTreeSet::new();
    for plugin in &plugins {
        for (field, value) in plugin {
            let Some(items) = value.as_array() else { continue };
            for item in items {
                match (field.as_str(), item) {
                    ("aliases", serde_json::Value::String(alias)) => {
                        types.insert(alias.clone());
                    }
                    (_, serde_json::Value::Object(element)) => {
                        types.extend(element.get("cls").and_then(|c| c.as_str()).map(str::to_string));
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(types)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_element_class_and_alias_counts_categories_and_guides_do_not() {
        let body = r#"[{"name": "core", "group": "io.kestra.plugin.core", "guides": ["a guide"], "aliases": ["io.kestra.core.tasks.log.Log"],
            "tasks": [{"cls": "io.kestra.plugin.core.log.Log", "deprecated": null}], "triggers": [{"cls": "io.kestra.plugin.core.trigger.Schedule"}],
            "taskRunners": [{"cls": "io.kestra.plugin.core.runner.Process"}], "categories": ["CORE"], "manifest": {"X-Kestra-Version": "2.0.0"}}]"#;
        let types = parse(body).unwrap();
        let expected: BTreeSet<String> = ["io.kestra.core.tasks.log.Log", "io.kestra.plugin.core.log.Log", "io.kestra.plugin.core.runner.Process", "io.kestra.plugin.core.trigger.Schedule"]
            .into_iter()
            .map(str::to_string)
            .collect();
        assert_eq!(types, expected);
        assert_eq!(parse(r#"{"message": "x"}"#).unwrap_err().code, ErrorCode::KestraApi);
    }
}
