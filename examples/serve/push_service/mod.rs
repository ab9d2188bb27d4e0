//! A local push service: what FCM, Mozilla's autopush or Apple's push
//! service do for a real subscription, on loopback and in memory, for the
//! demo and the end-to-end tests (these machines have no internet).
//!
//! It checks every push the way a real push service does and answers with
//! the same status codes, so the demo shows what a real deployment would
//! show: a refused token, a rotated key, a deleted subscription.
//!
//! # HTTP API
//!
//! The origin is `http://localhost:<port>`: the `aud` of every token.
//!
//! - `POST /subscribe`, body (at most 4096 bytes)
//!   `{"application_server_key": "<b64url 65-byte P-256 point>", "p256dh":
//!   "<b64url 65-byte P-256 point>", "auth": "<b64url 16 bytes>"}`: what a
//!   browser sends its push service in `pushManager.subscribe()`; the demo
//!   page made the ECDH key pair and the auth secret itself, playing the
//!   browser. `201` with a `PushSubscriptionJSON`, `{"endpoint":
//!   "http://localhost:<port>/push/<id>", "expirationTime": null, "keys":
//!   {"p256dh": "...", "auth": "..."}}` and `Location: <endpoint>`; `400` for
//!   a bad body, `413` over 4096 bytes, `503` at [`MAX_SUBSCRIPTIONS`].
//! - `POST /push/<id>` (RFC 8030 section 5, RFC 8292, RFC 8188), from the
//!   relay: `404` unknown id; `410` deleted subscription; `413` body over
//!   4096 bytes; `401` `Authorization` missing, not `vapid t=<JWT>, k=<key>`,
//!   or a JWT that does not verify as ES256 under `k`, whose `aud` is not
//!   exactly the origin, whose `exp` is not in (now, now + 24 h], or without
//!   a `mailto:`/`https:` `sub`; `403` when `k` is not the
//!   `application_server_key` of the subscription (what a VAPID key rotation
//!   causes, RFC 8292 section 4.2); `400` when `TTL` is missing or not a
//!   number, `Urgency` or `Topic` is invalid, `Content-Encoding` is not
//!   `aes128gcm`, or the body is not an RFC 8188 header (86 bytes) and a
//!   record of at least 17 bytes (an empty body without `Content-Encoding`
//!   is a push without payload, accepted). Otherwise `201 Created` with
//!   `Location: /message/<n>` and `TTL: <ttl>` (capped at 28 days), the body
//!   queued still encrypted (at most [`MAX_QUEUED_MESSAGES`] per
//!   subscription, the oldest dropped).
//! - `DELETE /push/<id>`: `204`, later pushes get `410`; `404` unknown,
//!   `410` already deleted.
//! - `GET /messages/<id>?after=<n>`: `200` `{"messages": [{"n": <seq>,
//!   "ttl": <s>, "urgency": <string or null>, "topic": <string or null>,
//!   "body": "<b64url of the encrypted body>", "received_ms": <ms>}]}`, the
//!   queued messages with `n` above `after` (default 0), oldest first; `404`
//!   unknown, `410` deleted, `400` bad `after`.
//! - `GET /stats`: `200` `{"statuses": {"201": 3, ...}, "subscriptions": n,
//!   "deleted": n, "queued": n}`, answers given so far per status code.
//! - `OPTIONS` anything: `204`, the CORS preflight.
//!
//! Every refusal has the body `{"error": "<what was wrong, in words>"}`. A
//! request whose `Origin` is one of the `--allow-host` origins gets
//! `Access-Control-Allow-Origin: <that origin>` (and on a preflight the
//! methods and headers a page or an in-page relay needs); any other origin
//! gets no CORS header, so its page cannot read the answer.
//!
//! No sockets here: [`PushService::handle`] takes a request whose body the
//! server has already read (at most [`MAX_BODY_LEN`] + 1 bytes) and the
//! time, and returns the response. State is in memory behind a mutex.

mod message;
mod store;
mod vapid_check;

use std::sync::{Mutex, MutexGuard, PoisonError};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use p256::PublicKey;
use serde::Deserialize;
use serde_json::json;

// The checks of a push, public for the fuzz target `http_services`
// (fuzz/fuzz_targets/), which reaches them without the signature a push
// needs to get past `handle`'s VAPID check.
pub use message::{check as check_push_message, Delivery, PushHeaders, HEADER_LEN, MAX_TTL_S};
pub use store::{MAX_QUEUED_MESSAGES, MAX_SUBSCRIPTIONS};
pub use vapid_check::{check as check_authorization, MAX_AUTHORIZATION_LEN, MAX_TOKEN_LIFETIME_MS};

use self::store::{Message, Store, StoreError, SubscriptionId, POINT_LEN};
use super::AllowedOrigin;
pub use crate::http::{Request, RequestBody, Response};

/// The largest request body accepted: a push (RFC 8030 section 7.2: a push
/// service need not accept more than 4096 bytes) or a subscription.
pub const MAX_BODY_LEN: usize = 4096;

/// Longest request target accepted, in bytes.
pub const MAX_TARGET_LEN: usize = 1024;

/// Length of the `auth` secret (RFC 8291 section 3.2).
const AUTH_LEN: usize = 16;

/// A refused request: the status and what was wrong.
#[derive(Debug)]
struct Refusal {
    status: u16,
    error: String,
    allow: Option<&'static str>,
}

impl Refusal {
    fn new(status: u16, error: impl Into<String>) -> Self {
        Self { status, error: error.into(), allow: None }
    }

    fn method(allow: &'static str) -> Self {
        Self { status: 405, error: format!("method not allowed here: use {allow}"), allow: Some(allow) }
    }

    fn from_store(e: StoreError) -> Self {
        match e {
            StoreError::Unknown => Self::new(404, "no such subscription"),
            StoreError::Gone => Self::new(410, "the subscription was deleted (unsubscribed)"),
            StoreError::Full => Self::new(503, format!("the push service holds {MAX_SUBSCRIPTIONS} subscriptions")),
            StoreError::Random => Self::new(500, "the random number generator failed"),
        }
    }

    fn into_response(self) -> Response {
        let mut response = Response::error(self.status, &self.error);
        if let Some(allow) = self.allow {
            response.headers.push(("Allow", allow.into()));
        }
        response
    }
}

/// The routes, from the request path.
enum Route {
    Subscribe,
    Push(Option<SubscriptionId>),
    Messages(Option<SubscriptionId>),
    Stats,
}

impl Route {
    fn parse(path: &str) -> Option<Self> {
        match path {
            "/subscribe" => return Some(Self::Subscribe),
            "/stats" => return Some(Self::Stats),
            _ => {}
        }
        // An id that is not well-formed cannot name a subscription: 404.
        if let Some(id) = path.strip_prefix("/push/") {
            return Some(Self::Push(SubscriptionId::parse(id)));
        }
        path.strip_prefix("/messages/").map(|id| Self::Messages(SubscriptionId::parse(id)))
    }
}

/// The body of `POST /subscribe`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SubscribeBody {
    application_server_key: String,
    p256dh: String,
    auth: String,
}

/// The push service. Share it between server threads (it is `Sync`).
#[derive(Debug)]
pub struct PushService {
    origin: String,
    allowed_origins: Vec<AllowedOrigin>,
    store: Mutex<Store>,
}

impl PushService {
    /// The push service reached at `http://localhost:<port>`, answering CORS
    /// requests from `allowed_origins`.
    pub fn new(port: u16, allowed_origins: Vec<AllowedOrigin>) -> Self {
        Self { origin: format!("http://localhost:{port}"), allowed_origins, store: Mutex::new(Store::default()) }
    }

    /// `http://localhost:<port>`: the `aud` tokens must name.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The answer to `request` at `now_ms` (milliseconds since the Unix
    /// epoch, from the server's clock).
    pub fn handle(&self, request: &Request, now_ms: u64) -> Response {
        let mut response = self.route(request, now_ms).unwrap_or_else(Refusal::into_response);
        self.add_headers(request, &mut response);
        self.lock().count(response.status);
        response
    }

    /// A poisoned lock still holds consistent state: every update is a
    /// single step that cannot panic half-way.
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn route(&self, request: &Request, now_ms: u64) -> Result<Response, Refusal> {
        if request.target.len() > MAX_TARGET_LEN {
            return Err(Refusal::new(414, format!("request target longer than {MAX_TARGET_LEN} bytes")));
        }
        let (path, query) = request.path_and_query();
        let route = Route::parse(path).ok_or_else(|| Refusal::new(404, "no such route"))?;
        let method = request.method.as_str();
        if method == "OPTIONS" {
            return Ok(Response::empty(204));
        }
        let known = |id: Option<SubscriptionId>| id.ok_or_else(|| Refusal::from_store(StoreError::Unknown));
        match (route, method) {
            (Route::Subscribe, "POST") => self.subscribe(request),
            (Route::Subscribe, _) => Err(Refusal::method("POST, OPTIONS")),
            (Route::Push(id), "POST") => self.push(request, &known(id)?, now_ms),
            (Route::Push(id), "DELETE") => {
                self.lock().delete(&known(id)?).map_err(Refusal::from_store)?;
                Ok(Response::empty(204))
            }
            (Route::Push(_), _) => Err(Refusal::method("POST, DELETE, OPTIONS")),
            (Route::Messages(id), "GET") => self.messages(&known(id)?, query),
            (Route::Messages(_), _) => Err(Refusal::method("GET, OPTIONS")),
            (Route::Stats, "GET") => Ok(self.stats()),
            (Route::Stats, _) => Err(Refusal::method("GET, OPTIONS")),
        }
    }

    /// `POST /subscribe`: what the browser does in `pushManager.subscribe()`.
    fn subscribe(&self, request: &Request) -> Result<Response, Refusal> {
        let body = request
            .body
            .within(MAX_BODY_LEN)
            .ok_or_else(|| Refusal::new(413, format!("the body is larger than {MAX_BODY_LEN} bytes")))?;
        let body: SubscribeBody = serde_json::from_slice(body).map_err(|e| {
            Refusal::new(
                400,
                format!("the body is not {{\"application_server_key\", \"p256dh\", \"auth\"}} JSON ({e})"),
            )
        })?;
        let key = parse_point(&body.application_server_key)
            .ok_or_else(|| Refusal::new(400, "application_server_key is not a b64url 65-byte P-256 point"))?;
        let p256dh =
            parse_point(&body.p256dh).ok_or_else(|| Refusal::new(400, "p256dh is not a b64url 65-byte P-256 point"))?;
        let auth = URL_SAFE_NO_PAD
            .decode(&body.auth)
            .ok()
            .filter(|a| a.len() == AUTH_LEN)
            .ok_or_else(|| Refusal::new(400, "auth is not 16 bytes of b64url"))?;

        let id = self.lock().subscribe(key).map_err(Refusal::from_store)?;
        let endpoint = format!("{}/push/{}", self.origin, id.as_str());
        let subscription = json!({
            "endpoint": endpoint,
            "expirationTime": null,
            "keys": { "p256dh": URL_SAFE_NO_PAD.encode(p256dh), "auth": URL_SAFE_NO_PAD.encode(auth) },
        });
        let mut response = Response::json(201, &subscription);
        response.headers.push(("Location", endpoint));
        Ok(response)
    }

    /// `POST /push/<id>`: the checks of a real push service, then the queue.
    fn push(&self, request: &Request, id: &SubscriptionId, now_ms: u64) -> Result<Response, Refusal> {
        let subscribed_with = self.lock().application_server_key(id).map_err(Refusal::from_store)?;
        let body = request.body.within(MAX_BODY_LEN).ok_or_else(|| {
            Refusal::new(413, format!("the body is larger than {MAX_BODY_LEN} bytes (RFC 8030 section 7.2)"))
        })?;
        let authorization = single_header(request, "Authorization")?;
        let k = vapid_check::check(authorization, &self.origin, now_ms).map_err(|e| Refusal::new(401, e))?;
        if k != subscribed_with {
            return Err(Refusal::new(
                403,
                "k is not the application_server_key this subscription was made with: was the VAPID key \
                 rotated? Subscribe again with the new key (RFC 8292 section 4.2)",
            ));
        }
        let headers = PushHeaders {
            ttl: single_header(request, "TTL")?,
            content_encoding: single_header(request, "Content-Encoding")?,
            urgency: single_header(request, "Urgency")?,
            topic: single_header(request, "Topic")?,
        };
        let delivery = message::check(headers, body).map_err(|e| Refusal::new(400, e))?;

        let message = Message {
            n: 0,
            ttl: delivery.ttl,
            urgency: delivery.urgency,
            topic: delivery.topic,
            body: body.to_vec(),
            received_ms: now_ms,
        };
        // Deleted meanwhile: 410 all the same.
        let n = self.lock().enqueue(id, message).map_err(Refusal::from_store)?;
        let mut response = Response::empty(201);
        response.headers.push(("Location", format!("/message/{n}")));
        response.headers.push(("TTL", delivery.ttl.to_string()));
        Ok(response)
    }

    /// `GET /messages/<id>?after=<n>`.
    fn messages(&self, id: &SubscriptionId, query: &str) -> Result<Response, Refusal> {
        let mut after = 0;
        for pair in query.split('&') {
            if let Some(value) = pair.strip_prefix("after=") {
                after = value.parse().map_err(|_| Refusal::new(400, "after is not a message number"))?;
            }
        }
        let messages = self.lock().messages_after(id, after).map_err(Refusal::from_store)?;
        let messages: Vec<serde_json::Value> = messages
            .into_iter()
            .map(|m| {
                json!({
                    "n": m.n,
                    "ttl": m.ttl,
                    "urgency": m.urgency,
                    "topic": m.topic,
                    "body": URL_SAFE_NO_PAD.encode(&m.body),
                    "received_ms": m.received_ms,
                })
            })
            .collect();
        Ok(Response::json(200, &json!({ "messages": messages })))
    }

    /// `GET /stats`.
    fn stats(&self) -> Response {
        let store = self.lock();
        let statuses: serde_json::Map<String, serde_json::Value> =
            store.statuses().iter().map(|(status, count)| (status.to_string(), json!(count))).collect();
        let (subscriptions, deleted, queued) = store.sizes();
        drop(store);
        Response::json(
            200,
            &json!({ "statuses": statuses, "subscriptions": subscriptions, "deleted": deleted, "queued": queued }),
        )
    }

    /// CORS for the allowed origins, and the headers of every answer.
    fn add_headers(&self, request: &Request, response: &mut Response) {
        let origin = request.single_header("Origin").ok().flatten();
        if let Some(origin) = origin.filter(|o| self.allowed_origins.iter().any(|a| a.as_str() == *o)) {
            response.headers.push(("Access-Control-Allow-Origin", origin.to_owned()));
            response.headers.push(("Access-Control-Expose-Headers", "Location, TTL".into()));
            if request.method == "OPTIONS" {
                response.headers.push(("Access-Control-Allow-Methods", "GET, POST, DELETE".into()));
                response.headers.push((
                    "Access-Control-Allow-Headers",
                    "Authorization, Content-Type, Content-Encoding, TTL, Urgency, Topic".into(),
                ));
                response.headers.push(("Access-Control-Max-Age", "600".into()));
            }
        }
        response.headers.push(("Vary", "Origin".into()));
        response.headers.push(("Cache-Control", "no-store".into()));
        response.headers.push(("X-Content-Type-Options", "nosniff".into()));
    }
}

/// A header sent at most once; twice is a 400.
fn single_header<'r>(request: &'r Request, name: &str) -> Result<Option<&'r str>, Refusal> {
    request.single_header(name).map_err(|e| Refusal::new(400, e))
}

/// An uncompressed P-256 point in unpadded base64url, checked with p256.
fn parse_point(b64: &str) -> Option<[u8; POINT_LEN]> {
    let bytes = URL_SAFE_NO_PAD.decode(b64).ok()?;
    let point: [u8; POINT_LEN] = bytes.as_slice().try_into().ok()?;
    (point.first() == Some(&0x04) && PublicKey::from_sec1_bytes(&point).is_ok()).then_some(point)
}
