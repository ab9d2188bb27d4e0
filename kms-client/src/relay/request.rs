//! The HTTP request that delivers one push message (RFC 8030 section 5), as
//! plain data. Sending it is the caller's business.

use rand_core::CryptoRngCore;

use super::encrypt::{encrypt_padded, MAX_PLAINTEXT_LEN};
use super::error::RelayError;
use super::subscription::ValidatedSubscription;
use super::tokens::TokenHolder;

/// The longest `TTL` sent: 28 days. RFC 8030 section 5.2 lets a push
/// service retain a message for less than asked (it then says so in its
/// `TTL` response header); asking for more than any push service keeps is
/// refused here.
pub const MAX_TTL_S: u64 = 2_419_200;

/// The longest `Topic` (RFC 8030 section 5.4).
pub const MAX_TOPIC_LEN: usize = 32;

/// Default for [`PushOptions::min_token_remaining_s`]: a token must stay
/// valid for at least this long after the request is built, to absorb
/// delivery time and the push service's clock skew.
pub const DEFAULT_MIN_TOKEN_REMAINING_S: u64 = 60;

/// How long the push service keeps an undelivered message (RFC 8030 section
/// 5.2): 0 to [`MAX_TTL_S`] seconds. 0 means "deliver now or drop".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ttl(u64);

impl Ttl {
    /// Refuses more than [`MAX_TTL_S`].
    pub fn from_secs(ttl_s: u64) -> Result<Self, RelayError> {
        if ttl_s > MAX_TTL_S {
            return Err(RelayError::InvalidTtl { ttl_s, max_s: MAX_TTL_S });
        }
        Ok(Self(ttl_s))
    }

    /// The TTL in seconds.
    pub fn as_secs(self) -> u64 {
        self.0
    }
}

/// The `Urgency` of a message (RFC 8030 section 5.3); user agents use it to
/// save battery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Urgency {
    /// `very-low`: e.g. advertisements.
    VeryLow,
    /// `low`: e.g. topic updates.
    Low,
    /// `normal`: e.g. a chat message (what a push service assumes without
    /// the header).
    #[default]
    Normal,
    /// `high`: e.g. an incoming call, time-sensitive alert.
    High,
}

impl Urgency {
    /// The header value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VeryLow => "very-low",
            Self::Low => "low",
            Self::Normal => "normal",
            Self::High => "high",
        }
    }
}

impl std::str::FromStr for Urgency {
    type Err = RelayError;

    /// Exactly `very-low`, `low`, `normal` or `high`.
    fn from_str(s: &str) -> Result<Self, RelayError> {
        match s {
            "very-low" => Ok(Self::VeryLow),
            "low" => Ok(Self::Low),
            "normal" => Ok(Self::Normal),
            "high" => Ok(Self::High),
            _ => Err(RelayError::InvalidUrgency),
        }
    }
}

impl std::fmt::Display for Urgency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A `Topic` (RFC 8030 section 5.4): a newer message with the same topic
/// replaces an undelivered older one. 1 to [`MAX_TOPIC_LEN`] characters of
/// the base64url alphabet (`A-Z a-z 0-9 - _`, no padding). The push service
/// sees it in clear: do not put user data in it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topic(String);

impl Topic {
    /// Checks a topic.
    pub fn parse(s: &str) -> Result<Self, RelayError> {
        if s.is_empty() || s.len() > MAX_TOPIC_LEN {
            return Err(RelayError::InvalidTopic(format!("must be 1 to {MAX_TOPIC_LEN} characters")));
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(RelayError::InvalidTopic(
                "only characters of the base64url alphabet (A-Z a-z 0-9 - _) are allowed (RFC 8030 section 5.4)".into(),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The header value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How to deliver a message. Each field is already valid by its type,
/// except `pad_to`, which [`build_push_request`] checks.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct PushOptions {
    /// `TTL` (required by RFC 8030 section 5.2).
    pub ttl: Ttl,
    /// `Urgency`; sent even when `normal`.
    pub urgency: Urgency,
    /// `Topic`, if any.
    pub topic: Option<Topic>,
    /// Pad the plaintext with zeros to at least this many bytes (at most
    /// [`MAX_PLAINTEXT_LEN`]), to hide its length. Ignored for an empty
    /// payload, which sends no body.
    pub pad_to: Option<usize>,
    /// How long the chosen VAPID token must remain valid, in seconds.
    pub min_token_remaining_s: u64,
}

impl PushOptions {
    /// The given TTL, `normal` urgency, no topic, no padding and
    /// [`DEFAULT_MIN_TOKEN_REMAINING_S`].
    pub fn new(ttl: Ttl) -> Self {
        Self {
            ttl,
            urgency: Urgency::Normal,
            topic: None,
            pad_to: None,
            min_token_remaining_s: DEFAULT_MIN_TOKEN_REMAINING_S,
        }
    }
}

/// One push request (RFC 8030 section 5) as plain data, ready for any HTTP
/// client. `Debug` hides the `Authorization` value (a bearer token until it
/// expires) and the body.
#[derive(Clone, PartialEq, Eq)]
pub struct PushRequest {
    /// Always `POST`.
    pub method: &'static str,
    /// The subscription's endpoint.
    pub url: String,
    /// Header names and values, in the order they are to be sent.
    pub headers: Vec<(String, String)>,
    /// The `aes128gcm` body; empty for a push without payload.
    pub body: Vec<u8>,
}

impl PushRequest {
    /// The value of the first header named `name` (ASCII case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl std::fmt::Debug for PushRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(n, v)| {
                if n.eq_ignore_ascii_case("authorization") {
                    (n.as_str(), "<redacted>")
                } else {
                    (n.as_str(), v.as_str())
                }
            })
            .collect();
        f.debug_struct("PushRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .finish()
    }
}

/// Builds the request that pushes `payload` to `sub`:
///
/// - `POST` to the subscription's endpoint;
/// - `TTL`, `Urgency`, and `Topic` if set (RFC 8030 sections 5.2 to 5.4);
/// - `Authorization: vapid t=…, k=…` (RFC 8292 section 3) from the token in
///   `tokens` for the endpoint's origin with the latest expiry, valid for at
///   least `opts.min_token_remaining_s` more seconds at `now_s`;
/// - for a non-empty payload, `Content-Encoding: aes128gcm`,
///   `Content-Type: application/octet-stream` and the body encrypted for the
///   subscription (RFC 8291), at most [`MAX_PLAINTEXT_LEN`] bytes of payload
///   and padding; an empty payload sends no body and no content headers
///   (RFC 8030 section 5 allows a push without payload);
/// - `Content-Length` of the body.
///
/// `rng` must be a CSPRNG (it draws the per-message key and salt). Size
/// errors come before token errors, so a relay learns a payload is too large
/// whatever the state of its tokens.
pub fn build_push_request(
    sub: &ValidatedSubscription,
    payload: &[u8],
    tokens: &TokenHolder,
    opts: &PushOptions,
    now_s: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<PushRequest, RelayError> {
    let pad_to = opts.pad_to.unwrap_or(0);
    if pad_to > MAX_PLAINTEXT_LEN || payload.len() > MAX_PLAINTEXT_LEN {
        return Err(RelayError::PayloadTooLarge { len: payload.len().max(pad_to), max: MAX_PLAINTEXT_LEN });
    }
    let authorization = tokens.authorization(sub.origin(), now_s, opts.min_token_remaining_s)?;

    let mut headers = vec![
        ("TTL".to_owned(), opts.ttl.as_secs().to_string()),
        ("Urgency".to_owned(), opts.urgency.as_str().to_owned()),
    ];
    if let Some(topic) = &opts.topic {
        headers.push(("Topic".to_owned(), topic.as_str().to_owned()));
    }
    headers.push(("Authorization".to_owned(), authorization.to_owned()));

    let body = if payload.is_empty() {
        Vec::new()
    } else {
        let body = encrypt_padded(sub, payload, pad_to, rng)?;
        headers.push(("Content-Encoding".to_owned(), "aes128gcm".to_owned()));
        headers.push(("Content-Type".to_owned(), "application/octet-stream".to_owned()));
        body
    };
    headers.push(("Content-Length".to_owned(), body.len().to_string()));
    Ok(PushRequest { method: "POST", url: sub.endpoint().to_owned(), headers, body })
}
