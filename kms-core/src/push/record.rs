//! What the engine stores for one push subscription of a user, the public
//! view of it, and the questions the engine asks of a user's subscriptions.
//! Why the auth secret is stored in the clear: see the `push` module docs.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::policy::PushServicePolicy;
use super::subscription::{
    normalize_endpoint, parse_p256dh, AuthSecret, ValidatedSubscription, UNCOMPRESSED_POINT_LEN,
};
use crate::error::{CoreError, Result};
use crate::ids::KeyId;
use crate::vapid::PushOrigin;

/// The format version `v` of a [`SubscriptionRecord`].
pub const SUBSCRIPTION_RECORD_FORMAT: u32 = 1;

/// Length of a [`SubscriptionId`]: 32 bytes of SHA-256 in unpadded
/// base64url.
const SUBSCRIPTION_ID_LEN: usize = 43;

/// A push subscription's id: SHA-256 of its normalized endpoint (the UTF-8
/// bytes of [`ValidatedSubscription::endpoint`]), unpadded base64url, 43
/// characters. The same endpoint is therefore always the same subscription
/// (a browser that subscribes again with new keys replaces it), and a page
/// can compute the id of its current subscription itself
/// (`crypto.subtle.digest("SHA-256", endpoint)`).
///
/// An endpoint carries the push service's high-entropy handle on the user
/// agent, which a hash does not reveal: ids may appear in logs and audit
/// entries where endpoints should not.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
// TypeScript: a string, as the `Serialize` impl writes it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
pub struct SubscriptionId(String);

impl SubscriptionId {
    /// The id of an endpoint. Pass the normalized endpoint
    /// ([`ValidatedSubscription::endpoint`], [`SubscriptionRecord::endpoint`]):
    /// another spelling of the same URL hashes differently.
    pub fn for_endpoint(endpoint: &str) -> Self {
        Self(crate::b64::encode(Sha256::digest(endpoint.as_bytes())))
    }

    /// Parses an id as sent over RPC: 43 characters of unpadded base64url
    /// that decode to 32 bytes.
    pub fn parse(s: &str) -> Result<Self> {
        const RULE: &str = "subscription_id: expected 43 characters of unpadded base64url (SHA-256 of the endpoint)";
        if s.len() != SUBSCRIPTION_ID_LEN {
            return Err(CoreError::invalid(RULE));
        }
        crate::b64::decode_array::<32>(s, "subscription_id").map_err(|_| CoreError::invalid(RULE))?;
        Ok(Self(s.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SubscriptionId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for SubscriptionId {
    type Err = CoreError;

    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s)
    }
}

impl Serialize for SubscriptionId {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SubscriptionId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// One stored push subscription of a user.
///
/// Stored as JSON (format `v: 1`, unknown fields refused):
///
/// ```json
/// {"v": 1, "id": "<SHA-256 of endpoint, base64url>", "endpoint": "https://fcm.googleapis.com/fcm/send/…",
///  "p256dh": "<65-byte point, base64url>", "auth": "<16 bytes, base64url>", "expiration_time_ms": null,
///  "kid": "<VAPID key id>", "origin": "https://fcm.googleapis.com", "created_ms": 1700000000000}
/// ```
///
/// `auth` is in the clear: see the module docs for why and what that
/// means. Decoding checks everything that does not depend on the
/// deployment's policy: the endpoint is in normalized form, without
/// userinfo or fragment, at most 4096 bytes; `id` and `origin` are what the
/// endpoint gives (a mismatch is refused, never corrected); `p256dh` is an
/// uncompressed P-256 point; `auth` is 16 bytes. [`Self::validate`] adds the
/// policy in force.
///
/// `Debug` shows the id, origin, key id and times: not the endpoint, not
/// the auth secret.
#[derive(Clone, PartialEq, Eq)]
pub struct SubscriptionRecord {
    id: SubscriptionId,
    endpoint: String,
    origin: PushOrigin,
    p256dh: [u8; UNCOMPRESSED_POINT_LEN],
    auth: AuthSecret,
    expiration_time_ms: Option<u64>,
    kid: KeyId,
    created_ms: u64,
}

impl SubscriptionRecord {
    /// The record for a validated subscription made with the VAPID key
    /// `kid` (the `applicationServerKey` the page subscribed with), created
    /// at `now_ms`. A subscription whose `expirationTime` is not after
    /// `now_ms` is refused: no push can reach it.
    pub fn new(sub: &ValidatedSubscription, kid: KeyId, now_ms: u64) -> Result<Self> {
        if let Some(exp) = sub.expiration_time_ms() {
            if exp <= now_ms {
                return Err(CoreError::invalid(format!(
                    "push subscription expired at {exp} (ms since the Unix epoch), not after now ({now_ms}): \
                     subscribe again"
                )));
            }
        }
        Ok(Self {
            id: sub.id(),
            endpoint: sub.endpoint().to_owned(),
            origin: sub.origin().clone(),
            p256dh: *sub.p256dh_bytes(),
            auth: sub.auth().clone(),
            expiration_time_ms: sub.expiration_time_ms(),
            kid,
            created_ms: now_ms,
        })
    }

    /// The subscription under the policy in force now, ready to encrypt to.
    /// A record stored under a broader policy (or written by someone else)
    /// is refused like a new subscription would be.
    pub fn validate(&self, policy: &PushServicePolicy) -> Result<ValidatedSubscription> {
        ValidatedSubscription::from_parts(&self.endpoint, &self.p256dh, &self.auth, self.expiration_time_ms, policy)
    }

    /// The public view, without the auth secret.
    pub fn info(&self) -> SubscriptionInfo {
        SubscriptionInfo {
            id: self.id.clone(),
            endpoint: self.endpoint.clone(),
            origin: self.origin.clone(),
            kid: self.kid.clone(),
            expiration_time_ms: self.expiration_time_ms,
            created_ms: self.created_ms,
        }
    }

    /// The id: SHA-256 of the endpoint.
    pub fn id(&self) -> &SubscriptionId {
        &self.id
    }

    /// The push resource URL (normalized).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The endpoint's origin: the `aud` of VAPID tokens for it.
    pub fn origin(&self) -> &PushOrigin {
        &self.origin
    }

    /// `keys.p256dh` as the 65-byte uncompressed point.
    pub fn p256dh_bytes(&self) -> &[u8; UNCOMPRESSED_POINT_LEN] {
        &self.p256dh
    }

    /// The authentication secret (`keys.auth`).
    pub fn auth(&self) -> &AuthSecret {
        &self.auth
    }

    /// The id of the VAPID key the subscription was made with.
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    /// `expirationTime`, milliseconds since the Unix epoch, if the browser
    /// set one.
    pub fn expiration_time_ms(&self) -> Option<u64> {
        self.expiration_time_ms
    }

    /// Whether the subscription has expired at `now_ms` (its
    /// `expirationTime` is not after `now_ms`).
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expiration_time_ms.is_some_and(|exp| exp <= now_ms)
    }

    /// When the record was made, milliseconds since the Unix epoch.
    pub fn created_ms(&self) -> u64 {
        self.created_ms
    }
}

impl std::fmt::Debug for SubscriptionRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionRecord")
            .field("id", &self.id)
            .field("origin", &self.origin)
            .field("kid", &self.kid)
            .field("expiration_time_ms", &self.expiration_time_ms)
            .field("created_ms", &self.created_ms)
            .finish_non_exhaustive()
    }
}

/// The stored layout, written.
#[derive(Serialize)]
struct RecordOut<'a> {
    v: u32,
    id: &'a SubscriptionId,
    endpoint: &'a str,
    p256dh: String,
    auth: &'a str,
    expiration_time_ms: Option<u64>,
    kid: &'a KeyId,
    origin: &'a PushOrigin,
    created_ms: u64,
}

/// The stored layout, read. Every field is required (`expiration_time_ms`
/// may be `null`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecordIn {
    v: u32,
    id: SubscriptionId,
    endpoint: String,
    p256dh: String,
    auth: AuthText,
    // Required even though it may be null (serde would default a missing
    // `Option` to `None`).
    #[serde(deserialize_with = "Option::deserialize")]
    expiration_time_ms: Option<u64>,
    kid: KeyId,
    origin: PushOrigin,
    created_ms: u64,
}

/// The base64url text of an auth secret while it is decoded: wiped on drop.
#[derive(Zeroize, ZeroizeOnDrop)]
struct AuthText(String);

impl<'de> Deserialize<'de> for AuthText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

impl Serialize for SubscriptionRecord {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let auth = self.auth.to_b64();
        RecordOut {
            v: SUBSCRIPTION_RECORD_FORMAT,
            id: &self.id,
            endpoint: &self.endpoint,
            p256dh: crate::b64::encode(self.p256dh),
            auth: &auth,
            expiration_time_ms: self.expiration_time_ms,
            kid: &self.kid,
            origin: &self.origin,
            created_ms: self.created_ms,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for SubscriptionRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let raw = RecordIn::deserialize(d)?;
        Self::from_stored(raw).map_err(serde::de::Error::custom)
    }
}

impl SubscriptionRecord {
    /// Checks a decoded record (see the type's docs). Messages name fields,
    /// never values.
    fn from_stored(raw: RecordIn) -> Result<Self> {
        let corrupt = |what: &str| CoreError::invalid(format!("push subscription record: {what}"));
        if raw.v != SUBSCRIPTION_RECORD_FORMAT {
            return Err(corrupt(&format!(
                "unsupported format version {} (expected {SUBSCRIPTION_RECORD_FORMAT})",
                raw.v
            )));
        }
        let (_, normalized) = normalize_endpoint(&raw.endpoint)?;
        if normalized != raw.endpoint {
            return Err(corrupt("endpoint is not in normalized form"));
        }
        let origin = PushOrigin::from_endpoint(&raw.endpoint)
            .map_err(|e| corrupt(&format!("endpoint has no acceptable origin: {e}")))?;
        if origin != raw.origin {
            return Err(corrupt("origin is not the endpoint's origin"));
        }
        if SubscriptionId::for_endpoint(&raw.endpoint) != raw.id {
            return Err(corrupt("id is not the SHA-256 of the endpoint"));
        }
        let (_, p256dh) = parse_p256dh(&raw.p256dh)?;
        let auth = AuthSecret::from_b64(&raw.auth.0)?;
        Ok(Self {
            id: raw.id,
            endpoint: raw.endpoint,
            origin,
            p256dh,
            auth,
            expiration_time_ms: raw.expiration_time_ms,
            kid: raw.kid,
            created_ms: raw.created_ms,
        })
    }
}

/// The public description of a stored subscription, for RPC results: no
/// auth secret, no keys. `Debug` leaves out the endpoint (the push
/// service's handle on the user agent); serialization includes it, for the
/// user's own pages.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SubscriptionInfo {
    /// SHA-256 of the endpoint.
    pub id: SubscriptionId,
    /// The push resource URL (normalized).
    pub endpoint: String,
    /// The endpoint's origin: the push service, a lease audience.
    pub origin: PushOrigin,
    /// The VAPID key the subscription was made with.
    pub kid: KeyId,
    /// `expirationTime`, milliseconds since the Unix epoch.
    pub expiration_time_ms: Option<u64>,
    /// When the record was made, milliseconds since the Unix epoch.
    pub created_ms: u64,
}

impl std::fmt::Debug for SubscriptionInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SubscriptionInfo")
            .field("id", &self.id)
            .field("origin", &self.origin)
            .field("kid", &self.kid)
            .field("expiration_time_ms", &self.expiration_time_ms)
            .field("created_ms", &self.created_ms)
            .finish_non_exhaustive()
    }
}

/// The subscriptions bound to `retired_kid`, in the order given: after a
/// rotation retires that key, the push services refuse tokens of the new
/// key for them (RFC 8292 section 4), so the user agent must subscribe
/// again with the new `applicationServerKey`.
pub fn affected_by_rotation<'a>(
    subs: impl IntoIterator<Item = &'a SubscriptionRecord>,
    retired_kid: &KeyId,
) -> Vec<SubscriptionId> {
    subs.into_iter().filter(|s| s.kid() == retired_kid).map(|s| s.id().clone()).collect()
}

/// The distinct origins (push services) of `subs`, sorted by their text:
/// the default audiences of a lease. Expired subscriptions count unless the
/// caller filters them out ([`SubscriptionRecord::is_expired`]).
///
/// A sorted, duplicate-free `Vec` rather than a `BTreeSet`, because
/// [`PushOrigin`] has no `Ord`.
pub fn origins<'a>(subs: impl IntoIterator<Item = &'a SubscriptionRecord>) -> Vec<PushOrigin> {
    let mut out: Vec<PushOrigin> = subs.into_iter().map(|s| s.origin().clone()).collect();
    out.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    out.dedup();
    out
}
