#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! `kms-relay` (`kms_examples::relay`) against real things: the real engine
//! (`kms_worker::Kms`, through the typed client in-process) grants, revokes
//! and rotates, and issues the tokens (`lease_issue`) the test posts back
//! while playing the user's page; the relay sends through its real
//! `HttpTransport` to the local push service of `kms-serve`, running on a
//! loopback port; the test, playing the user agent, decrypts what that
//! service queued. The relay is driven through `Relay::handle` with a clock
//! the test controls (close to the real one whenever a push goes out: the
//! push service checks `exp` against the system clock), and once as the
//! `kms-relay` binary over a socket.
//!
//! Covered: the token request (its terms, the credential, one at a time,
//! handed out again after `PENDING_TIMEOUT_MS` under a new id), refreshing
//! at the margin and sending with the newest token, the status that never
//! shows a token or the credential, pushes decrypted by the user agent, the
//! KMS's final refusals (revocation, key rotation) stopping the lease, a 403
//! after a rotation until the user subscribes again, waiting after
//! `quota_exceeded` and other errors, refusals of malformed requests, and
//! CORS.

mod common;

use common::{spawn_announcing, Reply, UserAgent};
use kms_core::lease::courier::CourierPublic;
use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
};

use futures::executor::block_on;
use kms_client::client::Session;
use kms_client::relay::{PushRequest, PushServicePolicy};
use kms_client::{ClientError, InProcess, KmsClient};
use kms_core::env::ManualClock;
use kms_core::ids::UserId;
use kms_core::lease::{IssueRequest, LeaseCredential, LeaseInfo, LeaseParams};
use kms_core::rpc::{
    Call, LeaseCreateParams, LeaseCreateResult, LeaseIssueParams, LeaseIssueResult, LeaseRefParams, RotateResult,
};
use kms_core::secret::Passphrase;
use kms_core::testing::encoding::b64;
use kms_core::vapid::{self, JwtRequest, SignedJwt, VapidPublicInfo, VapidSigningKey};
use kms_examples::http::{self, Request, RequestBody, Response};
use kms_examples::relay::{
    HttpTransport, PushAnswer, PushTransport, Relay, RelayConfig, MAX_BODY_LEN, PENDING_TIMEOUT_MS,
};
use kms_examples::serve::{self, Options, PushConfig, PushSpec, Running};
use kms_storage::MemoryStore;
use kms_worker::{Kms, KmsConfig, Platform};
use rand_core::OsRng;
use serde_json::{json, Value};

const USER: &str = "alice@example.com";
const RELAY_ID: &str = "test-relay";
const CONTACT: &str = "mailto:relay@example.com";
/// The page's origin, allowed to call the relay.
const PAGE: &str = "http://localhost:8080";
/// The relay's wait after an error that is neither final nor a quota.
const RETRY_AFTER_ERROR_MS: u64 = 10_000;
const HOUR_MS: u64 = 3_600_000;

fn json_of(response: &Response) -> Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("{e}: {response:?}"))
}

/// The JSON of a 200.
fn ok(response: &Response) -> Value {
    assert_eq!(response.status, 200, "{}", String::from_utf8_lossy(&response.body));
    json_of(response)
}

/// The `error` of a refusal, checking the status first.
fn refused(response: &Response, status: u16) -> String {
    assert_eq!(response.status, status, "{}", String::from_utf8_lossy(&response.body));
    assert_eq!(response.header("Content-Type"), Some("application/json"));
    json_of(response)["error"].as_str().unwrap().to_owned()
}

fn assert_refused(response: &Response, status: u16, reason: &str) {
    let error = refused(response, status);
    assert!(error.contains(reason), "expected {reason:?} in {error:?}");
}

/// A POST with a JSON body, as the page sends it.
fn json_post(path: &str, body: Vec<u8>) -> Request {
    Request::new("POST", path).with_header("Content-Type", "application/json").with_body(body)
}

// --- The relay ------------------------------------------------------------------

/// How the relay under test asks for tokens and where it may push.
#[derive(Clone, Copy)]
struct Settings {
    token_ttl_s: u64,
    refresh_margin_s: u64,
    batch: u32,
    allow_loopback: bool,
}

/// The defaults of `kms-relay`, with loopback pushes allowed.
const DEFAULTS: Settings = Settings { token_ttl_s: 3600, refresh_margin_s: 600, batch: 2, allow_loopback: true };

/// The `Authorization` values of the pushes the relay sent.
#[derive(Clone, Default)]
struct Sent(Arc<Mutex<Vec<String>>>);

impl Sent {
    fn authorizations(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// The real transport, noting which token each push carried.
struct Recording {
    http: HttpTransport,
    sent: Sent,
}

impl PushTransport for Recording {
    fn send(&self, request: &PushRequest) -> Result<PushAnswer, String> {
        self.sent.0.lock().unwrap().push(request.header("Authorization").unwrap_or_default().to_owned());
        self.http.send(request)
    }
}

fn relay(settings: Settings) -> (Relay, Sent) {
    let sent = Sent::default();
    let transport = Recording { http: HttpTransport::new(), sent: sent.clone() };
    (Relay::new(config(settings), Box::new(transport)), sent)
}

/// A push service that answers these statuses in turn, as a real one would
/// in cases the local one cannot be brought to (a token it finds invalid).
struct Scripted(Mutex<Vec<u16>>);

impl PushTransport for Scripted {
    fn send(&self, _: &PushRequest) -> Result<PushAnswer, String> {
        let status = self.0.lock().unwrap().remove(0);
        Ok(PushAnswer { status, error: Some(format!("scripted {status}")) })
    }
}

fn config(settings: Settings) -> RelayConfig {
    RelayConfig {
        relay_id: RELAY_ID.into(),
        contact: CONTACT.into(),
        token_ttl_s: settings.token_ttl_s,
        refresh_margin_s: settings.refresh_margin_s,
        batch: settings.batch,
        policy: PushServicePolicy::major_push_services().with_loopback(settings.allow_loopback),
        allowed_origins: vec![PAGE.into()],
    }
}

// --- The user agent ---------------------------------------------------------------

/// A queued message's body (b64url), decrypted by `ua`, as JSON.
fn decrypt_json(ua: &UserAgent, body_b64: &str) -> Value {
    serde_json::from_slice(&ua.decrypt(body_b64)).unwrap()
}

/// A subscription made at the local push service.
struct Subscription {
    /// The `PushSubscriptionJSON` the service answered.
    json: Value,
    /// `http://localhost:<port>/messages/<id>`.
    messages_url: String,
}

// --- Everything together ------------------------------------------------------------

type Client = KmsClient<InProcess<ManualClock, OsRng>>;

/// The push service on a loopback port, the engine with one user and a
/// VAPID key, the relay, and the user agent.
struct World {
    /// Kept running until the test ends.
    _push: Running,
    /// `http://localhost:<port>`: the `aud` of the tokens.
    origin: String,
    agent: ureq::Agent,
    clock: ManualClock,
    kms: Client,
    session: Session,
    key: VapidPublicInfo,
    user: UserId,
    relay: Relay,
    sent: Sent,
    ua: UserAgent,
    /// The real time when the world was made, in milliseconds.
    start_ms: u64,
}

fn world(settings: Settings) -> World {
    let push = PushConfig { spec: PushSpec::parse("127.0.0.1:0").unwrap(), allowed_origins: Vec::new() };
    let running = serve::start_with_push(Vec::new(), Some(push), Options::default()).unwrap();
    let origin = running.origins()[0].url();
    let start_ms = http::now_ms();
    let clock = ManualClock::new(start_ms);
    let engine =
        Kms::new(Box::new(MemoryStore::new()), Platform::native(clock.clone(), OsRng), KmsConfig::default()).unwrap();
    let kms = KmsClient::new(InProcess::new(engine));
    let user = UserId::parse(USER).unwrap();
    let (session, key) = block_on(async {
        let session =
            Session::from(&kms.setup_passphrase(&user, Passphrase::new("correct horse battery staple")).await.unwrap());
        let key = kms.vapid_generate(&session).await.unwrap();
        (session, key)
    });
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let (relay, sent) = relay(settings);
    World { _push: running, origin, agent, clock, kms, session, key, user, relay, sent, ua: UserAgent::new(), start_ms }
}

/// The relay's view once it has the subscription, the lease and its first
/// tokens.
struct Ready {
    w: World,
    sub: Subscription,
    lease: LeaseInfo,
    credential: String,
    tokens: Vec<SignedJwt>,
}

fn ready(settings: Settings) -> Ready {
    let w = world(settings);
    let sub = w.subscribe(&w.key.public_key);
    ok(&w.give_subscription(&sub, w.start_ms));
    let (lease, credential) = w.lease_create(None);
    ok(&w.give_lease(&credential, w.start_ms));
    let tokens = w.serve_next_request(w.start_ms);
    Ready { w, sub, lease, credential, tokens }
}

impl World {
    // The relay's HTTP API.

    fn get(&self, target: &str, now_ms: u64) -> Response {
        self.relay.handle(&Request::new("GET", target), now_ms)
    }

    fn post(&self, path: &str, body: &Value, now_ms: u64) -> Response {
        self.relay.handle(&json_post(path, body.to_string().into_bytes()), now_ms)
    }

    fn status(&self) -> Value {
        ok(&self.get(&format!("/v1/status?user={USER}"), self.start_ms))
    }

    /// The token request the relay hands out at `now_ms`, if any.
    fn poll(&self, now_ms: u64) -> Option<Value> {
        let answer = ok(&self.get(&format!("/v1/token-requests?user={USER}"), now_ms));
        let requests = answer["requests"].as_array().unwrap();
        assert!(requests.len() <= 1, "{answer}");
        requests.first().cloned()
    }

    fn expect_request(&self, now_ms: u64) -> Value {
        self.poll(now_ms).unwrap_or_else(|| panic!("no token request at start + {} ms", now_ms - self.start_ms))
    }

    fn expect_no_request(&self, now_ms: u64) {
        if let Some(request) = self.poll(now_ms) {
            panic!("unexpected token request at start + {} ms: {request}", now_ms - self.start_ms);
        }
    }

    fn give_subscription(&self, sub: &Subscription, now_ms: u64) -> Response {
        self.post("/v1/subscription", &json!({ "user": USER, "subscription": sub.json }), now_ms)
    }

    fn give_lease(&self, credential: &str, now_ms: u64) -> Response {
        self.post("/v1/lease", &json!({ "user": USER, "credential": credential }), now_ms)
    }

    fn post_tokens(&self, id: &Value, tokens: &[SignedJwt], now_ms: u64) -> Response {
        self.post("/v1/tokens", &json!({ "id": id, "user": USER, "tokens": tokens }), now_ms)
    }

    /// The page's report of a failed `lease_issue`.
    fn post_error(&self, id: &Value, error: &ClientError, now_ms: u64) -> Response {
        let ClientError::Rpc(rpc) = error else { panic!("not an engine error: {error}") };
        let error = json!({ "code": error.code_str(), "message": rpc.message, "retry_after_ms": rpc.retry_after_ms });
        self.post("/v1/tokens", &json!({ "id": id, "user": USER, "error": error }), now_ms)
    }

    fn send(&self, title: &str, body: &str, now_ms: u64) -> Response {
        self.post("/v1/send", &json!({ "user": USER, "title": title, "body": body }), now_ms)
    }

    // The KMS.

    /// A lease for the push service (default terms unless `quota` gives
    /// `tokens_per_hour` and `max_batch`), and its credential's text.
    fn lease_create(&self, quota: Option<u32>) -> (LeaseInfo, String) {
        let created: LeaseCreateResult = serde_json::from_value(self.lease_create_raw(quota, None)).unwrap();
        let credential = created.credential.unwrap().dangerous_to_text().to_string();
        (created.lease, credential)
    }

    /// `lease_create`'s answer as the page sees it, granted to `relay_key`
    /// when given.
    fn lease_create_raw(&self, quota: Option<u32>, relay_key: Option<CourierPublic>) -> Value {
        let lease = LeaseParams {
            relay: RELAY_ID.into(),
            audiences: vec![self.origin.clone()],
            lifetime_s: None,
            tokens_per_hour: quota,
            max_batch: quota,
        };
        let call = Call::LeaseCreate(LeaseCreateParams {
            user: self.user.clone(),
            session: self.session.token.clone(),
            lease,
            relay_key,
        });
        block_on(self.kms.call_raw(call)).unwrap()
    }

    fn lease_revoke(&self, lease: &LeaseInfo) {
        let call = Call::LeaseRevoke(LeaseRefParams {
            user: self.user.clone(),
            session: self.session.token.clone(),
            lease_id: lease.id.clone(),
        });
        block_on(self.kms.call_raw(call)).unwrap();
    }

    fn vapid_rotate(&self) -> RotateResult {
        block_on(self.kms.vapid_rotate(&self.session)).unwrap()
    }

    /// What the page does with a token request: `lease_issue` with its
    /// credential and terms, at `now_ms` on the engine's clock.
    fn lease_issue(&self, token_request: &Value, now_ms: u64) -> Result<Vec<SignedJwt>, ClientError> {
        self.clock.set(now_ms);
        let credential = LeaseCredential::parse(token_request["credential"].as_str().unwrap()).unwrap();
        let request: IssueRequest = serde_json::from_value(token_request["request"].clone()).unwrap();
        let call = Call::LeaseIssue(LeaseIssueParams { user: self.user.clone(), credential, request });
        let issued: LeaseIssueResult = serde_json::from_value(block_on(self.kms.call_raw(call))?).unwrap();
        Ok(issued.tokens)
    }

    /// The page's round: take the token request, get the tokens from the
    /// KMS, post them; the relay accepts them all.
    fn serve_next_request(&self, now_ms: u64) -> Vec<SignedJwt> {
        let request = self.expect_request(now_ms);
        let tokens = self.lease_issue(&request, now_ms).unwrap();
        assert_eq!(ok(&self.post_tokens(&request["id"], &tokens, now_ms)), json!({ "accepted": tokens.len() }));
        tokens
    }

    /// The page's round when the KMS refuses with `code`: the refusal is
    /// posted and accepted.
    fn relay_kms_refusal(&self, now_ms: u64, code: &str) -> ClientError {
        let request = self.expect_request(now_ms);
        let error = self.lease_issue(&request, now_ms).unwrap_err();
        assert_eq!(error.code_str(), code, "{error}");
        assert_eq!(ok(&self.post_error(&request["id"], &error, now_ms)), json!({ "accepted": 0 }));
        error
    }

    // The push service, over HTTP.

    fn subscribe(&self, application_server_key: &str) -> Subscription {
        let body = json!({ "application_server_key": application_server_key, "p256dh": self.ua.p256dh(), "auth": b64(self.ua.auth) });
        let mut response = self
            .agent
            .post(&format!("{}/subscribe", self.origin))
            .header("Content-Type", "application/json")
            .send(body.to_string())
            .unwrap();
        assert_eq!(response.status().as_u16(), 201);
        let json: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        let endpoint = json["endpoint"].as_str().unwrap();
        assert!(endpoint.starts_with(&format!("{}/push/", self.origin)), "{endpoint}");
        let messages_url = endpoint.replace("/push/", "/messages/");
        Subscription { json, messages_url }
    }

    /// The messages queued for `sub`, oldest first.
    fn messages(&self, sub: &Subscription) -> Vec<Value> {
        let mut response = self.agent.get(&sub.messages_url).call().unwrap();
        assert_eq!(response.status().as_u16(), 200);
        let json: Value = serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap();
        json["messages"].as_array().unwrap().clone()
    }
}

/// The tokens as `/v1/status` lists them: by expiry.
fn listed(tokens: &[&SignedJwt], aud: &str) -> Value {
    let mut tokens = tokens.to_vec();
    tokens.sort_by_key(|t| t.exp);
    tokens.iter().map(|t| json!({ "aud": aud, "exp": t.exp, "kid": t.kid })).collect()
}

fn event_kinds(status: &Value) -> Vec<String> {
    status["events"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap().to_owned()).collect()
}

// --- The tests ------------------------------------------------------------------------

#[test]
fn subscription_and_lease_to_token_request_tokens_push_and_decryption() {
    let w = world(DEFAULTS);
    let t = w.start_ms;
    let sub = w.subscribe(&w.key.public_key);
    assert_eq!(ok(&w.give_subscription(&sub, t)), json!({ "origin": w.origin }));
    // A subscription without a lease: nothing to ask for.
    w.expect_no_request(t);
    let (lease, credential) = w.lease_create(None);
    assert_eq!(ok(&w.give_lease(&credential, t)), json!({ "lease_id": lease.id.as_str() }));

    let request = w.expect_request(t);
    let id = request["id"].as_str().unwrap();
    assert_eq!(id.len(), 22, "{id}");
    assert_eq!(request["user"], USER);
    assert_eq!(request["credential"], credential.as_str());
    assert_eq!(request["request"], json!({ "aud": w.origin, "sub": CONTACT, "count": 2, "ttl_s": 3600 }));
    // One request at a time: the page is working on it.
    w.expect_no_request(t + 1000);

    let tokens = w.lease_issue(&request, t).unwrap();
    assert_eq!(tokens.len(), 2);
    assert_eq!(ok(&w.post_tokens(&request["id"], &tokens, t)), json!({ "accepted": 2 }));
    w.expect_no_request(t + 1000);

    let status = w.status();
    assert_eq!(status["subscription"], json!({ "origin": w.origin }));
    assert_eq!(status["lease"], json!({ "state": "active", "id": lease.id.as_str() }));
    assert_eq!(status["tokens"], listed(&[&tokens[0], &tokens[1]], &w.origin));
    assert_eq!(tokens[1].exp, t / 1000 + 3600);
    assert_eq!(tokens[0].kid, w.key.kid);
    assert_eq!((status["tokens_received"].as_u64(), status["pushes_delivered"].as_u64()), (Some(2), Some(0)));
    assert_eq!(event_kinds(&status), ["subscription", "lease", "refresh", "tokens"]);
    let text = status.to_string();
    let (_, secret) = credential.rsplit_once('.').unwrap();
    for token in &tokens {
        let (_, signature) = token.jwt.rsplit_once('.').unwrap();
        assert!(!text.contains(&token.jwt) && !text.contains(signature), "a token in {text}");
    }
    assert!(!text.contains(&credential) && !text.contains(secret), "the credential in {text}");

    let now = http::now_ms();
    let sent = ok(&w.send("Hello", "from the relay", now));
    assert_eq!(sent["delivered"], true, "{sent}");
    assert_eq!(sent["push_service_status"], 201);
    assert_eq!(sent["push_service_error"], Value::Null);
    assert!(sent["explanation"].as_str().unwrap().starts_with("accepted"), "{sent}");
    // The token that lives longest went out.
    assert_eq!(w.sent.authorizations(), [tokens[1].authorization.clone()]);

    let queued = w.messages(&sub);
    assert_eq!(queued.len(), 1);
    assert_eq!(queued[0]["ttl"], 300);
    let message = decrypt_json(&w.ua, queued[0]["body"].as_str().unwrap());
    assert_eq!(message, json!({ "title": "Hello", "body": "from the relay", "sent_ms": now }));

    let status = w.status();
    assert_eq!(status["pushes_delivered"], 1);
    assert_eq!(event_kinds(&status).last().unwrap(), "push");
}

#[test]
fn refreshes_at_the_margin_and_pushes_with_the_newest_token() {
    let w = world(Settings { token_ttl_s: 70, refresh_margin_s: 62, batch: 1, ..DEFAULTS });
    let t = w.start_ms;
    let sub = w.subscribe(&w.key.public_key);
    ok(&w.give_subscription(&sub, t));
    ok(&w.give_lease(&w.lease_create(None).1, t));
    let first = w.serve_next_request(t);
    let exp = first[0].exp;
    assert_eq!(exp, t / 1000 + 70);

    // Refresh once the token has less than 62 s left: not at exp - 62 s,
    // from exp - 61 s.
    w.expect_no_request(t + 1000);
    w.expect_no_request((exp - 62) * 1000 + 999);
    let at = (exp - 61) * 1000;
    let second = w.serve_next_request(at);
    assert_eq!(second[0].exp, exp + 9);
    w.expect_no_request(at);
    // A new batch replaces the tokens held: the relay holds one batch.
    assert_eq!(w.status()["tokens"], listed(&[&second[0]], &w.origin));

    // The first would still be valid for a push; the newest goes.
    let now = http::now_ms();
    assert!(now < at, "the test took 9 s");
    assert_eq!(ok(&w.send("t", "newest", at))["push_service_status"], 201);
    assert_eq!(w.sent.authorizations(), [second[0].authorization.clone()]);
    assert_eq!(w.messages(&sub).len(), 1);

    // At the first token's expiry the second has 9 s left: another refresh.
    let third = w.serve_next_request(exp * 1000);
    assert_eq!(third[0].exp, exp + 70);
    assert_eq!(w.status()["tokens"], listed(&[&third[0]], &w.origin));
    assert_eq!(w.status()["tokens_received"], 3);
}

#[test]
fn an_unanswered_request_is_handed_out_again_under_a_new_id() {
    let w = world(DEFAULTS);
    let t = w.start_ms;
    ok(&w.give_subscription(&w.subscribe(&w.key.public_key), t));
    ok(&w.give_lease(&w.lease_create(None).1, t));
    let first = w.expect_request(t);
    w.expect_no_request(t + PENDING_TIMEOUT_MS - 1);
    let again = w.expect_request(t + PENDING_TIMEOUT_MS);
    assert_ne!(again["id"], first["id"]);
    assert_eq!((&again["credential"], &again["request"]), (&first["credential"], &first["request"]));
    w.expect_no_request(t + PENDING_TIMEOUT_MS + 1);

    // The page that took the first one answers late: refused, not stored.
    let tokens = w.lease_issue(&first, t + PENDING_TIMEOUT_MS).unwrap();
    assert_refused(&w.post_tokens(&first["id"], &tokens, t + PENDING_TIMEOUT_MS), 409, "no such token request");
    assert_eq!(w.status()["tokens"], json!([]));
    assert_eq!(ok(&w.post_tokens(&again["id"], &tokens, t + PENDING_TIMEOUT_MS)), json!({ "accepted": 2 }));
    // An answer is taken once.
    assert_refused(&w.post_tokens(&again["id"], &tokens, t + PENDING_TIMEOUT_MS), 409, "already answered");
    assert_eq!(w.status()["tokens_received"], 2);
    w.expect_no_request(t + 2 * PENDING_TIMEOUT_MS);

    // A refresh asked for while the tokens are still good is handed out
    // again too, until answered.
    let at = t + 2 * PENDING_TIMEOUT_MS;
    ok(&w.post("/v1/refresh", &json!({ "user": USER }), at));
    let asked = w.expect_request(at);
    w.expect_no_request(at + PENDING_TIMEOUT_MS - 1);
    let again = w.expect_request(at + PENDING_TIMEOUT_MS);
    assert_ne!(again["id"], asked["id"]);
    let tokens = w.lease_issue(&again, at + PENDING_TIMEOUT_MS).unwrap();
    assert_eq!(ok(&w.post_tokens(&again["id"], &tokens, at + PENDING_TIMEOUT_MS)), json!({ "accepted": 2 }));
    w.expect_no_request(at + 3 * PENDING_TIMEOUT_MS);
}

#[test]
fn a_revoked_lease_stops_the_relay() {
    let Ready { w, lease, credential, tokens, .. } = ready(DEFAULTS);
    let t = w.start_ms;
    assert_eq!(w.status()["tokens"], listed(&[&tokens[0], &tokens[1]], &w.origin));
    w.lease_revoke(&lease);
    // The relay still holds valid tokens: it learns of the revocation when
    // the page next asks the KMS.
    assert_eq!(ok(&w.post("/v1/refresh", &json!({ "user": USER }), t)), json!({ "refresh": true }));
    w.relay_kms_refusal(t, "lease_revoked");

    let status = w.status();
    assert_eq!(status["lease"]["state"], "stopped");
    assert_eq!(status["lease"]["id"], lease.id.as_str());
    assert_eq!(status["lease"]["code"], "lease_revoked");
    assert!(status["lease"]["reason"].as_str().unwrap().contains("revoked the lease"), "{status}");
    assert_eq!(status["tokens"], json!([]));
    assert_eq!(event_kinds(&status).last().unwrap(), "stopped");
    assert!(!status.to_string().contains(&credential));

    assert_refused(&w.send("t", "after revocation", http::now_ms()), 409, "revoked");
    assert!(w.sent.authorizations().is_empty());
    for later in [0, PENDING_TIMEOUT_MS, RETRY_AFTER_ERROR_MS, HOUR_MS] {
        w.expect_no_request(t + later);
    }
    assert_refused(&w.post("/v1/refresh", &json!({ "user": USER }), t), 409, "no active lease");
}

#[test]
fn a_key_rotation_stops_the_lease_and_the_old_subscription_gets_403_until_made_again() {
    let Ready { w, sub: old_sub, lease: old_lease, tokens: old_tokens, .. } = ready(DEFAULTS);
    let t = w.start_ms;
    let rotated = w.vapid_rotate();
    assert_eq!(rotated.affected_leases.iter().map(|id| id.as_str()).collect::<Vec<_>>(), [old_lease.id.as_str()]);
    ok(&w.post("/v1/refresh", &json!({ "user": USER }), t));
    w.relay_kms_refusal(t, "lease_key_rotated");
    let status = w.status();
    assert_eq!((&status["lease"]["state"], &status["lease"]["code"]), (&json!("stopped"), &json!("lease_key_rotated")));
    assert!(status["lease"]["reason"].as_str().unwrap().contains("rotated the VAPID key"), "{status}");
    assert_eq!(status["tokens"], json!([]));

    // A new lease, under the new key; the relay still has the subscription
    // made with the old key.
    let (new_lease, credential) = w.lease_create(None);
    assert_eq!(new_lease.kid, rotated.current.kid);
    ok(&w.give_lease(&credential, t));
    assert_eq!(w.status()["lease"], json!({ "state": "active", "id": new_lease.id.as_str() }));
    assert!(old_tokens.iter().all(|token| token.kid == w.key.kid));
    let tokens = w.serve_next_request(t);
    assert!(tokens.iter().all(|token| token.kid == rotated.current.kid));

    let refused = ok(&w.send("t", "to the old subscription", http::now_ms()));
    assert_eq!((&refused["delivered"], &refused["push_service_status"]), (&json!(false), &json!(403)), "{refused}");
    assert!(refused["push_service_error"].as_str().unwrap().contains("rotated"), "{refused}");
    let explanation = refused["explanation"].as_str().unwrap();
    assert!(explanation.contains("rotation"), "{explanation}");
    assert!(explanation.contains("subscription must be made again"), "{explanation}");
    assert_eq!(w.status()["pushes_delivered"], 0);

    // The user subscribes again with the new key.
    let new_sub = w.subscribe(&rotated.current.public_key);
    ok(&w.give_subscription(&new_sub, t));
    let now = http::now_ms();
    let delivered = ok(&w.send("t", "to the new subscription", now));
    assert_eq!((&delivered["delivered"], &delivered["push_service_status"]), (&json!(true), &json!(201)));
    let queued = w.messages(&new_sub);
    assert_eq!(queued.len(), 1);
    assert_eq!(decrypt_json(&w.ua, queued[0]["body"].as_str().unwrap())["body"], "to the new subscription");
    assert!(w.messages(&old_sub).is_empty());
    assert_eq!(w.status()["pushes_delivered"], 1);
}

#[test]
fn quota_exceeded_waits_retry_after_and_other_errors_wait_ten_seconds() {
    let w = world(DEFAULTS);
    let t = w.start_ms;
    ok(&w.give_subscription(&w.subscribe(&w.key.public_key), t));
    // A lease of 2 tokens an hour, used up by another holder of the
    // credential before the relay gets it.
    let (_, credential) = w.lease_create(Some(2));
    let terms = json!({ "aud": w.origin, "sub": CONTACT, "count": 2, "ttl_s": 3600 });
    w.lease_issue(&json!({ "credential": credential, "request": terms }), t).unwrap();
    ok(&w.give_lease(&credential, t));

    let error = w.relay_kms_refusal(t, "quota_exceeded");
    let ClientError::Rpc(rpc) = &error else { unreachable!() };
    let retry = rpc.retry_after_ms.unwrap();
    assert!(retry > 10 * RETRY_AFTER_ERROR_MS && retry <= HOUR_MS, "{retry}");
    for early in [0, RETRY_AFTER_ERROR_MS, PENDING_TIMEOUT_MS, retry - 1] {
        w.expect_no_request(t + early);
    }
    let status = w.status();
    assert_eq!(status["lease"]["state"], "active");
    assert_eq!(event_kinds(&status).last().unwrap(), "error");

    // Then the page reports a storage failure: 10 s.
    let at = t + retry;
    let request = w.expect_request(at);
    let storage = ClientError::Rpc(kms_core::rpc::RpcError::new(kms_core::ErrorCode::Storage, "the store failed"));
    assert_eq!(ok(&w.post_error(&request["id"], &storage, at)), json!({ "accepted": 0 }));
    w.expect_no_request(at + RETRY_AFTER_ERROR_MS - 1);
    let request = w.expect_request(at + RETRY_AFTER_ERROR_MS);
    assert_eq!(request["credential"], credential.as_str());
    assert_eq!(w.status()["lease"]["state"], "active");
}

#[test]
fn refuses_loopback_endpoints_unless_allowed_and_malformed_credentials() {
    let w = world(DEFAULTS);
    let (strict, _) = relay(Settings { allow_loopback: false, ..DEFAULTS });
    let sub = w.subscribe(&w.key.public_key);
    let body = json!({ "user": USER, "subscription": sub.json });
    let post = json_post("/v1/subscription", body.to_string().into_bytes());
    assert_refused(&strict.handle(&post, w.start_ms), 400, "loopback");
    let status = strict.handle(&Request::new("GET", &format!("/v1/status?user={USER}")), w.start_ms);
    assert_eq!(status.status, 200);
    assert!(json_of(&status)["subscription"].is_null(), "the refused subscription was not kept");
    assert_eq!(w.relay.handle(&post, w.start_ms).status, 200);

    let (lease, credential) = w.lease_create(None);
    ok(&w.give_lease(&credential, w.start_ms));
    let (head, secret) = credential.rsplit_once('.').unwrap();
    let bad_char = format!("{head}.!{}", &secret[1..]);
    let short = credential[..credential.len() - 1].to_owned();
    let long = format!("{credential}A");
    let other_prefix = credential.replacen("kmsl1.", "kmsl2.", 1);
    for bad in [bad_char, short, long, other_prefix] {
        let error = refused(&w.give_lease(&bad, w.start_ms), 400);
        assert!(error.contains("lease credential"), "{error}");
        assert!(!error.contains(&bad) && !error.contains(&secret[1..20]), "the credential in {error}");
    }
    // The lease held is kept.
    assert_eq!(w.status()["lease"], json!({ "state": "active", "id": lease.id.as_str() }));
}

#[test]
fn refuses_token_answers_that_are_forged_garbled_unasked_or_both() {
    let w = world(DEFAULTS);
    let t = w.start_ms;
    ok(&w.give_subscription(&w.subscribe(&w.key.public_key), t));
    ok(&w.give_lease(&w.lease_create(None).1, t));
    let mut request = w.expect_request(t);
    let good = w.lease_issue(&request, t).unwrap().remove(1);

    // Signed by another key, under the user's key k=.
    let (signing_input, _) = good.jwt.rsplit_once('.').unwrap();
    let forger = VapidSigningKey::generate(&mut OsRng);
    let forged_jwt = format!("{signing_input}.{}", b64(forger.sign(signing_input.as_bytes()).unwrap()));
    let with_jwt =
        |jwt: String| SignedJwt { authorization: good.authorization.replace(&good.jwt, &jwt), jwt, ..good.clone() };
    let mut garbled_jwt = good.jwt.clone();
    garbled_jwt.insert(10, 'x');
    let wrong_exp = SignedJwt { exp: good.exp + 1, ..good.clone() };
    let wrong_kid = SignedJwt { kid: forger.public().thumbprint(), ..good.clone() };

    let mut at = t;
    for bad in [with_jwt(forged_jwt), with_jwt(garbled_jwt), wrong_exp, wrong_kid] {
        // A good token before the bad one is refused with it: all or nothing.
        assert_refused(&w.post_tokens(&request["id"], &[good.clone(), bad], at), 400, "a token was refused");
        assert_eq!(w.status()["tokens"], json!([]));
        // The next request comes 10 s later.
        w.expect_no_request(at + RETRY_AFTER_ERROR_MS - 1);
        at += RETRY_AFTER_ERROR_MS;
        request = w.expect_request(at);
    }

    let both =
        json!({ "id": request["id"], "user": USER, "tokens": [good], "error": { "code": "storage", "message": "x" } });
    assert_refused(&w.post("/v1/tokens", &both, at), 400, "either tokens or error");
    let request = w.expect_request(at);
    assert_refused(
        &w.post("/v1/tokens", &json!({ "id": request["id"], "user": USER }), at),
        400,
        "either tokens or error",
    );

    let request = w.expect_request(at);
    assert_refused(
        &w.post_tokens(&json!("AAAAAAAAAAAAAAAAAAAAAA"), std::slice::from_ref(&good), at),
        409,
        "no such token request",
    );
    assert_eq!(ok(&w.post_tokens(&request["id"], &[good], at)), json!({ "accepted": 1 }));
    assert_eq!(w.status()["tokens_received"], 1);
}

#[test]
fn refuses_unknown_users_bad_ids_wrong_methods_and_large_bodies() {
    let (relay, _) = relay(DEFAULTS);
    let now = http::now_ms();
    let handle = |request: Request| relay.handle(&request, now);
    let post = |path: &str, body: Value| handle(json_post(path, body.to_string().into_bytes()));

    // Polls about a user the relay does not know answer the empty state.
    let status = handle(Request::new("GET", "/v1/status?user=bob"));
    assert_eq!(status.status, 200);
    let status = json_of(&status);
    assert_eq!((status["lease"]["state"].as_str(), status["tokens"].as_array().map(Vec::len)), (Some("none"), Some(0)));
    let requests = handle(Request::new("GET", "/v1/token-requests?user=bob"));
    assert_eq!(json_of(&requests)["requests"], json!([]));
    assert_refused(&post("/v1/send", json!({ "user": "bob", "body": "x" })), 404, "unknown user");
    assert_refused(&post("/v1/refresh", json!({ "user": "bob" })), 404, "unknown user");
    assert_refused(&post("/v1/tokens", json!({ "id": "x", "user": "bob", "tokens": [] })), 404, "unknown user");
    assert_refused(&handle(Request::new("GET", "/v1/nothing")), 404, "no such route");

    for user in ["", "..", "a%2Fb", "bad%20id", &"a".repeat(65)] {
        assert_refused(&handle(Request::new("GET", &format!("/v1/status?user={user}"))), 400, "user");
        assert_refused(
            &post("/v1/refresh", json!({ "user": user.replace("%2F", "/").replace("%20", " ") })),
            400,
            "user",
        );
    }
    assert_refused(&handle(Request::new("GET", "/v1/status")), 400, "user=<id>");
    assert_refused(&post("/v1/refresh", json!({ "user": USER, "extra": 1 })), 400, "unknown field");

    for (method, path, allow) in [
        ("GET", "/v1/send", "POST, OPTIONS"),
        ("PUT", "/v1/lease", "POST, OPTIONS"),
        ("POST", "/v1/status", "GET, OPTIONS"),
        ("DELETE", "/v1/info", "GET, OPTIONS"),
    ] {
        let response = handle(Request::new(method, path));
        assert_refused(&response, 405, "method not allowed");
        assert_eq!(response.header("Allow"), Some(allow), "{method} {path}");
    }

    for path in ["/v1/subscription", "/v1/lease", "/v1/tokens", "/v1/refresh", "/v1/send"] {
        let too_large = Request { body: RequestBody::TooLarge, ..json_post(path, Vec::new()) };
        assert_refused(&handle(too_large), 413, "larger than");
    }
    // The cap is inclusive: one byte over is 413, the cap itself is read
    // (and is not JSON here).
    assert_eq!(handle(json_post("/v1/send", vec![b' '; MAX_BODY_LEN + 1])).status, 413);
    assert_refused(&handle(json_post("/v1/send", vec![b' '; MAX_BODY_LEN])), 400, "JSON");
    assert_refused(&post("/v1/send", json!({ "user": USER, "title": "t".repeat(101), "body": "x" })), 400, "title");
    assert_eq!(handle(Request::new("GET", &format!("/{}", "a".repeat(1100)))).status, 414);
}

#[test]
fn cors_headers_only_for_allowed_origins() {
    let (relay, _) = relay(DEFAULTS);
    let now = http::now_ms();
    let from = |origin: Option<&str>, request: Request| match origin {
        Some(origin) => relay.handle(&request.with_header("Origin", origin), now),
        None => relay.handle(&request, now),
    };
    let requests = [
        Request::new("GET", "/v1/info"),
        Request::new("GET", "/v1/status?user=bob"),
        json_post("/v1/refresh", b"{".to_vec()),
    ];
    for request in requests {
        let allowed = from(Some(PAGE), request.clone());
        assert_eq!(allowed.header("Access-Control-Allow-Origin"), Some(PAGE), "{request:?}");
        assert_eq!(allowed.header("Access-Control-Allow-Methods"), None);
        // Without Origin (not a browser): served, without CORS headers.
        let direct = from(None, request.clone());
        assert_eq!(direct.header("Access-Control-Allow-Origin"), None);
        assert_eq!(direct.status, allowed.status);
        // Another origin: refused before anything happens.
        for other in ["https://evil.example", "http://localhost:8081", "null"] {
            let response = from(Some(other), request.clone());
            assert_eq!(response.header("Access-Control-Allow-Origin"), None, "{other:?}");
            assert_eq!(response.header("Vary"), Some("Origin"));
            assert_eq!((response.status, json_of(&response)["code"].as_str()), (403, Some("forbidden_origin")));
        }
    }
    let preflight = |origin| {
        from(
            Some(origin),
            Request::new("OPTIONS", "/v1/tokens")
                .with_header("Access-Control-Request-Method", "POST")
                .with_header("Access-Control-Request-Headers", "content-type"),
        )
    };
    let allowed = preflight(PAGE);
    assert_eq!(allowed.status, 204);
    assert_eq!(allowed.header("Access-Control-Allow-Origin"), Some(PAGE));
    assert_eq!(allowed.header("Access-Control-Allow-Methods"), Some("GET, POST"));
    assert_eq!(allowed.header("Access-Control-Allow-Headers"), Some("Content-Type"));
    let foreign = preflight("https://evil.example");
    assert_eq!(foreign.status, 403);
    for header in ["Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers"] {
        assert_eq!(foreign.header(header), None);
    }
}

#[test]
fn accepts_only_batches_that_fit_the_request_and_the_lease_key() {
    let r = ready(DEFAULTS);
    let w = &r.w;
    let t = w.start_ms;
    let held = w.status()["tokens"].clone();
    ok(&w.post("/v1/refresh", &json!({ "user": USER }), t));
    let request = w.expect_request(t);
    let fresh = w.lease_issue(&request, t).unwrap();
    let now_s = t / 1000;

    // Tokens consistent with themselves, signed by a key that is not the
    // lease's (the first batch's), for the right or another audience, or
    // with an exp far beyond what was asked for.
    let forger = VapidSigningKey::generate(&mut OsRng);
    let foreign = |aud: &str, exp: u64, key: &VapidSigningKey| {
        let claims = JwtRequest { aud: aud.into(), sub: CONTACT.into(), exp, jti: None };
        SignedJwt::issue(key, &vapid::validate(&claims, t).unwrap()).unwrap()
    };
    // Signed with the user's own key (a session's sign_jwt), so only the
    // relay's rules can refuse them.
    let users_key = |aud: &str, exp: u64| {
        let claims = JwtRequest { aud: aud.into(), sub: CONTACT.into(), exp, jti: None };
        block_on(w.kms.sign_jwt(&w.session, claims)).unwrap()
    };
    let cases: [(Vec<SignedJwt>, &str); 7] = [
        (vec![foreign(&w.origin, now_s + 600, &forger)], "another key than the lease's"),
        (vec![users_key("https://fcm.googleapis.com", now_s + 600)], "aud is not"),
        (vec![fresh[0].clone(), fresh[1].clone(), fresh[0].clone()], "1 to 2 tokens, not 3"),
        (Vec::new(), "1 to 2 tokens, not 0"),
        // Posted 40 s and 50 s after the start (one retry wait per case).
        (vec![users_key(&w.origin, now_s + 40 + 3600 + 61)], "exp must be within"),
        (vec![users_key(&w.origin, now_s + 50 + 60)], "exp must be within"),
        (vec![SignedJwt { exp: fresh[0].exp + 1, ..fresh[0].clone() }], "exp differs"),
    ];
    let mut at = t;
    let mut id = request["id"].clone();
    for (tokens, reason) in cases {
        assert_refused(&w.post_tokens(&id, &tokens, at), 400, reason);
        assert_eq!(w.status()["tokens"], held, "{reason}: the held tokens are kept");
        at += RETRY_AFTER_ERROR_MS;
        id = w.expect_request(at)["id"].clone();
    }
    // The real batch is taken and replaces the held one.
    assert_eq!(ok(&w.post_tokens(&id, &fresh, at)), json!({ "accepted": 2 }));
    assert_eq!(w.status()["tokens"], listed(&[&fresh[0], &fresh[1]], &w.origin));
}

#[test]
fn not_found_and_transient_errors_keep_the_lease_and_the_asked_refresh() {
    let r = ready(DEFAULTS);
    let w = &r.w;
    let t = w.start_ms;
    ok(&w.post("/v1/refresh", &json!({ "user": USER }), t));
    // Another device's KMS does not know this user: not a reason to stop.
    for (n, code) in ["not_found", "timeout"].into_iter().enumerate() {
        let at = t + n as u64 * RETRY_AFTER_ERROR_MS;
        let request = w.expect_request(at);
        let error = json!({ "code": code, "message": "no such user" });
        ok(&w.post("/v1/tokens", &json!({ "id": request["id"], "user": USER, "error": error }), at));
        assert_eq!(w.status()["lease"]["state"], "active", "{code}");
        w.expect_no_request(at + RETRY_AFTER_ERROR_MS - 1);
    }
    // The refresh asked for still stands after those answers, although the
    // held tokens are good for an hour.
    let tokens = w.serve_next_request(t + 2 * RETRY_AFTER_ERROR_MS);
    assert_eq!(tokens.len(), 2);
    w.expect_no_request(t + 2 * RETRY_AFTER_ERROR_MS + PENDING_TIMEOUT_MS);
}

#[test]
fn a_lease_that_ends_within_the_margin_is_not_asked_at_every_poll() {
    let w = world(DEFAULTS);
    let t = w.start_ms;
    ok(&w.give_subscription(&w.subscribe(&w.key.public_key), t));
    // A lease of 5 minutes, shorter than the 10-minute refresh margin.
    let lease = LeaseParams {
        relay: RELAY_ID.into(),
        audiences: vec![w.origin.clone()],
        lifetime_s: Some(300),
        tokens_per_hour: None,
        max_batch: None,
    };
    let call = Call::LeaseCreate(LeaseCreateParams {
        user: w.user.clone(),
        session: w.session.token.clone(),
        lease,
        relay_key: None,
    });
    let created: LeaseCreateResult = serde_json::from_value(block_on(w.kms.call_raw(call)).unwrap()).unwrap();
    ok(&w.give_lease(&created.credential.unwrap().dangerous_to_text(), t));
    let tokens = w.serve_next_request(t);
    let last = tokens.iter().map(|t| t.exp).max().unwrap();
    assert!(last <= t / 1000 + 300, "no token outlives the lease");
    // Every token ends within the margin, yet the next polls ask nothing
    // until the batch is nearly used up.
    for dt in [1_000, 10_000, 60_000, 120_000] {
        w.expect_no_request(t + dt);
    }
    w.expect_no_request((last - 60) * 1000);
    let request = w.expect_request((last - 59) * 1000);
    assert_eq!(w.lease_issue(&request, (last - 59) * 1000).unwrap_err().code_str(), "lease_expired");
}

#[test]
fn refuses_posts_that_are_not_json() {
    let (relay, _) = relay(DEFAULTS);
    let now = http::now_ms();
    let body = json!({ "user": "bob", "body": "x" }).to_string().into_bytes();
    for content_type in [None, Some("text/plain"), Some("application/x-www-form-urlencoded")] {
        let mut request = Request::new("POST", "/v1/send").with_header("Origin", PAGE).with_body(body.clone());
        if let Some(ct) = content_type {
            request = request.with_header("Content-Type", ct);
        }
        let response = relay.handle(&request, now);
        assert_refused(&response, 415, "application/json");
        assert_eq!(json_of(&response)["code"], "unsupported_media_type");
    }
    let charset = json_post("/v1/send", body).with_header("Origin", PAGE);
    let charset =
        Request { headers: vec![("Content-Type".into(), "application/json; charset=utf-8".into())], ..charset };
    assert_refused(&relay.handle(&charset, now), 404, "unknown user");
}

#[test]
fn a_401_drops_the_tokens_and_asks_again_a_410_forgets_the_subscription() {
    let mut w = world(DEFAULTS);
    w.relay = Relay::new(config(DEFAULTS), Box::new(Scripted(Mutex::new(vec![401, 410]))));
    let t = w.start_ms;
    ok(&w.give_subscription(&w.subscribe(&w.key.public_key), t));
    ok(&w.give_lease(&w.lease_create(None).1, t));
    w.serve_next_request(t);
    w.expect_no_request(t);

    let refused = ok(&w.send("t", "401", t));
    assert_eq!((refused["delivered"].as_bool(), refused["push_service_status"].as_u64()), (Some(false), Some(401)));
    assert_eq!(refused["push_service_error"], "scripted 401");
    assert!(refused["explanation"].as_str().unwrap().contains("asks for new ones"));
    assert_eq!(w.status()["tokens"], json!([]));
    w.serve_next_request(t);

    let gone = ok(&w.send("t", "410", t));
    assert_eq!(gone["push_service_status"], 410);
    assert!(w.status()["subscription"].is_null());
    let refused = w.send("t", "again", t);
    assert_refused(&refused, 409, "subscribe first");
    assert_eq!(json_of(&refused)["code"], "no_subscription");
}

// --- The binary, over a socket -----------------------------------------------------

fn http_request(addr: SocketAddr, method: &str, target: &str, headers: &[(&str, &str)]) -> Reply {
    common::http(addr, method, target, headers, b"")
}

#[test]
fn binary_announces_its_port_and_answers_info_and_preflights() {
    let (mut child, mut lines) =
        spawn_announcing(env!("CARGO_BIN_EXE_kms-relay"), ["--listen", "127.0.0.1:0", "--allow-origin", PAGE]);
    let announced = lines.next().unwrap().unwrap();
    let ready = lines.next().unwrap().unwrap();
    let port: Option<u16> =
        announced.strip_prefix("kms-relay: listening http://localhost:").and_then(|port| port.parse().ok());
    let replies = port.map(|port| {
        let addr: SocketAddr = ([127, 0, 0, 1], port).into();
        let preflight = |origin| {
            http_request(addr, "OPTIONS", "/v1/lease", &[("Origin", origin), ("Access-Control-Request-Method", "POST")])
        };
        (http_request(addr, "GET", "/v1/info", &[("Origin", PAGE)]), preflight(PAGE), preflight("https://evil.example"))
    });
    child.kill().unwrap();
    child.wait().unwrap();

    assert_eq!(ready, "kms-relay: ready");
    let port = port.unwrap_or_else(|| panic!("{announced}"));
    assert_ne!(port, 0);
    let (info, allowed, foreign) = replies.unwrap();
    assert_eq!(info.status, 200);
    assert_eq!(info.header("Content-Type"), Some("application/json"));
    assert_eq!(info.header("Access-Control-Allow-Origin"), Some(PAGE));
    assert_eq!(info.header("Cache-Control"), Some("no-store"));
    let mut info: Value = serde_json::from_slice(&info.body).unwrap();
    // The relay's courier key: a P-256 point, fresh at each start.
    let relay_key = info.as_object_mut().unwrap().remove("relay_key").unwrap();
    CourierPublic::parse(relay_key.as_str().unwrap()).unwrap();
    assert_eq!(
        info,
        json!({ "relay": "demo-relay", "contact": "mailto:relay@example.com", "token_ttl_s": 3600,
                "refresh_margin_s": 600, "batch": 2 })
    );
    assert_eq!(allowed.status, 204);
    assert_eq!(allowed.header("Access-Control-Allow-Origin"), Some(PAGE));
    assert_eq!(allowed.header("Access-Control-Allow-Methods"), Some("GET, POST"));
    assert_eq!(allowed.header("Access-Control-Allow-Headers"), Some("Content-Type"));
    assert_eq!(foreign.status, 403);
    assert_eq!(foreign.header("Access-Control-Allow-Origin"), None);
    assert_eq!(foreign.header("Access-Control-Allow-Methods"), None);
}

/// The courier: a lease granted to the relay's key reaches the relay sealed,
/// each token request leaves it sealed, and the tokens come back sealed.
/// Everything the page carries is checked: no credential, no token.
#[test]
fn a_lease_granted_to_the_relays_key_crosses_the_page_sealed_both_ways() {
    let w = world(DEFAULTS);
    let sub = w.subscribe(&w.key.public_key);
    ok(&w.give_subscription(&sub, w.start_ms));
    let info = ok(&w.get("/v1/info", w.start_ms));
    let relay_key = CourierPublic::parse(info["relay_key"].as_str().unwrap()).unwrap();
    let created = w.lease_create_raw(None, Some(relay_key));
    let mut page_saw = vec![created.to_string()];
    assert!(created.get("credential").is_none(), "{created}");
    let handed = json!({ "user": USER, "lease_id": created["lease"]["id"], "sealed_credential":
                         created["sealed_credential"] });
    page_saw.push(handed.to_string());
    ok(&w.post("/v1/lease", &handed, w.start_ms));
    // Two rounds: the request, the KMS, the answer.
    for round in 0..2 {
        let now = w.start_ms + round * 4_000_000;
        w.clock.set(now);
        if round > 0 {
            ok(&w.post("/v1/refresh", &json!({ "user": USER }), now));
        }
        let request = w.expect_request(now);
        page_saw.push(request.to_string());
        assert!(request.get("credential").is_none() && request.get("request").is_none(), "{request}");
        let call = Call::from_parts(
            "lease_courier",
            &json!({ "user": USER, "lease_id": request["lease_id"], "sealed": request["sealed"] }).to_string(),
        )
        .unwrap();
        let answer = block_on(w.kms.call_raw(call)).unwrap();
        page_saw.push(answer.to_string());
        let posted = json!({ "id": request["id"], "user": USER, "sealed": answer["sealed"] });
        let accepted = ok(&w.post("/v1/tokens", &posted, now));
        assert_eq!(accepted, json!({ "accepted": 2 }), "round {round}");
        // The same sealed answer again: the request is settled.
        assert_eq!(w.post("/v1/tokens", &posted, now).status, 409);
    }
    let status = w.status();
    assert_eq!(status["tokens_received"], 4, "{status}");
    for text in &page_saw {
        assert!(!text.contains("kmsl1.") && !text.contains("eyJ"), "the page could read: {text}");
    }
    // A page that kept the sealed credential hands it over again with a
    // courier key of its own, to read the credential in the requests the
    // relay would seal to that key: the relay uses the key sealed with the
    // credential, never one the page names.
    let mut rng = rand_core::OsRng;
    let attacker = kms_core::lease::courier::CourierSecret::generate(&mut rng);
    let swap = json!({ "user": USER, "lease_id": created["lease"]["id"], "sealed_credential":
                       created["sealed_credential"], "courier_key": attacker.public().to_b64() });
    let now = w.start_ms + 8_000_000;
    if w.post("/v1/lease", &swap, now).status == 200 {
        let request = w.expect_request(now);
        let lease_id = kms_core::lease::LeaseId::parse(request["lease_id"].as_str().unwrap()).unwrap();
        let opened = kms_core::lease::courier::open_request(
            &attacker,
            &w.user,
            &lease_id,
            request["sealed"].as_str().unwrap(),
            now,
        );
        assert!(opened.is_err(), "the page swapped the courier key and read the credential");
    }
    // A plain `tokens` answer to a sealed request is refused.
    let now = w.start_ms + 9_000_000;
    ok(&w.post("/v1/refresh", &json!({ "user": USER }), now));
    let request = w.expect_request(now);
    let r = w.post("/v1/tokens", &json!({ "id": request["id"], "user": USER, "tokens": [] }), now);
    assert_eq!(r.status, 400);
}
