//! Push subscriptions as the browser hands them over, and the validated form
//! that the engine stores and the relay encrypts to.

use p256::PublicKey;
use serde::{Deserialize, Deserializer, Serialize};
use subtle::ConstantTimeEq as _;
use url::Url;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use super::policy::PushServicePolicy;
use super::record::SubscriptionId;
use crate::error::{CoreError, Result};
use crate::vapid::{PushOrigin, MAX_ENDPOINT_LEN};
use crate::weburl;

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
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub struct PushSubscription {
    /// The push resource URL the relay POSTs to.
    pub endpoint: String,
    /// When the subscription expires, milliseconds since the Unix epoch, or
    /// `null` (the usual case). Absent is `null`; anything but a
    /// non-negative integer or `null` is refused.
    #[serde(default, deserialize_with = "expiration_time")]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub expiration_time: Option<u64>,
    /// The user agent's keys.
    pub keys: PushSubscriptionKeys,
}

/// `expirationTime` (an `EpochTimeStamp`, an integer, in the Push API), with
/// an error that names the field.
fn expiration_time<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    Option::<u64>::deserialize(d).map_err(|_| {
        serde::de::Error::custom("expirationTime: expected a non-negative integer (ms since the Unix epoch) or null")
    })
}

/// The `keys` of a [`PushSubscription`], base64url without padding. Wiped
/// from memory on drop.
#[derive(Clone, Serialize, Deserialize, Zeroize, ZeroizeOnDrop)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
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
/// that the user agent made and shares with the application server. It is
/// the HKDF salt of every message's key schedule (RFC 8291 section 3.3), so
/// without it nobody can produce a message the user agent accepts, even
/// with the endpoint, `p256dh` and a valid VAPID token. It does not let
/// anyone decrypt: that takes the user agent's ECDH private key.
///
/// Wiped on drop; `Debug` prints `<redacted>`; not `Serialize` (a
/// [`super::SubscriptionRecord`] writes it out on purpose, see there).
/// Equality is constant-time. `Clone` so that a record can be cloned; every
/// copy is wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct AuthSecret([u8; AUTH_SECRET_LEN]);

impl AuthSecret {
    /// Wraps 16 bytes (for the user-agent side: tests and the demo).
    pub fn from_bytes(bytes: [u8; AUTH_SECRET_LEN]) -> Self {
        Self(bytes)
    }

    /// Parses unpadded base64url of exactly 16 bytes, the form of
    /// `keys.auth`.
    pub fn from_b64(s: &str) -> Result<Self> {
        const RULE: &str = "push subscription keys.auth: expected unpadded base64url of exactly 16 bytes";
        let bytes =
            Zeroizing::new(crate::b64::decode(s, AUTH_SECRET_LEN, "keys.auth").map_err(|_| CoreError::invalid(RULE))?);
        let arr: &[u8; AUTH_SECRET_LEN] = bytes.as_slice().try_into().map_err(|_| CoreError::invalid(RULE))?;
        Ok(Self(*arr))
    }

    /// **Dangerous: the raw secret.** For the RFC 8291 key schedule (the
    /// relay's encryption, the test user agent's decryption) and nothing
    /// else: do not log, print or send these bytes.
    pub fn dangerous_as_bytes(&self) -> &[u8; AUTH_SECRET_LEN] {
        &self.0
    }

    /// The base64url text, for the stored record only.
    pub(super) fn to_b64(&self) -> Zeroizing<String> {
        Zeroizing::new(crate::b64::encode(self.0))
    }
}

impl PartialEq for AuthSecret {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for AuthSecret {}

impl std::fmt::Debug for AuthSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthSecret(<redacted>)")
    }
}

/// A push subscription that passed every check, so that holding one means:
///
/// - the endpoint is at most [`MAX_ENDPOINT_LEN`] bytes (as given and once
///   normalized), a valid URL without userinfo or fragment, and admitted by
///   the [`PushServicePolicy`] it was parsed under: `https` to a host on the
///   policy's allowlist, or, only when the policy allows loopback, `http` or
///   `https` to `localhost`, `127.0.0.0/8` or `[::1]`;
/// - its origin is a [`PushOrigin`], the `aud` its VAPID tokens carry;
/// - `p256dh` is a 65-byte uncompressed point on P-256 (not the identity);
/// - `auth` is exactly 16 bytes;
/// - `expirationTime` was a non-negative integer or `null`.
///
/// The endpoint is kept in its normalized URL serialization (what was
/// checked is what is sent, and what [`SubscriptionId`] hashes). `Debug`
/// shows the origin only: an endpoint's path is the push service's handle
/// on the user agent and stays out of logs. Equality compares the auth
/// secret in constant time.
#[derive(PartialEq, Eq)]
pub struct ValidatedSubscription {
    endpoint: String,
    origin: PushOrigin,
    p256dh: PublicKey,
    p256dh_bytes: [u8; UNCOMPRESSED_POINT_LEN],
    auth: AuthSecret,
    expiration_time_ms: Option<u64>,
}

impl ValidatedSubscription {
    /// Checks a subscription (see the type's docs) under `policy`. The
    /// engine and a production relay pass the deployment's policy (by
    /// default [`PushServicePolicy::major_push_services`]); tests and the
    /// demo's local push service add [`PushServicePolicy::with_loopback`].
    pub fn parse(sub: &PushSubscription, policy: &PushServicePolicy) -> Result<Self> {
        let (endpoint, origin) = check_endpoint(&sub.endpoint, policy)?;
        let (p256dh, p256dh_bytes) = parse_p256dh(&sub.keys.p256dh)?;
        let auth = AuthSecret::from_b64(&sub.keys.auth)?;
        Ok(Self { endpoint, origin, p256dh, p256dh_bytes, auth, expiration_time_ms: sub.expiration_time })
    }

    /// Parses and checks the JSON of `PushSubscription.toJSON()`, at most
    /// [`MAX_SUBSCRIPTION_JSON_LEN`] bytes, under `policy`.
    pub fn from_json(json: &str, policy: &PushServicePolicy) -> Result<Self> {
        if json.len() > MAX_SUBSCRIPTION_JSON_LEN {
            return Err(CoreError::invalid(format!(
                "push subscription JSON is longer than {MAX_SUBSCRIPTION_JSON_LEN} bytes"
            )));
        }
        // serde_json's messages name fields and types; the only values they
        // quote are scalars of the wrong type, which cannot be a valid secret.
        let sub: PushSubscription =
            serde_json::from_str(json).map_err(|e| CoreError::invalid(format!("push subscription JSON: {e}")))?;
        Self::parse(&sub, policy)
    }

    /// Rebuilds a subscription from the parts of a stored record, which the
    /// record's decoder already checked, under the policy in force now.
    pub(super) fn from_parts(
        endpoint: &str,
        p256dh_bytes: &[u8; UNCOMPRESSED_POINT_LEN],
        auth: &AuthSecret,
        expiration_time_ms: Option<u64>,
        policy: &PushServicePolicy,
    ) -> Result<Self> {
        let (endpoint, origin) = check_endpoint(endpoint, policy)?;
        let p256dh = parse_uncompressed_point(p256dh_bytes)
            .ok_or_else(|| CoreError::invalid("push subscription keys.p256dh: not an uncompressed point on P-256"))?;
        Ok(Self { endpoint, origin, p256dh, p256dh_bytes: *p256dh_bytes, auth: auth.clone(), expiration_time_ms })
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

    /// The subscription's id: SHA-256 of the normalized endpoint.
    pub fn id(&self) -> SubscriptionId {
        SubscriptionId::for_endpoint(&self.endpoint)
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

/// The endpoint as the URL parser reads it, with the checks that do not
/// depend on the policy: length (before and after normalization), userinfo,
/// fragment. Returns the parsed URL and its serialization.
pub(super) fn normalize_endpoint(endpoint: &str) -> Result<(Url, String)> {
    if endpoint.len() > MAX_ENDPOINT_LEN {
        return Err(CoreError::invalid(format!("push subscription endpoint is longer than {MAX_ENDPOINT_LEN} bytes")));
    }
    let url = weburl::parse(endpoint).map_err(|e| CoreError::invalid(format!("push subscription endpoint: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(CoreError::invalid("push subscription endpoint must not contain userinfo"));
    }
    if url.fragment().is_some() {
        return Err(CoreError::invalid("push subscription endpoint must not contain a fragment"));
    }
    // Normalization can lengthen the URL (percent-encoding).
    let normalized = url.as_str().to_owned();
    if normalized.len() > MAX_ENDPOINT_LEN {
        return Err(CoreError::invalid(format!(
            "push subscription endpoint is longer than {MAX_ENDPOINT_LEN} bytes once normalized"
        )));
    }
    Ok((url, normalized))
}

/// Returns the normalized endpoint and its origin, if `policy` admits it.
fn check_endpoint(endpoint: &str, policy: &PushServicePolicy) -> Result<(String, PushOrigin)> {
    let (url, normalized) = normalize_endpoint(endpoint)?;
    policy.admit(&url)?;
    // The rules the KMS applies to a token's `aud` hold too (the policy is
    // narrower, so this refuses nothing the policy admitted; it makes the
    // origin through the one constructor every `PushOrigin` goes through).
    let origin = PushOrigin::from_endpoint(&normalized)
        .map_err(|e| CoreError::invalid(format!("push subscription endpoint origin: {e}")))?;
    Ok((normalized, origin))
}

/// Parses `keys.p256dh`: unpadded base64url of a 65-byte uncompressed point.
pub(super) fn parse_p256dh(s: &str) -> Result<(PublicKey, [u8; UNCOMPRESSED_POINT_LEN])> {
    const RULE: &str =
        "push subscription keys.p256dh: expected unpadded base64url of a 65-byte uncompressed P-256 point";
    let bytes = crate::b64::decode(s, UNCOMPRESSED_POINT_LEN, "keys.p256dh").map_err(|_| CoreError::invalid(RULE))?;
    let arr: [u8; UNCOMPRESSED_POINT_LEN] = bytes.as_slice().try_into().map_err(|_| CoreError::invalid(RULE))?;
    let key = parse_uncompressed_point(&arr)
        .ok_or_else(|| CoreError::invalid("push subscription keys.p256dh: not an uncompressed point on P-256"))?;
    Ok((key, arr))
}

/// An uncompressed SEC1 point (`0x04 || x || y`) on P-256. Compressed points
/// and the identity are refused; `p256` refuses points off the curve.
fn parse_uncompressed_point(bytes: &[u8; UNCOMPRESSED_POINT_LEN]) -> Option<PublicKey> {
    if bytes.first() != Some(&0x04) {
        return None;
    }
    PublicKey::from_sec1_bytes(bytes).ok()
}
