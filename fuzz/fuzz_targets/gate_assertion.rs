//! A gate-mode assertion from the network never panics the verifier.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(response) = serde_json::from_slice::<kms_core::rpc::PublicKeyCredential>(data) else {
        return;
    };
    let Ok(cred) = kms_core::unlock::gate::GateCredential::new(
        "Y3JlZGVudGlhbA",
        "BGD-1LolWp0xyWHrdMY1bWjASbiSO2H6bOZpYi5g8p-2eQP-EAi4vJmkGunpVii8ZPLxsgwtfp9Rd6PClNRGIpk",
        "localhost",
    ) else {
        return;
    };
    let origins = ["http://localhost:8081".to_owned()];
    let expected = kms_core::unlock::gate::ExpectedAssertion {
        challenge: &[7u8; 32],
        allowed_origins: &origins,
        allowed_top_origins: &[],
        rp_id: "localhost",
    };
    let _ = kms_core::unlock::gate::verify_assertion(&cred, &response, &expected);
});
