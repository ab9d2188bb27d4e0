//! What one audit entry says, its caps, and its canonical bytes.
//!
//! An entry is plain, public data: what happened ([`EventKind`]), how it
//! ended ([`Outcome`]), by which unlock method, to which ids, and why it was
//! refused. It never holds a secret, a passphrase, a PRF output or a full
//! token: ids are identifiers (enrollment id, kid, lease id, jti, relay,
//! subscription origin), and the caps below keep an entry small enough that
//! nothing bulky fits.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use super::error::AuditError;
use crate::ids::UserId;

/// At most this many ids per entry.
pub const MAX_IDS: usize = 16;
/// An id's name: 1 to 32 bytes of `[a-z0-9_]`, starting with a letter.
pub const MAX_ID_KEY_LEN: usize = 32;
/// An id's value: 1 to 256 bytes of UTF-8, no control or bidi-control
/// characters.
pub const MAX_ID_VALUE_LEN: usize = 256;
/// `method` and `reason`: 1 to 64 bytes of `[a-z0-9_]`, starting with a
/// letter (stable codes, not prose).
pub const MAX_CODE_LEN: usize = 64;

/// The domain-separation prefix of a chain's genesis hash.
const GENESIS_PREFIX: &str = "kms-audit/v1/genesis\n";

/// Which chain an entry belongs to: one per user, and one for the instance.
///
/// Serialized as `"user:<id>"` or `"instance"`. A user id never contains `:`
/// or a newline ([`UserId::parse`]), so the text form is unambiguous and safe
/// inside the newline-separated checkpoint text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
// TypeScript: the text the `Serialize` impl writes.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "`user:${string}` | \"instance\""))]
pub enum AuditScope {
    /// The log of one user: everything done with that user's keys, sessions,
    /// enrollments, leases and subscriptions.
    User(UserId),
    /// Instance-level events (for example a user's deletion, which outlives
    /// that user's own log).
    Instance,
}

impl AuditScope {
    /// Parses `"instance"` or `"user:<id>"` (the id as [`UserId::parse`]
    /// accepts it).
    pub fn parse(s: &str) -> Result<Self, AuditError> {
        if s == "instance" {
            return Ok(Self::Instance);
        }
        match s.strip_prefix("user:") {
            Some(id) => UserId::parse(id)
                .map(Self::User)
                .map_err(|_| AuditError::InvalidScope("not a valid user id after \"user:\"".into())),
            None => Err(AuditError::InvalidScope("expected \"instance\" or \"user:<id>\"".into())),
        }
    }

    /// The user of a user scope.
    pub fn user(&self) -> Option<&UserId> {
        match self {
            Self::User(u) => Some(u),
            Self::Instance => None,
        }
    }
}

impl fmt::Display for AuditScope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::User(u) => write!(f, "user:{u}"),
            Self::Instance => f.write_str("instance"),
        }
    }
}

impl Serialize for AuditScope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AuditScope {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// What happened. The names are part of the export format: never rename
/// one, only add (an old verifier then refuses an export with a new kind,
/// which is the safe failure).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum EventKind {
    /// A user was set up (first enrollment, master secret created).
    Setup,
    /// An unlock attempt (`outcome` says whether it worked; a throttled
    /// attempt is `refused` with reason `throttled`).
    Unlock,
    /// A session was locked on request.
    Lock,
    /// A session ended by expiry.
    SessionExpired,
    /// An enrollment (passphrase or passkey) was added.
    EnrollmentAdd,
    /// An enrollment was removed.
    EnrollmentRemove,
    /// A passphrase was changed.
    PassphraseChange,
    /// A VAPID key was generated.
    KeyGenerate,
    /// The VAPID key was rotated.
    KeyRotate,
    /// A JWT was signed in a session.
    JwtSign,
    /// A lease was created.
    LeaseCreate,
    /// A lease was extended.
    LeaseExtend,
    /// A lease was revoked.
    LeaseRevoke,
    /// A lease expired and was cleaned up.
    LeaseExpire,
    /// Tokens were issued (or refused) under a lease.
    LeaseToken,
    /// A push subscription was stored.
    SubscriptionAdd,
    /// A push subscription was removed.
    SubscriptionRemove,
    /// A user was deleted.
    UserDelete,
    /// The log was exported.
    Export,
    /// An export was verified.
    Verify,
    /// The engine found the stored chain rewritten (a gap, a broken link, a
    /// MAC or a chain state that does not match `K_0` evolved): this entry
    /// names the first bad `seq` and starts a new segment, MACed under a
    /// fresh key derived from `K_0` ([`super::chain::AuditMacKey::segment`]).
    TamperDetected,
    /// The user re-keyed (`rekey`): a new master secret, every enrollment
    /// wrapped again or removed, the sealed keys re-sealed. The entry starts
    /// a new MAC epoch: it is MACed under the segment key of its `seq`
    /// derived from the *new* master secret's `K_0`, and the keys after it
    /// evolve from there, so a holder of the old `K_0` can neither forge
    /// nor check anything written after it.
    Rekey,
}

impl EventKind {
    /// Every kind, in declaration order.
    pub const ALL: [EventKind; 22] = [
        Self::Setup,
        Self::Unlock,
        Self::Lock,
        Self::SessionExpired,
        Self::EnrollmentAdd,
        Self::EnrollmentRemove,
        Self::PassphraseChange,
        Self::KeyGenerate,
        Self::KeyRotate,
        Self::JwtSign,
        Self::LeaseCreate,
        Self::LeaseExtend,
        Self::LeaseRevoke,
        Self::LeaseExpire,
        Self::LeaseToken,
        Self::SubscriptionAdd,
        Self::SubscriptionRemove,
        Self::UserDelete,
        Self::Export,
        Self::Verify,
        Self::TamperDetected,
        Self::Rekey,
    ];

    /// The name as it appears in entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Setup => "setup",
            Self::Unlock => "unlock",
            Self::Lock => "lock",
            Self::SessionExpired => "session_expired",
            Self::EnrollmentAdd => "enrollment_add",
            Self::EnrollmentRemove => "enrollment_remove",
            Self::PassphraseChange => "passphrase_change",
            Self::KeyGenerate => "key_generate",
            Self::KeyRotate => "key_rotate",
            Self::JwtSign => "jwt_sign",
            Self::LeaseCreate => "lease_create",
            Self::LeaseExtend => "lease_extend",
            Self::LeaseRevoke => "lease_revoke",
            Self::LeaseExpire => "lease_expire",
            Self::LeaseToken => "lease_token",
            Self::SubscriptionAdd => "subscription_add",
            Self::SubscriptionRemove => "subscription_remove",
            Self::UserDelete => "user_delete",
            Self::Export => "export",
            Self::Verify => "verify",
            Self::TamperDetected => "tamper_detected",
            Self::Rekey => "rekey",
        }
    }
}

/// How an operation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It was done.
    Ok,
    /// It was attempted and failed (a wrong passphrase, a bad assertion).
    Failed,
    /// It was refused before it was attempted (throttled, locked, a revoked
    /// or expired lease, a quota).
    Refused,
}

impl Outcome {
    /// The name as it appears in entries.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Refused => "refused",
        }
    }
}

/// What the caller asks to record; [`super::append`] adds the sequence
/// number, time, scope, link and MAC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    pub event: EventKind,
    pub outcome: Outcome,
    /// The unlock method, as a code (`passphrase`, `passkey_prf`,
    /// `passkey_gate`).
    pub method: Option<String>,
    /// The ids involved, by name (`enrollment_id`, `kid`, `lease_id`, `jti`,
    /// `relay`, `origin`...). Never secrets. See the caps [`MAX_IDS`],
    /// [`MAX_ID_KEY_LEN`], [`MAX_ID_VALUE_LEN`].
    pub ids: BTreeMap<String, String>,
    /// A stable snake_case reason or error code (`throttled`,
    /// `unlock_failed`, `lease_revoked`...).
    pub reason: Option<String>,
}

impl AuditRecord {
    /// A record with no method, ids or reason.
    pub fn new(event: EventKind, outcome: Outcome) -> Self {
        Self { event, outcome, method: None, ids: BTreeMap::new(), reason: None }
    }

    /// Sets the unlock method.
    #[must_use]
    pub fn with_method(mut self, method: impl Into<String>) -> Self {
        self.method = Some(method.into());
        self
    }

    /// Adds (or replaces) one id. The value goes through [`id_value`]: a
    /// value a caller sent is recorded as it came, made visible and cut to
    /// size, never refused (a refused entry would be a refusal without a
    /// trace).
    #[must_use]
    pub fn with_id(mut self, name: impl Into<String>, value: impl AsRef<str>) -> Self {
        self.ids.insert(name.into(), id_value(value.as_ref()));
        self
    }

    /// Sets the reason code.
    #[must_use]
    pub fn with_reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }

    /// Checks every cap and character rule.
    pub(crate) fn validate(&self) -> Result<(), AuditError> {
        if let Some(m) = &self.method {
            check_code(m, "method")?;
        }
        if let Some(r) = &self.reason {
            check_code(r, "reason")?;
        }
        if self.ids.len() > MAX_IDS {
            return Err(AuditError::InvalidRecord(format!("ids: at most {MAX_IDS} ids")));
        }
        for (k, v) in &self.ids {
            check_id(k, v)?;
        }
        Ok(())
    }
}

/// A snake_case code: `[a-z][a-z0-9_]*`. Also the rule for id names, which
/// keeps them free of JSON escapes and never numeric (JavaScript reorders
/// integer-like object keys, which would break a re-serializing verifier).
fn is_code(s: &str, max: usize) -> bool {
    let mut bytes = s.bytes();
    s.len() <= max
        && bytes.next().is_some_and(|b| b.is_ascii_lowercase())
        && bytes.all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn check_code(s: &str, field: &str) -> Result<(), AuditError> {
    if is_code(s, MAX_CODE_LEN) {
        Ok(())
    } else {
        Err(AuditError::InvalidRecord(format!(
            "{field}: must be 1 to {MAX_CODE_LEN} bytes of [a-z0-9_], starting with a letter"
        )))
    }
}

/// Control characters and the Unicode bidirectional controls (which can make
/// a value display as something else, "Trojan Source") are refused in id
/// values.
pub(crate) fn is_refused_char(c: char) -> bool {
    c.is_control() || matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// What marks an id value that was cut.
const CUT_MARK: &str = "\u{2026}";
/// What stands for an empty value.
const EMPTY_MARK: &str = "(empty)";

/// `raw` made fit for an id value: every control or bidirectional-control
/// character written out as its escape (`\u{202e}`), cut at a character
/// boundary to at most [`MAX_ID_VALUE_LEN`] bytes with a trailing `…` when
/// cut, and `(empty)` for nothing. A value that is already fit comes back
/// unchanged.
pub fn id_value(raw: &str) -> String {
    if raw.is_empty() {
        return EMPTY_MARK.to_owned();
    }
    let mut out = String::with_capacity(raw.len().min(MAX_ID_VALUE_LEN));
    for c in raw.chars() {
        let piece = if is_refused_char(c) { format!("\\u{{{:x}}}", u32::from(c)) } else { c.to_string() };
        if out.len() + piece.len() > MAX_ID_VALUE_LEN {
            // Room for the mark: drop whole characters until it fits.
            while out.len() + CUT_MARK.len() > MAX_ID_VALUE_LEN {
                out.pop();
            }
            out.push_str(CUT_MARK);
            return out;
        }
        out.push_str(&piece);
    }
    out
}

fn check_id(key: &str, value: &str) -> Result<(), AuditError> {
    if !is_code(key, MAX_ID_KEY_LEN) {
        return Err(AuditError::InvalidRecord(format!(
            "ids: a name must be 1 to {MAX_ID_KEY_LEN} bytes of [a-z0-9_], starting with a letter"
        )));
    }
    if value.is_empty() || value.len() > MAX_ID_VALUE_LEN {
        return Err(AuditError::InvalidRecord(format!("ids.{key}: the value must be 1 to {MAX_ID_VALUE_LEN} bytes")));
    }
    if value.chars().any(is_refused_char) {
        return Err(AuditError::InvalidRecord(format!(
            "ids.{key}: control and bidirectional-control characters are not allowed"
        )));
    }
    Ok(())
}

/// One entry of a chain, as stored and as exported.
///
/// The field order is fixed and is part of the format: the canonical bytes
/// are `serde_json::to_vec` of this struct (fields in this order, `ids` in
/// byte order of the names, absent options as `null`, no whitespace).
///
/// - `prev` is the unpadded base64url SHA-256 of the previous entry's
///   canonical bytes (see [`entry_hash`]); for `seq` 0, [`genesis_hash`] of
///   the scope.
/// - `mac` is the unpadded base64url HMAC-SHA256, under the chain's key for
///   this `seq`, of the canonical bytes of this entry with `mac` set to the
///   empty string (see [`super::chain`]).
///
/// Deserializing refuses unknown fields, missing fields (`null` must be
/// written out), duplicate ids, and anything that breaks the caps, so a
/// parsed entry re-serializes to exactly what was authenticated.
///
/// The fields are public because an entry is plain data; an entry is
/// trustworthy only once [`super::verify_export`] said so.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditEntry {
    /// 0-based, contiguous within the scope.
    pub seq: u64,
    /// When, in milliseconds since the Unix epoch, by the engine's clock.
    pub ts_ms: u64,
    pub scope: AuditScope,
    pub event: EventKind,
    pub outcome: Outcome,
    #[serde(deserialize_with = "de_code")]
    pub method: Option<String>,
    #[serde(deserialize_with = "de_ids")]
    pub ids: BTreeMap<String, String>,
    #[serde(deserialize_with = "de_code")]
    pub reason: Option<String>,
    #[serde(deserialize_with = "de_digest")]
    pub prev: String,
    #[serde(deserialize_with = "de_digest")]
    pub mac: String,
}

impl AuditEntry {
    /// The canonical bytes: `serde_json::to_vec` of the entry.
    pub fn canonical_bytes(&self) -> Result<Vec<u8>, AuditError> {
        serde_json::to_vec(self).map_err(|_| AuditError::Internal("entry serialization failed".into()))
    }

    /// The bytes the MAC covers: the canonical bytes of this entry with
    /// `mac` set to the empty string.
    pub fn mac_input(&self) -> Result<Vec<u8>, AuditError> {
        let mut unmaced = self.clone();
        unmaced.mac = String::new();
        unmaced.canonical_bytes()
    }
}

/// SHA-256 of an entry's canonical bytes, `mac` included: the value the next
/// entry's `prev` and a checkpoint's `head` carry (base64url).
pub fn entry_hash(entry: &AuditEntry) -> Result<[u8; 32], AuditError> {
    Ok(Sha256::digest(entry.canonical_bytes()?).into())
}

/// The `prev` of a chain's first entry: SHA-256 of
/// `"kms-audit/v1/genesis\n" + scope`. Binding the scope means the first
/// entry of one user's log cannot start another's.
pub fn genesis_hash(scope: &AuditScope) -> [u8; 32] {
    Sha256::new().chain_update(GENESIS_PREFIX).chain_update(scope.to_string()).finalize().into()
}

/// `method` and `reason`: `null` or a code.
fn de_code<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let v = Option::<String>::deserialize(d)?;
    if let Some(s) = &v {
        if !is_code(s, MAX_CODE_LEN) {
            return Err(serde::de::Error::custom(format!(
                "expected null or 1 to {MAX_CODE_LEN} bytes of [a-z0-9_] starting with a letter"
            )));
        }
    }
    Ok(v)
}

/// `ids`: a map under the caps, with no name given twice (serde's map
/// impls keep the last of two equal keys silently; a reader such as `jq`
/// would then show something other than what was authenticated).
fn de_ids<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    struct IdsVisitor;

    impl<'de> Visitor<'de> for IdsVisitor {
        type Value = BTreeMap<String, String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "an object of at most {MAX_IDS} string ids")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = map.next_entry::<String, String>()? {
                if out.len() >= MAX_IDS {
                    return Err(serde::de::Error::custom(format!("more than {MAX_IDS} ids")));
                }
                check_id(&k, &v).map_err(serde::de::Error::custom)?;
                if out.insert(k, v).is_some() {
                    return Err(serde::de::Error::custom("an id name appears twice"));
                }
            }
            Ok(out)
        }
    }

    d.deserialize_map(IdsVisitor)
}

/// `prev`, `mac`, a checkpoint's `head`: base64url of exactly 32 bytes. The
/// decoder refuses non-canonical encodings, so the text is unique.
pub(crate) fn de_digest<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    crate::b64::decode_array::<32>(&s, "digest")
        .map_err(|_| serde::de::Error::custom("expected 32 bytes of base64url"))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_text_round_trips() {
        for s in ["instance", "user:alice", "user:a.b@c+d-e_f"] {
            assert_eq!(AuditScope::parse(s).map(|x| x.to_string()).ok().as_deref(), Some(s));
        }
        for s in ["", "user:", "user:a b", "Instance", "user:a:b", "user:a\nb", "bob"] {
            assert!(AuditScope::parse(s).is_err(), "{s:?}");
        }
    }

    #[test]
    fn codes() {
        assert!(is_code("passkey_prf", MAX_CODE_LEN));
        assert!(is_code("a1", MAX_CODE_LEN));
        for bad in ["", "1a", "_a", "A", "a-b", "a b", "é"] {
            assert!(!is_code(bad, MAX_CODE_LEN), "{bad:?}");
        }
        assert!(is_code(&"a".repeat(MAX_CODE_LEN), MAX_CODE_LEN));
        assert!(!is_code(&"a".repeat(MAX_CODE_LEN + 1), MAX_CODE_LEN));
    }

    #[test]
    fn event_names_match_serde() {
        for e in EventKind::ALL {
            assert_eq!(serde_json::to_string(&e).ok(), Some(format!("\"{}\"", e.as_str())));
            assert_eq!(serde_json::from_str::<EventKind>(&format!("\"{}\"", e.as_str())).ok(), Some(e));
        }
        let mut names: Vec<&str> = EventKind::ALL.iter().map(|e| e.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EventKind::ALL.len());
        for o in [Outcome::Ok, Outcome::Failed, Outcome::Refused] {
            assert_eq!(serde_json::to_string(&o).ok(), Some(format!("\"{}\"", o.as_str())));
        }
    }
}
