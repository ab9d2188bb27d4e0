//! `kms-relay`: the demo's relay, a server of the app's operator that sends
//! Web Push messages to a user while the user is away, with VAPID tokens
//! issued under a lease the user granted (docs/integration.md).
//!
//! # Why tokens come through the page
//!
//! The KMS lives in the user's browser (a worker on the KMS origin), so a
//! relay cannot call it. The relay holds the lease credential; when its
//! tokens near expiry it posts a *token request* (the credential and an
//! `IssueRequest`), the user's page (the PWA, open or in the background)
//! picks it up, calls `lease_issue` on the KMS (no session: the credential
//! is the authority, so this works while the KMS is locked) and posts the
//! tokens back. The page is only a courier: it cannot widen the lease (the
//! KMS checks the credential, the audience and the quota), and the relay
//! checks every token it receives ([`TokenHolder::insert`]).
//!
//! # HTTP API (JSON bodies of at most [`MAX_BODY_LEN`] bytes)
//!
//! - `GET /v1/info`: `{"relay", "contact", "token_ttl_s", "refresh_margin_s",
//!   "batch"}`: the relay's id (the `relay` of the lease to grant) and how
//!   it asks for tokens.
//! - `POST /v1/subscription` `{"user", "subscription": PushSubscriptionJSON}`:
//!   where to push, checked under the relay's push-service policy; replaces
//!   the user's previous one.
//! - `POST /v1/lease` `{"user", "credential": "kmsl1...."}`: the lease
//!   credential from `lease_create`. Replaces the previous lease and drops
//!   its tokens; the relay asks for tokens at once.
//! - `GET /v1/token-requests?user=<id>`: `{"requests": [{"id", "user",
//!   "credential", "request": {"aud", "sub", "count", "ttl_s"}}]}`, at most
//!   one: when the user has a subscription and an active lease, and the
//!   relay holds no token for the subscription's push service valid for
//!   `refresh_margin_s` more seconds (or a refresh was asked for). A
//!   request not answered within [`PENDING_TIMEOUT_MS`] is handed out again
//!   under a new id.
//! - `POST /v1/tokens` `{"id", "user", "tokens": [SignedJwt]}` or `{"id",
//!   "user", "error": {"code", "message", "retry_after_ms"}}`: the page's
//!   answer, the result or the error of `lease_issue`. `lease_revoked`,
//!   `lease_expired`, `lease_key_rotated`, `user_deleted`, `not_found` and
//!   `forbidden` stop the lease: the credential is wiped and the tokens are
//!   dropped. `quota_exceeded` waits `retry_after_ms`.
//! - `POST /v1/refresh` `{"user"}`: ask for tokens at the next poll (the
//!   demo uses it to learn at once what the KMS says of the lease).
//! - `POST /v1/send` `{"user", "title", "body"}`: encrypts the message for
//!   the subscription (RFC 8291), signs nothing (it picks a held token,
//!   RFC 8292) and posts it to the endpoint. `200` `{"delivered",
//!   "push_service_status", "push_service_error", "explanation"}` whatever
//!   the push service answered; `409` when the relay cannot send (no
//!   subscription, no valid token, the lease stopped), with the reason.
//! - `GET /v1/status?user=<id>`: `{"subscription", "lease", "tokens",
//!   "tokens_received", "pushes_delivered", "events"}` (tokens as `aud` and
//!   `exp` only, never the JWT).
//!
//! Errors are `{"error": "<in words>"}` with 400 (malformed), 404 (unknown
//! route or user), 405, 409 (state), 413 (body too large). CORS headers go
//! to the `--allow-origin` origins only.
//!
//! # What it does not do
//!
//! It keeps everything in memory (a restart forgets users, credentials and
//! tokens), authenticates no one (any page of an allowed origin may
//! register a user: a real relay ties users to its own accounts), and never
//! logs a token, a credential or an auth secret.

mod state;
mod transport;

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use kms_client::relay::{build_push_request, subscription_from_json, PushOptions, PushServicePolicy, Ttl};
use kms_core::ids::UserId;
use kms_core::lease::{IssueRequest, LeaseCredential};
use kms_core::vapid::SignedJwt;
use rand_core::{OsRng, RngCore as _};
use serde::Deserialize;
use serde_json::{json, value::RawValue};

pub use self::state::{Event, MAX_EVENTS};
use self::state::{Lease, Pending, UserState};
pub use self::transport::{HttpTransport, PushAnswer, PushTransport};
use crate::http::{Request, Response};

/// Largest request body accepted: a batch of 100 tokens is about 50 KB.
pub const MAX_BODY_LEN: usize = 64 * 1024;

/// Longest request target accepted, in bytes.
pub const MAX_TARGET_LEN: usize = 1024;

/// Users the relay keeps at most.
pub const MAX_USERS: usize = 64;

/// A token request not answered within this time is handed out again.
pub const PENDING_TIMEOUT_MS: u64 = 15_000;

/// Longest push message title and body, in bytes (the encrypted payload
/// must stay under 3,993 bytes).
pub const MAX_TITLE_LEN: usize = 100;
/// See [`MAX_TITLE_LEN`].
pub const MAX_MESSAGE_LEN: usize = 1000;

/// How long the push service keeps an undelivered message, in seconds.
const PUSH_TTL_S: u64 = 300;

/// Waiting time after a refusal that is neither final nor a quota.
const RETRY_AFTER_ERROR_MS: u64 = 10_000;

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
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A refused request.
struct Refusal(u16, String);

impl Refusal {
    fn bad(e: impl std::fmt::Display) -> Self {
        Self(400, e.to_string())
    }
    fn conflict(e: impl Into<String>) -> Self {
        Self(409, e.into())
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscriptionBody {
    user: UserId,
    subscription: Box<RawValue>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LeaseBody {
    user: UserId,
    credential: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UserBody {
    user: UserId,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokensBody {
    id: String,
    user: UserId,
    #[serde(default)]
    tokens: Option<Vec<SignedJwt>>,
    #[serde(default)]
    error: Option<KmsErrorBody>,
}

/// The error of `lease_issue`, as the page's client reported it.
#[derive(Deserialize)]
struct KmsErrorBody {
    code: String,
    message: String,
    #[serde(default)]
    retry_after_ms: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    user: UserId,
    #[serde(default)]
    title: Option<String>,
    body: String,
}

/// The KMS error codes after which a lease never issues again.
const FINAL_CODES: [&str; 6] =
    ["lease_revoked", "lease_expired", "lease_key_rotated", "user_deleted", "not_found", "forbidden"];

impl Relay {
    /// A relay with `config`, sending through `transport`.
    pub fn new(config: RelayConfig, transport: Box<dyn PushTransport>) -> Self {
        Self { config, transport, users: Mutex::new(BTreeMap::new()) }
    }

    /// The settings.
    pub fn config(&self) -> &RelayConfig {
        &self.config
    }

    /// The answer to `request` at `now_ms`.
    pub fn handle(&self, request: &Request, now_ms: u64) -> Response {
        let mut response = self.route(request, now_ms).unwrap_or_else(|Refusal(status, e)| Response::error(status, &e));
        self.add_headers(request, &mut response);
        response
    }

    /// A poisoned lock still holds consistent state: no update panics
    /// half-way.
    fn lock(&self) -> MutexGuard<'_, BTreeMap<UserId, UserState>> {
        self.users.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn route(&self, request: &Request, now_ms: u64) -> Result<Response, Refusal> {
        if request.target.len() > MAX_TARGET_LEN {
            return Err(Refusal(414, format!("request target longer than {MAX_TARGET_LEN} bytes")));
        }
        let (path, query) = request.path_and_query();
        let method = request.method.as_str();
        if method == "OPTIONS" {
            return Ok(Response::empty(204));
        }
        let allowed = match path {
            "/v1/info" | "/v1/token-requests" | "/v1/status" => "GET",
            "/v1/subscription" | "/v1/lease" | "/v1/tokens" | "/v1/refresh" | "/v1/send" => "POST",
            _ => return Err(Refusal(404, "no such route".into())),
        };
        if method != allowed {
            let mut response = Response::error(405, &format!("method not allowed here: use {allowed}"));
            response.headers.push(("Allow", format!("{allowed}, OPTIONS")));
            return Ok(response);
        }
        match path {
            "/v1/info" => Ok(self.info()),
            "/v1/token-requests" => self.token_requests(&user_in_query(query)?, now_ms),
            "/v1/status" => self.status(&user_in_query(query)?),
            "/v1/subscription" => self.subscription(json_body(request)?, now_ms),
            "/v1/lease" => self.lease(json_body(request)?, now_ms),
            "/v1/tokens" => self.tokens(json_body(request)?, now_ms),
            "/v1/refresh" => self.refresh(json_body(request)?, now_ms),
            _ => self.send(json_body(request)?, now_ms),
        }
    }

    fn info(&self) -> Response {
        let c = &self.config;
        Response::json(
            200,
            &json!({
                "relay": c.relay_id, "contact": c.contact, "token_ttl_s": c.token_ttl_s,
                "refresh_margin_s": c.refresh_margin_s, "batch": c.batch,
            }),
        )
    }

    fn subscription(&self, body: SubscriptionBody, now_ms: u64) -> Result<Response, Refusal> {
        let sub = subscription_from_json(body.subscription.get(), &self.config.policy).map_err(Refusal::bad)?;
        let origin = sub.origin().to_string();
        let mut users = self.lock();
        let state = user_entry(&mut users, body.user)?;
        state.log(now_ms, "subscription", format!("subscription received: push service {origin}"));
        state.subscription = Some(sub);
        Ok(Response::json(200, &json!({ "origin": origin })))
    }

    fn lease(&self, body: LeaseBody, now_ms: u64) -> Result<Response, Refusal> {
        // The message never repeats the credential.
        let credential = LeaseCredential::parse(&body.credential).map_err(Refusal::bad)?;
        let lease_id = credential.lease_id().as_str().to_owned();
        let mut users = self.lock();
        let state = user_entry(&mut users, body.user)?;
        state.lease = Lease::Active(credential);
        state.tokens = kms_client::relay::TokenHolder::new();
        state.pending = None;
        state.refresh_now = true;
        state.not_before_ms = 0;
        state.log(now_ms, "lease", format!("lease {lease_id} received: asking for tokens"));
        Ok(Response::json(200, &json!({ "lease_id": lease_id })))
    }

    fn token_requests(&self, user: &UserId, now_ms: u64) -> Result<Response, Refusal> {
        let c = &self.config;
        let mut users = self.lock();
        // A user the relay does not know has nothing to ask for.
        let Some(state) = users.get_mut(user) else {
            return Ok(Response::json(200, &json!({ "requests": [] })));
        };
        let (Some(sub), Lease::Active(credential)) = (&state.subscription, &state.lease) else {
            return Ok(Response::json(200, &json!({ "requests": [] })));
        };
        let now_s = now_ms / 1000;
        let due = state.refresh_now || state.tokens.needs_refresh(sub.origin(), now_s, c.refresh_margin_s);
        let waiting = state.pending.as_ref().is_some_and(|p| now_ms < p.offered_ms.saturating_add(PENDING_TIMEOUT_MS));
        if !due || waiting || now_ms < state.not_before_ms {
            return Ok(Response::json(200, &json!({ "requests": [] })));
        }
        let request = IssueRequest {
            aud: sub.origin().to_string(),
            sub: c.contact.clone(),
            count: c.batch,
            ttl_s: Some(c.token_ttl_s),
        };
        let credential_text = credential.dangerous_to_text();
        let id = random_id();
        let answer = json!({
            "requests": [{ "id": id, "user": user, "credential": credential_text.as_str(), "request": request }]
        });
        let why = if state.refresh_now { "asked for" } else { "no token valid long enough" };
        state.log(
            now_ms,
            "refresh",
            format!("token request handed to the page ({why}): {} for {}", c.batch, request.aud),
        );
        // `refresh_now` stays set until the answer: a request not answered
        // in time is handed out again even while the tokens are still good.
        state.pending = Some(Pending { id, offered_ms: now_ms });
        Ok(Response::json(200, &answer))
    }

    fn tokens(&self, body: TokensBody, now_ms: u64) -> Result<Response, Refusal> {
        let mut users = self.lock();
        let state = known_user(&mut users, &body.user)?;
        if state.pending.as_ref().is_none_or(|p| p.id != body.id) {
            return Err(Refusal::conflict("no such token request: already answered, or handed out again"));
        }
        state.pending = None;
        state.refresh_now = false;
        match (body.tokens, body.error) {
            (Some(tokens), None) => {
                let n = tokens.len();
                let mut latest = 0;
                // All or nothing: a batch with one bad token is refused whole.
                let mut held = state.tokens.clone();
                for token in tokens {
                    latest = latest.max(token.exp);
                    if let Err(e) = held.insert(token) {
                        state.not_before_ms = now_ms + RETRY_AFTER_ERROR_MS;
                        return Err(Refusal::bad(format!("a token was refused, and its batch with it: {e}")));
                    }
                }
                held.prune(now_ms / 1000);
                state.tokens = held;
                state.tokens_received += n as u64;
                let left = latest.saturating_sub(now_ms / 1000);
                state.log(now_ms, "tokens", format!("{n} token(s) received; the last expires in {left} s"));
                Ok(Response::json(200, &json!({ "accepted": n })))
            }
            (None, Some(error)) => {
                let code = error.code.chars().take(40).collect::<String>();
                let message = error.message.chars().filter(|c| !c.is_control()).take(300).collect::<String>();
                if FINAL_CODES.contains(&code.as_str()) {
                    let reason = match code.as_str() {
                        "lease_revoked" => "the user revoked the lease".to_owned(),
                        "lease_expired" => "the lease has ended".to_owned(),
                        "lease_key_rotated" => {
                            "the user rotated the VAPID key: this lease is bound to the old key".to_owned()
                        }
                        _ => format!("the KMS refused the lease ({code})"),
                    };
                    // The KMS's message stays out of this line (it carries raw
                    // timestamps): the code says which refusal it was.
                    state.stop(
                        now_ms,
                        &code,
                        format!("{reason} (the KMS answered {code}): credential wiped, tokens discarded, no more pushes under this lease"),
                    );
                } else {
                    let wait = if code == "quota_exceeded" {
                        error.retry_after_ms.unwrap_or(RETRY_AFTER_ERROR_MS)
                    } else {
                        RETRY_AFTER_ERROR_MS
                    };
                    state.not_before_ms = now_ms.saturating_add(wait);
                    state.log(
                        now_ms,
                        "error",
                        format!("the KMS answered {code} ({message}); asking again in {} s", wait / 1000),
                    );
                }
                Ok(Response::json(200, &json!({ "accepted": 0 })))
            }
            _ => Err(Refusal::bad("give either tokens or error")),
        }
    }

    fn refresh(&self, body: UserBody, now_ms: u64) -> Result<Response, Refusal> {
        let mut users = self.lock();
        let state = known_user(&mut users, &body.user)?;
        if !matches!(state.lease, Lease::Active(_)) {
            return Err(Refusal::conflict("no active lease to refresh"));
        }
        state.refresh_now = true;
        state.not_before_ms = 0;
        state.log(now_ms, "refresh", "refresh asked for");
        Ok(Response::json(200, &json!({ "refresh": true })))
    }

    fn send(&self, body: SendBody, now_ms: u64) -> Result<Response, Refusal> {
        let title = body.title.unwrap_or_else(|| "kms demo".to_owned());
        if title.len() > MAX_TITLE_LEN || body.body.len() > MAX_MESSAGE_LEN {
            return Err(Refusal::bad(format!(
                "title at most {MAX_TITLE_LEN} bytes and body at most {MAX_MESSAGE_LEN} bytes"
            )));
        }
        let payload = json!({ "title": title, "body": body.body, "sent_ms": now_ms }).to_string();
        // Build under the lock, send without it: a slow push service must
        // not hold up the page's polls.
        let request = {
            let mut users = self.lock();
            let state = known_user(&mut users, &body.user)?;
            if let Lease::Stopped { reason, .. } = &state.lease {
                return Err(Refusal::conflict(format!("the relay stopped pushing: {reason}")));
            }
            let Some(sub) = &state.subscription else {
                return Err(Refusal::conflict("no subscription: subscribe first"));
            };
            state.tokens.prune(now_ms / 1000);
            let opts = PushOptions::new(Ttl::from_secs(PUSH_TTL_S).map_err(Refusal::bad)?);
            build_push_request(sub, payload.as_bytes(), &state.tokens, &opts, now_ms / 1000, &mut OsRng)
                .map_err(|e| Refusal::conflict(format!("cannot send: {e}")))?
        };
        let answer = self.transport.send(&request);
        let mut users = self.lock();
        let state = known_user(&mut users, &body.user)?;
        let answer = match answer {
            Ok(answer) => answer,
            Err(e) => {
                state.log(now_ms, "error", e.clone());
                return Err(Refusal(502, e));
            }
        };
        let delivered = answer.status == 201;
        let explanation = explain(answer.status);
        if delivered {
            state.pushes_delivered += 1;
        }
        if matches!(answer.status, 404 | 410) {
            state.subscription = None;
        }
        state.log(now_ms, "push", format!("push service answered {}: {explanation}", answer.status));
        Ok(Response::json(
            200,
            &json!({
                "delivered": delivered, "push_service_status": answer.status,
                "push_service_error": answer.error, "explanation": explanation,
            }),
        ))
    }

    fn status(&self, user: &UserId) -> Result<Response, Refusal> {
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
        Ok(Response::json(
            200,
            &json!({
                "subscription": subscription, "lease": lease, "tokens": tokens,
                "tokens_received": state.tokens_received, "pushes_delivered": state.pushes_delivered,
                "events": state.events,
            }),
        ))
    }

    /// CORS for the allowed origins, and the headers of every answer.
    fn add_headers(&self, request: &Request, response: &mut Response) {
        let origin = request.single_header("Origin").ok().flatten();
        if let Some(origin) = origin.filter(|o| self.config.allowed_origins.iter().any(|a| a == o)) {
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

/// What a push service's status means for the demo's user, in words.
pub fn explain(status: u16) -> &'static str {
    match status {
        201 => "accepted: the push service will deliver the message to the browser",
        400 => "the push service refused a malformed request (headers or encoding)",
        401 => "the push service refused the VAPID token: invalid signature, wrong audience, expired, or no contact",
        403 => {
            "the token's key is not the key this subscription was made with: after a VAPID key rotation every \
             subscription must be made again with the new applicationServerKey"
        }
        404 | 410 => "the subscription is gone (unsubscribed or expired): the relay forgot it; subscribe again",
        413 => "the message is too large for the push service",
        429 => "the push service asks the relay to slow down",
        _ => "an unexpected answer from the push service",
    }
}

fn json_body<T: for<'de> Deserialize<'de>>(request: &Request) -> Result<T, Refusal> {
    let body = request
        .body
        .within(MAX_BODY_LEN)
        .ok_or_else(|| Refusal(413, format!("the body is larger than {MAX_BODY_LEN} bytes")))?;
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
        return Err(Refusal(503, format!("the relay holds {MAX_USERS} users")));
    }
    Ok(users.entry(user).or_insert_with(UserState::new))
}

fn known_user<'u>(users: &'u mut BTreeMap<UserId, UserState>, user: &UserId) -> Result<&'u mut UserState, Refusal> {
    users.get_mut(user).ok_or_else(|| Refusal(404, "unknown user: send a subscription or a lease first".into()))
}

/// 16 random bytes, base64url: a token request id.
fn random_id() -> String {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}
