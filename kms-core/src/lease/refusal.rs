//! Why a lease can no longer be used.

use super::record::{LeaseRecord, LeaseStatus};
use crate::error::{CoreError, ErrorCode};
use crate::ids::KeyId;

/// Why a lease was refused. Each reason has its own stable [`ErrorCode`],
/// so the relay can tell "ask the user for a new lease" (revoked, key
/// rotated) from "the lease ran out" (expired) and "the user is gone".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseRefusal {
    /// The user who granted the lease was deleted.
    #[error("the user who granted this lease was deleted")]
    UserDeleted,
    /// The lease was revoked at `at_ms`.
    #[error("the lease was revoked at {at_ms} ms since the Unix epoch; ask the user for a new lease")]
    Revoked { at_ms: u64 },
    /// The lease ended at `expires_ms`.
    #[error("the lease ended at {expires_ms} ms since the Unix epoch; ask the user to extend it or grant a new one")]
    Expired { expires_ms: u64 },
    /// The lease's key `bound` is no longer the user's current key.
    #[error(
        "the lease is bound to VAPID key {bound}, which is no longer the user's current key; subscriptions must be \
         renewed and a new lease granted"
    )]
    KeyRotated { bound: KeyId },
}

impl LeaseRefusal {
    /// The stable code of this refusal.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::UserDeleted => ErrorCode::UserDeleted,
            Self::Revoked { .. } => ErrorCode::LeaseRevoked,
            Self::Expired { .. } => ErrorCode::LeaseExpired,
            Self::KeyRotated { .. } => ErrorCode::LeaseKeyRotated,
        }
    }
}

impl From<LeaseRefusal> for CoreError {
    fn from(r: LeaseRefusal) -> Self {
        let message = r.to_string();
        match r {
            LeaseRefusal::UserDeleted => Self::UserDeleted(message),
            LeaseRefusal::Revoked { .. } => Self::LeaseRevoked(message),
            LeaseRefusal::Expired { .. } => Self::LeaseExpired(message),
            LeaseRefusal::KeyRotated { .. } => Self::LeaseKeyRotated(message),
        }
    }
}

/// Whether `record` may be used at `now_ms`. `current_kid` is the user's
/// current VAPID key (`None` if the user has none); `user_exists` whether
/// the user who granted the lease still exists.
///
/// Refusals, in this order (the first that applies is reported): the user
/// was deleted, the lease was revoked, it has ended (`now_ms >=
/// expires_ms`), its key is not the current key. The engine must call this
/// before [`super::issue`], which cannot know about rotation or deletion.
pub fn check_usable(
    record: &LeaseRecord,
    now_ms: u64,
    current_kid: Option<&KeyId>,
    user_exists: bool,
) -> Result<(), LeaseRefusal> {
    if !user_exists {
        return Err(LeaseRefusal::UserDeleted);
    }
    if let LeaseStatus::Revoked { at_ms } = record.status {
        return Err(LeaseRefusal::Revoked { at_ms });
    }
    if super::is_expired(record, now_ms) {
        return Err(LeaseRefusal::Expired { expires_ms: record.expires_ms });
    }
    if current_kid != Some(&record.kid) {
        return Err(LeaseRefusal::KeyRotated { bound: record.kid.clone() });
    }
    Ok(())
}
