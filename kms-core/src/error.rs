//! The one error type of `kms-core`, and the stable codes callers switch on.

use serde::{Deserialize, Serialize};

/// A stable, machine-readable error code. These strings are part of the RPC
/// protocol (`docs/rpc.md`): never rename one, only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "KmsErrorCode"))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// The request or one of its fields is malformed, out of range or too large.
    InvalidInput,
    /// The user, enrollment, key or ceremony does not exist.
    NotFound,
    /// The thing to create exists already (a user cannot be set up twice).
    AlreadyExists,
    /// The operation needs a live session of this user and there is none
    /// (never opened, locked, or expired).
    Locked,
    /// Unlock was refused: wrong passphrase, corrupted record, or a WebAuthn
    /// assertion that did not verify. Deliberately one code for all of them.
    UnlockFailed,
    /// Too many failed unlocks: wait and try again.
    Throttled,
    /// The caller may not do this (another user's session, removing the last
    /// enrollment).
    Forbidden,
    /// The store failed; nothing was changed.
    Storage,
    /// A bug or an impossible state; nothing was changed.
    Internal,
    /// The lease has ended, or is too close to its end to issue a token that
    /// lives at least a minute: extend it (with a session) or create another.
    LeaseExpired,
    /// The lease was revoked.
    LeaseRevoked,
    /// The VAPID key the lease is bound to is no longer the user's current
    /// key (it was rotated): create a new lease for the new key.
    LeaseKeyRotated,
    /// The user the lease (or other record) belongs to was deleted.
    UserDeleted,
    /// The lease's tokens-per-hour quota is used up: retry after
    /// `retry_after_ms`.
    QuotaExceeded,
    /// The user's audit log in storage is not the one the engine wrote (cut,
    /// altered or rewound): the engine signed nothing over it, recorded a
    /// `tamper_detected` entry naming `first_bad_seq`, and did not do the
    /// operation. A retry works (the check resumes after that entry).
    Integrity,
}

impl ErrorCode {
    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "invalid_input",
            Self::NotFound => "not_found",
            Self::AlreadyExists => "already_exists",
            Self::Locked => "locked",
            Self::UnlockFailed => "unlock_failed",
            Self::Throttled => "throttled",
            Self::Forbidden => "forbidden",
            Self::Storage => "storage",
            Self::Internal => "internal",
            Self::LeaseExpired => "lease_expired",
            Self::LeaseRevoked => "lease_revoked",
            Self::LeaseKeyRotated => "lease_key_rotated",
            Self::UserDeleted => "user_deleted",
            Self::QuotaExceeded => "quota_exceeded",
            Self::Integrity => "integrity",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything that can go wrong in the core. Messages never carry secret
/// bytes: they name fields and limits, not values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CoreError {
    #[error("invalid input: {0}")]
    InvalidInput(String),
    #[error("not found: {0}")]
    NotFound(String),
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("locked: {0}")]
    Locked(String),
    /// One outward error for a wrong secret, a corrupted record and a failed
    /// assertion, so that a caller cannot tell them apart.
    #[error("unlock failed")]
    UnlockFailed,
    #[error("too many failed attempts: retry in {retry_after_ms} ms")]
    Throttled { retry_after_ms: u64 },
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// An AEAD open failed outside unlock: the stored record was altered or
    /// belongs to another context.
    #[error("a sealed record failed authentication")]
    Integrity,
    #[error("internal error: {0}")]
    Internal(String),
    /// A lease has ended (or is too close to its end to issue a token).
    #[error("lease expired: {0}")]
    LeaseExpired(String),
    /// A lease was revoked.
    #[error("lease revoked: {0}")]
    LeaseRevoked(String),
    /// A lease is bound to a VAPID key that is no longer the user's current one.
    #[error("lease key rotated: {0}")]
    LeaseKeyRotated(String),
    /// The user was deleted.
    #[error("user deleted: {0}")]
    UserDeleted(String),
    /// A lease's sliding-window quota (`limit` tokens per hour) is used up;
    /// enough room frees up in `retry_after_ms`.
    #[error("quota exceeded: {limit} tokens per hour; retry in {retry_after_ms} ms")]
    QuotaExceeded { limit: u32, retry_after_ms: u64 },
    /// The user's stored audit chain is not the one the engine wrote, from
    /// `first_bad_seq` on (`found` says what was wrong there, a
    /// [`crate::audit::BreakKind`] name).
    #[error("audit log rewritten in storage at seq {first_bad_seq} ({found})")]
    AuditRewritten { first_bad_seq: u64, found: &'static str },
}

impl CoreError {
    /// The stable code for this error.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidInput(_) => ErrorCode::InvalidInput,
            Self::NotFound(_) => ErrorCode::NotFound,
            Self::AlreadyExists(_) => ErrorCode::AlreadyExists,
            Self::Locked(_) => ErrorCode::Locked,
            Self::UnlockFailed => ErrorCode::UnlockFailed,
            Self::Throttled { .. } => ErrorCode::Throttled,
            Self::Forbidden(_) => ErrorCode::Forbidden,
            Self::Integrity | Self::Internal(_) => ErrorCode::Internal,
            Self::LeaseExpired(_) => ErrorCode::LeaseExpired,
            Self::LeaseRevoked(_) => ErrorCode::LeaseRevoked,
            Self::LeaseKeyRotated(_) => ErrorCode::LeaseKeyRotated,
            Self::UserDeleted(_) => ErrorCode::UserDeleted,
            Self::QuotaExceeded { .. } => ErrorCode::QuotaExceeded,
            Self::AuditRewritten { .. } => ErrorCode::Integrity,
        }
    }

    /// Shorthand for [`CoreError::InvalidInput`].
    pub fn invalid(msg: impl Into<String>) -> Self {
        Self::InvalidInput(msg.into())
    }
}

/// Result alias used throughout the core.
pub type Result<T, E = CoreError> = std::result::Result<T, E>;
