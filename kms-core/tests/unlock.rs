//! Enrollment wraps at the core level: each method round-trips, and every
//! kind of mismatch (wrong secret, another user, another enrollment id,
//! another method, a damaged record) fails with the same outward error.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use kms_core::ids::{EnrollmentId, UserId};
use kms_core::secret::{MasterSecret, Passphrase, PrfOutput};
use kms_core::unlock::gate::GateCredential;
use kms_core::unlock::passphrase::{self, PassphrasePolicy};
use kms_core::unlock::{gate_wrap, prf, EnrollmentRecord, MethodParams};
use kms_core::vapid::{vapid_sealing_key, VapidKeyRecord, VapidSigningKey};
use kms_core::CoreError;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

const PASS: &str = "correct horse battery staple";

fn rng() -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(42)
}

/// Proves two master secrets are the same without exposing them: a VAPID
/// key sealed under one opens under the other.
fn same_master(a: &MasterSecret, b: &MasterSecret, user: &UserId) -> bool {
    let mut rng = rng();
    let key = VapidSigningKey::generate(&mut rng);
    let rec = VapidKeyRecord::create(&key, &vapid_sealing_key(a, user).unwrap(), user, 1, 0, &mut rng).unwrap();
    rec.open(&vapid_sealing_key(b, user).unwrap(), user).is_ok()
}

fn passphrase_record(master: &MasterSecret, user: &UserId, id: &EnrollmentId) -> EnrollmentRecord {
    let mut rng = rng();
    let params = PassphrasePolicy::default().new_params(&mut rng);
    let out = passphrase::pbkdf2_native(&Passphrase::new(PASS), &params).unwrap();
    passphrase::enroll(master, user, id.clone(), None, params, &out, 1, &mut rng).unwrap()
}

fn unlock_pass(
    rec: &EnrollmentRecord,
    user: &UserId,
    id: &EnrollmentId,
    pass: &str,
) -> Result<MasterSecret, CoreError> {
    let MethodParams::Passphrase(params) = &rec.params else { panic!("not a passphrase record") };
    let out = passphrase::pbkdf2_native(&Passphrase::new(pass), params)?;
    passphrase::unlock(rec, user, id, &out)
}

#[test]
fn passphrase_round_trip_and_every_mismatch_fails_alike() {
    let mut rng = rng();
    let alice = UserId::parse("alice").unwrap();
    let bob = UserId::parse("bob").unwrap();
    let master = MasterSecret::generate(&mut rng);
    let id = EnrollmentId::generate(&mut rng);
    let rec = passphrase_record(&master, &alice, &id);

    let MethodParams::Passphrase(p) = &rec.params else { panic!() };
    assert_eq!((p.alg.as_str(), p.iterations), ("pbkdf2-sha256", 600_000));

    let back = unlock_pass(&rec, &alice, &id, PASS).unwrap();
    assert!(same_master(&master, &back, &alice));

    assert_eq!(unlock_pass(&rec, &alice, &id, "wrong passphrase!!").unwrap_err(), CoreError::UnlockFailed);
    // The AAD is rebuilt from the caller's request, not read from the record.
    assert_eq!(unlock_pass(&rec, &bob, &id, PASS).unwrap_err(), CoreError::UnlockFailed);
    let other_id = EnrollmentId::generate(&mut rng);
    assert_eq!(unlock_pass(&rec, &alice, &other_id, PASS).unwrap_err(), CoreError::UnlockFailed);

    // A damaged record: every byte of the sealed master secret.
    let json = serde_json::to_value(&rec).unwrap();
    let wrapped = json["wrapped"].as_str().unwrap().to_owned();
    for i in [0, 5, 20, wrapped.len() - 2] {
        let mut bytes = wrapped.clone().into_bytes();
        bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
        let mut j = json.clone();
        j["wrapped"] = serde_json::Value::String(String::from_utf8(bytes).unwrap());
        let damaged: EnrollmentRecord = match serde_json::from_value(j) {
            Ok(r) => r,
            Err(_) => continue, // undecodable base64 is refused earlier, at parse
        };
        assert_eq!(unlock_pass(&damaged, &alice, &id, PASS).unwrap_err(), CoreError::UnlockFailed, "byte {i}");
    }
    // Parameters below the floor are refused before any KDF runs.
    let mut weak = rec.clone();
    if let MethodParams::Passphrase(p) = &mut weak.params {
        p.iterations = 1000;
    }
    assert_eq!(unlock_pass(&weak, &alice, &id, PASS).unwrap_err(), CoreError::UnlockFailed);
}

#[test]
fn prf_round_trip_and_refusals() {
    let mut rng = rng();
    let alice = UserId::parse("alice").unwrap();
    let master = MasterSecret::generate(&mut rng);
    let id = EnrollmentId::generate(&mut rng);
    let output = PrfOutput::from_bytes(&[0x5a; 32]);
    let rec = prf::enroll(&master, &alice, id.clone(), None, "Y3JlZA", &[1; 32], &output, 1, &mut rng).unwrap();

    let back = prf::unlock(&rec, &alice, &id, &output).unwrap();
    assert!(same_master(&master, &back, &alice));
    assert_eq!(
        prf::unlock(&rec, &alice, &id, &PrfOutput::from_bytes(&[0x5b; 32])).unwrap_err(),
        CoreError::UnlockFailed
    );
    assert_eq!(
        prf::unlock(&rec, &alice, &id, &PrfOutput::from_bytes(&[0; 32])).unwrap_err().code(),
        kms_core::ErrorCode::InvalidInput
    );
    assert_eq!(
        prf::unlock(&rec, &alice, &id, &PrfOutput::from_bytes(&[1; 16])).unwrap_err().code(),
        kms_core::ErrorCode::InvalidInput
    );
    // A passphrase unlock of a PRF record (method confusion) fails.
    assert!(passphrase::unlock(&rec, &alice, &id, &[0x5a; 32]).is_err());
}

#[test]
fn gate_wrap_is_bound_to_user_and_enrollment() {
    let mut rng = rng();
    let alice = UserId::parse("alice").unwrap();
    let bob = UserId::parse("bob").unwrap();
    let master = MasterSecret::generate(&mut rng);
    let id = EnrollmentId::generate(&mut rng);
    let key = p256::ecdsa::SigningKey::random(&mut rng);
    let point = key.verifying_key().to_encoded_point(false);
    let cred = GateCredential::new("Y3JlZA", &kms_core::b64::encode(point.as_bytes()), "localhost").unwrap();
    let rec = gate_wrap::enroll(&master, &alice, id.clone(), None, cred, 1, &mut rng).unwrap();
    let back = gate_wrap::unlock_after_assertion(&rec, &alice, &id).unwrap();
    assert!(same_master(&master, &back, &alice));
    assert_eq!(gate_wrap::unlock_after_assertion(&rec, &bob, &id).unwrap_err(), CoreError::UnlockFailed);
    // The gate key is kept in the record (policy, not cryptography), but it
    // never prints.
    assert!(!format!("{rec:?}")
        .contains(&serde_json::to_value(&rec).unwrap()["params"]["gate_key"].as_str().unwrap().to_owned()));
}

#[test]
fn records_decode_totally() {
    assert!(EnrollmentRecord::decode(b"").is_err());
    assert!(EnrollmentRecord::decode(b"{}").is_err());
    assert!(EnrollmentRecord::decode(&[0xff; 100]).is_err());
    assert!(EnrollmentRecord::decode(&vec![b' '; 100_000]).is_err());
}
