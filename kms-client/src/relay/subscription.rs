//! Push subscriptions as the browser hands them over, and the validated form
//! the relay encrypts to.

use std::net::{Ipv4Addr, Ipv6Addr};

use kms_core::vapid::{PushOrigin, MAX_ENDPOINT_LEN};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::PublicKey;
use serde::{Deserialize, Serialize};
use url::{Host, Url};
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::error::RelayError;

/// Length of the subscription's authentication secret (RFC 8291 section 3.2).
pub const AUTH_SECRET_LEN: usize = 16;

/// Length of an uncompressed SEC1 P-256 point: `0x04 || x (32) || y (32)`.
pub const UNCOMPRESSED_POINT_LEN: usize = 65;

/// Longest subscription JSON accepted by [`ValidatedSubscription::from_json`],
/// in bytes: an endpoint of at most [`MAX_ENDPOINT_LEN`] bytes plus the keys
/// fit with room to spare.
pub const MAX_SUBSCRIPTION_JSON_LEN: usize = 8192;

/// A push subscription exactly as `PushSubscription.toJSON()` gives it in the
/// browser (W3C Push API, `PushSubscriptionJSON`):
///
/// ```json
/// {"endpoint": "https://…", "expirationTime": null, "keys": {"p256dh": "…", "auth": "…"}}
/// ```
///
/// Nothing here is checked: turn it into a [`ValidatedSubscription`] before
/// use. Unknown fields are ignored (the Push API's `keys` is an open record).
/// `Debug` does not print the auth secret.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushSubscription {
    /// The push resource URL the relay POSTs to.
    pub endpoint: String,
    /// When the subscription expires, milliseconds since the Unix epoch, or
    /// `null` (the usual case).
    #[serde(default)]
    pub expiration_time: Option<u64>,
    /// The user agent's keys.
    pub keys: PushSubscriptionKeys,
}

/// The `keys` of a [`PushSubscription`], base64url without padding. Wiped
/// from memory on drop.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
pub struct PushSubscriptionKeys {
    /// The user agent's ECDH public key: a 65-byte uncompressed P-256 point.
    pub p256dh: String,
    /// The 16-byte authentication secret.
    pub auth: String,
}

impl std::fmt::Debug for PushSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushSubscription")
            .field("endpoint", &self.endpoint)
            .field("expiration_time", &self.expiration_time)
            .field("keys", &self.keys)
            .finish()
    }
}

impl std::fmt::Debug for PushSubscriptionKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PushSubscriptionKeys").field("p256dh", &self.p256dh).field("auth", &"<redacted>").finish()
    }
}

/// A subscription's authentication secret (RFC 8291 section 3.2): 16 bytes
/// that only the user agent and the application server know. Without it
/// nobody can produce a message the user agent accepts, even with a valid
/// VAPID token. Wiped on drop; `Debug` prints `<redacted>`; never serialized.
#[derive(Zeroize, ZeroizeOnDrop)]
pub struct AuthSecret([u8; AUTH_SECRET_LEN]);

impl AuthSecret {
    /// Wraps 16 bytes (for the user-agent side: tests and the demo).
    pub fn from_bytes(bytes: [u8; AUTH_SECRET_LEN]) -> Self {
        Self(bytes)
    }

    /// Parses unpadded base64url of exactly 16 bytes, the form of
    /// `keys.auth`.
    pub fn from_b64(s: &str) -> Result<Self, RelayError> {
        const RULE: &str = "keys.auth: expected unpadded base64url of exactly 16 bytes";
        let bytes = Zeroizing::new(
            kms_core::b64::decode(s, AUTH_SECRET_LEN, "keys.auth")
                .map_err(|_| RelayError::InvalidSubscription(RULE.into()))?,
        );
        let arr: &[u8; AUTH_SECRET_LEN] =
            bytes.as_slice().try_into().map_err(|_| RelayError::InvalidSubscription(RULE.into()))?;
        Ok(Self(*arr))
    }

    /// The raw bytes, for the key schedule only.
    pub(super) fn expose(&self) -> &[u8; AUTH_SECRET_LEN] {
        &self.0
    }
}

impl std::fmt::Debug for AuthSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthSecret(<redacted>)")
    }
}

/// A push subscription that passed every check, so that holding one means:
///
/// - the endpoint is at most [`MAX_ENDPOINT_LEN`] bytes, a valid URL without
///   userinfo or fragment, `https`; a loopback host (`localhost`,
///   `*.localhost`, `127.0.0.0/8`, `[::1]`, IPv4-mapped loopback, or the
///   unspecified address) only when the caller passed `allow_loopback`, and
///   plain `http` only for such a host (tests and the demo);
/// - its origin is a [`PushOrigin`], the `aud` its VAPID tokens carry;
/// - `p256dh` is a 65-byte uncompressed point on P-256 (not the identity);
/// - `auth` is exactly 16 bytes.
///
/// The endpoint is kept in its normalized URL serialization (what was
/// checked is what is sent). `Debug` shows the origin only.
pub struct ValidatedSubscription {
    endpoint: String,
    origin: PushOrigin,
    p256dh: PublicKey,
    p256dh_bytes: [u8; UNCOMPRESSED_POINT_LEN],
    auth: AuthSecret,
    expiration_time_ms: Option<u64>,
}

impl ValidatedSubscription {
    /// Checks a subscription (see the type's docs). `allow_loopback` admits
    /// endpoints on this machine, for tests and the demo; a relay in
    /// production passes `false`.
    pub fn parse(sub: &PushSubscription, allow_loopback: bool) -> Result<Self, RelayError> {
        let (endpoint, origin) = check_endpoint(&sub.endpoint, allow_loopback)?;
        let (p256dh, p256dh_bytes) = parse_p256dh(&sub.keys.p256dh)?;
        let auth = AuthSecret::from_b64(&sub.keys.auth)?;
        Ok(Self { endpoint, origin, p256dh, p256dh_bytes, auth, expiration_time_ms: sub.expiration_time })
    }

    /// Parses and checks the JSON of `PushSubscription.toJSON()`, at most
    /// [`MAX_SUBSCRIPTION_JSON_LEN`] bytes.
    pub fn from_json(json: &str, allow_loopback: bool) -> Result<Self, RelayError> {
        if json.len() > MAX_SUBSCRIPTION_JSON_LEN {
            return Err(RelayError::InvalidSubscription(format!(
                "subscription JSON is longer than {MAX_SUBSCRIPTION_JSON_LEN} bytes"
            )));
        }
        // serde_json's messages name fields and types; the only values they
        // quote are scalars of the wrong type, which cannot be a valid secret.
        let sub: PushSubscription = serde_json::from_str(json)
            .map_err(|e| RelayError::InvalidSubscription(format!("subscription JSON: {e}")))?;
        Self::parse(&sub, allow_loopback)
    }

    /// The push resource URL to POST to (normalized).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The endpoint's origin: the `aud` of the VAPID token for this
    /// subscription.
    pub fn origin(&self) -> &PushOrigin {
        &self.origin
    }

    /// The user agent's ECDH public key (`keys.p256dh`).
    pub fn p256dh(&self) -> &PublicKey {
        &self.p256dh
    }

    /// `keys.p256dh` as the 65-byte uncompressed point.
    pub fn p256dh_bytes(&self) -> &[u8; UNCOMPRESSED_POINT_LEN] {
        &self.p256dh_bytes
    }

    /// The authentication secret (`keys.auth`).
    pub fn auth(&self) -> &AuthSecret {
        &self.auth
    }

    /// `expirationTime`: milliseconds since the Unix epoch, if the browser
    /// set one. Not checked here (that needs a clock); a push service answers
    /// 404 or 410 for an expired subscription.
    pub fn expiration_time_ms(&self) -> Option<u64> {
        self.expiration_time_ms
    }
}

impl std::fmt::Debug for ValidatedSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValidatedSubscription")
            .field("origin", &self.origin)
            .field("expiration_time_ms", &self.expiration_time_ms)
            .finish_non_exhaustive()
    }
}

/// Returns the normalized endpoint and its origin.
fn check_endpoint(endpoint: &str, allow_loopback: bool) -> Result<(String, PushOrigin), RelayError> {
    let invalid = |msg: String| RelayError::InvalidSubscription(msg);
    if endpoint.len() > MAX_ENDPOINT_LEN {
        return Err(invalid(format!("endpoint is longer than {MAX_ENDPOINT_LEN} bytes")));
    }
    let url = Url::parse(endpoint).map_err(|_| invalid("endpoint is not a valid URL".into()))?;
    let host = url.host().ok_or_else(|| invalid("endpoint has no host".into()))?;
    let loopback = is_loopback(&host);
    if loopback && !allow_loopback {
        return Err(invalid(
            "endpoint is on this machine (a loopback or unspecified address): allowed only when loopback endpoints \
             are enabled for tests"
                .into(),
        ));
    }
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(invalid("endpoint must use https (http is allowed only for loopback test endpoints)".into()))
        }
        _ => return Err(invalid("endpoint must use https".into())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("endpoint must not contain userinfo".into()));
    }
    if url.fragment().is_some() {
        return Err(invalid("endpoint must not contain a fragment".into()));
    }
    // Normalization can lengthen the URL (percent-encoding).
    let normalized = String::from(url);
    if normalized.len() > MAX_ENDPOINT_LEN {
        return Err(invalid(format!("endpoint is longer than {MAX_ENDPOINT_LEN} bytes once normalized")));
    }
    // The same rules the KMS applies to a token's `aud` (it refuses http to
    // loopback hosts other than localhost, 127.0.0.0/8 and [::1]).
    let origin = PushOrigin::from_endpoint(&normalized).map_err(|e| invalid(format!("endpoint origin: {e}")))?;
    Ok((normalized, origin))
}

/// A host that names this machine. Broader than the set for which
/// [`PushOrigin`] allows `http`: here it decides what is refused without
/// `allow_loopback`. The `url` crate has already lowercased domains and
/// normalized IP literals (`127.1` is `127.0.0.1`).
fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(d) => {
            let d = d.strip_suffix('.').unwrap_or(d);
            d == "localhost" || d.ends_with(".localhost")
        }
        Host::Ipv4(ip) => is_loopback_v4(*ip),
        Host::Ipv6(ip) => {
            *ip == Ipv6Addr::LOCALHOST || ip.is_unspecified() || ip.to_ipv4_mapped().is_some_and(is_loopback_v4)
        }
    }
}

fn is_loopback_v4(ip: Ipv4Addr) -> bool {
    ip.is_loopback() || ip.is_unspecified()
}

/// Parses `keys.p256dh`: unpadded base64url of a 65-byte uncompressed point.
fn parse_p256dh(s: &str) -> Result<(PublicKey, [u8; UNCOMPRESSED_POINT_LEN]), RelayError> {
    const RULE: &str = "keys.p256dh: expected unpadded base64url of a 65-byte uncompressed P-256 point";
    let bytes = kms_core::b64::decode(s, UNCOMPRESSED_POINT_LEN, "keys.p256dh")
        .map_err(|_| RelayError::InvalidSubscription(RULE.into()))?;
    let arr: [u8; UNCOMPRESSED_POINT_LEN] =
        bytes.as_slice().try_into().map_err(|_| RelayError::InvalidSubscription(RULE.into()))?;
    let key = parse_uncompressed_point(&arr)
        .ok_or_else(|| RelayError::InvalidSubscription("keys.p256dh: not an uncompressed point on P-256".into()))?;
    Ok((key, arr))
}

/// An uncompressed SEC1 point (`0x04 || x || y`) on P-256. Compressed points
/// and the identity are refused; `p256` refuses points off the curve.
pub(super) fn parse_uncompressed_point(bytes: &[u8; UNCOMPRESSED_POINT_LEN]) -> Option<PublicKey> {
    if bytes.first() != Some(&0x04) {
        return None;
    }
    PublicKey::from_sec1_bytes(bytes).ok()
}

/// The uncompressed SEC1 encoding of a point.
pub(super) fn uncompressed_point(key: &PublicKey) -> Result<[u8; UNCOMPRESSED_POINT_LEN], RelayError> {
    key.to_encoded_point(false)
        .as_bytes()
        .try_into()
        .map_err(|_| RelayError::Internal("a P-256 point did not encode to 65 bytes"))
}
