//! Kestra's own flow validation (`POST flows/validate`, one multipart part per flow, in batches):
//! the flows a restore would write are checked by the server that will load them, so a flow
//! Kestra cannot load (a plugin gone, a property renamed) is found before anything is written.

use crate::error::{CoreError, ErrorCode};
use crate::export::KestraClient;
use crate::progress::Log;
use reqwest::blocking::multipart::{Form, Part};
use serde::Deserialize;

/// Flows per request: bounds the request size on large instances.
const BATCH: usize = 200;

/// One answer row of Kestra's validation (`ValidateConstraintViolation`); `constraints` is set
/// when the flow is refused.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Verdict {
    #[serde(default)]
    index: Option<usize>,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    constraints: Option<String>,
}

/// The flows Kestra refuses: (repository path, Kestra's reason).
pub fn refused_flows(client: &KestraClient, flows: &[(String, String)], log: &mut Log) -> Result<Vec<(String, String)>, CoreError> {
    let mut refused = Vec::new();
    for batch in flows.chunks(BATCH) {
        let form = || {
            batch.iter().try_fold(Form::new(), |form, (path, source)| {
                let part = Part::text(source.clone())
                    .file_name(path.clone())
                    .mime_str("application/x-yaml")
                    .map_err(|e| CoreError::new(ErrorCode::Internal, format!("cannot build the validation request: {e}")))?;
                Ok(form.part("flows", part))
            })
        };
        let body = client
            .post_multipart("flows/validate", &[], &form, log)?
            .text()
            .map_err(|e| CoreError::new(ErrorCode::Network, format!("Kestra API flows/validate: {e}")))?;
        let verdicts: Vec<Verdict> = serde_json::from_str(&body)
            .map_err(|e| CoreError::new(ErrorCode::KestraApi, format!("Kestra API flows/validate: unexpected answer: {e}")))?;
        for (position, verdict) in verdicts.into_iter().enumerate() {
            let Some(problem) = verdict.constraints.filter(|c| !c.trim().is_empty()) else { continue };
            let path = verdict
                .filename
                .filter(|name| batch.iter().any(|(path, _)| path == name))
                .or_else(|| batch.get(verdict.index.unwrap_or(position)).map(|(path, _)| path.clone()))
                .unwrap_or_else(|| format!("flow #{}", verdict.index.unwrap_or(position)));
            refused.push((path, problem.trim().replace('\n', " ")));
        }
    }
    log.info(format!("Kestra validated {} flow(s) of the backup: {} refused", flows.len(), refused.len()));
    Ok(refused)
}
