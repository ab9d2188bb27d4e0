//! The relay's token holder: which token is picked for a push service, what
//! it says when none is valid, and which tokens it refuses to hold.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use kms_client::relay::{RelayError, TokenHolder};
use kms_core::vapid::{self, JwtRequest, PushOrigin, SignedJwt, VapidSigningKey};
use kms_core::ErrorCode;
use rand_chacha::rand_core::SeedableRng as _;
use rand_chacha::ChaCha20Rng;

const T: u64 = 1_700_000_000;
const FCM: &str = "https://fcm.googleapis.com";
const MOZ: &str = "https://updates.push.services.mozilla.com";

fn key(seed: u64) -> VapidSigningKey {
    VapidSigningKey::generate(&mut ChaCha20Rng::seed_from_u64(seed))
}

fn origin(s: &str) -> PushOrigin {
    PushOrigin::parse(s).unwrap()
}

/// A token as the KMS issues it: for `aud`, expiring at `exp`, signed when
/// it was at most 24 h away.
fn token(key: &VapidSigningKey, aud: &str, exp: u64) -> SignedJwt {
    let req = JwtRequest { aud: aud.into(), sub: "mailto:ops@example.com".into(), exp, jti: None };
    let issued_ms = (exp - 3600) * 1000;
    SignedJwt::issue(key, &vapid::validate(&req, issued_ms).unwrap()).unwrap()
}

/// A self-consistent token (authorization, kid, valid signature) over any
/// header and payload JSON, which the KMS itself would never sign.
fn forged(key: &VapidSigningKey, header: &str, payload: &str, exp: u64) -> SignedJwt {
    let input = format!("{}.{}", kms_core::b64::encode(header), kms_core::b64::encode(payload));
    let sig = key.sign(input.as_bytes()).unwrap();
    let jwt = format!("{input}.{}", kms_core::b64::encode(sig));
    SignedJwt {
        authorization: vapid::authorization_header(&jwt, &key.public()),
        kid: key.public().thumbprint(),
        exp,
        jti: None,
        jwt,
    }
}

fn holder(tokens: impl IntoIterator<Item = SignedJwt>) -> TokenHolder {
    let mut h = TokenHolder::new();
    for t in tokens {
        h.insert(t).unwrap();
    }
    h
}

// ---------------------------------------------------------------------------
// Picking

#[test]
fn picks_the_valid_token_with_the_latest_expiry() {
    let k = key(1);
    let (a, b, c) = (token(&k, FCM, T + 100), token(&k, FCM, T + 5000), token(&k, FCM, T + 3000));
    for order in [[&a, &b, &c], [&b, &c, &a], [&c, &a, &b]] {
        let h = holder(order.into_iter().cloned());
        assert_eq!(h.pick(&origin(FCM), T, 0).unwrap(), &b);
        assert_eq!(h.len(), 3);
    }
}

#[test]
fn skips_expired_tokens_even_with_a_later_issue() {
    let k = key(2);
    let h = holder([token(&k, FCM, T + 100), token(&k, FCM, T + 50)]);
    assert_eq!(h.pick(&origin(FCM), T + 60, 0).unwrap().exp, T + 100);
}

#[test]
fn a_token_is_expired_at_its_exp() {
    let k = key(3);
    let h = holder([token(&k, FCM, T + 100)]);
    assert_eq!(h.pick(&origin(FCM), T + 99, 0).unwrap().exp, T + 100);
    assert_eq!(
        h.pick(&origin(FCM), T + 100, 0).unwrap_err(),
        RelayError::NoValidToken { origin: origin(FCM), latest_expired_at: Some(T + 100) }
    );
}

#[test]
fn min_remaining_excludes_tokens_that_expire_too_soon() {
    let k = key(4);
    let h = holder([token(&k, FCM, T + 100), token(&k, FCM, T + 5000)]);
    assert_eq!(h.pick(&origin(FCM), T, 4999).unwrap().exp, T + 5000);
    assert_eq!(h.pick(&origin(FCM), T, 5000).unwrap().exp, T + 5000);
    // None has expired yet: they all expire within the margin.
    assert_eq!(
        h.pick(&origin(FCM), T, 5001).unwrap_err(),
        RelayError::NoValidToken { origin: origin(FCM), latest_expired_at: None }
    );
    // The shorter one alone would not do with a margin it cannot meet.
    let h = holder([token(&k, FCM, T + 100)]);
    assert_eq!(h.pick(&origin(FCM), T, 100).unwrap().exp, T + 100);
    assert!(h.pick(&origin(FCM), T, 101).is_err());
}

#[test]
fn never_picks_a_token_for_another_origin() {
    let k = key(5);
    let moz = token(&k, MOZ, T + 5000);
    let h = holder([token(&k, FCM, T + 100), moz.clone()]);
    assert_eq!(h.pick(&origin(MOZ), T, 0).unwrap(), &moz);
    assert_eq!(h.pick(&origin(FCM), T, 0).unwrap().exp, T + 100);
    let apple = origin("https://web.push.apple.com");
    let err = h.pick(&apple, T, 0).unwrap_err();
    assert_eq!(err, RelayError::NoTokenForOrigin { origin: apple.clone() });
    assert_eq!(err.code(), ErrorCode::NotFound);
    assert!(err.to_string().contains("https://web.push.apple.com"), "{err}");
    // Same host, other port or scheme: another origin.
    assert!(h.pick(&origin("https://fcm.googleapis.com:8443"), T, 0).is_err());
}

#[test]
fn no_valid_token_tells_the_operator_what_to_do() {
    let k = key(6);
    let h = holder([token(&k, FCM, T + 100), token(&k, FCM, T + 200)]);
    let err = h.pick(&origin(FCM), T + 1000, 0).unwrap_err();
    assert_eq!(err, RelayError::NoValidToken { origin: origin(FCM), latest_expired_at: Some(T + 200) });
    assert_eq!(err.code(), ErrorCode::NotFound);
    let msg = err.to_string();
    assert!(msg.contains(FCM), "{msg}");
    assert!(msg.contains(&(T + 200).to_string()), "{msg}");
    assert!(msg.contains("obtain new tokens under the lease"), "{msg}");
}

#[test]
fn prune_drops_expired_tokens_but_remembers_the_origin() {
    let k = key(7);
    let mut h = holder([token(&k, FCM, T + 100), token(&k, FCM, T + 200), token(&k, MOZ, T + 5000)]);
    h.prune(T + 100);
    assert_eq!(h.len(), 2);
    h.prune(T + 1000);
    assert_eq!(h.len(), 1);
    assert_eq!(
        h.pick(&origin(FCM), T + 1000, 0).unwrap_err(),
        RelayError::NoValidToken { origin: origin(FCM), latest_expired_at: Some(T + 200) }
    );
    // A later prune with nothing to drop keeps the remembered expiry.
    h.prune(T + 2000);
    assert_eq!(
        h.pick(&origin(FCM), T + 2000, 0).unwrap_err(),
        RelayError::NoValidToken { origin: origin(FCM), latest_expired_at: Some(T + 200) }
    );
    assert_eq!(h.pick(&origin(MOZ), T + 2000, 0).unwrap().exp, T + 5000);
    h.prune(T + 5000);
    assert!(h.is_empty());
}

#[test]
fn new_tokens_after_expiry_are_picked_again() {
    let k = key(8);
    let mut h = holder([token(&k, FCM, T + 100)]);
    h.prune(T + 200);
    assert!(h.pick(&origin(FCM), T + 200, 0).is_err());
    h.insert(token(&k, FCM, T + 4000)).unwrap();
    assert_eq!(h.pick(&origin(FCM), T + 200, 0).unwrap().exp, T + 4000);
}

#[test]
fn needs_refresh_follows_the_margin() {
    let k = key(9);
    let h = holder([token(&k, FCM, T + 3600)]);
    assert!(!h.needs_refresh(&origin(FCM), T, 600));
    assert!(!h.needs_refresh(&origin(FCM), T + 3000, 600));
    assert!(h.needs_refresh(&origin(FCM), T + 3001, 600));
    assert!(h.needs_refresh(&origin(FCM), T + 3600, 0));
    assert!(h.needs_refresh(&origin(MOZ), T, 0), "no token ever: needs one");
}

#[test]
fn authorization_is_the_picked_tokens_header() {
    let k = key(10);
    let (short, long) = (token(&k, FCM, T + 100), token(&k, FCM, T + 5000));
    let h = holder([short, long.clone()]);
    let auth = h.authorization(&origin(FCM), T, 0).unwrap();
    assert_eq!(auth, long.authorization);
    assert_eq!(auth, format!("vapid t={}, k={}", long.jwt, k.public().to_sec1_b64()));
    assert!(matches!(h.authorization(&origin(FCM), T, 5001), Err(RelayError::NoValidToken { .. })));
}

#[test]
fn inserting_the_same_token_twice_holds_it_once() {
    let k = key(11);
    let t = token(&k, FCM, T + 100);
    let h = holder([t.clone(), t]);
    assert_eq!(h.len(), 1);
}

#[test]
fn expiries_list_every_token_by_audience_then_expiry_without_the_jwt() {
    let k = key(13);
    let h = holder([token(&k, FCM, T + 300), token(&k, MOZ, T + 50), token(&k, FCM, T + 100)]);
    let listed: Vec<(String, u64)> = h.expiries().into_iter().map(|(o, exp, _)| (o.as_str().to_owned(), exp)).collect();
    assert_eq!(listed, [(FCM.to_owned(), T + 100), (FCM.to_owned(), T + 300), (MOZ.to_owned(), T + 50)]);
    let kid = k.public().thumbprint();
    assert!(h.expiries().iter().all(|(_, _, k)| **k == kid));
}

#[test]
fn debug_shows_no_token() {
    let k = key(12);
    let t = token(&k, FCM, T + 100);
    let h = holder([t.clone()]);
    let dbg = format!("{h:?}");
    assert!(dbg.contains(FCM), "{dbg}");
    assert!(dbg.contains(&(T + 100).to_string()), "{dbg}");
    let signature = t.jwt.rsplit('.').next().unwrap();
    assert!(!dbg.contains(signature), "{dbg}");
    assert!(!dbg.contains("vapid"), "{dbg}");
}

// ---------------------------------------------------------------------------
// Tokens the holder refuses

fn refused(t: SignedJwt) -> String {
    let err = TokenHolder::new().insert(t).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    match err {
        RelayError::InvalidToken(msg) => msg,
        other => panic!("expected InvalidToken, got {other:?}"),
    }
}

#[test]
fn forged_helper_makes_acceptable_tokens() {
    // The control for the refusals below: a forged token with sound claims
    // is accepted, so each refusal is down to the one thing changed.
    let k = key(20);
    let t = forged(&k, r#"{"typ":"JWT","alg":"ES256"}"#, &format!(r#"{{"aud":"{FCM}","exp":{}}}"#, T + 60), T + 60);
    let h = holder([t]);
    assert_eq!(h.pick(&origin(FCM), T, 0).unwrap().exp, T + 60);
}

#[test]
fn refuses_malformed_jwts() {
    let k = key(21);
    let good = token(&k, FCM, T + 100);
    let too_long = format!("{}.{}.{}", "a".repeat(2000), "b".repeat(2000), "c".repeat(200));
    for jwt in ["", "abc", "a.b", "a.b.c.d", "..", "!!.??.**", too_long.as_str()] {
        let mut t = good.clone();
        t.jwt = jwt.to_owned();
        t.authorization = vapid::authorization_header(jwt, &k.public());
        refused(t);
    }
}

#[test]
fn refuses_a_token_whose_signature_does_not_verify() {
    let k = key(22);
    let t = token(&k, FCM, T + 100);
    // Another origin in the payload, the original signature.
    let (input, sig) = t.jwt.rsplit_once('.').unwrap();
    let (header, _) = input.split_once('.').unwrap();
    let payload =
        kms_core::b64::encode(format!(r#"{{"aud":"{MOZ}","exp":{},"sub":"mailto:ops@example.com"}}"#, T + 100));
    let jwt = format!("{header}.{payload}.{sig}");
    let tampered = SignedJwt { authorization: vapid::authorization_header(&jwt, &k.public()), jwt, ..t.clone() };
    assert!(refused(tampered).contains("signature"));
    // Signed by another key than k says.
    let other = key(23);
    let t2 = SignedJwt {
        authorization: vapid::authorization_header(&t.jwt, &other.public()),
        kid: other.public().thumbprint(),
        ..t
    };
    assert!(refused(t2).contains("signature"));
}

#[test]
fn refuses_an_exp_that_differs_from_the_jwt() {
    let k = key(24);
    let mut t = token(&k, FCM, T + 100);
    t.exp = T + 10_000;
    assert!(refused(t).contains("exp"));
}

#[test]
fn refuses_an_authorization_for_another_jwt_or_not_canonical() {
    let k = key(25);
    let a = token(&k, FCM, T + 100);
    let b = token(&k, FCM, T + 200);
    refused(SignedJwt { authorization: b.authorization.clone(), ..a.clone() });
    refused(SignedJwt { authorization: a.authorization.replace("vapid t=", "WebPush "), ..a.clone() });
    refused(SignedJwt { authorization: format!("{} ", a.authorization), ..a.clone() });
    refused(SignedJwt { authorization: format!("vapid t={}, k=AAAA", a.jwt), ..a });
}

#[test]
fn refuses_a_kid_that_is_not_the_keys_thumbprint() {
    let k = key(26);
    let t = token(&k, FCM, T + 100);
    let t = SignedJwt { kid: key(27).public().thumbprint(), ..t };
    assert!(refused(t).contains("kid"));
}

#[test]
fn refuses_claims_the_kms_would_never_sign() {
    let k = key(28);
    let header = r#"{"typ":"JWT","alg":"ES256"}"#;
    let exp = T + 60;
    for payload in [
        format!(r#"{{"aud":"{FCM}/fcm/send/abc","exp":{exp}}}"#), // full endpoint, not the origin
        format!(r#"{{"aud":"http://push.example.net","exp":{exp}}}"#), // http, not loopback
        format!(r#"{{"exp":{exp}}}"#),
        format!(r#"{{"aud":"{FCM}"}}"#),
        format!(r#"{{"aud":"{FCM}","exp":"{exp}"}}"#),
        format!(r#"{{"aud":"{FCM}","exp":-1}}"#),
        format!(r#"{{"aud":["{FCM}"],"exp":{exp}}}"#),
        format!(r#"{{"aud":"{FCM}","aud":"{MOZ}","exp":{exp}}}"#),
        "not json".to_owned(),
        "[]".to_owned(),
    ] {
        refused(forged(&k, header, &payload, exp));
    }
    let payload = format!(r#"{{"aud":"{FCM}","exp":{exp}}}"#);
    for header in [r#"{"alg":"none"}"#, r#"{"alg":"HS256"}"#, r#"{"typ":"JWT"}"#, "{", "null"] {
        refused(forged(&k, header, &payload, exp));
    }
}
