#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The examples' HTTP server on its own, with short limits: a body that
//! does not arrive in time is a 408, headers that do not arrive close the
//! connection, a body over the cap reaches the handler as `TooLarge` without
//! being read, connections over the cap are closed at accept, and a shutdown
//! lets a request in flight finish.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use kms_examples::http::server::{Limits, Server};
use kms_examples::http::{Request, RequestBody, Response};

fn start(limits: Limits, delay: Duration) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let handler = Arc::new(move |request: Request| {
        std::thread::sleep(delay);
        let body = match &request.body {
            RequestBody::Bytes(b) => format!("{} bytes", b.len()),
            RequestBody::TooLarge => "too large".to_owned(),
        };
        Response::json(200, &serde_json::json!({ "body": body }))
    });
    Server::start(listener, "test-server", limits, handler).unwrap()
}

fn limits() -> Limits {
    Limits {
        max_body: 16,
        header_timeout: Duration::from_millis(300),
        body_timeout: Duration::from_millis(300),
        connection_lifetime: Duration::from_secs(30),
        max_connections: 4,
    }
}

fn send(addr: SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s.write_all(bytes).unwrap();
    s
}

/// Everything the server sends until it closes (or 5 s pass).
fn read_all(mut s: TcpStream) -> String {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

fn post(len: usize, body: &[u8]) -> Vec<u8> {
    let mut r =
        format!("POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {len}\r\n\r\n").into_bytes();
    r.extend_from_slice(body);
    r
}

#[test]
fn bodies_are_capped_before_they_are_read_and_must_arrive_in_time() {
    let server = start(limits(), Duration::ZERO);
    let addr = server.addr();
    let ok = read_all(send(addr, &post(5, b"hello")));
    assert!(ok.starts_with("HTTP/1.1 200") && ok.contains(r#"{"body":"5 bytes"}"#), "{ok}");
    assert!(ok.contains("content-length: 18"), "{ok}");
    let announced = read_all(send(addr, &post(1 << 40, b"")));
    assert!(announced.contains(r#""too large""#), "{announced}");
    // A body longer than announced... is the next request; one that streams
    // past the cap with chunked encoding stops at the cap.
    let chunked = b"POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n01234567890123456789012345678901\r\n0\r\n\r\n";
    let streamed = read_all(send(addr, chunked));
    assert!(streamed.contains(r#""too large""#), "{streamed}");
    let started = Instant::now();
    let slow = read_all(send(addr, &post(10, b"abc")));
    assert!(slow.starts_with("HTTP/1.1 408"), "{slow}");
    assert!(started.elapsed() < Duration::from_secs(3));
    server.shutdown();
}

#[test]
fn headers_that_never_end_are_dropped_and_connections_are_capped() {
    let server = start(limits(), Duration::ZERO);
    let addr = server.addr();
    let started = Instant::now();
    let stalled = read_all(send(addr, b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "));
    assert!(!stalled.contains("200"), "{stalled}");
    assert!(started.elapsed() < Duration::from_secs(3), "the stalled connection was kept");
    // Four connections held (their headers unfinished): a fifth is closed at
    // once, and served again once they are gone.
    let held: Vec<TcpStream> = (0..4).map(|_| send(addr, b"GET / HTTP/1.1\r\n")).collect();
    std::thread::sleep(Duration::from_millis(50));
    let refused = read_all(send(addr, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    assert_eq!(refused, "", "a connection over the cap was served");
    drop(held);
    std::thread::sleep(Duration::from_millis(400));
    let served = read_all(send(addr, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    assert!(served.starts_with("HTTP/1.1 200"), "{served}");
    server.shutdown();
}

#[test]
fn a_shutdown_lets_the_request_in_flight_finish() {
    let server = start(limits(), Duration::from_millis(500));
    let addr = server.addr();
    let in_flight = send(addr, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    std::thread::sleep(Duration::from_millis(100));
    let stopping = std::thread::spawn(move || server.shutdown());
    let answer = read_all(in_flight);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    stopping.join().unwrap();
    assert!(TcpStream::connect(addr).is_err(), "still listening after shutdown");
}
