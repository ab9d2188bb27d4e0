//! Passkey enrollments: PRF (the authenticator's secret wraps the master
//! secret) and gate (a fresh, single-use WebAuthn assertion is required
//! before a stored wrap is opened), with the single-use, expiring,
//! user-bound ceremonies in front of both.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use kms_core::rpc::{
    AddEnrollmentParams, Call, GateBeginParams, GateBeginResult, NewEnrollment, SessionResult, SetupParams,
    UnlockCredential, UnlockParams,
};
use kms_core::secret::PrfOutput;
use kms_core::throttle::ThrottlePolicy;
use kms_core::ErrorCode;
use kms_worker::KmsConfig;
use serde_json::{json, Value};
use support::*;

const CEREMONY_TTL_MS: u64 = 5 * 60 * 1000;

fn prf_setup_call(user: &str, ceremony: &kms_core::ids::CeremonyId, cred: &[u8], out: &[u8]) -> Call {
    Call::Setup(SetupParams {
        user: uid(user),
        enrollment: NewEnrollment::PasskeyPrf {
            ceremony_id: ceremony.clone(),
            credential_id: b64(cred),
            prf_output: PrfOutput::from_bytes(out),
        },
        label: None,
    })
}

// ------------------------------------------------------------------ 8. PRF

#[test]
fn prf_setup_and_unlock() {
    let mut h = Harness::new(201);
    let offer = h.prf_begin("alice");
    let salt = unb64(&offer.prf_salt);
    assert_eq!(salt.len(), 32, "the PRF input is 32 random bytes");
    assert_eq!(offer.expires_ms, h.now() + CEREMONY_TTL_MS);
    assert!(h.snapshot().is_empty(), "an offer is kept in memory only");

    let out = prf_bytes(1);
    let r: SessionResult = h.ok(prf_setup_call("alice", &offer.ceremony_id, b"cred-a", &out));
    assert_eq!(r.enrollment.prf_salt.as_deref(), Some(offer.prf_salt.as_str()));
    assert_eq!(r.enrollment.credential_id.as_deref(), Some(b64(b"cred-a").as_str()));
    let eid = r.enrollment.id.as_str().to_owned();
    assert_eq!(h.kdf_runs(), 0, "no passphrase, no PBKDF2");

    // The same output unlocks.
    let u = h.unlock_prf("alice", b"cred-a", &out).unwrap();
    assert_eq!(u["enrollment"]["id"], json!(eid));

    // Another output is a failed unlock, counted.
    let before = h.snapshot();
    let mut other = out;
    other[0] ^= 1;
    expect_code(h.unlock_prf("alice", b"cred-a", &other), ErrorCode::UnlockFailed);
    let changed: Vec<String> = changed_keys(&before, &h.snapshot()).into_iter().collect();
    assert_eq!(changed, failure_keys("alice", &eid));

    // Malformed outputs are refused as input errors before anything is
    // tried, and do not count as guesses.
    let before = h.snapshot();
    for bad in [vec![0u8; 32], vec![7u8; 31], vec![7u8; 33], vec![]] {
        let e = expect_code(h.unlock_prf("alice", b"cred-a", &bad), ErrorCode::InvalidInput);
        assert!(e.message.contains("prf_output"), "{e}");
    }
    let e = expect_code(
        h.call(Call::Unlock(UnlockParams {
            user: uid("alice"),
            enrollment_id: None,
            credential: UnlockCredential::PasskeyPrf {
                credential_id: b64(b"cred-a"),
                prf_output: PrfOutput::from_b64("not base64url!"),
            },
        })),
        ErrorCode::InvalidInput,
    );
    assert!(e.message.contains("prf_output"), "{e}");
    assert_eq!(h.snapshot(), before);

    // An unknown credential id has no enrollment, and is no guess either.
    expect_code(h.unlock_prf("alice", b"cred-unknown", &out), ErrorCode::NotFound);
    assert_eq!(h.snapshot(), before);
}

#[test]
fn prf_setup_refuses_a_malformed_output_and_writes_nothing() {
    let mut h = Harness::new(202);
    for bad in [[0u8; 32].to_vec(), vec![5u8; 31]] {
        let offer = h.prf_begin("alice");
        let e = h.err(prf_setup_call("alice", &offer.ceremony_id, b"cred", &bad));
        assert_eq!(e.code, ErrorCode::InvalidInput, "{e}");
        assert!(h.snapshot().is_empty());
    }
}

#[test]
fn prf_ceremonies_are_single_use() {
    let mut h = Harness::new(203);
    let offer = h.prf_begin("alice");
    let s = h.ok::<SessionResult>(prf_setup_call("alice", &offer.ceremony_id, b"cred-a", &prf_bytes(1))).session;
    let before = h.snapshot();

    // The same offer again, for a second enrollment: gone.
    let e = h.err(Call::AddEnrollment(AddEnrollmentParams {
        user: uid("alice"),
        session: s.clone(),
        enrollment: NewEnrollment::PasskeyPrf {
            ceremony_id: offer.ceremony_id.clone(),
            credential_id: b64(b"cred-b"),
            prf_output: PrfOutput::from_bytes(&prf_bytes(2)),
        },
        label: None,
    }));
    assert_eq!(e.code, ErrorCode::NotFound, "{e}");
    assert_eq!(h.snapshot(), before);
    // ... and a fresh one works.
    h.add_prf("alice", &s, b"cred-b", &prf_bytes(2)).expect("a fresh offer");

    // A made-up ceremony id.
    let e = h.err(prf_setup_call("bob", &cid("made-up-ceremony"), b"cred", &prf_bytes(3)));
    assert_eq!(e.code, ErrorCode::NotFound, "{e}");
}

#[test]
fn prf_ceremonies_expire() {
    let mut h = Harness::new(204);
    let t0 = h.now();
    let first = h.prf_begin("alice");
    let second = h.prf_begin("alice");

    // Still valid a millisecond before the deadline...
    h.clock.set(t0 + CEREMONY_TTL_MS - 1);
    let s = h.ok::<SessionResult>(prf_setup_call("alice", &first.ceremony_id, b"cred-a", &prf_bytes(1))).session;
    // ... and gone at it.
    h.clock.set(t0 + CEREMONY_TTL_MS);
    let before = h.snapshot();
    let e = h.err(Call::AddEnrollment(AddEnrollmentParams {
        user: uid("alice"),
        session: s,
        enrollment: NewEnrollment::PasskeyPrf {
            ceremony_id: second.ceremony_id,
            credential_id: b64(b"cred-b"),
            prf_output: PrfOutput::from_bytes(&prf_bytes(2)),
        },
        label: None,
    }));
    assert_eq!(e.code, ErrorCode::NotFound, "{e}");
    assert_eq!(h.snapshot(), before);
}

#[test]
fn prf_ceremonies_belong_to_one_user() {
    let mut h = Harness::new(205);
    let for_alice = h.prf_begin("alice");
    let e = h.err(prf_setup_call("bob", &for_alice.ceremony_id, b"cred", &prf_bytes(1)));
    assert_eq!(e.code, ErrorCode::NotFound, "{e}");
    assert!(h.snapshot().is_empty(), "no user bob");
    // The attempt burnt the offer: a ceremony is answered at most once.
    let e = h.err(prf_setup_call("alice", &for_alice.ceremony_id, b"cred", &prf_bytes(1)));
    assert_eq!(e.code, ErrorCode::NotFound, "{e}");
}

// ------------------------------------------------------------------ 9. gate

fn gate_user(h: &mut Harness, user: &str, auth: &SoftAuthenticator) -> SessionResult {
    h.ok(Call::Setup(SetupParams { user: uid(user), enrollment: auth.gate_enrollment(), label: None }))
}

fn gate_begin(h: &mut Harness, user: &str) -> GateBeginResult {
    serde_json::from_value(h.rpc_ok("gate_begin", json!({"user": user}))).unwrap()
}

fn unlock_json(user: &str, ceremony: &str, assertion: &Value) -> Value {
    json!({"user": user, "credential": {"kind": "passkey_gate", "ceremony_id": ceremony, "assertion": assertion}})
}

fn stored_sign_count(h: &Harness, user: &str, eid: &str) -> u64 {
    h.record(&enrollment_key(user, eid))["params"]["credential"]["sign_count"].as_u64().unwrap()
}

/// `auth`'s assertion relabelled as coming from the credential `cred_id`.
fn claiming(mut assertion: Value, cred_id: &str) -> Value {
    assertion["id"] = json!(cred_id);
    assertion["rawId"] = json!(cred_id);
    assertion
}

#[test]
fn gate_unlock_requires_a_fresh_assertion() {
    let mut h = Harness::new(206);
    let auth = authenticator(1);
    let eid = gate_user(&mut h, "alice", &auth).enrollment.id.as_str().to_owned();
    assert_eq!(stored_sign_count(&h, "alice", &eid), 0);

    let begin = gate_begin(&mut h, "alice");
    assert_eq!(begin.enrollment_id.as_str(), eid);
    assert_eq!(begin.rp_id, RP_ID);
    assert_eq!(begin.credential_id, auth.credential_id_b64());
    assert_eq!(begin.expires_ms, h.now() + CEREMONY_TTL_MS);
    let challenge = unb64(&begin.challenge);
    assert_eq!(challenge.len(), 32);

    h.clock.advance(1000);
    let assertion = auth.assert(&challenge, 1).to_json();
    let r = h.rpc_ok("unlock", unlock_json("alice", begin.ceremony_id.as_str(), &assertion));
    assert_eq!(r["enrollment"]["id"], json!(eid));
    assert_eq!(r["enrollment"]["method"], json!("passkey_gate"));
    assert!(r["session"].is_string());
    let record = h.record(&enrollment_key("alice", &eid));
    assert_eq!(record["params"]["credential"]["sign_count"], json!(1), "the new counter is stored");
    assert_eq!(record["updated_ms"], json!(h.now()));

    // The same assertion again: its ceremony is spent.
    let before = h.snapshot();
    let e = h.rpc_err("unlock", unlock_json("alice", begin.ceremony_id.as_str(), &assertion));
    assert_eq!(e["code"], "not_found");
    assert_eq!(h.snapshot(), before);

    // The same assertion against a fresh ceremony: wrong challenge.
    let b2 = gate_begin(&mut h, "alice");
    let e = h.rpc_err("unlock", unlock_json("alice", b2.ceremony_id.as_str(), &assertion));
    assert_eq!(e["code"], "unlock_failed");

    // A fresh challenge signed with a counter that did not move: refused
    // (a cloned authenticator), and the stored counter stays.
    let b3 = gate_begin(&mut h, "alice");
    let stale = auth.assert(&unb64(&b3.challenge), 1).to_json();
    let e = h.rpc_err("unlock", unlock_json("alice", b3.ceremony_id.as_str(), &stale));
    assert_eq!(e["code"], "unlock_failed");
    assert_eq!(stored_sign_count(&h, "alice", &eid), 1);
    assert_eq!(h.record(&throttle_key("alice", &eid))["failures"], json!(2));
    // That failed attempt spent the ceremony too: not even a good answer to
    // it is taken now.
    let late = auth.assert(&unb64(&b3.challenge), 2).to_json();
    let e = h.rpc_err("unlock", unlock_json("alice", b3.ceremony_id.as_str(), &late));
    assert_eq!(e["code"], "not_found");

    // A perfect assertion by another key claiming this credential.
    let b4 = gate_begin(&mut h, "alice");
    let mallory = authenticator(666);
    let forged = claiming(mallory.assert(&unb64(&b4.challenge), 9).to_json(), &auth.credential_id_b64());
    let e = h.rpc_err("unlock", unlock_json("alice", b4.ceremony_id.as_str(), &forged));
    assert_eq!(e["code"], "unlock_failed");
    assert_eq!(stored_sign_count(&h, "alice", &eid), 1);

    // No assertion at all cannot even be expressed: the request does not
    // decode, and the ceremony is left for a real answer.
    let b5 = gate_begin(&mut h, "alice");
    let before = h.snapshot();
    let no_assertion = json!({"user": "alice", "credential": {"kind": "passkey_gate", "ceremony_id": b5.ceremony_id}});
    let e = h.rpc_err("unlock", no_assertion);
    assert_eq!(e["code"], "invalid_input");
    assert!(e["message"].as_str().unwrap().contains("assertion"), "{e}");
    let e = h.rpc_err("unlock", unlock_json("alice", b5.ceremony_id.as_str(), &json!(null)));
    assert_eq!(e["code"], "invalid_input");
    assert_eq!(h.snapshot(), before);

    let good = auth.assert(&unb64(&b5.challenge), 5).to_json();
    h.rpc_ok("unlock", unlock_json("alice", b5.ceremony_id.as_str(), &good));
    assert_eq!(stored_sign_count(&h, "alice", &eid), 5);
    assert_eq!(h.get_raw(&throttle_key("alice", &eid)), None, "success clears the failures");
}

#[test]
fn gate_assertions_are_checked_against_the_configured_rp_id_not_the_stored_one() {
    let mut h = Harness::new(215);
    let auth = authenticator(1);
    let eid = gate_user(&mut h, "alice", &auth).enrollment.id.as_str().to_owned();
    // A writer of the store points the record at a relying party of its
    // choosing; assertions for that RP ID come from the same key here (the
    // strongest case: only the RP ID differs).
    let key = enrollment_key("alice", &eid);
    let mut record = h.record(&key);
    record["params"]["credential"]["rp_id"] = json!("evil.example");
    h.put_record(&key, &record);
    let elsewhere = kms_core::testing::authenticator::SoftAuthenticator::new(1, "evil.example", ORIGIN);

    let begin = gate_begin(&mut h, "alice");
    assert_eq!(begin.rp_id, RP_ID, "the browser is told the configured RP ID");
    let forged = elsewhere.assert(&unb64(&begin.challenge), 1).to_json();
    let e = h.rpc_err("unlock", unlock_json("alice", begin.ceremony_id.as_str(), &forged));
    assert_eq!(e["code"], "unlock_failed");

    // A record that names another relying party than the deployment's is
    // refused whatever the assertion; restored, it unlocks again.
    let begin = gate_begin(&mut h, "alice");
    let good = auth.assert(&unb64(&begin.challenge), 2).to_json();
    let e = h.rpc_err("unlock", unlock_json("alice", begin.ceremony_id.as_str(), &good));
    assert_eq!(e["code"], "unlock_failed");
    record["params"]["credential"]["rp_id"] = json!(RP_ID);
    h.put_record(&key, &record);
    let begin = gate_begin(&mut h, "alice");
    let good = auth.assert(&unb64(&begin.challenge), 3).to_json();
    h.rpc_ok("unlock", unlock_json("alice", begin.ceremony_id.as_str(), &good));
}

#[test]
fn gate_refuses_every_kind_of_bad_assertion() {
    // Many refusals in a row: a throttle that does not get in the way.
    let lenient = ThrottlePolicy { free_failures: 1000, ..ThrottlePolicy::default() };
    let mut h = Harness::with_config(207, KmsConfig { throttle: lenient, ..KmsConfig::default() });
    let auth = authenticator(2);
    let eid = gate_user(&mut h, "alice", &auth).enrollment.id.as_str().to_owned();
    let other = authenticator(3);
    gate_user(&mut h, "bob", &other);

    type Make = Box<dyn Fn(&[u8]) -> Value>;
    let a = auth.clone();
    let cred = auth.credential_id_b64();
    let cases: Vec<(&str, Make)> = vec![
        ("another origin", {
            let a = a.clone();
            Box::new(move |c: &[u8]| {
                a.assert_with(
                    client_data_json("webauthn.get", c, "https://evil.example"),
                    authenticator_data(RP_ID, UP | UV, 10),
                )
                .to_json()
            })
        }),
        ("another RP ID hash", {
            let a = a.clone();
            Box::new(move |c: &[u8]| {
                a.assert_with(
                    client_data_json("webauthn.get", c, ORIGIN),
                    authenticator_data("evil.example", UP | UV, 10),
                )
                .to_json()
            })
        }),
        ("no user verification", {
            let a = a.clone();
            Box::new(move |c: &[u8]| {
                a.assert_with(client_data_json("webauthn.get", c, ORIGIN), authenticator_data(RP_ID, UP, 10)).to_json()
            })
        }),
        ("no user presence", {
            let a = a.clone();
            Box::new(move |c: &[u8]| {
                a.assert_with(client_data_json("webauthn.get", c, ORIGIN), authenticator_data(RP_ID, UV, 10)).to_json()
            })
        }),
        ("a registration ceremony", {
            let a = a.clone();
            Box::new(move |c: &[u8]| {
                a.assert_with(client_data_json("webauthn.create", c, ORIGIN), authenticator_data(RP_ID, UP | UV, 10))
                    .to_json()
            })
        }),
        ("a cross-origin iframe", {
            let a = a.clone();
            Box::new(move |c: &[u8]| {
                let cdj = format!(
                    r#"{{"type":"webauthn.get","challenge":"{}","origin":"{ORIGIN}","crossOrigin":true}}"#,
                    b64(c)
                );
                a.assert_with(cdj.into_bytes(), authenticator_data(RP_ID, UP | UV, 10)).to_json()
            })
        }),
        ("another challenge", {
            let a = a.clone();
            Box::new(move |_: &[u8]| a.assert(&[0x11; 32], 10).to_json())
        }),
        ("a signature altered", {
            let a = a.clone();
            Box::new(move |c: &[u8]| {
                let mut v = a.assert(c, 10).to_json();
                let mut ad = unb64(v["response"]["authenticatorData"].as_str().unwrap());
                ad[36] = 11; // the counter, after signing
                v["response"]["authenticatorData"] = json!(b64(&ad));
                v
            })
        }),
        ("bob's credential", {
            let o = other.clone();
            Box::new(move |c: &[u8]| o.assert(c, 10).to_json())
        }),
        ("bob's key claiming alice's credential", {
            let o = other.clone();
            let cred = cred.clone();
            Box::new(move |c: &[u8]| claiming(o.assert(c, 10).to_json(), &cred))
        }),
    ];
    for (name, make) in &cases {
        let begin = gate_begin(&mut h, "alice");
        let before = h.snapshot();
        let assertion = make(&unb64(&begin.challenge));
        let e = h.rpc_err("unlock", unlock_json("alice", begin.ceremony_id.as_str(), &assertion));
        assert_eq!(e["code"], "unlock_failed", "{name}: {e}");
        // Only the failure count moved.
        let changed: Vec<String> = changed_keys(&before, &h.snapshot()).into_iter().collect();
        assert_eq!(changed, failure_keys("alice", &eid), "{name}");
        assert_eq!(stored_sign_count(&h, "alice", &eid), 0, "{name}");
    }

    // Control: the same authenticator, done right.
    let begin = gate_begin(&mut h, "alice");
    let good = auth.assert(&unb64(&begin.challenge), 10).to_json();
    h.rpc_ok("unlock", unlock_json("alice", begin.ceremony_id.as_str(), &good));
    assert_eq!(stored_sign_count(&h, "alice", &eid), 10);
}

/// A field of the assertion that is not base64url is named in the error,
/// with no position or byte of the input (docs/rpc.md, message rules).
#[test]
fn a_bad_base64url_assertion_field_is_named_not_echoed() {
    let mut h = Harness::new(215);
    let auth = authenticator(15);
    gate_user(&mut h, "alice", &auth);
    for (field, path) in [
        ("clientDataJSON", &["response", "clientDataJSON"][..]),
        ("authenticatorData", &["response", "authenticatorData"][..]),
        ("signature", &["response", "signature"][..]),
        ("rawId", &["rawId"][..]),
    ] {
        let begin = gate_begin(&mut h, "alice");
        let mut assertion = auth.assert(&unb64(&begin.challenge), 1).to_json();
        let mut at = &mut assertion;
        for p in path {
            at = &mut at[*p];
        }
        *at = json!("%%not*base64");
        let e = h.rpc_err("unlock", unlock_json("alice", begin.ceremony_id.as_str(), &assertion));
        assert_eq!(e["code"], "invalid_input", "{field}: {e}");
        let m = e["message"].as_str().unwrap();
        assert!(m.contains(&format!("{field}: not base64url")), "{field}: {m}");
        assert!(
            !m.contains("symbol") && !m.contains("offset") && !m.contains("37") && !m.contains('%'),
            "{field}: {m}"
        );
    }
}

#[test]
fn gate_ceremonies_are_bound_to_user_enrollment_kind_and_time() {
    let mut h = Harness::new(208);
    let alice_auth = authenticator(4);
    let bob_auth = authenticator(5);
    let alice_setup = gate_user(&mut h, "alice", &alice_auth);
    let (alice_s, first_eid) = (alice_setup.session, alice_setup.enrollment.id);
    gate_user(&mut h, "bob", &bob_auth);

    // Alice's challenge answered for bob, by bob's own authenticator.
    let b = gate_begin(&mut h, "alice");
    let e = h.rpc_err(
        "unlock",
        unlock_json("bob", b.ceremony_id.as_str(), &bob_auth.assert(&unb64(&b.challenge), 1).to_json()),
    );
    assert_eq!(e["code"], "not_found", "{e}");

    // A PRF offer is not a gate challenge.
    let offer = h.prf_begin("alice");
    let e = h
        .rpc_err("unlock", unlock_json("alice", offer.ceremony_id.as_str(), &alice_auth.assert(&[1; 32], 1).to_json()));
    assert_eq!(e["code"], "invalid_input", "{e}");

    // A challenge for one gate enrollment, presented for another.
    let second = authenticator(6);
    let added = h
        .call(Call::AddEnrollment(AddEnrollmentParams {
            user: uid("alice"),
            session: alice_s,
            enrollment: second.gate_enrollment(),
            label: None,
        }))
        .unwrap();
    let second_eid = added["id"].as_str().unwrap().to_owned();
    let e = h.rpc_err("gate_begin", json!({"user": "alice"}));
    assert_eq!(e["code"], "invalid_input", "two gate enrollments: the caller must pick one: {e}");
    let b: GateBeginResult =
        h.ok(Call::GateBegin(GateBeginParams { user: uid("alice"), enrollment_id: Some(eid(&second_eid)) }));
    assert_eq!(b.credential_id, second.credential_id_b64());
    let mut req = unlock_json("alice", b.ceremony_id.as_str(), &alice_auth.assert(&unb64(&b.challenge), 1).to_json());
    req["enrollment_id"] = json!(first_eid.as_str());
    let e = h.rpc_err("unlock", req);
    assert_eq!(e["code"], "invalid_input", "{e}");

    // Expired: refused, and not counted as a guess.
    let t = h.now();
    let b = gate_begin(&mut h, "bob");
    h.clock.set(t + CEREMONY_TTL_MS);
    let before = h.snapshot();
    let e = h.rpc_err(
        "unlock",
        unlock_json("bob", b.ceremony_id.as_str(), &bob_auth.assert(&unb64(&b.challenge), 1).to_json()),
    );
    assert_eq!(e["code"], "not_found", "{e}");
    assert_eq!(h.snapshot(), before);

    // A user without a gate enrollment gets no challenge.
    h.setup_prf("carol", b"carol-cred", &prf_bytes(1));
    let e = h.rpc_err("gate_begin", json!({"user": "carol"}));
    assert_eq!(e["code"], "not_found", "{e}");
}
