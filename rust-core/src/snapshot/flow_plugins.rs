//! The plugin types one flow uses, for the manifest's plugin inventory: the `type` of every task,
//! trigger, task runner, condition and other plugin object the flow holds, at any depth (tasks of
//! flowable tasks, `errors`, `finally`, `afterExecution`, `triggers`, a task's `taskRunner`).
//! Inputs and outputs (`type: STRING`, ...) and `pluginDefaults` (types the flow may never use)
//! are left out; a `type` counts only when it reads as a qualified class name, so a retry's
//! `type: constant` or an SLA's `type: MAX_DURATION` is not a plugin.

use serde_yaml_ng::Value;
use std::collections::BTreeSet;

/// The top-level keys of a flow that hold plugin objects.
const PLUGIN_KEYS: [&str; 5] = ["tasks", "errors", "finally", "afterExecution", "triggers"];

/// The plugin types of a flow source, sorted, each once; empty for a source that does not parse.
pub fn types(source: &str) -> Vec<String> {
    let Ok(Value::Mapping(top)) = serde_yaml_ng::from_str::<Value>(source) else { return Vec::new() };
    let mut found = BTreeSet::new();
    let mut stack: Vec<&Value> = PLUGIN_KEYS.iter().filter_map(|key| top.get(*key)).collect();
    while let Some(node) = stack.pop() {
        match node {
            Value::Mapping(map) => {
                if let Some(t) = map.get("type").and_then(Value::as_str).filter(|t| is_class_name(t)) {
                    found.insert(t.to_string());
                }
                stack.extend(map.values());
            }
            Value::Sequence(items) => stack.extend(items.iter()),
            Value::Tagged(tagged) => stack.push(&tagged.value),
            _ => {}
        }
    }
    found.into_iter().collect()
}

/// `a.b.C`: two or more dot-separated Java identifiers (Kestra's plugin types and their aliases).
fn is_class_name(text: &str) -> bool {
    let mut parts = 0;
    for part in text.split('.') {
        let mut chars = part.chars();
        let starts = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$');
        if !starts || !chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$') {
            return false;
        }
        parts += 1;
    }
    parts >= 2
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_at_any_depth_without_inputs_outputs_or_plugin_defaults() {
        let flow = r#"
id: etl
namespace: company
inputs:
  - id: day
    type: STRING
tasks:
  - id: each
    type: io.kestra.plugin.core.flow.ForEach
    values: [1, 2]
    tasks:
      - id: py
        type: io.kestra.plugin.scripts.python.Script
        taskRunner:
          type: io.kestra.plugin.scripts.runner.docker.Docker
        retry:
          type: constant
          interval: PT1M
  - id: when
    type: io.kestra.plugin.core.flow.If
    condition: "{{ true }}"
    then:
      - id: log
        type: io.kestra.plugin.core.log.Log
        message: hi
errors:
  - id: alert
    type: io.kestra.plugin.notifications.slack.SlackIncomingWebhook
finally:
  - id: clean
    type: io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles
afterExecution:
  - id: after
    type: io.kestra.plugin.core.log.Log
triggers:
  - id: daily
    type: io.kestra.plugin.core.trigger.Schedule
    cron: "0 9 * * *"
    conditions:
      - type: io.kestra.plugin.core.condition.DayWeekCondition
        dayOfWeek: MONDAY
outputs:
  - id: out
    type: STRING
    value: x
pluginDefaults:
  - type: io.kestra.plugin.aws.s3.Upload
    values: {region: eu-west-1}
sla:
  - id: late
    type: MAX_DURATION
"#;
        assert_eq!(
            types(flow),
            [
                "io.kestra.plugin.core.condition.DayWeekCondition",
                "io.kestra.plugin.core.flow.ForEach",
                "io.kestra.plugin.core.flow.If",
                "io.kestra.plugin.core.log.Log",
                "io.kestra.plugin.core.storage.PurgeCurrentExecutionFiles",
                "io.kestra.plugin.core.trigger.Schedule",
                "io.kestra.plugin.notifications.slack.SlackIncomingWebhook",
                "io.kestra.plugin.scripts.python.Script",
                "io.kestra.plugin.scripts.runner.docker.Docker",
            ]
        );
    }

    #[test]
    fn expressions_and_unparsable_sources_give_no_type() {
        assert!(types("id: x\nnamespace: y\ntasks:\n  - id: t\n    type: \"{{ vars.t }}\"\n").is_empty());
        assert!(types("id: [unclosed").is_empty());
        assert!(!is_class_name("MAX_DURATION") && !is_class_name("a..b") && !is_class_name("1a.b") && is_class_name("io.kestra.Log"));
    }
}
