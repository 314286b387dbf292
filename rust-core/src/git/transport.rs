//! Transport: credentials, TLS trust, SSH host keys, proxy and timeouts for every network
//! operation, and the mapping of libgit2 failures to core error codes.
//!
//! Credentials live only in the callback: never in the URL, never in the repository config. The
//! callback offers each method once and then gives up, so a wrong token fails after one 401
//! instead of looping (libgit2 asks again after every rejection).

use crate::error::{CoreError, ErrorCode};
use crate::progress::Ticker;
use crate::request::GitConfig;
use super::server_text::ServerText;
use git2::{CertificateCheckStatus, Cred, CredentialType, FetchOptions, ProxyOptions, PushOptions, RemoteCallbacks};
use once_cell::sync::Lazy;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::{Arc, Mutex};

/// What happened during one network operation, for error messages and logs.
#[derive(Default)]
pub struct Session {
    /// The request's own trusted CAs, checked in the certificate callback.
    trust: Option<Rc<TaskTrust>>,
    tried: RefCell<Vec<String>>,
    host_key: RefCell<Option<String>>,
    host_key_refused: RefCell<Option<String>>,
    pub rejections: RefCell<Vec<(String, String)>>,
    pub bytes_sent: RefCell<u64>,
    pub bytes_received: RefCell<u64>,
    /// What the server printed (`remote: ...` lines), e.g. a hook's reason for a refusal.
    remote_text: RefCell<ServerText>,
}

impl Session {
    pub fn new(trust: Option<Rc<TaskTrust>>) -> Self {
        Session { trust, ..Default::default() }
    }

    /// The server's own messages without progress meters, one line, bounded.
    pub fn remote_text(&self) -> String {
        self.remote_text.borrow().text()
    }

    /// The SHA256 fingerprint of the SSH host key seen, if any (logged by the caller).
    pub fn host_key(&self) -> Option<String> {
        self.host_key.borrow().clone()
    }
}

/// The callbacks of one network operation; `ticker`, when given, logs transfer progress live.
pub fn callbacks<'a, 'l: 'a, 's: 'a>(
    config: &'a GitConfig,
    session: &'a Session,
    ticker: Option<&'a Ticker<'l, 's>>,
) -> RemoteCallbacks<'a> {
    let mut cb = RemoteCallbacks::new();
    cb.credentials(move |url, user_from_url, allowed| {
        let ssh_user = user_from_url.unwrap_or("git");
        let mut tried = session.tried.borrow_mut();
        if allowed.contains(CredentialType::SSH_KEY)
            && let Some(key) = config.private_key.as_ref().filter(|_| !tried.iter().any(|t| t.starts_with("SSH key")))
        {
            tried.push(format!("SSH key from `git.privateKey` as `{ssh_user}`"));
            let passphrase = config.passphrase.as_ref().map(|p| p.expose());
            return Cred::ssh_key_from_memory(ssh_user, None, key.expose(), passphrase);
        }
        if allowed.contains(CredentialType::USERNAME) && !tried.iter().any(|t| t == "username") {
            tried.push("username".into());
            return Cred::username(ssh_user);
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT)
            && let (Some(user), Some(password)) = (config.username.as_ref(), config.password.as_ref())
            && !tried.iter().any(|t| t.starts_with("HTTP basic"))
        {
            tried.push(format!("HTTP basic as `{user}`"));
            return Cred::userpass_plaintext(user, password.expose());
        }
        let _ = url;
        Err(git2::Error::from_str("no further credentials to offer"))
    });
    cb.certificate_check(move |cert, host| {
        let Some(hostkey) = cert.as_hostkey() else {
            // X.509: libgit2 verified the chain against the process's roots (system and JVM CAs);
            // this request's `trustedCaPemPath` may also vouch for it; otherwise libgit2's verdict.
            let vouched = match (&session.trust, cert.as_x509()) {
                (Some(trust), Some(x509)) => trust.accepts(x509.data(), host),
                _ => false,
            };
            return Ok(if vouched { CertificateCheckStatus::CertificateOk } else { CertificateCheckStatus::CertificatePassthrough });
        };
        let Some(sha) = hostkey.hash_sha256() else {
            return Err(git2::Error::from_str("the SSH server offered no SHA-256 host key hash"));
        };
        use base64::Engine;
        let fingerprint = format!("SHA256:{}", base64::engine::general_purpose::STANDARD_NO_PAD.encode(sha));
        *session.host_key.borrow_mut() = Some(fingerprint.clone());
        match config.host_key_fingerprint.as_deref().map(str::trim) {
            Some(pin) if pin.trim_end_matches('=') != fingerprint => {
                *session.host_key_refused.borrow_mut() =
                    Some(format!("SSH host key of `{host}` is {fingerprint}, but `git.hostKeyFingerprint` pins {pin}"));
                Err(git2::Error::from_str("host key mismatch"))
            }
            _ => Ok(CertificateCheckStatus::CertificateOk),
        }
    });
    cb.push_update_reference(move |refname, status| {
        if let Some(msg) = status {
            session.rejections.borrow_mut().push((refname.to_string(), msg.to_string()));
        }
        Ok(())
    });
    cb.sideband_progress(move |data| {
        session.remote_text.borrow_mut().push(data);
        true
    });
    cb.push_transfer_progress(move |current, total, bytes| {
        *session.bytes_sent.borrow_mut() = bytes as u64;
        if let Some(t) = ticker {
            t.tick(|| format!("Pushing: sent {current}/{total} objects, {} KiB", bytes / 1024));
        }
    });
    cb.pack_progress(move |_stage, current, total| {
        if let Some(t) = ticker {
            t.tick(|| format!("Pushing: packed {current}/{total} objects"));
        }
    });
    cb.transfer_progress(move |stats| {
        *session.bytes_received.borrow_mut() = stats.received_bytes() as u64;
        if let Some(t) = ticker {
            t.tick(|| {
                format!("Fetching: received {}/{} objects, {} KiB", stats.received_objects(), stats.total_objects(), stats.received_bytes() / 1024)
            });
        }
        true
    });
    cb
}

pub fn proxy(config: &GitConfig) -> ProxyOptions<'_> {
    let mut p = ProxyOptions::new();
    if let Some(url) = config.proxy.as_deref().filter(|u| !u.trim().is_empty()) {
        p.url(url);
    }
    p
}

/// The `Authorization` header for an HTTPS remote with `git.username` and `git.password`, sent
/// with every request so none waits for the server's 401 challenge first: a round trip per
/// connection, and a new TLS handshake where the server closes the connection after its 401. Only
/// over HTTPS: over plain HTTP the credentials still go only to a server that asks for them. If
/// the server refuses them, its 401 asks the credentials callback, which offers them once more
/// (and there the server may pick another scheme than Basic). A redirect of the first request
/// carries the header to its target, as the callback would give it the credentials after a 401.
/// The header holds the secret: it lives in one operation's options and is never logged.
fn auth_header(config: &GitConfig) -> Option<String> {
    use base64::Engine;
    if !has_scheme(&config.url, "https://") {
        return None;
    }
    let (user, password) = (config.username.as_ref()?, config.password.as_ref()?);
    let pair = format!("{user}:{}", password.expose());
    Some(format!("Authorization: Basic {}", base64::engine::general_purpose::STANDARD.encode(pair)))
}

/// Whether `url` starts with `scheme` (as `https://`), in any case.
pub fn has_scheme(url: &str, scheme: &str) -> bool {
    url.get(..scheme.len()).is_some_and(|s| s.eq_ignore_ascii_case(scheme))
}

/// A fetch connection to `remote` whose requests carry `auth_header` (git2's `connect_auth`
/// sends no custom header); a fetch on it keeps using it. Disconnects when dropped.
pub struct Connection<'r, 'c, 'cb> {
    remote: &'c mut git2::Remote<'r>,
    // libgit2 keeps pointers into the callbacks (their payload) for the connection's lifetime;
    // it copies the proxy options and the headers.
    _callbacks: Box<RemoteCallbacks<'cb>>,
}

impl<'r, 'c, 'cb> Connection<'r, 'c, 'cb> {
    pub fn open(remote: &'c mut git2::Remote<'r>, config: &'cb GitConfig, session: &'cb Session) -> Result<Self, git2::Error> {
        use git2::Binding;
        let callbacks = Box::new(callbacks(config, session, None));
        let proxy = proxy(config);
        let header = auth_header(config).map(|h| std::ffi::CString::new(h).expect("base64 has no NUL"));
        let mut pointers: Vec<*mut std::ffi::c_char> = header.iter().map(|h| h.as_ptr() as *mut _).collect();
        let headers = libgit2_sys::git_strarray { strings: pointers.as_mut_ptr(), count: pointers.len() };
        let (raw_callbacks, raw_proxy) = (callbacks.raw(), proxy.raw());
        // SAFETY: every pointer is valid for the call; libgit2 copies the headers and the proxy
        // options, and the callbacks' payload stays boxed in the returned value.
        let code = unsafe { libgit2_sys::git_remote_connect(remote.raw(), libgit2_sys::GIT_DIRECTION_FETCH, &raw_callbacks, &raw_proxy, &headers) };
        if code < 0 {
            return Err(git2::Error::last_error(code));
        }
        Ok(Connection { remote, _callbacks: callbacks })
    }

    pub fn remote(&mut self) -> &mut git2::Remote<'r> {
        self.remote
    }

    /// The refs the remote advertised, its default branch (HEAD's target) first.
    pub fn advertised(&self) -> Result<Vec<(String, git2::Oid)>, git2::Error> {
        let mut refs: Vec<(String, git2::Oid)> = self.remote.list()?.iter().map(|h| (h.name().to_string(), h.oid())).collect();
        let default = self.remote.default_branch().ok().and_then(|b| b.as_str().ok().map(str::to_string));
        refs.sort_by_key(|(name, _)| Some(name) != default.as_ref());
        Ok(refs)
    }
}

impl Drop for Connection<'_, '_, '_> {
    fn drop(&mut self) {
        let _ = self.remote.disconnect();
    }
}

pub fn fetch_options<'a, 'l: 'a, 's: 'a>(
    config: &'a GitConfig,
    session: &'a Session,
    ticker: &'a Ticker<'l, 's>,
    depth: Option<i32>,
) -> FetchOptions<'a> {
    let mut o = FetchOptions::new();
    o.remote_callbacks(callbacks(config, session, Some(ticker)));
    o.proxy_options(proxy(config));
    // A fetch on a `Connection` hands it these options, so the header is in both.
    if let Some(header) = auth_header(config) {
        o.custom_headers(&[&header]);
    }
    o.download_tags(git2::AutotagOption::None);
    if let Some(d) = depth {
        o.depth(d);
    }
    o
}

pub fn push_options<'a, 'l: 'a, 's: 'a>(config: &'a GitConfig, session: &'a Session, ticker: &'a Ticker<'l, 's>) -> PushOptions<'a> {
    let mut o = PushOptions::new();
    o.remote_callbacks(callbacks(config, session, Some(ticker)));
    o.proxy_options(proxy(config));
    // libgit2 builds the pack between the ref advertisement and the upload; on a kept-alive
    // connection a server or proxy with a short idle timeout closes it meanwhile and the upload
    // breaks. Asking for a closed connection makes the upload open a fresh one.
    if config.url.to_ascii_lowercase().starts_with("http") {
        let headers: Vec<String> = std::iter::once("Connection: close".to_string()).chain(auth_header(config)).collect();
        o.custom_headers(&headers.iter().map(String::as_str).collect::<Vec<_>>());
    }
    o
}

/// A connection dropped under a transfer (reset, broken pipe, closed early), as opposed to an
/// answer from the server.
pub fn is_broken_connection(e: &git2::Error) -> bool {
    let text = e.message().to_lowercase();
    matches!(e.class(), git2::ErrorClass::Net | git2::ErrorClass::Os | git2::ErrorClass::Ssl | git2::ErrorClass::Http | git2::ErrorClass::Ssh)
        && ["broken pipe", "connection reset", "connection closed", "connection aborted", "unexpected eof", "early eof", "eof was observed", "socket closed", "stream error", "syscall failure"]
            .iter()
            .any(|s| text.contains(s))
}

/// The CA certificates of one request's `trustedCaPemPath`. libgit2 keeps one trust store per
/// process, so loading them there would make every later task of the worker trust them too;
/// instead the certificate callback of this request's connections checks the server's
/// certificate against them (and the host name), and accepts it when they vouch for it.
pub struct TaskTrust {
    cas: Cas,
}

/// Parsed CA files kept for the process, by the SHA-256 of their content: the file is read on
/// every run (a changed file is parsed again), but the same content is parsed once. Only the
/// parsing is shared; which CAs a run trusts is still its own `trustedCaPemPath`.
static PARSED_CAS: Lazy<Mutex<HashMap<[u8; 32], Cas>>> = Lazy::new(|| Mutex::new(HashMap::new()));
/// The certificates of one CA file, shared by the runs that give the same content.
type Cas = Arc<Vec<openssl::x509::X509>>;
/// Parsed CA files kept at most; past that the map starts over.
const MAX_PARSED_CAS: usize = 64;

/// The certificates of a PEM text, parsed once per distinct content.
pub fn parsed_cas(pem: &[u8]) -> Cas {
    use sha2::Digest;
    let key: [u8; 32] = sha2::Sha256::digest(pem).into();
    let mut parsed = PARSED_CAS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(cas) = parsed.get(&key) {
        return cas.clone();
    }
    let cas = Arc::new(openssl::x509::X509::stack_from_pem(pem).unwrap_or_default());
    if parsed.len() >= MAX_PARSED_CAS {
        parsed.clear();
    }
    parsed.insert(key, cas.clone());
    cas
}

impl TaskTrust {
    pub fn load(config: &GitConfig) -> Result<Option<Rc<TaskTrust>>, CoreError> {
        let Some(path) = &config.trusted_ca_pem_path else {
            return Ok(None);
        };
        let pem = std::fs::read(path).map_err(|e| {
            CoreError::invalid("git.trustedCaPemPath", format!("cannot read `{}`: {e}; give the path of a PEM file on the worker", path.display()))
        })?;
        let cas = parsed_cas(&pem);
        if cas.is_empty() {
            return Err(CoreError::invalid("git.trustedCaPemPath", format!("`{}` holds no PEM certificate", path.display())));
        }
        Ok(Some(Rc::new(TaskTrust { cas })))
    }

    /// Whether the server certificate (DER) chains to these CAs (an intermediate in the file is
    /// enough) and is valid for `host`.
    fn accepts(&self, der: &[u8], host: &str) -> bool {
        use openssl::x509::store::X509StoreBuilder;
        use openssl::x509::verify::{X509VerifyFlags, X509VerifyParam};
        use openssl::x509::{X509, X509StoreContext};
        let check = || -> Result<bool, openssl::error::ErrorStack> {
            let leaf = X509::from_der(der)?;
            let mut param = X509VerifyParam::new()?;
            param.set_flags(X509VerifyFlags::PARTIAL_CHAIN)?;
            match host.trim_matches(['[', ']']).parse::<std::net::IpAddr>() {
                Ok(ip) => param.set_ip(ip)?,
                Err(_) => param.set_host(host)?,
            }
            let mut store = X509StoreBuilder::new()?;
            for ca in self.cas.iter() {
                store.add_cert(ca.clone())?;
            }
            store.set_param(&param)?;
            let store = store.build();
            let chain = openssl::stack::Stack::new()?;
            X509StoreContext::new()?.init(&store, &leaf, &chain, |ctx| ctx.verify_cert())
        };
        check().unwrap_or(false)
    }
}

/// Applies libgit2 settings from the request: the worker's trusted CA certificates (the JVM's,
/// the same for every task of a worker) and the timeouts of this thread's connections (SSH: of
/// the process); registers the socket stream (`socket_stream.rs`). libgit2 keeps one TLS context
/// per process and adds CA files to it; each distinct bundle is loaded once.
pub fn configure_process(config: &GitConfig) -> Result<(), CoreError> {
    super::socket_stream::register();
    let ms = |v: u64| v.min(i32::MAX as u64) as i32;
    super::socket_stream::set_timeouts(ms(config.connect_timeout_ms), ms(config.read_timeout_ms));
    static LOADED: Lazy<Mutex<HashSet<String>>> = Lazy::new(|| Mutex::new(HashSet::new()));
    let bundle = config.trusted_ca_pem.clone().unwrap_or_default();
    // SAFETY: these libgit2 options only store values read at connection time; concurrent
    // setters are serialised by the mutex below.
    let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    unsafe {
        // Still set for SSH: libssh2's session timeout is libgit2's process-wide read timeout.
        let _ = git2::opts::set_server_connect_timeout_in_milliseconds(ms(config.connect_timeout_ms));
        let _ = git2::opts::set_server_timeout_in_milliseconds(ms(config.read_timeout_ms));
    }
    if bundle.trim().is_empty() {
        return Ok(());
    }
    use sha2::Digest;
    let key = format!("{:x}", sha2::Sha256::digest(bundle.as_bytes()));
    if loaded.contains(&key) {
        return Ok(());
    }
    // A private file per load: another process may be loading the same bundle at the same time.
    let mut file = tempfile::Builder::new().prefix("kestra-git-backup-ca-").suffix(".pem").tempfile()?;
    std::io::Write::write_all(&mut file, bundle.as_bytes())?;
    // SAFETY: as above; libgit2 reads the file into its TLS context's trust store at once.
    unsafe { git2::opts::set_ssl_cert_file(file.path()) }
        .map_err(|e| CoreError::new(ErrorCode::Tls, format!("cannot load the trusted CA certificates: {}", e.message())))?;
    loaded.insert(key);
    Ok(())
}

/// Maps a libgit2 failure during a network operation to a core error naming what was tried.
pub fn network_error(e: &git2::Error, session: &Session, what: &str, url: &str, config: &GitConfig) -> CoreError {
    if let Some(msg) = session.host_key_refused.borrow().clone() {
        return CoreError::new(ErrorCode::Tls, format!("{what} {url}: {msg}; check the server or update the pin"));
    }
    let tried = session.tried.borrow().iter().filter(|t| *t != "username").cloned().collect::<Vec<_>>();
    let text = e.message().to_lowercase();
    let is_auth = e.code() == git2::ErrorCode::Auth
        || text.contains("authentication")
        || text.contains("401")
        || text.contains("no further credentials")
        || text.contains("unauthorized")
        || text.contains("permission denied")
        || text.contains("unable to extract public key")
        || text.contains("callback returned error");
    if e.code() == git2::ErrorCode::Certificate || e.class() == git2::ErrorClass::Ssl || text.contains("certificate") {
        return CoreError::new(
            ErrorCode::Tls,
            format!(
                "{what} {url}: the server's TLS certificate is not trusted ({}); set `git.trustedCaPemPath` to the PEM file of its CA \
                 (or add the CA to the worker's JVM trust store)",
                e.message()
            ),
        );
    }
    if is_auth {
        let detail = if tried.is_empty() {
            let hint = if url.starts_with("http") { "set `git.username` and `git.password` (a token)" } else { "set `git.privateKey` (and `git.passphrase`)" };
            format!("the server asked for credentials but none are configured; {hint}")
        } else {
            let passphrase_hint = if config.private_key.is_some() && tried.iter().any(|t| t.starts_with("SSH")) {
                " (a key with a passphrase needs `git.passphrase`)"
            } else {
                ""
            };
            format!("tried {}; check the credentials and their rights on the repository{passphrase_hint}", tried.join(", then "))
        };
        return CoreError::new(ErrorCode::Auth, format!("authentication failed for {url}: {detail}"));
    }
    if text.contains("status code: 404") || text.contains("repository not found") || text.contains("does not appear to be a git repository") {
        return CoreError::new(
            ErrorCode::InvalidConfig,
            format!(
                "{what} {url}: no repository there ({}). It does not exist, or these credentials may not see it \
                 (GitHub, GitLab and others answer \"not found\" to a token without access); check the URL and the token's scope",
                e.message().trim()
            ),
        );
    }
    let network = matches!(e.class(), git2::ErrorClass::Net | git2::ErrorClass::Os | git2::ErrorClass::Http | git2::ErrorClass::Ssh)
        || text.contains("timed out")
        || text.contains("failed to connect")
        || text.contains("failed to resolve");
    let code = if network { ErrorCode::Network } else { ErrorCode::Git };
    CoreError::new(code, format!("{what} {url} failed: {}", e.message()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A self-signed CA made here, so the test needs no file.
    fn ca(name: &str) -> Vec<u8> {
        use openssl::{asn1::Asn1Time, hash::MessageDigest, pkey::PKey, rsa::Rsa, x509::{X509Builder, X509NameBuilder}};
        let key = PKey::from_rsa(Rsa::generate(2048).unwrap()).unwrap();
        let mut subject = X509NameBuilder::new().unwrap();
        subject.append_entry_by_text("CN", name).unwrap();
        let subject = subject.build();
        let mut cert = X509Builder::new().unwrap();
        cert.set_version(2).unwrap();
        cert.set_subject_name(&subject).unwrap();
        cert.set_issuer_name(&subject).unwrap();
        cert.set_pubkey(&key).unwrap();
        cert.set_not_before(&Asn1Time::days_from_now(0).unwrap()).unwrap();
        cert.set_not_after(&Asn1Time::days_from_now(1).unwrap()).unwrap();
        cert.sign(&key, MessageDigest::sha256()).unwrap();
        cert.build().to_pem().unwrap()
    }

    #[test]
    fn parsed_cas_are_kept_by_content_same_pem_reused_other_pem_its_own() {
        let (a, b) = (ca("cache-test-a"), ca("cache-test-b"));
        let first = parsed_cas(&a);
        assert!(Arc::ptr_eq(&first, &parsed_cas(&a.clone())), "same content: parsed once");
        let other = parsed_cas(&b);
        assert!(!Arc::ptr_eq(&first, &other), "other content: its own store");
        assert_eq!(first[0].subject_name().entries().next().unwrap().data().as_slice(), b"cache-test-a");
        assert_eq!(other[0].subject_name().entries().next().unwrap().data().as_slice(), b"cache-test-b");
        assert!(parsed_cas(b"no certificate here").is_empty());
    }
}
