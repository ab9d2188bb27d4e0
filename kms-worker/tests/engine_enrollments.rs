//! Listing, adding and removing enrollments, and changing the passphrase:
//! every change re-wraps the same master secret, needs a session, and
//! never leaves a user without a way in.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use kms_core::rpc::{
    AddEnrollmentParams, Call, ChangePassphraseParams, NewEnrollment, RemoveEnrollmentParams, RemoveResult,
    SignJwtParams, UserParams, VapidKeys,
};
use kms_core::secret::Passphrase;
use kms_core::session::SessionToken;
use kms_core::unlock::EnrollmentInfo;
use kms_core::vapid::{JwtRequest, VapidPublicInfo};
use kms_core::ErrorCode;
use kms_worker::KmsConfig;
use serde_json::{json, Value};
use support::*;

const AUD: &str = "https://push.example.net";

fn add(
    h: &mut Harness,
    user: &str,
    session: &SessionToken,
    enrollment: NewEnrollment,
    label: Option<&str>,
) -> Result<Value, kms_core::rpc::RpcError> {
    h.call(Call::AddEnrollment(AddEnrollmentParams {
        user: uid(user),
        session: session.clone(),
        enrollment,
        label: label.map(str::to_owned),
    }))
}

fn sign(h: &mut Harness, user: &str, session: &SessionToken) -> Value {
    let exp = h.now() / 1000 + 3600;
    h.ok(Call::SignJwt(SignJwtParams {
        user: uid(user),
        session: session.clone(),
        claims: JwtRequest { aud: AUD.into(), sub: "mailto:ops@example.com".into(), exp, jti: None },
    }))
}

// ------------------------------------------------------------------ list

#[test]
fn list_shows_public_fields_only() {
    let mut h = Harness::new(101);
    let s = h.setup_passphrase("alice", PASS_A).session;
    let prf = add_prf_labelled(&mut h, "alice", &s, b"yubikey-cred", &prf_bytes(1), "yubikey");
    let gate = authenticator(7);
    add(&mut h, "alice", &s, gate.gate_enrollment(), Some("phone")).unwrap();

    // No session needed; through the wire, to see the exact JSON.
    let list = h.rpc_ok("list_enrollments", json!({"user": "alice"}));
    let entries = list["enrollments"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    let ids: Vec<&str> = entries.iter().map(|e| e["id"].as_str().unwrap()).collect();
    let mut sorted = ids.clone();
    sorted.sort_unstable();
    assert_eq!(ids, sorted, "listed in id order");

    let mut top: Vec<&String> = list.as_object().unwrap().keys().collect();
    top.sort_unstable();
    assert_eq!(top, vec!["enrollments"], "no damaged records to report");
    let common = ["created_ms", "id", "label", "method", "protects_at_rest", "updated_ms"];
    for e in entries {
        let mut keys: Vec<&str> = e.as_object().unwrap().keys().map(String::as_str).collect();
        keys.sort_unstable();
        let mut expected: Vec<&str> = common.to_vec();
        match e["method"].as_str().unwrap() {
            "passphrase" => {
                expected.push("iterations");
                assert_eq!(e["iterations"], json!(FLOOR_ITERATIONS));
                assert_eq!(e["label"], json!(null));
                assert_eq!(e["protects_at_rest"], json!(true));
            }
            "passkey_prf" => {
                expected.extend(["credential_id", "prf_salt"]);
                assert_eq!(e["credential_id"], json!(b64(b"yubikey-cred")));
                assert_eq!(e["prf_salt"], prf["prf_salt"], "the PRF input is public: the browser needs it");
                assert_eq!(e["label"], json!("yubikey"));
                assert_eq!(e["protects_at_rest"], json!(true));
            }
            "passkey_gate" => {
                expected.extend(["credential_id", "rp_id"]);
                assert_eq!(e["credential_id"], json!(gate.credential_id_b64()));
                assert_eq!(e["rp_id"], json!(RP_ID));
                assert_eq!(e["label"], json!("phone"));
                // Gate mode only gates the API: the wrap key is in the store.
                assert_eq!(e["protects_at_rest"], json!(false));
            }
            other => panic!("unexpected method {other}"),
        }
        expected.sort_unstable();
        assert_eq!(keys, expected, "exactly the public fields of {e}");
    }

    // No secret or wrap material of any stored record appears in the answer.
    let text = list.to_string();
    let mut secrets = Vec::new();
    for (key, bytes) in h.snapshot() {
        if !key.starts_with("users/alice/enrollments/") {
            continue;
        }
        let rec: Value = serde_json::from_slice(&bytes).unwrap();
        secrets.push(rec["wrapped"].as_str().unwrap().to_owned());
        for field in ["salt", "hkdf_salt", "gate_key"] {
            if let Some(v) = rec["params"][field].as_str() {
                secrets.push(v.to_owned());
            }
        }
    }
    assert_eq!(secrets.len(), 3 + 3, "a wrap per record, plus the passphrase salt, the HKDF salt and the gate key");
    for secret in &secrets {
        assert!(!text.contains(secret.as_str()), "listing leaks {secret}");
    }
    for word in ["wrapped", "gate_key", "hkdf_salt", "\"salt\"", "public_key", "sign_count"] {
        assert!(!text.contains(word), "listing mentions {word}: {text}");
    }

    let e = h.rpc_err("list_enrollments", json!({"user": "nobody"}));
    assert_eq!(e["code"], "not_found");
}

fn add_prf_labelled(h: &mut Harness, user: &str, s: &SessionToken, cred: &[u8], out: &[u8; 32], label: &str) -> Value {
    let offer = h.prf_begin(user);
    let info = add(
        h,
        user,
        s,
        NewEnrollment::PasskeyPrf {
            ceremony_id: offer.ceremony_id,
            credential_id: b64(cred),
            prf_output: kms_core::secret::PrfOutput::from_bytes(out),
        },
        Some(label),
    )
    .unwrap();
    assert_eq!(info["prf_salt"], json!(offer.prf_salt));
    info
}

// ------------------------------------------------------------------ add

#[test]
fn a_second_passphrase_needs_a_session_and_either_one_unlocks() {
    let mut h = Harness::new(102);
    let setup = h.setup_passphrase("alice", PASS_A);
    let (s, first) = (setup.session, setup.enrollment.id);
    let second_pass = NewEnrollment::Passphrase { passphrase: Passphrase::new(PASS_B) };

    // Without a session: locked, nothing written, no KDF.
    let before = h.snapshot();
    let runs = h.kdf_runs();
    let e = add(&mut h, "alice", &token(&b64([9u8; 32])), second_pass.clone(), None).unwrap_err();
    assert_eq!(e.code, ErrorCode::Locked, "{e}");
    // The session is checked before anything else, so a caller without one
    // learns nothing, not even whether the user exists.
    let e = add(
        &mut h,
        "nobody",
        &token(&b64([9u8; 32])),
        NewEnrollment::PasskeyGate { credential_id: b64(b"x"), public_key: "not a key".into() },
        None,
    )
    .unwrap_err();
    assert_eq!(e.code, ErrorCode::Locked, "{e}");
    assert_eq!(h.snapshot(), before);
    assert_eq!(h.kdf_runs(), runs);

    // With one.
    let info: EnrollmentInfo =
        serde_json::from_value(add(&mut h, "alice", &s, second_pass, Some("backup")).unwrap()).unwrap();
    let second = info.id.clone();
    assert_ne!(second, first);
    assert_eq!(info.iterations, Some(FLOOR_ITERATIONS));
    assert_eq!(info.label.as_deref(), Some("backup"));
    let after = h.snapshot();
    let changed = changed_keys(&before, &after);
    assert_eq!(
        changed.into_iter().collect::<Vec<_>>(),
        vec![enrollment_key("alice", second.as_str()), user_key("alice")]
    );
    assert_epoch_bumped(&before, &after, "alice");

    // Two passphrase enrollments: the caller must say which.
    let runs = h.kdf_runs();
    let e = expect_code(h.unlock_passphrase("alice", PASS_A), ErrorCode::InvalidInput);
    assert!(e.message.contains("enrollment_id"), "{e}");
    assert_eq!(h.kdf_runs(), runs);

    let r = h.unlock_passphrase_of("alice", Some(&first), PASS_A).unwrap();
    assert_eq!(r["enrollment"]["id"], json!(first.as_str()));
    let r = h.unlock_passphrase_of("alice", Some(&second), PASS_B).unwrap();
    assert_eq!(r["enrollment"]["id"], json!(second.as_str()));
    // Each passphrase opens its own enrollment only.
    expect_code(h.unlock_passphrase_of("alice", Some(&second), PASS_A), ErrorCode::UnlockFailed);
}

#[test]
fn add_refuses_duplicates_bad_input_and_too_many() {
    let config = KmsConfig { max_enrollments: 3, ..KmsConfig::default() };
    let mut h = Harness::with_config(103, config);
    let s = h.setup_prf("alice", b"cred-1", &prf_bytes(1)).session;
    let gate = authenticator(11);
    add(&mut h, "alice", &s, gate.gate_enrollment(), None).unwrap();
    let before = h.snapshot();

    // The same credential twice, in either mode.
    let e = h.add_prf("alice", &s, b"cred-1", &prf_bytes(2)).unwrap_err();
    assert_eq!(e.code, ErrorCode::AlreadyExists, "{e}");
    let e = add(&mut h, "alice", &s, gate.gate_enrollment(), None).unwrap_err();
    assert_eq!(e.code, ErrorCode::AlreadyExists, "{e}");
    // A gate key that is not a P-256 point.
    let bad_key = NewEnrollment::PasskeyGate { credential_id: b64(b"other"), public_key: b64([4u8; 65]) };
    assert_eq!(add(&mut h, "alice", &s, bad_key, None).unwrap_err().code, ErrorCode::InvalidInput);
    // A label with a control character.
    let e = add_label(&mut h, &s, "evil\nlabel");
    assert_eq!(e.code, ErrorCode::InvalidInput, "{e}");
    assert!(e.message.contains("label"), "{e}");
    assert_eq!(h.snapshot(), before);

    // A third is fine.
    h.add_prf("alice", &s, b"cred-3", &prf_bytes(3)).expect("a third enrollment");
    let after_third = h.snapshot();
    assert_eq!(changed_keys(&before, &after_third).len(), 2, "the enrollment and the user's epoch");

    // A fourth is over the configured cap.
    let e = h.add_prf("alice", &s, b"cred-4", &prf_bytes(4)).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidInput, "{e}");
    assert!(e.message.contains("at most 3"), "{e}");
    assert_eq!(h.snapshot(), after_third);
}

fn add_label(h: &mut Harness, s: &SessionToken, label: &str) -> kms_core::rpc::RpcError {
    let offer = h.prf_begin("alice");
    add(
        h,
        "alice",
        s,
        NewEnrollment::PasskeyPrf {
            ceremony_id: offer.ceremony_id,
            credential_id: b64(b"labelled"),
            prf_output: kms_core::secret::PrfOutput::from_bytes(&prf_bytes(5)),
        },
        Some(label),
    )
    .unwrap_err()
}

// ------------------------------------------------------------------ remove

#[test]
fn remove_needs_a_session_and_never_removes_the_last_enrollment() {
    let mut h = Harness::new(104);
    let setup = h.setup_passphrase("alice", PASS_A);
    let (s, pass_eid) = (setup.session, setup.enrollment.id);
    let prf: EnrollmentInfo = serde_json::from_value(h.add_prf("alice", &s, b"cred", &prf_bytes(1)).unwrap()).unwrap();
    // A failed passphrase attempt leaves a throttle record to clean up.
    expect_code(h.unlock_passphrase("alice", PASS_WRONG), ErrorCode::UnlockFailed);
    assert!(h.get_raw(&throttle_key("alice", pass_eid.as_str())).is_some());
    let before = h.snapshot();

    let remove = |eid: &kms_core::ids::EnrollmentId, session: &SessionToken| {
        Call::RemoveEnrollment(RemoveEnrollmentParams {
            user: uid("alice"),
            session: session.clone(),
            enrollment_id: eid.clone(),
        })
    };
    assert_eq!(h.err(remove(&pass_eid, &token(&b64([1u8; 32])))).code, ErrorCode::Locked);
    assert_eq!(h.err(remove(&eid("no-such-enrollment"), &s)).code, ErrorCode::NotFound);
    assert_eq!(h.snapshot(), before);

    // A session opened elsewhere (here with the passkey).
    let other = session_of(&h.unlock_prf("alice", b"cred", &prf_bytes(1)).unwrap());
    let r: RemoveResult = h.ok(remove(&pass_eid, &s));
    assert_eq!((r.removed.as_str(), r.remaining), (pass_eid.as_str(), 1));
    let after = h.snapshot();
    let changed: Vec<String> = changed_keys(&before, &after).into_iter().collect();
    // (The user-wide failure count went with the passkey unlock's success.)
    assert_eq!(
        changed,
        vec![
            enrollment_key("alice", pass_eid.as_str()),
            user_key("alice"),
            throttle_key("alice", pass_eid.as_str()),
            user_throttle_key("alice")
        ]
    );
    assert_epoch_bumped(&before, &after, "alice");
    assert!(h.get_raw(&enrollment_key("alice", pass_eid.as_str())).is_none());
    assert!(h.get_raw(&throttle_key("alice", pass_eid.as_str())).is_none());

    // A change of how the user unlocks ends every other session of the
    // user; the one that made it stays.
    let e = h.err(Call::SessionStatus(Harness::session_params("alice", &other)));
    assert_eq!(e.code, ErrorCode::Locked, "{e}");
    assert!(h.call(Call::SessionStatus(Harness::session_params("alice", &s))).is_ok());

    // The passphrase no longer unlocks anything; the passkey still does.
    expect_code(h.unlock_passphrase("alice", PASS_A), ErrorCode::NotFound);
    h.unlock_prf("alice", b"cred", &prf_bytes(1)).expect("the remaining enrollment unlocks");

    // The last one stays, whatever the session.
    let before = h.snapshot();
    let e = h.err(remove(&prf.id, &s));
    assert_eq!(e.code, ErrorCode::Forbidden, "{e}");
    assert!(e.message.contains("last enrollment"), "{e}");
    assert_eq!(h.snapshot(), before);
}

// ------------------------------------------------------------ change passphrase

#[test]
fn change_passphrase_keeps_the_master_secret_and_the_vapid_key() {
    let mut h = Harness::new(105);
    let setup = h.setup_passphrase("alice", PASS_A);
    let (s, pass_eid) = (setup.session, setup.enrollment.id);
    h.add_prf("alice", &s, b"cred", &prf_bytes(1)).unwrap();
    let key_before: VapidPublicInfo = h.ok(Call::VapidGenerate(Harness::session_params("alice", &s)));
    let jwt_before = sign(&mut h, "alice", &s);
    let old_record = h.record(&enrollment_key("alice", pass_eid.as_str()));
    let change = |session: &SessionToken, new: &str| {
        Call::ChangePassphrase(ChangePassphraseParams {
            user: uid("alice"),
            session: session.clone(),
            enrollment_id: None,
            new_passphrase: Passphrase::new(new),
        })
    };

    // Needs a session; a too-short passphrase is refused before the KDF.
    let before = h.snapshot();
    let runs = h.kdf_runs();
    assert_eq!(h.err(change(&token(&b64([2u8; 32])), PASS_B)).code, ErrorCode::Locked);
    let e = h.err(change(&s, "too short"));
    assert_eq!(e.code, ErrorCode::InvalidInput, "{e}");
    assert!(!e.message.contains("too short"), "{e}");
    assert_eq!(h.snapshot(), before);
    assert_eq!(h.kdf_runs(), runs);

    // Failed guesses at the old passphrase (planted, to spare the KDF runs):
    // a new passphrase starts with a clean slate.
    let throttle = throttle_key("alice", pass_eid.as_str());
    h.put_record(&throttle, &json!({"failures": 10, "last_failure_ms": h.now()}));

    // A session opened elsewhere (with the passkey).
    let other = session_of(&h.unlock_prf("alice", b"cred", &prf_bytes(1)).unwrap());

    h.clock.advance(1000);
    let info: EnrollmentInfo = h.ok(change(&s, PASS_B));
    // Whoever knew the old passphrase loses their sessions; the session that
    // made the change keeps its own.
    assert_eq!(h.err(Call::SessionStatus(Harness::session_params("alice", &other))).code, ErrorCode::Locked);
    assert!(h.call(Call::SessionStatus(Harness::session_params("alice", &s))).is_ok());
    assert_eq!(h.get_raw(&throttle), None, "the change clears the throttle record");
    assert_eq!(info.id, pass_eid, "the enrollment keeps its id");
    let new_record = h.record(&enrollment_key("alice", pass_eid.as_str()));
    assert_ne!(new_record["params"]["salt"], old_record["params"]["salt"]);
    assert_ne!(new_record["wrapped"], old_record["wrapped"]);
    assert_eq!(new_record["created_ms"], old_record["created_ms"]);
    assert_eq!(new_record["updated_ms"], json!(h.now()));

    // The old passphrase is dead, the new one works.
    expect_code(h.unlock_passphrase("alice", PASS_A), ErrorCode::UnlockFailed);
    let r = h.unlock_passphrase("alice", PASS_B).unwrap();
    let s2 = session_of(&r);

    // Same master secret: the VAPID key made under the old passphrase still
    // unseals, and signs tokens that verify under the same public key.
    let keys: VapidKeys = h.ok(Call::VapidPublic(UserParams { user: uid("alice") }));
    assert_eq!(keys.current.as_ref(), Some(&key_before));
    assert!(keys.retired.is_empty());
    let jwt_after = sign(&mut h, "alice", &s2);
    assert_eq!(jwt_after["kid"], json!(key_before.kid.as_str()));
    for jwt in [&jwt_before, &jwt_after] {
        verify_jwt(jwt["jwt"].as_str().unwrap(), &key_before.jwk.x, &key_before.jwk.y, AUD).expect("same key");
    }
}
