//! The HTTP plumbing shared by `kms-serve` and `kms-relay`: requests and
//! responses as plain data (so that the services are pure functions of a
//! request and the time, tested without sockets), and the server that reads
//! them off sockets within limits ([`server`]).

pub mod server;

use std::time::{SystemTime, UNIX_EPOCH};

/// A request body as the server read it: never more than the server's cap
/// plus one byte is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    /// The whole body.
    Bytes(Vec<u8>),
    /// More than the cap (announced or sent); not kept.
    TooLarge,
}

impl RequestBody {
    /// The bytes, if the body is at most `cap` bytes long.
    pub fn within(&self, cap: usize) -> Option<&[u8]> {
        match self {
            Self::Bytes(bytes) if bytes.len() <= cap => Some(bytes),
            _ => None,
        }
    }
}

/// One HTTP request, as the server hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target: path and query.
    pub target: String,
    /// Header names and values, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: RequestBody,
}

impl Request {
    /// A request without headers or body.
    pub fn new(method: &str, target: &str) -> Self {
        Self {
            method: method.to_owned(),
            target: target.to_owned(),
            headers: Vec::new(),
            body: RequestBody::Bytes(Vec::new()),
        }
    }

    /// The request with one more header.
    #[must_use]
    pub fn with_header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    /// The request with this body. The service applies its own cap.
    #[must_use]
    pub fn with_body(mut self, body: Vec<u8>) -> Self {
        self.body = RequestBody::Bytes(body);
        self
    }

    /// The path and the query (empty when there is none).
    pub fn path_and_query(&self) -> (&str, &str) {
        self.target.split_once('?').unwrap_or((&self.target, ""))
    }

    /// The value of a header sent at most once (names are case-insensitive).
    /// A header sent twice is refused rather than guessed at: the error
    /// says so, for a 400.
    pub fn single_header(&self, name: &str) -> Result<Option<&str>, String> {
        let mut values = self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(format!("the {name} header is repeated"));
        }
        Ok(first)
    }
}

/// One HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// Header names and values.
    pub headers: Vec<(&'static str, String)>,
    /// The body (JSON, or empty).
    pub body: Vec<u8>,
}

impl Response {
    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// A response without a body.
    pub fn empty(status: u16) -> Self {
        Self { status, headers: Vec::new(), body: Vec::new() }
    }

    /// A JSON response.
    pub fn json(status: u16, value: &serde_json::Value) -> Self {
        Self {
            status,
            headers: vec![("Content-Type", "application/json".into())],
            body: value.to_string().into_bytes(),
        }
    }

    /// A JSON response from bytes already serialized.
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Self {
        Self { status, headers: vec![("Content-Type", "application/json".into())], body }
    }

    /// `{"error": "<message>"}` with this status: how every refusal reads.
    pub fn error(status: u16, message: &str) -> Self {
        Self::json(status, &serde_json::json!({ "error": message }))
    }
}

/// Milliseconds since the Unix epoch from the system clock. A clock before
/// 1970 reads as 0.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}
