//! Issuing tokens under a lease: every token verified by jsonwebtoken, its
//! `aud` restricted to the lease, its `exp` capped at 24 h and at the lease's
//! end, batches staggered, `jti` unique, the request checked.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use kms_core::lease::LeaseParams;
use kms_core::rpc::RpcError;
use kms_core::vapid::MAX_JWT_LIFETIME_S;
use kms_core::ErrorCode;
use support::lease::*;

#[test]
fn one_token_verifies_with_the_default_12_hours() {
    let l = lease(1);
    let (tokens, updated) = issue(&l.record, &l.credential, &req(FCM, 1, None), NOW_MS, &mut rng(2)).unwrap();
    assert_eq!(tokens.len(), 1);
    let c = verify(&tokens[0], &l.key, FCM, false);
    assert_eq!(c.aud, FCM);
    assert_eq!(c.sub, SUB);
    assert_eq!(c.exp, NOW_S + 12 * 3600);
    assert_eq!(kms_core::b64::decode(&c.jti, 16, "jti").unwrap().len(), 16);
    // The record that goes back to the store counts the token; the input
    // record is untouched.
    assert_eq!(updated.tokens_left_this_hour(NOW_MS), 59);
    assert_eq!(l.record.tokens_left_this_hour(NOW_MS), 60);
    assert_eq!(updated.id(), l.record.id());
    assert_eq!(updated.expires_ms(), l.record.expires_ms());
}

#[test]
fn a_batch_of_ten_is_verified_unique_and_staggered() {
    let l = lease(3);
    let lease_end_s = l.record.expires_ms() / 1000;
    let (tokens, updated) = issue(&l.record, &l.credential, &req(MOZ, 10, None), NOW_MS, &mut rng(4)).unwrap();
    assert_eq!(tokens.len(), 10);
    let claims: Vec<_> = tokens.iter().map(|t| verify(t, &l.key, MOZ, false)).collect();
    let jtis: HashSet<_> = claims.iter().map(|c| c.jti.clone()).collect();
    assert_eq!(jtis.len(), 10, "every jti is unique");
    let exps: Vec<u64> = claims.iter().map(|c| c.exp).collect();
    // 12 h over 10 tokens: 72 minutes apart, the last at now + 12 h.
    assert!(exps.windows(2).all(|w| w[1] - w[0] == 4320), "{exps:?}");
    assert_eq!(*exps.last().unwrap(), NOW_S + 12 * 3600);
    for &exp in &exps {
        assert!(exp * 1000 > NOW_MS + 60_000, "valid for more than a minute");
        assert!(exp <= NOW_S + MAX_JWT_LIFETIME_S);
        assert!(exp <= lease_end_s);
    }
    assert_eq!(updated.tokens_left_this_hour(NOW_MS), 50);
}

#[test]
fn tokens_verify_against_the_real_clock() {
    let now_ms = u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap();
    let l = lease_with("alice", &params(&[APPLE]), now_ms, 5);
    let (tokens, _) = issue(&l.record, &l.credential, &req(APPLE, 5, None), now_ms, &mut rng(6)).unwrap();
    for t in &tokens {
        // jsonwebtoken checks exp here, with no leeway.
        verify(t, &l.key, APPLE, true);
    }
    // And a token for another audience does not verify as this one's.
    let (other, _) = issue(&l.record, &l.credential, &req(APPLE, 1, None), now_ms, &mut rng(7)).unwrap();
    let jwk = l.key.public().jwk();
    let dk = jsonwebtoken::DecodingKey::from_ec_components(&jwk.x, &jwk.y).unwrap();
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::ES256);
    v.set_audience(&[FCM]);
    assert!(jsonwebtoken::decode::<Claims>(&other[0].jwt, &dk, &v).is_err());
}

#[test]
fn aud_outside_the_lease_is_forbidden_and_names_the_allowed_ones() {
    let l = lease(8);
    let err = issue(&l.record, &l.credential, &req(APPLE, 1, None), NOW_MS, &mut rng(9)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Forbidden, "{err}");
    let msg = RpcError::from(err).message;
    assert!(msg.contains(APPLE) && msg.contains(FCM) && msg.contains(MOZ), "{msg}");
    // A full endpoint URL is not an origin: invalid input, with the fix.
    let err =
        issue(&l.record, &l.credential, &req(&format!("{FCM}/fcm/send/x"), 1, None), NOW_MS, &mut rng(9)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput, "{err}");
    assert!(err.to_string().contains(&format!("use \"{FCM}\"")), "{err}");
}

#[test]
fn count_is_bounded_by_max_batch() {
    let l = lease(10);
    assert_eq!(l.record.max_batch(), 10);
    let err = issue(&l.record, &l.credential, &req(FCM, 11, None), NOW_MS, &mut rng(11)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.to_string().contains("max_batch of 10"), "{err}");
    assert_eq!(
        code(issue(&l.record, &l.credential, &req(FCM, 0, None), NOW_MS, &mut rng(11))),
        ErrorCode::InvalidInput
    );
    // A lease with a smaller batch size.
    let p = LeaseParams { max_batch: Some(3), ..params(&[FCM]) };
    let l = lease_with("alice", &p, NOW_MS, 12);
    assert_eq!(issue(&l.record, &l.credential, &req(FCM, 3, None), NOW_MS, &mut rng(13)).unwrap().0.len(), 3);
    assert_eq!(
        code(issue(&l.record, &l.credential, &req(FCM, 4, None), NOW_MS, &mut rng(13))),
        ErrorCode::InvalidInput
    );
}

/// A request for a 10-year token is served, capped: any ttl beyond 24 h is
/// served at 24 h.
#[test]
fn a_ten_year_ttl_is_capped_at_24_hours() {
    // A 30-day lease, so that its end is not what limits the token.
    let p = LeaseParams { lifetime_s: Some(30 * 86_400), ..params(&[FCM]) };
    let l = lease_with("alice", &p, NOW_MS, 14);
    let ten_years = 10 * 365 * 24 * 3600;
    for ttl in [ten_years, u64::MAX, MAX_JWT_LIFETIME_S + 1] {
        let (tokens, _) = issue(&l.record, &l.credential, &req(FCM, 1, Some(ttl)), NOW_MS, &mut rng(15)).unwrap();
        let c = verify(&tokens[0], &l.key, FCM, false);
        assert_eq!(c.exp, NOW_S + MAX_JWT_LIFETIME_S, "ttl {ttl}");
        assert!(c.exp * 1000 <= NOW_MS + 24 * HOUR_MS);
    }
    // Less is served as asked.
    let (tokens, _) = issue(&l.record, &l.credential, &req(FCM, 1, Some(600)), NOW_MS, &mut rng(15)).unwrap();
    assert_eq!(tokens[0].exp, NOW_S + 600);
}

#[test]
fn ttl_must_leave_more_than_a_minute() {
    let l = lease(16);
    for ttl in [0, 1, 60] {
        let err = issue(&l.record, &l.credential, &req(FCM, 1, Some(ttl)), NOW_MS, &mut rng(17)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{ttl}: {err}");
        assert!(err.to_string().contains("ttl_s must be more than 60"), "{err}");
    }
    let (t, _) = issue(&l.record, &l.credential, &req(FCM, 1, Some(61)), NOW_MS, &mut rng(17)).unwrap();
    assert!(t[0].exp * 1000 > NOW_MS + 60_000);
}

#[test]
fn tokens_never_outlive_the_lease() {
    // A lease of 2 hours: 12 h tokens are cut at its end, the batch still
    // staggered inside it.
    let p = LeaseParams { lifetime_s: Some(7200), ..params(&[FCM]) };
    let l = lease_with("alice", &p, NOW_MS, 18);
    let end_s = l.record.expires_ms() / 1000;
    let (tokens, _) = issue(&l.record, &l.credential, &req(FCM, 10, None), NOW_MS, &mut rng(19)).unwrap();
    let exps: Vec<u64> = tokens.iter().map(|t| verify(t, &l.key, FCM, false).exp).collect();
    assert_eq!(*exps.last().unwrap(), end_s);
    assert!(exps.windows(2).all(|w| w[0] < w[1]), "{exps:?}");
    assert!(exps.iter().all(|&e| e <= end_s && e * 1000 > NOW_MS + 60_000), "{exps:?}");

    // Late in the lease: 3 minutes left, 10 tokens squeezed in, still
    // strictly increasing and all valid for more than a minute.
    let late = l.record.expires_ms() - 180_000;
    let (tokens, _) = issue(&l.record, &l.credential, &req(FCM, 10, None), late, &mut rng(20)).unwrap();
    let exps: Vec<u64> = tokens.iter().map(|t| t.exp).collect();
    assert!(exps.windows(2).all(|w| w[0] < w[1]), "{exps:?}");
    assert!(exps.iter().all(|&e| e <= end_s && e * 1000 > late + 60_000), "{exps:?}");
}

#[test]
fn a_lease_with_30_seconds_left_refuses_issuance() {
    let l = lease(21);
    let now = l.record.expires_ms() - 30_000;
    let err = issue(&l.record, &l.credential, &req(FCM, 1, None), now, &mut rng(22)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::LeaseExpired, "{err}");
    let msg = RpcError::from(err).message;
    assert!(msg.contains("ends in 30 s") && msg.contains("more than 60 s"), "{msg}");
    // Once over, the refusal names the end.
    let err = issue(&l.record, &l.credential, &req(FCM, 1, None), l.record.expires_ms(), &mut rng(22)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::LeaseExpired);
    assert!(err.to_string().contains(&l.record.expires_ms().to_string()), "{err}");
}

#[test]
fn sub_is_checked() {
    let l = lease(23);
    let mut r = req(FCM, 1, None);
    r.sub = "ops@example.com".into();
    let err = issue(&l.record, &l.credential, &r, NOW_MS, &mut rng(24)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.to_string().contains("mailto:"), "{err}");
}

#[test]
fn issue_request_decodes_strictly_with_defaults() {
    let r: kms_core::lease::IssueRequest =
        serde_json::from_str(r#"{"aud":"https://a.example","sub":"mailto:a@b"}"#).unwrap();
    assert_eq!(r.count, 1);
    assert_eq!(r.ttl_s, None);
    assert!(serde_json::from_str::<kms_core::lease::IssueRequest>(r#"{"aud":"x","sub":"y","exp":1}"#).is_err());
}
