//! Why a lease can no longer be used.

use super::record::{LeaseRecord, LeaseStatus};
use crate::error::{CoreError, ErrorCode};
use crate::ids::KeyId;

/// Why a lease was refused. Each reason has its own stable [`ErrorCode`],
/// so the relay can tell "ask the user for a new lease" (revoked, key
/// rotated) from "the lease ran out" (expired). A deleted user is answered
/// before any lease is read (`user_deleted`: the engine reads the user's
/// tombstone first, and the leases were erased with the user).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LeaseRefusal {
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
            LeaseRefusal::Revoked { .. } => Self::LeaseRevoked(message),
            LeaseRefusal::Expired { .. } => Self::LeaseExpired(message),
            LeaseRefusal::KeyRotated { .. } => Self::LeaseKeyRotated(message),
        }
    }
}

/// A lease that passed [`check_usable`] at one instant. It is the only way
/// to reach [`super::issue`] and [`super::extend`], so neither can run on a
/// lease nobody checked, nor at another time than the one it was checked at.
#[derive(Debug, Clone, Copy)]
pub struct UsableLease<'a> {
    record: &'a LeaseRecord,
    now_ms: u64,
}

impl<'a> UsableLease<'a> {
    /// The lease's record, as it was checked.
    pub fn record(&self) -> &'a LeaseRecord {
        self.record
    }

    /// The instant of the check, in ms since the Unix epoch: what the
    /// operations on this lease take as "now".
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }
}

/// Whether `record` may be used at `now_ms`; `current_kid` is the user's
/// current VAPID key (`None` if the user has none).
///
/// Refusals, in this order (the first that applies is reported, so the most
/// lasting reason wins): the lease was revoked, it has ended (`now_ms >=
/// expires_ms`), its key is not the current key.
pub fn check_usable<'a>(
    record: &'a LeaseRecord,
    now_ms: u64,
    current_kid: Option<&KeyId>,
) -> Result<UsableLease<'a>, LeaseRefusal> {
    if let LeaseStatus::Revoked { at_ms } = record.status {
        return Err(LeaseRefusal::Revoked { at_ms });
    }
    if super::is_expired(record, now_ms) {
        return Err(LeaseRefusal::Expired { expires_ms: record.expires_ms });
    }
    if current_kid != Some(&record.kid) {
        return Err(LeaseRefusal::KeyRotated { bound: record.kid.clone() });
    }
    Ok(UsableLease { record, now_ms })
}
