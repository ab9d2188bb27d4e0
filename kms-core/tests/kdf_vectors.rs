//! Known-answer tests for the KDFs, from files under `tests/vectors/` that
//! name their source (RFC 5869, RFC 7914).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use kms_core::crypto::kdf::{hkdf_sha256, pbkdf2_sha256};
use kms_core::testing::encoding::hex;
use serde_json::Value;

#[test]
fn hkdf_sha256_rfc5869() {
    let v: Value = serde_json::from_str(include_str!("vectors/hkdf_rfc5869.json")).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let len = usize::try_from(case["length"].as_u64().unwrap()).unwrap();
        let mut okm = vec![0u8; len];
        hkdf_sha256(
            &hex(case["ikm"].as_str().unwrap()),
            &hex(case["salt"].as_str().unwrap()),
            &hex(case["info"].as_str().unwrap()),
            &mut okm,
        )
        .unwrap();
        assert_eq!(okm, hex(case["okm"].as_str().unwrap()), "case {}", case["name"]);
    }
}

#[test]
fn hkdf_refuses_overlong_output() {
    let mut okm = vec![0u8; 255 * 32 + 1];
    assert!(hkdf_sha256(b"ikm", b"salt", b"info", &mut okm).is_err());
}

#[test]
fn pbkdf2_hmac_sha256_rfc7914() {
    let v: Value = serde_json::from_str(include_str!("vectors/pbkdf2_rfc7914.json")).unwrap();
    let cases = v["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 2);
    for case in cases {
        let out = pbkdf2_sha256(
            case["password"].as_str().unwrap().as_bytes(),
            case["salt"].as_str().unwrap().as_bytes(),
            u32::try_from(case["iterations"].as_u64().unwrap()).unwrap(),
        );
        let dk = hex(case["dk"].as_str().unwrap());
        assert_eq!(out.as_slice(), &dk[..32], "iterations {}", case["iterations"]);
    }
}
