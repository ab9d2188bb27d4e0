//! Push subscriptions as the KMS and the relay accept them
//! (`ValidatedSubscription`): the endpoint, `p256dh`, `auth` and
//! `expirationTime` rules, and that parsing never panics.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use kms_core::push::{AuthSecret, PushServicePolicy, PushSubscription, SubscriptionId, ValidatedSubscription};
use kms_core::testing::push::subscription_json as sub_json;
use kms_core::vapid::PushOrigin;
use kms_core::{CoreError, ErrorCode};
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::SecretKey;
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng as _;
use rand_chacha::ChaCha20Rng;

const ENDPOINT: &str = "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b-abc_123";
const AUTH: [u8; 16] = *b"0123456789abcdef";

/// Unpadded base64url.
fn b(bytes: impl AsRef<[u8]>) -> String {
    kms_core::b64::encode(bytes)
}

fn ua_key() -> SecretKey {
    SecretKey::random(&mut ChaCha20Rng::seed_from_u64(100))
}

fn p256dh() -> String {
    b(ua_key().public_key().to_encoded_point(false))
}

/// The defaults, or with loopback allowed.
fn defaults(loopback: bool) -> PushServicePolicy {
    PushServicePolicy::default().with_loopback(loopback)
}

/// A deployment that serves one extra push service, for endpoint shapes the
/// major push services do not use (ports, odd paths).
fn example_net() -> PushServicePolicy {
    PushServicePolicy::new(["push.example.net"]).unwrap()
}

fn parse_with(endpoint: &str, policy: &PushServicePolicy) -> Result<ValidatedSubscription, CoreError> {
    ValidatedSubscription::from_json(&sub_json(endpoint, &p256dh(), &b(AUTH)), policy)
}

fn parse(endpoint: &str, loopback: bool) -> Result<ValidatedSubscription, CoreError> {
    parse_with(endpoint, &defaults(loopback))
}

fn parse_keys(p256dh: &str, auth: &str) -> Result<ValidatedSubscription, CoreError> {
    ValidatedSubscription::from_json(&sub_json(ENDPOINT, p256dh, auth), &defaults(false))
}

/// The message of an `InvalidInput`; anything else fails the test.
fn invalid(r: Result<ValidatedSubscription, CoreError>) -> String {
    match r {
        Err(CoreError::InvalidInput(msg)) => msg,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn accepts_a_browser_subscription() {
    let sub = parse(ENDPOINT, false).unwrap();
    assert_eq!(sub.endpoint(), ENDPOINT);
    assert_eq!(sub.origin(), &PushOrigin::parse("https://fcm.googleapis.com").unwrap());
    assert_eq!(sub.p256dh(), &ua_key().public_key());
    assert_eq!(b(sub.p256dh_bytes()), p256dh());
    assert_eq!(sub.auth(), &AuthSecret::from_bytes(AUTH));
    assert_ne!(sub.auth(), &AuthSecret::from_bytes(*b"0123456789abcdeF"));
    assert_eq!(sub.expiration_time_ms(), None);
    assert_eq!(sub.id(), SubscriptionId::for_endpoint(ENDPOINT));
}

#[test]
fn origin_keeps_a_non_default_port_only() {
    let policy = example_net();
    assert_eq!(
        parse_with("https://push.example.net:443/x", &policy).unwrap().origin().as_str(),
        "https://push.example.net"
    );
    assert_eq!(
        parse_with("https://push.example.net:8443/x", &policy).unwrap().origin().as_str(),
        "https://push.example.net:8443"
    );
}

#[test]
fn expiration_time_is_a_number_or_null_or_absent() {
    let base = |exp: &str| {
        format!(r#"{{"endpoint":"{ENDPOINT}",{exp}"keys":{{"p256dh":"{}","auth":"{}"}}}}"#, p256dh(), b(AUTH))
    };
    let with = |json: String| ValidatedSubscription::from_json(&json, &defaults(false));
    assert_eq!(with(base(r#""expirationTime":1700000000000,"#)).unwrap().expiration_time_ms(), Some(1_700_000_000_000));
    assert_eq!(with(base(r#""expirationTime":null,"#)).unwrap().expiration_time_ms(), None);
    assert_eq!(with(base("")).unwrap().expiration_time_ms(), None);
    for bad in [r#""expirationTime":"soon","#, r#""expirationTime":-1,"#, r#""expirationTime":1.5,"#] {
        let msg = invalid(with(base(bad)));
        assert!(msg.contains("expirationTime"), "{bad}: {msg}");
    }
}

#[test]
fn serializes_in_the_shape_of_to_json() {
    let json = sub_json(ENDPOINT, &p256dh(), &b(AUTH));
    let sub: PushSubscription = serde_json::from_str(&json).unwrap();
    let back: serde_json::Value = serde_json::to_value(&sub).unwrap();
    assert_eq!(back, serde_json::from_str::<serde_json::Value>(&json).unwrap());
}

#[test]
fn parse_and_from_json_agree() {
    let raw: PushSubscription = serde_json::from_str(&sub_json(ENDPOINT, &p256dh(), &b(AUTH))).unwrap();
    let a = ValidatedSubscription::parse(&raw, &defaults(false)).unwrap();
    let b = parse(ENDPOINT, false).unwrap();
    assert!(a == b);
}

#[test]
fn refuses_http_for_a_remote_host_even_with_loopback_allowed() {
    for loopback in [false, true] {
        let msg = invalid(parse("http://fcm.googleapis.com/fcm/send/x", loopback));
        assert!(msg.contains("https"), "{msg}");
    }
}

#[test]
fn refuses_other_schemes_userinfo_fragments_and_non_urls() {
    let policy = example_net();
    for (endpoint, why) in [
        ("ftp://push.example.net/x", "https"),
        ("wss://push.example.net/x", "https"),
        ("file:///etc/passwd", "https"),
        ("https://user:pw@push.example.net/x", "userinfo"),
        ("https://user@push.example.net/x", "userinfo"),
        ("https://push.example.net/x#frag", "fragment"),
        ("push.example.net/x", "not a valid URL"),
        ("", "not a valid URL"),
        ("https://", "not a valid URL"),
    ] {
        let msg = invalid(parse_with(endpoint, &policy));
        assert!(msg.contains(why), "{endpoint}: {msg}");
    }
    // Control: the same policy admits the plain endpoint.
    assert!(parse_with("https://push.example.net/x", &policy).is_ok());
}

#[test]
fn loopback_endpoints_only_when_allowed() {
    let loopback = [
        "http://localhost:8080/push/1",
        "http://127.0.0.1:8080/push/1",
        "http://127.1.2.3/push/1",
        "http://[::1]:8080/push/1",
        "https://localhost/push/1",
        "https://127.0.0.1/push/1",
    ];
    for endpoint in loopback {
        let msg = invalid(parse(endpoint, false));
        assert!(msg.contains("loopback"), "{endpoint}: {msg}");
        let sub = parse(endpoint, true).unwrap();
        assert_eq!(sub.endpoint(), endpoint);
    }
    // Other names and addresses of this machine: refused without the
    // switch, and with it too (only the three loopback forms are test push
    // services), whatever the scheme.
    for endpoint in [
        "https://push.localhost/x",
        "https://LOCALHOST./x",
        "https://0.0.0.0/x",
        "https://[::]/x",
        "https://[::ffff:127.0.0.1]/x",
        "http://0.0.0.0/x",
        "http://push.localhost/x",
    ] {
        let msg = invalid(parse(endpoint, false));
        assert!(msg.contains("loopback"), "{endpoint}: {msg}");
        let msg = invalid(parse(endpoint, true));
        assert!(msg.contains("localhost, 127.0.0.0/8 or [::1]"), "{endpoint}: {msg}");
    }
}

#[test]
fn endpoint_length_cap_is_4096_bytes() {
    let policy = example_net();
    let prefix = "https://push.example.net/";
    let at_cap = format!("{prefix}{}", "a".repeat(4096 - prefix.len()));
    assert_eq!(at_cap.len(), 4096);
    assert_eq!(parse_with(&at_cap, &policy).unwrap().endpoint(), at_cap);
    let msg = invalid(parse_with(&format!("{at_cap}a"), &policy));
    assert!(msg.contains("4096"), "{msg}");
    // Within the cap as given, beyond it once percent-encoded.
    // (Spaces inside the path: WHATWG URL parsing trims them at the ends.)
    let spaces = format!("{prefix}{}x", " ".repeat(2000));
    assert!(spaces.len() <= 4096);
    let msg = invalid(parse_with(&spaces, &policy));
    assert!(msg.contains("once normalized"), "{msg}");
}

#[test]
fn endpoint_is_kept_normalized() {
    let sub = parse_with("HTTPS://Push.Example.NET:443/a b", &example_net()).unwrap();
    assert_eq!(sub.endpoint(), "https://push.example.net/a%20b");
    assert_eq!(sub.origin().as_str(), "https://push.example.net");
    assert_eq!(sub.id(), SubscriptionId::for_endpoint("https://push.example.net/a%20b"));
}

#[test]
fn refuses_a_bad_p256dh() {
    let point = ua_key().public_key();
    let uncompressed = point.to_encoded_point(false).as_bytes().to_vec();
    let mut off_curve = uncompressed.clone();
    off_curve[64] ^= 1;
    let mut wrong_tag = uncompressed.clone();
    wrong_tag[0] = 0x05;
    let mut hybrid = uncompressed.clone();
    hybrid[0] = 0x06;
    for bad in [
        b(point.to_encoded_point(true).as_bytes()), // compressed, 33 bytes
        b(&off_curve),
        b(&wrong_tag),
        b(&hybrid),
        b([0u8]),     // the identity
        b([0u8; 65]), // not a point
        b(&uncompressed[..64]),
        b([uncompressed.as_slice(), &[0]].concat()),
        format!("{}=", b(&uncompressed)),                            // padded
        b(&uncompressed).replace('-', "+").replace('_', "/") + "+/", // standard alphabet
        String::new(),
        "not base64!".to_owned(),
    ] {
        let msg = invalid(parse_keys(&bad, &b(AUTH)));
        assert!(msg.contains("p256dh"), "{bad}: {msg}");
    }
    // Control: the same builder with the real point is accepted.
    assert!(parse_keys(&b(&uncompressed), &b(AUTH)).is_ok());
}

#[test]
fn auth_must_be_exactly_16_bytes() {
    assert!(parse_keys(&p256dh(), &b([7u8; 16])).is_ok());
    for bad in
        [b([7u8; 15]), b([7u8; 17]), b([0u8; 0]), format!("{}==", b([7u8; 16])), "!!!!!!!!!!!!!!!!!!!!!!".to_owned()]
    {
        let msg = invalid(parse_keys(&p256dh(), &bad));
        assert!(msg.contains("auth"), "{bad}: {msg}");
        assert!(!msg.contains(&bad) || bad.is_empty(), "the value is not echoed: {msg}");
    }
    assert_eq!(AuthSecret::from_b64(&b([7u8; 16])).unwrap(), AuthSecret::from_bytes([7u8; 16]));
    assert_eq!(AuthSecret::from_bytes([7u8; 16]).dangerous_as_bytes(), &[7u8; 16]);
}

#[test]
fn refuses_malformed_or_huge_json() {
    for json in ["", "{}", "null", r#"{"endpoint":"https://fcm.googleapis.com/x"}"#, r#"{"endpoint":1,"keys":{}}"#] {
        invalid(ValidatedSubscription::from_json(json, &defaults(false)));
    }
    let huge = format!(r#"{{"endpoint":"https://fcm.googleapis.com/{}"}}"#, "a".repeat(9000));
    let msg = invalid(ValidatedSubscription::from_json(&huge, &defaults(false)));
    assert!(msg.contains("8192"), "{msg}");
}

#[test]
fn subscription_errors_are_invalid_input() {
    let err = parse("http://fcm.googleapis.com/x", false).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    let err = parse("https://evil.example/x", false).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
}

#[test]
fn debug_never_shows_the_auth_secret_or_the_endpoint_path() {
    let auth_b64 = b(AUTH);
    let json = sub_json(ENDPOINT, &p256dh(), &auth_b64);
    let raw: PushSubscription = serde_json::from_str(&json).unwrap();
    let raw_dbg = format!("{raw:?}");
    assert!(!raw_dbg.contains(&auth_b64), "{raw_dbg}");
    assert!(raw_dbg.contains("<redacted>"), "{raw_dbg}");
    let sub = ValidatedSubscription::parse(&raw, &defaults(false)).unwrap();
    let dbg = format!("{sub:?}");
    assert!(!dbg.contains(&auth_b64), "{dbg}");
    assert!(!dbg.contains("APA91b"), "the endpoint's path stays out of Debug: {dbg}");
    assert!(dbg.contains("https://fcm.googleapis.com"), "{dbg}");
    assert_eq!(format!("{:?}", sub.auth()), "AuthSecret(<redacted>)");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Any fields, any policy switch: a result, never a panic; and whatever
    /// is accepted satisfies the type's promises.
    #[test]
    fn parse_never_panics(
        endpoint in prop_oneof![
            ".{0,200}",
            "(https?|ftp)://[a-zA-Z0-9.:\\[\\]@%*_-]{0,40}(/[ -~]{0,40})?",
            Just(ENDPOINT.to_owned()),
        ],
        p256dh_text in prop_oneof![".{0,100}", "[A-Za-z0-9_-]{0,100}", Just(p256dh())],
        auth in prop_oneof![".{0,30}", "[A-Za-z0-9_-]{0,30}", Just(b(AUTH))],
        expiration in proptest::option::of(any::<u64>()),
        loopback in any::<bool>(),
    ) {
        let raw = PushSubscription {
            endpoint: endpoint.clone(),
            expiration_time: expiration,
            keys: kms_core::push::PushSubscriptionKeys { p256dh: p256dh_text, auth },
        };
        if let Ok(sub) = ValidatedSubscription::parse(&raw, &defaults(loopback)) {
            prop_assert!(sub.endpoint().starts_with("https://") || loopback);
            prop_assert!(sub.endpoint().len() <= 4096);
            prop_assert_eq!(sub.p256dh_bytes()[0], 0x04);
            prop_assert_eq!(sub.expiration_time_ms(), expiration);
        }
    }

    /// Arbitrary bytes as JSON: a result, never a panic.
    #[test]
    fn from_json_never_panics(json in ".{0,300}", loopback in any::<bool>()) {
        let _ = ValidatedSubscription::from_json(&json, &defaults(loopback));
    }
}
