//! `tests/fixtures/native-store.json`: a store written by the native engine
//! (RustCrypto provider), with the secrets inside it, masked. The browser
//! tests load it into IndexedDB and use it with the WebCrypto provider (a
//! native store opens in the browser), and the memory-scan test looks for
//! exactly these secrets in the worker's memory.
//!
//! The store is made from a seeded RNG at a fixed instant, so it is the
//! same on every run; this test makes it again and compares, so the file
//! cannot drift from what the engine writes. `KMS_UPDATE_FIXTURES=1`
//! rewrites it. The secrets are recomputed here from the records and the
//! passphrase alone (as an attacker holding both would), not taken from
//! the engine, and stored XOR 0x5a so that no copy of them sits in the test
//! binary's memory unmasked.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod support;

use kms_core::audit::{audit_sealing_key, AuditKeyRecord};
use kms_core::crypto::{aad, kdf};
use kms_core::ids::UserId;
use kms_core::secret::MasterSecret;
use kms_core::testing::secrets;
use kms_core::unlock::{EnrollmentRecord, Method, MethodParams};
use kms_core::vapid::{vapid_sealing_key, VapidKeyRecord};
use serde_json::{json, Value};
use support::*;

const PATH: &str = "tests/fixtures/native-store.json";
/// 2026-12-06T12:00:00Z: the fixture's "now".
const NOW_MS: u64 = 1_796_558_400_000;
const PASSPHRASE: &str = "native fixture passphrase 1";
/// What every needle is XORed with in the file.
pub const MASK: u8 = 0x5a;

fn masked(bytes: &[u8]) -> String {
    kms_core::testing::encoding::hex_string(&bytes.iter().map(|b| b ^ MASK).collect::<Vec<_>>())
}

fn reversed(mut bytes: [u8; 32]) -> [u8; 32] {
    bytes.reverse();
    bytes
}

fn make() -> Value {
    let mut h = Harness::new(7_000);
    h.clock.set(NOW_MS);
    let s = h.setup_passphrase("alice", PASSPHRASE).session;
    h.rpc_ok("vapid_generate", json!({"user": "alice", "session": s}));
    let granted = h.rpc_ok(
        "lease_create",
        json!({"user": "alice", "session": s,
               "lease": {"relay": "relay-1", "audiences": ["https://fcm.googleapis.com"], "lifetime_s": 604_800}}),
    );
    let records: serde_json::Map<String, Value> =
        h.store.snapshot().into_iter().map(|(k, v)| (k, json!(kms_core::b64::encode(v)))).collect();

    // The secrets, from the records and the passphrase.
    let user = UserId::parse("alice").unwrap();
    let record = |prefix: &str| {
        records.iter().find(|(k, _)| k.starts_with(prefix)).map(|(_, v)| unb64(v.as_str().unwrap())).unwrap()
    };
    let enrollment = EnrollmentRecord::decode(&record("users/alice/enrollments/")).unwrap();
    let MethodParams::Passphrase(params) = &enrollment.params else { panic!("a passphrase enrollment") };
    let ikm = kdf::pbkdf2_sha256(PASSPHRASE.as_bytes(), &params.checked_salt().unwrap(), params.iterations);
    let (salt, info) = enrollment.params.wrap_kdf(&user, &enrollment.id).unwrap();
    let wrap = kdf::hkdf_key(ikm.as_ref(), &salt, &info).unwrap();
    let master_aad = aad::master_wrap(&user, &enrollment.id, Method::Passphrase);
    let master = MasterSecret::unwrap(&wrap, &master_aad, &enrollment.wrapped).unwrap();
    let vapid_sealing = vapid_sealing_key(&master, &user).unwrap();
    let vapid: VapidKeyRecord = serde_json::from_slice(&record("users/alice/vapid/")).unwrap();
    let vapid_key = vapid.open(&vapid_sealing, &user).unwrap();
    let audit_sealing = audit_sealing_key(&master, &user).unwrap();
    let audit: AuditKeyRecord = serde_json::from_slice(&record("users/alice/audit/key")).unwrap();
    let audit_key = audit.open(&audit_sealing, &user).unwrap();

    json!({
        "about": "A store written by the native engine (seeded, at a fixed instant): user alice with a passphrase \
                  enrollment, a VAPID key and a lease. Records are base64url of the stored bytes. `needles` are \
                  the secrets inside, each byte XOR 0x5a: what must never be found in the browser worker's memory. \
                  Made and checked by kms-worker/tests/engine_fixtures.rs.",
        "user": "alice",
        "passphrase": PASSPHRASE,
        "now_ms": NOW_MS,
        "vapid_kid": vapid.kid().as_str(),
        "vapid_public_key": vapid.public_key().to_sec1_b64(),
        "audit_public_key": audit.public_key().unwrap().to_sec1_b64(),
        "lease_id": granted["lease"]["id"],
        "lease_credential": granted["credential"],
        "records": records,
        "needles": {
            "master_secret": masked(&secrets::master_bytes(&master)),
            "enrollment_wrapping_key": masked(&secrets::key_bytes(&wrap)),
            "vapid_sealing_key": masked(&secrets::key_bytes(&vapid_sealing)),
            "audit_sealing_key": masked(&secrets::key_bytes(&audit_sealing)),
            "vapid_private_scalar": masked(&secrets::vapid_scalar(&vapid_key)),
            "audit_private_scalar": masked(&secrets::audit_scalar(&audit_key)),
            // RustCrypto keeps a scalar as little-endian limbs: in memory its
            // bytes are the big-endian encoding reversed.
            "vapid_private_scalar_le": masked(&reversed(secrets::vapid_scalar(&vapid_key))),
            "audit_private_scalar_le": masked(&reversed(secrets::audit_scalar(&audit_key))),
        },
    })
}

#[test]
fn the_native_store_fixture_is_what_the_engine_writes() {
    let made = serde_json::to_string_pretty(&make()).unwrap() + "\n";
    if std::env::var_os("KMS_UPDATE_FIXTURES").is_some() {
        std::fs::write(PATH, &made).unwrap();
    }
    let stored = std::fs::read_to_string(PATH).unwrap_or_default();
    assert!(stored == made, "{PATH} is not what the engine writes now; rerun with KMS_UPDATE_FIXTURES=1 and review");
}
