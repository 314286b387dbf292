//! The Kestra instance's identity as it reports it: `GET /api/v1/configs` (instance-wide, no
//! tenant) answers the instance's `uuid`, kept in Kestra's settings, and its `version`. A backup
//! names it in its manifest so a restore can tell which instance a backup came from.
//!
//! An older server without the endpoint, or one that refuses it, gives no identity: the backup
//! goes on with a warning (the manifest then has no `id`), since the flows themselves are readable.

use crate::error::{CoreError, ErrorCode};
use crate::progress::Log;
use serde::Deserialize;

use super::KestraClient;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Kestra's instance `uuid`.
    pub id: Option<String>,
    pub version: Option<String>,
}

#[derive(Deserialize)]
struct Configs {
    uuid: Option<String>,
    version: Option<String>,
}

/// The identity Kestra reports; empty, with a warning, when the endpoint is missing or refused.
/// A server that cannot be reached at all is an error (the export would fail the same way).
pub fn fetch(client: &KestraClient, log: &mut Log) -> Result<Identity, CoreError> {
    let answer = client.get_instance("configs", log).and_then(|resp| {
        let body = resp.text().map_err(|e| CoreError::new(ErrorCode::Network, format!("Kestra API configs: {e}")))?;
        serde_json::from_str::<Configs>(&body).map_err(|e| CoreError::new(ErrorCode::KestraApi, format!("Kestra API configs: unexpected answer: {e}")))
    });
    match answer {
        Ok(configs) => {
            if configs.uuid.is_none() {
                log.warn("Kestra API configs answered no instance `uuid`: the manifest names no instance id");
            }
            Ok(Identity { id: configs.uuid.filter(|u| !u.trim().is_empty()), version: configs.version })
        }
        Err(e) if matches!(e.code, ErrorCode::KestraApi | ErrorCode::Auth) => {
            log.warn(format!(
                "The instance's identity could not be read ({}); the manifest names no instance id, so a restore cannot check \
                 that a backup comes from this instance; check that `kestra.url` is the server's root and that the credentials \
                 may read `/api/v1/configs`",
                e.message
            ));
            Ok(Identity::default())
        }
        Err(e) => Err(e),
    }
}
