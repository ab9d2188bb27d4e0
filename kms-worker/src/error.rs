//! Mapping store failures to RPC errors.

use kms_core::rpc::RpcError;
use kms_core::ErrorCode;
use kms_storage::StoreError;

/// A store failure as the caller sees it. A precondition conflict means a
/// concurrent change won; nothing of this operation was written.
pub fn store_error(e: StoreError) -> RpcError {
    match e {
        StoreError::Conflict { .. } => {
            RpcError::new(ErrorCode::Storage, "the record changed concurrently; nothing was written, try again")
        }
        other => RpcError::new(ErrorCode::Storage, format!("storage failed, nothing was written: {other}")),
    }
}

/// Result of engine operations.
pub type EngineResult<T> = Result<T, RpcError>;
