//! The engine: decodes a request, runs it, encodes the response.

mod enrollments;
mod state;
mod unlock;
mod users;
mod vapid;

use kms_core::env::Clock;
use kms_core::rpc::{Call, Request, Response, RpcError};
use kms_core::session::Sessions;
use kms_core::unlock::ceremony::CeremonyBook;
use kms_storage::Store;
use rand_core::CryptoRngCore;
use serde::Serialize;
use serde_json::Value;

use crate::config::KmsConfig;
use crate::error::EngineResult;
use crate::pbkdf2::{NativePbkdf2, Pbkdf2Provider};

/// A KMS instance: one store, one clock, one RNG, the sessions in memory.
pub struct Kms<C: Clock, R: CryptoRngCore> {
    store: Box<dyn Store>,
    clock: C,
    rng: R,
    pbkdf2: Box<dyn Pbkdf2Provider>,
    config: KmsConfig,
    sessions: Sessions,
    ceremonies: CeremonyBook,
}

impl<C: Clock, R: CryptoRngCore> std::fmt::Debug for Kms<C, R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms")
            .field("config", &self.config)
            .field("sessions", &self.sessions.len())
            .field("ceremonies", &self.ceremonies.len())
            .finish_non_exhaustive()
    }
}

impl<C: Clock, R: CryptoRngCore> Kms<C, R> {
    /// An engine over `store` with the native PBKDF2.
    pub fn new(store: Box<dyn Store>, clock: C, rng: R, config: KmsConfig) -> Result<Self, RpcError> {
        Self::with_pbkdf2(store, clock, rng, config, Box::new(NativePbkdf2))
    }

    /// An engine with a platform PBKDF2 provider (WebCrypto in the browser).
    pub fn with_pbkdf2(
        store: Box<dyn Store>,
        clock: C,
        rng: R,
        config: KmsConfig,
        pbkdf2: Box<dyn Pbkdf2Provider>,
    ) -> Result<Self, RpcError> {
        let sessions = Sessions::with_ttl(config.session_ttl_ms)?;
        let ceremonies = CeremonyBook::new(config.ceremony_ttl_ms);
        Ok(Self { store, clock, rng, pbkdf2, config, sessions, ceremonies })
    }

    /// The configuration.
    pub fn config(&self) -> &KmsConfig {
        &self.config
    }

    /// Handles one JSON request and returns the JSON response. Total: any
    /// bytes give a well-formed response.
    pub async fn handle_json(&mut self, bytes: &[u8]) -> Vec<u8> {
        let response = match Request::decode(bytes) {
            Ok(req) => {
                let outcome = self.call(req.call).await;
                Response { v: req.v, id: Some(req.id), outcome }
            }
            Err((id, e)) => Response::err(id, e),
        };
        response.encode()
    }

    /// Runs one call and returns its result as JSON.
    pub async fn call(&mut self, call: Call) -> Result<Value, RpcError> {
        let outcome = self.dispatch(call).await;
        // Expired secrets leave memory whenever the engine runs. (After the
        // call, so that the call itself can say "expired" rather than "no
        // session".)
        self.sessions.purge_expired(self.clock.now_ms());
        outcome
    }

    async fn dispatch(&mut self, call: Call) -> Result<Value, RpcError> {
        match call {
            Call::Info(_) => json(self.info()),
            Call::Setup(p) => json(self.setup(p).await),
            Call::Unlock(p) => json(self.unlock(p).await),
            Call::Lock(p) => json(self.lock(p).map(|()| serde_json::json!({}))),
            Call::SessionStatus(p) => json(self.session_status(p)),
            Call::ListEnrollments(p) => json(self.list_enrollments(p).await),
            Call::PrfBegin(p) => json(self.prf_begin(p).await),
            Call::GateBegin(p) => json(self.gate_begin(p).await),
            Call::AddEnrollment(p) => json(self.add_enrollment(p).await),
            Call::RemoveEnrollment(p) => json(self.remove_enrollment(p).await),
            Call::ChangePassphrase(p) => json(self.change_passphrase(p).await),
            Call::VapidGenerate(p) => json(self.vapid_generate(p).await),
            Call::VapidRotate(p) => json(self.vapid_rotate(p).await),
            Call::VapidPublic(p) => json(self.vapid_public(p).await),
            Call::SignJwt(p) => json(self.sign_jwt(p).await),
        }
    }
}

fn json<T: Serialize>(r: EngineResult<T>) -> Result<Value, RpcError> {
    r.and_then(|v| {
        serde_json::to_value(v).map_err(|_| RpcError::new(kms_core::ErrorCode::Internal, "could not encode result"))
    })
}
