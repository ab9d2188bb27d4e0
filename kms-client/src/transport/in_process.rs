//! The in-process transport (feature `in-process`): an engine in this
//! process, reached through the JSON protocol all the same.

use async_trait::async_trait;
use futures::lock::Mutex;
use kms_core::env::Clock;
use kms_worker::Kms;
use rand_core::CryptoRngCore;

use super::Transport;
use crate::error::ClientError;

/// Drives an engine in the same process: the CLI, tests, native apps. The
/// requests still go through JSON, so this exercises the real protocol.
pub struct InProcess<C: Clock, R: CryptoRngCore> {
    // An async mutex: calls in flight at once queue here instead of
    // interleaving inside the engine.
    engine: Mutex<Kms<C, R>>,
}

impl<C: Clock, R: CryptoRngCore> std::fmt::Debug for InProcess<C, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InProcess").finish_non_exhaustive()
    }
}

impl<C: Clock, R: CryptoRngCore> InProcess<C, R> {
    /// Wraps an engine.
    pub fn new(engine: Kms<C, R>) -> Self {
        Self { engine: Mutex::new(engine) }
    }
}

#[async_trait(?Send)]
impl<C: Clock, R: CryptoRngCore> Transport for InProcess<C, R> {
    async fn round_trip(&self, request: Vec<u8>) -> Result<Vec<u8>, ClientError> {
        let mut engine = self.engine.lock().await;
        Ok(engine.handle_json(&request).await)
    }
}
