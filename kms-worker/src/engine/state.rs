//! Reading records from the store, with the checks every read needs.

use kms_core::ids::{EnrollmentId, UserId};
use kms_core::rpc::RpcError;
use kms_core::throttle::ThrottleState;
use kms_core::unlock::{EnrollmentRecord, Method};
use kms_core::{CoreError, ErrorCode};
use kms_storage::{StoreKey, WriteBatch};
use rand_core::CryptoRngCore;

use super::Kms;
use crate::error::{store_error, EngineResult};
use crate::layout;
use crate::records::UserRecord;
use kms_core::env::Clock;

/// A record together with the exact bytes it was read from, so a later write
/// can require that nobody changed it in between.
pub(super) struct Loaded<T> {
    pub key: StoreKey,
    /// `None` when the record was absent (and `value` is a default).
    pub bytes: Option<Vec<u8>>,
    pub value: T,
}

impl<T> Loaded<T> {
    /// Adds to `batch` the precondition that this record is still exactly as
    /// it was read.
    pub fn expect_unchanged(&self, batch: &mut WriteBatch) -> EngineResult<()> {
        match &self.bytes {
            Some(b) => batch.expect_value(&self.key, b.clone()),
            None => batch.expect_absent(&self.key),
        }
        .map_err(store_error)?;
        Ok(())
    }
}

impl<C: Clock, R: CryptoRngCore> Kms<C, R> {
    pub(super) async fn get(&self, key: &StoreKey) -> EngineResult<Option<Vec<u8>>> {
        self.store.get(key).await.map_err(store_error)
    }

    /// The user's record; `not_found` if the user does not exist.
    pub(super) async fn load_user(&self, user: &UserId) -> EngineResult<Loaded<UserRecord>> {
        let key = layout::user(user)?;
        let bytes = self
            .get(&key)
            .await?
            .ok_or_else(|| RpcError::from(CoreError::NotFound(format!("user {user}"))))?;
        let value = UserRecord::decode(&bytes, user)?;
        Ok(Loaded { key, bytes: Some(bytes), value })
    }

    /// All enrollments of a user, sorted by id. A record that does not parse,
    /// or that sits under a key other than its own id, is reported, never
    /// skipped: skipping could make "the last enrollment" check wrong.
    pub(super) async fn load_enrollments(&self, user: &UserId) -> EngineResult<Vec<Loaded<EnrollmentRecord>>> {
        let prefix = layout::enrollments(user)?;
        let limit = self.config.max_enrollments.saturating_add(1);
        let rows = self.store.list(&prefix, limit).await.map_err(store_error)?;
        let mut out = Vec::with_capacity(rows.len());
        for (key, bytes) in rows {
            let value = EnrollmentRecord::decode(&bytes)
                .map_err(|_| RpcError::new(ErrorCode::Internal, "an enrollment record is corrupt"))?;
            if layout::enrollment(user, &value.id)? != key {
                return Err(RpcError::new(ErrorCode::Internal, "an enrollment record is stored under a foreign key"));
            }
            out.push(Loaded { key, bytes: Some(bytes), value });
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
    ) -> EngineResult<Loaded<EnrollmentRecord>> {
        let all = self.load_enrollments(user).await?;
        let mut matching = all
            .into_iter()
            .filter(|l| l.value.params.method() == method && id.is_none_or(|id| &l.value.id == id) && pick(&l.value));
        let first = matching.next().ok_or_else(|| {
            RpcError::from(CoreError::NotFound(format!("{} enrollment of user {user}", method.as_str())))
        })?;
        if matching.next().is_some() {
            return Err(CoreError::invalid("several enrollments match: pass enrollment_id").into());
        }
        Ok(first)
    }

    /// The throttle state of an enrollment (default when none is stored).
    pub(super) async fn load_throttle(&self, user: &UserId, id: &EnrollmentId) -> EngineResult<Loaded<ThrottleState>> {
        let key = layout::throttle(user, id)?;
        match self.get(&key).await? {
            Some(bytes) => {
                // The throttle guards the API against online guessing; whoever
                // can edit the store can delete it anyway. A corrupt one counts
                // as a fresh start rather than locking the user out for good.
                let value = ThrottleState::decode(&bytes).unwrap_or_default();
                Ok(Loaded { key, bytes: Some(bytes), value })
            }
            None => Ok(Loaded { key, bytes: None, value: ThrottleState::default() }),
        }
    }
}
