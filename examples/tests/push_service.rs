#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The local push service of `kms-serve` (`--push`), driven directly through
//! `PushService::handle` and, once each, over a socket in-process and
//! through the binary. Pushes come from the real relay side
//! (`kms_client::relay`) with tokens from the real engine (`kms_worker::Kms`)
//! or from `kms_core::vapid`; the queued bodies are decrypted as the user
//! agent would, with the key pair the test made.

mod common;

use common::{http, spawn_announcing, UserAgent};
use std::{net::SocketAddr, process::Command};

use futures::executor::block_on;
use kms_client::client::Session;
use kms_client::relay::{
    build_push_request, decrypt, subscription_from_json, AuthSecret, PushOptions, PushRequest, PushServicePolicy,
    TokenHolder, Ttl, ValidatedSubscription, MAX_PLAINTEXT_LEN,
};
use kms_client::{InProcess, KmsClient};
use kms_core::env::ManualClock;
use kms_core::ids::UserId;
use kms_core::secret::Passphrase;
use kms_core::testing::encoding::{b64, unb64};
use kms_core::vapid::{self, JwtRequest, SignedJwt, VapidPublicInfo, VapidSigningKey};
use kms_examples::serve::push_service::{
    PushService, Request, RequestBody, Response, MAX_QUEUED_MESSAGES, MAX_SUBSCRIPTIONS,
};
use kms_examples::serve::{self, AllowedOrigin, Options, PushConfig, PushSpec};
use kms_storage::MemoryStore;
use kms_worker::{Kms, KmsConfig, Platform};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use rand_core::OsRng;
use serde_json::{json, Value};

/// The service's clock in the direct tests: 2023-11-14T22:13:20Z.
const NOW_MS: u64 = 1_700_000_000_000;
const NOW_S: u64 = NOW_MS / 1000;
const PORT: u16 = 8084;
const ORIGIN: &str = "http://localhost:8084";
const PAGE: &str = "http://localhost:8080";
const HOUR: u64 = 3600;

fn service() -> PushService {
    PushService::new(PORT, vec![AllowedOrigin::parse(PAGE).unwrap()])
}

fn json_of(response: &Response) -> Value {
    serde_json::from_slice(&response.body).unwrap_or_else(|e| panic!("{e}: {response:?}"))
}

/// The `error` of a refusal, checking the status first.
fn refused(response: &Response, status: u16) -> String {
    assert_eq!(response.status, status, "{response:?} {}", String::from_utf8_lossy(&response.body));
    assert_eq!(response.header("Content-Type"), Some("application/json"));
    json_of(response)["error"].as_str().unwrap().to_owned()
}

fn assert_refused(response: &Response, status: u16, reason: &str) {
    let error = refused(response, status);
    assert!(error.contains(reason), "expected {reason:?} in {error:?}");
}

// --- The user agent's side ------------------------------------------------

/// A subscription made at the service and checked by the relay's rules
/// (loopback allowed, as in the demo).
struct Subscribed {
    sub: ValidatedSubscription,
    /// `/push/<id>`.
    push_path: String,
    /// `/messages/<id>`.
    messages_path: String,
}

fn subscribe_body(application_server_key: &str, ua: &UserAgent) -> Vec<u8> {
    json!({ "application_server_key": application_server_key, "p256dh": ua.p256dh(), "auth": b64(ua.auth) })
        .to_string()
        .into_bytes()
}

fn subscribe(service: &PushService, application_server_key: &str, ua: &UserAgent) -> Subscribed {
    let request = Request::new("POST", "/subscribe").with_body(subscribe_body(application_server_key, ua));
    let response = service.handle(&request, NOW_MS);
    assert_eq!(response.status, 201, "{}", String::from_utf8_lossy(&response.body));
    subscribed(service.origin(), &response.body)
}

fn subscribed(origin: &str, body: &[u8]) -> Subscribed {
    let json: Value = serde_json::from_slice(body).unwrap();
    let endpoint = json["endpoint"].as_str().unwrap();
    let id = endpoint.strip_prefix(&format!("{origin}/push/")).unwrap();
    assert_eq!(id.len(), 22);
    assert!(id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(json["expirationTime"], Value::Null);
    let policy = PushServicePolicy::major_push_services().with_loopback(true);
    Subscribed {
        sub: subscription_from_json(&json.to_string(), &policy).unwrap(),
        push_path: format!("/push/{id}"),
        messages_path: format!("/messages/{id}"),
    }
}

// --- Tokens and pushes ------------------------------------------------------

type Client = KmsClient<InProcess<ManualClock, OsRng>>;

/// The real engine, one user with a passphrase and a VAPID key.
struct Engine {
    kms: Client,
    session: Session,
    key: VapidPublicInfo,
}

fn engine(now_ms: u64) -> Engine {
    let engine =
        Kms::new(Box::new(MemoryStore::new()), Platform::native(ManualClock::new(now_ms), OsRng), KmsConfig::default())
            .unwrap();
    let kms = KmsClient::new(InProcess::new(engine));
    let user = UserId::parse("alice@example.com").unwrap();
    block_on(async {
        let session =
            Session::from(&kms.setup_passphrase(&user, Passphrase::new("correct horse battery staple")).await.unwrap());
        let key = kms.vapid_generate(&session).await.unwrap();
        Engine { kms, session, key }
    })
}

impl Engine {
    fn sign(&self, aud: &str, exp: u64) -> SignedJwt {
        let claims = JwtRequest { aud: aud.into(), sub: "mailto:ops@example.com".into(), exp, jti: None };
        block_on(self.kms.sign_jwt(&self.session, claims)).unwrap()
    }
}

/// A token signed with kms_core directly; the claims are checked against
/// `validated_at_ms`, which may differ from the push service's clock.
fn core_token(key: &VapidSigningKey, aud: &str, exp: u64, validated_at_ms: u64) -> SignedJwt {
    let request = JwtRequest { aud: aud.into(), sub: "mailto:ops@example.com".into(), exp, jti: None };
    SignedJwt::issue(key, &vapid::validate(&request, validated_at_ms).unwrap()).unwrap()
}

/// A JWT with any header and claims, signed (ES256) by `key`.
fn raw_jwt(key: &VapidSigningKey, header: &str, claims: &Value) -> String {
    let signing_input = format!("{}.{}", b64(header), b64(claims.to_string()));
    let signature = key.sign(signing_input.as_bytes()).unwrap();
    format!("{signing_input}.{}", b64(signature))
}

fn vapid_header(jwt: &str, key: &VapidSigningKey) -> String {
    format!("vapid t={jwt}, k={}", key.public().to_sec1_b64())
}

/// The relay's request for `payload`, with `token`.
fn relay_push(sub: &Subscribed, token: SignedJwt, payload: &[u8], ttl_s: u64, now_s: u64) -> PushRequest {
    let mut tokens = TokenHolder::new();
    tokens.insert(token).unwrap();
    let opts = PushOptions::new(Ttl::from_secs(ttl_s).unwrap());
    build_push_request(&sub.sub, payload, &tokens, &opts, now_s, &mut OsRng).unwrap()
}

/// The relay's request as the service sees it (path only, as on the wire).
fn as_request(push: &PushRequest) -> Request {
    let path = push.url.strip_prefix(ORIGIN).unwrap_or(&push.url);
    let mut request = Request::new(push.method, path).with_body(push.body.clone());
    for (name, value) in &push.headers {
        request = request.with_header(name, value);
    }
    request
}

/// `request` with header `name` removed and, if given, set to `value`.
fn set_header(mut request: Request, name: &str, value: Option<&str>) -> Request {
    request.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    match value {
        Some(value) => request.with_header(name, value),
        None => request,
    }
}

fn messages(service: &PushService, sub: &Subscribed, after: u64) -> Vec<Value> {
    let response = service.handle(&Request::new("GET", &format!("{}?after={after}", sub.messages_path)), NOW_MS);
    assert_eq!(response.status, 200);
    json_of(&response)["messages"].as_array().unwrap().clone()
}

// --- The tests ----------------------------------------------------------------

#[test]
fn engine_token_relay_push_queue_and_user_agent_decrypts() {
    let service = service();
    let engine = engine(NOW_MS);
    let ua = UserAgent::new();
    let sub = subscribe(&service, &engine.key.public_key, &ua);
    let token = engine.sign(ORIGIN, NOW_S + 12 * HOUR);

    let first =
        service.handle(&as_request(&relay_push(&sub, token.clone(), b"hello from the relay", 60, NOW_S)), NOW_MS);
    assert_eq!(first.status, 201, "{}", String::from_utf8_lossy(&first.body));
    assert_eq!(first.header("Location"), Some("/message/1"));
    assert_eq!(first.header("TTL"), Some("60"));
    assert!(first.body.is_empty());
    let second = service.handle(&as_request(&relay_push(&sub, token, b"second", 3600, NOW_S)), NOW_MS + 5);
    assert_eq!((second.status, second.header("Location")), (201, Some("/message/2")));

    let queued = messages(&service, &sub, 0);
    assert_eq!(queued.len(), 2);
    assert_eq!((queued[0]["n"].as_u64(), queued[0]["ttl"].as_u64()), (Some(1), Some(60)));
    assert_eq!(queued[0]["received_ms"].as_u64(), Some(NOW_MS));
    assert_eq!(queued[0]["urgency"], "normal");
    assert_eq!(queued[0]["topic"], Value::Null);
    assert_eq!(ua.decrypt(queued[0]["body"].as_str().unwrap()), b"hello from the relay");
    assert_eq!((queued[1]["n"].as_u64(), queued[1]["received_ms"].as_u64()), (Some(2), Some(NOW_MS + 5)));
    assert_eq!(ua.decrypt(queued[1]["body"].as_str().unwrap()), b"second");
    // The body is queued as received: still encrypted, and not for another user agent.
    assert!(!queued[0]["body"].as_str().unwrap().contains(&b64("hello")));
    let stranger = UserAgent::new();
    let body = unb64(queued[0]["body"].as_str().unwrap());
    assert!(decrypt(&stranger.secret, &AuthSecret::from_bytes(ua.auth), &body).is_err());

    let later = messages(&service, &sub, 1);
    assert_eq!(later.len(), 1);
    assert_eq!(later[0]["n"].as_u64(), Some(2));
    assert!(messages(&service, &sub, 2).is_empty());
    assert_refused(
        &service.handle(&Request::new("GET", &format!("{}?after=x", sub.messages_path)), NOW_MS),
        400,
        "after",
    );

    let stats = json_of(&service.handle(&Request::new("GET", "/stats"), NOW_MS));
    assert_eq!(stats["statuses"], json!({ "200": 3, "201": 3, "400": 1 }));
    assert_eq!((stats["subscriptions"].as_u64(), stats["queued"].as_u64()), (Some(1), Some(2)));
}

#[test]
fn key_rotation_orphans_the_subscription_with_403() {
    let service = service();
    let engine = engine(NOW_MS);
    let ua = UserAgent::new();
    let old = subscribe(&service, &engine.key.public_key, &ua);
    let old_token = engine.sign(ORIGIN, NOW_S + 12 * HOUR);

    let rotated = block_on(engine.kms.vapid_rotate(&engine.session)).unwrap();
    assert_eq!(rotated.retired.public_key, engine.key.public_key);
    let new_token = engine.sign(ORIGIN, NOW_S + 12 * HOUR);
    assert_ne!(new_token.kid, old_token.kid);

    // A valid token of the new key, for a subscription made with the old one.
    let push = service.handle(&as_request(&relay_push(&old, new_token.clone(), b"after rotation", 60, NOW_S)), NOW_MS);
    assert_refused(&push, 403, "rotated");
    // The old key's token, issued before the rotation, still matches it.
    let push = service.handle(&as_request(&relay_push(&old, old_token, b"old key", 60, NOW_S)), NOW_MS);
    assert_eq!(push.status, 201);

    // Subscribing again with the new key is the way out.
    let renewed = subscribe(&service, &rotated.current.public_key, &ua);
    let push = service.handle(&as_request(&relay_push(&renewed, new_token, b"resubscribed", 60, NOW_S)), NOW_MS);
    assert_eq!(push.status, 201);
    assert_eq!(ua.decrypt(messages(&service, &renewed, 0)[0]["body"].as_str().unwrap()), b"resubscribed");
    assert_eq!(messages(&service, &old, 0).len(), 1);
}

/// A subscription and a relay request that the service accepts, made with
/// kms_core's VAPID functions (no engine: fast).
struct Direct {
    service: PushService,
    key: VapidSigningKey,
    sub: Subscribed,
    valid: Request,
}

fn direct() -> Direct {
    let service = service();
    let key = VapidSigningKey::generate(&mut OsRng);
    let sub = subscribe(&service, &key.public().to_sec1_b64(), &UserAgent::new());
    let token = core_token(&key, ORIGIN, NOW_S + 12 * HOUR, NOW_MS);
    let valid = as_request(&relay_push(&sub, token, b"payload", 60, NOW_S));
    Direct { service, key, sub, valid }
}

impl Direct {
    fn push(&self, request: &Request) -> Response {
        self.service.handle(request, NOW_MS)
    }

    fn with_authorization(&self, value: Option<&str>) -> Response {
        self.push(&set_header(self.valid.clone(), "Authorization", value))
    }

    fn with_jwt(&self, jwt: &str) -> Response {
        self.with_authorization(Some(&vapid_header(jwt, &self.key)))
    }
}

#[test]
fn unauthorized_401_for_each_vapid_check() {
    let d = direct();
    let valid_auth = d.valid.headers.iter().find(|(n, _)| n == "Authorization").unwrap().1.clone();
    let (jwt, k) = valid_auth.strip_prefix("vapid t=").unwrap().split_once(", k=").unwrap();

    // The header.
    assert_refused(&d.with_authorization(None), 401, "no Authorization header");
    assert_refused(&d.with_authorization(Some(&format!("WebPush {jwt}"))), 401, "not vapid");
    assert_refused(&d.with_authorization(Some(&format!("vapid t={jwt}"))), 401, "no k=");
    assert_refused(&d.with_authorization(Some(&format!("vapid k={k}"))), 401, "no t=");
    assert_refused(&d.with_authorization(Some(&format!("vapid t={jwt}, k=AAAA"))), 401, "k is not");
    let mut off_curve = vec![4u8];
    off_curve.extend([1u8; 64]);
    assert_refused(&d.with_authorization(Some(&format!("vapid t={jwt}, k={}", b64(&off_curve)))), 401, "not a point");
    assert_refused(&d.with_authorization(Some(&"x".repeat(5000))), 401, "longer than");
    assert_refused(&d.with_authorization(Some(&format!("vapid t={jwt}, t={jwt}, k={k}"))), 401, "t= twice");
    // The right key, compressed: RFC 8292 section 3.2 wants the uncompressed point.
    let public = unb64(k);
    let compressed = p256::PublicKey::from_sec1_bytes(&public).unwrap().to_encoded_point(true);
    let compressed = format!("vapid t={jwt}, k={}", b64(compressed));
    assert_refused(&d.with_authorization(Some(&compressed)), 401, "65-byte uncompressed");

    // The signature: another key's signature, then a changed claim.
    let other = VapidSigningKey::generate(&mut OsRng);
    let foreign = core_token(&other, ORIGIN, NOW_S + 12 * HOUR, NOW_MS).jwt;
    assert_refused(&d.with_jwt(&foreign), 401, "signature does not verify");
    let (header, rest) = jwt.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let forged = format!(
        "{header}.{}.{signature}",
        b64(json!({ "aud": ORIGIN, "exp": NOW_S + 23 * HOUR, "sub": "mailto:ops@example.com" }).to_string())
    );
    assert_refused(&d.with_jwt(&forged), 401, "signature does not verify");
    let hs256 = raw_jwt(&d.key, r#"{"typ":"JWT","alg":"HS256"}"#, &json!({ "aud": ORIGIN }));
    assert_refused(&d.with_jwt(&hs256), 401, "not ES256");
    let typ = raw_jwt(
        &d.key,
        r#"{"typ":"JOSE+JSON","alg":"ES256"}"#,
        &json!({ "aud": ORIGIN, "exp": NOW_S + HOUR, "sub": "mailto:ops@example.com" }),
    );
    assert_refused(&d.with_jwt(&typ), 401, "typ");

    // The audience: another push service, and the full endpoint (a common bug).
    let other_service = core_token(&d.key, "http://localhost:9999", NOW_S + 12 * HOUR, NOW_MS).jwt;
    assert_refused(&d.with_jwt(&other_service), 401, "aud is \"http://localhost:9999\"");
    let endpoint = raw_jwt(
        &d.key,
        r#"{"typ":"JWT","alg":"ES256"}"#,
        &json!({ "aud": format!("{ORIGIN}{}", d.sub.push_path), "exp": NOW_S + HOUR, "sub": "mailto:ops@example.com" }),
    );
    assert_refused(&d.with_jwt(&endpoint), 401, "not this push service's origin");

    // The expiry: expired, exactly now, more than 24 h ahead (signed when the
    // relay's clock was 2 h ahead), and exactly 24 h (accepted).
    let expired = core_token(&d.key, ORIGIN, NOW_S - 60, NOW_MS - 2 * HOUR * 1000).jwt;
    assert_refused(&d.with_jwt(&expired), 401, "expired");
    let exactly_now = core_token(&d.key, ORIGIN, NOW_S, NOW_MS - 1000).jwt;
    assert_refused(&d.with_jwt(&exactly_now), 401, "expired");
    let too_far = core_token(&d.key, ORIGIN, NOW_S + 25 * HOUR, NOW_MS + 2 * HOUR * 1000).jwt;
    assert_refused(&d.with_jwt(&too_far), 401, "more than 24 hours");
    let day = core_token(&d.key, ORIGIN, NOW_S + 24 * HOUR, NOW_MS).jwt;
    assert_eq!(d.with_jwt(&day).status, 201);

    // The contact.
    let claims = |sub: Value| {
        let mut claims = json!({ "aud": ORIGIN, "exp": NOW_S + HOUR });
        if !sub.is_null() {
            claims["sub"] = sub;
        }
        raw_jwt(&d.key, r#"{"typ":"JWT","alg":"ES256"}"#, &claims)
    };
    assert_refused(&d.with_jwt(&claims(Value::Null)), 401, "no sub");
    assert_refused(&d.with_jwt(&claims(json!("ops@example.com"))), 401, "mailto: or https:");
    assert_eq!(d.with_jwt(&claims(json!("https://example.com/contact"))).status, 201);

    // The valid request itself passes, and spelling variants of the header do too.
    assert_eq!(d.push(&d.valid).status, 201);
    assert_eq!(d.with_authorization(Some(&format!("VAPID k=\"{k}\",t={jwt}"))).status, 201);
    assert_eq!(d.with_authorization(Some(&format!("vapid t={jwt}, k={k}="))).status, 201);
    assert_refused(&d.push(&d.valid.clone().with_header("authorization", &valid_auth)), 400, "repeated");
}

#[test]
fn bad_request_400_for_each_message_check() {
    let d = direct();
    let valid = &d.valid;
    assert_refused(&d.push(&set_header(valid.clone(), "TTL", None)), 400, "no TTL header");
    assert_refused(&d.push(&set_header(valid.clone(), "TTL", Some("soon"))), 400, "TTL is not a number");
    assert_refused(&d.push(&set_header(valid.clone(), "TTL", Some("-1"))), 400, "TTL is not a number");
    assert_refused(&d.push(&set_header(valid.clone(), "Content-Encoding", Some("aesgcm"))), 400, "only aes128gcm");
    assert_refused(&d.push(&set_header(valid.clone(), "Content-Encoding", None)), 400, "needs Content-Encoding");
    assert_refused(&d.push(&set_header(valid.clone(), "Urgency", Some("urgent"))), 400, "Urgency");
    assert_refused(&d.push(&set_header(valid.clone(), "Topic", Some("a topic"))), 400, "Topic");
    assert_refused(&d.push(&valid.clone().with_header("TTL", "60")), 400, "repeated");

    let RequestBody::Bytes(body) = &valid.body else { panic!("{valid:?}") };
    let short = valid.clone().with_body(body[..85].to_vec());
    assert_refused(&d.push(&short), 400, "shorter than the 86-byte aes128gcm header");
    let header_only = valid.clone().with_body(body[..86].to_vec());
    assert_refused(&d.push(&header_only), 400, "shorter than a delimiter and a tag");
    let mut bad_idlen = body.clone();
    bad_idlen[20] = 32;
    assert_refused(&d.push(&valid.clone().with_body(bad_idlen)), 400, "keyid");
    let mut bad_rs = body.clone();
    bad_rs[16..20].copy_from_slice(&17u32.to_be_bytes());
    assert_refused(&d.push(&valid.clone().with_body(bad_rs)), 400, "record size");

    // Accepted: the valid request, a TTL above the cap (answered with the
    // cap), a topic, and a push without payload (no body, no encoding).
    assert_eq!(d.push(valid).status, 201);
    let long_ttl = d.push(&set_header(valid.clone(), "TTL", Some("99999999999999999999999")));
    assert_eq!((long_ttl.status, long_ttl.header("TTL")), (201, Some("2419200")));
    assert_eq!(d.push(&set_header(valid.clone(), "Topic", Some("news-1"))).status, 201);
    let empty = set_header(valid.clone(), "Content-Encoding", None).with_body(Vec::new());
    assert_eq!(d.push(&empty).status, 201);
    let queued = messages(&d.service, &d.sub, 0);
    assert_eq!(queued.len(), 4);
    assert_eq!(queued[1]["ttl"].as_u64(), Some(2_419_200));
    assert_eq!(queued[2]["topic"], "news-1");
    assert_eq!(queued[3]["body"], "");
}

#[test]
fn too_large_413_at_4097_bytes_and_4096_accepted() {
    let d = direct();
    let token = core_token(&d.key, ORIGIN, NOW_S + HOUR, NOW_MS);
    let mut tokens = TokenHolder::new();
    tokens.insert(token).unwrap();
    let mut opts = PushOptions::new(Ttl::from_secs(60).unwrap());
    opts.pad_to = Some(MAX_PLAINTEXT_LEN);
    let full = build_push_request(&d.sub.sub, b"padded", &tokens, &opts, NOW_S, &mut OsRng).unwrap();
    assert_eq!(full.body.len(), 4096);
    assert_eq!(d.push(&as_request(&full)).status, 201);

    let mut body = full.body.clone();
    body.push(0);
    assert_refused(&d.push(&as_request(&full).with_body(body)), 413, "larger than 4096 bytes");
    // Checked before the token: a refused token does not hide the size.
    let oversized = set_header(as_request(&full), "Authorization", None).with_body(vec![0; 5000]);
    assert_refused(&d.push(&oversized), 413, "larger than 4096 bytes");

    let mut subscribe = subscribe_body(&d.key.public().to_sec1_b64(), &UserAgent::new());
    subscribe.resize(4097, b' ');
    assert_refused(&d.service.handle(&Request::new("POST", "/subscribe").with_body(subscribe), NOW_MS), 413, "larger");
}

#[test]
fn not_found_404_and_gone_410_after_delete() {
    let d = direct();
    let unknown = set_header(d.valid.clone(), "Authorization", None);
    let unknown = Request { target: "/push/AAAAAAAAAAAAAAAAAAAAAA".into(), ..unknown };
    assert_refused(&d.push(&unknown), 404, "no such subscription");
    for target in ["/push/short", "/push/AAAAAAAAAAAAAAAAAAAAA!", "/push/AAAAAAAAAAAAAAAAAAAAAA/x"] {
        assert_refused(&d.push(&Request { target: target.into(), ..d.valid.clone() }), 404, "no such subscription");
    }
    assert_refused(&d.push(&Request::new("GET", "/messages/AAAAAAAAAAAAAAAAAAAAAA")), 404, "no such subscription");
    assert_refused(&d.push(&Request::new("DELETE", "/push/AAAAAAAAAAAAAAAAAAAAAA")), 404, "no such subscription");
    assert_refused(&d.push(&Request::new("GET", "/nothing")), 404, "no such route");

    assert_eq!(d.push(&d.valid).status, 201);
    let deleted = d.push(&Request::new("DELETE", &d.sub.push_path));
    assert_eq!((deleted.status, deleted.body.len()), (204, 0));
    assert_refused(&d.push(&d.valid), 410, "deleted");
    assert_refused(&d.push(&Request::new("DELETE", &d.sub.push_path)), 410, "deleted");
    assert_refused(&d.push(&Request::new("GET", &d.sub.messages_path)), 410, "deleted");

    let stats = json_of(&d.push(&Request::new("GET", "/stats")));
    assert_eq!(stats["statuses"], json!({ "201": 2, "204": 1, "404": 7, "410": 3 }));
    assert_eq!((stats["subscriptions"].as_u64(), stats["deleted"].as_u64()), (Some(0), Some(1)));
}

#[test]
fn methods_are_checked_per_route() {
    let service = service();
    for (method, target, allow) in [
        ("GET", "/subscribe", "POST, OPTIONS"),
        ("GET", "/push/AAAAAAAAAAAAAAAAAAAAAA", "POST, DELETE, OPTIONS"),
        ("PUT", "/push/AAAAAAAAAAAAAAAAAAAAAA", "POST, DELETE, OPTIONS"),
        ("POST", "/messages/AAAAAAAAAAAAAAAAAAAAAA", "GET, OPTIONS"),
        ("DELETE", "/stats", "GET, OPTIONS"),
    ] {
        let response = service.handle(&Request::new(method, target), NOW_MS);
        assert_refused(&response, 405, "method not allowed");
        assert_eq!(response.header("Allow"), Some(allow), "{method} {target}");
    }
    assert_eq!(service.handle(&Request::new("GET", &format!("/{}", "a".repeat(1100))), NOW_MS).status, 414);
}

#[test]
fn subscribe_checks_its_body() {
    let service = service();
    let key = VapidSigningKey::generate(&mut OsRng).public().to_sec1_b64();
    let ua = UserAgent::new();
    let good = json!({ "application_server_key": key, "p256dh": ua.p256dh(), "auth": b64(ua.auth) });
    let post = |body: Value| {
        service.handle(&Request::new("POST", "/subscribe").with_body(body.to_string().into_bytes()), NOW_MS)
    };

    let mut off_curve = vec![4u8];
    off_curve.extend([7u8; 64]);
    let mut compressed = ua.secret.public_key().to_encoded_point(true).as_bytes().to_vec();
    compressed.resize(65, 0);
    for (field, value, reason) in [
        ("application_server_key", json!(b64(&off_curve)), "application_server_key is not"),
        ("application_server_key", json!(b64(&compressed)), "application_server_key is not"),
        ("application_server_key", json!("not base64!"), "application_server_key is not"),
        ("p256dh", json!(b64([4u8; 64])), "p256dh is not"),
        ("auth", json!(b64([1u8; 15])), "auth is not 16 bytes"),
        ("auth", json!(5), "is not {"),
    ] {
        let mut body = good.clone();
        body[field] = value;
        assert_refused(&post(body), 400, reason);
    }
    let mut extra = good.clone();
    extra["endpoint"] = json!("https://evil.example");
    assert_refused(&post(extra), 400, "unknown field");
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("auth");
    assert_refused(&post(missing), 400, "missing field");
    assert_refused(&service.handle(&Request::new("POST", "/subscribe").with_body(b"{".to_vec()), NOW_MS), 400, "JSON");

    let response = post(good);
    assert_eq!(response.status, 201);
    let json = json_of(&response);
    assert_eq!(json["keys"], json!({ "p256dh": ua.p256dh(), "auth": b64(ua.auth) }));
    assert_eq!(response.header("Location"), json["endpoint"].as_str());
    // Each subscription gets its own unguessable id.
    let again = json_of(&post(json!({ "application_server_key": key, "p256dh": ua.p256dh(), "auth": b64(ua.auth) })));
    assert_ne!(again["endpoint"], json["endpoint"]);
}

#[test]
fn cors_only_for_the_allowed_origins() {
    let d = direct();
    let from = |origin: Option<&str>, request: Request| match origin {
        Some(origin) => d.push(&request.with_header("Origin", origin)),
        None => d.push(&request),
    };
    let ua = UserAgent::new();
    let key = d.key.public().to_sec1_b64();
    let subscribe = || Request::new("POST", "/subscribe").with_body(subscribe_body(&key, &ua));
    let poll = || Request::new("GET", &d.sub.messages_path);

    for request in [subscribe(), poll(), Request::new("GET", "/stats"), d.valid.clone()] {
        let allowed = from(Some(PAGE), request.clone());
        assert_eq!(allowed.header("Access-Control-Allow-Origin"), Some(PAGE), "{request:?}");
        assert_eq!(allowed.header("Access-Control-Expose-Headers"), Some("Location, TTL"));
        assert_eq!(allowed.header("Vary"), Some("Origin"));
        for other in [Some("https://evil.example"), Some("http://localhost:8081"), Some("null"), None] {
            let response = from(other, request.clone());
            assert_eq!(response.header("Access-Control-Allow-Origin"), None, "{other:?}");
            assert_eq!(response.header("Vary"), Some("Origin"));
        }
    }
    // A refusal carries CORS too, so the page can show why.
    let refusal = from(Some(PAGE), set_header(d.valid.clone(), "TTL", None));
    assert_eq!((refusal.status, refusal.header("Access-Control-Allow-Origin")), (400, Some(PAGE)));

    let preflight = from(
        Some(PAGE),
        Request::new("OPTIONS", &d.sub.push_path)
            .with_header("Access-Control-Request-Method", "DELETE")
            .with_header("Access-Control-Request-Headers", "content-type"),
    );
    assert_eq!(preflight.status, 204);
    assert_eq!(preflight.header("Access-Control-Allow-Origin"), Some(PAGE));
    assert_eq!(preflight.header("Access-Control-Allow-Methods"), Some("GET, POST, DELETE"));
    assert_eq!(
        preflight.header("Access-Control-Allow-Headers"),
        Some("Authorization, Content-Type, Content-Encoding, TTL, Urgency, Topic")
    );
    let foreign = from(Some("https://evil.example"), Request::new("OPTIONS", &d.sub.push_path));
    assert_eq!(foreign.status, 204);
    assert_eq!(foreign.header("Access-Control-Allow-Origin"), None);
    assert_eq!(foreign.header("Access-Control-Allow-Methods"), None);
}

#[test]
fn queue_keeps_the_latest_hundred_and_after_pages_through_them() {
    let d = direct();
    for i in 0..=MAX_QUEUED_MESSAGES {
        let response = d.push(&d.valid);
        assert_eq!(response.header("Location"), Some(format!("/message/{}", i + 1).as_str()));
    }
    let queued = messages(&d.service, &d.sub, 0);
    assert_eq!(queued.len(), MAX_QUEUED_MESSAGES);
    assert_eq!(queued[0]["n"].as_u64(), Some(2));
    assert_eq!(queued.last().unwrap()["n"].as_u64(), Some(101));
    let tail = messages(&d.service, &d.sub, 99);
    assert_eq!(tail.iter().map(|m| m["n"].as_u64().unwrap()).collect::<Vec<_>>(), [100, 101]);

    // Numbers are unique across subscriptions.
    let other = subscribe(&d.service, &d.key.public().to_sec1_b64(), &UserAgent::new());
    let token = core_token(&d.key, ORIGIN, NOW_S + HOUR, NOW_MS);
    let pushed = d.push(&as_request(&relay_push(&other, token, b"x", 0, NOW_S)));
    assert_eq!(pushed.header("Location"), Some("/message/102"));
    assert_eq!(messages(&d.service, &other, 0).len(), 1);
    assert_eq!(messages(&d.service, &d.sub, 101).len(), 0);
}

#[test]
fn at_most_1000_subscriptions_and_deleted_ones_make_room() {
    let service = service();
    let key = VapidSigningKey::generate(&mut OsRng).public().to_sec1_b64();
    let ua = UserAgent::new();
    let first = subscribe(&service, &key, &ua);
    for _ in 1..MAX_SUBSCRIPTIONS {
        subscribe(&service, &key, &ua);
    }
    let post = || service.handle(&Request::new("POST", "/subscribe").with_body(subscribe_body(&key, &ua)), NOW_MS);
    assert_refused(&post(), 503, "1000 subscriptions");
    assert_eq!(service.handle(&Request::new("DELETE", &first.push_path), NOW_MS).status, 204);
    assert_eq!(post().status, 201);
    // The deleted subscription was forgotten to make room.
    assert_eq!(service.handle(&Request::new("DELETE", &first.push_path), NOW_MS).status, 404);
}

// --- Over a socket ------------------------------------------------------------

#[test]
fn over_a_socket_engine_to_relay_to_push_service_to_user_agent() {
    let push = PushConfig {
        spec: PushSpec::parse("127.0.0.1:0").unwrap(),
        allowed_origins: vec![AllowedOrigin::parse(PAGE).unwrap()],
    };
    let running = serve::start_with_push(Vec::new(), Some(push), Options::default()).unwrap();
    let bound = &running.origins()[0];
    assert_eq!((bound.role(), bound.root()), ("push", None));
    let addr = bound.addr();
    let origin = bound.url();
    assert_eq!(running.push_service().unwrap().origin(), origin);

    // The server reads the real clock: so does this engine.
    let now_ms = kms_examples::http::now_ms();
    let engine = engine(now_ms);
    let ua = UserAgent::new();
    let reply = http(
        addr,
        "POST",
        "/subscribe",
        &[("Origin", PAGE), ("Content-Type", "application/json")],
        &subscribe_body(&engine.key.public_key, &ua),
    );
    assert_eq!(reply.status, 201);
    assert_eq!(reply.header("Access-Control-Allow-Origin"), Some(PAGE));
    let sub = subscribed(&origin, &reply.body);
    assert_eq!(sub.sub.origin().as_str(), origin);

    let token = engine.sign(&origin, now_ms / 1000 + 12 * HOUR);
    let request = relay_push(&sub, token, b"over the wire", 120, now_ms / 1000);
    let headers: Vec<(&str, &str)> = request.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
    let pushed = http(addr, "POST", &sub.push_path, &headers, &request.body);
    assert_eq!(
        (pushed.status, pushed.header("Location")),
        (201, Some("/message/1")),
        "{}",
        String::from_utf8_lossy(&pushed.body)
    );
    // The same push addressed to another service's origin is refused here.
    let elsewhere = engine.sign("http://localhost:1", now_ms / 1000 + HOUR);
    let mut headers = headers.clone();
    let authorization = elsewhere.authorization.clone();
    headers.retain(|(n, _)| *n != "Authorization");
    headers.push(("Authorization", authorization.as_str()));
    let refused = http(addr, "POST", &sub.push_path, &headers, &request.body);
    assert_eq!(refused.status, 401);
    assert!(refused.json()["error"].as_str().unwrap().contains("aud"));
    // A body over 4096 bytes, announced and sent.
    let too_large = http(addr, "POST", &sub.push_path, &headers, &[0; 5000]);
    assert_eq!(too_large.status, 413);

    let polled = http(addr, "GET", &format!("{}?after=0", sub.messages_path), &[("Origin", PAGE)], b"");
    assert_eq!(polled.status, 200);
    let messages = polled.json()["messages"].as_array().unwrap().clone();
    assert_eq!(messages.len(), 1);
    assert_eq!(ua.decrypt(messages[0]["body"].as_str().unwrap()), b"over the wire");
    assert_eq!(messages[0]["ttl"].as_u64(), Some(120));

    let stats = http(addr, "GET", "/stats", &[], b"").json();
    assert_eq!(stats["statuses"], json!({ "200": 1, "201": 2, "401": 1, "413": 1 }));
    running.shutdown();
}

#[test]
fn binary_announces_the_push_role_and_serves_it() {
    let (mut child, mut lines) =
        spawn_announcing(env!("CARGO_BIN_EXE_kms-serve"), ["--push", "127.0.0.1:0", "--allow-host", PAGE]);
    let announced = lines.next().unwrap().unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "kms-serve: ready");
    let port: u16 = announced
        .strip_prefix("kms-serve: push http://localhost:")
        .and_then(|rest| rest.strip_suffix(" -"))
        .unwrap_or_else(|| panic!("{announced}"))
        .parse()
        .unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let preflight =
        http(addr, "OPTIONS", "/subscribe", &[("Origin", PAGE), ("Access-Control-Request-Method", "POST")], b"");
    let key = VapidSigningKey::generate(&mut OsRng).public().to_sec1_b64();
    let subscribed = http(addr, "POST", "/subscribe", &[], &subscribe_body(&key, &UserAgent::new()));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!((preflight.status, preflight.header("Access-Control-Allow-Origin")), (204, Some(PAGE)));
    assert_eq!(subscribed.status, 201);
    let endpoint = subscribed.json()["endpoint"].as_str().unwrap().to_owned();
    assert!(endpoint.starts_with(&format!("http://localhost:{port}/push/")), "{endpoint}");

    // --push alone is enough; a non-loopback address is refused.
    let out = Command::new(env!("CARGO_BIN_EXE_kms-serve")).args(["--push", "10.0.0.1:8084"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback"));
}
