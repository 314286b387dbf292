//! Trigger state through Kestra's triggers API: whether each flow trigger is disabled at run time
//! (a flag of the trigger's state, kept apart from the flow's source; kestra-io/kestra#19672).
//! Reading: `GET triggers/search`, paged, `filters[namespace][PREFIX]` (the namespace and its
//! children). Kestra 2.0 answers `{results: [{trigger, state}], total}` and leaves out the states
//! of flows that are gone; Kestra 1.x answers `{results: [{abstractTrigger, triggerContext}],
//! total}`, with `abstractTrigger` null (or left out) when the flow or its trigger is gone. Each
//! item is read by the shape it has. Writing (2.0 only): `PUT triggers/set-disabled` with
//! `{namespace, flowId, triggerId, disabled}`, which Kestra answers once its scheduler applied it
//! (the bulk endpoints answer before, 202). Kestra 1.x's calls (`PUT triggers`,
//! `POST triggers/set-disabled/by-triggers`) put the change on the scheduler's queue and answer
//! before it is applied, so trigger state is not set on 1.x (`docs/trigger-state.md`).

use super::KestraClient;
use crate::error::{CoreError, ErrorCode};
use crate::progress::Log;
use serde::de::IgnoredAny;
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

/// The trigger states Kestra holds, and which API shape answered.
#[derive(Debug, Default)]
pub struct TriggerStates {
    /// Trigger → disabled.
    pub disabled: BTreeMap<TriggerKey, bool>,
    /// Some item came in Kestra 1.x's shape (`triggerContext`), so the server cannot have trigger
    /// state set by [`set_disabled`].
    pub kestra_1x: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Entry {
    /// Kestra 2.0.
    state: Option<State>,
    /// Kestra 1.x, with `abstractTrigger`, the flow's trigger definition (none: flow or trigger gone).
    trigger_context: Option<State>,
    abstract_trigger: Option<IgnoredAny>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct State {
    namespace: String,
    flow_id: String,
    trigger_id: String,
    /// Kestra 1.x may send `null`.
    #[serde(default)]
    disabled: Option<bool>,
}

/// Every trigger state Kestra holds in the tree of `root` (`""`: every namespace), states of gone
/// flows left out.
pub fn disabled_flags(client: &KestraClient, root: &str, log: &mut Log) -> Result<TriggerStates, CoreError> {
    let mut out = TriggerStates::default();
    let query: Vec<(&str, &str)> = if root.is_empty() { Vec::new() } else { vec![("filters[namespace][PREFIX]", root)] };
    let entries: Vec<Entry> = client.get_all_pages("triggers/search", &query, PAGE_SIZE, &|e| unexpected(&e), log)?;
    for entry in entries {
        let state = match entry {
            Entry { state: Some(state), .. } => state,
            Entry { trigger_context: Some(context), abstract_trigger, .. } => {
                out.kestra_1x = true;
                if abstract_trigger.is_none() {
                    continue;
                }
                context
            }
            _ => return Err(unexpected("an item has neither `state` (Kestra 2.0) nor `triggerContext` (Kestra 1.x)")),
        };
        let key = TriggerKey { namespace: state.namespace, flow_id: state.flow_id, trigger_id: state.trigger_id };
        out.disabled.insert(key, state.disabled.unwrap_or(false));
    }
    Ok(out)
}

/// An answer to read trigger state from neither Kestra 2.0 nor 1.x gives: nothing is recorded, so
/// no recorded file is deleted.
fn unexpected(what: &str) -> CoreError {
    CoreError::new(
        ErrorCode::KestraApi,
        format!(
            "Kestra API triggers/search: unexpected answer ({what}); trigger state needs the triggers API of Kestra 2.0 or 1.x, \
             or turn trigger state off (`includeTriggerState: false`)"
        ),
    )
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
