//! Creating, refusing, extending, revoking and cleaning up leases, each
//! refusal with its own code.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use kms_core::lease::{self, LeaseParams, LeaseRefusal, LeaseState, LeaseStatus};
use kms_core::rpc::RpcError;
use kms_core::{CoreError, ErrorCode};
use support::lease::*;

// ------------------------------------------------------------------ create

#[test]
fn create_applies_defaults_and_binds_the_key() {
    let l = lease(1);
    let r = &l.record;
    assert_eq!(r.user().as_str(), "alice");
    assert_eq!(r.relay().as_str(), "relay-1");
    assert_eq!(r.kid(), &l.kid);
    assert_eq!(r.created_ms(), NOW_MS);
    assert_eq!(r.expires_ms(), NOW_MS + DAY_MS);
    assert_eq!((r.tokens_per_hour(), r.max_batch(), r.extended()), (60, 10, 0));
    assert_eq!(r.status(), LeaseStatus::Active);
    assert!(r.has_sealed_key());
    let auds: Vec<&str> = r.audiences().iter().map(|a| a.as_str()).collect();
    assert_eq!(auds, [FCM, MOZ]);
    assert_eq!(l.credential.lease_id(), r.id());
    assert_eq!(r.id().as_str().len(), 22);
}

#[test]
fn audiences_are_parsed_deduplicated_and_bounded() {
    let p = params(&[MOZ, FCM, MOZ, FCM]);
    let l = lease_with("alice", &p, NOW_MS, 2);
    let auds: Vec<&str> = l.record.audiences().iter().map(|a| a.as_str()).collect();
    assert_eq!(auds, [FCM, MOZ]);
    let (key, kid) = vapid(3);
    let create = |p: &LeaseParams| lease::create(p, &user("alice"), &key, &kid, NOW_MS, &mut rng(4));
    assert_eq!(code(create(&params(&[]))), ErrorCode::InvalidInput);
    let err = create(&params(&["https://fcm.googleapis.com/fcm/send/abc"])).unwrap_err();
    assert!(err.to_string().contains("audiences: ") && err.to_string().contains(&format!("use \"{FCM}\"")), "{err}");
    assert_eq!(code(create(&params(&["http://push.example.com"]))), ErrorCode::InvalidInput);
    let many: Vec<String> = (0..17).map(|i| format!("https://push{i}.example")).collect();
    let many_refs: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(code(create(&params(&many_refs))), ErrorCode::InvalidInput);
    assert!(create(&params(&many_refs[..16])).is_ok());
}

#[test]
fn create_checks_every_bound() {
    let (key, kid) = vapid(5);
    let create = |p: LeaseParams| lease::create(&p, &user("alice"), &key, &kid, NOW_MS, &mut rng(6));
    let base = || params(&[FCM]);
    let refused = [
        LeaseParams { lifetime_s: Some(59), ..base() },
        LeaseParams { lifetime_s: Some(30 * 86_400 + 1), ..base() },
        LeaseParams { lifetime_s: Some(u64::MAX), ..base() },
        LeaseParams { tokens_per_hour: Some(0), ..base() },
        LeaseParams { tokens_per_hour: Some(3601), ..base() },
        LeaseParams { max_batch: Some(0), ..base() },
        LeaseParams { max_batch: Some(101), ..base() },
        LeaseParams { tokens_per_hour: Some(5), max_batch: Some(6), ..base() },
        LeaseParams { relay: String::new(), ..base() },
        LeaseParams { relay: "x".repeat(65), ..base() },
        LeaseParams { relay: " padded".into(), ..base() },
        LeaseParams { relay: "tab\there".into(), ..base() },
        LeaseParams { relay: "r\u{e9}lais".into(), ..base() },
    ];
    for p in refused {
        let shown = format!("{p:?}");
        assert_eq!(code(create(p)), ErrorCode::InvalidInput, "{shown}");
    }
    let (r, _) = create(LeaseParams { lifetime_s: Some(30 * 86_400), ..base() }).unwrap();
    assert_eq!(r.expires_ms(), NOW_MS + 30 * DAY_MS);
    let (r, _) =
        create(LeaseParams { lifetime_s: Some(60), tokens_per_hour: Some(3600), max_batch: Some(100), ..base() })
            .unwrap();
    assert_eq!((r.expires_ms(), r.tokens_per_hour(), r.max_batch()), (NOW_MS + 60_000, 3600, 100));
    // The default batch size never exceeds a small quota.
    let (r, _) = create(LeaseParams { tokens_per_hour: Some(4), ..base() }).unwrap();
    assert_eq!(r.max_batch(), 4);
    let (r, _) = create(LeaseParams { relay: "Relay A (eu-west) ~1".into(), ..base() }).unwrap();
    assert_eq!(r.relay().as_str(), "Relay A (eu-west) ~1");
}

#[test]
fn create_refuses_a_kid_that_is_not_the_keys() {
    let (key, _) = vapid(7);
    let (_, other_kid) = vapid(8);
    let err = lease::create(&params(&[FCM]), &user("alice"), &key, &other_kid, NOW_MS, &mut rng(9)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::Internal);
}

#[test]
fn lease_params_decode_strictly() {
    let p: LeaseParams = serde_json::from_str(r#"{"relay":"r","audiences":["https://a.example"]}"#).unwrap();
    assert_eq!((p.lifetime_s, p.tokens_per_hour, p.max_batch), (None, None, None));
    assert!(serde_json::from_str::<LeaseParams>(r#"{"relay":"r","audiences":[],"auto_extend":true}"#).is_err());
}

// ------------------------------------------------------------------ refusals

#[test]
fn each_refusal_has_its_own_code() {
    let l = lease(10);
    let r = &l.record;
    let (_, new_kid) = vapid(11);
    assert!(lease::check_usable(r, NOW_MS, Some(&l.kid)).is_ok());

    let revoked = lease::revoke(r, NOW_MS);
    let cases = [
        (lease::check_usable(r, r.expires_ms(), Some(&l.kid)), ErrorCode::LeaseExpired, "lease_expired"),
        (lease::check_usable(&revoked, NOW_MS, Some(&l.kid)), ErrorCode::LeaseRevoked, "lease_revoked"),
        (lease::check_usable(r, NOW_MS, Some(&new_kid)), ErrorCode::LeaseKeyRotated, "lease_key_rotated"),
        (lease::check_usable(r, NOW_MS, None), ErrorCode::LeaseKeyRotated, "lease_key_rotated"),
    ];
    for (result, code, wire) in cases {
        let refusal = result.unwrap_err();
        assert_eq!(refusal.code(), code, "{refusal}");
        let core = CoreError::from(refusal.clone());
        assert_eq!(core.code(), code);
        let rpc = RpcError::from(core);
        assert_eq!(rpc.code.as_str(), wire);
        assert_eq!(serde_json::to_value(rpc.code).unwrap(), wire);
        assert_eq!(rpc.message, refusal.to_string());
        assert_eq!(rpc.retry_after_ms, None);
    }
    // The refusal says which key and when.
    let rotated = lease::check_usable(r, NOW_MS, Some(&new_kid)).unwrap_err();
    assert_eq!(rotated, LeaseRefusal::KeyRotated { bound: l.kid.clone() });
    assert!(rotated.to_string().contains(l.kid.as_str()));
    assert_eq!(
        lease::check_usable(r, r.expires_ms() + 1, Some(&l.kid)).unwrap_err(),
        LeaseRefusal::Expired { expires_ms: r.expires_ms() }
    );
    // One millisecond before the end it is still usable.
    let usable = lease::check_usable(r, r.expires_ms() - 1, Some(&l.kid)).unwrap();
    // The check hands on the record and the instant it was checked at.
    assert_eq!((usable.record().id(), usable.now_ms()), (r.id(), r.expires_ms() - 1));
}

#[test]
fn the_most_lasting_reason_wins() {
    let l = lease(12);
    let (_, new_kid) = vapid(13);
    let revoked = lease::revoke(&l.record, NOW_MS);
    let late = l.record.expires_ms() + 1;
    assert_eq!(lease::check_usable(&revoked, late, Some(&new_kid)).unwrap_err().code(), ErrorCode::LeaseRevoked);
    assert_eq!(lease::check_usable(&l.record, late, Some(&new_kid)).unwrap_err().code(), ErrorCode::LeaseExpired);
}

#[test]
fn info_shows_the_state() {
    let l = lease(14);
    let (_, new_kid) = vapid(15);
    assert_eq!(l.record.info(NOW_MS, Some(&l.kid)).state, LeaseState::Active);
    assert_eq!(l.record.info(NOW_MS, Some(&new_kid)).state, LeaseState::KeyRotated);
    assert_eq!(l.record.info(NOW_MS, Some(&new_kid)).tokens_left_this_hour, 0);
    assert_eq!(l.record.info(l.record.expires_ms(), Some(&l.kid)).state, LeaseState::Expired);
    let info = lease::revoke(&l.record, NOW_MS + 7).info(NOW_MS + 8, Some(&l.kid));
    assert_eq!((info.state, info.revoked_ms), (LeaseState::Revoked, Some(NOW_MS + 7)));
    assert_eq!(serde_json::to_value(info.state).unwrap(), "revoked");
    assert_eq!(serde_json::to_value(LeaseState::KeyRotated).unwrap(), "key_rotated");
}

// ------------------------------------------------------------------ extend

#[test]
fn extend_moves_the_end_up_to_30_days_from_now() {
    let l = lease(16);
    let now = NOW_MS + 20 * 3_600_000;
    let x = extend(&l.record, 30 * 86_400, now, Some(&l.kid)).unwrap();
    assert_eq!(x.expires_ms(), now + 30 * DAY_MS);
    assert_eq!(x.extended(), 1);
    assert_eq!(extend(&x, 30 * 86_400, now + 1000, Some(&l.kid)).unwrap().extended(), 2);
    // The input is not changed.
    assert_eq!(l.record.expires_ms(), NOW_MS + DAY_MS);
    // The extended lease still opens with the same credential.
    let (t, _) = issue(&x, &l.credential, &req(FCM, 1, None), now + DAY_MS, &mut rng(17)).unwrap();
    verify(&t[0], &l.key, FCM, false);
}

#[test]
fn extend_beyond_30_days_is_refused() {
    let l = lease(18);
    for lifetime in [30 * 86_400 + 1, 365 * 86_400, u64::MAX] {
        let err = extend(&l.record, lifetime, NOW_MS, Some(&l.kid)).unwrap_err();
        assert_eq!(err.code(), ErrorCode::InvalidInput, "{lifetime}");
        assert!(err.to_string().contains("30 days"), "{err}");
    }
}

#[test]
fn extend_never_shortens() {
    let l = lease(19);
    let err = extend(&l.record, 3600, NOW_MS, Some(&l.kid)).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.to_string().contains("not after the lease's current end"), "{err}");
    assert_eq!(code(extend(&l.record, 86_400, NOW_MS, Some(&l.kid))), ErrorCode::InvalidInput);
}

#[test]
fn extend_refuses_revoked_expired_and_rotated_leases() {
    let l = lease(20);
    let (_, new_kid) = vapid(21);
    let revoked = lease::revoke(&l.record, NOW_MS);
    assert_eq!(code(extend(&revoked, 86_400 * 2, NOW_MS, Some(&l.kid))), ErrorCode::LeaseRevoked);
    assert_eq!(code(extend(&l.record, 86_400 * 2, l.record.expires_ms(), Some(&l.kid))), ErrorCode::LeaseExpired);
    assert_eq!(code(extend(&l.record, 86_400 * 2, NOW_MS, Some(&new_kid))), ErrorCode::LeaseKeyRotated);
}

// ------------------------------------------------------------------ revoke and cleanup

#[test]
fn revoke_is_idempotent_and_keeps_the_first_time() {
    let l = lease(22);
    let once = lease::revoke(&l.record, NOW_MS + 1);
    let twice = lease::revoke(&once, NOW_MS + 2);
    assert_eq!(twice.status(), LeaseStatus::Revoked { at_ms: NOW_MS + 1 });
    assert_eq!(once, twice);
    // An ended lease can be revoked: its key goes too.
    let ended = lease::revoke(&l.record, l.record.expires_ms() + 1);
    assert!(!ended.has_sealed_key());
}

#[test]
fn expiry_and_cleanup_boundaries() {
    let l = lease(23);
    let end = l.record.expires_ms();
    assert!(!lease::is_expired(&l.record, end - 1));
    assert!(lease::is_expired(&l.record, end));
    let week = 7 * DAY_MS;
    assert!(!lease::expired_cleanup_due(&l.record, end));
    assert!(!lease::expired_cleanup_due(&l.record, end + week));
    assert!(lease::expired_cleanup_due(&l.record, end + week + 1));
    // A revoked lease is kept as a tombstone until the same time.
    let revoked = lease::revoke(&l.record, NOW_MS);
    assert!(!lease::expired_cleanup_due(&revoked, end + week));
    assert!(lease::expired_cleanup_due(&revoked, end + week + 1));
}

#[test]
fn quota_exceeded_and_lease_codes_are_stable_strings() {
    for (c, s) in [
        (ErrorCode::LeaseExpired, "lease_expired"),
        (ErrorCode::LeaseRevoked, "lease_revoked"),
        (ErrorCode::LeaseKeyRotated, "lease_key_rotated"),
        (ErrorCode::UserDeleted, "user_deleted"),
        (ErrorCode::QuotaExceeded, "quota_exceeded"),
    ] {
        assert_eq!(c.as_str(), s);
        assert_eq!(serde_json::to_value(c).unwrap(), s);
        assert_eq!(serde_json::from_value::<ErrorCode>(serde_json::json!(s)).unwrap(), c);
    }
    let rpc = RpcError::from(CoreError::QuotaExceeded { limit: 60, retry_after_ms: 1500 });
    assert_eq!(rpc.retry_after_ms, Some(1500));
    assert_eq!(rpc.message, "this lease allows 60 tokens per hour; try again in 2 s");
    let wire = serde_json::to_value(&rpc).unwrap();
    assert_eq!(wire["code"], "quota_exceeded");
    assert_eq!(wire["retry_after_ms"], 1500);
}
