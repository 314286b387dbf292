//! The process's HTTP clients for the Kestra API (and the Git pushes of `git/http_push.rs`), one
//! per (base URL, trusted CA bundle, timeouts, proxy):
//! a worker JVM runs many tasks against the same Kestra, and building a client (its TLS context
//! with the worker's CA bundle, its runtime thread) and opening connections cost more than the
//! API calls of a small task. A kept client holds no credentials (they go on each request) and no
//! per-task trust: the CA bundle's hash is part of the key, so another bundle gets another client.

use crate::error::{CoreError, ErrorCode};
use once_cell::sync::Lazy;
use reqwest::blocking::Client;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// Clients kept at most; past that the map starts over (one worker talks to one or two Kestras).
const MAX_CLIENTS: usize = 16;
/// Idle pooled connections are closed after this, before a server's own idle timeout does it.
const POOL_IDLE: Duration = Duration::from_secs(30);

/// What makes two requests' clients interchangeable.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct ClientKey {
    pub base: String,
    /// SHA-256 of the extra trusted CA bundle; None without one.
    pub trust: Option<[u8; 32]>,
    pub connect_timeout_ms: u64,
    pub read_timeout_ms: u64,
    /// Git pushes: through this proxy (none otherwise, as libgit2), redirects not followed.
    pub git_proxy: Option<Option<String>>,
}

impl ClientKey {
    pub fn new(base: &str, trusted_ca_pem: Option<&str>, connect_timeout_ms: u64, read_timeout_ms: u64) -> Self {
        let trust = trusted_ca_pem.filter(|p| !p.trim().is_empty()).map(|pem| Sha256::digest(pem.as_bytes()).into());
        ClientKey { base: base.to_string(), trust, connect_timeout_ms, read_timeout_ms, git_proxy: None }
    }

    /// The client of Git pushes to `base`: through `proxy` when given, and redirects answered as
    /// they are (a redirected POST would lose its body).
    pub fn for_git(mut self, proxy: Option<&str>) -> Self {
        self.git_proxy = Some(proxy.map(str::to_string));
        self
    }
}

static CLIENTS: Lazy<Mutex<HashMap<ClientKey, Client>>> = Lazy::new(|| Mutex::new(HashMap::new()));

/// The client for `key`, built (trusting the system roots and `trusted_ca_pem`) on first use.
/// `reqwest`'s client is a handle: the copy shares the connection pool.
pub fn client(key: &ClientKey, trusted_ca_pem: Option<&str>) -> Result<Client, CoreError> {
    client_in(&CLIENTS, key, trusted_ca_pem)
}

fn client_in(clients: &Mutex<HashMap<ClientKey, Client>>, key: &ClientKey, trusted_ca_pem: Option<&str>) -> Result<Client, CoreError> {
    let mut clients = clients.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(client) = clients.get(key) {
        return Ok(client.clone());
    }
    let client = build(key, trusted_ca_pem)?;
    if clients.len() >= MAX_CLIENTS {
        clients.clear();
    }
    clients.insert(key.clone(), client.clone());
    Ok(client)
}

/// The error and its sources in one line (reqwest's own text is only "error sending request").
pub fn describe(e: &reqwest::Error) -> String {
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

fn build(key: &ClientKey, trusted_ca_pem: Option<&str>) -> Result<Client, CoreError> {
    let mut builder = Client::builder()
        .connect_timeout(Duration::from_millis(key.connect_timeout_ms))
        .timeout(Duration::from_millis(key.read_timeout_ms))
        .pool_idle_timeout(POOL_IDLE)
        .user_agent(concat!("kestra-git-backup/", env!("CARGO_PKG_VERSION")));
    builder = match &key.git_proxy {
        // The environment's proxy variables must not silently reroute the API calls.
        None | Some(None) => builder.no_proxy(),
        Some(Some(url)) => builder.proxy(reqwest::Proxy::all(url).map_err(|e| CoreError::invalid("git.proxy", format!("not a proxy URL: {e}")))?),
    };
    if key.git_proxy.is_some() {
        builder = builder.redirect(reqwest::redirect::Policy::none());
    }
    if let Some(pem) = trusted_ca_pem.filter(|p| !p.trim().is_empty()) {
        for cert in reqwest::Certificate::from_pem_bundle(pem.as_bytes())
            .map_err(|e| CoreError::invalid("kestra.trustedCaPem", format!("not a PEM bundle: {e}")))?
        {
            builder = builder.add_root_certificate(cert);
        }
    }
    builder.build().map_err(|e| CoreError::new(ErrorCode::Internal, format!("cannot build the HTTP client: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEM_A: &str = "-----BEGIN CERTIFICATE-----\nA\n-----END CERTIFICATE-----\n";
    const PEM_B: &str = "-----BEGIN CERTIFICATE-----\nB\n-----END CERTIFICATE-----\n";

    #[test]
    fn the_key_holds_the_bundle_s_hash_never_its_text_and_tells_bundles_apart() {
        let a = ClientKey::new("https://k", Some(PEM_A), 1, 2);
        assert_eq!(a, ClientKey::new("https://k", Some(PEM_A), 1, 2));
        assert_ne!(a, ClientKey::new("https://k", Some(PEM_B), 1, 2));
        assert_ne!(a, ClientKey::new("https://k", None, 1, 2));
        assert_ne!(a, ClientKey::new("https://other", Some(PEM_A), 1, 2));
        assert_ne!(a, ClientKey::new("https://k", Some(PEM_A), 1, 3));
        assert_eq!(ClientKey::new("https://k", Some("  \n"), 1, 2), ClientKey::new("https://k", None, 1, 2));
        assert!(!format!("{a:?}").contains("BEGIN CERTIFICATE"));
    }

    #[test]
    fn one_client_per_key_reused_and_another_for_another_bundle() {
        let clients = Mutex::new(HashMap::new());
        let kept = || clients.lock().unwrap().len();
        // Without a bundle, then the same key again: one client.
        let plain = ClientKey::new("http://k", None, 1000, 2000);
        client_in(&clients, &plain, None).unwrap();
        client_in(&clients, &plain, None).unwrap();
        assert_eq!(kept(), 1);
        // A bundle that does not parse gets no client (and no entry), and says which field.
        let bad = ClientKey::new("http://k", Some(PEM_A), 1000, 2000);
        let err = client_in(&clients, &bad, Some(PEM_A)).unwrap_err();
        assert!(err.message.contains("`kestra.trustedCaPem`"), "{}", err.message);
        assert_eq!(kept(), 1);
        for n in 0..MAX_CLIENTS {
            client_in(&clients, &ClientKey::new(&format!("http://k{n}"), None, 1000, 2000), None).unwrap();
        }
        assert!(kept() <= MAX_CLIENTS, "the map stays bounded: {}", kept());
    }
}
