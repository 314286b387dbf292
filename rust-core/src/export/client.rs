//! The HTTP client for one Kestra server: base URL and tenant, basic or bearer auth, timeouts,
//! and the retry policy. Only transient failures are retried (connect errors, timeouts, HTTP 5xx
//! and 429, honouring `Retry-After`), with jittered, capped exponential backoff; a log line says
//! how many tries are left. Auth failures and other 4xx are never retried; POSTs (validation,
//! restore writes) are retried only when the connection could not be made. Writes answer once
//! Kestra applied the whole batch, so they have their own, longer timeout.

use crate::error::{CoreError, ErrorCode};
use crate::progress::Log;
use crate::request::{KestraAuth, KestraConfig};
use reqwest::StatusCode;
use reqwest::blocking::multipart::Form;
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::time::Duration;

const BACKOFF_BASE: Duration = Duration::from_millis(500);
const BACKOFF_CAP: Duration = Duration::from_secs(8);
const RETRY_AFTER_CAP: Duration = Duration::from_secs(30);

/// What a call is, which decides its retries and timeout: a read retries every transient
/// failure; a check (validation) or a write only a failed connection (after a timeout or a 5xx,
/// Kestra may have applied the write); a write waits `writeTimeoutMs`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Call {
    Read,
    Check,
    Write,
}

pub struct KestraClient {
    http: Client,
    base: String,
    tenant: String,
    auth: Option<KestraAuth>,
    max_retries: u32,
    write_timeout: Duration,
    /// The server's system-flows namespace (`kestra.systemFlowsNamespace`).
    pub system_flows_namespace: String,
    /// Injectable so tests do not wait.
    pub(crate) sleep: fn(Duration),
}

impl KestraClient {
    pub fn new(config: &KestraConfig) -> Result<Self, CoreError> {
        let base = config.url.trim().trim_end_matches('/').to_string();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(CoreError::invalid("kestra.url", format!("`{base}` is not an http(s) URL; use e.g. http://localhost:8080")));
        }
        let key = crate::http_clients::ClientKey::new(&base, config.trusted_ca_pem.as_deref(), config.connect_timeout_ms, config.read_timeout_ms);
        let http = crate::http_clients::client(&key, config.trusted_ca_pem.as_deref())?;
        Ok(KestraClient {
            http,
            base,
            tenant: config.tenant.clone(),
            auth: config.auth.clone(),
            max_retries: config.max_retries,
            write_timeout: Duration::from_millis(config.write_timeout_ms),
            system_flows_namespace: config.system_flows_namespace.clone(),
            sleep: std::thread::sleep,
        })
    }

    /// `<base>/api/v1/<tenant>/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/api/v1/{}/{}", self.base, self.tenant, path.trim_start_matches('/'))
    }

    /// `<base>/api/v1/<path>`: the few endpoints Kestra serves for the whole instance, without a
    /// tenant (`configs`, `plugins`).
    pub fn instance_url(&self, path: &str) -> String {
        format!("{}/api/v1/{}", self.base, path.trim_start_matches('/'))
    }

    /// GET with the retry policy; the response is a success (2xx) or an error naming the cause.
    pub fn get(&self, path: &str, query: &[(&str, &str)], log: &mut Log) -> Result<Response, CoreError> {
        self.get_url(path, &self.url(path), query, log)
    }

    /// GET of an instance-wide endpoint (`instance_url`), with the same retries and auth as `get`.
    pub fn get_instance(&self, path: &str, log: &mut Log) -> Result<Response, CoreError> {
        self.get_url(path, &self.instance_url(path), &[], log)
    }

    fn get_url(&self, path: &str, url: &str, query: &[(&str, &str)], log: &mut Log) -> Result<Response, CoreError> {
        self.send(path, Call::Read, log, &|| Ok(self.http.get(url).query(query)))
    }

    /// Every item of a paged Kestra search answering `{results, total}`: page 1 (Kestra's first)
    /// says how many items there are, then the other pages of `page_size` up to `total` are asked
    /// for a few at a time (`fan_out`), until an empty page. A short page is not taken as the
    /// last: Kestra leaves items out of a page after paging (states of gone flows in 2.0's trigger
    /// search). `unexpected` words an answer that does not parse.
    pub fn get_all_pages<T: DeserializeOwned + Send>(
        &self,
        path: &str,
        query: &[(&str, &str)],
        page_size: usize,
        unexpected: &(dyn Fn(String) -> CoreError + Sync),
        log: &mut Log,
    ) -> Result<Vec<T>, CoreError> {
        #[derive(Deserialize)]
        struct Page<T> {
            results: Vec<T>,
            total: usize,
        }
        let size = page_size.to_string();
        let page = |page: &usize, log: &mut Log| -> Result<Page<T>, CoreError> {
            let number = page.to_string();
            let mut paged = vec![("page", number.as_str()), ("size", size.as_str())];
            paged.extend_from_slice(query);
            let body = self.get(path, &paged, log)?.text().map_err(|e| CoreError::new(ErrorCode::Network, format!("Kestra API {path}: {e}")))?;
            serde_json::from_str(&body).map_err(|e| unexpected(e.to_string()))
        };
        let first = page(&1, log)?;
        let pages = if first.results.is_empty() { 1 } else { first.total.div_ceil(page_size) };
        let rest: Vec<usize> = (2..=pages).collect();
        let mut items = first.results;
        // A few pages at a time, so that an empty page still ends the listing early whatever
        // `total` claimed.
        for batch in rest.chunks(crate::fan_out::WORKERS) {
            let answers = crate::fan_out::each(batch, log, page)?;
            let ended = answers.iter().any(|answer| answer.results.is_empty());
            items.extend(answers.into_iter().flat_map(|answer| answer.results));
            if ended {
                break;
            }
        }
        Ok(items)
    }

    /// POST of a JSON body that only reads (an export by ids): retried like a GET.
    pub fn post_json_read(&self, path: &str, body: &serde_json::Value, log: &mut Log) -> Result<Response, CoreError> {
        let url = self.url(path);
        self.send(path, Call::Read, log, &|| Ok(self.http.post(&url).json(body)))
    }

    /// POST of a multipart form that changes nothing in Kestra (validation), built again for each try.
    pub fn post_multipart(&self, path: &str, query: &[(&str, &str)], form: &dyn Fn() -> Result<Form, CoreError>, log: &mut Log) -> Result<Response, CoreError> {
        self.post(path, Call::Check, query, form, log)
    }

    /// POST of a multipart form that writes to Kestra (import, upload), with the write timeout;
    /// retried only when the connection could not be made, so Kestra never receives it twice.
    pub fn write_multipart(&self, path: &str, query: &[(&str, &str)], form: &dyn Fn() -> Result<Form, CoreError>, log: &mut Log) -> Result<Response, CoreError> {
        self.post(path, Call::Write, query, form, log)
    }

    /// PUT of a JSON body that changes Kestra (a trigger's state); see `put`.
    pub fn put_json(&self, path: &str, body: &serde_json::Value, log: &mut Log) -> Result<Response, CoreError> {
        self.put(path, "application/json", body.to_string(), &[], log)
    }

    /// PUT of a body that changes Kestra (a trigger's state, a KV entry), with extra headers and
    /// the write timeout; retried only when the connection could not be made.
    pub fn put(&self, path: &str, content_type: &str, body: String, headers: &[(&str, String)], log: &mut Log) -> Result<Response, CoreError> {
        let url = self.url(path);
        self.send(path, Call::Write, log, &|| {
            let mut request = self.http.put(&url).header(reqwest::header::CONTENT_TYPE, content_type).body(body.clone()).timeout(self.write_timeout);
            for (name, value) in headers {
                request = request.header(*name, value);
            }
            Ok(request)
        })
    }

    fn post(&self, path: &str, call: Call, query: &[(&str, &str)], form: &dyn Fn() -> Result<Form, CoreError>, log: &mut Log) -> Result<Response, CoreError> {
        let url = self.url(path);
        self.send(path, call, log, &|| {
            let request = self.http.post(&url).query(query).multipart(form()?);
            Ok(if call == Call::Write { request.timeout(self.write_timeout) } else { request })
        })
    }

    fn send(&self, path: &str, call: Call, log: &mut Log, build: &dyn Fn() -> Result<RequestBuilder, CoreError>) -> Result<Response, CoreError> {
        let mut attempt = 0;
        loop {
            let request = match &self.auth {
                Some(KestraAuth::Basic { username, password }) => build()?.basic_auth(username, Some(password.expose())),
                Some(KestraAuth::Bearer { token }) => build()?.bearer_auth(token.expose()),
                None => build()?,
            };
            let (retry_after, why) = match request.send() {
                Ok(resp) if resp.status().is_success() => return Ok(resp),
                Ok(resp) if call == Call::Read && is_transient(resp.status()) => (retry_after(&resp), format!("HTTP {}", resp.status().as_u16())),
                Ok(resp) => return Err(self.http_error(path, resp)),
                // An untrusted certificate is not transient: no retry, and said as such.
                Err(e) if is_certificate_error(&e) => return Err(self.transport_error(path, &e)),
                Err(e) if e.is_connect() || (call == Call::Read && e.is_timeout()) => (None, crate::http_clients::describe(&e)),
                Err(e) if call == Call::Write && e.is_timeout() => {
                    return Err(CoreError::new(
                        ErrorCode::Network,
                        format!(
                            "Kestra API {path} did not answer within {} ms (`kestra.writeTimeoutMs`): Kestra may still be applying this batch; \
                             run the restore again to complete it (a restore only adds what is missing)",
                            self.write_timeout.as_millis()
                        ),
                    ));
                }
                Err(e) => return Err(self.transport_error(path, &e)),
            };
            if attempt >= self.max_retries {
                return Err(CoreError::new(
                    ErrorCode::Network,
                    format!("Kestra API {path} failed after {} tries: {why}; check that `kestra.url` ({}) is reachable from the worker", attempt + 1, self.base),
                ));
            }
            let delay = retry_after.unwrap_or_else(|| crate::retry::backoff(attempt, BACKOFF_BASE, BACKOFF_CAP));
            attempt += 1;
            log.warn(format!("Kestra API {path}: {why}; retrying in {} ms (try {} of {})", delay.as_millis(), attempt + 1, self.max_retries + 1));
            (self.sleep)(delay);
        }
    }

    fn http_error(&self, path: &str, resp: Response) -> CoreError {
        let status = resp.status();
        let message = kestra_message(resp);
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let (tried, fix) = match &self.auth {
                Some(KestraAuth::Basic { username, .. }) => (format!("tried HTTP basic as `{username}`"), "check `auth.username`/`auth.password`"),
                // Only Enterprise and Cloud issue API tokens: on OSS a token can never work.
                Some(KestraAuth::Bearer { .. }) => (
                    "tried a bearer token (`auth.apiToken`)".to_string(),
                    "Kestra OSS has no API tokens (they are Enterprise/Cloud only), so on OSS use basic auth, `auth.username`/`auth.password`; \
                     on Enterprise/Cloud check the token and its rights",
                ),
                None => ("no credentials were configured".to_string(), "set `auth.username`/`auth.password` (basic auth)"),
            };
            return CoreError::new(
                ErrorCode::Auth,
                format!(
                    "Kestra API {path} answered {} ({tried}){message}; {fix}, or configure kestra.tasks.sdk.authentication for `auth.auto`",
                    status.as_u16()
                ),
            );
        }
        let hint = if status == StatusCode::NOT_FOUND { "; check `kestra.url` (a reverse proxy or base path?) and `kestra.tenant`" } else { "" };
        CoreError::new(ErrorCode::KestraApi, format!("Kestra API {path} answered {}{message}{hint}", status.as_u16()))
    }

    fn transport_error(&self, path: &str, e: &reqwest::Error) -> CoreError {
        let text = crate::http_clients::describe(e);
        if is_certificate_error(e) || text.contains("tls") || text.contains("TLS") {
            return CoreError::new(
                ErrorCode::Tls,
                format!("Kestra API {path} at {}: {text}; the server's certificate must chain to a CA of `kestra.trustedCaPem` (the Java tasks: the worker JVM's trust store)", self.base),
            );
        }
        CoreError::new(ErrorCode::Network, format!("Kestra API {path} at {}: {text}", self.base))
    }
}

fn is_certificate_error(e: &reqwest::Error) -> bool {
    crate::http_clients::describe(e).to_lowercase().contains("certificate")
}

fn is_transient(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}

/// `Retry-After` in seconds (HTTP dates are rare on APIs and fall back to backoff), capped.
fn retry_after(resp: &Response) -> Option<Duration> {
    let secs: u64 = resp.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()?;
    Some(Duration::from_secs(secs).min(RETRY_AFTER_CAP))
}

/// Kestra's own error text (`{"message": ...}`), as `: <text>`, or nothing.
fn kestra_message(resp: Response) -> String {
    let body = resp.text().unwrap_or_default();
    let text = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_string))
        .unwrap_or_else(|| body.chars().take(300).collect());
    if text.trim().is_empty() { String::new() } else { format!(": {}", text.trim()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_statuses() {
        assert!(is_transient(StatusCode::SERVICE_UNAVAILABLE) && is_transient(StatusCode::TOO_MANY_REQUESTS));
        assert!(!is_transient(StatusCode::UNAUTHORIZED) && !is_transient(StatusCode::BAD_REQUEST) && !is_transient(StatusCode::NOT_FOUND));
    }

    #[test]
    fn urls_and_config_checks() {
        let cfg: KestraConfig = serde_json::from_value(serde_json::json!({"url": "http://k:8080/"})).unwrap();
        let c = KestraClient::new(&cfg).unwrap();
        assert_eq!(c.url("/flows/export/by-query"), "http://k:8080/api/v1/main/flows/export/by-query");
        assert_eq!(c.instance_url("configs"), "http://k:8080/api/v1/configs");
        let bad: KestraConfig = serde_json::from_value(serde_json::json!({"url": "ftp://k"})).unwrap();
        assert!(KestraClient::new(&bad).err().unwrap().message.contains("`kestra.url`"));
    }
}
