//! `kms-relay`: the demo's relay, a server of the app's operator that sends
//! Web Push messages to a user while the user is away, with VAPID tokens
//! issued under a lease the user granted (docs/integration.md).
//!
//! # Why tokens come through the page
//!
//! The KMS lives in the user's browser (a worker on the KMS origin), so a
//! relay cannot call it. The relay holds the lease credential; when its
//! tokens near expiry it posts a *token request*, the user's page (the PWA,
//! open or in the background) picks it up, passes it to the KMS (no
//! session: the credential is the authority, so this works while the KMS
//! is locked) and posts the answer back. The page is only a courier: it
//! cannot widen the lease (the KMS checks the credential, the audience and
//! the quota), and the relay accepts only tokens that fit what it asked for
//! (`courier.rs`).
//!
//! A lease granted to the relay's courier key (`relay_key` in `/v1/info`)
//! is sealed end to end (`kms_client::relay::courier`): the credential
//! reaches the relay sealed to its key, together with the lease's courier
//! key; each token request is sealed to that key and carried through
//! `lease_courier`; the answer is sealed to the relay. The page reads
//! neither the credential nor a token. A lease granted without it (the
//! CLI's) travels in the clear through `lease_issue`.
//!
//! # HTTP API
//!
//! POST bodies are JSON (`Content-Type: application/json`, which makes a
//! browser send a CORS preflight first) of at most [`MAX_BODY_LEN`] bytes.
//!
//! - `GET /v1/info`: `{"relay", "contact", "token_ttl_s", "refresh_margin_s",
//!   "batch", "relay_key"}`: the relay's id (the `relay` of the lease to
//!   grant), how it asks for tokens, and its courier public key (made at
//!   start, in memory only).
//! - `POST /v1/subscription` `{"user", "subscription": PushSubscriptionJSON}`:
//!   where to push, checked under the relay's push-service policy; replaces
//!   the user's previous one.
//! - `POST /v1/lease` `{"user", "lease_id", "sealed_credential"}` (a lease
//!   granted to `relay_key`: the credential and the lease's courier key are
//!   opened from `sealed_credential`) or `{"user", "credential":
//!   "kmsl1...."}` (a lease granted without it). Replaces the previous
//!   lease and drops its tokens; the relay asks for tokens at once.
//! - `GET /v1/token-requests?user=<id>`: `{"requests": [{"id", "user",
//!   "lease_id", "sealed"}]}` for a sealed lease (pass `user`, `lease_id`
//!   and `sealed` to `lease_courier`), `{"requests": [{"id", "user",
//!   "credential", "request": {"aud", "sub", "count", "ttl_s"}}]}` for a
//!   clear one (pass them to `lease_issue`); at most
//!   one: when the user has a subscription and an active lease, and the
//!   relay holds no token for the subscription's push service valid for
//!   `refresh_margin_s` more seconds (or a refresh was asked for). A
//!   request not answered within [`PENDING_TIMEOUT_MS`] is handed out again
//!   under a new id. A user the relay does not know gets no request.
//! - `POST /v1/tokens` `{"id", "user", "sealed"}` (the `lease_courier`
//!   result, for a sealed request), `{"id", "user", "tokens": [SignedJwt]}`
//!   (for a clear one) or `{"id", "user", "error": {"code", "message",
//!   "retry_after_ms"}}`: the page's answer. Tokens are accepted
//!   all or none, and replace the ones held (rules in `courier.rs`).
//!   `lease_revoked`, `lease_expired`, `lease_key_rotated`, `user_deleted`
//!   and `forbidden` stop the lease: the credential is wiped and the tokens
//!   are dropped. `quota_exceeded` waits `retry_after_ms` (at most an hour);
//!   any other error (`not_found` from a KMS that does not hold this user,
//!   `timeout`, `storage`, ...) waits [`RETRY_AFTER_ERROR_MS`].
//! - `POST /v1/refresh` `{"user"}`: ask for tokens at the next poll, until
//!   tokens or a final answer come (the demo uses it to learn at once what
//!   the KMS says of the lease).
//! - `POST /v1/send` `{"user", "title", "body"}`: encrypts the message for
//!   the subscription (RFC 8291), picks a held token (RFC 8292) and posts it
//!   to the endpoint. `200` `{"delivered", "push_service_status",
//!   "push_service_error", "explanation"}` whatever the push service
//!   answered (a 401 drops the tokens and asks for new ones; a 404 or 410
//!   forgets the subscription); `409` when the relay cannot send.
//! - `GET /v1/status?user=<id>`: `{"subscription", "lease", "tokens",
//!   "tokens_received", "pushes_delivered", "events"}` (tokens as `aud`,
//!   `exp` and `kid` only, never the JWT); the empty state for a user the
//!   relay does not know.
//!
//! Refusals are `{"code": "<stable code>", "error": "<in words>"}`:
//! `invalid_request` 400, `forbidden_origin` 403, `not_found` 404 (route or
//! user), `method_not_allowed` 405, `no_subscription`, `no_active_lease`,
//! `lease_stopped`, `no_valid_token`, `unknown_token_request` 409,
//! `too_large` 413, `target_too_long` 414, `unsupported_media_type` 415,
//! `push_failed` 502 (no answer from the push service), `too_many_users`
//! 503. A request whose `Origin` is not an `--allow-origin` origin is
//! refused (`forbidden_origin`) before anything else; requests without
//! `Origin` (not from a browser) are served.
//!
//! # What it does not do
//!
//! It keeps everything in memory (a restart forgets users, credentials and
//! tokens), authenticates no one (any page of an allowed origin, and any
//! local process, may register any user id: a real relay ties users to its
//! own accounts), and never logs a token, a credential or an auth secret.

mod courier;
mod send;
mod state;
mod transport;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use kms_client::relay::courier::CourierSecret;
use kms_client::relay::PushServicePolicy;
use kms_core::ids::UserId;
use serde::Deserialize;
use serde_json::json;

pub use self::send::explain;
pub use self::state::{Event, MAX_EVENTS};
use self::state::{Lease, UserState};
pub use self::transport::{HttpTransport, PushAnswer, PushTransport};
use crate::http::{Request, Response};

/// Largest request body accepted: a batch of 100 tokens is about 50 KB.
pub const MAX_BODY_LEN: usize = 64 * 1024;

/// Longest request target accepted, in bytes.
pub const MAX_TARGET_LEN: usize = 1024;

/// Users the relay keeps at most.
pub const MAX_USERS: usize = 64;

/// A token request not answered within this time is handed out again. Longer
/// than the JS client's 30-second call timeout, so that a slow answer is not
/// overtaken by a second courier.
pub const PENDING_TIMEOUT_MS: u64 = 45_000;

/// Waiting time after an answer that is neither tokens, nor final, nor a
/// quota refusal.
pub const RETRY_AFTER_ERROR_MS: u64 = 10_000;

/// The longest wait a quota refusal can impose (the quota is per hour).
pub const MAX_QUOTA_WAIT_MS: u64 = 3_600_000;

/// The relay's settings.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The relay's id: the `relay` label of the leases granted to it.
    pub relay_id: String,
    /// The operator's contact, the tokens' `sub` (`mailto:` or `https:`).
    pub contact: String,
    /// Lifetime asked for the longest-lived token of a batch, in seconds
    /// (more than 60).
    pub token_ttl_s: u64,
    /// Ask for new tokens when none is valid for this many more seconds.
    pub refresh_margin_s: u64,
    /// Tokens per request (at most the lease's `max_batch`).
    pub batch: u32,
    /// The push services the relay sends to.
    pub policy: PushServicePolicy,
    /// Origins whose pages may call the relay (CORS).
    pub allowed_origins: Vec<String>,
}

/// The relay: share it between server threads (it is `Sync`).
pub struct Relay {
    config: RelayConfig,
    transport: Box<dyn PushTransport>,
    users: Mutex<BTreeMap<UserId, UserState>>,
    /// This relay's courier key, made at start and never stored: leases are
    /// granted to its public half (`/v1/info` says it), so the credential
    /// and the tokens cross the page sealed.
    courier: CourierSecret,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A refused request: status, stable code, what was wrong.
struct Refusal {
    status: u16,
    code: &'static str,
    error: String,
}

impl Refusal {
    fn new(status: u16, code: &'static str, error: impl Into<String>) -> Self {
        Self { status, code, error: error.into() }
    }

    fn bad(e: impl std::fmt::Display) -> Self {
        Self::new(400, "invalid_request", e.to_string())
    }

    fn into_response(self) -> Response {
        Response::json(self.status, &json!({ "code": self.code, "error": self.error }))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    user: UserId,
}

impl Relay {
    /// A relay with `config`, sending through `transport`.
    pub fn new(config: RelayConfig, transport: Box<dyn PushTransport>) -> Self {
        Self {
            config,
            transport,
            users: Mutex::new(BTreeMap::new()),
            courier: CourierSecret::generate(&mut rand_core::OsRng),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// The answer to `request` at `now_ms`.
    pub fn handle(&self, request: &Request, now_ms: u64) -> Response {
        let mut response = self.route(request, now_ms).unwrap_or_else(Refusal::into_response);
        self.add_headers(request, &mut response);
        response
    }

    /// A poisoned lock still holds consistent state: no update panics
    /// half-way.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<UserId, UserState>> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn route(&self, request: &Request, now_ms: u64) -> Result<Response, Refusal> {
        // A page of another origin cannot read the answers (no CORS header)
        // but could still make the relay act: refuse it first.
        if let Some(origin) = request.single_header("Origin").map_err(Refusal::bad)? {
            if !self.allowed(origin) {
                return Err(Refusal::new(403, "forbidden_origin", "this origin may not call the relay"));
            }
        }
        if request.target.len() > MAX_TARGET_LEN {
            return Err(Refusal::new(
                414,
                "target_too_long",
                format!("request target longer than {MAX_TARGET_LEN} bytes"),
            ));
        }
        let (path, query) = request.path_and_query();
        let allowed = match path {
            "/v1/info" | "/v1/token-requests" | "/v1/status" => "GET",
            "/v1/subscription" | "/v1/lease" | "/v1/tokens" | "/v1/refresh" | "/v1/send" => "POST",
            _ => return Err(Refusal::new(404, "not_found", "no such route")),
        };
        match request.method.as_str() {
            "OPTIONS" => return Ok(Response::empty(204)),
            m if m == allowed => {}
            _ => {
                let mut response =
                    Refusal::new(405, "method_not_allowed", format!("method not allowed here: use {allowed}"))
                        .into_response();
                response.headers.push(("Allow", format!("{allowed}, OPTIONS")));
                return Ok(response);
            }
        }
        match path {
            "/v1/info" => Ok(self.info()),
            "/v1/token-requests" => self.token_requests(&user_in_query(query)?, now_ms),
            "/v1/status" => Ok(self.status(&user_in_query(query)?)),
            "/v1/subscription" => self.subscription(json_body(request)?, now_ms),
            "/v1/lease" => self.lease(json_body(request)?, now_ms),
            "/v1/tokens" => self.tokens(json_body(request)?, now_ms),
            "/v1/refresh" => self.refresh(&json_body::<UserBody>(request)?.user, now_ms),
            _ => self.send(json_body(request)?, now_ms),
        }
    }

    fn allowed(&self, origin: &str) -> bool {
        self.config.allowed_origins.iter().any(|a| a == origin)
    }

    fn info(&self) -> Response {
        let c = &self.config;
        Response::json(
            200,
            &json!({
                "relay": c.relay_id, "contact": c.contact, "token_ttl_s": c.token_ttl_s,
                "refresh_margin_s": c.refresh_margin_s, "batch": c.batch,
                "relay_key": self.courier.public().to_b64(),
            }),
        )
    }

    fn status(&self, user: &UserId) -> Response {
        let users = self.lock();
        // A user the relay does not know: the empty state, not an error
        // (the page polls before it has sent anything).
        let unknown = UserState::new();
        let state = users.get(user).unwrap_or(&unknown);
        let lease = match &state.lease {
            Lease::None => json!({ "state": "none" }),
            Lease::Active(c) => json!({ "state": "active", "id": c.lease_id().as_str() }),
            Lease::Stopped { lease_id, code, reason } => {
                json!({ "state": "stopped", "id": lease_id, "code": code, "reason": reason })
            }
        };
        let subscription = state.subscription.as_ref().map(|s| json!({ "origin": s.origin().to_string() }));
        let tokens: Vec<serde_json::Value> = state
            .tokens
            .expiries()
            .into_iter()
            .map(|(aud, exp, kid)| json!({ "aud": aud.as_str(), "exp": exp, "kid": kid }))
            .collect();
        Response::json(
            200,
            &json!({
                "subscription": subscription, "lease": lease, "tokens": tokens,
                "tokens_received": state.tokens_received, "pushes_delivered": state.pushes_delivered,
                "events": state.events,
            }),
        )
    }

    /// CORS for the allowed origins, and the headers of every answer.
    fn add_headers(&self, request: &Request, response: &mut Response) {
        let origin = request.single_header("Origin").ok().flatten();
        if let Some(origin) = origin.filter(|o| self.allowed(o)) {
            response.headers.push(("Access-Control-Allow-Origin", origin.to_owned()));
            if request.method == "OPTIONS" {
                response.headers.push(("Access-Control-Allow-Methods", "GET, POST".into()));
                response.headers.push(("Access-Control-Allow-Headers", "Content-Type".into()));
                response.headers.push(("Access-Control-Max-Age", "600".into()));
            }
        }
        response.headers.push(("Vary", "Origin".into()));
        response.headers.push(("Cache-Control", "no-store".into()));
        response.headers.push(("X-Content-Type-Options", "nosniff".into()));
    }
}

/// The JSON body of a POST: `application/json` (so that a browser had to
/// ask with a preflight), at most [`MAX_BODY_LEN`] bytes, of type `T`.
fn json_body<T: for<'de> Deserialize<'de>>(request: &Request) -> Result<T, Refusal> {
    let content_type = request.single_header("Content-Type").map_err(Refusal::bad)?.unwrap_or("");
    let media_type = content_type.split(';').next().unwrap_or("").trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return Err(Refusal::new(415, "unsupported_media_type", "send the body as Content-Type: application/json"));
    }
    let body = request
        .body
        .within(MAX_BODY_LEN)
        .ok_or_else(|| Refusal::new(413, "too_large", format!("the body is larger than {MAX_BODY_LEN} bytes")))?;
    serde_json::from_slice(body).map_err(|e| Refusal::bad(format!("the body is not the expected JSON ({e})")))
}

fn user_in_query(query: &str) -> Result<UserId, Refusal> {
    let user = url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "user")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| Refusal::bad("the query needs user=<id>"))?;
    UserId::parse(&user).map_err(Refusal::bad)
}

fn user_entry(users: &mut BTreeMap<UserId, UserState>, user: UserId) -> Result<&mut UserState, Refusal> {
    if !users.contains_key(&user) && users.len() >= MAX_USERS {
        return Err(Refusal::new(503, "too_many_users", format!("the relay holds {MAX_USERS} users")));
    }
    Ok(users.entry(user).or_insert_with(UserState::new))
}

fn known_user<'u>(users: &'u mut BTreeMap<UserId, UserState>, user: &UserId) -> Result<&'u mut UserState, Refusal> {
    users
        .get_mut(user)
        .ok_or_else(|| Refusal::new(404, "not_found", "unknown user: send a subscription or a lease first"))
}
