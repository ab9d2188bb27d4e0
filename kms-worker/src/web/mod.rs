//! The engine as the browser runs it: compiled to `wasm32-unknown-unknown`,
//! loaded by `kms-worker.js` inside a dedicated module Worker of the KMS
//! origin, over that origin's IndexedDB.
//!
//! The JavaScript side sees one class, [`KmsWorker`]: `open(config)`,
//! `bind(hostOrigin)` and `handle(request) -> response`, the request and
//! response JSON text in the protocol of `docs/rpc.md`. Until `bind` names
//! the host page the frame serves (the origin its handshake verified), only
//! `info` is answered: every other method works on one app's users
//! (`crate::apps`), and which app that is comes from the host. Everything else (which messages are accepted, from whom,
//! how big) is decided in front of it, by the KMS iframe and the worker
//! script; this layer adds only what the platform must supply: the clock
//! (`Date.now()`), randomness (`crypto.getRandomValues` through getrandom's
//! `js` feature), PBKDF2 and every secret-key operation through WebCrypto
//! (`crate::crypto::web`), and the store.

mod clock;
mod config;
mod webcrypto;

use std::cell::RefCell;
use std::rc::Rc;

use futures::lock::Mutex;
use kms_core::rpc::{Call, Request, Response, RpcError};
use kms_core::CoreError;
use kms_storage::{IndexedDbStore, Store};
use rand_core::OsRng;
use wasm_bindgen::prelude::*;

use crate::apps;
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

/// An engine error as the `Error` `bind` rejects with: the RPC's message,
/// and its stable code as the error's `code`.
/// An `Error` with `message` and a `code` property.
fn coded(message: &str, code: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    // Setting a property on a fresh Error cannot fail.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

fn js_error_with_code(e: EngineError) -> JsValue {
    let rpc = RpcError::from(e);
    let error = js_sys::Error::new(&rpc.message);
    let code = serde_json::to_value(rpc.code).ok().and_then(|v| v.as_str().map(str::to_owned)).unwrap_or_default();
    // Setting a property on a fresh Error cannot fail.
    let _ = js_sys::Reflect::set(&error, &"code".into(), &code.into());
    error.into()
}

/// The KMS engine inside the worker.
#[wasm_bindgen]
pub struct KmsWorker {
    // Calls are answered one at a time: an async mutex, because the engine
    // awaits IndexedDB and WebCrypto in the middle of a call, and a second
    // call must not start inside the first.
    engine: Rc<Mutex<Kms<DateClock, OsRng, WebCrypto>>>,
    /// The whole database, for `bind`.
    store: Rc<dyn Store>,
    config: WebConfig,
    /// The app `bind` chose: set once.
    bound: Rc<RefCell<Option<String>>>,
}

/// The platform of an engine in this worker.
fn platform() -> Result<Platform<DateClock, OsRng, WebCrypto>, EngineError> {
    let pbkdf2 = WebCryptoPbkdf2::from_global()?;
    let crypto = WebCrypto::from_global()?;
    Ok(Platform::native(DateClock, OsRng).with_pbkdf2(Box::new(pbkdf2)).with_crypto(crypto))
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
    /// was wrong and whose `code` says which part: `config_invalid` (the
    /// options), `storage_unavailable` (the database did not open: the
    /// browser keeps this origin's storage from it here), `internal`.
    pub async fn open(config: String) -> Result<KmsWorker, JsValue> {
        let web = WebConfig::parse(&config).map_err(|e| coded(&e, "config_invalid"))?;
        let store: Rc<dyn Store> = Rc::new(
            IndexedDbStore::open(&web.db_name).await.map_err(|e| coded(&e.to_string(), "storage_unavailable"))?,
        );
        // Until `bind`, the engine answers `info` only (see `handle`).
        let engine = Kms::new(Box::new(Rc::clone(&store)), platform().map_err(js_error)?, web.engine.clone())
            .map_err(|e| coded(&RpcError::from(e).message, "config_invalid"))?;
        Ok(Self { engine: Rc::new(Mutex::new(engine)), store, config: web, bound: Rc::default() })
    }

    /// Binds the engine to the app of `host_origin`, the host page the
    /// frame serves (from its verified handshake, never from the page's
    /// params): from now on every call works on that app's users, in its
    /// part of the store, and gate assertions must come from one of its
    /// pages. Once only; rejects with an `Error` for a host that is not
    /// allowed or a second bind.
    pub fn bind(&self, host_origin: String) -> js_sys::Promise {
        let engine = Rc::clone(&self.engine);
        let store = Rc::clone(&self.store);
        let bound = Rc::clone(&self.bound);
        let config = self.config.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let mut engine = engine.lock().await;
            if bound.borrow().is_some() {
                return Err(JsError::new("this engine already serves a host").into());
            }
            let (Some(app), Some(first)) = (config.apps.app_of(&host_origin), config.apps.first_host()) else {
                return Err(JsError::new("the host is not in allowed_hosts").into());
            };
            let app_store = apps::store_for(store, app, first).await.map_err(js_error_with_code)?;
            let mut engine_config = config.engine.clone();
            engine_config.allowed_top_origins = app.hosts().to_vec();
            *engine = Kms::new(app_store, platform().map_err(js_error)?, engine_config).map_err(js_error)?;
            *bound.borrow_mut() = Some(app.id().to_owned());
            Ok(JsValue::from_str(app.id()))
        })
    }

    /// Answers one request (JSON text) with one response (JSON text). Never
    /// rejects: every failure is an RPC error response.
    pub fn handle(&self, request: String) -> js_sys::Promise {
        let engine = Rc::clone(&self.engine);
        let bound = Rc::clone(&self.bound);
        wasm_bindgen_futures::future_to_promise(async move {
            let mut engine = engine.lock().await;
            let response = if bound.borrow().is_none() {
                before_bind(&mut engine, request.as_bytes()).await
            } else {
                engine.handle_json(request.as_bytes()).await
            };
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

/// A request before `bind`: `info` is answered, anything else refused
/// (`invalid_input`): the engine does not yet know whose users it serves.
async fn before_bind(engine: &mut Kms<DateClock, OsRng, WebCrypto>, bytes: &[u8]) -> Vec<u8> {
    match Request::decode(bytes) {
        Ok(req) if matches!(req.call, Call::Info(_)) => engine.handle_json(bytes).await,
        Ok(req) => Response {
            v: req.v,
            id: Some(req.id),
            outcome: Err(RpcError::from(EngineError::from(CoreError::invalid(
                "the KMS frame has not yet said which host it serves: only info is answered",
            )))),
        }
        .encode(),
        Err((id, e)) => Response::err(id, e).encode(),
    }
}
