//! Mapping store failures to RPC errors.

use kms_core::rpc::RpcError;
use kms_core::ErrorCode;
use kms_storage::StoreError;

/// What a caller is told when a concurrent change won a race.
pub const CONFLICT_MESSAGE: &str = "the record changed concurrently; nothing was written, try again";

/// A store failure as the caller sees it. A precondition conflict means a
/// concurrent change won; nothing of this operation was written.
pub fn store_error(e: StoreError) -> RpcError {
    match e {
        StoreError::Conflict { .. } => RpcError::new(ErrorCode::Storage, CONFLICT_MESSAGE),
        other => RpcError::new(ErrorCode::Storage, format!("storage failed, nothing was written: {other}")),
    }
}

/// Result of engine operations.
pub type EngineResult<T> = Result<T, RpcError>;

/// Whether `e` is a lost race (and the operation may simply be run again).
pub fn is_conflict(e: &RpcError) -> bool {
    e.code == ErrorCode::Storage && e.message == CONFLICT_MESSAGE
}
