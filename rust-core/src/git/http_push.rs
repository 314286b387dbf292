//! A push over HTTPS in one request: the branch update and a thin pack (`thin_pack.rs`) POSTed to
//! `git-receive-pack`, on a connection kept for the process. libgit2's push first asks for the
//! receive-pack advertisement (a request, and a `git receive-pack` run on the server), then opens
//! a second connection for the pack, which holds every changed tree whole. Here the branch's old
//! value comes from the listing this run made moments before; if the branch moved since, the
//! server refuses the update ("failed to update ref") and the caller fetches and plans again, as
//! after any lost race.
//!
//! Only a definite answer of the server counts: the report says the ref was updated, or why not.
//! Anything else (a status other than 200, a redirect, no report, a broken connection, a pack the
//! server could not complete) returns `None` and the caller pushes with libgit2, which has its own
//! retries and error texts; a server that took the update before the answer was lost makes that
//! push a no-op. A server that could not unpack a thin pack is not sent one again by this process.

use super::thin_pack;
use super::transport::has_scheme;
use crate::http_clients::{self, ClientKey};
use crate::progress::Log;
use crate::request::GitConfig;
use git2::{Oid, Repository};
use once_cell::sync::Lazy;
use std::collections::HashSet;
use std::io::Read;
use std::sync::Mutex;

/// The remotes (URLs) that failed to unpack a thin pack, or whose certificate only libgit2's
/// check accepts, in this process.
static NO_THIN: Lazy<Mutex<HashSet<String>>> = Lazy::new(|| Mutex::new(HashSet::new()));

/// What the server reported for the branch.
pub enum Answer {
    Updated { bytes: u64 },
    /// `ng <ref> <reason>`, with what the server printed on the side band.
    Refused { reason: String, said: String, bytes: u64 },
}

/// Pushes `commit` to `refname`, which the remote had at `old` (zero: absent), with the objects
/// the commits since `have` add (None: since the root): `None` when this way does not apply or
/// gave no definite answer (see the module's comment).
pub fn push(repo: &Repository, config: &GitConfig, commit: Oid, old: Oid, have: Option<Oid>, refname: &str, log: &mut Log) -> Option<Answer> {
    let url = config.url.trim_end_matches('/');
    // Over plain HTTP credentials go only to a server that asks (a 401): libgit2 does that dance.
    let credentials = config.username.as_ref().zip(config.password.as_ref());
    if !(has_scheme(url, "https://") || (has_scheme(url, "http://") && credentials.is_none()))
        || NO_THIN.lock().unwrap_or_else(|p| p.into_inner()).contains(url)
    {
        return None;
    }
    let pack = match thin_pack::build(repo, commit, have) {
        Ok(Some(pack)) => pack,
        Ok(None) => return None,
        Err(e) => {
            log.debug(format!("No thin pack ({}); pushing with libgit2", e.message()));
            return None;
        }
    };
    let agent = concat!("agent=kestra-git-backup/", env!("CARGO_PKG_VERSION"));
    let mut body = pkt_line(format!("{old} {commit} {refname}\0report-status side-band-64k {agent}\n").as_bytes());
    body.extend_from_slice(b"0000");
    body.extend_from_slice(&pack.bytes);
    let bytes = body.len() as u64;

    let client = match client(config) {
        Ok(client) => client,
        Err(e) => {
            log.debug(format!("No HTTP client for the push ({}); pushing with libgit2", e.message));
            return None;
        }
    };
    let mut request = client
        .post(format!("{url}/git-receive-pack"))
        .header("Content-Type", "application/x-git-receive-pack-request")
        .header("Accept", "application/x-git-receive-pack-result")
        .body(body);
    if let Some((user, password)) = credentials {
        request = request.basic_auth(user, Some(password.expose()));
    }
    let answer = request.send().map_err(|e| Failure::Broken(e.without_url())).and_then(|response| {
        let status = response.status();
        let kind = response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        if status != reqwest::StatusCode::OK || kind != "application/x-git-receive-pack-result" {
            return Err(Failure::Other(format!("HTTP {status}, {kind:?}")));
        }
        let mut text = Vec::new();
        response.take(MAX_ANSWER).read_to_end(&mut text).map_err(|e| Failure::Other(e.to_string()))?;
        Ok(text)
    });
    let report = match answer.and_then(|text| Report::parse(&text).map_err(Failure::Other)) {
        Ok(report) => report,
        // libgit2's connections trust this server (the listing passed), but HTTP clients check
        // certificates their own way (an intermediate CA in `trustedCaPemPath` is a trust anchor
        // for libgit2's check, not for this client's): libgit2 pushes, for this process's tasks.
        Err(Failure::Broken(e)) => {
            let why = http_clients::describe(&e);
            if why.to_lowercase().contains("certificate") {
                log.debug(format!("The one-request push did not trust the server ({why}); pushing with libgit2 from now on"));
                NO_THIN.lock().unwrap_or_else(|p| p.into_inner()).insert(url.to_string());
            } else {
                log.warn(format!("Push to {} broke off ({why}); pushing again with libgit2 on a new connection", super::display_url(url)));
            }
            return None;
        }
        Err(Failure::Other(why)) => {
            log.debug(format!("The one-request push got no report ({why}); pushing with libgit2"));
            return None;
        }
    };
    if report.unpack != "ok" {
        log.debug(format!("The server could not unpack the thin pack ({}); pushing with libgit2 from now on", report.unpack));
        NO_THIN.lock().unwrap_or_else(|p| p.into_inner()).insert(url.to_string());
        return None;
    }
    log.debug(format!("Sent {} objects in one request ({} as deltas, {bytes} bytes)", pack.objects, pack.deltas));
    match report.refs.iter().find(|(name, _)| name == refname) {
        Some((_, None)) => Some(Answer::Updated { bytes }),
        Some((_, Some(reason))) => Some(Answer::Refused { reason: reason.clone(), said: report.said, bytes }),
        None => None,
    }
}

/// Why a push in one request gave no report.
enum Failure {
    /// The request did not get through (connection refused, reset, timed out).
    Broken(reqwest::Error),
    Other(String),
}

/// Answers read at most: a report is a few lines, the side band's progress a few KiB.
const MAX_ANSWER: u64 = 1 << 20;

/// The process's client for this remote: its trust (the worker's CA bundle and the task's
/// `trustedCaPemPath`, both in the key), proxy and timeouts; no credentials.
fn client(config: &GitConfig) -> Result<reqwest::blocking::Client, crate::error::CoreError> {
    let mut pem = config.trusted_ca_pem.clone().unwrap_or_default();
    if let Some(path) = &config.trusted_ca_pem_path {
        pem.push('\n');
        pem.push_str(&std::fs::read_to_string(path)?);
    }
    let pem = Some(pem.as_str()).filter(|p| !p.trim().is_empty());
    let key = ClientKey::new(&config.url, pem, config.connect_timeout_ms, config.read_timeout_ms).for_git(config.proxy.as_deref().filter(|p| !p.trim().is_empty()));
    http_clients::client(&key, pem)
}

fn pkt_line(payload: &[u8]) -> Vec<u8> {
    let mut out = format!("{:04x}", payload.len() + 4).into_bytes();
    out.extend_from_slice(payload);
    out
}

/// `report-status` of `receive-pack`, out of the side band.
#[derive(Debug)]
struct Report {
    /// "ok" or the reason the pack was not taken.
    unpack: String,
    /// Each ref and, when refused, why.
    refs: Vec<(String, Option<String>)>,
    /// What the server printed on the side band's progress channel.
    said: String,
}

impl Report {
    fn parse(answer: &[u8]) -> Result<Report, String> {
        let mut status = Vec::new();
        let mut said = super::server_text::ServerText::default();
        for packet in packets(answer)? {
            match packet.split_first() {
                Some((1, data)) => status.extend_from_slice(data),
                Some((2, data)) => said.push(data),
                Some((3, data)) => return Err(format!("the server failed: {}", String::from_utf8_lossy(data).trim())),
                _ => return Err("not a side band".into()),
            }
        }
        let mut lines = packets(&status)?.into_iter().map(|p| String::from_utf8_lossy(p).trim_end().to_string());
        let unpack = lines.next().and_then(|l| l.strip_prefix("unpack ").map(str::to_string)).ok_or("no unpack status")?;
        let refs = lines
            .filter_map(|l| {
                let (verdict, rest) = l.split_once(' ')?;
                let (name, reason) = rest.split_once(' ').map_or((rest, None), |(n, r)| (n, Some(r.to_string())));
                match verdict {
                    "ok" => Some((name.to_string(), None)),
                    "ng" => Some((name.to_string(), Some(reason.unwrap_or_default()))),
                    _ => None,
                }
            })
            .collect();
        Ok(Report { unpack, refs, said: said.text() })
    }
}

/// The payloads of a pkt-line stream, up to its end or first flush.
fn packets(mut data: &[u8]) -> Result<Vec<&[u8]>, String> {
    let mut out = Vec::new();
    while data.len() >= 4 {
        let len = std::str::from_utf8(&data[..4]).ok().and_then(|h| usize::from_str_radix(h, 16).ok()).ok_or("not a pkt-line")?;
        if len == 0 {
            break;
        }
        if len < 4 || len > data.len() {
            return Err("a cut pkt-line".into());
        }
        out.push(&data[4..len]);
        data = &data[len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side_band(band: u8, payload: &[u8]) -> Vec<u8> {
        let mut inner = vec![band];
        inner.extend_from_slice(payload);
        pkt_line(&inner)
    }

    #[test]
    fn a_report_in_the_side_band_gives_each_ref_s_verdict_and_what_the_server_said() {
        let status: Vec<u8> = [pkt_line(b"unpack ok\n"), pkt_line(b"ok refs/heads/main\n"), pkt_line(b"ng refs/tags/v1 pre-receive hook declined\n"), b"0000".to_vec()].concat();
        let answer = [side_band(2, b"remote: tags are protected\n"), side_band(1, &status), b"0000".to_vec()].concat();
        let report = Report::parse(&answer).unwrap();
        assert_eq!(report.unpack, "ok");
        assert_eq!(report.refs, vec![("refs/heads/main".to_string(), None), ("refs/tags/v1".to_string(), Some("pre-receive hook declined".to_string()))]);
        assert!(report.said.contains("tags are protected"), "{}", report.said);
    }

    #[test]
    fn anything_but_a_report_is_no_answer() {
        assert!(Report::parse(b"<html>proxy error</html>").is_err());
        assert!(Report::parse(&side_band(3, b"fatal: out of disk")).unwrap_err().contains("out of disk"));
        assert!(Report::parse(&[side_band(1, b"00"), b"0000".to_vec()].concat()).is_err(), "a cut report");
        let unpack_failed = [side_band(1, &[pkt_line(b"unpack index-pack failed\n"), b"0000".to_vec()].concat()), b"0000".to_vec()].concat();
        assert_eq!(Report::parse(&unpack_failed).unwrap().unpack, "index-pack failed");
    }
}
