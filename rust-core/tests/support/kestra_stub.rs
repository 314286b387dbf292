//! A Kestra API stub serving Kestra 2.0's formats for the endpoints the core calls, from an
//! in-memory model tests change between runs. Unit-level proof only: the end-to-end suite runs
//! a real Kestra.
//!
//! - `GET /api/v1/{tenant}/flows/export/by-query[?filters[namespace][EQUALS|STARTS_WITH]=..]`:
//!   ZIP of `<namespace>.<id>.yml` sources, each with the server's `revision:` line.
//! - `GET /api/v1/{tenant}/flows/distinct-namespaces`: JSON array of namespaces with flows.
//! - `GET /api/v1/{tenant}/namespaces/{ns}/files/export`: ZIP of the namespace's files.
//! Basic auth is required; a wrong one gets 401 `{"message": ...}` like Kestra.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Model {
    /// (namespace, id) → (source without revision, draft)
    pub flows: BTreeMap<(String, String), (String, bool)>,
    /// (namespace, path) → bytes
    pub files: BTreeMap<(String, String), Vec<u8>>,
    /// Answer the next N requests with this status.
    pub fail_next: (usize, u16),
}

pub struct KestraStub {
    pub url: String,
    pub user: String,
    pub password: String,
    pub model: Arc<Mutex<Model>>,
    requests: Arc<AtomicUsize>,
}

impl KestraStub {
    pub fn start() -> KestraStub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let model = Arc::new(Mutex::new(Model::default()));
        let requests = Arc::new(AtomicUsize::new(0));
        let auth = format!("Basic {}", b64("admin@kestra.io:kestra-Pass1"));
        let (m, r) = (model.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (m, r, auth) = (m.clone(), r.clone(), auth.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &m, &r, &auth);
                });
            }
        });
        KestraStub { url, user: "admin@kestra.io".into(), password: "kestra-Pass1".into(), model, requests }
    }

    pub fn set_flow(&self, ns: &str, id: &str, source: &str) {
        self.model.lock().unwrap().flows.insert((ns.into(), id.into()), (source.into(), false));
    }
    pub fn set_draft(&self, ns: &str, id: &str, source: &str) {
        self.model.lock().unwrap().flows.insert((ns.into(), id.into()), (source.into(), true));
    }
    pub fn delete_flow(&self, ns: &str, id: &str) {
        self.model.lock().unwrap().flows.remove(&(ns.to_string(), id.to_string()));
    }
    pub fn put_file(&self, ns: &str, path: &str, bytes: &[u8]) {
        self.model.lock().unwrap().files.insert((ns.into(), path.into()), bytes.to_vec());
    }
    pub fn delete_file(&self, ns: &str, path: &str) {
        self.model.lock().unwrap().files.remove(&(ns.to_string(), path.to_string()));
    }
    pub fn fail_next(&self, n: usize, status: u16) {
        self.model.lock().unwrap().fail_next = (n, status);
    }
    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, model: &Mutex<Model>, requests: &AtomicUsize, auth: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let target = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut authorized = false;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            authorized |= k.eq_ignore_ascii_case("authorization") && v.trim() == auth;
        }
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let (status, content_type, body) = answer(&target, authorized, model);
    let mut out = stream;
    write!(out, "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
    out.write_all(&body)?;
    out.flush()
}

fn answer(target: &str, authorized: bool, model: &Mutex<Model>) -> (u16, &'static str, Vec<u8>) {
    let mut m = model.lock().unwrap();
    if m.fail_next.0 > 0 {
        m.fail_next.0 -= 1;
        return (m.fail_next.1, "application/json", br#"{"message":"Service temporarily unavailable"}"#.to_vec());
    }
    if !authorized {
        return (401, "application/json", br#"{"message":"Unauthorized: bad credentials"}"#.to_vec());
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match parts.as_slice() {
        ["api", "v1", _tenant, "flows", "export", "by-query"] => {
            let filter = query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (decode(k), decode(v))).next();
            let selected = m.flows.iter().filter(|((ns, _), (_, _))| match &filter {
                Some((k, v)) if k.ends_with("[EQUALS]") => ns == v,
                Some((k, v)) if k.ends_with("[STARTS_WITH]") => ns.starts_with(v.as_str()),
                _ => true,
            });
            let entries = selected.map(|((ns, id), (src, draft))| {
                let mut s = src.clone();
                if *draft {
                    s.push_str("draft: true\n");
                }
                s.push_str("revision: 4\n");
                (format!("{ns}.{id}.yml"), s.into_bytes())
            });
            (200, "application/octet-stream", zip(entries))
        }
        ["api", "v1", _tenant, "flows", "distinct-namespaces"] => {
            // Like Kestra: the namespaces that hold flows.
            let mut names: Vec<&String> = m.flows.keys().map(|(ns, _)| ns).collect();
            names.dedup();
            (200, "application/json", serde_json::to_vec(&names).unwrap())
        }
        ["api", "v1", _tenant, "namespaces", ns, "files", "export"] => {
            let ns = decode(ns);
            let entries = m.files.iter().filter(|((n, _), _)| *n == ns).map(|((_, p), b)| (p.clone(), b.clone()));
            (200, "application/octet-stream", zip(entries))
        }
        _ => (404, "application/json", br#"{"message":"Not Found"}"#.to_vec()),
    }
}

fn zip(entries: impl Iterator<Item = (String, Vec<u8>)>) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in entries {
        w.start_file(name, options).unwrap();
        w.write_all(&bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned()
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
