//! The user record: public bookkeeping about a user (no secrets; those live
//! sealed in enrollment and key records).

use kms_core::env::UnixMillis;
use kms_core::ids::{KeyId, UserId};
use serde::{Deserialize, Serialize};

use crate::error::{EngineError, EngineResult};

/// Version of the user record format.
pub const USER_RECORD_VERSION: u32 = 1;
const MAX_USER_RECORD: usize = 4096;

/// A user's record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserRecord {
    pub v: u32,
    pub user: UserId,
    pub created_ms: UnixMillis,
    /// The current VAPID key, if one was generated.
    pub current_kid: Option<KeyId>,
    /// Version number the next VAPID key gets (1 for the first).
    pub next_vapid_version: u32,
    /// Bumped by every enrollment change, so two concurrent changes (each
    /// checking "not the last one", "not too many") cannot both commit.
    #[serde(default)]
    pub enrollment_epoch: u64,
    /// Which master secret the user has: 0 from `setup`, one more at each
    /// `rekey`. A session holds the epoch it opened at, and a session of an
    /// older one (another engine's, still holding a replaced secret) is
    /// refused before it seals or wraps anything.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub master_epoch: u64,
    /// Set when the user was deleted: the record stays as a tombstone so the
    /// id is never set up again and every later call says `user_deleted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_ms: Option<UnixMillis>,
}

impl UserRecord {
    /// A fresh user.
    pub fn new(user: UserId, now: UnixMillis) -> Self {
        Self {
            v: USER_RECORD_VERSION,
            user,
            created_ms: now,
            current_kid: None,
            next_vapid_version: 1,
            enrollment_epoch: 0,
            master_epoch: 0,
            deleted_ms: None,
        }
    }

    /// The tombstone left by `user_delete`.
    pub fn tombstone(&self, now: UnixMillis) -> Self {
        Self { current_kid: None, deleted_ms: Some(now), ..self.clone() }
    }

    /// Parses a stored user record and checks it belongs to `user`.
    pub fn decode(bytes: &[u8], user: &UserId) -> EngineResult<Self> {
        let corrupt = || EngineError::corrupt("the user record is corrupt");
        if bytes.len() > MAX_USER_RECORD {
            return Err(corrupt());
        }
        let rec: Self = serde_json::from_slice(bytes).map_err(|_| corrupt())?;
        if rec.v != USER_RECORD_VERSION || &rec.user != user {
            return Err(corrupt());
        }
        Ok(rec)
    }

    /// The record after a `rekey`: a new master secret (and, as every
    /// enrollment is written again, an enrollment change).
    pub fn bump_master(&self) -> Self {
        Self {
            enrollment_epoch: self.enrollment_epoch.wrapping_add(1),
            master_epoch: self.master_epoch.saturating_add(1),
            ..self.clone()
        }
    }

    /// The record after one more enrollment change.
    pub fn bump_enrollments(&self) -> Self {
        Self { enrollment_epoch: self.enrollment_epoch.wrapping_add(1), ..self.clone() }
    }

    /// Serializes the record.
    pub fn encode(&self) -> EngineResult<Vec<u8>> {
        serde_json::to_vec(self).map_err(|_| EngineError::internal("could not encode user record"))
    }
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}
