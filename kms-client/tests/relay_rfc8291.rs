//! Web Push message encryption (RFC 8291, aes128gcm of RFC 8188): the worked
//! example of RFC 8291 Appendix A (`vectors/rfc8291_appendix_a.json`), an
//! independent implementation of the key schedule written here from the RFC
//! text, the 4096-byte limit, and the user agent's decoder refusing anything
//! that is not an authentic message for it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use aes_gcm::aead::{Aead as _, KeyInit as _};
use aes_gcm::Aes128Gcm;
use hkdf::Hkdf;
use kms_client::relay::{
    dangerous_encrypt_deterministic, decrypt, encrypt, encrypt_padded, AuthSecret, PushServicePolicy, RelayError,
    ValidatedSubscription, HEADER_LEN, MAX_BODY_LEN, MAX_PLAINTEXT_LEN, TAG_LEN,
};
use kms_core::ErrorCode;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::{PublicKey, SecretKey};
use proptest::prelude::*;
use rand_chacha::rand_core::{RngCore as _, SeedableRng as _};
use rand_chacha::ChaCha20Rng;
use serde_json::Value;
use sha2::Sha256;

fn vector() -> Value {
    serde_json::from_str(include_str!("vectors/rfc8291_appendix_a.json")).unwrap()
}

fn b64(v: &Value, field: &str) -> Vec<u8> {
    kms_core::b64::decode(v[field].as_str().unwrap(), 1 << 16, field).unwrap()
}

fn secret_key(bytes: &[u8]) -> SecretKey {
    SecretKey::from_slice(bytes).unwrap()
}

fn uncompressed(key: &PublicKey) -> Vec<u8> {
    key.to_encoded_point(false).as_bytes().to_vec()
}

fn subscription(ua_public: &[u8], auth: &[u8]) -> ValidatedSubscription {
    let json = serde_json::json!({
        "endpoint": "https://fcm.googleapis.com/fcm/send/rfc8291",
        "expirationTime": null,
        "keys": {"p256dh": kms_core::b64::encode(ua_public), "auth": kms_core::b64::encode(auth)},
    });
    ValidatedSubscription::from_json(&json.to_string(), &PushServicePolicy::default()).unwrap()
}

fn auth_secret(bytes: &[u8]) -> AuthSecret {
    AuthSecret::from_bytes(bytes.try_into().unwrap())
}

/// The RFC's user agent: its private key, auth secret and subscription.
fn rfc_user_agent() -> (SecretKey, AuthSecret, ValidatedSubscription) {
    let v = vector();
    let ua = secret_key(&b64(&v, "ua_private"));
    let auth = b64(&v, "auth_secret");
    (ua.clone(), auth_secret(&auth), subscription(&b64(&v, "ua_public"), &auth))
}

fn rfc_body() -> Vec<u8> {
    b64(&vector(), "body")
}

/// A random user agent.
fn user_agent(rng: &mut ChaCha20Rng) -> (SecretKey, [u8; 16], ValidatedSubscription) {
    let ua = SecretKey::random(&mut *rng);
    let mut auth = [0u8; 16];
    rng.fill_bytes(&mut auth);
    let sub = subscription(&uncompressed(&ua.public_key()), &auth);
    (ua, auth, sub)
}

/// Everything the sender derives, computed here independently of the crate
/// from RFC 8291 section 3.3 and RFC 8188 section 2.
struct Independent {
    ecdh: Vec<u8>,
    ikm: [u8; 32],
    cek: [u8; 16],
    nonce: [u8; 12],
    body: Vec<u8>,
}

/// Seals `record` (plaintext, delimiter and padding, as given) as one
/// aes128gcm record with record size `rs`.
fn independent_seal(
    ua_public: &PublicKey,
    auth: &[u8],
    as_secret: &SecretKey,
    salt: &[u8],
    rs: u32,
    record: &[u8],
) -> Independent {
    let ua = uncompressed(ua_public);
    let as_public = uncompressed(&as_secret.public_key());
    let ecdh = p256::ecdh::diffie_hellman(as_secret.to_nonzero_scalar(), ua_public.as_affine());
    let ecdh = ecdh.raw_secret_bytes().to_vec();
    let mut info = b"WebPush: info\0".to_vec();
    info.extend_from_slice(&ua);
    info.extend_from_slice(&as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), &ecdh).expand(&info, &mut ikm).unwrap();
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek).unwrap();
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce).unwrap();
    let ct = Aes128Gcm::new_from_slice(&cek).unwrap().encrypt((&nonce).into(), record).unwrap();
    let mut body = salt.to_vec();
    body.extend_from_slice(&rs.to_be_bytes());
    body.push(65);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(&ct);
    Independent { ecdh, ikm, cek, nonce, body }
}

// ---------------------------------------------------------------------------
// RFC 8291 Appendix A

#[test]
fn appendix_a_public_keys_are_those_of_the_private_keys() {
    let v = vector();
    let ua = secret_key(&b64(&v, "ua_private"));
    let as_key = secret_key(&b64(&v, "as_private"));
    assert_eq!(uncompressed(&ua.public_key()), b64(&v, "ua_public"));
    assert_eq!(uncompressed(&as_key.public_key()), b64(&v, "as_public"));
}

#[test]
fn appendix_a_independent_key_schedule_gives_every_intermediate_value() {
    let v = vector();
    let ua = secret_key(&b64(&v, "ua_private"));
    let as_key = secret_key(&b64(&v, "as_private"));
    let mut record = b64(&v, "plaintext");
    assert_eq!(record, v["plaintext_utf8"].as_str().unwrap().as_bytes());
    record.push(0x02);
    let got = independent_seal(&ua.public_key(), &b64(&v, "auth_secret"), &as_key, &b64(&v, "salt"), 4096, &record);
    assert_eq!(got.ecdh, b64(&v, "ecdh_secret"));
    assert_eq!(got.ikm.to_vec(), b64(&v, "ikm"));
    assert_eq!(got.cek.to_vec(), b64(&v, "cek"));
    assert_eq!(got.nonce.to_vec(), b64(&v, "nonce"));
    assert_eq!(got.body, b64(&v, "body"));
}

#[test]
fn appendix_a_encrypt_with_the_fixed_key_and_salt_gives_the_exact_body() {
    let v = vector();
    let (_, _, sub) = rfc_user_agent();
    let as_key = secret_key(&b64(&v, "as_private"));
    let salt: [u8; 16] = b64(&v, "salt").try_into().unwrap();
    let body = dangerous_encrypt_deterministic(&sub, &as_key, &salt, &b64(&v, "plaintext"), 0).unwrap();
    assert_eq!(kms_core::b64::encode(&body), v["body"].as_str().unwrap());
    assert_eq!(body.len(), HEADER_LEN + 41 + 1 + TAG_LEN);
}

#[test]
fn appendix_a_decrypt_gives_the_plaintext() {
    let (ua, auth, _) = rfc_user_agent();
    let plaintext = decrypt(&ua, &auth, &rfc_body()).unwrap();
    assert_eq!(plaintext.as_slice(), b"When I grow up, I want to be a watermelon");
}

#[test]
fn appendix_a_header_layout() {
    let v = vector();
    let body = rfc_body();
    assert_eq!(&body[..16], b64(&v, "salt").as_slice());
    assert_eq!(&body[16..20], &4096u32.to_be_bytes());
    assert_eq!(body[20], 65);
    assert_eq!(&body[21..86], b64(&v, "as_public").as_slice());
}

// ---------------------------------------------------------------------------
// Random keys

#[test]
fn round_trip_with_random_keys() {
    let mut rng = ChaCha20Rng::seed_from_u64(1);
    for len in [0usize, 1, 2, 15, 16, 17, 100, 1000, MAX_PLAINTEXT_LEN] {
        let (ua, auth, sub) = user_agent(&mut rng);
        let mut plaintext = vec![0u8; len];
        rng.fill_bytes(&mut plaintext);
        let body = encrypt(&sub, &plaintext, &mut rng).unwrap();
        assert_eq!(body.len(), HEADER_LEN + len + 1 + TAG_LEN, "len {len}");
        assert_eq!(&body[16..21], &[0, 0, 0x10, 0, 65]);
        assert_eq!(decrypt(&ua, &auth_secret(&auth), &body).unwrap().as_slice(), plaintext.as_slice(), "len {len}");
    }
}

#[test]
fn plaintext_ending_in_zeros_survives_unpadding() {
    let mut rng = ChaCha20Rng::seed_from_u64(2);
    let (ua, auth, sub) = user_agent(&mut rng);
    for plaintext in [&b"\0"[..], b"ab\0\0", b"\x02", b"\x02\0", b"\x01\0\x02"] {
        let body = encrypt_padded(&sub, plaintext, 64, &mut rng).unwrap();
        assert_eq!(decrypt(&ua, &auth_secret(&auth), &body).unwrap().as_slice(), plaintext);
    }
}

#[test]
fn every_message_has_a_fresh_key_and_salt() {
    let mut rng = ChaCha20Rng::seed_from_u64(3);
    let (_, _, sub) = user_agent(&mut rng);
    let a = encrypt(&sub, b"same message", &mut rng).unwrap();
    let b = encrypt(&sub, b"same message", &mut rng).unwrap();
    assert_ne!(a[..16], b[..16], "salt reused");
    assert_ne!(a[21..86], b[21..86], "ephemeral key reused");
    assert_ne!(a[86..], b[86..]);
}

// ---------------------------------------------------------------------------
// The 4096-byte limit (RFC 8291 section 4): header 86 + plaintext 3993 +
// delimiter 1 + tag 16 = 4096 bytes of body.

#[test]
fn limit_arithmetic() {
    assert_eq!(HEADER_LEN, 86);
    assert_eq!(MAX_BODY_LEN, 4096);
    assert_eq!(MAX_PLAINTEXT_LEN, 3993);
    assert_eq!(HEADER_LEN + MAX_PLAINTEXT_LEN + 1 + TAG_LEN, MAX_BODY_LEN);
}

#[test]
fn plaintext_of_3993_bytes_fills_the_body_to_exactly_4096_bytes() {
    let mut rng = ChaCha20Rng::seed_from_u64(4);
    let (ua, auth, sub) = user_agent(&mut rng);
    let plaintext = vec![0x5a; 3993];
    let body = encrypt(&sub, &plaintext, &mut rng).unwrap();
    assert_eq!(body.len(), 4096);
    // The single record (4010 bytes) is smaller than rs = 4096.
    assert_eq!(u32::from_be_bytes(body[16..20].try_into().unwrap()), 4096);
    assert_eq!(decrypt(&ua, &auth_secret(&auth), &body).unwrap().as_slice(), plaintext.as_slice());
}

#[test]
fn plaintext_of_3994_bytes_is_refused_naming_the_limit() {
    let mut rng = ChaCha20Rng::seed_from_u64(5);
    let (_, _, sub) = user_agent(&mut rng);
    let err = encrypt(&sub, &[0u8; 3994], &mut rng).unwrap_err();
    assert_eq!(err, RelayError::PayloadTooLarge { len: 3994, max: 3993 });
    assert_eq!(err.code(), ErrorCode::InvalidInput);
    assert!(err.to_string().contains("3993"), "{err}");
}

#[test]
fn padding_counts_against_the_limit() {
    let mut rng = ChaCha20Rng::seed_from_u64(6);
    let (ua, auth, sub) = user_agent(&mut rng);
    let body = encrypt_padded(&sub, b"hi", 3993, &mut rng).unwrap();
    assert_eq!(body.len(), 4096);
    assert_eq!(decrypt(&ua, &auth_secret(&auth), &body).unwrap().as_slice(), b"hi");
    assert_eq!(
        encrypt_padded(&sub, b"hi", 3994, &mut rng).unwrap_err(),
        RelayError::PayloadTooLarge { len: 3994, max: 3993 }
    );
    // pad_to below the length adds nothing.
    let body = encrypt_padded(&sub, b"hello", 3, &mut rng).unwrap();
    assert_eq!(body.len(), HEADER_LEN + 5 + 1 + TAG_LEN);
    let body = encrypt_padded(&sub, b"hello", 100, &mut rng).unwrap();
    assert_eq!(body.len(), HEADER_LEN + 100 + 1 + TAG_LEN);
}

// ---------------------------------------------------------------------------
// The decoder refuses what is not an authentic message for this user agent.

#[test]
fn decrypt_refuses_a_changed_byte_anywhere_but_rs() {
    let (ua, auth, _) = rfc_user_agent();
    let body = rfc_body();
    for i in (0..body.len()).filter(|i| !(16..20).contains(i)) {
        for mask in [0x01u8, 0x80, 0xff] {
            let mut tampered = body.clone();
            tampered[i] ^= mask;
            assert_eq!(decrypt(&ua, &auth, &tampered).unwrap_err(), RelayError::DecryptionFailed, "byte {i}");
        }
    }
}

/// RFC 8188 leaves `rs` out of the key derivation: a different `rs` that
/// still admits the record decrypts to the same plaintext; one that does
/// not is refused.
#[test]
fn rs_is_checked_but_not_authenticated() {
    let (ua, auth, _) = rfc_user_agent();
    let body = rfc_body();
    let record_len = (body.len() - HEADER_LEN) as u32;
    assert_eq!(record_len, 58);
    let with_rs = |rs: u32| {
        let mut b = body.clone();
        b[16..20].copy_from_slice(&rs.to_be_bytes());
        b
    };
    for rs in [record_len + 1, 4097, 0x0100_1000, u32::MAX] {
        assert_eq!(decrypt(&ua, &auth, &with_rs(rs)).unwrap().as_slice(), b"When I grow up, I want to be a watermelon");
    }
    for rs in [0, 17, 18, record_len - 1, record_len] {
        assert_eq!(decrypt(&ua, &auth, &with_rs(rs)).unwrap_err(), RelayError::DecryptionFailed, "rs {rs}");
    }
}

#[test]
fn decrypt_refuses_a_wrong_auth_secret() {
    let (ua, _, _) = rfc_user_agent();
    let mut auth = b64(&vector(), "auth_secret");
    auth[0] ^= 1;
    assert_eq!(decrypt(&ua, &auth_secret(&auth), &rfc_body()).unwrap_err(), RelayError::DecryptionFailed);
}

#[test]
fn decrypt_refuses_a_wrong_key() {
    let (_, auth, _) = rfc_user_agent();
    let other = SecretKey::random(&mut ChaCha20Rng::seed_from_u64(7));
    assert_eq!(decrypt(&other, &auth, &rfc_body()).unwrap_err(), RelayError::DecryptionFailed);
    // The application server's own key is not the user agent's either.
    let as_key = secret_key(&b64(&vector(), "as_private"));
    assert_eq!(decrypt(&as_key, &auth, &rfc_body()).unwrap_err(), RelayError::DecryptionFailed);
}

#[test]
fn decrypt_refuses_a_truncated_or_extended_body() {
    let (ua, auth, _) = rfc_user_agent();
    let body = rfc_body();
    for len in 0..body.len() {
        assert_eq!(decrypt(&ua, &auth, &body[..len]).unwrap_err(), RelayError::DecryptionFailed, "len {len}");
    }
    let mut longer = body.clone();
    longer.push(0);
    assert_eq!(decrypt(&ua, &auth, &longer).unwrap_err(), RelayError::DecryptionFailed);
}

#[test]
fn decrypt_checks_the_padding_of_authentic_records() {
    let v = vector();
    let ua = secret_key(&b64(&v, "ua_private"));
    let auth = b64(&v, "auth_secret");
    let as_key = secret_key(&b64(&v, "as_private"));
    let salt = b64(&v, "salt");
    let open = |record: &[u8]| {
        let sealed = independent_seal(&ua.public_key(), &auth, &as_key, &salt, 4096, record);
        decrypt(&ua, &auth_secret(&auth), &sealed.body)
    };
    assert_eq!(open(b"abc\x02").unwrap().as_slice(), b"abc");
    assert_eq!(open(b"abc\x02\0\0\0").unwrap().as_slice(), b"abc");
    assert_eq!(open(b"\x02").unwrap().as_slice(), b"");
    assert_eq!(open(b"\0\x02\0").unwrap().as_slice(), b"\0");
    // Not the last record (0x01), no delimiter, only zeros, nothing at all.
    for bad in [&b"abc\x01"[..], b"abc\x01\0", b"abc", b"\0\0\0", b"", b"abc\x03"] {
        assert_eq!(open(bad).unwrap_err(), RelayError::DecryptionFailed, "{bad:?}");
    }
}

#[test]
fn decrypt_refuses_a_key_id_that_is_not_an_uncompressed_point() {
    let v = vector();
    let ua = secret_key(&b64(&v, "ua_private"));
    let auth = b64(&v, "auth_secret");
    let body = rfc_body();
    // idlen 33 with the compressed form of the same key.
    let as_key = secret_key(&b64(&v, "as_private"));
    let compressed = as_key.public_key().to_encoded_point(true);
    let mut b = body[..20].to_vec();
    b.push(33);
    b.extend_from_slice(compressed.as_bytes());
    b.extend_from_slice(&body[86..]);
    assert_eq!(decrypt(&ua, &auth_secret(&auth), &b).unwrap_err(), RelayError::DecryptionFailed);
    // idlen 0.
    let mut b = body[..20].to_vec();
    b.push(0);
    b.extend_from_slice(&body[86..]);
    assert_eq!(decrypt(&ua, &auth_secret(&auth), &b).unwrap_err(), RelayError::DecryptionFailed);
}

#[test]
fn auth_secret_debug_is_redacted() {
    let (_, auth, sub) = rfc_user_agent();
    assert_eq!(format!("{auth:?}"), "AuthSecret(<redacted>)");
    assert_eq!(format!("{:?}", sub.auth()), "AuthSecret(<redacted>)");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decrypt_is_total_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let (ua, auth, _) = rfc_user_agent();
        prop_assert_eq!(decrypt(&ua, &auth, &bytes).unwrap_err(), RelayError::DecryptionFailed);
    }

    /// With a well-formed header, the decoder gets as far as the AEAD.
    #[test]
    fn decrypt_is_total_behind_a_valid_header(
        record in proptest::collection::vec(any::<u8>(), 0..300),
        rs in any::<u32>(),
    ) {
        let (ua, auth, _) = rfc_user_agent();
        let mut body = rfc_body()[..HEADER_LEN].to_vec();
        body[16..20].copy_from_slice(&rs.to_be_bytes());
        body.extend_from_slice(&record);
        prop_assert_eq!(decrypt(&ua, &auth, &body).unwrap_err(), RelayError::DecryptionFailed);
    }

    #[test]
    fn encrypt_then_decrypt_round_trips(
        plaintext in proptest::collection::vec(any::<u8>(), 0..=MAX_PLAINTEXT_LEN),
        pad_to in 0..=MAX_PLAINTEXT_LEN,
        seed in any::<u64>(),
    ) {
        let mut rng = ChaCha20Rng::seed_from_u64(seed);
        let (ua, auth, sub) = user_agent(&mut rng);
        let body = encrypt_padded(&sub, &plaintext, pad_to, &mut rng).unwrap();
        prop_assert_eq!(body.len(), HEADER_LEN + plaintext.len().max(pad_to) + 1 + TAG_LEN);
        let decrypted = decrypt(&ua, &auth_secret(&auth), &body).unwrap();
        prop_assert_eq!(decrypted.as_slice(), plaintext.as_slice());
    }
}
