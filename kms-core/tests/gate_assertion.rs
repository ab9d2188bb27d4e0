//! Gate-mode WebAuthn assertion checks (`kms_core::unlock::gate`), against a
//! software authenticator whose output goes through the JSON a browser's
//! `PublicKeyCredential.toJSON()` produces.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

// Tests may unwrap (see clippy.toml); this covers the helpers outside `#[test]`.

use kms_core::testing::authenticator::{
    authenticator_data, client_data_json, Assertion, SoftAuthenticator, AT, BE, BS, ED, UP, UV,
};
use kms_core::testing::encoding::b64;
use kms_core::unlock::gate::{
    parse_credential_public_key, verify_assertion, AssertionError, ExpectedAssertion, GateCredential,
};
use kms_core::CoreError;
use p256::ecdsa::Signature;
use p256::elliptic_curve::PrimeField as _;
use proptest::prelude::*;

const RP_ID: &str = "kms.example.com";
const ORIGIN: &str = "https://kms.example.com";
const CHALLENGE: [u8; 32] = [0x5a; 32];

fn origins() -> Vec<String> {
    vec![ORIGIN.to_owned(), "https://app.example.com".to_owned()]
}

fn authn() -> SoftAuthenticator {
    SoftAuthenticator::new(1, RP_ID, ORIGIN)
}

fn credential_of(a: &SoftAuthenticator, sign_count: u32) -> GateCredential {
    let mut cred = GateCredential::new(&b64(&a.credential_id), &b64(a.public_key_sec1()), &a.rp_id).unwrap();
    cred.sign_count = sign_count;
    cred
}

/// Verifies `assertion` against the default credential (stored count
/// `stored`) and expectations.
fn check(assertion: &Assertion, stored: u32) -> Result<u32, AssertionError> {
    let origins = origins();
    let expected =
        ExpectedAssertion { challenge: &CHALLENGE, allowed_origins: &origins, allowed_top_origins: &[], rp_id: RP_ID };
    verify_assertion(&credential_of(&authn(), stored), &assertion.to_credential(), &expected)
}

// ---------------------------------------------------------------- accepted

#[test]
fn valid_assertion_returns_new_counter() {
    let a = authn().assert(&CHALLENGE, 42);
    assert_eq!(check(&a, 41), Ok(42));
    assert_eq!(check(&a, 0), Ok(42));
}

#[test]
fn counter_zero_zero_is_accepted() {
    // Authenticators that keep no counter (most passkey providers) send 0.
    assert_eq!(check(&authn().assert(&CHALLENGE, 0), 0), Ok(0));
}

#[test]
fn second_allowed_origin_is_accepted() {
    let a = authn();
    let assertion = a.assert_with(
        client_data_json("webauthn.get", &CHALLENGE, "https://app.example.com"),
        authenticator_data(RP_ID, UP | UV, 7),
    );
    assert_eq!(check(&assertion, 6), Ok(7));
}

#[test]
fn browser_json_without_user_handle_is_accepted() {
    let mut assertion = authn().assert(&CHALLENGE, 3);
    assertion.user_handle = None;
    assert!(!assertion.to_browser_json().contains("userHandle"));
    assert_eq!(check(&assertion, 2), Ok(3));
}

#[test]
fn high_s_and_low_s_signatures_are_both_accepted() {
    // WebAuthn does not require low-S, and authenticators produce both.
    let a = authn();
    let cdj = client_data_json("webauthn.get", &CHALLENGE, ORIGIN);
    let ad = authenticator_data(RP_ID, UP | UV, 9);
    let sig = a.sign_raw(&ad, &cdj);
    let (r, s) = sig.split_scalars();
    let flipped = Signature::from_scalars(r.to_repr(), (-*s).to_repr()).unwrap();
    assert_ne!(sig, flipped);
    // Exactly one of the two is high-S.
    assert!(sig.normalize_s().is_some() != flipped.normalize_s().is_some());
    for sig in [sig, flipped] {
        let mut assertion = a.assert_with(cdj.clone(), ad.clone());
        assertion.signature = sig.to_der().as_bytes().to_vec();
        assert_eq!(check(&assertion, 8), Ok(9));
    }
}

#[test]
fn extensions_announced_by_ed_are_accepted_when_signed() {
    let a = authn();
    let mut ad = authenticator_data(RP_ID, UP | UV | ED, 5);
    ad.extend_from_slice(&[0xa0]); // an empty CBOR map
    let assertion = a.assert_with(client_data_json("webauthn.get", &CHALLENGE, ORIGIN), ad);
    assert_eq!(check(&assertion, 4), Ok(5));
}

#[test]
fn backup_flags_be_and_bs_are_accepted() {
    let a = authn();
    let assertion = a.assert_with(
        client_data_json("webauthn.get", &CHALLENGE, ORIGIN),
        authenticator_data(RP_ID, UP | UV | BE | BS, 0),
    );
    assert_eq!(check(&assertion, 0), Ok(0));
}

// ---------------------------------------------------------------- refused

#[test]
fn wrong_challenge_is_refused() {
    let a = authn().assert(&[0x5b; 32], 1);
    assert_eq!(check(&a, 0), Err(AssertionError::ChallengeMismatch));
    // One byte off.
    let mut other = CHALLENGE;
    other[31] ^= 1;
    assert_eq!(check(&authn().assert(&other, 1), 0), Err(AssertionError::ChallengeMismatch));
    // A prefix of the right challenge.
    let short = authn().assert(&CHALLENGE[..31], 1);
    assert_eq!(check(&short, 0), Err(AssertionError::ChallengeMismatch));
}

#[test]
fn padded_challenge_spelling_is_refused() {
    let a = authn();
    let padded = format!(r#"{{"type":"webauthn.get","challenge":"{}=","origin":"{ORIGIN}"}}"#, b64(CHALLENGE));
    let assertion = a.assert_with(padded.into_bytes(), authenticator_data(RP_ID, UP | UV, 1));
    assert_eq!(check(&assertion, 0), Err(AssertionError::ChallengeMismatch));
}

#[test]
fn too_short_expected_challenge_is_refused() {
    // A caller bug (a 4-byte challenge) must not make a guessable ceremony.
    let a = authn();
    let challenge = [7u8; 4];
    let origins = origins();
    let expected =
        ExpectedAssertion { challenge: &challenge, allowed_origins: &origins, allowed_top_origins: &[], rp_id: RP_ID };
    let assertion = a.assert(&challenge, 1);
    assert_eq!(
        verify_assertion(&credential_of(&a, 0), &assertion.to_credential(), &expected),
        Err(AssertionError::ChallengeMismatch)
    );
}

#[test]
fn wrong_origin_is_refused() {
    let a = authn();
    for origin in [
        "https://evil.example",
        "https://kms.example.com.evil.example",
        "http://kms.example.com",
        "https://kms.example.com:8443",
        "https://kms.example.com/",
        "https://KMS.example.com",
        "",
    ] {
        let assertion =
            a.assert_with(client_data_json("webauthn.get", &CHALLENGE, origin), authenticator_data(RP_ID, UP | UV, 1));
        assert_eq!(check(&assertion, 0), Err(AssertionError::OriginMismatch), "{origin}");
    }
}

#[test]
fn no_allowed_origin_refuses_everything() {
    let a = authn();
    let expected =
        ExpectedAssertion { challenge: &CHALLENGE, allowed_origins: &[], allowed_top_origins: &[], rp_id: RP_ID };
    let assertion = a.assert(&CHALLENGE, 1);
    assert_eq!(
        verify_assertion(&credential_of(&a, 0), &assertion.to_credential(), &expected),
        Err(AssertionError::OriginMismatch)
    );
}

#[test]
fn create_ceremony_type_is_refused() {
    let a = authn();
    for type_ in ["webauthn.create", "payment.get", "WEBAUTHN.GET", ""] {
        let assertion =
            a.assert_with(client_data_json(type_, &CHALLENGE, ORIGIN), authenticator_data(RP_ID, UP | UV, 1));
        assert_eq!(check(&assertion, 0), Err(AssertionError::WrongCeremonyType), "{type_}");
    }
}

#[test]
fn cross_origin_is_refused() {
    let a = authn();
    let c = b64(CHALLENGE);
    for cdj in [
        format!(r#"{{"type":"webauthn.get","challenge":"{c}","origin":"{ORIGIN}","crossOrigin":true}}"#),
        format!(
            r#"{{"type":"webauthn.get","challenge":"{c}","origin":"{ORIGIN}","crossOrigin":true,"topOrigin":"https://evil.example"}}"#
        ),
        format!(
            r#"{{"type":"webauthn.get","challenge":"{c}","origin":"{ORIGIN}","topOrigin":"https://evil.example"}}"#
        ),
        format!(r#"{{"type":"webauthn.get","challenge":"{c}","origin":"{ORIGIN}","topOrigin":null}}"#),
    ] {
        let assertion = a.assert_with(cdj.clone().into_bytes(), authenticator_data(RP_ID, UP | UV, 1));
        assert_eq!(check(&assertion, 0), Err(AssertionError::CrossOrigin), "{cdj}");
    }
    // Absent crossOrigin is fine.
    let cdj = format!(r#"{{"type":"webauthn.get","challenge":"{c}","origin":"{ORIGIN}"}}"#);
    let assertion = a.assert_with(cdj.into_bytes(), authenticator_data(RP_ID, UP | UV, 1));
    assert_eq!(check(&assertion, 0), Ok(1));
}

#[test]
fn an_embedded_frame_is_accepted_only_inside_an_allowed_host() {
    let a = authn();
    let c = b64(CHALLENGE);
    let origins = [ORIGIN.to_owned()];
    let hosts = ["https://app.example".to_owned()];
    let expected = ExpectedAssertion {
        challenge: &CHALLENGE,
        allowed_origins: &origins,
        allowed_top_origins: &hosts,
        rp_id: RP_ID,
    };
    let run = |cdj: String| {
        let assertion = a.assert_with(cdj.into_bytes(), authenticator_data(RP_ID, UP | UV, 1));
        verify_assertion(&credential_of(&a, 0), &assertion.to_credential(), &expected)
    };
    // The KMS frame inside the allowed host page.
    let ok = format!(
        r#"{{"type":"webauthn.get","challenge":"{c}","origin":"{ORIGIN}","crossOrigin":true,"topOrigin":"https://app.example"}}"#
    );
    assert_eq!(run(ok), Ok(1));
    for cdj in [
        // Another top page.
        format!(
            r#"{{"type":"webauthn.get","challenge":"{c}","origin":"{ORIGIN}","crossOrigin":true,"topOrigin":"https://evil.example"}}"#
        ),
        // The same host spelled differently: exact match only.
        format!(
            r#"{{"type":"webauthn.get","challenge":"{c}","origin":"{ORIGIN}","crossOrigin":true,"topOrigin":"https://app.example/"}}"#
        ),
        // Embedded without saying by whom, or a top origin without crossOrigin.
        format!(r#"{{"type":"webauthn.get","challenge":"{c}","origin":"{ORIGIN}","crossOrigin":true}}"#),
        format!(
            r#"{{"type":"webauthn.get","challenge":"{c}","origin":"{ORIGIN}","crossOrigin":false,"topOrigin":"https://app.example"}}"#
        ),
        format!(
            r#"{{"type":"webauthn.get","challenge":"{c}","origin":"{ORIGIN}","crossOrigin":true,"topOrigin":null}}"#
        ),
    ] {
        assert_eq!(run(cdj.clone()), Err(AssertionError::CrossOrigin), "{cdj}");
    }
}

#[test]
fn rp_id_hash_of_another_rp_is_refused() {
    let a = authn();
    let assertion = a.assert_with(
        client_data_json("webauthn.get", &CHALLENGE, ORIGIN),
        authenticator_data("evil.example", UP | UV, 1),
    );
    assert_eq!(check(&assertion, 0), Err(AssertionError::RpIdMismatch));
}

#[test]
fn expected_rp_id_other_than_credentials_is_refused() {
    // The assertion is perfect for other.example, but the credential was
    // registered for kms.example.com.
    let other = SoftAuthenticator::new(1, "other.example", "https://other.example");
    let origins = vec!["https://other.example".to_owned()];
    let expected = ExpectedAssertion {
        challenge: &CHALLENGE,
        allowed_origins: &origins,
        allowed_top_origins: &[],
        rp_id: "other.example",
    };
    let assertion = other.assert(&CHALLENGE, 1);
    let cred = credential_of(&authn(), 0);
    assert_eq!(cred.rp_id, RP_ID);
    assert_eq!(verify_assertion(&cred, &assertion.to_credential(), &expected), Err(AssertionError::RpIdMismatch));
}

#[test]
fn user_presence_clear_is_refused() {
    let a = authn();
    let assertion =
        a.assert_with(client_data_json("webauthn.get", &CHALLENGE, ORIGIN), authenticator_data(RP_ID, UV, 1));
    assert_eq!(check(&assertion, 0), Err(AssertionError::UserNotPresent));
}

#[test]
fn user_verification_clear_is_refused() {
    let a = authn();
    let assertion =
        a.assert_with(client_data_json("webauthn.get", &CHALLENGE, ORIGIN), authenticator_data(RP_ID, UP, 1));
    assert_eq!(check(&assertion, 0), Err(AssertionError::UserNotVerified));
}

#[test]
fn inconsistent_authenticator_data_is_refused() {
    let a = authn();
    let cdj = || client_data_json("webauthn.get", &CHALLENGE, ORIGIN);
    // BS without BE.
    let bs = a.assert_with(cdj(), authenticator_data(RP_ID, UP | UV | BS, 1));
    assert_eq!(check(&bs, 0), Err(AssertionError::AuthenticatorDataMalformed));
    // Attested credential data in an assertion.
    let at = a.assert_with(cdj(), authenticator_data(RP_ID, UP | UV | AT, 1));
    assert_eq!(check(&at, 0), Err(AssertionError::AuthenticatorDataMalformed));
    // Trailing bytes without ED, even signed.
    let mut ad = authenticator_data(RP_ID, UP | UV, 1);
    ad.push(0);
    let trailing = a.assert_with(cdj(), ad);
    assert_eq!(check(&trailing, 0), Err(AssertionError::AuthenticatorDataMalformed));
}

#[test]
fn counter_equal_or_lower_is_refused() {
    let a = authn().assert(&CHALLENGE, 10);
    assert_eq!(check(&a, 10), Err(AssertionError::CounterNotIncreased));
    assert_eq!(check(&a, 11), Err(AssertionError::CounterNotIncreased));
    assert_eq!(check(&a, u32::MAX), Err(AssertionError::CounterNotIncreased));
    // An authenticator that used to count and now says 0.
    assert_eq!(check(&authn().assert(&CHALLENGE, 0), 10), Err(AssertionError::CounterNotIncreased));
}

#[test]
fn signature_by_another_key_is_refused() {
    let a = authn();
    let mallory = SoftAuthenticator::new(2, RP_ID, ORIGIN);
    assert_ne!(a.public_key_sec1(), mallory.public_key_sec1());
    let mut assertion = mallory.assert(&CHALLENGE, 1);
    // Mallory claims to be the enrolled credential.
    assertion.id = b64(&a.credential_id);
    assertion.raw_id = a.credential_id.clone();
    assert_eq!(check(&assertion, 0), Err(AssertionError::BadSignature));
}

#[test]
fn valid_signature_over_other_client_data_is_refused() {
    let a = authn();
    // Signed for another challenge, presented with the expected one.
    let old = a.assert(&[0x11; 32], 1);
    let mut assertion = a.assert(&CHALLENGE, 1);
    assertion.signature = old.signature.clone();
    assert_eq!(check(&old, 0), Err(AssertionError::ChallengeMismatch));
    assert_eq!(check(&assertion, 0), Err(AssertionError::BadSignature));
}

#[test]
fn authenticator_data_altered_after_signing_is_refused() {
    let a = authn();
    let good = a.assert(&CHALLENGE, 1);
    assert_eq!(check(&good, 0), Ok(1));
    // Counter bumped to get past a clone check.
    let mut bumped = good.clone();
    bumped.authenticator_data = authenticator_data(RP_ID, UP | UV, 1000);
    assert_eq!(check(&bumped, 999), Err(AssertionError::BadSignature));
    // UV added to an assertion made without user verification.
    let no_uv = a.assert_with(client_data_json("webauthn.get", &CHALLENGE, ORIGIN), authenticator_data(RP_ID, UP, 1));
    let mut forged = no_uv.clone();
    forged.authenticator_data = authenticator_data(RP_ID, UP | UV, 1);
    assert_eq!(check(&no_uv, 0), Err(AssertionError::UserNotVerified));
    assert_eq!(check(&forged, 0), Err(AssertionError::BadSignature));
}

#[test]
fn credential_id_of_another_credential_is_refused() {
    let a = authn();
    let other = SoftAuthenticator::new(3, RP_ID, ORIGIN);
    // The other credential's own, validly signed assertion.
    assert_eq!(check(&other.assert(&CHALLENGE, 1), 0), Err(AssertionError::CredentialMismatch));
    // Our assertion relabelled with another id, in both fields.
    let mut relabelled = a.assert(&CHALLENGE, 1);
    relabelled.id = b64(&other.credential_id);
    relabelled.raw_id = other.credential_id.clone();
    assert_eq!(check(&relabelled, 0), Err(AssertionError::CredentialMismatch));
    // `id` and `rawId` disagreeing.
    let mut split = a.assert(&CHALLENGE, 1);
    split.id = b64(&other.credential_id);
    assert_eq!(check(&split, 0), Err(AssertionError::CredentialMismatch));
    let mut split = a.assert(&CHALLENGE, 1);
    split.raw_id = other.credential_id.clone();
    assert_eq!(check(&split, 0), Err(AssertionError::CredentialMismatch));
    // A prefix of our id.
    let mut prefix = a.assert(&CHALLENGE, 1);
    prefix.raw_id.pop();
    prefix.id = b64(&prefix.raw_id);
    assert_eq!(check(&prefix, 0), Err(AssertionError::CredentialMismatch));
}

#[test]
fn truncated_authenticator_data_is_refused() {
    let good = authn().assert(&CHALLENGE, 1);
    for len in [0, 1, 32, 33, 36] {
        let mut assertion = good.clone();
        assertion.authenticator_data.truncate(len);
        assert_eq!(check(&assertion, 0), Err(AssertionError::AuthenticatorDataMalformed), "{len}");
    }
}

#[test]
fn garbage_client_data_is_refused() {
    let a = authn();
    let c = b64(CHALLENGE);
    let cases: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"not json".to_vec(),
        b"[]".to_vec(),
        b"null".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        format!(r#"{{"type":"webauthn.get","challenge":"{c}"}}"#).into_bytes(),
        format!(r#"{{"type":"webauthn.get","origin":"{ORIGIN}"}}"#).into_bytes(),
        format!(r#"{{"challenge":"{c}","origin":"{ORIGIN}"}}"#).into_bytes(),
        format!(r#"{{"type":"webauthn.get","challenge":"{c}","origin":"{ORIGIN}""#).into_bytes(),
        // Duplicate members: no parser differential on which one counts.
        format!(r#"{{"type":"webauthn.create","type":"webauthn.get","challenge":"{c}","origin":"{ORIGIN}"}}"#)
            .into_bytes(),
        format!(r#"{{"type":"webauthn.get","challenge":"{c}","origin":"https://evil.example","origin":"{ORIGIN}"}}"#)
            .into_bytes(),
        // Wrong member types.
        format!(r#"{{"type":"webauthn.get","challenge":"{c}","origin":"{ORIGIN}","crossOrigin":"false"}}"#)
            .into_bytes(),
        format!(r#"{{"type":"webauthn.get","challenge":"{c}","origin":"{ORIGIN}","crossOrigin":null}}"#).into_bytes(),
        format!(r#"{{"type":"webauthn.get","challenge":42,"origin":"{ORIGIN}"}}"#).into_bytes(),
    ];
    for cdj in cases {
        let assertion = a.assert_with(cdj.clone(), authenticator_data(RP_ID, UP | UV, 1));
        assert_eq!(check(&assertion, 0), Err(AssertionError::ClientDataMalformed), "{}", String::from_utf8_lossy(&cdj));
    }
}

#[test]
fn oversized_fields_are_refused() {
    let a = authn();
    // A valid, signed clientDataJSON of 4097 bytes.
    let base = String::from_utf8(client_data_json("webauthn.get", &CHALLENGE, ORIGIN)).unwrap();
    let pad = 4097 - base.len() - r#","pad":"""#.len();
    let big = format!(r#"{},"pad":"{}"}}"#, &base[..base.len() - 1], "x".repeat(pad));
    assert_eq!(big.len(), 4097);
    let assertion = a.assert_with(big.into_bytes(), authenticator_data(RP_ID, UP | UV, 1));
    assert_eq!(check(&assertion, 0), Err(AssertionError::TooLarge));
    // ...while 4096 bytes is within the cap.
    let pad = 4096 - base.len() - r#","pad":"""#.len();
    let max = format!(r#"{},"pad":"{}"}}"#, &base[..base.len() - 1], "x".repeat(pad));
    let assertion = a.assert_with(max.into_bytes(), authenticator_data(RP_ID, UP | UV, 1));
    assert_eq!(check(&assertion, 0), Ok(1));

    let mut ad = authenticator_data(RP_ID, UP | UV | ED, 1);
    ad.resize(1025, 0);
    let assertion = a.assert_with(client_data_json("webauthn.get", &CHALLENGE, ORIGIN), ad);
    assert_eq!(check(&assertion, 0), Err(AssertionError::TooLarge));

    let mut assertion = a.assert(&CHALLENGE, 1);
    assertion.signature.resize(81, 0);
    assert_eq!(check(&assertion, 0), Err(AssertionError::TooLarge));
}

#[test]
fn non_der_signature_is_refused() {
    let a = authn();
    let cdj = client_data_json("webauthn.get", &CHALLENGE, ORIGIN);
    let ad = authenticator_data(RP_ID, UP | UV, 1);
    let good = a.assert_with(cdj.clone(), ad.clone());
    // The raw r || s form (COSE/JWS style), valid but not DER.
    let mut raw = good.clone();
    raw.signature = a.sign_raw(&ad, &cdj).to_bytes().to_vec();
    assert_eq!(check(&raw, 0), Err(AssertionError::BadSignature));
    // DER with a trailing byte.
    let mut trailing = good.clone();
    trailing.signature.push(0);
    assert_eq!(check(&trailing, 0), Err(AssertionError::BadSignature));
    // Empty, and garbage.
    for sig in [vec![], vec![0x30, 0x00], vec![0xAB; 70]] {
        let mut bad = good.clone();
        bad.signature = sig;
        assert_eq!(check(&bad, 0), Err(AssertionError::BadSignature));
    }
    assert_eq!(check(&good, 0), Ok(1));
}

#[test]
fn credential_type_other_than_public_key_is_refused() {
    for type_ in ["password", "public-key ", "Public-Key", ""] {
        let mut assertion = authn().assert(&CHALLENGE, 1);
        assertion.type_ = type_.into();
        assert_eq!(check(&assertion, 0), Err(AssertionError::WrongCredentialType), "{type_:?}");
    }
}

/// An assertion wrong in every checked way; fixing one fault at a time
/// must reveal the next, in the documented order.
#[test]
fn checks_run_in_documented_order() {
    #[derive(Clone)]
    struct Faults {
        sig_too_large: bool,
        wrong_type: bool,
        other_id: bool,
        garbage_client_data: bool,
        create_type: bool,
        other_challenge: bool,
        other_origin: bool,
        cross_origin: bool,
        other_rp: bool,
        no_up: bool,
        no_uv: bool,
        bad_sig: bool,
        stale_counter: bool,
    }
    let a = authn();
    let build = |f: &Faults| {
        let cdj = if f.garbage_client_data {
            b"{".to_vec()
        } else {
            let type_ = if f.create_type { "webauthn.create" } else { "webauthn.get" };
            let challenge: &[u8] = if f.other_challenge { &[1; 32] } else { &CHALLENGE };
            let origin = if f.other_origin { "https://evil.example" } else { ORIGIN };
            format!(
                r#"{{"type":"{type_}","challenge":"{}","origin":"{origin}","crossOrigin":{}}}"#,
                b64(challenge),
                f.cross_origin
            )
            .into_bytes()
        };
        let flags = if f.no_up { 0 } else { UP } | if f.no_uv { 0 } else { UV };
        let ad = authenticator_data(
            if f.other_rp { "evil.example" } else { RP_ID },
            flags,
            if f.stale_counter { 5 } else { 6 },
        );
        let mut assertion = a.assert_with(cdj, ad);
        if f.bad_sig {
            assertion.signature = vec![0x30, 0x00];
        }
        if f.sig_too_large {
            assertion.signature = vec![0; 81];
        }
        if f.wrong_type {
            assertion.type_ = "password".into();
        }
        if f.other_id {
            assertion.raw_id = vec![9; 16];
            assertion.id = b64(&assertion.raw_id);
        }
        assertion
    };
    let mut f = Faults {
        sig_too_large: true,
        wrong_type: true,
        other_id: true,
        garbage_client_data: true,
        create_type: true,
        other_challenge: true,
        other_origin: true,
        cross_origin: true,
        other_rp: true,
        no_up: true,
        no_uv: true,
        bad_sig: true,
        stale_counter: true,
    };
    use AssertionError::*;
    type Fix = fn(&mut Faults);
    let steps: [(AssertionError, Fix); 13] = [
        (TooLarge, |f| f.sig_too_large = false),
        (WrongCredentialType, |f| f.wrong_type = false),
        (CredentialMismatch, |f| f.other_id = false),
        (ClientDataMalformed, |f| f.garbage_client_data = false),
        (WrongCeremonyType, |f| f.create_type = false),
        (ChallengeMismatch, |f| f.other_challenge = false),
        (OriginMismatch, |f| f.other_origin = false),
        (CrossOrigin, |f| f.cross_origin = false),
        (RpIdMismatch, |f| f.other_rp = false),
        (UserNotPresent, |f| f.no_up = false),
        (UserNotVerified, |f| f.no_uv = false),
        (BadSignature, |f| f.bad_sig = false),
        (CounterNotIncreased, |f| f.stale_counter = false),
    ];
    for (expected, fix) in steps {
        assert_eq!(check(&build(&f), 5), Err(expected));
        fix(&mut f);
    }
    assert_eq!(check(&build(&f), 5), Ok(6));
}

#[test]
fn invalid_stored_key_refuses_instead_of_panicking() {
    // A hand-built credential whose key does not parse verifies nothing.
    let a = authn();
    let mut cred = credential_of(&a, 0);
    cred.public_key = b64([0x04; 65]);
    let origins = origins();
    let expected =
        ExpectedAssertion { challenge: &CHALLENGE, allowed_origins: &origins, allowed_top_origins: &[], rp_id: RP_ID };
    let assertion = a.assert(&CHALLENGE, 1).to_credential();
    assert_eq!(verify_assertion(&cred, &assertion, &expected), Err(AssertionError::BadSignature));
    cred.public_key = "!".into();
    assert_eq!(verify_assertion(&cred, &assertion, &expected), Err(AssertionError::BadSignature));
}

#[test]
fn errors_are_coarse_outward_and_precise_in_the_audit() {
    use AssertionError::*;
    let all = [
        TooLarge,
        WrongCredentialType,
        CredentialMismatch,
        ClientDataMalformed,
        WrongCeremonyType,
        ChallengeMismatch,
        OriginMismatch,
        CrossOrigin,
        AuthenticatorDataMalformed,
        RpIdMismatch,
        UserNotPresent,
        UserNotVerified,
        BadSignature,
        CounterNotIncreased,
    ];
    let reasons: Vec<&str> = all.iter().map(|e| e.reason()).collect();
    assert_eq!(
        reasons,
        [
            "too_large",
            "wrong_credential_type",
            "credential_mismatch",
            "client_data_malformed",
            "wrong_ceremony_type",
            "challenge_mismatch",
            "origin_mismatch",
            "cross_origin",
            "authenticator_data_malformed",
            "rp_id_mismatch",
            "user_not_present",
            "user_not_verified",
            "bad_signature",
            "counter_not_increased",
        ]
    );
    for e in all {
        assert_eq!(CoreError::from(e), CoreError::UnlockFailed);
    }
}

// ---------------------------------------------------- public key parsing

#[test]
fn parses_spki_der_from_get_public_key() {
    use p256::pkcs8::EncodePublicKey as _;
    let a = authn();
    let spki = a.verifying_key().to_public_key_der().unwrap();
    assert_eq!(spki.as_bytes().len(), 91);
    let parsed = parse_credential_public_key(&b64(spki.as_bytes())).unwrap();
    assert_eq!(p256::ecdsa::VerifyingKey::from(parsed), a.verifying_key());
}

#[test]
fn parses_raw_uncompressed_sec1() {
    let a = authn();
    let parsed = parse_credential_public_key(&b64(a.public_key_sec1())).unwrap();
    assert_eq!(p256::ecdsa::VerifyingKey::from(parsed), a.verifying_key());
}

#[test]
fn rejects_other_public_key_forms() {
    use p256::pkcs8::EncodePublicKey as _;
    let a = authn();
    let sec1 = a.public_key_sec1();
    let spki = a.verifying_key().to_public_key_der().unwrap().as_bytes().to_vec();

    let mut off_curve = sec1.clone();
    off_curve[64] ^= 1;
    let mut spki_other_curve = spki.clone();
    spki_other_curve[22] = 0x08; // the curve OID's last arc: not prime256v1
    let mut spki_bad_point = spki.clone();
    spki_bad_point[90] ^= 1;
    let mut hybrid = sec1.clone();
    hybrid[0] = 0x06;
    let mut spki_compressed = spki[..26].to_vec();
    spki_compressed[1] = 0x39; // SEQUENCE length for a 33-byte point
    spki_compressed[24] = 0x22; // BIT STRING length for a 33-byte point
    spki_compressed.extend_from_slice(&a.public_key_sec1_compressed());

    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("compressed", a.public_key_sec1_compressed()),
        ("spki of a compressed point", spki_compressed),
        ("hybrid tag", hybrid),
        ("off curve", off_curve),
        ("identity", vec![0x00]),
        ("all zero point", [vec![0x04], vec![0u8; 64]].concat()),
        ("64 bytes", sec1[1..].to_vec()),
        ("66 bytes", [sec1.clone(), vec![0]].concat()),
        ("90 bytes", spki[..90].to_vec()),
        ("92 bytes", [spki.clone(), vec![0]].concat()),
        ("spki with another curve oid", spki_other_curve),
        ("spki of an off-curve point", spki_bad_point),
        ("empty", vec![]),
        ("garbage", vec![0xAB; 91]),
    ];
    for (name, bytes) in cases {
        let err = parse_credential_public_key(&b64(&bytes)).unwrap_err();
        assert!(matches!(err, CoreError::InvalidInput(_)), "{name}: {err:?}");
    }
    for text in ["not base64!", "", &format!("{}==", b64(&sec1)), &b64(vec![0x04; 4096])] {
        let err = parse_credential_public_key(text).unwrap_err();
        assert!(matches!(err, CoreError::InvalidInput(_)), "{text}: {err:?}");
    }
}

// ---------------------------------------------------- the stored credential

#[test]
fn credential_new_normalizes_and_validates() {
    use p256::pkcs8::EncodePublicKey as _;
    let a = authn();
    let spki = a.verifying_key().to_public_key_der().unwrap();
    let cred = GateCredential::new(&b64(&a.credential_id), &b64(spki.as_bytes()), RP_ID).unwrap();
    // Stored as the SEC1 point, whatever form came in.
    assert_eq!(cred.public_key, b64(a.public_key_sec1()));
    assert_eq!(cred.credential_id, b64(&a.credential_id));
    assert_eq!(cred.rp_id, RP_ID);
    assert_eq!(cred.sign_count, 0);
    assert_eq!(cred.verifying_key().unwrap(), a.verifying_key());
    assert_eq!(cred.raw_credential_id().unwrap(), a.credential_id);

    let pk = b64(a.public_key_sec1());
    assert!(GateCredential::new(&b64([1u8; 1023]), &pk, RP_ID).is_ok());
    assert!(GateCredential::new(&b64([1u8; 1024]), &pk, RP_ID).is_err());
    assert!(GateCredential::new("", &pk, RP_ID).is_err());
    assert!(GateCredential::new("not base64!", &pk, RP_ID).is_err());
    assert!(GateCredential::new(&b64(&a.credential_id), &b64(a.public_key_sec1_compressed()), RP_ID).is_err());

    let longest = format!("{}a", "a.".repeat(126));
    assert_eq!(longest.len(), 253);
    for ok in ["localhost", "example.com", "a.b-c.example", "xn--bcher-kva.example", "0.example", &longest] {
        assert!(GateCredential::new(&b64(&a.credential_id), &pk, ok).is_ok(), "{ok}");
    }
    let long_label = format!("{}.example", "a".repeat(64));
    let too_long = format!("a{longest}");
    for bad in [
        "",
        "Example.com",
        "example.com.",
        ".example.com",
        "a..example",
        "-a.example",
        "a-.example",
        "exa mple.com",
        "exa_mple.com",
        "https://example.com",
        "example.com:443",
        "127.0.0.1",
        "[::1]",
        "bücher.example",
        &long_label,
        &too_long,
    ] {
        assert!(GateCredential::new(&b64(&a.credential_id), &pk, bad).is_err(), "{bad}");
    }
}

#[test]
fn credential_round_trips_and_is_checked_when_read() {
    let a = authn();
    let mut cred = credential_of(&a, 0);
    cred.sign_count = 77;
    let json = serde_json::to_string(&cred).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"credential_id":"{}","public_key":"{}","rp_id":"{RP_ID}","sign_count":77}}"#,
            b64(&a.credential_id),
            b64(a.public_key_sec1())
        )
    );
    let back: GateCredential = serde_json::from_str(&json).unwrap();
    assert_eq!(back, cred);

    let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["extra"] = 1.into();
    assert!(serde_json::from_value::<GateCredential>(v).is_err(), "unknown field accepted");

    let with = |field: &str, value: serde_json::Value| {
        let mut v: serde_json::Value = serde_json::from_str(&json).unwrap();
        v[field] = value;
        serde_json::from_value::<GateCredential>(v)
    };
    // The stored key is the SEC1 point only.
    use p256::pkcs8::EncodePublicKey as _;
    let spki = a.verifying_key().to_public_key_der().unwrap();
    assert!(with("public_key", b64(spki.as_bytes()).into()).is_err());
    assert!(with("public_key", b64(a.public_key_sec1_compressed()).into()).is_err());
    assert!(with("public_key", b64([0x04; 65]).into()).is_err());
    assert!(with("credential_id", "".into()).is_err());
    assert!(with("rp_id", "Evil.Example".into()).is_err());
    assert!(with("sign_count", (-1).into()).is_err());
    assert!(with("sign_count", 77u32.into()).is_ok());
}

#[test]
fn verification_does_not_touch_the_stored_count() {
    // The function returns the new count; storing it is the caller's move.
    let a = authn();
    let cred = credential_of(&a, 5);
    let origins = origins();
    let expected =
        ExpectedAssertion { challenge: &CHALLENGE, allowed_origins: &origins, allowed_top_origins: &[], rp_id: RP_ID };
    let new = verify_assertion(&cred, &a.assert(&CHALLENGE, 6).to_credential(), &expected).unwrap();
    assert_eq!((cred.sign_count, new), (5, 6));
}

// ---------------------------------------------------------------- properties

fn with_fields(cdj: Option<Vec<u8>>, ad: Option<Vec<u8>>, sig: Option<Vec<u8>>) -> Assertion {
    let mut assertion = authn().assert(&CHALLENGE, 1);
    if let Some(cdj) = cdj {
        assertion.client_data_json = cdj;
    }
    if let Some(ad) = ad {
        assertion.authenticator_data = ad;
    }
    if let Some(sig) = sig {
        assertion.signature = sig;
    }
    assertion
}

proptest! {
    #[test]
    fn arbitrary_client_data_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..5000)) {
        prop_assert!(check(&with_fields(Some(bytes), None, None), 0).is_err());
    }

    #[test]
    fn arbitrary_authenticator_data_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1100)) {
        prop_assert!(check(&with_fields(None, Some(bytes), None), 0).is_err());
    }

    #[test]
    fn arbitrary_signature_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..100)) {
        prop_assert!(check(&with_fields(None, None, Some(bytes)), 0).is_err());
    }

    /// Flipping any one bit of any of the three signed fields is refused.
    #[test]
    fn any_single_bit_flip_is_refused(field in 0usize..3, index in any::<prop::sample::Index>(), bit in 0u8..8) {
        let mut assertion = authn().assert(&CHALLENGE, 1);
        let target = match field {
            0 => &mut assertion.client_data_json,
            1 => &mut assertion.authenticator_data,
            _ => &mut assertion.signature,
        };
        let i = index.index(target.len());
        target[i] ^= 1 << bit;
        prop_assert!(check(&assertion, 0).is_err());
    }
}
