//! Push subscriptions as the relay accepts them, the options of a push
//! (TTL, Urgency, Topic), and the exact request built from them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use kms_client::relay::{
    build_push_request, decrypt, AuthSecret, PushOptions, PushSubscription, RelayError, TokenHolder, Topic, Ttl,
    Urgency, ValidatedSubscription, MAX_TTL_S,
};
use kms_core::vapid::{self, JwtRequest, PushOrigin, SignedJwt, VapidSigningKey};
use kms_core::ErrorCode;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::SecretKey;
use rand_chacha::rand_core::SeedableRng as _;
use rand_chacha::ChaCha20Rng;

const T: u64 = 1_700_000_000;
const ENDPOINT: &str = "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b-abc_123";
const AUTH: [u8; 16] = *b"0123456789abcdef";

/// Unpadded base64url.
fn b(bytes: impl AsRef<[u8]>) -> String {
    kms_core::b64::encode(bytes)
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn ua_key() -> SecretKey {
    SecretKey::random(&mut rng(100))
}

fn p256dh() -> String {
    kms_core::b64::encode(ua_key().public_key().to_encoded_point(false))
}

fn sub_json(endpoint: &str, p256dh: &str, auth: &str) -> String {
    serde_json::json!({
        "endpoint": endpoint,
        "expirationTime": null,
        "keys": {"p256dh": p256dh, "auth": auth},
    })
    .to_string()
}

fn parse(endpoint: &str, allow_loopback: bool) -> Result<ValidatedSubscription, RelayError> {
    ValidatedSubscription::from_json(&sub_json(endpoint, &p256dh(), &kms_core::b64::encode(AUTH)), allow_loopback)
}

fn parse_keys(p256dh: &str, auth: &str) -> Result<ValidatedSubscription, RelayError> {
    ValidatedSubscription::from_json(&sub_json(ENDPOINT, p256dh, auth), false)
}

fn invalid_subscription(r: Result<ValidatedSubscription, RelayError>) -> String {
    match r {
        Err(RelayError::InvalidSubscription(msg)) => msg,
        other => panic!("expected InvalidSubscription, got {other:?}"),
    }
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
// Subscriptions

#[test]
fn accepts_a_browser_subscription() {
    let sub = parse(ENDPOINT, false).unwrap();
    assert_eq!(sub.endpoint(), ENDPOINT);
    assert_eq!(sub.origin(), &PushOrigin::parse("https://fcm.googleapis.com").unwrap());
    assert_eq!(sub.p256dh(), &ua_key().public_key());
    assert_eq!(kms_core::b64::encode(sub.p256dh_bytes()), p256dh());
    assert_eq!(sub.expiration_time_ms(), None);
}

#[test]
fn origin_keeps_a_non_default_port_only() {
    assert_eq!(parse("https://push.example.net:443/x", false).unwrap().origin().as_str(), "https://push.example.net");
    assert_eq!(
        parse("https://push.example.net:8443/x", false).unwrap().origin().as_str(),
        "https://push.example.net:8443"
    );
}

#[test]
fn expiration_time_is_a_number_or_null_or_absent() {
    let base = |exp: &str| {
        format!(
            r#"{{"endpoint":"{ENDPOINT}",{exp}"keys":{{"p256dh":"{}","auth":"{}"}}}}"#,
            p256dh(),
            kms_core::b64::encode(AUTH)
        )
    };
    let with = |json: String| ValidatedSubscription::from_json(&json, false);
    assert_eq!(with(base(r#""expirationTime":1700000000000,"#)).unwrap().expiration_time_ms(), Some(1_700_000_000_000));
    assert_eq!(with(base(r#""expirationTime":null,"#)).unwrap().expiration_time_ms(), None);
    assert_eq!(with(base("")).unwrap().expiration_time_ms(), None);
    invalid_subscription(with(base(r#""expirationTime":"soon","#)));
    invalid_subscription(with(base(r#""expirationTime":-1,"#)));
}

#[test]
fn serializes_in_the_shape_of_to_json() {
    let json = sub_json(ENDPOINT, &p256dh(), &kms_core::b64::encode(AUTH));
    let sub: PushSubscription = serde_json::from_str(&json).unwrap();
    let back: serde_json::Value = serde_json::to_value(&sub).unwrap();
    assert_eq!(back, serde_json::from_str::<serde_json::Value>(&json).unwrap());
}

#[test]
fn refuses_http_for_a_remote_host_even_with_loopback_allowed() {
    for allow in [false, true] {
        let msg = invalid_subscription(parse("http://fcm.googleapis.com/fcm/send/x", allow));
        assert!(msg.contains("https"), "{msg}");
    }
}

#[test]
fn refuses_other_schemes_userinfo_fragments_and_non_urls() {
    for endpoint in [
        "ftp://push.example.net/x",
        "wss://push.example.net/x",
        "file:///etc/passwd",
        "https://user:pw@push.example.net/x",
        "https://user@push.example.net/x",
        "https://push.example.net/x#frag",
        "push.example.net/x",
        "",
        "https://",
    ] {
        invalid_subscription(parse(endpoint, false));
    }
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
        let msg = invalid_subscription(parse(endpoint, false));
        assert!(msg.contains("loopback"), "{endpoint}: {msg}");
        let sub = parse(endpoint, true).unwrap();
        assert_eq!(sub.endpoint(), endpoint);
    }
    // Names and addresses of this machine that are refused without the
    // switch, whatever the scheme.
    for endpoint in [
        "https://push.localhost/x",
        "https://LOCALHOST./x",
        "https://0.0.0.0/x",
        "https://[::]/x",
        "https://[::ffff:127.0.0.1]/x",
        "http://0.0.0.0/x",
    ] {
        invalid_subscription(parse(endpoint, false));
    }
    // With the switch, http still only for the loopback names the KMS
    // accepts as a token audience.
    invalid_subscription(parse("http://0.0.0.0/x", true));
    invalid_subscription(parse("http://push.localhost/x", true));
}

#[test]
fn endpoint_length_cap_is_4096_bytes() {
    let prefix = "https://push.example.net/";
    let at_cap = format!("{prefix}{}", "a".repeat(4096 - prefix.len()));
    assert_eq!(at_cap.len(), 4096);
    assert_eq!(parse(&at_cap, false).unwrap().endpoint(), at_cap);
    let msg = invalid_subscription(parse(&format!("{at_cap}a"), false));
    assert!(msg.contains("4096"), "{msg}");
    // Within the cap as given, beyond it once percent-encoded.
    // (Spaces inside the path: WHATWG URL parsing trims them at the ends.)
    let spaces = format!("{prefix}{}x", " ".repeat(2000));
    assert!(spaces.len() <= 4096);
    invalid_subscription(parse(&spaces, false));
}

#[test]
fn endpoint_is_kept_normalized() {
    let sub = parse("HTTPS://Push.Example.NET:443/a b", false).unwrap();
    assert_eq!(sub.endpoint(), "https://push.example.net/a%20b");
    assert_eq!(sub.origin().as_str(), "https://push.example.net");
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
        let msg = invalid_subscription(parse_keys(&bad, &b(AUTH)));
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
        let msg = invalid_subscription(parse_keys(&p256dh(), &bad));
        assert!(msg.contains("auth"), "{bad}: {msg}");
    }
}

#[test]
fn refuses_malformed_or_huge_json() {
    for json in ["", "{}", "null", r#"{"endpoint":"https://push.example.net/x"}"#, r#"{"endpoint":1,"keys":{}}"#] {
        invalid_subscription(ValidatedSubscription::from_json(json, false));
    }
    let huge = format!(r#"{{"endpoint":"https://push.example.net/{}"}}"#, "a".repeat(9000));
    let msg = invalid_subscription(ValidatedSubscription::from_json(&huge, false));
    assert!(msg.contains("8192"), "{msg}");
}

#[test]
fn subscription_errors_are_invalid_input() {
    let err = parse("http://push.example.net/x", false).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
}

#[test]
fn debug_never_shows_the_auth_secret() {
    let auth_b64 = kms_core::b64::encode(AUTH);
    let json = sub_json(ENDPOINT, &p256dh(), &auth_b64);
    let raw: PushSubscription = serde_json::from_str(&json).unwrap();
    let raw_dbg = format!("{raw:?}");
    assert!(!raw_dbg.contains(&auth_b64), "{raw_dbg}");
    assert!(raw_dbg.contains("<redacted>"), "{raw_dbg}");
    let sub = ValidatedSubscription::parse(&raw, false).unwrap();
    let dbg = format!("{sub:?}");
    assert!(!dbg.contains(&auth_b64), "{dbg}");
    assert!(!dbg.contains("APA91b"), "the endpoint's path stays out of Debug: {dbg}");
    assert!(dbg.contains("https://fcm.googleapis.com"), "{dbg}");
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
