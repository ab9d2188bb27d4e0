//! The engine's cost over the bare primitive, measured in the same run:
//!
//! - `unlock/bare_pbkdf2_600k` vs `unlock/engine_unlock_600k`: a passphrase
//!   unlock through the RPC layer (decode, throttle check, PBKDF2, HKDF,
//!   AES-GCM unwrap, session) against one PBKDF2-HMAC-SHA256 call.
//!   Target: ratio <= 1.05.
//! - `jwt/bare_p256_sign` vs `jwt/engine_sign_jwt`: signing a VAPID JWT
//!   through the RPC layer (JSON request, session check, claims validation,
//!   store read, JWS assembly) against one ES256 signature of a JWT-sized
//!   message. Target: ratio <= 1.3.
//!
//! Run with `scripts/bench.sh`, which prints the ratios (the unlock one
//! against the mean of the bare runs before and after the engine's).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use futures::executor::block_on;
use kms_core::env::ManualClock;
use kms_storage::MemoryStore;
use kms_worker::{Kms, KmsConfig};
use p256::ecdsa::signature::Signer;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde_json::{json, Value};

const PASS: &str = "correct horse battery staple";
const NOW_MS: u64 = 1_800_000_000_000;

fn engine() -> Kms<ManualClock, ChaCha20Rng> {
    let config = KmsConfig { session_ttl_ms: 24 * 3600 * 1000, ..KmsConfig::default() };
    Kms::new(Box::new(MemoryStore::new()), ManualClock::new(NOW_MS), ChaCha20Rng::seed_from_u64(7), config).unwrap()
}

fn call(kms: &mut Kms<ManualClock, ChaCha20Rng>, method: &str, params: Value) -> Value {
    let req = json!({"v": 1, "id": 1, "method": method, "params": params});
    let resp: Value = serde_json::from_slice(&block_on(kms.handle_json(req.to_string().as_bytes()))).unwrap();
    assert!(resp.get("error").is_none(), "{method}: {resp}");
    resp["result"].clone()
}

fn unlock(c: &mut Criterion) {
    let mut kms = engine();
    call(&mut kms, "setup", json!({"user": "alice", "enrollment": {"kind": "passphrase", "passphrase": PASS}}));
    let unlock_req =
        json!({"v": 1, "id": 2, "method": "unlock", "params": {"user": "alice", "credential": {"kind": "passphrase", "passphrase": PASS}}})
            .to_string();
    let salt = [7u8; 16];

    let mut g = c.benchmark_group("unlock");
    g.sample_size(20);
    g.bench_function("bare_pbkdf2_600k", |b| {
        b.iter(|| kms_core::crypto::kdf::pbkdf2_sha256(black_box(PASS.as_bytes()), black_box(&salt), 600_000))
    });
    g.bench_function("engine_unlock_600k", |b| b.iter(|| block_on(kms.handle_json(black_box(unlock_req.as_bytes())))));
    // The bare primitive again, after the engine: the report compares the
    // engine with the mean of both bare runs, so a drift of the machine
    // during the run (clock boost, a neighbour's load) does not count as
    // engine overhead.
    g.bench_function("bare_pbkdf2_600k_after", |b| {
        b.iter(|| kms_core::crypto::kdf::pbkdf2_sha256(black_box(PASS.as_bytes()), black_box(&salt), 600_000))
    });
    g.finish();
}

fn sign(c: &mut Criterion) {
    let mut kms = engine();
    let setup =
        call(&mut kms, "setup", json!({"user": "alice", "enrollment": {"kind": "passphrase", "passphrase": PASS}}));
    let session = setup["session"].as_str().unwrap().to_owned();
    call(&mut kms, "vapid_generate", json!({"user": "alice", "session": session}));
    let exp = NOW_MS / 1000 + 12 * 3600;
    let sign_req = json!({"v": 1, "id": 3, "method": "sign_jwt", "params": {
        "user": "alice", "session": session,
        "claims": {"aud": "https://fcm.googleapis.com", "sub": "mailto:ops@example.com", "exp": exp}}})
    .to_string();
    // A message the size of a real JWT signing input.
    let first = call(&mut kms, "sign_jwt", serde_json::from_str::<Value>(&sign_req).unwrap()["params"].clone());
    let jwt = first["jwt"].as_str().unwrap();
    let signing_input = jwt.rsplit_once('.').unwrap().0.as_bytes().to_vec();
    let key = p256::ecdsa::SigningKey::random(&mut ChaCha20Rng::seed_from_u64(9));

    let mut g = c.benchmark_group("jwt");
    g.bench_function("bare_p256_sign", |b| {
        b.iter(|| {
            let sig: p256::ecdsa::Signature = key.sign(black_box(&signing_input));
            sig
        })
    });
    g.bench_function("engine_sign_jwt", |b| b.iter(|| block_on(kms.handle_json(black_box(sign_req.as_bytes())))));
    g.finish();
}

criterion_group!(benches, unlock, sign);
criterion_main!(benches);
