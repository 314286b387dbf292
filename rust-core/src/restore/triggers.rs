//! The trigger-state step of a restore and a drill (`docs/trigger-state.md`): the on/off state
//! the backup recorded for the selected flows, against the trigger states Kestra holds now. A
//! restore sets each trigger that differs, after the flows are written; a drill and a dry run
//! only report them. Triggers of flows the restore does not select are never touched. A recorded
//! trigger Kestra has no state for (a flow just written: Kestra's scheduler registers its triggers
//! in its own time) is named in the log, to be applied by running the restore again. Kestra 1.x
//! has no call that sets a trigger's state and answers once applied: there a drill and a dry run
//! report as on 2.0, and a restore fails, after the flows are written, when a trigger differs.

use crate::error::{CoreError, ErrorCode};
use crate::export::triggers::{self, TriggerKey};
use crate::export::KestraClient;
use crate::progress::Log;
use crate::report::TriggerDriftRow;
use crate::request::SourceKind;
use crate::snapshot::trigger_state::TriggerLayout;
use crate::snapshot::{flow_id, BackupFile, TipTree};
use std::collections::BTreeSet;

/// What the step found, and how many triggers it set (0 unless `write`).
#[derive(Default)]
pub struct Outcome {
    pub drift: Vec<TriggerDriftRow>,
    pub set: usize,
}

/// Compares the recorded state of the flows of `files` (the selection) with Kestra's and, with
/// `write`, sets every trigger that differs to the recorded state. No `layout` (the request has no
/// `triggerState`): nothing is read or written.
pub fn step(client: &KestraClient, layout: Option<&TriggerLayout>, backup: &dyn TipTree, files: &[BackupFile], write: bool, log: &mut Log) -> Result<Outcome, CoreError> {
    let Some(layout) = layout else { return Ok(Outcome::default()) };
    let flows: BTreeSet<(&str, &str)> = files
        .iter()
        .filter(|f| f.kind == SourceKind::Flows && f.backup.is_some())
        .map(|f| (f.namespace.as_str(), flow_id(&f.relative)))
        .collect();
    let recorded = layout.recorded(backup, &|namespace, flow| flows.contains(&(namespace, flow)))?;
    if recorded.is_empty() {
        return Ok(Outcome::default());
    }
    let kestra = triggers::disabled_flags(client, layout.search_root(), log)?;
    let mut differing: Vec<(&TriggerKey, bool)> = Vec::new();
    let mut absent: Vec<String> = Vec::new();
    for (key, &disabled) in &recorded {
        match kestra.disabled.get(key) {
            Some(&now) if now != disabled => differing.push((key, disabled)),
            Some(_) => {}
            None => absent.push(key.to_string()),
        }
    }
    if !absent.is_empty() {
        log.warn(format!(
            "{} trigger(s) recorded in the backup have no state in Kestra (yet: Kestra's scheduler registers the triggers of a flow once it is written); \
             run the restore again to apply their state: {}",
            absent.len(),
            crate::export::join_names(&absent)
        ));
    }
    let drift = differing
        .iter()
        .map(|(key, disabled)| TriggerDriftRow { trigger: key.to_string(), backup: on_off(*disabled), kestra: on_off(!*disabled) })
        .collect();
    log.info(format!("Trigger state: {} of the {} trigger(s) recorded differ from Kestra", differing.len(), recorded.len()));
    if !write {
        return Ok(Outcome { drift, set: 0 });
    }
    if kestra.kestra_1x && !differing.is_empty() {
        return Err(CoreError::new(
            ErrorCode::KestraApi,
            format!(
                "the flows and files were restored, but this Kestra (1.x triggers API) cannot have trigger state set by the restore; \
                 {} trigger(s) differ from the backup: {}. Switch them in Kestra's UI, or restore with `includeTriggerState: false` (no `triggerState`)",
                differing.len(),
                crate::export::join_names(&differing.iter().map(|(key, disabled)| format!("{key}: {} in the backup", on_off(*disabled))).collect::<Vec<_>>())
            ),
        ));
    }
    for (key, disabled) in &differing {
        triggers::set_disabled(client, key, *disabled, log)?;
        log.info(format!("  trigger `{key}` {}", if *disabled { "disabled" } else { "enabled" }));
    }
    Ok(Outcome { drift, set: differing.len() })
}

fn on_off(disabled: bool) -> &'static str {
    if disabled { "disabled" } else { "enabled" }
}
