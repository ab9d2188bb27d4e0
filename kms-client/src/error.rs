//! Client errors.

use kms_core::rpc::RpcError;
use kms_core::ErrorCode;

/// What a client call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The KMS answered with an error.
    #[error("{0}")]
    Rpc(#[from] RpcError),
    /// The transport failed (the request may or may not have run).
    #[error("transport: {0}")]
    Transport(String),
    /// The KMS answered something this client does not understand.
    #[error("unexpected response: {0}")]
    Protocol(String),
}

impl ClientError {
    /// The stable code: the engine's, or `internal` for local failures.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Rpc(e) => e.code,
            Self::Transport(_) | Self::Protocol(_) => ErrorCode::Internal,
        }
    }
}
