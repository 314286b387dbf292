//! A TCP proxy on 127.0.0.1 in front of a server that breaks the first `times` connections on
//! which the client sends more than a threshold of bytes (a push's upload): a connection reset in
//! the middle of a push, as flaky networks and proxies cause.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

pub struct DropProxy {
    pub port: u16,
    /// Connections still to break.
    left: Arc<AtomicUsize>,
    times: usize,
}

impl DropProxy {
    pub fn start(target_port: u16, threshold: usize, times: usize) -> DropProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let left = Arc::new(AtomicUsize::new(times));
        let flag = left.clone();
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else { continue };
                let flag = flag.clone();
                let (c2, s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
                std::thread::spawn(move || pump(c2, s2, Some((threshold, flag))));
                std::thread::spawn(move || pump(server, client, None));
            }
        });
        DropProxy { port, left, times }
    }

    /// How many connections were broken.
    pub fn dropped(&self) -> usize {
        self.times - self.left.load(Ordering::SeqCst)
    }
}

/// Copies `from` → `to`; with a threshold, breaks both sides once that many bytes went through
/// (while connections are left to break).
pub fn pump(mut from: TcpStream, mut to: TcpStream, breaker: Option<(usize, Arc<AtomicUsize>)>) {
    let mut buf = [0u8; 16 * 1024];
    let mut sent = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        sent += n;
        if let Some((threshold, left)) = &breaker
            && sent > *threshold
            && left.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
        {
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
            return;
        }
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = to.shutdown(Shutdown::Write);
}
