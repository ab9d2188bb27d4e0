//! The stored form of a lease and its public view.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::id::{LeaseId, RelayLabel};
use super::params::check_audiences;
use super::{MAX_BATCH_LIMIT, MAX_TOKENS_PER_HOUR, QUOTA_WINDOW_MS, RECORD_FORMAT};
use crate::crypto::aead::Sealed;
use crate::crypto::p256_key::KeyFormat;
use crate::error::CoreError;
use crate::ids::{KeyId, UserId};
use crate::vapid::PushOrigin;

/// Whether a lease was revoked. Expiry is not stored: it follows from
/// `expires_ms` and the caller's clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case", deny_unknown_fields)]
pub enum LeaseStatus {
    /// Not revoked (it may still have expired).
    Active,
    /// Revoked at `at_ms`; the sealed key is gone.
    Revoked { at_ms: u64 },
}

/// What storage holds for one lease. Only [`super::create`] makes one; the
/// other operations return an updated copy for the engine to write.
///
/// `sealed_key` is the VAPID private key sealed under the lease key (see the
/// custody section of [`crate::lease`]); it is `None` once revoked, and
/// once the lease has ended and an engine call saw it. The rest
/// is public and unauthenticated at rest. `issued` holds the times (ms) of
/// the tokens issued in the last hour: the sliding-window quota state, at
/// most `tokens_per_hour` entries.
///
/// Reading a record checks its invariants (format `v` 1, no unknown fields,
/// audiences sorted and unique, quotas in range, `max_batch <=
/// tokens_per_hour`, `created_ms <= expires_ms`, no sealed key once
/// revoked, `issued` no longer than the quota), so a damaged record is
/// refused as a whole rather than half used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "LeaseRecordWire")]
pub struct LeaseRecord {
    pub(super) v: LeaseFormatV1,
    pub(super) id: LeaseId,
    pub(super) user: UserId,
    pub(super) relay: RelayLabel,
    pub(super) audiences: Vec<PushOrigin>,
    pub(super) kid: KeyId,
    pub(super) created_ms: u64,
    pub(super) expires_ms: u64,
    pub(super) tokens_per_hour: u32,
    pub(super) max_batch: u32,
    pub(super) status: LeaseStatus,
    pub(super) sealed_key: Option<Sealed>,
    /// How `sealed_key`'s plaintext is laid out: `2` (PKCS#8) for every
    /// lease made since the crypto providers; absent, `1` (the scalar), in
    /// older records, which are read until they end.
    pub(super) sealed_format: KeyFormat,
    /// What the credential's secret must derive to
    /// ([`super::credential_check`]): checked before the lease's state is
    /// told, and kept after revocation. Absent in records made before it
    /// existed, whose credential is checked by opening `sealed_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) credential_check: Option<String>,
    pub(super) issued: Vec<u64>,
    pub(super) extended: u32,
    /// The lease's courier key ([`super::courier`]), when `lease_create`
    /// was given a relay key: its secret is in the clear (requests arrive
    /// while the user is locked). It stays after revocation and the end,
    /// so that the relay's next sealed request can be opened, its
    /// credential checked and the relay told `lease_revoked` or
    /// `lease_expired`; with the sealed key gone, the credential it would
    /// reveal opens nothing. It goes with the record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) courier: Option<super::courier::CourierSecret>,
    /// The nonces of the courier requests served within
    /// [`super::courier::REQUEST_WINDOW_MS`]: a replay is refused.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(super) seen: Vec<SeenRequest>,
}

/// A courier request served: its nonce and its `ts_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SeenRequest {
    nonce: String,
    ts_ms: u64,
}

/// The most nonces a record keeps. A nonce is kept until its request's
/// `ts_ms` leaves the window (at most 10 minutes after it was served), and
/// every served request issues at least one token, so the hourly quota (at
/// most this many tokens) keeps the list below it; [`LeaseRecord::with_seen`]
/// refuses rather than forgets if it ever were full.
const MAX_SEEN: usize = MAX_TOKENS_PER_HOUR as usize;

/// The record as read, before its invariants are checked.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaseRecordWire {
    v: LeaseFormatV1,
    id: LeaseId,
    user: UserId,
    relay: RelayLabel,
    audiences: Vec<PushOrigin>,
    kid: KeyId,
    created_ms: u64,
    expires_ms: u64,
    tokens_per_hour: u32,
    max_batch: u32,
    status: LeaseStatus,
    sealed_key: Option<Sealed>,
    #[serde(default = "legacy_format")]
    sealed_format: KeyFormat,
    #[serde(default)]
    credential_check: Option<String>,
    issued: Vec<u64>,
    extended: u32,
    #[serde(default)]
    courier: Option<super::courier::CourierSecret>,
    #[serde(default)]
    seen: Vec<SeenRequest>,
}

/// What a record written before the crypto providers holds.
fn legacy_format() -> KeyFormat {
    KeyFormat::Scalar
}

impl TryFrom<LeaseRecordWire> for LeaseRecord {
    type Error = CoreError;

    fn try_from(w: LeaseRecordWire) -> Result<Self, CoreError> {
        let damaged = |what: &str| CoreError::invalid(format!("lease record: {what}"));
        let canonical = check_audiences(w.audiences.iter().cloned()).map_err(|_| damaged("bad audiences"))?;
        if canonical != w.audiences {
            return Err(damaged("audiences are not sorted and unique"));
        }
        if !(1..=MAX_TOKENS_PER_HOUR).contains(&w.tokens_per_hour) {
            return Err(damaged("tokens_per_hour out of range"));
        }
        if !(1..=MAX_BATCH_LIMIT.min(w.tokens_per_hour)).contains(&w.max_batch) {
            return Err(damaged("max_batch out of range"));
        }
        if w.created_ms > w.expires_ms {
            return Err(damaged("expires before it was created"));
        }
        // An active record without its key is one whose key was erased
        // when it ended (`super::erase_if_ended`); whether it has ended
        // depends on the reader's clock, so opening it checks again.
        if let (LeaseStatus::Revoked { .. }, Some(_)) = (&w.status, &w.sealed_key) {
            return Err(damaged("revoked but still holds a sealed key"));
        }
        if u64::try_from(w.issued.len()).unwrap_or(u64::MAX) > u64::from(w.tokens_per_hour) {
            return Err(damaged("more issuance times than the quota"));
        }
        if w.seen.len() > MAX_SEEN {
            return Err(damaged("more courier nonces than kept"));
        }
        Ok(Self {
            v: w.v,
            id: w.id,
            user: w.user,
            relay: w.relay,
            audiences: w.audiences,
            kid: w.kid,
            created_ms: w.created_ms,
            expires_ms: w.expires_ms,
            tokens_per_hour: w.tokens_per_hour,
            max_batch: w.max_batch,
            status: w.status,
            sealed_key: w.sealed_key,
            sealed_format: w.sealed_format,
            credential_check: w.credential_check,
            issued: w.issued,
            extended: w.extended,
            courier: w.courier,
            seen: w.seen,
        })
    }
}

impl LeaseRecord {
    /// The lease's courier key, if it was made with a relay key.
    pub fn courier(&self) -> Option<&super::courier::CourierSecret> {
        self.courier.as_ref()
    }

    /// Whether a courier request with `nonce` was served within the window.
    pub fn has_seen(&self, nonce: &str) -> bool {
        self.seen.iter().any(|s| s.nonce == nonce)
    }

    /// This record with `nonce` (of a request made at `ts_ms`) remembered,
    /// and the nonces that left the window at `now_ms` forgotten. A full
    /// list refuses (`quota_exceeded`, until the oldest leaves the window):
    /// forgetting a nonce still in the window would let its request be
    /// replayed.
    pub fn with_seen(&self, nonce: &str, ts_ms: u64, now_ms: u64) -> Result<Self, CoreError> {
        // Checked again on the record this write replaces: two engines that
        // both read the record before either wrote cannot serve one nonce
        // twice.
        if self.has_seen(nonce) {
            return Err(super::courier::replayed());
        }
        let mut out = self.clone();
        let window = super::courier::REQUEST_WINDOW_MS;
        out.seen.retain(|s| s.ts_ms.saturating_add(window) >= now_ms);
        if out.seen.len() >= MAX_SEEN {
            let oldest = out.seen.iter().map(|s| s.ts_ms).min().unwrap_or(now_ms);
            let retry_after_ms = oldest.saturating_add(window).saturating_sub(now_ms).max(1);
            return Err(CoreError::QuotaExceeded { limit: self.tokens_per_hour, retry_after_ms });
        }
        out.seen.push(SeenRequest { nonce: nonce.to_owned(), ts_ms });
        Ok(out)
    }

    /// This record with its key re-sealed as PKCS#8 (`sealed` must hold the
    /// same key under the same lease key and AAD; a revoked record, which
    /// has no key, stays as it is).
    pub fn resealed(&self, sealed: Sealed) -> Self {
        let mut out = self.clone();
        if out.sealed_key.is_some() {
            out.sealed_key = Some(sealed);
            out.sealed_format = KeyFormat::Pkcs8;
        }
        out
    }
    /// The lease's id.
    pub fn id(&self) -> &LeaseId {
        &self.id
    }

    /// The user who granted the lease.
    pub fn user(&self) -> &UserId {
        &self.user
    }

    /// The relay it was granted to.
    pub fn relay(&self) -> &RelayLabel {
        &self.relay
    }

    /// The push-service origins it may address, sorted.
    pub fn audiences(&self) -> &[PushOrigin] {
        &self.audiences
    }

    /// The VAPID key it is bound to.
    pub fn kid(&self) -> &KeyId {
        &self.kid
    }

    /// Creation time, ms since the Unix epoch.
    pub fn created_ms(&self) -> u64 {
        self.created_ms
    }

    /// End, ms since the Unix epoch: refused from this instant on.
    pub fn expires_ms(&self) -> u64 {
        self.expires_ms
    }

    /// The sliding-window quota.
    pub fn tokens_per_hour(&self) -> u32 {
        self.tokens_per_hour
    }

    /// The most tokens per issue call.
    pub fn max_batch(&self) -> u32 {
        self.max_batch
    }

    /// Active or revoked (expiry is computed: [`super::is_expired`]).
    pub fn status(&self) -> LeaseStatus {
        self.status
    }

    /// How many times the lease was extended.
    pub fn extended(&self) -> u32 {
        self.extended
    }

    /// Whether the record still holds the sealed key (false once revoked).
    pub fn has_sealed_key(&self) -> bool {
        self.sealed_key.is_some()
    }

    /// The times of the tokens issued inside the quota window at `now_ms`,
    /// sorted. A time in the future (a clock that went backwards) counts as
    /// inside.
    pub(super) fn issued_in_window(&self, now_ms: u64) -> Vec<u64> {
        let mut window: Vec<u64> =
            self.issued.iter().copied().filter(|t| now_ms < t.saturating_add(QUOTA_WINDOW_MS)).collect();
        window.sort_unstable();
        window
    }

    /// How many more tokens the quota allows at `now_ms`.
    pub fn tokens_left_this_hour(&self, now_ms: u64) -> u32 {
        let used = u32::try_from(self.issued_in_window(now_ms).len()).unwrap_or(u32::MAX);
        self.tokens_per_hour.saturating_sub(used)
    }

    /// The public view at `now_ms`. `current_kid` is the user's current
    /// VAPID key (`None` if there is none), to report a rotated key.
    pub fn info(&self, now_ms: u64, current_kid: Option<&KeyId>) -> LeaseInfo {
        // The order of `check_usable`.
        let revoked_ms = match self.status {
            LeaseStatus::Revoked { at_ms } => Some(at_ms),
            LeaseStatus::Active => None,
        };
        let state = if revoked_ms.is_some() {
            LeaseState::Revoked
        } else if super::is_expired(self, now_ms) {
            LeaseState::Expired
        } else if current_kid != Some(&self.kid) {
            LeaseState::KeyRotated
        } else {
            LeaseState::Active
        };
        let tokens_left_this_hour = match state {
            LeaseState::Active => self.tokens_left_this_hour(now_ms),
            LeaseState::Expired | LeaseState::Revoked | LeaseState::KeyRotated => 0,
        };
        LeaseInfo {
            id: self.id.clone(),
            user: self.user.clone(),
            relay: self.relay.clone(),
            audiences: self.audiences.clone(),
            kid: self.kid.clone(),
            created_ms: self.created_ms,
            expires_ms: self.expires_ms,
            state,
            revoked_ms,
            tokens_per_hour: self.tokens_per_hour,
            max_batch: self.max_batch,
            tokens_left_this_hour,
            extended: self.extended,
        }
    }
}

/// Whether a lease can be used, as listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum LeaseState {
    /// Usable.
    Active,
    /// Past its end.
    Expired,
    /// Revoked.
    Revoked,
    /// Bound to a VAPID key that is no longer the user's current key.
    KeyRotated,
}

/// The public description of a lease, for listings: no sealed key and no
/// issuance times.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LeaseInfo {
    pub id: LeaseId,
    pub user: UserId,
    pub relay: RelayLabel,
    pub audiences: Vec<PushOrigin>,
    /// The VAPID key the lease is bound to.
    pub kid: KeyId,
    /// Creation time, ms since the Unix epoch.
    pub created_ms: u64,
    /// End, ms since the Unix epoch.
    pub expires_ms: u64,
    pub state: LeaseState,
    /// When it was revoked, ms since the Unix epoch.
    pub revoked_ms: Option<u64>,
    pub tokens_per_hour: u32,
    pub max_batch: u32,
    /// Tokens the quota still allows now (0 unless the lease is active).
    pub tokens_left_this_hour: u32,
    /// How many times it was extended.
    pub extended: u32,
}

/// The record format `v`: serializes as `1` and refuses any other value on
/// read, so a record of an unknown layout is never misread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct LeaseFormatV1;

impl Serialize for LeaseFormatV1 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(RECORD_FORMAT)
    }
}

impl<'de> Deserialize<'de> for LeaseFormatV1 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u32::deserialize(d)?;
        if v == RECORD_FORMAT {
            Ok(Self)
        } else {
            Err(serde::de::Error::custom(format!(
                "lease record: unsupported format version {v} (expected {RECORD_FORMAT})"
            )))
        }
    }
}
