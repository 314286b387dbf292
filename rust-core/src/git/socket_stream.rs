//! libgit2's plain TCP stream (under HTTP, HTTPS and SSH), replaced by one that turns Nagle's
//! algorithm off. libgit2 writes a request in small pieces (the headers, then each chunk's size
//! line, data and CRLF as separate writes) and never sets `TCP_NODELAY`: a piece then waits for
//! the ACK of the one before, which the server holds back (40 ms on Linux) while it waits for
//! the rest of the request. Measured against the tests' lighttpd + `git http-backend` on
//! 127.0.0.1: a first fetch 100 ms → 15 ms, pushes no longer taking 70 ms one time in three
//! instead of 25 (docs/benchmarks.md). Git's own HTTP client (curl) sets `TCP_NODELAY`.
//!
//! Everything else is as libgit2's own stream: TCP keepalive probes after 60 s idle, its error
//! texts, and the timeouts — but each task's own: libgit2 keeps one pair of timeouts per process,
//! while a connection here takes those its thread set (`set_timeouts`; libgit2 opens connections
//! on the calling thread), falling back to the process-wide ones. Registered once per process,
//! before the first connection.

use libgit2_sys as raw;
use socket2::{Domain, Protocol, SockAddr, Socket, TcpKeepalive, Type};
use std::cell::Cell;
use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::io::{ErrorKind, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::fd::AsRawFd;
use std::sync::Once;
use std::time::Duration;

const GIT_STREAM_VERSION: c_int = 1;
const GIT_STREAM_STANDARD: c_int = 1;
const GIT_TIMEOUT: c_int = -37;

/// `git_stream` of `git2/sys/stream.h` (libgit2 1.9, vendored).
#[repr(C)]
struct GitStream {
    version: c_int,
    /// The `encrypted : 1, proxy_support : 1` bit-fields: both 0 for a plain socket.
    flags: c_uint,
    timeout: c_int,
    connect_timeout: c_int,
    connect: Option<extern "C" fn(*mut GitStream) -> c_int>,
    certificate: Option<extern "C" fn(*mut *mut c_void, *mut GitStream) -> c_int>,
    set_proxy: Option<extern "C" fn(*mut GitStream, *const c_void) -> c_int>,
    read: Option<extern "C" fn(*mut GitStream, *mut c_void, usize) -> isize>,
    write: Option<extern "C" fn(*mut GitStream, *const c_char, usize, c_int) -> isize>,
    close: Option<extern "C" fn(*mut GitStream) -> c_int>,
    free: Option<extern "C" fn(*mut GitStream)>,
}

/// `git_stream_registration` of `git2/sys/stream.h`.
#[repr(C)]
struct Registration {
    version: c_int,
    init: Option<extern "C" fn(*mut *mut GitStream, *const c_char, *const c_char) -> c_int>,
    wrap: Option<extern "C" fn(*mut *mut GitStream, *mut GitStream, *const c_char) -> c_int>,
}

unsafe extern "C" {
    fn git_stream_register(kind: c_int, registration: *mut Registration) -> c_int;
}

/// One connection. Starts with the fields of libgit2's internal `git_socket_stream`
/// (`streams/socket.h`: the stream, `host`, `port`, the socket) at the same offsets, because its
/// SSH transport hands the socket to libssh2 by reading it from there.
#[repr(C)]
struct NoDelayStream {
    parent: GitStream,
    host: *mut c_char,
    port: *mut c_char,
    socket: c_int,
    tcp: Option<TcpStream>,
    address: (String, String),
}

// The offsets libgit2's SSH transport relies on (x86_64 and aarch64 Linux).
const _: () = assert!(std::mem::size_of::<GitStream>() == 72);
const _: () = assert!(std::mem::offset_of!(NoDelayStream, socket) == 88);

thread_local! {
    /// (connect, read/write) timeouts in ms for the connections this thread opens.
    static TIMEOUTS: Cell<Option<(c_int, c_int)>> = const { Cell::new(None) };
}

/// The timeouts of the connections libgit2 opens on this thread from now on (0: none).
pub fn set_timeouts(connect_ms: c_int, read_ms: c_int) {
    TIMEOUTS.set(Some((connect_ms, read_ms)));
}

/// Makes every later libgit2 connection of this process use `NoDelayStream`.
pub fn register() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        raw::init();
        let mut registration = Registration { version: GIT_STREAM_VERSION, init: Some(stream_new), wrap: None };
        // SAFETY: libgit2 is initialised and copies the registration; the callbacks live as long
        // as the process.
        unsafe { git_stream_register(GIT_STREAM_STANDARD, &mut registration) };
    });
}

extern "C" fn stream_new(out: *mut *mut GitStream, host: *const c_char, port: *const c_char) -> c_int {
    // SAFETY: libgit2 passes NUL-terminated host and port (port may be null for a default).
    let text = |p: *const c_char| if p.is_null() { String::new() } else { unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned() };
    let (connect_timeout, timeout) = TIMEOUTS.get().unwrap_or_else(|| {
        // SAFETY: getters of libgit2's process-wide options; libgit2 is initialised by `register`.
        unsafe { (git2::opts::get_server_connect_timeout_in_milliseconds().unwrap_or(0), git2::opts::get_server_timeout_in_milliseconds().unwrap_or(0)) }
    });
    let stream = Box::new(NoDelayStream {
        parent: GitStream {
            version: GIT_STREAM_VERSION,
            flags: 0,
            timeout,
            connect_timeout,
            connect: Some(stream_connect),
            certificate: None,
            set_proxy: None,
            read: Some(stream_read),
            write: Some(stream_write),
            close: Some(stream_close),
            free: Some(stream_free),
        },
        host: std::ptr::null_mut(),
        port: std::ptr::null_mut(),
        socket: -1,
        tcp: None,
        address: (text(host), text(port)),
    });
    // SAFETY: `out` is libgit2's out-parameter; `parent` is the first field, so the pointer is
    // also the stream's, and `stream_free` turns it back into the box.
    unsafe { *out = Box::into_raw(stream).cast() };
    0
}

/// The stream behind libgit2's pointer (the `parent` field is first).
fn this<'a>(stream: *mut GitStream) -> &'a mut NoDelayStream {
    // SAFETY: libgit2 only calls these callbacks with a stream `stream_new` made, until `free`.
    unsafe { &mut *stream.cast::<NoDelayStream>() }
}

fn set_error(message: &str) {
    let text = CString::new(message.replace('\0', " ")).unwrap_or_default();
    // SAFETY: libgit2 copies the message into its thread-local error.
    unsafe { raw::git_error_set_str(raw::GIT_ERROR_NET as c_int, text.as_ptr()) };
}

fn millis(ms: c_int) -> Option<Duration> {
    (ms > 0).then(|| Duration::from_millis(ms as u64))
}

extern "C" fn stream_connect(stream: *mut GitStream) -> c_int {
    let st = this(stream);
    match connect(&st.address.0, &st.address.1, millis(st.parent.connect_timeout), millis(st.parent.timeout)) {
        Ok(tcp) => {
            st.socket = tcp.as_raw_fd();
            st.tcp = Some(tcp);
            0
        }
        Err(message) => {
            set_error(&message);
            -1
        }
    }
}

/// Connects to the first address of `host` that answers, as libgit2 does, then sets the socket up.
fn connect(host: &str, port: &str, connect_timeout: Option<Duration>, timeout: Option<Duration>) -> Result<TcpStream, String> {
    let port: u16 = port.parse().map_err(|_| format!("failed to resolve address for {host}: invalid port '{port}'"))?;
    let addresses = (host, port).to_socket_addrs().map_err(|e| format!("failed to resolve address for {host}: {e}"))?;
    let mut last = None;
    for address in addresses {
        let socket = Socket::new(Domain::for_address(address), Type::STREAM.cloexec(), Some(Protocol::TCP)).map_err(|e| format!("failed to connect to {host}: {e}"))?;
        let connected = match connect_timeout {
            Some(limit) => socket.connect_timeout(&SockAddr::from(address), limit),
            None => socket.connect(&SockAddr::from(address)),
        };
        match connected {
            Ok(()) => return set_up(socket, timeout).map_err(|e| format!("failed to connect to {host}: {e}")),
            // A timeout ends the search, as in libgit2: the next address would likely wait as long.
            Err(e) if e.kind() == ErrorKind::TimedOut || e.kind() == ErrorKind::WouldBlock => return Err(format!("failed to connect to {host}: Operation timed out")),
            Err(e) => last = Some(e),
        }
    }
    Err(match last {
        Some(e) => format!("failed to connect to {host}: {e}"),
        None => format!("failed to resolve address for {host}: no address"),
    })
}

fn set_up(socket: Socket, timeout: Option<Duration>) -> std::io::Result<TcpStream> {
    socket.set_tcp_nodelay(true)?;
    // libgit2's probes: after 60 s idle, every 10 s, 3 unanswered ones end the connection.
    let keepalive = TcpKeepalive::new().with_time(Duration::from_secs(60)).with_interval(Duration::from_secs(10)).with_retries(3);
    socket.set_tcp_keepalive(&keepalive)?;
    socket.set_read_timeout(timeout)?;
    socket.set_write_timeout(timeout)?;
    Ok(socket.into())
}

extern "C" fn stream_read(stream: *mut GitStream, data: *mut c_void, len: usize) -> isize {
    // SAFETY: libgit2 hands a buffer of `len` writable bytes.
    let buffer = unsafe { std::slice::from_raw_parts_mut(data.cast::<u8>(), len) };
    transfer(stream, ("receiving data from", "read from"), |tcp| tcp.read(buffer))
}

extern "C" fn stream_write(stream: *mut GitStream, data: *const c_char, len: usize, _flags: c_int) -> isize {
    // SAFETY: libgit2 hands `len` readable bytes.
    let buffer = unsafe { std::slice::from_raw_parts(data.cast::<u8>(), len) };
    // std's TcpStream sends with MSG_NOSIGNAL: a closed peer is an error here, not SIGPIPE.
    transfer(stream, ("sending data to", "write to"), |tcp| tcp.write(buffer))
}

/// One read or write on the connection, retried when interrupted; a failure sets libgit2's error
/// (`what`: how its messages name the operation) and returns -1, or `GIT_TIMEOUT` on a timeout.
fn transfer(stream: *mut GitStream, what: (&str, &str), mut io: impl FnMut(&mut TcpStream) -> std::io::Result<usize>) -> isize {
    let (failing, timing_out) = what;
    let Some(tcp) = this(stream).tcp.as_mut() else {
        set_error(&format!("error {failing} socket: not connected"));
        return -1;
    };
    loop {
        match io(tcp) {
            Ok(n) => return n as isize,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if is_timeout(&e) => {
                set_error(&format!("could not {timing_out} socket: timed out"));
                return GIT_TIMEOUT as isize;
            }
            Err(e) => {
                set_error(&format!("error {failing} socket: {e}"));
                return -1;
            }
        }
    }
}

/// A socket timeout (`SO_RCVTIMEO`/`SO_SNDTIMEO` report `EAGAIN`).
fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut)
}

extern "C" fn stream_close(stream: *mut GitStream) -> c_int {
    let st = this(stream);
    st.tcp = None;
    st.socket = -1;
    0
}

extern "C" fn stream_free(stream: *mut GitStream) {
    // SAFETY: made by `Box::into_raw` in `stream_new`; libgit2 frees each stream once.
    drop(unsafe { Box::from_raw(stream.cast::<NoDelayStream>()) });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn open(port: u16, timeout_ms: c_int) -> *mut GitStream {
        let mut out: *mut GitStream = std::ptr::null_mut();
        let host = CString::new("127.0.0.1").unwrap();
        let port = CString::new(port.to_string()).unwrap();
        assert_eq!(stream_new(&mut out, host.as_ptr(), port.as_ptr()), 0);
        this(out).parent.timeout = timeout_ms;
        out
    }

    fn last_error() -> String {
        git2::Error::last_error(-1).message().to_string()
    }

    #[test]
    fn connections_have_nagle_off_and_carry_bytes_both_ways() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let server = std::thread::spawn(move || {
            let (mut peer, _) = listener.accept().unwrap();
            let mut got = [0u8; 5];
            peer.read_exact(&mut got).unwrap();
            peer.write_all(b"pong!").unwrap();
            got
        });
        let s = open(port, 5_000);
        assert_eq!(stream_connect(s), 0, "{}", last_error());
        let st = this(s);
        let socket = socket2::SockRef::from(st.tcp.as_ref().unwrap());
        assert!(socket.tcp_nodelay().unwrap(), "TCP_NODELAY is set");
        assert!(socket.keepalive().unwrap(), "keepalive is on");
        assert_eq!(st.socket, st.tcp.as_ref().unwrap().as_raw_fd(), "the socket is where libgit2's SSH transport reads it");
        assert_eq!(stream_write(s, b"ping!".as_ptr().cast(), 5, 0), 5);
        let mut back = [0u8; 5];
        assert_eq!(stream_read(s, back.as_mut_ptr().cast(), 5), 5);
        assert_eq!(&back, b"pong!");
        assert_eq!(&server.join().unwrap(), b"ping!");
        assert_eq!(stream_read(s, back.as_mut_ptr().cast(), 5), 0, "end of stream once the peer closed");
        assert_eq!(stream_close(s), 0);
        assert_eq!(this(s).socket, -1);
        assert_eq!(stream_read(s, back.as_mut_ptr().cast(), 5), -1, "a closed stream reads nothing");
        stream_free(s);
    }

    #[test]
    fn a_thread_s_timeouts_apply_to_its_connections_only() {
        let (host, port) = (CString::new("localhost").unwrap(), CString::new("1").unwrap());
        let timeouts = || {
            let mut out: *mut GitStream = std::ptr::null_mut();
            assert_eq!(stream_new(&mut out, host.as_ptr(), port.as_ptr()), 0);
            let st = this(out);
            let pair = (st.parent.connect_timeout, st.parent.timeout);
            stream_free(out);
            pair
        };
        set_timeouts(1_234, 5_678);
        assert_eq!(timeouts(), (1_234, 5_678));
        // SAFETY: getters only.
        let process = unsafe { (git2::opts::get_server_connect_timeout_in_milliseconds().unwrap(), git2::opts::get_server_timeout_in_milliseconds().unwrap()) };
        assert_ne!(process, (1_234, 5_678));
        let other_thread = std::thread::scope(|s| s.spawn(timeouts).join().unwrap());
        assert_eq!(other_thread, process, "a thread that set none gets libgit2's process-wide timeouts");
    }

    #[test]
    fn a_silent_server_is_a_timeout_and_a_closed_port_names_the_host() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let s = open(port, 200);
        assert_eq!(stream_connect(s), 0);
        let mut buffer = [0u8; 8];
        assert_eq!(stream_read(s, buffer.as_mut_ptr().cast(), 8), GIT_TIMEOUT as isize);
        assert_eq!(last_error(), "could not read from socket: timed out");
        stream_free(s);
        drop(listener);

        let s = open(port, 200);
        assert_eq!(stream_connect(s), -1);
        assert!(last_error().starts_with("failed to connect to 127.0.0.1: Connection refused"), "{}", last_error());
        stream_free(s);
    }
}
