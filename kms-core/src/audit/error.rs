//! The error type of the audit module's building operations (append, keys,
//! checkpoints, export writing). Reading an export has its own error with
//! line numbers ([`super::ExportError`]), and verification never fails: it
//! returns a report ([`super::VerifyReport`]).

use crate::error::CoreError;

/// What can go wrong while building the audit log. Messages name fields and
/// limits, never values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// A record to append breaks a cap or a character rule (the caller's
    /// input): too many ids, an id key or value too long or malformed, a
    /// method or reason that is not a short snake_case code.
    #[error("audit record: {0}")]
    InvalidRecord(String),
    /// A scope string is neither `instance` nor `user:<valid user id>`.
    #[error("audit scope: {0}")]
    InvalidScope(String),
    /// A public key or other caller-supplied value could not be parsed.
    #[error("audit: {0}")]
    InvalidInput(String),
    /// The chain state belongs to another scope than the one the caller
    /// appends to (a state read from the wrong storage key, or a swapped
    /// record at rest). Nothing was appended.
    #[error("audit chain state is for scope {state}, not {requested}")]
    ScopeMismatch { state: String, requested: String },
    /// The sequence number space is exhausted (2^64 entries); nothing was
    /// appended.
    #[error("audit chain is full")]
    ChainFull,
    /// A stored audit key record failed authentication or does not belong
    /// to this user (deliberately coarse, like [`CoreError::Integrity`]).
    #[error("an audit key record failed authentication")]
    Integrity,
    /// A bug or an impossible state (an ECDSA signature with r or s = 0, a
    /// serializer error on a plain struct).
    #[error("audit internal error: {0}")]
    Internal(String),
}

impl From<AuditError> for CoreError {
    fn from(e: AuditError) -> Self {
        match e {
            AuditError::InvalidRecord(_) | AuditError::InvalidScope(_) | AuditError::InvalidInput(_) => {
                CoreError::InvalidInput(e.to_string())
            }
            AuditError::Integrity => CoreError::Integrity,
            AuditError::ScopeMismatch { .. } | AuditError::ChainFull | AuditError::Internal(_) => {
                CoreError::Internal(e.to_string())
            }
        }
    }
}
