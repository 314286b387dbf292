//! A Kestra API stub serving Kestra 2.0's formats for the endpoints the core calls, from an
//! in-memory model tests change between runs. Unit-level proof only: the end-to-end suite runs
//! a real Kestra.
//!
//! - `GET /api/v1/configs` (instance-wide, no tenant): `{uuid, version, ...}`, the instance's id a
//!   fixed uuid per stub (`instance_uuid`, settable); 404 when `instance_uuid` is None (an older server).
//! - `GET /api/v1/{tenant}/flows/export/by-query[?filters[namespace][EQUALS|STARTS_WITH]=..]`:
//!   ZIP of `<namespace>-<id>.yml` entries, each the flow's source (its last saved revision).
//! - `GET /api/v1/{tenant}/flows/search?page=..&size=..[&filters[namespace][STARTS_WITH]=..]`:
//!   `PagedResults` of flows without source (`id, namespace, revision, updated, disabled, deleted,
//!   draft`), sorted by namespace and id. A flow's revision rises by one, and its `updated` moves
//!   to now, whenever its source differs from the one the previous search saw (Kestra raises it on
//!   every real change); `edit_flow_silently` changes a source without that (a misbehaving server).
//! - `POST /api/v1/{tenant}/flows/export/by-ids` (JSON `[{namespace, id}]`): ZIP as the export by query.
//! - `GET /api/v1/{tenant}/namespaces/{ns}/files/directory?path=/dir`: Kestra 2.0's `FileAttributes`
//!   of the direct children (`fileName, lastModifiedTime, creationTime, type File|Directory, size,
//!   metadata`); a file's `lastModifiedTime` moves to now when its bytes differ from the previous listing's.
//! - `GET /api/v1/{tenant}/namespaces/{ns}/files?path=/p`: the file's bytes, 404 when absent.
//! - `GET /api/v1/{tenant}/flows/distinct-namespaces`: JSON array of namespaces with flows.
//! - `GET /api/v1/{tenant}/namespaces/{ns}/files/export`: ZIP of the namespace's files, plus, with
//!   `bundle_flows` (Kestra before kestra-io/kestra#18664), each flow of the namespace as `_flows/<id>.yml`.
//! - `POST /api/v1/{tenant}/flows/validate` (multipart `flows` parts): one verdict per part,
//!   `constraints` set when the source contains `INVALID` (the stub's stand-in for a bad flow).
//! - `POST /api/v1/{tenant}/flows/import` (multipart `fileUpload`: a ZIP, or one `.yml` file of
//!   `---`-separated flows): creates or updates each flow; answers the entries it refused (sources
//!   containing `IMPORTFAIL`).
//! - `POST /api/v1/{tenant}/namespaces/{ns}/files?path=..` (multipart `fileContent`): a part named
//!   `*.zip` is unpacked into the namespace, and its `_flows/<id>.yml` entries are imported as flows
//!   of the namespace, as Kestra does; any other part is stored at `path`.
//!
//! - `GET /api/v1/{tenant}/kv?page=&size=[&filters[namespace][STARTS_WITH]=..]`: `PagedResults` of
//!   the entries not expired (`{results: [KVEntry], total}`), sorted by namespace and key.
//! - `GET /api/v1/{tenant}/namespaces/{ns}/kv/{key}`: `{type, value, revision, updated}`, 404 when absent.
//! - `PUT /api/v1/{tenant}/namespaces/{ns}/kv/{key}` (`text/plain` body, `ttl`/`description`
//!   headers): the body read as JSON, else as an unquoted date-time or date, else as a string;
//!   each write adds a revision. `kv_max_body` answers 413 above that size.
//! - `GET /api/v1/{tenant}/triggers/search?page=..&size=..[&filters[namespace][PREFIX]=..]`: one
//!   page of `{results: [{trigger, state}], total}`, results only for triggers whose flow exists
//!   (Kestra leaves the others out of the page but counts them in `total`).
//! - `PUT /api/v1/{tenant}/triggers/set-disabled` (JSON `{namespace, flowId, triggerId, disabled}`):
//!   sets the flag and answers the state; 404 when the flow or the trigger state does not exist.
//! - With `trigger_api` `Kestra1x`, the search answers as Kestra 1.x does,
//!   `{results: [{abstractTrigger, triggerContext}], total}`, every state of the page in it and
//!   `abstractTrigger` null when the flow is gone, and `set-disabled` is not served (404); with
//!   `Unknown`, the results are in neither shape.
//!
//! - `GET /api/v1/plugins` (instance-wide, no tenant): one plugin `core` whose `tasks`,
//!   `triggers` and `taskRunners` list `{cls, deprecated}` for each of `installed` (types whose
//!   class name has `.trigger.` are triggers, `.runner.` task runners) and whose `aliases` are
//!   `aliases`, as Kestra's `Plugin` documents a registered plugin.
//!
//! Writes take `write_delay` (Kestra answers once it applied the batch). With `zip_limits`, the
//! ZIP-bomb protection of Kestra (`kestra.security.zip-bomb-protection`) applies to both uploads:
//! entries are written in order until one is over a limit, then 422 with Kestra's message.
//! Basic auth is required; a wrong one gets 401 `{"message": ...}` like Kestra.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Default)]
pub struct Model {
    /// (namespace, id) → source
    pub flows: BTreeMap<(String, String), String>,
    /// (namespace, path) → bytes
    pub files: BTreeMap<(String, String), Vec<u8>>,
    /// Answer the next N requests with this status.
    pub fail_next: (usize, u16),
    /// The namespace-file export bundles the namespace's flows under `_flows/`.
    pub bundle_flows: bool,
    /// ZIP-bomb protection: (maximum entries per archive, maximum bytes per entry).
    pub zip_limits: Option<(usize, usize)>,
    /// How long a write takes before Kestra answers.
    pub write_delay: std::time::Duration,
    /// Added to the flow search's `total` (a server whose count is off).
    pub flow_total_overstated_by: usize,
    /// Every write received, in order: `import zip <n>`, `import yml <name>`,
    /// `upload zip <ns> <n>`, `upload file <ns> <path>` (n = entries), and `refused 422`.
    pub writes: Vec<String>,
    /// Every entry name of every namespace-file archive received.
    pub uploaded_entries: Vec<String>,
    /// (namespace, key) → entry.
    pub kv: BTreeMap<(String, String), KvEntry>,
    /// Largest KV body accepted (0 = any).
    pub kv_max_body: usize,
    /// Entries readable by key but left out of the listing, as kestra-io/kestra#18506 does to a
    /// key whose `<namespace>_<key>` another namespace's key joins to.
    pub kv_unlisted: BTreeSet<(String, String)>,
    /// Trigger states: (namespace, flow id, trigger id) → disabled.
    pub triggers: BTreeMap<(String, String, String), bool>,
    /// Every `set-disabled` received: `<namespace>/<flow>/<trigger> <disabled>`.
    pub trigger_writes: Vec<String>,
    /// Which Kestra's triggers API the stub serves.
    pub trigger_api: TriggerApi,
    /// Plugin types installed (`GET /api/v1/plugins`); `KestraStub::start` installs `CORE_TYPES`.
    pub installed: Vec<String>,
    /// Old type names Kestra still accepts (a plugin's `aliases`).
    pub aliases: Vec<String>,
    /// The instance's `uuid` in `configs`; None: the endpoint is not served.
    pub instance_uuid: Option<String>,
    /// (namespace, id) → (source the last search saw, revision, updated).
    pub flow_revisions: BTreeMap<(String, String), (String, u64, String)>,
    /// (namespace, path) → (bytes the last listing saw, lastModifiedTime in ms).
    pub file_times: BTreeMap<(String, String), (Vec<u8>, i64)>,
    /// Requests per endpoint: `GET flows/search`, `POST flows/export/by-ids`,
    /// `GET namespaces/{ns}/files/directory`, ...
    pub calls: BTreeMap<String, usize>,
}

impl Model {
    /// Requests received for `endpoint` (as keyed in `calls`).
    pub fn calls(&self, endpoint: &str) -> usize {
        self.calls.get(endpoint).copied().unwrap_or(0)
    }

    /// Each flow's revision and update time, raised for sources changed since the last search.
    fn refresh_flow_revisions(&mut self) {
        let now = now_rfc3339();
        for (key, source) in &self.flows {
            match self.flow_revisions.get_mut(key) {
                Some((seen, revision, updated)) if seen != source => {
                    *seen = source.clone();
                    *revision += 1;
                    *updated = now.clone();
                }
                Some(_) => {}
                None => {
                    self.flow_revisions.insert(key.clone(), (source.clone(), 1, now.clone()));
                }
            }
        }
    }

    /// A file's modification time, moved to now when its bytes changed since the last listing.
    fn file_time(&mut self, ns: &str, path: &str) -> i64 {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
        let bytes = self.files[&(ns.to_string(), path.to_string())].clone();
        let entry = self.file_times.entry((ns.to_string(), path.to_string())).or_insert_with(|| (bytes.clone(), now));
        if entry.0 != bytes {
            *entry = (bytes, now.max(entry.1 + 1));
        }
        entry.1
    }
}

/// The core types the tests' flows use.
pub const CORE_TYPES: [&str; 5] = [
    "io.kestra.plugin.core.log.Log",
    "io.kestra.plugin.core.flow.Subflow",
    "io.kestra.plugin.core.flow.Sleep",
    "io.kestra.plugin.core.trigger.Schedule",
    "io.kestra.plugin.core.runner.Process",
];

#[derive(Default, Clone, Copy, PartialEq, Eq)]
pub enum TriggerApi {
    #[default]
    Kestra20,
    Kestra1x,
    Unknown,
}

#[derive(Clone, Debug)]
pub struct KvEntry {
    pub kind: String,
    pub value: serde_json::Value,
    pub description: Option<String>,
    /// RFC 3339, or None.
    pub expiration_date: Option<String>,
    pub revision: i64,
    pub updated: String,
}

/// What a request carried besides a form: its raw body and the KV headers.
#[derive(Default)]
pub struct Raw {
    pub body: Vec<u8>,
    pub ttl: Option<String>,
    pub description: Option<String>,
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
        // One id per stub, as each Kestra instance has its own.
        let port = listener.local_addr().unwrap().port();
        let model = Arc::new(Mutex::new(Model {
            instance_uuid: Some(format!("6f1c2b9e-0000-4000-8000-{port:012}")),
            installed: CORE_TYPES.iter().map(|t| t.to_string()).collect(),
            ..Model::default()
        }));
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
        self.model.lock().unwrap().flows.insert((ns.into(), id.into()), source.into());
    }
    /// Changes a flow's source without Kestra raising its revision (a server misbehaving).
    pub fn edit_flow_silently(&self, ns: &str, id: &str, source: &str) {
        let mut m = self.model.lock().unwrap();
        let key = (ns.to_string(), id.to_string());
        m.flows.insert(key.clone(), source.into());
        if let Some(seen) = m.flow_revisions.get_mut(&key) {
            seen.0 = source.into();
        }
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
    pub fn set_trigger(&self, ns: &str, flow: &str, trigger: &str, disabled: bool) {
        self.model.lock().unwrap().triggers.insert((ns.into(), flow.into(), trigger.into()), disabled);
    }
    pub fn fail_next(&self, n: usize, status: u16) {
        self.model.lock().unwrap().fail_next = (n, status);
    }
    /// Sets a KV entry as a `PUT` would (the type from the JSON value), with its expiry.
    pub fn put_kv(&self, ns: &str, key: &str, kind: &str, value: serde_json::Value, description: Option<&str>, expiration_date: Option<&str>) {
        let mut m = self.model.lock().unwrap();
        let revision = m.kv.get(&(ns.to_string(), key.to_string())).map_or(1, |e| e.revision + 1);
        let updated = format!("2026-12-01T10:00:{:02}.000Z", revision % 60);
        m.kv.insert((ns.into(), key.into()), KvEntry { kind: kind.into(), value, description: description.map(str::to_string), expiration_date: expiration_date.map(str::to_string), revision, updated });
    }
    pub fn request_count(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

fn serve(stream: TcpStream, model: &Mutex<Model>, requests: &AtomicUsize, auth: &str) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut words = line.split_whitespace();
    let method = words.next().unwrap_or("GET").to_string();
    let target = words.next().unwrap_or("/").to_string();
    let (mut authorized, mut length, mut chunked, mut content_type) = (false, 0usize, false, String::new());
    let mut raw = Raw::default();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.to_ascii_lowercase(), v.trim());
            authorized |= k == "authorization" && v == auth;
            match k.as_str() {
                "content-length" => length = v.parse().unwrap_or(0),
                "transfer-encoding" => chunked = v.eq_ignore_ascii_case("chunked"),
                "content-type" => content_type = v.to_string(),
                "ttl" => raw.ttl = Some(v.to_string()),
                "description" => raw.description = Some(v.to_string()),
                _ => {}
            }
        }
    }
    let body = if chunked { read_chunked(&mut reader)? } else { read_exact(&mut reader, length)? };
    requests.fetch_add(1, Ordering::SeqCst);
    let form = multipart(&content_type, &body);
    raw.body = body;
    let (status, content_type, body) = answer(&method, &target, authorized, &form, &raw, model);
    let mut out = stream;
    write!(out, "HTTP/1.1 {status} X\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len())?;
    out.write_all(&body)?;
    out.flush()
}

fn read_exact(reader: &mut impl Read, length: usize) -> std::io::Result<Vec<u8>> {
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(body)
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> std::io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let mut size = String::new();
        reader.read_line(&mut size)?;
        let size = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        let mut chunk = read_exact(reader, size + 2)?;
        chunk.truncate(size);
        body.extend(chunk);
        if size == 0 {
            return Ok(body);
        }
    }
}

/// One part of a multipart body: its form name, file name and bytes.
struct FormPart {
    name: String,
    filename: String,
    bytes: Vec<u8>,
}

fn multipart(content_type: &str, body: &[u8]) -> Vec<FormPart> {
    let Some(boundary) = content_type.split("boundary=").nth(1) else { return Vec::new() };
    let delimiter = format!("--{}", boundary.trim_matches('"'));
    let mut parts = Vec::new();
    for raw in split_bytes(body, delimiter.as_bytes()).into_iter().skip(1) {
        let Some(head_end) = raw.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
        let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
        let content = &raw[head_end + 4..];
        let content = content.strip_suffix(b"\r\n").unwrap_or(content);
        let attribute = |key: &str| head.split(&format!("{key}=\"")).nth(1).and_then(|r| r.split('"').next()).unwrap_or("").to_string();
        parts.push(FormPart { name: attribute("name"), filename: attribute("filename"), bytes: content.to_vec() });
    }
    parts
}

fn split_bytes<'a>(haystack: &'a [u8], needle: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i + needle.len() <= haystack.len() {
        if &haystack[i..i + needle.len()] == needle {
            out.push(&haystack[start..i]);
            i += needle.len();
            start = i;
        } else {
            i += 1;
        }
    }
    out.push(&haystack[start..]);
    out
}

fn answer(method: &str, target: &str, authorized: bool, form: &[FormPart], raw: &Raw, model: &Mutex<Model>) -> (u16, &'static str, Vec<u8>) {
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
    let endpoint: Vec<&str> = parts.iter().skip(3).enumerate().map(|(i, p)| if i == 1 && parts.get(3) == Some(&"namespaces") { "{ns}" } else { p }).collect();
    *m.calls.entry(format!("{method} {}", endpoint.join("/"))).or_default() += 1;
    let param = |name: &str| query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (decode(k), decode(v))).find(|(k, _)| k == name).map(|(_, v)| v);
    match (method, parts.as_slice()) {
        ("GET", ["api", "v1", "plugins"]) => {
            let elements = |kind: &dyn Fn(&str) -> bool| m.installed.iter().filter(|t| kind(t)).map(|t| json!({"cls": t, "deprecated": null})).collect::<Vec<Value>>();
            let (trigger, runner) = (|t: &str| t.contains(".trigger."), |t: &str| t.contains(".runner."));
            let plugin = json!({"name": "core", "group": "io.kestra.plugin.core", "aliases": m.aliases,
                "tasks": elements(&|t| !trigger(t) && !runner(t)), "triggers": elements(&trigger), "taskRunners": elements(&runner),
                "conditions": [], "storages": [], "secrets": [], "guides": [], "categories": ["CORE"]});
            (200, "application/json", serde_json::to_vec(&json!([plugin])).unwrap())
        }
        ("GET", ["api", "v1", "configs"]) => match &m.instance_uuid {
            Some(uuid) => (200, "application/json", serde_json::to_vec(&json!({"uuid": uuid, "version": "2.0.0", "edition": "OSS", "isTaskRunEnabled": false})).unwrap()),
            None => (404, "application/json", br#"{"message":"Not Found"}"#.to_vec()),
        },
        ("GET", ["api", "v1", _tenant, "flows", "search"]) => {
            let (page, size): (usize, usize) = (param("page").and_then(|p| p.parse().ok()).unwrap_or(1), param("size").and_then(|p| p.parse().ok()).unwrap_or(10));
            let prefix = param("filters[namespace][STARTS_WITH]").unwrap_or_default();
            m.refresh_flow_revisions();
            let listed: Vec<_> = m.flow_revisions.iter().filter(|(key, _)| key.0.starts_with(prefix.as_str()) && m.flows.contains_key(*key)).collect();
            let results: Vec<Value> = listed
                .iter()
                .skip((page - 1) * size)
                .take(size)
                .map(|((ns, id), (_, revision, updated))| json!({"id": id, "namespace": ns, "revision": revision, "updated": updated, "disabled": false, "deleted": false, "draft": false, "tasks": []}))
                .collect();
            (200, "application/json", serde_json::to_vec(&json!({"results": results, "total": listed.len() + m.flow_total_overstated_by})).unwrap())
        }
        ("POST", ["api", "v1", _tenant, "flows", "export", "by-ids"]) => {
            let asked: Vec<Value> = serde_json::from_slice(&raw.body).unwrap();
            let entries: Vec<(String, Vec<u8>)> = asked
                .iter()
                .filter_map(|f| {
                    let (ns, id) = (f["namespace"].as_str()?.to_string(), f["id"].as_str()?.to_string());
                    let source = m.flows.get(&(ns.clone(), id.clone()))?;
                    Some((format!("{ns}-{id}.yml"), source.clone().into_bytes()))
                })
                .collect();
            (200, "application/octet-stream", zip(entries.into_iter()))
        }
        ("GET", ["api", "v1", _tenant, "namespaces", ns, "files", "directory"]) => {
            let ns = decode(ns);
            let dir = param("path").unwrap_or_default().trim_matches('/').to_string();
            let prefix = if dir.is_empty() { String::new() } else { format!("{dir}/") };
            let mut children: BTreeMap<String, Option<String>> = BTreeMap::new();
            for (_, path) in m.files.keys().filter(|(n, p)| *n == ns && p.starts_with(&prefix)) {
                match path[prefix.len()..].split_once('/') {
                    Some((sub, _)) => children.insert(sub.to_string(), None),
                    None => children.insert(path[prefix.len()..].to_string(), Some(path.clone())),
                };
            }
            let listed: Vec<Value> = children
                .into_iter()
                .map(|(name, file)| match file {
                    Some(path) => {
                        let (size, modified) = (m.files[&(ns.clone(), path.clone())].len(), m.file_time(&ns, &path));
                        json!({"fileName": name, "lastModifiedTime": modified, "creationTime": 1764579600000i64, "type": "File", "size": size, "metadata": {}})
                    }
                    None => json!({"fileName": name, "lastModifiedTime": 0, "creationTime": 0, "type": "Directory", "size": 0, "metadata": {}}),
                })
                .collect();
            (200, "application/json", serde_json::to_vec(&listed).unwrap())
        }
        ("GET", ["api", "v1", _tenant, "namespaces", ns, "files"]) => {
            let path = param("path").unwrap_or_default().trim_start_matches('/').to_string();
            match m.files.get(&(decode(ns), path)) {
                Some(bytes) => (200, "application/octet-stream", bytes.clone()),
                None => (404, "application/json", br#"{"message":"File not found"}"#.to_vec()),
            }
        }
        ("POST", ["api", "v1", _tenant, "flows", "validate"]) => {
            let verdicts: Vec<serde_json::Value> = form
                .iter()
                .filter(|p| p.name == "flows")
                .enumerate()
                .map(|(index, p)| {
                    let invalid = String::from_utf8_lossy(&p.bytes).contains("INVALID");
                    serde_json::json!({"index": index, "filename": p.filename, "constraints": invalid.then_some("tasks[0].type: Invalid type: INVALID")})
                })
                .collect();
            (200, "application/json", serde_json::to_vec(&verdicts).unwrap())
        }
        ("POST", ["api", "v1", _tenant, "flows", "import"]) => {
            let delay = m.write_delay;
            drop(m);
            std::thread::sleep(delay);
            let mut m = model.lock().unwrap();
            let mut refused = Vec::new();
            for part in form.iter().filter(|p| p.name == "fileUpload") {
                let entries = if part.filename.ends_with(".zip") {
                    m.writes.push(format!("import zip {}", unzip(&part.bytes).len()));
                    match limited(&part.bytes, m.zip_limits) {
                        Ok(entries) => entries,
                        Err((entries, message)) => {
                            import_flows(&mut m, entries, None, &mut refused);
                            m.writes.push("refused 422".into());
                            return (422, "application/json", serde_json::to_vec(&serde_json::json!({"message": message})).unwrap());
                        }
                    }
                } else {
                    m.writes.push(format!("import yml {}", part.filename));
                    let text = String::from_utf8_lossy(&part.bytes).to_string();
                    text.split("\n---\n").map(|doc| (part.filename.clone(), doc.as_bytes().to_vec())).collect()
                };
                import_flows(&mut m, entries, None, &mut refused);
            }
            (200, "application/json", serde_json::to_vec(&refused).unwrap())
        }
        ("POST", ["api", "v1", _tenant, "namespaces", ns, "files"]) => {
            let ns = decode(ns);
            let delay = m.write_delay;
            drop(m);
            std::thread::sleep(delay);
            let mut m = model.lock().unwrap();
            for part in form.iter().filter(|p| p.name == "fileContent") {
                if !part.filename.ends_with(".zip") {
                    let path = query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == "path").map(|(_, v)| decode(v)).unwrap_or_default();
                    m.writes.push(format!("upload file {ns} {path}"));
                    m.files.insert((ns.clone(), path.trim_start_matches('/').to_string()), part.bytes.clone());
                    continue;
                }
                m.writes.push(format!("upload zip {ns} {}", unzip(&part.bytes).len()));
                m.uploaded_entries.extend(unzip(&part.bytes).into_iter().map(|(name, _)| name));
                let (entries, failure) = match limited(&part.bytes, m.zip_limits) {
                    Ok(entries) => (entries, None),
                    Err((entries, message)) => (entries, Some(message)),
                };
                let (flows, files): (Vec<_>, Vec<_>) = entries.into_iter().partition(|(name, _)| name.starts_with("_flows/"));
                for (name, bytes) in files {
                    m.files.insert((ns.clone(), name), bytes);
                }
                import_flows(&mut m, flows, Some(&ns), &mut Vec::new());
                if let Some(message) = failure {
                    m.writes.push("refused 422".into());
                    return (422, "application/json", serde_json::to_vec(&serde_json::json!({"message": message})).unwrap());
                }
            }
            (200, "application/json", Vec::new())
        }
        (_, ["api", "v1", _tenant, "flows", "export", "by-query"]) => {
            let filter = query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (decode(k), decode(v))).next();
            let selected = m.flows.iter().filter(|((ns, _), _)| match &filter {
                Some((k, v)) if k.ends_with("[EQUALS]") => ns == v,
                Some((k, v)) if k.ends_with("[STARTS_WITH]") => ns.starts_with(v.as_str()),
                _ => true,
            });
            let entries = selected.map(|((ns, id), src)| (format!("{ns}-{id}.yml"), src.clone().into_bytes()));
            (200, "application/octet-stream", zip(entries))
        }
        (_, ["api", "v1", _tenant, "flows", "distinct-namespaces"]) => {
            // Like Kestra: the namespaces that hold flows.
            let mut names: Vec<&String> = m.flows.keys().map(|(ns, _)| ns).collect();
            names.dedup();
            (200, "application/json", serde_json::to_vec(&names).unwrap())
        }
        (_, ["api", "v1", _tenant, "namespaces", ns, "files", "export"]) => {
            let ns = decode(ns);
            let files = m.files.iter().filter(|((n, _), _)| *n == ns).map(|((_, p), b)| (p.clone(), b.clone()));
            let bundled = m.flows.iter().filter(|((n, _), _)| m.bundle_flows && *n == ns).map(|((_, id), src)| (format!("_flows/{id}.yml"), src.clone().into_bytes()));
            (200, "application/octet-stream", zip(files.chain(bundled)))
        }
        ("GET", ["api", "v1", _tenant, "kv"]) => {
            let param = |name: &str| query.split('&').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (decode(k), decode(v))).find(|(k, _)| k == name).map(|(_, v)| v);
            let (page, size): (usize, usize) = (param("page").and_then(|p| p.parse().ok()).unwrap_or(1), param("size").and_then(|p| p.parse().ok()).unwrap_or(10));
            let prefix = param("filters[namespace][STARTS_WITH]").unwrap_or_default();
            let now = now_rfc3339();
            let listed: Vec<serde_json::Value> = m
                .kv
                .iter()
                .filter(|((ns, _), e)| ns.starts_with(prefix.as_str()) && e.expiration_date.as_ref().is_none_or(|x| *x > now))
                .filter(|(entry, _)| !m.kv_unlisted.contains(*entry))
                .map(|((ns, key), e)| serde_json::json!({"namespace": ns, "key": key, "revision": e.revision, "description": e.description, "creationDate": "2026-12-01T09:00:00.000Z", "updateDate": e.updated, "expirationDate": e.expiration_date}))
                .collect();
            let results: Vec<&serde_json::Value> = listed.iter().skip((page - 1) * size).take(size).collect();
            (200, "application/json", serde_json::to_vec(&serde_json::json!({"results": results, "total": listed.len()})).unwrap())
        }
        ("GET", ["api", "v1", _tenant, "namespaces", ns, "kv", key]) => match m.kv.get(&(decode(ns), decode(key))) {
            Some(e) => (200, "application/json", serde_json::to_vec(&serde_json::json!({"type": e.kind, "value": e.value, "revision": e.revision, "updated": e.updated})).unwrap()),
            None => (404, "application/json", br#"{"message":"No value found"}"#.to_vec()),
        },
        ("PUT", ["api", "v1", _tenant, "namespaces", ns, "kv", key]) => {
            if m.kv_max_body > 0 && raw.body.len() > m.kv_max_body {
                return (413, "application/json", br#"{"message":"The content length exceeds the maximum allowed content length"}"#.to_vec());
            }
            let text = String::from_utf8_lossy(&raw.body).to_string();
            let (kind, value) = match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(v @ serde_json::Value::String(_)) => ("STRING", v),
                Ok(v @ serde_json::Value::Number(_)) => ("NUMBER", v),
                Ok(v @ serde_json::Value::Bool(_)) => ("BOOLEAN", v),
                Ok(v) => ("JSON", v),
                Err(_) if text.len() > 10 && text.as_bytes()[10] == b'T' => ("DATETIME", serde_json::Value::String(text)),
                Err(_) if text.len() == 10 && text.as_bytes()[4] == b'-' => ("DATE", serde_json::Value::String(text)),
                Err(_) => ("STRING", serde_json::Value::String(text)),
            };
            let expiration = raw.ttl.as_ref().map(|ttl| {
                let secs: u64 = ttl.trim_start_matches("PT").trim_end_matches('S').parse().unwrap();
                rfc3339(std::time::SystemTime::now() + std::time::Duration::from_secs(secs))
            });
            let (ns, key) = (decode(ns), decode(key));
            let revision = m.kv.get(&(ns.clone(), key.clone())).map_or(1, |e| e.revision + 1);
            m.writes.push(format!("kv put {ns} {key}"));
            m.kv.insert((ns, key), KvEntry { kind: kind.into(), value, description: raw.description.clone(), expiration_date: expiration, revision, updated: now_rfc3339() });
            (200, "application/json", Vec::new())
        }
        ("GET", ["api", "v1", _tenant, "triggers", "search"]) => {
            let param = |name: &str| query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| decode(k) == name).map(|(_, v)| decode(v));
            let (page, size): (usize, usize) = (param("page").unwrap().parse().unwrap(), param("size").unwrap().parse().unwrap());
            let prefix = param("filters[namespace][PREFIX]");
            let matching: Vec<_> = m
                .triggers
                .iter()
                .filter(|((ns, _, _), _)| prefix.as_ref().is_none_or(|p| ns == p || ns.starts_with(&format!("{p}."))))
                .collect();
            let results: Vec<Value> = matching
                .iter()
                .skip((page - 1) * size)
                .take(size)
                .map(|((ns, flow, trigger), disabled)| (m.flows.contains_key(&(ns.clone(), flow.clone())), ns, flow, trigger, disabled))
                .filter(|(flow_exists, ..)| *flow_exists || m.trigger_api == TriggerApi::Kestra1x)
                .map(|(flow_exists, ns, flow, trigger, disabled)| {
                    let definition = json!({"id": trigger, "type": "io.kestra.plugin.core.trigger.Schedule"});
                    match m.trigger_api {
                        TriggerApi::Kestra20 => json!({"trigger": definition,
                            "state": {"namespace": ns, "flowId": flow, "triggerId": trigger, "disabled": disabled, "locked": false, "kind": "SCHEDULE"}}),
                        TriggerApi::Kestra1x => json!({"abstractTrigger": if flow_exists { definition } else { Value::Null },
                            "triggerContext": {"tenantId": "main", "namespace": ns, "flowId": flow, "triggerId": trigger, "disabled": disabled, "date": "2026-01-01T00:00:00Z"}}),
                        TriggerApi::Unknown => json!({"id": trigger, "enabled": !**disabled}),
                    }
                })
                .collect();
            (200, "application/json", serde_json::to_vec(&json!({"results": results, "total": matching.len()})).unwrap())
        }
        ("PUT", ["api", "v1", _tenant, "triggers", "set-disabled"]) if m.trigger_api == TriggerApi::Kestra20 => {
            let request: Value = serde_json::from_slice(&raw.body).unwrap();
            let field = |name: &str| request[name].as_str().unwrap().to_string();
            let key = (field("namespace"), field("flowId"), field("triggerId"));
            let disabled = request["disabled"].as_bool().unwrap();
            if !m.flows.contains_key(&(key.0.clone(), key.1.clone())) || !m.triggers.contains_key(&key) {
                return (404, "application/json", br#"{"message":"Trigger not found"}"#.to_vec());
            }
            m.trigger_writes.push(format!("{}/{}/{} {disabled}", key.0, key.1, key.2));
            m.triggers.insert(key.clone(), disabled);
            (200, "application/json", serde_json::to_vec(&json!({"namespace": key.0, "flowId": key.1, "triggerId": key.2, "disabled": disabled})).unwrap())
        }
        _ => (404, "application/json", br#"{"message":"Not Found"}"#.to_vec()),
    }
}

fn now_rfc3339() -> String {
    rfc3339(std::time::SystemTime::now())
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, as Kestra writes instants.
pub fn rfc3339(at: std::time::SystemTime) -> String {
    let ms = at.duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let seconds = kestra_git_backup::instant::rfc3339(ms.div_euclid(1000));
    format!("{}.{:03}Z", seconds.trim_end_matches('Z'), ms.rem_euclid(1000))
}

/// Flow sources into the model (`namespace`: rewritten to it, as the namespace-file upload does);
/// sources containing `IMPORTFAIL` are refused by name.
fn import_flows(m: &mut Model, entries: Vec<(String, Vec<u8>)>, namespace: Option<&str>, refused: &mut Vec<String>) {
    for (name, bytes) in entries {
        let source = String::from_utf8_lossy(&bytes).to_string();
        let key = |k: &str| source.lines().find_map(|l| l.strip_prefix(k)).map(|v| v.trim().to_string()).unwrap_or_default();
        if source.contains("IMPORTFAIL") {
            refused.push(name);
        } else {
            m.flows.insert((namespace.map_or_else(|| key("namespace:"), str::to_string), key("id:")), source);
        }
    }
}

/// The entries of an archive under Kestra's ZIP-bomb protection: all of them, or the ones read
/// before a limit was crossed and Kestra's message for it.
#[allow(clippy::type_complexity)]
fn limited(archive: &[u8], limits: Option<(usize, usize)>) -> Result<Vec<(String, Vec<u8>)>, (Vec<(String, Vec<u8>)>, String)> {
    let entries = unzip(archive);
    let Some((max_entries, max_size)) = limits else { return Ok(entries) };
    let mut read = Vec::new();
    for (count, (name, bytes)) in entries.into_iter().enumerate() {
        if count + 1 > max_entries {
            return Err((read, format!("Cannot decompress the archive because it contains more than {max_entries} entries. This limit is enforced by ZIP-bomb protection (kestra.security.zip-bomb-protection.max-number-of-entries).")));
        }
        if bytes.len() > max_size {
            return Err((read, format!("Cannot decompress this archive entry because its uncompressed size exceeds {max_size} bytes. This limit is enforced by ZIP-bomb protection (kestra.security.zip-bomb-protection.max-entry-size).")));
        }
        read.push((name, bytes));
    }
    Ok(read)
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

fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
    (0..archive.len())
        .map(|i| {
            let mut entry = archive.by_index(i).unwrap();
            let mut content = Vec::new();
            entry.read_to_end(&mut content).unwrap();
            (entry.name().unwrap().to_string(), content)
        })
        .collect()
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " ")).decode_utf8_lossy().into_owned()
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}
