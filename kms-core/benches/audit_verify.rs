//! Verifying a 10,000-entry audit export, beside the work no verifier can
//! skip: one SHA-256 over each entry's canonical bytes (the hash chain).
//! The ratio says what parsing, canonical checks, MACs and checkpoint
//! signatures cost on top. Run with `scripts/bench.sh`.
//!
//! Two worst cases of the `audit_verify` RPC (no session) beside it: the
//! same export with the most expected checkpoints a caller may pass
//! (`MAX_EXPECTED_CHECKPOINTS`, one signature check each), and an export
//! with as many signed checkpoints as a reader takes
//! (`MAX_EXPORT_CHECKPOINTS`, one after each of the last entries).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use kms_core::audit::{self, AuditRecord, AuditScope, ChainState, Checkpoint, EventKind, Outcome, VerifyOptions};
use kms_core::ids::UserId;
use kms_core::secret::MasterSecret;
use rand_chacha::rand_core::SeedableRng;
use sha2::{Digest, Sha256};

const ENTRIES: u64 = 10_000;

/// The 10,000-entry export with a checkpoint after entry `i` when
/// `checkpoint_after(i)`, its key, its checkpoints, and each entry's
/// canonical bytes.
type Built = (String, audit::AuditPublicKey, Vec<Checkpoint>, Vec<Vec<u8>>);

fn build() -> (String, audit::AuditPublicKey, Vec<Vec<u8>>) {
    let (text, key, _, canon) = build_with(|i| (i + 1) % 1000 == 0);
    (text, key, canon)
}

fn build_with(checkpoint_after: impl Fn(u64) -> bool) -> Built {
    let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
    let master = MasterSecret::generate(&mut rng);
    let user = UserId::parse("bench").unwrap();
    let scope = AuditScope::User(user.clone());
    let mut state = ChainState::genesis(scope.clone(), audit::audit_mac_key0(&master, &user).unwrap());
    let key = audit::AuditSigningKey::generate(&mut rng).unwrap();
    let mut entries = Vec::new();
    let mut checkpoints = Vec::new();
    for i in 0..ENTRIES {
        let rec = AuditRecord::new(EventKind::LeaseToken, Outcome::Ok)
            .with_id("lease_id", "AAAAAAAAAAAAAAAAAAAAAA")
            .with_id("jti", format!("jti-{i:08}"))
            .with_id("aud", "https://fcm.googleapis.com");
        let (entry, next) = audit::append(&state, &scope, rec, 1_800_000_000_000 + i).unwrap();
        entries.push(entry);
        state = next;
        // Where asked: every 1,000 entries for the main case, as unlocks and
        // locks would leave.
        if checkpoint_after(i) {
            checkpoints.push(Checkpoint::sign(&key, &state, 1_800_000_000_000 + i).unwrap());
        }
    }
    let canon: Vec<Vec<u8>> = entries.iter().map(|e| e.canonical_bytes().unwrap()).collect();
    let text = audit::write_export(&scope, key.public(), &entries, &checkpoints).unwrap();
    (text, key.public().clone(), checkpoints, canon)
}

fn verify(c: &mut Criterion) {
    let (text, key, canon) = build();
    let opts = VerifyOptions { expected_public_key: Some(key), ..Default::default() };
    assert!(audit::verify_export(&text, &opts).valid);
    let mut g = c.benchmark_group("audit");
    g.sample_size(20);
    g.bench_function("bare_sha256_10k", |b| {
        b.iter(|| {
            let mut last = [0u8; 32];
            for bytes in &canon {
                last = Sha256::digest(black_box(bytes)).into();
            }
            last
        })
    });
    g.bench_function("verify_export_10k", |b| b.iter(|| audit::verify_export(black_box(&text), &opts)));

    // The same export, with the most expected checkpoints allowed.
    let (_, _, checkpoints, _) = build_with(|i| (i + 1) % 1000 == 0);
    let held: Vec<Checkpoint> = checkpoints.iter().cycle().take(audit::MAX_EXPECTED_CHECKPOINTS).cloned().collect();
    let max_expected = VerifyOptions {
        expected_public_key: opts.expected_public_key.clone(),
        expected_checkpoints: held,
        ..VerifyOptions::default()
    };
    let r = audit::verify_export(&text, &max_expected);
    assert!(r.valid && r.expected_checkpoints_verified == audit::MAX_EXPECTED_CHECKPOINTS);
    g.bench_function("verify_export_10k_max_expected", |b| {
        b.iter(|| audit::verify_export(black_box(&text), &max_expected))
    });

    // The most checkpoints a reader takes: one after each of the last entries.
    let first = ENTRIES - u64::try_from(audit::MAX_EXPORT_CHECKPOINTS).unwrap();
    let (dense, dense_key, dense_cps, _) = build_with(|i| i >= first);
    assert_eq!(dense_cps.len(), audit::MAX_EXPORT_CHECKPOINTS);
    let dense_opts = VerifyOptions { expected_public_key: Some(dense_key), ..Default::default() };
    assert!(audit::verify_export(&dense, &dense_opts).valid);
    g.bench_function("verify_export_10k_max_checkpoints", |b| {
        b.iter(|| audit::verify_export(black_box(&dense), &dense_opts))
    });
    g.finish();
    println!("dense export size: {} bytes", dense.len());
    println!("export size: {} bytes for {ENTRIES} entries", text.len());
}

criterion_group!(benches, verify);
criterion_main!(benches);
