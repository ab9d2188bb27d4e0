//! Reading records from the store, with the checks every read needs.

use kms_core::ids::{EnrollmentId, KeyId, UserId};
use kms_core::throttle::ThrottleState;
use kms_core::unlock::{EnrollmentRecord, Method};
use kms_core::CoreError;
use kms_storage::{KeyPrefix, StoreKey, WriteBatch};
use rand_core::CryptoRngCore;
use serde::de::DeserializeOwned;

use super::Kms;
use crate::crypto::CryptoProvider;
use crate::error::{EngineError, EngineResult};
use crate::layout;
use crate::records::UserRecord;
use kms_core::env::Clock;

/// Most subscriptions and leases a user keeps (a listing reads one more, to
/// tell "at the cap" from "over it").
pub(super) const MAX_PER_USER: usize = 256;
/// Largest subscription or lease record. A lease at the highest quota keeps
/// up to 3,600 issuance times of 14 bytes each in JSON (50,400 bytes), plus
/// up to 16 audiences of up to 2,048 bytes (32 KiB) and the sealed key:
/// 128 KiB holds the worst case with room to spare. [`encode_json`] enforces it
/// too, so a record that could not be read back is never written.
const MAX_RECORD: usize = 128 * 1024;

/// Parses a stored subscription or lease record (`what` names it in the
/// error), refusing one over [`MAX_RECORD`] before parsing.
pub(super) fn decode_json<T: DeserializeOwned>(bytes: &[u8], what: &str) -> EngineResult<T> {
    let corrupt = || EngineError::corrupt(format!("a stored {what} record is corrupt"));
    if bytes.len() > MAX_RECORD {
        return Err(corrupt());
    }
    serde_json::from_slice(bytes).map_err(|_| corrupt())
}

/// Serializes a subscription or lease record, refusing one that could not be
/// read back.
pub(super) fn encode_json<T: serde::Serialize>(v: &T) -> EngineResult<Vec<u8>> {
    let bytes = serde_json::to_vec(v).map_err(|_| EngineError::internal("could not encode a record"))?;
    if bytes.len() > MAX_RECORD {
        return Err(EngineError::internal("a record would exceed its size limit; nothing was written"));
    }
    Ok(bytes)
}

/// A record together with the exact bytes it was read from, so a later write
/// can require that nobody changed it in between.
pub(super) struct Loaded<T> {
    pub key: StoreKey,
    /// `None` when the record was absent (and `value` is a default).
    pub bytes: Option<Vec<u8>>,
    pub value: T,
}

/// The two back-offs an unlock passes: the enrollment's and the user's.
pub(super) struct Throttles {
    pub enrollment: Loaded<ThrottleState>,
    pub user: Loaded<ThrottleState>,
}

impl Throttles {
    /// Refuses with `throttled` while either back-off runs (the longer
    /// wait is the one reported).
    pub fn check(&self, config: &crate::KmsConfig, now: kms_core::env::UnixMillis) -> EngineResult<()> {
        let own = self.enrollment.value.check(&config.throttle, now);
        let user = self.user.value.check(&config.user_throttle, now);
        match (own, user) {
            (Err(CoreError::Throttled { retry_after_ms: a }), Err(CoreError::Throttled { retry_after_ms: b })) => {
                Err(CoreError::Throttled { retry_after_ms: a.max(b) }.into())
            }
            (Err(e), _) | (_, Err(e)) => Err(e.into()),
            (Ok(()), Ok(())) => Ok(()),
        }
    }

    /// One more failure in both, with preconditions that neither changed
    /// since it was read. Returns the enrollment's new count.
    pub fn put_failed(
        &self,
        batch: &mut WriteBatch,
        config: &crate::KmsConfig,
        now: kms_core::env::UnixMillis,
    ) -> EngineResult<u32> {
        for (t, policy) in [(&self.enrollment, &config.throttle), (&self.user, &config.user_throttle)] {
            t.expect_unchanged(batch)?;
            batch.put(&t.key, t.value.failed(policy, now).encode()?)?;
        }
        Ok(self.enrollment.value.failed(&config.throttle, now).failures)
    }

    /// A success clears both (those that are stored), with preconditions.
    pub fn delete_stored(&self, batch: &mut WriteBatch) -> EngineResult<()> {
        for t in [&self.enrollment, &self.user] {
            if t.bytes.is_some() {
                t.expect_unchanged(batch)?;
                batch.delete(&t.key)?;
            }
        }
        Ok(())
    }
}

/// A user's enrollments: the intact ones and the damaged ones.
pub(super) struct Enrollments {
    pub ok: Vec<Loaded<EnrollmentRecord>>,
    /// Records that do not parse; the value is the id taken from the key.
    pub damaged: Vec<Loaded<Option<EnrollmentId>>>,
}

impl Enrollments {
    /// How many enrollments the user has, damaged ones included.
    pub fn count(&self) -> usize {
        self.ok.len() + self.damaged.len()
    }

    /// The ids of the damaged records that have one.
    pub fn damaged_ids(&self) -> Vec<EnrollmentId> {
        self.damaged.iter().filter_map(|d| d.value.clone()).collect()
    }

    /// Preconditions that every enrollment, damaged or not, is unchanged.
    pub fn expect_unchanged(&self, batch: &mut WriteBatch) -> EngineResult<()> {
        for l in &self.ok {
            l.expect_unchanged(batch)?;
        }
        for d in &self.damaged {
            d.expect_unchanged(batch)?;
        }
        Ok(())
    }
}

/// What [`Kms::find_enrollment`] found.
pub(super) enum Found {
    Record(Loaded<EnrollmentRecord>),
    /// The named enrollment's record is damaged.
    Damaged(Loaded<Option<EnrollmentId>>),
}

impl Found {
    /// The record, or the error an operation other than unlock reports.
    pub fn record(self) -> EngineResult<Loaded<EnrollmentRecord>> {
        match self {
            Self::Record(l) => Ok(l),
            Self::Damaged(_) => Err(EngineError::corrupt(
                "the enrollment record is damaged: remove it (remove_enrollment) and enroll again",
            )),
        }
    }
}

impl<T> Loaded<T> {
    /// Adds to `batch` the precondition that this record is still exactly as
    /// it was read.
    pub fn expect_unchanged(&self, batch: &mut WriteBatch) -> EngineResult<()> {
        match &self.bytes {
            Some(b) => batch.expect_value(&self.key, b.clone()),
            None => batch.expect_absent(&self.key),
        }?;
        Ok(())
    }
}

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> Kms<C, R, P> {
    pub(super) async fn get(&self, key: &StoreKey) -> EngineResult<Option<Vec<u8>>> {
        Ok(self.store.get(key).await?)
    }

    /// The user's record; `not_found` if the user does not exist,
    /// `user_deleted` if it was deleted.
    pub(super) async fn load_user(&self, user: &UserId) -> EngineResult<Loaded<UserRecord>> {
        let key = layout::user(user)?;
        let bytes =
            self.get(&key).await?.ok_or_else(|| EngineError::from(CoreError::NotFound(format!("user {user}"))))?;
        let value = UserRecord::decode(&bytes, user)?;
        if value.deleted_ms.is_some() {
            return Err(CoreError::UserDeleted(format!("user {user} was deleted")).into());
        }
        Ok(Loaded { key, bytes: Some(bytes), value })
    }

    /// All enrollments of a user, sorted by key. A record that does not
    /// parse, or sits under a key other than its own id, is kept aside as
    /// damaged, never skipped: skipping would make "the last enrollment" and
    /// "too many enrollments" wrong.
    pub(super) async fn load_enrollments(&self, user: &UserId) -> EngineResult<Enrollments> {
        let prefix = layout::enrollments(user)?;
        let limit = self.config.max_enrollments.saturating_add(1);
        let rows = self.store.list(&prefix, limit).await?;
        let mut out = Enrollments { ok: Vec::with_capacity(rows.len()), damaged: Vec::new() };
        for (key, bytes) in rows {
            match EnrollmentRecord::decode(&bytes) {
                Ok(value) if layout::enrollment(user, &value.id)? == key => {
                    out.ok.push(Loaded { key, bytes: Some(bytes), value });
                }
                _ => {
                    let id = key.segments().last().and_then(|s| EnrollmentId::parse(s).ok());
                    out.damaged.push(Loaded { key, bytes: Some(bytes), value: id });
                }
            }
        }
        Ok(out)
    }

    /// Picks the enrollment an unlock or change refers to: the one named, or
    /// the only one of `method` that matches `pick`.
    pub(super) async fn find_enrollment(
        &self,
        user: &UserId,
        id: Option<&EnrollmentId>,
        method: Method,
        pick: impl Fn(&EnrollmentRecord) -> bool,
    ) -> EngineResult<Found> {
        let all = self.load_enrollments(user).await?;
        let Enrollments { ok, damaged } = all;
        // A damaged record is picked by its id. The one exception: a
        // passphrase unlock names no enrollment and carries nothing that
        // identifies one, so when no intact passphrase record exists, a
        // damaged record may be the one meant, and the caller must get the
        // answer a wrong passphrase gets (a passkey names its credential, so
        // an unknown one is simply not found).
        let fallback = id.is_none()
            && method == Method::Passphrase
            && !ok.iter().any(|l| l.value.params.method() == Method::Passphrase);
        if let Some(d) = damaged.into_iter().find(|d| match id {
            Some(id) => d.value.as_ref() == Some(id),
            None => fallback,
        }) {
            return Ok(Found::Damaged(d));
        }
        let mut matching = ok
            .into_iter()
            .filter(|l| l.value.params.method() == method && id.is_none_or(|id| &l.value.id == id) && pick(&l.value));
        let Some(first) = matching.next() else {
            return Err(CoreError::NotFound(format!("{} enrollment of user {user}", method.as_str())).into());
        };
        if matching.next().is_some() {
            return Err(CoreError::invalid("several enrollments match: pass enrollment_id").into());
        }
        Ok(Found::Record(first))
    }

    /// Every record under `prefix` (at most [`MAX_PER_USER`] + 1), parsed.
    pub(super) async fn list_records<T: DeserializeOwned>(
        &self,
        prefix: &KeyPrefix,
        what: &str,
    ) -> EngineResult<Vec<Loaded<T>>> {
        let rows = self.store.list(prefix, MAX_PER_USER.saturating_add(1)).await?;
        rows.into_iter()
            .map(|(key, bytes)| Ok(Loaded { key, value: decode_json(&bytes, what)?, bytes: Some(bytes) }))
            .collect()
    }

    /// The user's current VAPID key, if any.
    pub(super) async fn current_kid(&self, user: &UserId) -> EngineResult<Option<KeyId>> {
        Ok(self.load_user(user).await?.value.current_kid)
    }

    /// The throttle states that guard an unlock of this enrollment: its
    /// own, and the user's over all enrollments (default when none is
    /// stored).
    pub(super) async fn load_throttles(&self, user: &UserId, id: &EnrollmentId) -> EngineResult<Throttles> {
        Ok(Throttles {
            enrollment: self.load_throttle_at(layout::throttle(user, id)?).await?,
            user: self.load_throttle_at(layout::user_throttle(user)?).await?,
        })
    }

    async fn load_throttle_at(&self, key: StoreKey) -> EngineResult<Loaded<ThrottleState>> {
        match self.get(&key).await? {
            Some(bytes) => {
                // A record that does not parse counts as the most failures
                // (one attempt, then the longest wait): never as a fresh
                // budget, and never as a lockout for good.
                let value = ThrottleState::decode_or_damaged(&bytes);
                Ok(Loaded { key, bytes: Some(bytes), value })
            }
            None => Ok(Loaded { key, bytes: None, value: ThrottleState::default() }),
        }
    }
}
