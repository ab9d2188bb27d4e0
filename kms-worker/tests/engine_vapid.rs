//! Per-user VAPID keys (generate, public view, rotate) and the JWTs they
//! sign, checked by an independent JWT implementation (jsonwebtoken).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use kms_core::rpc::{Call, RotateResult, SessionParams, SignJwtParams, UserParams, VapidKeys};
use kms_core::session::SessionToken;
use kms_core::vapid::{JwtRequest, KeyStatus, SignedJwt, VapidPublicInfo};
use kms_core::ErrorCode;
use serde_json::json;
use support::*;

const AUD: &str = "https://fcm.googleapis.com";
const SUB: &str = "mailto:ops@example.com";

fn alice(h: &mut Harness) -> SessionToken {
    h.setup_prf("alice", b"alice-cred", &prf_bytes(1)).session
}

fn sp(user: &str, s: &SessionToken) -> SessionParams {
    Harness::session_params(user, s)
}

fn claims(aud: &str, sub: &str, exp: u64) -> JwtRequest {
    JwtRequest { aud: aud.into(), sub: sub.into(), exp, jti: None }
}

fn sign_call(user: &str, s: &SessionToken, claims: JwtRequest) -> Call {
    Call::SignJwt(SignJwtParams { user: uid(user), session: s.clone(), claims })
}

/// Checks a public key description against itself: the point, the JWK and
/// the kid must all describe the same key, the kid being its RFC 7638
/// thumbprint (computed here, not by the engine).
fn check_public_info(info: &VapidPublicInfo) {
    let point = unb64(&info.public_key);
    assert_eq!(point.len(), 65, "uncompressed P-256 point");
    assert_eq!(point[0], 0x04);
    assert_eq!(info.jwk.kty, "EC");
    assert_eq!(info.jwk.crv, "P-256");
    assert_eq!(unb64(&info.jwk.x), point[1..33].to_vec());
    assert_eq!(unb64(&info.jwk.y), point[33..65].to_vec());
    assert_eq!(info.kid.as_str(), rfc7638_thumbprint(&info.jwk.x, &info.jwk.y));
    // The point is on the curve.
    assert!(p256::PublicKey::from_sec1_bytes(&point).is_ok());
}

// ------------------------------------------------------------------ 10. keys

#[test]
fn generate_once_then_public_view_without_a_session() {
    let mut h = Harness::new(301);
    let s = alice(&mut h);

    // Before any key: an explicit null, over the wire.
    let v = h.rpc_ok("vapid_public", json!({"user": "alice"}));
    assert_eq!(v, json!({"current": null, "retired": []}));
    let e = h.rpc_err("vapid_public", json!({"user": "nobody"}));
    assert_eq!(e["code"], "not_found");
    // vapid_public takes no session, and refuses one it does not need.
    let e = h.rpc_err("vapid_public", json!({"user": "alice", "session": s}));
    assert_eq!(e["code"], "invalid_input");

    // Generating needs a session.
    let before = h.snapshot();
    let e = h.err(Call::VapidGenerate(sp("alice", &token(&b64([3u8; 32])))));
    assert_eq!(e.code, ErrorCode::Locked, "{e}");
    assert_eq!(h.snapshot(), before);

    let key: VapidPublicInfo = h.ok(Call::VapidGenerate(sp("alice", &s)));
    check_public_info(&key);
    assert_eq!((key.version, key.status, key.created_ms, key.retired_ms), (1, KeyStatus::Current, h.now(), None));
    // What was written: the key record (private half sealed) and the user record.
    let changed: Vec<String> = changed_keys(&before, &h.snapshot()).into_iter().collect();
    assert_eq!(changed, vec![user_key("alice"), vapid_key("alice", key.kid.as_str())]);
    let record = h.record(&vapid_key("alice", key.kid.as_str()));
    assert_eq!(record["public_key"], json!(key.public_key));
    let sealed = unb64(record["sealed"].as_str().unwrap());
    assert_eq!(sealed.len(), 12 + 138 + 16, "nonce, the sealed 138-byte PKCS#8, tag");
    assert_eq!(record["v"], json!(2), "format 2: PKCS#8");
    assert_eq!(h.record(&user_key("alice"))["current_kid"], json!(key.kid.as_str()));

    // Twice: refused, nothing changes.
    let before = h.snapshot();
    let e = h.err(Call::VapidGenerate(sp("alice", &s)));
    assert_eq!(e.code, ErrorCode::AlreadyExists, "{e}");
    assert_eq!(h.snapshot(), before);

    // The public view needs no session (none is open after a restart).
    h.restart(kms_worker::KmsConfig::default());
    let keys: VapidKeys = h.ok(Call::VapidPublic(UserParams { user: uid("alice") }));
    assert_eq!(keys.current.as_ref(), Some(&key));
    assert!(keys.retired.is_empty());
}

#[test]
fn rotate_retires_the_old_key_and_old_tokens_still_verify_with_it() {
    let mut h = Harness::new(302);
    let s = alice(&mut h);

    // Nothing to rotate yet.
    let e = h.err(Call::VapidRotate(sp("alice", &s)));
    assert_eq!(e.code, ErrorCode::NotFound, "{e}");

    let old: VapidPublicInfo = h.ok(Call::VapidGenerate(sp("alice", &s)));
    let exp = h.now() / 1000 + 12 * 3600;
    let before_jwt: SignedJwt = h.ok(sign_call("alice", &s, claims(AUD, SUB, exp)));
    assert_eq!(before_jwt.kid, old.kid);

    // Rotation needs a session.
    let before = h.snapshot();
    assert_eq!(h.err(Call::VapidRotate(sp("alice", &token(&b64([4u8; 32]))))).code, ErrorCode::Locked);
    assert_eq!(h.snapshot(), before);

    h.clock.advance(60_000);
    let r: RotateResult = h.ok(Call::VapidRotate(sp("alice", &s)));
    check_public_info(&r.current);
    assert_ne!(r.current.kid, old.kid);
    assert_ne!(r.current.public_key, old.public_key);
    assert_eq!((r.current.version, r.current.status), (2, KeyStatus::Current));
    assert_eq!(r.retired.kid, old.kid);
    assert_eq!(r.retired.public_key, old.public_key);
    assert_eq!((r.retired.status, r.retired.retired_ms), (KeyStatus::Retired, Some(h.now())));
    assert!(r.resubscribe_required);
    assert!(r.note.contains(old.kid.as_str()) && r.note.contains(r.current.kid.as_str()), "{}", r.note);

    let keys: VapidKeys = h.ok(Call::VapidPublic(UserParams { user: uid("alice") }));
    assert_eq!(keys.current.as_ref(), Some(&r.current));
    assert_eq!(keys.retired, vec![r.retired.clone()]);

    // New tokens are signed by the new key only.
    let after_jwt: SignedJwt = h.ok(sign_call("alice", &s, claims(AUD, SUB, exp)));
    assert_eq!(after_jwt.kid, r.current.kid);
    assert_eq!(after_jwt.authorization, format!("vapid t={}, k={}", after_jwt.jwt, r.current.public_key));

    let (old_x, old_y) = (&keys.retired[0].jwk.x, &keys.retired[0].jwk.y);
    let (new_x, new_y) = (&r.current.jwk.x, &r.current.jwk.y);
    let claims_before = verify_jwt(&before_jwt.jwt, old_x, old_y, AUD).expect("old token, retired key");
    assert_eq!(claims_before, VapidClaims { aud: AUD.into(), exp, sub: SUB.into(), jti: None });
    verify_jwt(&after_jwt.jwt, new_x, new_y, AUD).expect("new token, new key");
    assert!(verify_jwt(&before_jwt.jwt, new_x, new_y, AUD).is_err());
    assert!(verify_jwt(&after_jwt.jwt, old_x, old_y, AUD).is_err());

    // Again: version 3, both older keys listed newest first.
    let r3: RotateResult = h.ok(Call::VapidRotate(sp("alice", &s)));
    assert_eq!(r3.current.version, 3);
    let keys: VapidKeys = h.ok(Call::VapidPublic(UserParams { user: uid("alice") }));
    let versions: Vec<u32> = keys.retired.iter().map(|k| k.version).collect();
    assert_eq!(versions, vec![2, 1]);
}

#[test]
fn a_key_record_whose_public_half_was_swapped_is_refused() {
    // The stored public key is not authenticated at rest: whoever edits the
    // store can swap it for another key. Opening the record must notice that
    // it does not belong to the sealed private key.
    let mut h = Harness::new(303);
    let s = alice(&mut h);
    let key: VapidPublicInfo = h.ok(Call::VapidGenerate(sp("alice", &s)));
    let bob_s = h.setup_prf("bob", b"bob-cred", &prf_bytes(2)).session;
    let bob_key: VapidPublicInfo = h.ok(Call::VapidGenerate(sp("bob", &bob_s)));

    let k = vapid_key("alice", key.kid.as_str());
    let mut rec = h.record(&k);
    rec["public_key"] = json!(bob_key.public_key);
    h.put_record(&k, &rec);
    let before = h.snapshot();
    // A fresh session, so nothing unsealed earlier can be reused.
    h.restart(kms_worker::KmsConfig::default());
    let s = session_of(&h.unlock_prf("alice", b"alice-cred", &prf_bytes(1)).unwrap());
    let exp = h.now() / 1000 + 60;
    let e = h.err(sign_call("alice", &s, claims(AUD, SUB, exp)));
    assert_eq!(e.code, ErrorCode::Internal, "{e}");
    let e = h.err(Call::VapidPublic(UserParams { user: uid("alice") }));
    assert_eq!(e.code, ErrorCode::Internal, "{e}");
    assert_eq!(h.snapshot(), before);
}

// ------------------------------------------------------------------ 11. JWT

#[test]
fn sign_jwt_gives_a_token_jsonwebtoken_accepts() {
    let mut h = Harness::new(304);
    let s = alice(&mut h);
    let exp = h.now() / 1000 + 12 * 3600;

    // No key yet.
    let e = h.err(sign_call("alice", &s, claims(AUD, SUB, exp)));
    assert_eq!(e.code, ErrorCode::NotFound, "{e}");

    let key: VapidPublicInfo = h.ok(Call::VapidGenerate(sp("alice", &s)));
    let before = h.snapshot();
    let signed = h.rpc_ok(
        "sign_jwt",
        json!({"user": "alice", "session": s, "claims": {"aud": AUD, "sub": SUB, "exp": exp, "jti": "push-1"}}),
    );
    assert_eq!(signed["kid"], json!(key.kid.as_str()));
    assert_eq!(signed["exp"], json!(exp));
    let jwt = signed["jwt"].as_str().unwrap();
    assert_eq!(signed["authorization"], json!(format!("vapid t={jwt}, k={}", key.public_key)));

    let header = jsonwebtoken::decode_header(jwt).unwrap();
    assert_eq!(header.alg, jsonwebtoken::Algorithm::ES256);
    let c = verify_jwt(jwt, &key.jwk.x, &key.jwk.y, AUD).expect("a valid ES256 VAPID token");
    assert_eq!(c, VapidClaims { aud: AUD.into(), exp, sub: SUB.into(), jti: Some("push-1".into()) });
    // The verifier is not a rubber stamp.
    assert!(verify_jwt(jwt, &key.jwk.x, &key.jwk.y, "https://other.example").is_err());
    let mut forged = jwt.to_owned();
    forged.push('A');
    assert!(verify_jwt(&forged, &key.jwk.x, &key.jwk.y, AUD).is_err());

    // Signing writes nothing; exactly 24 h ahead is the limit and allowed.
    let max: SignedJwt = h.ok(sign_call("alice", &s, claims(AUD, SUB, h.now() / 1000 + 86_400)));
    verify_jwt(&max.jwt, &key.jwk.x, &key.jwk.y, AUD).unwrap();
    assert_eq!(h.snapshot(), before);
}

#[test]
fn sign_jwt_refuses_bad_claims_and_writes_nothing() {
    let mut h = Harness::new(305);
    let s = alice(&mut h);
    h.ok::<VapidPublicInfo>(Call::VapidGenerate(sp("alice", &s)));
    let now_s = h.now() / 1000;
    let good_exp = now_s + 3600;
    let before = h.snapshot();

    let cases: Vec<(&str, JwtRequest, &str)> = vec![
        (
            "the endpoint instead of its origin",
            claims("https://fcm.googleapis.com/fcm/send/abc:123", SUB, good_exp),
            "\"https://fcm.googleapis.com\"",
        ),
        ("a trailing slash", claims("https://fcm.googleapis.com/", SUB, good_exp), "\"https://fcm.googleapis.com\""),
        ("plain http to a remote host", claims("http://push.example.net", SUB, good_exp), "https"),
        ("exp over 24 h ahead", claims(AUD, SUB, now_s + 86_401), "24 h"),
        ("exp now", claims(AUD, SUB, now_s), "future"),
        ("exp in the past", claims(AUD, SUB, now_s - 1), "future"),
        ("exp zero", claims(AUD, SUB, 0), "future"),
        ("exp huge", claims(AUD, SUB, u64::MAX), "24 h"),
        ("sub as a bare address", claims(AUD, "ops@example.com", good_exp), "mailto"),
        ("sub over http", claims(AUD, "http://example.com/contact", good_exp), "mailto"),
        ("sub mailto without address", claims(AUD, "mailto:", good_exp), "mailto"),
        ("sub empty", claims(AUD, "", good_exp), "sub"),
        ("jti with a quote", JwtRequest { jti: Some("a\"b".into()), ..claims(AUD, SUB, good_exp) }, "jti"),
    ];
    for (name, c, hint) in cases {
        let e = h.err(sign_call("alice", &s, c));
        assert_eq!(e.code, ErrorCode::InvalidInput, "{name}: {e}");
        assert!(e.message.contains(hint), "{name}: message should mention {hint}: {e}");
        assert_eq!(h.snapshot(), before, "{name}");
    }

    // Without a session, the claims are not even looked at.
    let e = h.err(sign_call("alice", &token(&b64([5u8; 32])), claims("not a url", "", 0)));
    assert_eq!(e.code, ErrorCode::Locked, "{e}");
}

#[test]
fn a_user_has_at_most_256_vapid_keys() {
    let mut h = Harness::new(306);
    let s = alice(&mut h);
    h.ok::<VapidPublicInfo>(Call::VapidGenerate(sp("alice", &s)));
    // Pretend 254 rotations happened (behind the engine's back: only the
    // counter matters for the cap).
    let mut meta = h.record(&user_key("alice"));
    meta["next_vapid_version"] = json!(256);
    h.put_record(&user_key("alice"), &meta);

    let r: RotateResult = h.ok(Call::VapidRotate(sp("alice", &s)));
    assert_eq!(r.current.version, 256, "the 256th key is allowed");
    let before = h.snapshot();
    let e = h.err(Call::VapidRotate(sp("alice", &s)));
    assert_eq!(e.code, ErrorCode::Forbidden, "{e}");
    assert!(e.message.contains("256"), "{e}");
    assert_eq!(h.snapshot(), before);
    // The current key keeps signing.
    let exp = h.now() / 1000 + 60;
    let jwt: SignedJwt = h.ok(sign_call("alice", &s, claims(AUD, SUB, exp)));
    assert_eq!(jwt.kid, r.current.kid);
}
