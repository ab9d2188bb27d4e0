//! VAPID keys: known answers (RFC 6979 A.2.5, RFC 7638 thumbprint), public
//! key parsing, and the sealed storage form.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

// Test code: a panic here is a failed test (as `clippy.toml` allows inside
// `#[test]` functions, extended to this file's helpers).

use kms_core::crypto::p256_key::KeyFormat;
use kms_core::ids::{KeyId, UserId};
use kms_core::secret::{Key256, MasterSecret};
use kms_core::testing::encoding::hex;
use kms_core::vapid::{vapid_sealing_key, Jwk, KeyStatus, VapidKeyRecord, VapidPublicKey, VapidSigningKey};
use kms_core::{CoreError, ErrorCode};
use proptest::prelude::*;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;

const VECTORS: &str = include_str!("vectors/vapid_rfc6979_p256.json");

fn vectors() -> serde_json::Value {
    serde_json::from_str(VECTORS).unwrap()
}

/// `0x04 || Ux || Uy` of the RFC 6979 A.2.5 key.
fn rfc6979_sec1() -> Vec<u8> {
    let v = vectors();
    [vec![0x04], hex(v["public_key_ux"].as_str().unwrap()), hex(v["public_key_uy"].as_str().unwrap())].concat()
}

fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

fn user(s: &str) -> UserId {
    UserId::parse(s).unwrap()
}

// ---------------------------------------------------------------- vectors

#[test]
fn rfc6979_public_key_encodings() {
    let v = vectors();
    let pk = VapidPublicKey::from_sec1_bytes(&rfc6979_sec1()).unwrap();
    assert_eq!(pk.to_sec1_bytes().to_vec(), rfc6979_sec1());
    assert_eq!(pk.to_sec1_b64(), v["public_key_sec1_b64url"].as_str().unwrap());
    assert_eq!(VapidPublicKey::from_sec1_b64(&pk.to_sec1_b64()).unwrap(), pk);
}

/// The thumbprint, computed independently with Python (see the vector file).
#[test]
fn rfc6979_jwk_and_thumbprint() {
    let v = vectors();
    let pk = VapidPublicKey::from_sec1_bytes(&rfc6979_sec1()).unwrap();
    let jwk = pk.jwk();
    let canonical = format!(r#"{{"crv":"{}","kty":"{}","x":"{}","y":"{}"}}"#, jwk.crv, jwk.kty, jwk.x, jwk.y);
    assert_eq!(canonical, v["jwk_canonical"].as_str().unwrap());
    assert_eq!(pk.thumbprint().as_str(), v["jwk_thumbprint"].as_str().unwrap());
    assert_eq!(pk.thumbprint().as_str(), "DOvxvJiAdIqVWIkFt5hDtCunXLF0BV4-JGv4f-ALSm0");
    // The JWK serializes with the RFC 7518 member names.
    let json: serde_json::Value = serde_json::to_value(&jwk).unwrap();
    assert_eq!(json["kty"], "EC");
    assert_eq!(json["crv"], "P-256");
    assert_eq!(json["x"], "YP7UuiVanTHJYet0xjVtaMBJuJI7Yfps5mliLmDyn7Y");
    assert_eq!(json["y"], "eQP-EAi4vJmkGunpVii8ZPLxsgwtfp9Rd6PClNRGIpk");
    assert_eq!(VapidPublicKey::from_jwk(&jwk).unwrap(), pk);
}

/// The RFC 6979 signatures verify under the RFC 6979 public key, and a
/// flipped bit anywhere does not.
#[test]
fn rfc6979_signatures_verify() {
    let v = vectors();
    let pk = VapidPublicKey::from_sec1_bytes(&rfc6979_sec1()).unwrap();
    for sig in v["signatures"].as_array().unwrap() {
        let msg = sig["message"].as_str().unwrap().as_bytes();
        let rs: [u8; 64] =
            [hex(sig["r"].as_str().unwrap()), hex(sig["s"].as_str().unwrap())].concat().try_into().unwrap();
        assert!(pk.verify(msg, &rs));
        for i in [0, 31, 32, 63] {
            let mut bad = rs;
            bad[i] ^= 1;
            assert!(!pk.verify(msg, &bad), "flipped byte {i}");
        }
        assert!(!pk.verify(b"samplf", &rs));
        assert!(!pk.verify(msg, &[0u8; 64]));
    }
}

// ------------------------------------------------------- public key input

#[test]
fn from_sec1_refuses_compressed_identity_off_curve_and_bad_lengths() {
    let sec1 = rfc6979_sec1();
    // Compressed form of the same (valid) point: Uy is odd, so 0x03 || Ux.
    let mut compressed = vec![0x03];
    compressed.extend_from_slice(&sec1[1..33]);
    let err = VapidPublicKey::from_sec1_bytes(&compressed).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.to_string().contains("65-byte uncompressed"), "{err}");
    // A 65-byte string with a compressed tag.
    let mut wrong_tag = sec1.clone();
    wrong_tag[0] = 0x02;
    assert_eq!(VapidPublicKey::from_sec1_bytes(&wrong_tag).unwrap_err().code(), ErrorCode::InvalidInput);
    // The identity (SEC1 encodes it as a single 0x00).
    assert!(matches!(VapidPublicKey::from_sec1_bytes(&[0x00]), Err(CoreError::InvalidInput(_))));
    // (0, 0) and (Ux, Uy + 1) are not on the curve.
    let mut zero = [0u8; 65];
    zero[0] = 0x04;
    assert!(matches!(VapidPublicKey::from_sec1_bytes(&zero), Err(CoreError::InvalidInput(_))));
    let mut off = sec1.clone();
    off[64] ^= 1;
    let err = VapidPublicKey::from_sec1_bytes(&off).unwrap_err();
    assert!(err.to_string().contains("not a point on P-256"), "{err}");
    // Lengths.
    assert!(VapidPublicKey::from_sec1_bytes(&[]).is_err());
    assert!(VapidPublicKey::from_sec1_bytes(&sec1[..64]).is_err());
    assert!(VapidPublicKey::from_sec1_bytes(&[sec1.clone(), vec![0]].concat()).is_err());
    // base64url: padded, standard alphabet, garbage, too long.
    let b64 = VapidPublicKey::from_sec1_bytes(&sec1).unwrap().to_sec1_b64();
    assert!(VapidPublicKey::from_sec1_b64(&format!("{b64}=")).is_err());
    assert!(VapidPublicKey::from_sec1_b64(&b64.replace('-', "+")).is_err());
    assert!(VapidPublicKey::from_sec1_b64("not base64 at all!").is_err());
    assert!(VapidPublicKey::from_sec1_b64(&"A".repeat(10_000)).is_err());
    assert!(VapidPublicKey::from_sec1_b64("").is_err());
}

#[test]
fn from_jwk_checks_kty_crv_and_sizes() {
    let pk = VapidPublicKey::from_sec1_bytes(&rfc6979_sec1()).unwrap();
    let good = pk.jwk();
    let bad = |f: fn(&mut Jwk)| {
        let mut j = good.clone();
        f(&mut j);
        VapidPublicKey::from_jwk(&j).unwrap_err().code()
    };
    assert_eq!(bad(|j| j.kty = "RSA".into()), ErrorCode::InvalidInput);
    assert_eq!(bad(|j| j.crv = "P-384".into()), ErrorCode::InvalidInput);
    assert_eq!(bad(|j| j.x.truncate(40)), ErrorCode::InvalidInput);
    assert_eq!(bad(|j| j.y = j.x.clone()), ErrorCode::InvalidInput);
}

proptest! {
    #[test]
    fn from_sec1_b64_never_panics(s in ".{0,200}") {
        let _ = VapidPublicKey::from_sec1_b64(&s);
    }

    #[test]
    fn from_sec1_b64_never_panics_on_base64url(s in "[A-Za-z0-9_=+/-]{0,120}") {
        if let Ok(pk) = VapidPublicKey::from_sec1_b64(&s) {
            prop_assert_eq!(pk.to_sec1_b64(), s);
        }
    }

    /// Random 65-byte strings with the 0x04 tag: almost never on the curve,
    /// never a panic, and anything accepted round-trips.
    #[test]
    fn from_sec1_bytes_is_total(body in proptest::collection::vec(any::<u8>(), 64)) {
        let bytes = [vec![0x04], body].concat();
        if let Ok(pk) = VapidPublicKey::from_sec1_bytes(&bytes) {
            prop_assert_eq!(pk.to_sec1_bytes().to_vec(), bytes);
        }
    }
}

// ------------------------------------------------------------- signing key

#[test]
fn signing_key_debug_is_redacted_and_public_matches() {
    let key = VapidSigningKey::generate(&mut rng(1));
    assert_eq!(format!("{key:?}"), "VapidSigningKey(<redacted>)");
    let sig = key.sign(b"payload").unwrap();
    assert!(key.public().verify(b"payload", &sig));
    assert!(!VapidSigningKey::generate(&mut rng(2)).public().verify(b"payload", &sig));
    // Same seed, same key; different seed, different key.
    assert_eq!(VapidSigningKey::generate(&mut rng(1)).public(), key.public());
    assert_ne!(VapidSigningKey::generate(&mut rng(2)).public(), key.public());
    // The kid is 43 characters of base64url (32 bytes).
    assert_eq!(key.public().thumbprint().as_str().len(), 43);
}

// ------------------------------------------------------------------ sealing

struct Fixture {
    rng: ChaCha20Rng,
    alice: UserId,
    sealing: Key256,
    key: VapidSigningKey,
    kid: KeyId,
}

fn fixture() -> Fixture {
    let mut rng = rng(42);
    let master = MasterSecret::generate(&mut rng);
    let alice = user("alice@example.com");
    let sealing = vapid_sealing_key(&master, &alice).unwrap();
    let key = VapidSigningKey::generate(&mut rng);
    let kid = key.public().thumbprint();
    Fixture { rng, alice, sealing, key, kid }
}

#[test]
fn seal_unseal_round_trip() {
    let mut f = fixture();
    let sealed = f.key.seal(&f.sealing, &f.alice, &f.kid, 1, &mut f.rng).unwrap();
    let back = VapidSigningKey::unseal(&f.sealing, &f.alice, &f.kid, 1, &sealed, KeyFormat::Pkcs8).unwrap();
    assert_eq!(back.public(), f.key.public());
    // Deterministic ECDSA: equal signatures mean equal scalars.
    assert_eq!(back.sign(b"m").unwrap(), f.key.sign(b"m").unwrap());
    // Sealing twice uses fresh nonces.
    let again = f.key.seal(&f.sealing, &f.alice, &f.kid, 1, &mut f.rng).unwrap();
    assert_ne!(again, sealed);
}

#[test]
fn unseal_in_any_other_context_is_integrity() {
    let mut f = fixture();
    let sealed = f.key.seal(&f.sealing, &f.alice, &f.kid, 3, &mut f.rng).unwrap();

    // Another user, with alice's sealing key and with their own.
    let bob = user("bob");
    assert_eq!(
        VapidSigningKey::unseal(&f.sealing, &bob, &f.kid, 3, &sealed, KeyFormat::Pkcs8).unwrap_err(),
        CoreError::Integrity
    );
    let master = MasterSecret::generate(&mut f.rng);
    let bob_key = vapid_sealing_key(&master, &bob).unwrap();
    assert_eq!(
        VapidSigningKey::unseal(&bob_key, &bob, &f.kid, 3, &sealed, KeyFormat::Pkcs8).unwrap_err(),
        CoreError::Integrity
    );
    // Another kid.
    let other_kid = VapidSigningKey::generate(&mut f.rng).public().thumbprint();
    assert_eq!(
        VapidSigningKey::unseal(&f.sealing, &f.alice, &other_kid, 3, &sealed, KeyFormat::Pkcs8).unwrap_err(),
        CoreError::Integrity
    );
    // Another version.
    for v in [0, 2, 4, u32::MAX] {
        assert_eq!(
            VapidSigningKey::unseal(&f.sealing, &f.alice, &f.kid, v, &sealed, KeyFormat::Pkcs8).unwrap_err(),
            CoreError::Integrity
        );
    }
    // Another sealing key: alice's under another master secret, and the
    // same master secret's subkey for another user.
    let other_master = MasterSecret::generate(&mut f.rng);
    let other = vapid_sealing_key(&other_master, &f.alice).unwrap();
    assert_eq!(
        VapidSigningKey::unseal(&other, &f.alice, &f.kid, 3, &sealed, KeyFormat::Pkcs8).unwrap_err(),
        CoreError::Integrity
    );
    // The right context still works.
    assert!(VapidSigningKey::unseal(&f.sealing, &f.alice, &f.kid, 3, &sealed, KeyFormat::Pkcs8).is_ok());
}

#[test]
fn sealing_key_is_per_user() {
    let mut r = rng(5);
    let master = MasterSecret::generate(&mut r);
    let alice = user("alice");
    let bob = user("bob");
    let alice_key = vapid_sealing_key(&master, &alice).unwrap();
    let bob_key = vapid_sealing_key(&master, &bob).unwrap();
    let key = VapidSigningKey::generate(&mut r);
    let kid = key.public().thumbprint();
    let sealed = key.seal(&alice_key, &alice, &kid, 1, &mut r).unwrap();
    // Bob's subkey of the same master secret cannot open alice's blob even
    // with alice's AAD.
    assert_eq!(
        VapidSigningKey::unseal(&bob_key, &alice, &kid, 1, &sealed, KeyFormat::Pkcs8).unwrap_err(),
        CoreError::Integrity
    );
    // Derivation is deterministic.
    let alice_again = vapid_sealing_key(&master, &alice).unwrap();
    assert!(VapidSigningKey::unseal(&alice_again, &alice, &kid, 1, &sealed, KeyFormat::Pkcs8).is_ok());
}

// ------------------------------------------------------------------ records

fn record(f: &mut Fixture, version: u32) -> VapidKeyRecord {
    VapidKeyRecord::create(&f.key, &f.sealing, &f.alice, version, 1_700_000_000_000, &mut f.rng).unwrap()
}

/// Serializes a record, edits the JSON, and parses it back.
fn edited(rec: &VapidKeyRecord, edit: impl FnOnce(&mut serde_json::Value)) -> VapidKeyRecord {
    let mut json = serde_json::to_value(rec).unwrap();
    edit(&mut json);
    serde_json::from_value(json).unwrap()
}

#[test]
fn record_round_trip_and_info() {
    let mut f = fixture();
    let rec = record(&mut f, 1);
    let json = serde_json::to_value(&rec).unwrap();
    assert_eq!(json["v"], 2, "sealed as PKCS#8 (format 2)");
    assert_eq!(json["kid"], f.kid.as_str());
    assert_eq!(json["version"], 1);
    assert_eq!(json["public_key"], f.key.public().to_sec1_b64());
    assert_eq!(json["status"], "current");
    assert_eq!(json["created_ms"], 1_700_000_000_000u64);
    assert_eq!(json["retired_ms"], serde_json::Value::Null);
    assert!(json["sealed"].as_str().unwrap().len() > 40);
    let parsed: VapidKeyRecord = serde_json::from_value(json).unwrap();
    assert_eq!(parsed, rec);

    let opened = parsed.open(&f.sealing, &f.alice).unwrap();
    assert_eq!(opened.sign(b"x").unwrap(), f.key.sign(b"x").unwrap());

    let info = rec.info().unwrap();
    assert_eq!(info.kid, f.kid);
    assert_eq!(info.public_key, f.key.public().to_sec1_b64());
    assert_eq!(info.jwk, f.key.public().jwk());
    assert_eq!(info.version, 1);
    assert_eq!(info.status, KeyStatus::Current);
    assert_eq!(info.created_ms, 1_700_000_000_000);
    assert_eq!(info.retired_ms, None);
    let info_json = serde_json::to_value(&info).unwrap();
    assert_eq!(info_json["status"], "current");
    assert_eq!(info_json["jwk"]["kty"], "EC");
}

#[test]
fn record_retire() {
    let mut f = fixture();
    let mut rec = record(&mut f, 1);
    assert!(rec.retire(1_700_000_500_000));
    assert_eq!(rec.status(), KeyStatus::Retired);
    assert_eq!(rec.retired_ms(), Some(1_700_000_500_000));
    // Retiring again keeps the first time.
    assert!(!rec.retire(1_700_000_900_000));
    assert_eq!(rec.retired_ms(), Some(1_700_000_500_000));
    let info = rec.info().unwrap();
    assert_eq!(info.status, KeyStatus::Retired);
    assert_eq!(serde_json::to_value(&info).unwrap()["status"], "retired");
    // A retired key still opens (its public half stays listed; the engine
    // decides whether it may sign).
    assert!(rec.open(&f.sealing, &f.alice).is_ok());
}

#[test]
fn record_open_refuses_any_tampering() {
    let mut f = fixture();
    let rec = record(&mut f, 2);
    let other = VapidSigningKey::generate(&mut f.rng);

    // Moved to another user.
    assert_eq!(rec.open(&f.sealing, &user("mallory")).unwrap_err(), CoreError::Integrity);
    // Opened with another sealing key.
    let wrong = Key256::generate(&mut f.rng);
    assert_eq!(rec.open(&wrong, &f.alice).unwrap_err(), CoreError::Integrity);
    // Version edited.
    let r = edited(&rec, |j| j["version"] = 3.into());
    assert_eq!(r.open(&f.sealing, &f.alice).unwrap_err(), CoreError::Integrity);
    // Kid edited.
    let r = edited(&rec, |j| j["kid"] = other.public().thumbprint().as_str().into());
    assert_eq!(r.open(&f.sealing, &f.alice).unwrap_err(), CoreError::Integrity);
    // Public half swapped: open refuses, and so does info (kid mismatch).
    let r = edited(&rec, |j| j["public_key"] = other.public().to_sec1_b64().into());
    assert_eq!(r.open(&f.sealing, &f.alice).unwrap_err(), CoreError::Integrity);
    assert_eq!(r.info().unwrap_err(), CoreError::Integrity);
    // Public half and kid swapped together: the AAD no longer matches.
    let r = edited(&rec, |j| {
        j["public_key"] = other.public().to_sec1_b64().into();
        j["kid"] = other.public().thumbprint().as_str().into();
    });
    assert!(r.info().is_ok());
    assert_eq!(r.open(&f.sealing, &f.alice).unwrap_err(), CoreError::Integrity);
    // Sealed blob taken from another record of the same user.
    let other_rec = VapidKeyRecord::create(&other, &f.sealing, &f.alice, 2, 1_700_000_000_000, &mut f.rng).unwrap();
    let other_sealed = serde_json::to_value(&other_rec).unwrap()["sealed"].clone();
    let r = edited(&rec, |j| j["sealed"] = other_sealed);
    assert_eq!(r.open(&f.sealing, &f.alice).unwrap_err(), CoreError::Integrity);
    // A flipped bit in the blob.
    let r = edited(&rec, |j| {
        let s = j["sealed"].as_str().unwrap().to_owned();
        let mut bytes = s.into_bytes();
        bytes[20] = if bytes[20] == b'A' { b'B' } else { b'A' };
        j["sealed"] = String::from_utf8(bytes).unwrap().into();
    });
    assert_eq!(r.open(&f.sealing, &f.alice).unwrap_err(), CoreError::Integrity);
    // Untouched, it opens.
    assert!(rec.open(&f.sealing, &f.alice).is_ok());
}

#[test]
fn record_format_is_checked_on_read() {
    let mut f = fixture();
    let rec = record(&mut f, 1);
    let json = serde_json::to_value(&rec).unwrap();
    let parse = |j: serde_json::Value| serde_json::from_value::<VapidKeyRecord>(j);

    let mut j = json.clone();
    j["v"] = 3.into();
    let err = parse(j).unwrap_err().to_string();
    assert!(err.contains("unsupported format version 3"), "{err}");
    let mut j = json.clone();
    j.as_object_mut().unwrap().remove("v");
    assert!(parse(j).is_err());
    let mut j = json.clone();
    j["extra"] = true.into();
    assert!(parse(j).unwrap_err().to_string().contains("unknown field"));
    let mut j = json.clone();
    j["status"] = "active".into();
    assert!(parse(j).is_err());
    let mut j = json.clone();
    j["public_key"] = "AAAA".into();
    assert!(parse(j).is_err());
    let mut j = json.clone();
    j["kid"] = "../etc".into();
    assert!(parse(j).is_err());
    assert_eq!(parse(json).unwrap(), rec);
}
