//! Trigger state through Kestra 2.0's triggers API: whether each flow trigger is disabled at run
//! time (a flag of the trigger's state, kept apart from the flow's source; kestra-io/kestra#19672).
//! Reading: `GET triggers/search`, paged, `filters[namespace][PREFIX]` (the namespace and its
//! children); Kestra answers `{results: [{trigger, state}], total}` and leaves out the states of
//! flows that are gone. Writing: `PUT triggers/set-disabled` with
//! `{namespace, flowId, triggerId, disabled}`, which Kestra answers once its scheduler applied it
//! (the bulk endpoints answer before, 202).

use super::KestraClient;
use crate::error::{CoreError, ErrorCode};
use crate::progress::Log;
use serde::Deserialize;
use std::collections::BTreeMap;

/// Triggers asked per page.
const PAGE_SIZE: usize = 100;

/// A flow trigger, named as Kestra names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TriggerKey {
    pub namespace: String,
    pub flow_id: String,
    pub trigger_id: String,
}

impl std::fmt::Display for TriggerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}/{}", self.namespace, self.flow_id, self.trigger_id)
    }
}

#[derive(Deserialize)]
struct Page {
    results: Vec<Entry>,
    total: u64,
}

#[derive(Deserialize)]
struct Entry {
    state: State,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    namespace: String,
    flow_id: String,
    trigger_id: String,
    #[serde(default)]
    disabled: bool,
}

/// Every trigger state Kestra holds in the tree of `root` (`""`: every namespace): trigger →
/// disabled.
pub fn disabled_flags(client: &KestraClient, root: &str, log: &mut Log) -> Result<BTreeMap<TriggerKey, bool>, CoreError> {
    let mut out = BTreeMap::new();
    let size = PAGE_SIZE.to_string();
    for page in 1.. {
        let number = page.to_string();
        let mut query = vec![("page", number.as_str()), ("size", size.as_str())];
        if !root.is_empty() {
            query.push(("filters[namespace][PREFIX]", root));
        }
        let body = client
            .get("triggers/search", &query, log)?
            .text()
            .map_err(|e| CoreError::new(ErrorCode::Network, format!("Kestra API triggers/search: {e}")))?;
        let answer: Page = serde_json::from_str(&body).map_err(|e| {
            CoreError::new(
                ErrorCode::KestraApi,
                format!("Kestra API triggers/search: unexpected answer ({e}); trigger state needs Kestra 2.0's triggers API, or turn trigger state off"),
            )
        })?;
        let last = answer.results.is_empty() || (page * PAGE_SIZE) as u64 >= answer.total;
        for entry in answer.results {
            let s = entry.state;
            out.insert(TriggerKey { namespace: s.namespace, flow_id: s.flow_id, trigger_id: s.trigger_id }, s.disabled);
        }
        if last {
            break;
        }
    }
    Ok(out)
}

/// Sets one trigger on (`disabled: false`) or off, and waits for Kestra to apply it.
pub fn set_disabled(client: &KestraClient, trigger: &TriggerKey, disabled: bool, log: &mut Log) -> Result<(), CoreError> {
    let body = serde_json::json!({
        "namespace": trigger.namespace,
        "flowId": trigger.flow_id,
        "triggerId": trigger.trigger_id,
        "disabled": disabled,
    });
    client.put_json("triggers/set-disabled", &body, log).map(drop).map_err(|e| CoreError {
        message: format!("trigger `{trigger}` could not be {}: {}", if disabled { "disabled" } else { "enabled" }, e.message),
        ..e
    })
}
