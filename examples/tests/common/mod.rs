//! Shared by the examples' integration tests: one HTTP/1.1 exchange over a
//! raw socket, so that a test sees exactly what a server wrote (no client
//! library in between to merge, drop or reorder headers); a binary started
//! with its announcements readable; the user agent's side of a push
//! subscription.

use std::{
    ffi::OsStr,
    io::{BufRead, BufReader, Lines, Read, Write},
    net::{SocketAddr, TcpStream},
    process::{Child, ChildStdout, Command, Stdio},
    time::Duration,
};

/// A response as read off the socket.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

#[allow(dead_code)] // each test file uses its own part
impl Reply {
    /// The one value of a header (a repeated header fails the test).
    pub fn header(&self, name: &str) -> Option<&str> {
        let values: Vec<&str> =
            self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str()).collect();
        assert!(values.len() <= 1, "{name} repeated: {values:?}");
        values.first().copied()
    }

    pub fn text(&self) -> &str {
        std::str::from_utf8(&self.body).unwrap()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// One request on a fresh connection: `headers` (a `Content-Length` among
/// them is replaced by the body's) and `body`. The response must carry a
/// `Content-Length` (never chunked) unless it is a 204; its body is read
/// unless the method is HEAD.
pub fn http(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut head = format!("{method} {target} HTTP/1.1\r\nHost: localhost:{}\r\nConnection: close\r\n", addr.port());
    for (name, value) in headers {
        if !name.eq_ignore_ascii_case("Content-Length") {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body).unwrap();
    stream.flush().unwrap();

    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    let status = line.split(' ').nth(1).unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end_matches("\r\n");
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let mut reply = Reply { status, headers, body: Vec::new() };
    assert_eq!(reply.header("Transfer-Encoding"), None, "the servers never answer chunked");
    let len: usize = match reply.header("Content-Length") {
        Some(len) => len.parse().unwrap(),
        None if status == 204 => 0,
        None => panic!("no Content-Length in a {status} answer"),
    };
    if method != "HEAD" {
        reply.body = vec![0; len];
        reader.read_exact(&mut reply.body).unwrap();
    }
    reply
}

/// Starts one of the examples' binaries (`env!("CARGO_BIN_EXE_...")`) with
/// `args`, its stderr dropped, and returns it with the lines of its stdout,
/// where it announces its addresses and then `<name>: ready`.
pub fn spawn_announcing(
    binary: &str,
    args: impl IntoIterator<Item = impl AsRef<OsStr>>,
) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = Command::new(binary).args(args).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines)
}

/// What a browser makes for a push subscription: an ECDH key pair and an
/// auth secret (RFC 8291 section 3); it decrypts what the push service
/// queued for it.
#[allow(dead_code)] // not every test file plays the user agent
pub struct UserAgent {
    pub secret: p256::SecretKey,
    pub auth: [u8; 16],
}

#[allow(dead_code)]
impl UserAgent {
    pub fn new() -> Self {
        let mut auth = [0u8; 16];
        rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut auth);
        Self { secret: p256::SecretKey::random(&mut rand_core::OsRng), auth }
    }

    /// The public key, as `keys.p256dh` of a subscription.
    pub fn p256dh(&self) -> String {
        use p256::elliptic_curve::sec1::ToEncodedPoint as _;
        kms_core::b64::encode(self.secret.public_key().to_encoded_point(false))
    }

    /// A queued message's body (b64url), decrypted.
    pub fn decrypt(&self, body_b64: &str) -> Vec<u8> {
        let body = kms_core::b64::decode(body_b64, 1 << 20, "test").unwrap();
        let auth = kms_client::relay::AuthSecret::from_bytes(self.auth);
        kms_client::relay::decrypt(&self.secret, &auth, &body).unwrap().to_vec()
    }
}
