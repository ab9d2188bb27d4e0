//! How the relay delivers a push request: over HTTP, to the endpoint the
//! subscription names. A trait, so that the relay's rules are tested apart
//! from the network; the real thing is [`HttpTransport`].

use std::time::Duration;

use kms_client::relay::PushRequest;
use serde::Deserialize;

/// Longest part of a push service's answer the relay reads, in bytes.
const MAX_ANSWER_LEN: u64 = 4096;

/// Longest error text kept from a push service's answer, in characters.
const MAX_ERROR_CHARS: usize = 300;

/// What the push service answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushAnswer {
    /// The HTTP status: 201 when the message was accepted.
    pub status: u16,
    /// What it said was wrong: the `error` member of a JSON answer (the local
    /// push service), or the start of the body as text; `None` when empty.
    pub error: Option<String>,
}

/// Sends one push request and returns the answer. `Err` says, in words,
/// why no answer came (connection refused, timeout, TLS).
pub trait PushTransport: Send + Sync {
    /// Sends `request`.
    fn send(&self, request: &PushRequest) -> Result<PushAnswer, String>;
}

/// The real transport: ureq, blocking, 10-second timeout, https (rustls and
/// the webpki roots) for real push services and plain http for the local
/// one (the subscription's policy decided which endpoints are reachable).
#[derive(Debug)]
pub struct HttpTransport {
    agent: ureq::Agent,
}

impl HttpTransport {
    /// A transport with its own connection pool.
    pub fn new() -> Self {
        let config = ureq::Agent::config_builder()
            // Statuses are answers to report, not transport errors.
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            // A push service never redirects a push; following one would send
            // the token elsewhere.
            .max_redirects(0)
            // Not the environment's HTTP(S)_PROXY: a push carries a bearer
            // token, and loopback pushes must stay on loopback.
            .proxy(None)
            .build();
        Self { agent: config.into() }
    }
}

impl Default for HttpTransport {
    fn default() -> Self {
        Self::new()
    }
}

/// The JSON error shape of the local push service.
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

impl PushTransport for HttpTransport {
    fn send(&self, request: &PushRequest) -> Result<PushAnswer, String> {
        let mut builder = self.agent.post(&request.url);
        for (name, value) in &request.headers {
            // ureq writes the length of the body it sends.
            if !name.eq_ignore_ascii_case("content-length") {
                builder = builder.header(name.as_str(), value.as_str());
            }
        }
        let mut response =
            builder.send(request.body.as_slice()).map_err(|e| format!("no answer from the push service: {e}"))?;
        let status = response.status().as_u16();
        // An unreadable body still leaves the status to report.
        let text = response.body_mut().with_config().limit(MAX_ANSWER_LEN).read_to_string().unwrap_or_default();
        let error = match serde_json::from_str::<ErrorBody>(&text) {
            Ok(body) => Some(body.error),
            Err(_) if text.trim().is_empty() => None,
            Err(_) => Some(text.trim().to_owned()),
        }
        .map(|e| e.chars().filter(|c| !c.is_control()).take(MAX_ERROR_CHARS).collect());
        Ok(PushAnswer { status, error })
    }
}
