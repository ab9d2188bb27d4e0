//! VAPID JWTs: claim validation (RFC 8292 section 2), signing checked by an
//! independent implementation (jsonwebtoken 11, RustCrypto backend), and the
//! `Authorization` header (RFC 8292 section 3).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

// Test code: a panic here is a failed test (as `clippy.toml` allows inside
// `#[test]` functions, extended to this file's helpers).

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use kms_core::testing::encoding::{b64, unb64};
use kms_core::vapid::{
    authorization_header, sign, validate, JwtRequest, PushOrigin, SignedJwt, VapidSigningKey, MAX_JWT_LIFETIME_S,
};
use kms_core::ErrorCode;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Deserialize;

const NOW_MS: u64 = 1_700_000_000_000;
const NOW_S: u64 = NOW_MS / 1000;

fn key(seed: u64) -> VapidSigningKey {
    VapidSigningKey::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

fn req(aud: &str, sub: &str, exp: u64, jti: Option<&str>) -> JwtRequest {
    JwtRequest { aud: aud.into(), sub: sub.into(), exp, jti: jti.map(Into::into) }
}

fn ok_req() -> JwtRequest {
    req("https://fcm.googleapis.com", "mailto:ops@example.com", NOW_S + 12 * 3600, None)
}

fn invalid_message(r: &JwtRequest, now_ms: u64) -> String {
    let err = validate(r, now_ms).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput, "{err}");
    err.to_string()
}

fn real_now_ms() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
struct Claims {
    aud: String,
    exp: u64,
    sub: String,
    jti: Option<String>,
}

fn decoding_key(k: &VapidSigningKey) -> DecodingKey {
    let jwk = k.public().jwk();
    DecodingKey::from_ec_components(&jwk.x, &jwk.y).unwrap()
}

fn validation(aud: &str) -> Validation {
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&[aud]);
    v.set_required_spec_claims(&["exp", "aud", "sub"]);
    v.leeway = 0;
    v
}

// ------------------------------------------------------------------ claims

#[test]
fn valid_claims_and_accessors() {
    let r = req("https://web.push.apple.com", "https://example.com/contact", NOW_S + 60, Some("id-1"));
    let c = validate(&r, NOW_MS).unwrap();
    assert_eq!(c.aud(), &PushOrigin::parse("https://web.push.apple.com").unwrap());
    assert_eq!(c.aud().as_str(), "https://web.push.apple.com");
    assert_eq!(c.sub(), "https://example.com/contact");
    assert_eq!(c.exp(), NOW_S + 60);
    assert_eq!(c.jti(), Some("id-1"));
    assert_eq!(validate(&ok_req(), NOW_MS).unwrap().jti(), None);
}

#[test]
fn exp_bounds() {
    let at = |exp: u64| validate(&req("https://fcm.googleapis.com", "mailto:a@b.c", exp, None), NOW_MS);
    let past = at(NOW_S - 1).unwrap_err().to_string();
    assert!(past.contains("exp must be in the future"), "{past}");
    let now = at(NOW_S).unwrap_err().to_string();
    assert!(now.contains("exp must be in the future"), "{now}");
    assert!(at(0).is_err());
    assert_eq!(at(NOW_S + 1).unwrap().exp(), NOW_S + 1);
    // Exactly 24 h is allowed; one second more is not.
    assert_eq!(MAX_JWT_LIFETIME_S, 86_400);
    assert_eq!(at(NOW_S + 86_400).unwrap().exp(), NOW_S + 86_400);
    let far = at(NOW_S + 86_401).unwrap_err().to_string();
    assert!(far.contains("at most 86400 s (24 h)"), "{far}");
    assert!(far.contains(&(NOW_S + 86_400).to_string()), "{far}");
    // No overflow on huge values.
    let huge = at(u64::MAX).unwrap_err().to_string();
    assert!(huge.contains("at most 86400 s"), "{huge}");
    assert!(at(u64::MAX / 1000 + 1).is_err());
    // A clock at the end of time does not wrap either.
    assert!(validate(&ok_req(), u64::MAX).is_err());
    // Sub-second clocks: exp must be strictly later than now.
    assert!(validate(&req("https://fcm.googleapis.com", "mailto:a@b.c", NOW_S + 1, None), NOW_MS + 999).is_ok());
    assert!(validate(&req("https://fcm.googleapis.com", "mailto:a@b.c", NOW_S + 1, None), NOW_MS + 1000).is_err());
}

#[test]
fn sub_must_be_mailto_or_https() {
    let with_sub = |s: &str| req("https://fcm.googleapis.com", s, NOW_S + 60, None);
    for good in ["mailto:ops@example.com", "https://example.com", "https://example.com/contact?x=1", "mailto:a@b"] {
        assert!(validate(&with_sub(good), NOW_MS).is_ok(), "{good}");
    }
    for bad in [
        "",
        "ops@example.com",
        "mailto:",
        "mailto:ops",
        "mailto:@example.com",
        "mailto:ops@",
        "http://example.com",
        "https://",
        // No authority: a WHATWG parser skips the extra slashes and takes
        // the path for the host; RFC 3986 reads an empty host.
        "https:///path",
        "https:///example.com/contact",
        "https:////example.com",
        "https://\\example.com",
        "https:example.com",
        "https://user:pw@example.com",
        "ftp://example.com",
        "MAILTO:ops@example.com",
        "mailto:ops @example.com",
        "mailto:öps@example.com",
        "mailto:ops@example.com\n",
    ] {
        let msg = invalid_message(&with_sub(bad), NOW_MS);
        assert!(msg.contains("sub"), "{bad:?}: {msg}");
    }
    let msg = invalid_message(&with_sub("ops@example.com"), NOW_MS);
    assert!(msg.contains("mailto:") && msg.contains("https:"), "{msg}");
    // Length cap: 512 bytes.
    let long = format!("mailto:a@{}", "b".repeat(512 - 9));
    assert_eq!(long.len(), 512);
    assert!(validate(&with_sub(&long), NOW_MS).is_ok());
    assert!(invalid_message(&with_sub(&format!("{long}b")), NOW_MS).contains("512"));
}

#[test]
fn jti_rules() {
    let with_jti = |j: &str| req("https://fcm.googleapis.com", "mailto:a@b.c", NOW_S + 60, Some(j));
    assert!(validate(&with_jti("a"), NOW_MS).is_ok());
    assert!(validate(&with_jti("a b~!#$%&'()*+,-./:;<=>?@[]^_`{|}"), NOW_MS).is_ok());
    assert!(validate(&with_jti(&"x".repeat(128)), NOW_MS).is_ok());
    assert!(invalid_message(&with_jti(&"x".repeat(129)), NOW_MS).contains("128"));
    assert!(invalid_message(&with_jti(""), NOW_MS).contains("jti"));
    assert!(invalid_message(&with_jti("a\"b"), NOW_MS).contains("jti"));
    assert!(invalid_message(&with_jti("a\\b"), NOW_MS).contains("jti"));
    assert!(invalid_message(&with_jti("a\nb"), NOW_MS).contains("jti"));
    assert!(invalid_message(&with_jti("é"), NOW_MS).contains("jti"));
}

#[test]
fn aud_must_be_origin() {
    let r = req("https://fcm.googleapis.com/fcm/send/abc:def", "mailto:a@b.c", NOW_S + 60, None);
    let msg = invalid_message(&r, NOW_MS);
    assert!(msg.contains("aud must be an origin"), "{msg}");
    assert!(msg.contains("\"https://fcm.googleapis.com\""), "{msg}");
    let r = req("http://push.example.com", "mailto:a@b.c", NOW_S + 60, None);
    assert!(invalid_message(&r, NOW_MS).contains("https"));
}

#[test]
fn request_json_is_strict() {
    let r: JwtRequest =
        serde_json::from_str(r#"{"aud":"https://fcm.googleapis.com","sub":"mailto:a@b.c","exp":5}"#).unwrap();
    assert_eq!(r, req("https://fcm.googleapis.com", "mailto:a@b.c", 5, None));
    assert!(serde_json::from_str::<JwtRequest>(
        r#"{"aud":"https://fcm.googleapis.com","sub":"mailto:a@b.c","exp":5,"iss":"x"}"#
    )
    .is_err());
    assert!(serde_json::from_str::<JwtRequest>(r#"{"aud":"https://fcm.googleapis.com","sub":"mailto:a@b.c"}"#).is_err());
    assert!(serde_json::from_str::<JwtRequest>(
        r#"{"aud":"https://fcm.googleapis.com","sub":"mailto:a@b.c","exp":-1}"#
    )
    .is_err());
}

// ------------------------------------------------------------------ signing

#[test]
fn jwt_layout_is_exact() {
    let k = key(3);
    let c = validate(&ok_req(), NOW_MS).unwrap();
    let jwt = sign(&k, &c).unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(unb64(parts[0]), br#"{"typ":"JWT","alg":"ES256"}"#);
    assert_eq!(
        String::from_utf8(unb64(parts[1])).unwrap(),
        format!(r#"{{"aud":"https://fcm.googleapis.com","exp":{},"sub":"mailto:ops@example.com"}}"#, NOW_S + 43_200)
    );
    // Raw r || s, not DER.
    let sig: [u8; 64] = unb64(parts[2]).try_into().unwrap();
    assert!(k.public().verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &sig));
    // No padding anywhere.
    assert!(!jwt.contains('='));
    // Deterministic signatures: same key and claims, same token.
    assert_eq!(sign(&k, &c).unwrap(), jwt);

    let with_jti = validate(&req("https://fcm.googleapis.com", "mailto:a@b.c", NOW_S + 1, Some("j1")), NOW_MS).unwrap();
    let jwt = sign(&k, &with_jti).unwrap();
    let payload = String::from_utf8(unb64(jwt.split('.').nth(1).unwrap())).unwrap();
    assert_eq!(
        payload,
        format!(r#"{{"aud":"https://fcm.googleapis.com","exp":{},"sub":"mailto:a@b.c","jti":"j1"}}"#, NOW_S + 1)
    );
}

/// jsonwebtoken (an independent implementation) verifies our token against
/// the public key as a JWK, with audience and expiry checks.
#[test]
fn jsonwebtoken_verifies_our_jwt() {
    let k = key(4);
    let now = real_now_ms();
    let exp = now / 1000 + 12 * 3600;
    let r = req("https://updates.push.services.mozilla.com", "https://example.com/ops", exp, Some("t-1"));
    let jwt = sign(&k, &validate(&r, now).unwrap()).unwrap();

    let header = jsonwebtoken::decode_header(&jwt).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    assert_eq!(header.kid, None);

    let data = jsonwebtoken::decode::<Claims>(
        &jwt,
        &decoding_key(&k),
        &validation("https://updates.push.services.mozilla.com"),
    )
    .unwrap();
    assert_eq!(
        data.claims,
        Claims {
            aud: "https://updates.push.services.mozilla.com".into(),
            exp,
            sub: "https://example.com/ops".into(),
            jti: Some("t-1".into()),
        }
    );

    // Another audience, another key: refused.
    assert!(jsonwebtoken::decode::<Claims>(&jwt, &decoding_key(&k), &validation("https://fcm.googleapis.com")).is_err());
    assert!(jsonwebtoken::decode::<Claims>(
        &jwt,
        &decoding_key(&key(5)),
        &validation("https://updates.push.services.mozilla.com")
    )
    .is_err());
}

#[test]
fn jsonwebtoken_rejects_tampered_tokens() {
    let k = key(6);
    let now = real_now_ms();
    let aud = "https://fcm.googleapis.com";
    let jwt = sign(&k, &validate(&req(aud, "mailto:a@b.c", now / 1000 + 600, None), now).unwrap()).unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    let dk = decoding_key(&k);
    assert!(jsonwebtoken::decode::<Claims>(&jwt, &dk, &validation(aud)).is_ok());

    // Payload replaced: a later exp, same everything else.
    let forged_payload = format!(r#"{{"aud":"{aud}","exp":{},"sub":"mailto:a@b.c"}}"#, now / 1000 + 86_000);
    let forged = format!("{}.{}.{}", parts[0], b64(forged_payload.as_bytes()), parts[2]);
    let err = jsonwebtoken::decode::<Claims>(&forged, &dk, &validation(aud)).unwrap_err();
    assert_eq!(err.kind(), &jsonwebtoken::errors::ErrorKind::InvalidSignature);

    // Signature bit flipped.
    let mut sig = unb64(parts[2]);
    sig[10] ^= 1;
    let forged = format!("{}.{}.{}", parts[0], parts[1], b64(&sig));
    assert!(jsonwebtoken::decode::<Claims>(&forged, &dk, &validation(aud)).is_err());
}

/// Strings reach the payload through serde_json, so quotes and backslashes
/// in `sub` are escaped rather than breaking out of the string.
#[test]
fn payload_strings_are_json_escaped() {
    let k = key(7);
    let now = real_now_ms();
    let sub = r#"https://example.com/a"b\c"#;
    let jwt =
        sign(&k, &validate(&req("https://fcm.googleapis.com", sub, now / 1000 + 60, None), now).unwrap()).unwrap();
    let payload = String::from_utf8(unb64(jwt.split('.').nth(1).unwrap())).unwrap();
    assert!(payload.contains(r#""sub":"https://example.com/a\"b\\c""#), "{payload}");
    let data =
        jsonwebtoken::decode::<Claims>(&jwt, &decoding_key(&k), &validation("https://fcm.googleapis.com")).unwrap();
    assert_eq!(data.claims.sub, sub);
}

// ----------------------------------------------------- Authorization header

#[test]
fn authorization_header_format() {
    let k = key(8);
    let c = validate(&ok_req(), NOW_MS).unwrap();
    let jwt = sign(&k, &c).unwrap();
    let header = authorization_header(&jwt, &k.public());
    assert_eq!(header, format!("vapid t={jwt}, k={}", k.public().to_sec1_b64()));
    let rest = header.strip_prefix("vapid t=").unwrap();
    let (t, kpart) = rest.split_once(", k=").unwrap();
    assert_eq!(t, jwt);
    // k is the 65-byte uncompressed point, base64url (87 characters).
    assert_eq!(kpart.len(), 87);
    let raw = unb64(kpart);
    assert_eq!(raw.len(), 65);
    assert_eq!(raw[0], 0x04);

    let signed = SignedJwt::issue(&k, &c).unwrap();
    assert_eq!(signed.jwt, jwt);
    assert_eq!(signed.kid, k.public().thumbprint());
    assert_eq!(signed.exp, NOW_S + 43_200);
    assert_eq!(signed.authorization, header);
    let json = serde_json::to_value(&signed).unwrap();
    assert_eq!(json["authorization"], header);
    assert_eq!(json["kid"], k.public().thumbprint().as_str());
    assert_eq!(serde_json::from_value::<SignedJwt>(json).unwrap(), signed);
}
