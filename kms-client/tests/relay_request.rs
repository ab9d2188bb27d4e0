//! Push subscriptions as the relay takes them (the core's type and
//! allowlist, the relay's error), the options of a push (TTL, Urgency,
//! Topic), and the exact request built from them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use kms_client::relay::{
    build_push_request, decrypt, subscription_from_json, AuthSecret, PushOptions, PushServicePolicy, PushSubscription,
    RelayError, TokenHolder, Topic, Ttl, Urgency, ValidatedSubscription, MAX_TTL_S,
};
use kms_core::testing::push::subscription_json as sub_json;
use kms_core::vapid::{self, JwtRequest, PushOrigin, SignedJwt, VapidSigningKey};
use kms_core::ErrorCode;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::SecretKey;
use rand_chacha::rand_core::SeedableRng as _;
use rand_chacha::ChaCha20Rng;

const T: u64 = 1_700_000_000;
const ENDPOINT: &str = "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b-abc_123";
const AUTH: [u8; 16] = *b"0123456789abcdef";

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn ua_key() -> SecretKey {
    SecretKey::random(&mut rng(100))
}

fn p256dh() -> String {
    kms_core::b64::encode(ua_key().public_key().to_encoded_point(false))
}

/// Through the relay's entry point, under the default allowlist (with
/// loopback for the local test push service).
fn parse(endpoint: &str, allow_loopback: bool) -> Result<ValidatedSubscription, RelayError> {
    let policy = PushServicePolicy::default().with_loopback(allow_loopback);
    subscription_from_json(&sub_json(endpoint, &p256dh(), &kms_core::b64::encode(AUTH)), &policy)
}

fn token_for(aud: &str, exp: u64) -> SignedJwt {
    let key = VapidSigningKey::generate(&mut rng(7));
    let req = JwtRequest { aud: aud.into(), sub: "mailto:ops@example.com".into(), exp, jti: None };
    SignedJwt::issue(&key, &vapid::validate(&req, (exp - 3600) * 1000).unwrap()).unwrap()
}

fn tokens(list: impl IntoIterator<Item = SignedJwt>) -> TokenHolder {
    let mut h = TokenHolder::new();
    for t in list {
        h.insert(t).unwrap();
    }
    h
}

fn owned(headers: &[(&str, &str)]) -> Vec<(String, String)> {
    headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect()
}

// ---------------------------------------------------------------------------
// Subscriptions (the rules themselves are tested in kms-core's push_*.rs)

#[test]
fn the_relay_uses_the_core_subscription_type_and_policy() {
    let sub = parse(ENDPOINT, false).unwrap();
    let core: &kms_core::push::ValidatedSubscription = &sub;
    assert_eq!(core.endpoint(), ENDPOINT);
    assert_eq!(sub.origin(), &PushOrigin::parse("https://fcm.googleapis.com").unwrap());
    assert_eq!(sub.p256dh(), &ua_key().public_key());
    assert_eq!(PushServicePolicy::default(), kms_core::push::PushServicePolicy::major_push_services());
}

#[test]
fn subscription_errors_are_invalid_subscription_wrapping_the_core_error() {
    for (endpoint, loopback, why) in [
        ("https://evil.example/x", false, "host evil.example is not an allowed push service"),
        ("http://fcm.googleapis.com/fcm/send/x", true, "must use https"),
        ("http://127.0.0.1:8080/push/abc", false, "loopback"),
    ] {
        let err = parse(endpoint, loopback).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidInput);
        let RelayError::InvalidSubscription(core) = &err else { panic!("expected InvalidSubscription, got {err:?}") };
        assert_eq!(core.code(), ErrorCode::InvalidInput);
        assert!(err.to_string().starts_with("invalid push subscription: "), "{err}");
        assert!(err.to_string().contains(why), "{endpoint}: {err}");
    }
}

#[test]
fn debug_never_shows_the_auth_secret() {
    let auth_b64 = kms_core::b64::encode(AUTH);
    let json = sub_json(ENDPOINT, &p256dh(), &auth_b64);
    let raw: PushSubscription = serde_json::from_str(&json).unwrap();
    assert!(!format!("{raw:?}").contains(&auth_b64));
    let sub = ValidatedSubscription::parse(&raw, &PushServicePolicy::default()).unwrap();
    let dbg = format!("{sub:?}");
    assert!(!dbg.contains(&auth_b64), "{dbg}");
    assert!(!dbg.contains("APA91b"), "{dbg}");
}

// ---------------------------------------------------------------------------
// Options

#[test]
fn ttl_is_capped_at_28_days() {
    assert_eq!(MAX_TTL_S, 28 * 24 * 3600);
    assert_eq!(Ttl::from_secs(0).unwrap().as_secs(), 0);
    assert_eq!(Ttl::from_secs(2_419_200).unwrap().as_secs(), 2_419_200);
    let err = Ttl::from_secs(2_419_201).unwrap_err();
    assert_eq!(err, RelayError::InvalidTtl { ttl_s: 2_419_201, max_s: 2_419_200 });
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(Ttl::from_secs(u64::MAX).is_err());
}

#[test]
fn urgency_has_exactly_four_values() {
    for (u, s) in
        [(Urgency::VeryLow, "very-low"), (Urgency::Low, "low"), (Urgency::Normal, "normal"), (Urgency::High, "high")]
    {
        assert_eq!(u.as_str(), s);
        assert_eq!(u.to_string(), s);
        assert_eq!(s.parse::<Urgency>().unwrap(), u);
    }
    for bad in ["", "Normal", "HIGH", "very_low", "verylow", "urgent", " high", "high "] {
        let err = bad.parse::<Urgency>().unwrap_err();
        assert_eq!(err, RelayError::InvalidUrgency, "{bad:?}");
        assert_eq!(err.code(), ErrorCode::InvalidInput);
    }
    assert_eq!(Urgency::default(), Urgency::Normal);
}

#[test]
fn topic_is_1_to_32_base64url_characters() {
    let alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    assert_eq!(Topic::parse(&alphabet[..32]).unwrap().as_str(), &alphabet[..32]);
    assert_eq!(Topic::parse(&alphabet[32..]).unwrap().as_str(), &alphabet[32..]);
    assert!(Topic::parse("a").is_ok());
    for bad in ["", "a".repeat(33).as_str(), "abc=", "a+b", "a/b", "a b", "a.b", "caf\u{e9}", "a\nb", "a:b"] {
        let err = Topic::parse(bad).unwrap_err();
        assert!(matches!(err, RelayError::InvalidTopic(_)), "{bad:?}: {err:?}");
        assert_eq!(err.code(), ErrorCode::InvalidInput);
    }
}

#[test]
fn default_options() {
    let opts = PushOptions::new(Ttl::from_secs(60).unwrap());
    assert_eq!(opts.urgency, Urgency::Normal);
    assert_eq!(opts.topic, None);
    assert_eq!(opts.pad_to, None);
    assert_eq!(opts.min_token_remaining_s, 60);
}

// ---------------------------------------------------------------------------
// The request

#[test]
fn request_headers_exactly() {
    let sub = parse(ENDPOINT, false).unwrap();
    let token = token_for("https://fcm.googleapis.com", T + 3600);
    let h = tokens([token.clone(), token_for("https://updates.push.services.mozilla.com", T + 7200)]);
    let mut opts = PushOptions::new(Ttl::from_secs(86_400).unwrap());
    opts.urgency = Urgency::High;
    opts.topic = Some(Topic::parse("inbox-1").unwrap());
    let payload = br#"{"title":"Dentist","body":"Due now"}"#;
    let req = build_push_request(&sub, payload, &h, &opts, T, &mut rng(1)).unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(req.url, ENDPOINT);
    let len = (86 + payload.len() + 1 + 16).to_string();
    assert_eq!(
        req.headers,
        owned(&[
            ("TTL", "86400"),
            ("Urgency", "high"),
            ("Topic", "inbox-1"),
            ("Authorization", token.authorization.as_str()),
            ("Content-Encoding", "aes128gcm"),
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", len.as_str()),
        ])
    );
    assert_eq!(req.body.len().to_string(), len);
    let plaintext = decrypt(&ua_key(), &AuthSecret::from_bytes(AUTH), &req.body).unwrap();
    assert_eq!(plaintext.as_slice(), payload);
    assert_eq!(req.header("content-encoding"), Some("aes128gcm"));
    assert_eq!(req.header("Crypto-Key"), None);
}

#[test]
fn request_with_default_options() {
    let sub = parse(ENDPOINT, false).unwrap();
    let token = token_for("https://fcm.googleapis.com", T + 3600);
    let opts = PushOptions::new(Ttl::from_secs(0).unwrap());
    let req = build_push_request(&sub, b"x", &tokens([token.clone()]), &opts, T, &mut rng(2)).unwrap();
    assert_eq!(
        req.headers,
        owned(&[
            ("TTL", "0"),
            ("Urgency", "normal"),
            ("Authorization", token.authorization.as_str()),
            ("Content-Encoding", "aes128gcm"),
            ("Content-Type", "application/octet-stream"),
            ("Content-Length", "104"),
        ])
    );
}

#[test]
fn empty_payload_sends_no_body_and_no_content_coding() {
    let sub = parse(ENDPOINT, false).unwrap();
    let token = token_for("https://fcm.googleapis.com", T + 3600);
    let mut opts = PushOptions::new(Ttl::from_secs(30).unwrap());
    opts.pad_to = Some(100);
    let req = build_push_request(&sub, b"", &tokens([token.clone()]), &opts, T, &mut rng(3)).unwrap();
    assert_eq!(
        req.headers,
        owned(&[
            ("TTL", "30"),
            ("Urgency", "normal"),
            ("Authorization", token.authorization.as_str()),
            ("Content-Length", "0")
        ])
    );
    assert!(req.body.is_empty());
}

#[test]
fn padding_hides_the_length() {
    let sub = parse(ENDPOINT, false).unwrap();
    let h = tokens([token_for("https://fcm.googleapis.com", T + 3600)]);
    let mut opts = PushOptions::new(Ttl::from_secs(60).unwrap());
    opts.pad_to = Some(3993);
    for payload in [&b"a"[..], &[b'b'; 3000][..]] {
        let req = build_push_request(&sub, payload, &h, &opts, T, &mut rng(4)).unwrap();
        assert_eq!(req.body.len(), 4096);
        assert_eq!(req.header("Content-Length"), Some("4096"));
        assert_eq!(decrypt(&ua_key(), &AuthSecret::from_bytes(AUTH), &req.body).unwrap().as_slice(), payload);
    }
    opts.pad_to = Some(3994);
    assert_eq!(
        build_push_request(&sub, b"a", &h, &opts, T, &mut rng(5)).unwrap_err(),
        RelayError::PayloadTooLarge { len: 3994, max: 3993 }
    );
}

#[test]
fn payload_limit_is_checked_before_tokens() {
    let sub = parse(ENDPOINT, false).unwrap();
    let opts = PushOptions::new(Ttl::from_secs(60).unwrap());
    let empty = TokenHolder::new();
    assert_eq!(
        build_push_request(&sub, &[0u8; 3994], &empty, &opts, T, &mut rng(6)).unwrap_err(),
        RelayError::PayloadTooLarge { len: 3994, max: 3993 }
    );
    let h = tokens([token_for("https://fcm.googleapis.com", T + 3600)]);
    let req = build_push_request(&sub, &[0u8; 3993], &h, &opts, T, &mut rng(6)).unwrap();
    assert_eq!(req.body.len(), 4096);
}

#[test]
fn request_needs_a_valid_token_for_the_endpoints_origin() {
    let sub = parse(ENDPOINT, false).unwrap();
    let fcm = PushOrigin::parse("https://fcm.googleapis.com").unwrap();
    let opts = PushOptions::new(Ttl::from_secs(60).unwrap());
    // Only a token for another push service.
    let other = tokens([token_for("https://updates.push.services.mozilla.com", T + 3600)]);
    let err = build_push_request(&sub, b"x", &other, &opts, T, &mut rng(7)).unwrap_err();
    assert_eq!(err, RelayError::NoTokenForOrigin { origin: fcm.clone() });
    assert_eq!(err.code(), ErrorCode::NotFound);
    // Expired.
    let h = tokens([token_for("https://fcm.googleapis.com", T + 3600)]);
    let err = build_push_request(&sub, b"x", &h, &opts, T + 3600, &mut rng(7)).unwrap_err();
    assert_eq!(err, RelayError::NoValidToken { origin: fcm.clone(), latest_expired_at: Some(T + 3600) });
    // 30 s left: below the default margin of 60 s, fine with none.
    let err = build_push_request(&sub, b"x", &h, &opts, T + 3570, &mut rng(7)).unwrap_err();
    assert_eq!(err, RelayError::NoValidToken { origin: fcm, latest_expired_at: None });
    let mut no_margin = opts.clone();
    no_margin.min_token_remaining_s = 0;
    assert!(build_push_request(&sub, b"x", &h, &no_margin, T + 3570, &mut rng(7)).is_ok());
}

#[test]
fn request_uses_the_latest_token() {
    let sub = parse(ENDPOINT, false).unwrap();
    let short = token_for("https://fcm.googleapis.com", T + 600);
    let long = token_for("https://fcm.googleapis.com", T + 7200);
    let opts = PushOptions::new(Ttl::from_secs(60).unwrap());
    let req = build_push_request(&sub, b"x", &tokens([long.clone(), short]), &opts, T, &mut rng(8)).unwrap();
    assert_eq!(req.header("Authorization"), Some(long.authorization.as_str()));
}

#[test]
fn loopback_push_service_for_tests() {
    let sub = parse("http://127.0.0.1:8080/push/abc", true).unwrap();
    let token = token_for("http://127.0.0.1:8080", T + 3600);
    let opts = PushOptions::new(Ttl::from_secs(60).unwrap());
    let req = build_push_request(&sub, b"x", &tokens([token.clone()]), &opts, T, &mut rng(9)).unwrap();
    assert_eq!(req.url, "http://127.0.0.1:8080/push/abc");
    assert_eq!(req.header("Authorization"), Some(token.authorization.as_str()));
}

#[test]
fn request_debug_hides_the_token() {
    let sub = parse(ENDPOINT, false).unwrap();
    let token = token_for("https://fcm.googleapis.com", T + 3600);
    let opts = PushOptions::new(Ttl::from_secs(60).unwrap());
    let req = build_push_request(&sub, b"secret payload", &tokens([token.clone()]), &opts, T, &mut rng(10)).unwrap();
    let dbg = format!("{req:?}");
    assert!(!dbg.contains(&token.jwt), "{dbg}");
    assert!(dbg.contains("<redacted>"), "{dbg}");
    assert!(dbg.contains("TTL"), "{dbg}");
    assert!(dbg.contains(&format!("<{} bytes>", req.body.len())), "{dbg}");
}
