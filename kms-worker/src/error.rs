//! The engine's one error type. Operations fail with an [`EngineError`],
//! which keeps the cause (a refusal of the core's rules, a lost race, a store
//! failure, a record that does not read back); it becomes the wire's
//! [`RpcError`] only at the RPC boundary ([`crate::Kms::call`] and
//! [`crate::Kms::handle_json`]), so nothing inside the engine decides by
//! comparing messages.

use std::borrow::Cow;

use kms_core::rpc::RpcError;
use kms_core::{CoreError, ErrorCode};
use kms_storage::StoreError;

/// Why an engine operation failed. Whatever the variant, the operation wrote
/// nothing (but its own audit entry, where it audits a failure).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A rule of the core refused, with its own stable code (`locked`,
    /// `not_found`, `lease_revoked`, ...).
    #[error(transparent)]
    Core(#[from] CoreError),
    /// A concurrent change on the same store (another worker, another
    /// process) won the race. Nothing of this operation was written; a call
    /// whose every run reads afresh may simply be run again
    /// ([`kms_core::rpc::Call::retries_on_conflict`]).
    #[error("the record changed concurrently; nothing was written, try again")]
    Conflict,
    /// The store failed; nothing was written.
    #[error("storage failed, nothing was written: {0}")]
    Storage(StoreError),
    /// A stored record does not read back (unparsable, too large, or under a
    /// key that is not its own). The message names the record, never bytes.
    #[error("{0}")]
    Corrupt(Cow<'static, str>),
    /// An invariant of the engine or of its platform (WebCrypto) broke.
    #[error("{0}")]
    Internal(Cow<'static, str>),
}

impl EngineError {
    /// A stored record that does not read back.
    pub fn corrupt(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Corrupt(message.into())
    }

    /// A broken invariant.
    pub fn internal(message: impl Into<Cow<'static, str>>) -> Self {
        Self::Internal(message.into())
    }

    /// Whether a concurrent change won the race (and nothing was written).
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict)
    }

    /// The stable code the caller will see.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Core(e) => e.code(),
            Self::Conflict | Self::Storage(_) => ErrorCode::Storage,
            Self::Corrupt(_) | Self::Internal(_) => ErrorCode::Internal,
        }
    }
}

impl From<StoreError> for EngineError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } => Self::Conflict,
            other => Self::Storage(other),
        }
    }
}

impl From<EngineError> for RpcError {
    fn from(e: EngineError) -> Self {
        match e {
            EngineError::Core(core) => core.into(),
            other => RpcError::new(other.code(), other.to_string()),
        }
    }
}

/// Result of engine operations.
pub type EngineResult<T> = Result<T, EngineError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_form_keeps_codes_and_messages() {
        let conflict = RpcError::from(EngineError::from(StoreError::Conflict { key: "users/a/meta".into() }));
        assert_eq!(conflict.code, ErrorCode::Storage);
        assert_eq!(conflict.message, "the record changed concurrently; nothing was written, try again");
        let corrupt = RpcError::from(EngineError::corrupt("the user record is corrupt"));
        assert_eq!((corrupt.code, corrupt.message.as_str()), (ErrorCode::Internal, "the user record is corrupt"));
        let core = RpcError::from(EngineError::from(CoreError::Throttled { retry_after_ms: 1500 }));
        assert_eq!((core.code, core.retry_after_ms), (ErrorCode::Throttled, Some(1500)));
    }

    #[test]
    fn only_a_lost_race_is_a_conflict() {
        assert!(EngineError::from(StoreError::Conflict { key: "k".into() }).is_conflict());
        assert!(!EngineError::internal("x").is_conflict());
        assert!(!EngineError::from(CoreError::UnlockFailed).is_conflict());
    }
}
