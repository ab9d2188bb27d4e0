//! How requests reach the engine: the [`Transport`] trait, and the
//! in-process transport (feature `in-process`). The browser reaches its KMS
//! through the JS client instead (`browser.rs`).

use async_trait::async_trait;

use crate::error::ClientError;

/// Carries one encoded request to the KMS and returns the encoded response.
#[async_trait(?Send)]
pub trait Transport {
    /// Sends `request` (JSON) and returns the response (JSON).
    async fn round_trip(&self, request: Vec<u8>) -> Result<Vec<u8>, ClientError>;
}

#[cfg(feature = "in-process")]
mod in_process;
#[cfg(feature = "in-process")]
pub use in_process::InProcess;
