//! The browser client, for Rust apps compiled to `wasm32-unknown-unknown`
//! that run in a web page (the host, origin A) and use the KMS in its iframe
//! (origin B), exactly as a JavaScript page does with `js/kms-client.js`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use kms_client::browser::BrowserKms;
//! use kms_core::ids::UserId;
//! use kms_core::unlock::Method;
//!
//! let alice = UserId::parse("alice")?;
//! let kms = BrowserKms::connect("https://kms.example.com").await?;
//! // The passphrase is typed into the KMS frame, never into this page.
//! let opened = kms.setup(&alice, Method::Passphrase, None).await?;
//! let key = kms.vapid_generate(&opened.user).await?;
//! # let _ = key;
//! # Ok(())
//! # }
//! ```
//!
//! # Why this is not a [`Transport`](crate::Transport)
//!
//! [`KmsClient`](crate::KmsClient) sends whole requests, sessions included,
//! and gets a session token back from `setup` and `unlock`. In the browser
//! the host page must never hold a secret or a bearer token: passphrases are
//! typed and passkey ceremonies run in the KMS frame, the frame keeps the
//! sessions and adds them to the calls that need one, and refuses the
//! methods that carry secrets (`setup`, `unlock`, ...) as direct calls. So
//! the page speaks another protocol: direct calls that name a `user` instead
//! of carrying a `session`, and UI operations the user answers in the frame.
//! [`BrowserKms`] is that protocol's client.
//!
//! # One handshake, in JavaScript
//!
//! [`BrowserKms`] wraps the JS client instead of re-implementing the
//! channel: embedding the iframe, handing a `MessagePort` to the exact KMS
//! origin only, the ready check and the timeouts exist once, in
//! `js/kms-client.js`. wasm-bindgen copies that module into the app's output
//! (`snippets/`), so the app serves its own copy, as a JS app would.
//!
//! # Errors
//!
//! A rejected `KmsError {code, message, retryAfterMs, firstBadSeq}` becomes a
//! [`ClientError`] that keeps the code: an engine code (`not_found`,
//! `locked`, `invalid_input`, ...) as [`ClientError::Rpc`], the client's own
//! `timeout`, `cancelled` and `disconnected` as [`ClientError::Channel`],
//! `protocol` (and a code this crate does not know) as
//! [`ClientError::Protocol`]. Anything else the JS side throws (not a
//! `KmsError`: a bug or a broken page) is a [`ClientError::Transport`].
//! [`ClientError::code_str`] gives the code as JS spells it.

use std::fmt;
use std::time::Duration;

use kms_core::env::UnixMillis;
use kms_core::ids::{EnrollmentId, UserId};
use kms_core::rpc::error::sanitize_serde_error;
use kms_core::rpc::{
    AuditExportResult, Empty, EnrollmentList, InfoResult, RotateResult, RpcError, SessionStatus, StatusResult,
    VapidKeys,
};
use kms_core::unlock::{EnrollmentInfo, Method};
use kms_core::vapid::{JwtRequest, SignedJwt, VapidPublicInfo};
use kms_core::ErrorCode;
use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Serialize};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use crate::error::{ChannelCode, ClientError};

/// The imports of `js/kms-client.js`. Every function that can throw is
/// `catch`: a JS exception becomes an `Err`, never an unwind through Rust.
mod js {
    use wasm_bindgen::prelude::wasm_bindgen;
    use wasm_bindgen::JsValue;

    #[wasm_bindgen(module = "/js/kms-client.js")]
    extern "C" {
        /// The JS client (`class Kms`).
        #[derive(Debug)]
        pub type Kms;

        #[wasm_bindgen(static_method_of = Kms, catch)]
        pub fn connect(options: &JsValue) -> Result<js_sys::Promise, JsValue>;

        #[wasm_bindgen(method, catch)]
        pub fn call(this: &Kms, method: &str, params: &JsValue) -> Result<js_sys::Promise, JsValue>;

        #[wasm_bindgen(method, catch)]
        pub fn setup(this: &Kms, params: &JsValue) -> Result<js_sys::Promise, JsValue>;

        #[wasm_bindgen(method, catch)]
        pub fn unlock(this: &Kms, params: &JsValue) -> Result<js_sys::Promise, JsValue>;

        #[wasm_bindgen(method, catch, js_name = addEnrollment)]
        pub fn add_enrollment(this: &Kms, params: &JsValue) -> Result<js_sys::Promise, JsValue>;

        #[wasm_bindgen(method, catch, js_name = changePassphrase)]
        pub fn change_passphrase(this: &Kms, params: &JsValue) -> Result<js_sys::Promise, JsValue>;

        #[wasm_bindgen(method, catch)]
        pub fn rekey(this: &Kms, params: &JsValue) -> Result<js_sys::Promise, JsValue>;

        #[wasm_bindgen(method, catch, js_name = vapidRotate)]
        pub fn vapid_rotate(this: &Kms, params: &JsValue) -> Result<js_sys::Promise, JsValue>;

        #[wasm_bindgen(method, catch)]
        pub fn close(this: &Kms) -> Result<(), JsValue>;

        #[wasm_bindgen(method, setter)]
        pub fn set_onattention(this: &Kms, callback: &JsValue);

        #[wasm_bindgen(method, getter)]
        pub fn build(this: &Kms) -> JsValue;

        /// The JS client's error (`class KmsError extends Error`).
        #[derive(Debug)]
        pub type KmsError;

        #[wasm_bindgen(method, getter)]
        pub fn code(this: &KmsError) -> JsValue;

        #[wasm_bindgen(method, getter)]
        pub fn message(this: &KmsError) -> JsValue;

        #[wasm_bindgen(method, getter, js_name = retryAfterMs)]
        pub fn retry_after_ms(this: &KmsError) -> JsValue;
        #[wasm_bindgen(method, getter, js_name = firstBadSeq)]
        pub fn first_bad_seq(this: &KmsError) -> JsValue;
    }
}

/// How to connect: the KMS origin, and optionally where the iframe goes and
/// the timeouts (the JS client's defaults: 30 s per call, 5 min for a
/// request the user answers in the frame, 30 s to load and connect).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    kms_origin: String,
    container_id: Option<String>,
    path: Option<String>,
    timeout: Option<Duration>,
    ui_timeout: Option<Duration>,
    ready_timeout: Option<Duration>,
    expect_build: Option<String>,
}

impl ConnectOptions {
    /// Options for the KMS at `kms_origin`, an origin such as
    /// `https://kms.example.com` (no path).
    pub fn new(kms_origin: impl Into<String>) -> Self {
        Self {
            kms_origin: kms_origin.into(),
            container_id: None,
            path: None,
            timeout: None,
            ui_timeout: None,
            ready_timeout: None,
            expect_build: None,
        }
    }

    /// Refuses (`integrity`) a KMS frame that runs another build than
    /// `build`: a release's build id (`manifest.json`), or its first 12 or
    /// more hex digits. The JS client's `expectBuild`.
    pub fn expect_build(mut self, build: impl Into<String>) -> Self {
        self.expect_build = Some(build.into());
        self
    }

    /// Puts the KMS iframe into the element with this id (default: the end
    /// of `document.body`). The page shows it when the frame asks for the
    /// user ([`BrowserKms::set_on_attention`]).
    pub fn container_id(mut self, id: impl Into<String>) -> Self {
        self.container_id = Some(id.into());
        self
    }

    /// The KMS page's path on the KMS origin (default `/kms.html`).
    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// How long a direct call may take.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// How long a request the user answers in the frame (setup, unlock, ...)
    /// may take; at the end it is cancelled in the frame too.
    pub fn ui_timeout(mut self, timeout: Duration) -> Self {
        self.ui_timeout = Some(timeout);
        self
    }

    /// How long loading the frame and the handshake may take. A host that is
    /// not on the KMS's allowlist gets no answer, so this is how long such a
    /// host waits for its `timeout`.
    pub fn ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = Some(timeout);
        self
    }
}

/// What the page learns of a session opened in the frame: whose, until
/// when, which enrollment. Never the token, which stays in the frame.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct OpenedSession {
    pub user: UserId,
    pub expires_ms: UnixMillis,
    /// The enrollment that was created (setup) or used (unlock).
    pub enrollment: EnrollmentInfo,
    /// True when the unlock re-wrapped an old record at the current cost.
    #[serde(default)]
    pub rewrapped: bool,
}

/// What the page learns of a re-key done in the frame (`rekey` without its
/// session token, which stays in the frame).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Rekeyed {
    pub user: UserId,
    pub expires_ms: UnixMillis,
    /// The enrollments now, each wrapping the new master secret.
    pub enrollments: Vec<EnrollmentInfo>,
    pub removed: Vec<EnrollmentId>,
    /// VAPID keys plus the audit key, re-sealed (not replaced).
    pub resealed_keys: usize,
}

/// A connection to the KMS frame, from a page. Dropping it closes the
/// connection (pending calls end with `disconnected`) and removes the frame
/// it made.
pub struct BrowserKms {
    inner: js::Kms,
    // Kept alive while the JS client may call it; unset before it is freed.
    on_attention: Option<Closure<dyn FnMut(bool)>>,
}

impl fmt::Debug for BrowserKms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BrowserKms").field("on_attention", &self.on_attention.is_some()).finish_non_exhaustive()
    }
}

impl Drop for BrowserKms {
    fn drop(&mut self) {
        self.inner.set_onattention(&JsValue::NULL);
        // `close` only throws on a broken page; there is nothing left to do then.
        let _closed = self.inner.close();
    }
}

/// Page-side params of the methods that name a user (the frame adds the
/// session where one is needed).
#[derive(Serialize)]
struct ByUser<'a> {
    user: &'a UserId,
}

/// `sign_jwt` params without `session`.
#[derive(Serialize)]
struct SignJwt<'a> {
    user: &'a UserId,
    claims: &'a JwtRequest,
}

/// Params of a UI operation (`setup`, `unlock`, `addEnrollment`,
/// `changePassphrase` of the JS client).
#[derive(Serialize)]
struct Ui<'a> {
    user: &'a UserId,
    #[serde(skip_serializing_if = "Option::is_none")]
    method: Option<Method>,
    #[serde(skip_serializing_if = "Option::is_none")]
    label: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    enrollment_id: Option<&'a EnrollmentId>,
}

impl<'a> Ui<'a> {
    fn user(user: &'a UserId) -> Self {
        Self { user, method: None, label: None, enrollment_id: None }
    }
}

impl BrowserKms {
    /// Embeds the KMS iframe of `kms_origin` (e.g. `https://kms.example.com`)
    /// at the end of the page and connects to it. Fails with `timeout` when
    /// the KMS does not answer, which is also what a host that is not on the
    /// KMS's allowlist gets.
    pub async fn connect(kms_origin: &str) -> Result<Self, ClientError> {
        Self::connect_with(ConnectOptions::new(kms_origin)).await
    }

    /// [`BrowserKms::connect`] with a container and timeouts.
    pub async fn connect_with(options: ConnectOptions) -> Result<Self, ClientError> {
        let js_options = js_sys::Object::new();
        set(&js_options, "kmsOrigin", &JsValue::from_str(&options.kms_origin))?;
        if let Some(id) = &options.container_id {
            let container = web_sys::window()
                .and_then(|w| w.document())
                .and_then(|d| d.get_element_by_id(id))
                .ok_or_else(|| invalid(format!("container: no element with id `{}`", shown(id))))?;
            set(&js_options, "container", &container)?;
        }
        if let Some(path) = &options.path {
            set(&js_options, "path", &JsValue::from_str(path))?;
        }
        if let Some(build) = &options.expect_build {
            set(&js_options, "expectBuild", &JsValue::from_str(build))?;
        }
        for (name, value) in [
            ("timeoutMs", options.timeout),
            ("uiTimeoutMs", options.ui_timeout),
            ("readyTimeoutMs", options.ready_timeout),
        ] {
            if let Some(d) = value {
                set(&js_options, name, &JsValue::from_f64(timer_ms(d)))?;
            }
        }
        let kms = settle(js::Kms::connect(&js_options)).await?;
        let inner = kms.dyn_into::<js::Kms>().map_err(|_| protocol("Kms.connect did not resolve with a Kms"))?;
        Ok(Self { inner, on_attention: None })
    }

    /// Called with `true` when the KMS frame needs the user (a passphrase to
    /// type, a passkey to use): show the frame; with `false` when it is done.
    /// Replaces an earlier callback.
    pub fn set_on_attention(&mut self, callback: impl FnMut(bool) + 'static) {
        let callback = Closure::<dyn FnMut(bool)>::new(callback);
        self.inner.set_onattention(callback.as_ref());
        self.on_attention = Some(callback);
    }

    /// The build the KMS frame runs: the build id (64 hex digits) of its
    /// bundle's `manifest.json`, as the frame reported it at connect.
    pub fn build(&self) -> Option<String> {
        self.inner.build().as_string()
    }

    /// Closes the connection and removes the frame (as dropping does).
    pub fn close(self) {}

    // ---- any direct method ----

    /// Calls a direct method by its wire name (`docs/rpc.md`) with typed
    /// params and result. `params` never carries a `session`: name the
    /// `user` and the frame adds that user's session. `params` must
    /// serialize to a JSON object (or to nothing, for `{}`). The methods that
    /// carry secrets, and those the user must confirm in the frame
    /// (`user_delete`, `lease_create`, `lease_extend`, `remove_enrollment`,
    /// `vapid_rotate`), are refused here with `invalid_input`: use
    /// [`BrowserKms::setup`], [`BrowserKms::unlock`],
    /// [`BrowserKms::vapid_rotate`], ...
    pub async fn call<P, R>(&self, method: &str, params: &P) -> Result<R, ClientError>
    where
        P: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let params = to_js(params)?;
        let result = settle(self.inner.call(method, &params)).await?;
        from_js(&result)
    }

    // ---- the user answers in the KMS frame ----

    /// Creates `user` with a first enrollment of `method`: the passphrase is
    /// typed, or the passkey created, in the KMS frame. Opens a session.
    pub async fn setup(
        &self,
        user: &UserId,
        method: Method,
        label: Option<&str>,
    ) -> Result<OpenedSession, ClientError> {
        let params = Ui { method: Some(method), label, ..Ui::user(user) };
        self.ui(js::Kms::setup, &params).await
    }

    /// Opens a session of `user` in the frame: passphrase or passkey;
    /// `method` limits the choice. An unknown user (or one without an
    /// enrollment of `method`) is `not_found` before anything is shown.
    pub async fn unlock(&self, user: &UserId, method: Option<Method>) -> Result<OpenedSession, ClientError> {
        let params = Ui { method, ..Ui::user(user) };
        self.ui(js::Kms::unlock, &params).await
    }

    /// [`BrowserKms::unlock`] with one enrollment.
    pub async fn unlock_enrollment(
        &self,
        user: &UserId,
        enrollment_id: &EnrollmentId,
    ) -> Result<OpenedSession, ClientError> {
        let params = Ui { enrollment_id: Some(enrollment_id), ..Ui::user(user) };
        self.ui(js::Kms::unlock, &params).await
    }

    /// Adds a passphrase or a passkey to an unlocked user, in the frame.
    pub async fn add_enrollment(
        &self,
        user: &UserId,
        method: Method,
        label: Option<&str>,
    ) -> Result<EnrollmentInfo, ClientError> {
        let params = Ui { method: Some(method), label, ..Ui::user(user) };
        self.ui(js::Kms::add_enrollment, &params).await
    }

    /// Changes a passphrase of an unlocked user (typed in the frame); without
    /// `enrollment_id`, the user's only passphrase.
    pub async fn change_passphrase(
        &self,
        user: &UserId,
        enrollment_id: Option<&EnrollmentId>,
    ) -> Result<EnrollmentInfo, ClientError> {
        let params = Ui { enrollment_id, ..Ui::user(user) };
        self.ui(js::Kms::change_passphrase, &params).await
    }

    /// Replaces `user`'s master secret after a compromise: the frame says
    /// what it does, the user types a passphrase and presents each passkey
    /// there (`docs/rpc.md`, `rekey`).
    pub async fn rekey(&self, user: &UserId) -> Result<Rekeyed, ClientError> {
        self.ui(js::Kms::rekey, &Ui::user(user)).await
    }

    /// Replaces `user`'s current VAPID key and retires the old one, once
    /// the user confirms it in the frame (which shows what the rotation
    /// breaks); `cancelled` if the user declines. Needs a session.
    pub async fn vapid_rotate(&self, user: &UserId) -> Result<RotateResult, ClientError> {
        self.ui(js::Kms::vapid_rotate, &ByUser { user }).await
    }

    async fn ui<P: Serialize + ?Sized, R: DeserializeOwned>(
        &self,
        op: fn(&js::Kms, &JsValue) -> Result<js_sys::Promise, JsValue>,
        params: &P,
    ) -> Result<R, ClientError> {
        let params = to_js(params)?;
        let result = settle(op(&self.inner, &params)).await?;
        from_js(&result)
    }

    // ---- typed direct methods ----

    /// Public facts about the KMS.
    pub async fn info(&self) -> Result<InfoResult, ClientError> {
        self.call("info", &Empty {}).await
    }

    /// Whether `user` has a live session in the frame, and until when
    /// (`locked` when not).
    pub async fn session_status(&self, user: &UserId) -> Result<SessionStatus, ClientError> {
        self.call("session_status", &ByUser { user }).await
    }

    /// Ends `user`'s session.
    pub async fn lock(&self, user: &UserId) -> Result<(), ClientError> {
        let _: IgnoredAny = self.call("lock", &ByUser { user }).await?;
        Ok(())
    }

    /// `user`'s enrollments (public parameters only). No session needed.
    pub async fn list_enrollments(&self, user: &UserId) -> Result<EnrollmentList, ClientError> {
        self.call("list_enrollments", &ByUser { user }).await
    }

    /// Whether `user` exists, the methods it unlocks with, and whether the
    /// frame holds its session: `setup` or `unlock`? No session needed.
    pub async fn status(&self, user: &UserId) -> Result<StatusResult, ClientError> {
        self.call("status", &ByUser { user }).await
    }

    /// Generates `user`'s first VAPID key. Needs a session.
    pub async fn vapid_generate(&self, user: &UserId) -> Result<VapidPublicInfo, ClientError> {
        self.call("vapid_generate", &ByUser { user }).await
    }

    /// `user`'s VAPID public keys. No session needed.
    pub async fn vapid_public(&self, user: &UserId) -> Result<VapidKeys, ClientError> {
        self.call("vapid_public", &ByUser { user }).await
    }

    /// Signs a VAPID JWT (RFC 8292) with `user`'s current key. Needs a
    /// session (`locked` without one).
    pub async fn sign_jwt(&self, user: &UserId, claims: &JwtRequest) -> Result<SignedJwt, ClientError> {
        self.call("sign_jwt", &SignJwt { user, claims }).await
    }

    /// Exports `user`'s audit log with a fresh signed checkpoint. Needs a
    /// session.
    pub async fn audit_export(&self, user: &UserId) -> Result<AuditExportResult, ClientError> {
        self.call("audit_export", &ByUser { user }).await
    }
}

// ---- between Rust and JS values ----

/// Params as a JS object: serde_json to text, then `JSON.parse`.
fn to_js<P: Serialize + ?Sized>(params: &P) -> Result<JsValue, ClientError> {
    let value = serde_json::to_value(params).map_err(|e| invalid(format!("params: {}", sanitize_serde_error(&e))))?;
    let value = match value {
        serde_json::Value::Null => serde_json::Value::Object(serde_json::Map::new()),
        // The frame drops a message whose params are not an object, so the
        // call would only time out: refuse it here.
        serde_json::Value::Object(_) => value,
        _ => return Err(invalid("params must be a JSON object")),
    };
    js_sys::JSON::parse(&value.to_string()).map_err(|_| invalid("params: not JSON"))
}

/// A result as a Rust value: `JSON.stringify`, then serde_json.
fn from_js<R: DeserializeOwned>(value: &JsValue) -> Result<R, ClientError> {
    let text = js_sys::JSON::stringify(value)
        .ok()
        .and_then(|s| JsValue::from(s).as_string())
        .ok_or_else(|| protocol("the result is not JSON"))?;
    serde_json::from_str(&text).map_err(|e| protocol(format!("result: {}", sanitize_serde_error(&e))))
}

/// Awaits a promise of the JS client; a throw or a rejection becomes a
/// [`ClientError`].
async fn settle(promise: Result<js_sys::Promise, JsValue>) -> Result<JsValue, ClientError> {
    let promise = promise.map_err(|e| error_from_js(&e))?;
    JsFuture::from(promise).await.map_err(|e| error_from_js(&e))
}

fn error_from_js(value: &JsValue) -> ClientError {
    if let Some(e) = value.dyn_ref::<js::KmsError>() {
        let code = e.code().as_string().unwrap_or_default();
        let message = e.message().as_string().unwrap_or_default();
        let retry_after_ms = e.retry_after_ms().as_f64().and_then(whole_ms);
        let first_bad_seq = e.first_bad_seq().as_f64().and_then(whole_ms);
        return error_from_code(&code, message, retry_after_ms, first_bad_seq);
    }
    let message = value
        .dyn_ref::<js_sys::Error>()
        .and_then(|e| JsValue::from(e.message()).as_string())
        .unwrap_or_else(|| "it threw a value that is not an Error".to_owned());
    ClientError::Transport(format!("the JS client failed: {message}"))
}

/// A `KmsError`'s code as the variant that carries it.
fn error_from_code(
    code: &str,
    message: String,
    retry_after_ms: Option<u64>,
    first_bad_seq: Option<u64>,
) -> ClientError {
    // Only a code the engine defines parses (the list is closed in ErrorCode).
    if let Ok(code) = serde_json::from_value::<ErrorCode>(serde_json::Value::String(code.to_owned())) {
        return ClientError::Rpc(RpcError { code, message, retry_after_ms, first_bad_seq });
    }
    if let Some(code) = ChannelCode::parse(code) {
        return ClientError::Channel { code, message };
    }
    if code == "protocol" {
        return ClientError::Protocol(message);
    }
    protocol(format!("unknown error code `{}`: {message}", shown(code)))
}

fn set(object: &js_sys::Object, key: &str, value: &JsValue) -> Result<(), ClientError> {
    match js_sys::Reflect::set(object, &JsValue::from_str(key), value) {
        Ok(true) => Ok(()),
        _ => Err(ClientError::Transport(format!("cannot set the option `{key}`"))),
    }
}

fn invalid(message: impl Into<String>) -> ClientError {
    ClientError::Rpc(RpcError::invalid(message))
}

fn protocol(message: impl Into<String>) -> ClientError {
    ClientError::Protocol(message.into())
}

/// A value from outside, cut for an error message.
fn shown(text: &str) -> String {
    text.chars().filter(|c| c.is_ascii_graphic()).take(40).collect()
}

/// `retryAfterMs` as whole milliseconds, if it is a usable number.
fn whole_ms(ms: f64) -> Option<u64> {
    // Up to 2^53: beyond that a JS number is no longer an exact integer.
    const MAX_EXACT: f64 = 9_007_199_254_740_992.0;
    (ms.is_finite() && (0.0..=MAX_EXACT).contains(&ms)).then(|| ms.ceil() as u64)
}

/// A timeout for `setTimeout`, which fires at once beyond 2^31 - 1 ms.
fn timer_ms(timeout: Duration) -> f64 {
    const MAX_TIMER_MS: u32 = i32::MAX.unsigned_abs();
    f64::from(u32::try_from(timeout.as_millis()).unwrap_or(MAX_TIMER_MS).min(MAX_TIMER_MS))
}
