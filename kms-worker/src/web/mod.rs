//! The engine as the browser runs it: compiled to `wasm32-unknown-unknown`,
//! loaded by `kms-worker.js` inside a dedicated module Worker of the KMS
//! origin, over that origin's IndexedDB.
//!
//! The JavaScript side sees one class, [`KmsWorker`]: `open(config)` and
//! `handle(request) -> response`, both JSON text in the protocol of
//! `docs/rpc.md`. Everything else (which messages are accepted, from whom,
//! how big) is decided in front of it, by the KMS iframe and the worker
//! script; this layer adds only what the platform must supply: the clock
//! (`Date.now()`), randomness (`crypto.getRandomValues` through getrandom's
//! `js` feature), PBKDF2 and every secret-key operation through WebCrypto
//! (`crate::crypto::web`), and the store.

mod clock;
mod config;
mod webcrypto;

use std::rc::Rc;

use futures::lock::Mutex;
use kms_core::rpc::RpcError;
use kms_storage::IndexedDbStore;
use rand_core::OsRng;
use wasm_bindgen::prelude::*;

use crate::crypto::web::WebCrypto;
use crate::error::EngineError;
use crate::{Kms, Platform};

pub use clock::DateClock;
pub use config::WebConfig;
pub use webcrypto::WebCryptoPbkdf2;

/// An engine error as the `Error` `open` rejects with: the message the RPC
/// would carry.
fn js_error(e: EngineError) -> JsError {
    JsError::new(&RpcError::from(e).message)
}

/// The KMS engine inside the worker.
#[wasm_bindgen]
pub struct KmsWorker {
    // Calls are answered one at a time: an async mutex, because the engine
    // awaits IndexedDB and WebCrypto in the middle of a call, and a second
    // call must not start inside the first.
    engine: Rc<Mutex<Kms<DateClock, OsRng, WebCrypto>>>,
}

impl std::fmt::Debug for KmsWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsWorker").finish_non_exhaustive()
    }
}

#[wasm_bindgen]
impl KmsWorker {
    /// Opens the engine over the IndexedDB database named in `config` (JSON,
    /// see [`WebConfig`]). Rejects with an `Error` whose message says what
    /// was wrong.
    pub async fn open(config: String) -> Result<KmsWorker, JsError> {
        let web = WebConfig::parse(&config).map_err(|e| JsError::new(&e))?;
        let store = IndexedDbStore::open(&web.db_name).await.map_err(|e| JsError::new(&e.to_string()))?;
        let pbkdf2 = WebCryptoPbkdf2::from_global().map_err(js_error)?;
        let crypto = WebCrypto::from_global().map_err(js_error)?;
        let platform = Platform::native(DateClock, OsRng).with_pbkdf2(Box::new(pbkdf2)).with_crypto(crypto);
        let engine = Kms::new(Box::new(store), platform, web.engine).map_err(js_error)?;
        Ok(Self { engine: Rc::new(Mutex::new(engine)) })
    }

    /// Answers one request (JSON text) with one response (JSON text). Never
    /// rejects: every failure is an RPC error response.
    pub fn handle(&self, request: String) -> js_sys::Promise {
        let engine = Rc::clone(&self.engine);
        wasm_bindgen_futures::future_to_promise(async move {
            let mut engine = engine.lock().await;
            let response = engine.handle_json(request.as_bytes()).await;
            // The request text may hold a passphrase. The engine parsed it
            // into zeroizing types; this copy is wiped before it is freed
            // (the JS string it came from is immutable and left to the
            // garbage collector: see docs/threat-model.md).
            let mut request = request;
            zeroize::Zeroize::zeroize(&mut request);
            Ok(JsValue::from_str(&String::from_utf8_lossy(&response)))
        })
    }
}
