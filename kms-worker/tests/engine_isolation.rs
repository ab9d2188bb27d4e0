//! Two users on one store: no session, key or record of one of them
//! works for the other.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use kms_core::rpc::{
    AddEnrollmentParams, Call, ChangePassphraseParams, NewEnrollment, RemoveEnrollmentParams, SessionParams,
    SignJwtParams,
};
use kms_core::secret::Passphrase;
use kms_core::session::SessionToken;
use kms_core::vapid::{JwtRequest, SignedJwt, VapidPublicInfo};
use kms_core::ErrorCode;
use support::*;

const AUD: &str = "https://updates.push.services.mozilla.com";

fn sp(user: &str, s: &SessionToken) -> SessionParams {
    Harness::session_params(user, s)
}

fn sign(user: &str, s: &SessionToken, exp: u64) -> Call {
    Call::SignJwt(SignJwtParams {
        user: uid(user),
        session: s.clone(),
        claims: JwtRequest { aud: AUD.into(), sub: "mailto:ops@example.com".into(), exp, jti: None },
    })
}

#[test]
fn one_users_session_does_nothing_for_another() {
    let mut h = Harness::new(401);
    let a = h.setup_prf("alice", b"alice-cred", &prf_bytes(1));
    let b = h.setup_prf("bob", b"bob-cred", &prf_bytes(2));
    let a_key: VapidPublicInfo = h.ok(Call::VapidGenerate(sp("alice", &a.session)));
    let b_key: VapidPublicInfo = h.ok(Call::VapidGenerate(sp("bob", &b.session)));
    assert_ne!(a_key.kid, b_key.kid);
    assert_ne!(a_key.public_key, b_key.public_key);

    let exp = h.now() / 1000 + 3600;
    let before = h.snapshot();
    let bob_as_alice: Vec<(&str, Call)> = vec![
        ("sign_jwt", sign("alice", &b.session, exp)),
        ("vapid_rotate", Call::VapidRotate(sp("alice", &b.session))),
        ("vapid_generate", Call::VapidGenerate(sp("alice", &b.session))),
        (
            "add_enrollment",
            Call::AddEnrollment(AddEnrollmentParams {
                user: uid("alice"),
                session: b.session.clone(),
                enrollment: NewEnrollment::Passphrase { passphrase: Passphrase::new(PASS_B) },
                label: None,
            }),
        ),
        (
            "add_enrollment (gate)",
            Call::AddEnrollment(AddEnrollmentParams {
                user: uid("alice"),
                session: b.session.clone(),
                enrollment: authenticator(9).gate_enrollment(),
                label: None,
            }),
        ),
        (
            "remove_enrollment",
            Call::RemoveEnrollment(RemoveEnrollmentParams {
                user: uid("alice"),
                session: b.session.clone(),
                enrollment_id: a.enrollment.id.clone(),
            }),
        ),
        (
            "change_passphrase",
            Call::ChangePassphrase(ChangePassphraseParams {
                user: uid("alice"),
                session: b.session.clone(),
                enrollment_id: None,
                new_passphrase: Passphrase::new(PASS_B),
            }),
        ),
        ("session_status", Call::SessionStatus(sp("alice", &b.session))),
        ("lock", Call::Lock(sp("alice", &b.session))),
    ];
    for (name, call) in bob_as_alice {
        let e = h.err(call);
        assert_eq!(e.code, ErrorCode::Forbidden, "{name}: {e}");
        assert_eq!(h.snapshot(), before, "{name}");
    }
    assert_eq!(h.kdf_runs(), 0, "refused before any KDF");

    // Both sessions are still live and each signs with its own key only.
    let a_jwt: SignedJwt = h.ok(sign("alice", &a.session, exp));
    let b_jwt: SignedJwt = h.ok(sign("bob", &b.session, exp));
    assert_eq!((&a_jwt.kid, &b_jwt.kid), (&a_key.kid, &b_key.kid));
    verify_jwt(&a_jwt.jwt, &a_key.jwk.x, &a_key.jwk.y, AUD).unwrap();
    verify_jwt(&b_jwt.jwt, &b_key.jwk.x, &b_key.jwk.y, AUD).unwrap();
    assert!(verify_jwt(&a_jwt.jwt, &b_key.jwk.x, &b_key.jwk.y, AUD).is_err());
    assert!(verify_jwt(&b_jwt.jwt, &a_key.jwk.x, &a_key.jwk.y, AUD).is_err());

    // Every record sits under its owner's prefix.
    for key in h.snapshot().keys() {
        assert!(key.starts_with("users/alice/") || key.starts_with("users/bob/"), "{key}");
    }
    let alice_records = h.snapshot().keys().filter(|k| k.starts_with("users/alice/")).count();
    assert_eq!(alice_records, 3, "meta, one enrollment, one VAPID key");
}

#[test]
fn a_passphrase_record_moved_to_another_user_does_not_open() {
    let mut h = Harness::new(402);
    let a = h.setup_passphrase("alice", PASS_A);
    let b = h.setup_passphrase("bob", PASS_B);
    let (a_eid, b_eid) = (a.enrollment.id.as_str().to_owned(), b.enrollment.id.as_str().to_owned());

    let bob_bytes = h.get_raw(&enrollment_key("bob", &b_eid)).unwrap();
    let coarse = kms_core::rpc::RpcError::from(kms_core::CoreError::UnlockFailed);

    // Whoever can write the store overwrites alice's enrollment with bob's
    // bytes: the record's id is not the slot's, so it is damaged and fails
    // like a wrong passphrase, named or not, before any KDF.
    h.put_raw(&enrollment_key("alice", &a_eid), bob_bytes.clone());
    let e = expect_code(h.unlock_passphrase_of("alice", Some(&eid(&a_eid)), PASS_B), ErrorCode::UnlockFailed);
    assert_eq!(e, coarse);
    h.clock.advance(10_000);
    let e = expect_code(h.unlock_passphrase("alice", PASS_B), ErrorCode::UnlockFailed);
    assert_eq!(e, coarse);
    assert_eq!(h.kdf_runs(), 2, "setups only");

    // Better placed: bob's record under its own id in alice's enrollments,
    // so that it parses, is found, and its KDF runs.
    h.delete_raw(&enrollment_key("alice", &a_eid));
    h.put_raw(&enrollment_key("alice", &b_eid), bob_bytes);

    // Bob's passphrase, the right one for those bytes, does not unlock alice:
    // the wrap is bound to the user it was made for.
    let runs = h.kdf_runs();
    let e = expect_code(h.unlock_passphrase("alice", PASS_B), ErrorCode::UnlockFailed);
    assert_eq!(e, coarse);
    assert_eq!(h.kdf_runs(), runs + 1, "the record was found and its KDF ran: the refusal is the wrap's");
    // Control: the same bytes under bob open with the same passphrase.
    h.unlock_passphrase("bob", PASS_B).expect("bob's own record");
    assert_eq!(h.kdf_runs(), 4);
}

#[test]
fn a_passkey_record_or_vapid_key_moved_to_another_user_does_not_open() {
    let mut h = Harness::new(403);
    let a = h.setup_prf("alice", b"alice-cred", &prf_bytes(1));
    let b = h.setup_prf("bob", b"bob-cred", &prf_bytes(2));
    let (a_eid, b_eid) = (a.enrollment.id.as_str().to_owned(), b.enrollment.id.as_str().to_owned());
    let a_key: VapidPublicInfo = h.ok(Call::VapidGenerate(sp("alice", &a.session)));
    let b_key: VapidPublicInfo = h.ok(Call::VapidGenerate(sp("bob", &b.session)));

    // Bob's VAPID key planted as alice's current key.
    let planted = h.get_raw(&vapid_key("bob", b_key.kid.as_str())).unwrap();
    h.put_raw(&vapid_key("alice", b_key.kid.as_str()), planted);
    let mut meta = h.record(&user_key("alice"));
    meta["current_kid"] = serde_json::json!(b_key.kid.as_str());
    h.put_record(&user_key("alice"), &meta);
    let e = h.err(sign("alice", &a.session, h.now() / 1000 + 60));
    assert_eq!(e.code, ErrorCode::Internal, "bob's key must not open with alice's secret: {e}");
    // Undo, and alice signs with her own key again.
    meta["current_kid"] = serde_json::json!(a_key.kid.as_str());
    h.put_record(&user_key("alice"), &meta);
    let ok: SignedJwt = h.ok(sign("alice", &a.session, h.now() / 1000 + 60));
    assert_eq!(ok.kid, a_key.kid);

    // Bob's PRF enrollment planted in alice's place.
    let bob_bytes = h.get_raw(&enrollment_key("bob", &b_eid)).unwrap();
    h.delete_raw(&enrollment_key("alice", &a_eid));
    h.put_raw(&enrollment_key("alice", &b_eid), bob_bytes);
    expect_code(h.unlock_prf("alice", b"bob-cred", &prf_bytes(2)), ErrorCode::UnlockFailed);
    h.unlock_prf("bob", b"bob-cred", &prf_bytes(2)).expect("control: bob's own record");
}

#[test]
fn misplaced_or_unparseable_enrollment_records_are_damaged_never_used() {
    let mut h = Harness::new(404);
    let a = h.setup_prf("alice", b"alice-cred", &prf_bytes(1));
    let a_eid = a.enrollment.id.as_str().to_owned();
    // A verbatim copy of alice's own record under another id (its content
    // names one enrollment, its key another), and a record that does not
    // parse at all.
    let bytes = h.get_raw(&enrollment_key("alice", &a_eid)).unwrap();
    h.put_raw(&enrollment_key("alice", "planted"), bytes);
    h.put_raw(&enrollment_key("alice", "garbage"), b"{not a record".to_vec());
    let before = h.snapshot();

    // Listed apart, as damaged, never as enrollments.
    let list = h.rpc_ok("list_enrollments", serde_json::json!({"user": "alice"}));
    let ids: Vec<&str> = list["enrollments"].as_array().unwrap().iter().map(|e| e["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![a_eid.as_str()]);
    assert_eq!(list["damaged"], serde_json::json!(["garbage", "planted"]));

    // Naming a damaged record fails exactly like a wrong credential, and
    // counts as one against that record.
    let coarse = kms_core::rpc::RpcError::from(kms_core::CoreError::UnlockFailed);
    for damaged in ["planted", "garbage"] {
        let e = h.err(Call::Unlock(kms_core::rpc::UnlockParams {
            user: uid("alice"),
            enrollment_id: Some(eid(damaged)),
            credential: kms_core::rpc::UnlockCredential::PasskeyPrf {
                credential_id: b64(b"alice-cred"),
                prf_output: kms_core::secret::PrfOutput::from_bytes(&prf_bytes(1)),
            },
        }));
        assert_eq!(e, coarse, "{damaged}");
        assert_eq!(h.record(&throttle_key("alice", damaged))["failures"], serde_json::json!(1));
    }
    // The intact record still unlocks.
    h.unlock_prf("alice", b"alice-cred", &prf_bytes(1)).expect("the intact record");
    let after_failures = h.snapshot();
    assert_eq!(
        changed_keys(&before, &after_failures).into_iter().collect::<Vec<_>>(),
        vec![throttle_key("alice", "garbage"), throttle_key("alice", "planted")]
    );

    // They count towards the cap, and can be removed (how a user recovers).
    for damaged in ["planted", "garbage"] {
        let r: kms_core::rpc::RemoveResult = h.ok(Call::RemoveEnrollment(RemoveEnrollmentParams {
            user: uid("alice"),
            session: a.session.clone(),
            enrollment_id: eid(damaged),
        }));
        assert_eq!(r.removed.as_str(), damaged);
        assert!(h.get_raw(&enrollment_key("alice", damaged)).is_none());
        assert!(h.get_raw(&throttle_key("alice", damaged)).is_none());
    }
    let list = h.rpc_ok("list_enrollments", serde_json::json!({"user": "alice"}));
    assert!(list.get("damaged").is_none(), "{list}");
    h.unlock_prf("alice", b"alice-cred", &prf_bytes(1)).expect("alice is intact");
}

#[test]
fn the_last_intact_enrollment_cannot_be_removed_while_only_damaged_ones_remain() {
    let mut h = Harness::new(406);
    let a = h.setup_prf("alice", b"alice-cred", &prf_bytes(1));
    h.put_raw(&enrollment_key("alice", "garbage"), b"{not a record".to_vec());
    let before = h.snapshot();
    let e = h.err(Call::RemoveEnrollment(RemoveEnrollmentParams {
        user: uid("alice"),
        session: a.session.clone(),
        enrollment_id: a.enrollment.id.clone(),
    }));
    assert_eq!(e.code, ErrorCode::Forbidden, "{e}");
    assert_eq!(h.snapshot(), before);
    h.unlock_prf("alice", b"alice-cred", &prf_bytes(1)).expect("alice can still get in");
}

#[test]
fn a_vapid_key_record_under_a_foreign_key_is_refused() {
    let mut h = Harness::new(405);
    let a = h.setup_prf("alice", b"alice-cred", &prf_bytes(1));
    let key: VapidPublicInfo = h.ok(Call::VapidGenerate(sp("alice", &a.session)));
    let bytes = h.get_raw(&vapid_key("alice", key.kid.as_str())).unwrap();
    h.put_raw(&vapid_key("alice", "planted"), bytes);
    let e = h.err(Call::VapidPublic(kms_core::rpc::UserParams { user: uid("alice") }));
    assert_eq!(e.code, ErrorCode::Internal, "{e}");
    assert!(e.message.contains("foreign key"), "{e}");
}

#[test]
fn damaged_records_count_towards_the_enrollment_cap() {
    let config = kms_worker::KmsConfig { max_enrollments: 2, ..kms_worker::KmsConfig::default() };
    let mut h = Harness::with_config(407, config);
    let a = h.setup_prf("alice", b"alice-cred", &prf_bytes(1));
    h.put_raw(&enrollment_key("alice", "garbage"), b"[]".to_vec());
    let before = h.snapshot();
    let e = h.add_prf("alice", &a.session, b"second", &prf_bytes(2)).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput, "{e}");
    assert!(e.message.contains("at most 2"), "{e}");
    assert_eq!(h.snapshot(), before);
}
