#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! What a stranger can send the example servers: each attack is replayed
//! against a static origin and the push service of `kms-serve` (in process)
//! and against the `kms-relay` binary, and each server must still answer a
//! normal request afterwards (and, for slow clients, while they go on).
//!
//! - A body announced at 100,000,000,000 bytes (the server must not try to
//!   allocate it).
//! - Four bodies announced at 2^64 - 1 bytes.
//! - Eight clients that send their headers and then a body one byte at a
//!   time, slower than any timeout.
//! - Eight clients that never finish their headers.

#[allow(dead_code)] // this file uses only spawn_announcing
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use common::spawn_announcing;
use kms_examples::serve::{self, Options, OriginConfig, PushConfig, PushSpec, Role, SiteSpec};

/// How long a normal request may take while the attacks go on.
const PROMPT: Duration = Duration::from_secs(5);

/// Sends `head` (and nothing more) on a new connection; the stream is
/// returned open.
fn send_head(addr: SocketAddr, head: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(PROMPT)).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    stream.flush().unwrap();
    stream
}

fn post_head(addr: SocketAddr, path: &str, content_length: &str) -> String {
    format!(
        "POST {path} HTTP/1.1\r\nHost: localhost:{}\r\nContent-Type: application/json\r\nContent-Length: \
         {content_length}\r\n\r\n",
        addr.port()
    )
}

/// The status line of whatever the server answers (if it answers before
/// closing), within the timeout.
fn answer_of(mut stream: TcpStream) -> Option<String> {
    let mut buf = [0u8; 256];
    let n = stream.read(&mut buf).ok()?;
    String::from_utf8_lossy(&buf[..n]).lines().next().map(str::to_owned)
}

/// A normal GET, on a fresh connection, answered within [`PROMPT`].
fn answers(addr: SocketAddr, path: &str, what: &str) {
    let start = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("{what}: the server is gone: {e}"));
    stream.set_read_timeout(Some(PROMPT)).unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n\r\n", addr.port());
    stream.write_all(head.as_bytes()).unwrap();
    let mut buf = [0u8; 64];
    let n = stream.read(&mut buf).unwrap_or_else(|e| panic!("{what}: no answer within {PROMPT:?}: {e}"));
    let line = String::from_utf8_lossy(&buf[..n]).to_string();
    assert!(line.starts_with("HTTP/1.1 "), "{what}: {line:?}");
    assert!(start.elapsed() < PROMPT, "{what}: answered after {:?}", start.elapsed());
}

/// Every attack against one server; `post` is a path that takes a JSON body,
/// `get` one that answers a GET.
fn attack(addr: SocketAddr, post: &str, get: &str) {
    // 1. A body too large to allocate: refused (413, or whatever 4xx the
    // service answers first: 405 where nothing takes a body, 404 for an
    // unknown subscription) or the connection closed; never read, never
    // allocated.
    let huge = answer_of(send_head(addr, &post_head(addr, post, "100000000000")));
    if let Some(line) = &huge {
        assert!(line.starts_with("HTTP/1.1 4"), "a 100 GB body: {line}");
    }
    answers(addr, get, "after a 100 GB body was announced");
    // 2. Four bodies of 2^64 - 1 bytes.
    for _ in 0..4 {
        let _ = answer_of(send_head(addr, &post_head(addr, post, "18446744073709551615")));
    }
    answers(addr, get, "after four bodies of 2^64 - 1 bytes");
    // 3. Slow bodies: headers, then one byte, then nothing.
    let slow: Vec<TcpStream> = (0..8)
        .map(|_| {
            let mut s = send_head(addr, &post_head(addr, post, "1000"));
            s.write_all(b"{").unwrap();
            s
        })
        .collect();
    answers(addr, get, "while eight clients send a body one byte at a time");
    // 4. Headers that never end.
    let stalled: Vec<TcpStream> =
        (0..8).map(|_| send_head(addr, &format!("GET {get} HTTP/1.1\r\nHost: localhost\r\nX-Slow: "))).collect();
    answers(addr, get, "while eight clients never finish their headers");
    drop((slow, stalled));
    answers(addr, get, "after the slow clients left");
}

#[test]
fn kms_serve_survives_hostile_requests_on_every_origin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), b"<!doctype html><title>host</title>").unwrap();
    let origin = OriginConfig {
        role: Role::Host,
        spec: SiteSpec::parse(&format!("127.0.0.1:0={}", dir.path().display())).unwrap(),
    };
    let push = PushConfig { spec: PushSpec::parse("127.0.0.1:0").unwrap(), allowed_origins: Vec::new() };
    let running = serve::start_with_push(vec![origin], Some(push), Options::default()).unwrap();
    let (site, push) = (running.origins()[0].addr(), running.origins()[1].addr());
    attack(site, "/", "/");
    attack(push, "/push/x", "/push/x");
    running.shutdown();
}

#[test]
fn kms_relay_survives_hostile_requests() {
    let (mut child, mut lines) = spawn_announcing(env!("CARGO_BIN_EXE_kms-relay"), ["--listen", "127.0.0.1:0"]);
    let announced = lines.next().unwrap().unwrap();
    let port: u16 = announced.strip_prefix("kms-relay: listening http://localhost:").unwrap().parse().unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let result = std::panic::catch_unwind(|| attack(addr, "/v1/subscription", "/v1/info"));
    let alive = child.try_wait().unwrap().is_none();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(alive, "kms-relay exited");
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
