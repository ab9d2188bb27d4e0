//! The engine answers any bytes with a well-formed response.
#![no_main]
use rand_chacha::rand_core::SeedableRng;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let store = kms_storage::MemoryStore::new();
    let clock = kms_core::env::ManualClock::new(1_800_000_000_000);
    let rng = rand_chacha::ChaCha20Rng::seed_from_u64(0);
    let Ok(mut kms) = kms_worker::Kms::new(
        Box::new(store),
        kms_worker::Platform::native(clock, rng),
        kms_worker::KmsConfig::default(),
    ) else {
        return;
    };
    let out = futures::executor::block_on(kms.handle_json(data));
    let v: serde_json::Value = serde_json::from_slice(&out).expect("responses are JSON");
    assert!(v.get("result").is_some() != v.get("error").is_some());
});
