//! Web Push message encryption (RFC 8291) with the `aes128gcm` content
//! coding (RFC 8188), as one record.
//!
//! Per message: a fresh ephemeral P-256 key pair and a random 16-byte salt;
//! ECDH between the ephemeral key and the subscription's `p256dh`; then
//! (RFC 8291 section 3.3, RFC 8188 sections 2.2 and 2.3, HKDF-SHA256):
//!
//! ```text
//! IKM   = HKDF(salt = auth,  ikm = ecdh_secret, info = "WebPush: info\0" || ua_public || as_public, L = 32)
//! CEK   = HKDF(salt = salt,  ikm = IKM,         info = "Content-Encoding: aes128gcm\0",             L = 16)
//! NONCE = HKDF(salt = salt,  ikm = IKM,         info = "Content-Encoding: nonce\0",                 L = 12)
//! body  = salt (16) || rs (4, big-endian) = 4096 || idlen (1) = 65 || as_public (65)
//!         || AES-128-GCM(CEK, NONCE, plaintext || 0x02 || zero padding)
//! ```
//!
//! The record is the only and therefore last one, so its padding delimiter
//! is `0x02` and its sequence number is 0 (the nonce is used as derived).
//! A push service need not accept more than 4096 bytes of body (RFC 8030
//! section 7.2), so the whole body, header included, is at most 4096 bytes:
//! 4096 - 86 (header) - 1 (delimiter) - 16 (tag) = 3993 bytes of plaintext
//! (RFC 8291 section 4), [`MAX_PLAINTEXT_LEN`].
//!
//! [`decrypt`] is the user agent's side, for tests and the demo.

use aes_gcm::aead::{AeadInPlace as _, KeyInit as _};
use aes_gcm::Aes128Gcm;
use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToEncodedPoint as _;
use p256::{PublicKey, SecretKey};
use rand_core::CryptoRngCore;
use sha2::Sha256;
use zeroize::Zeroizing;

use super::error::RelayError;
use super::subscription::{AuthSecret, ValidatedSubscription, UNCOMPRESSED_POINT_LEN};

/// The record size written in the header (`rs`): the 4096 bytes a push
/// service must accept. The single record is always smaller, as RFC 8291
/// section 4 requires.
pub const RECORD_SIZE: u32 = 4096;

/// Length of the random salt (RFC 8188 section 2.1).
pub const SALT_LEN: usize = 16;

/// Length of the header: salt (16) + rs (4) + idlen (1) + keyid, the
/// application server's ephemeral public key (65).
pub const HEADER_LEN: usize = SALT_LEN + 4 + 1 + UNCOMPRESSED_POINT_LEN;

/// The AES-GCM authentication tag.
pub const TAG_LEN: usize = 16;

/// The largest body a push service must accept (RFC 8030 section 7.2).
pub const MAX_BODY_LEN: usize = 4096;

/// The most plaintext (with padding) one message carries: 3993 bytes.
pub const MAX_PLAINTEXT_LEN: usize = MAX_BODY_LEN - HEADER_LEN - 1 - TAG_LEN;

/// Length of the key id in the header: the uncompressed public key.
const KEYID_LEN: u8 = 65;
const _: () = assert!(KEYID_LEN as usize == UNCOMPRESSED_POINT_LEN);
const _: () = assert!(MAX_PLAINTEXT_LEN == 3993);

/// RFC 8188 section 2: "a record size smaller than 18 is invalid" (one
/// delimiter byte and the tag).
const MIN_RECORD_SIZE: u32 = 18;

/// Padding delimiter of the last record (RFC 8188 section 2).
const LAST_RECORD_DELIMITER: u8 = 0x02;

const WEBPUSH_INFO: &[u8] = b"WebPush: info\0";
const CEK_INFO: &[u8] = b"Content-Encoding: aes128gcm\0";
const NONCE_INFO: &[u8] = b"Content-Encoding: nonce\0";

/// Encrypts `plaintext` for `sub`, without padding. Refuses more than
/// [`MAX_PLAINTEXT_LEN`] bytes. `rng` must be a CSPRNG: it draws the
/// ephemeral key and the salt.
pub fn encrypt(
    sub: &ValidatedSubscription,
    plaintext: &[u8],
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, RelayError> {
    encrypt_padded(sub, plaintext, 0, rng)
}

/// Encrypts `plaintext` for `sub`, padded with zero bytes so that plaintext
/// and padding together are at least `pad_to` bytes. Padding hides the
/// payload's length from the push service: pad every message to the same
/// size. Refuses when plaintext or padding exceed [`MAX_PLAINTEXT_LEN`].
pub fn encrypt_padded(
    sub: &ValidatedSubscription,
    plaintext: &[u8],
    pad_to: usize,
    rng: &mut impl CryptoRngCore,
) -> Result<Vec<u8>, RelayError> {
    let padding = padding_len(plaintext.len(), pad_to)?;
    let ephemeral = SecretKey::random(rng);
    let mut salt = [0u8; SALT_LEN];
    rng.fill_bytes(&mut salt);
    seal(sub.p256dh(), sub.p256dh_bytes(), sub.auth(), &ephemeral, &salt, plaintext, padding)
}

/// **Dangerous: for known-answer tests only.** [`encrypt_padded`] with the
/// application server's ephemeral key and the salt given instead of drawn.
///
/// Reusing a key and salt for two messages to the same subscription reuses
/// the AES-GCM key and nonce, which reveals the XOR of the plaintexts and
/// lets anyone forge messages. Public only so that the RFC 8291 Appendix A
/// test (`tests/relay_rfc8291.rs`) can reach it; never call it otherwise.
#[doc(hidden)]
pub fn dangerous_encrypt_deterministic(
    sub: &ValidatedSubscription,
    ephemeral: &SecretKey,
    salt: &[u8; SALT_LEN],
    plaintext: &[u8],
    pad_to: usize,
) -> Result<Vec<u8>, RelayError> {
    let padding = padding_len(plaintext.len(), pad_to)?;
    seal(sub.p256dh(), sub.p256dh_bytes(), sub.auth(), ephemeral, salt, plaintext, padding)
}

/// The number of zero bytes to append, or the size error.
fn padding_len(len: usize, pad_to: usize) -> Result<usize, RelayError> {
    let total = len.max(pad_to);
    if total > MAX_PLAINTEXT_LEN {
        return Err(RelayError::PayloadTooLarge { len: total, max: MAX_PLAINTEXT_LEN });
    }
    Ok(total.saturating_sub(len))
}

/// The content-encryption key and nonce of one message.
struct Keys {
    cek: Zeroizing<[u8; 16]>,
    nonce: Zeroizing<[u8; 12]>,
}

/// RFC 8291 section 3.3 and RFC 8188 sections 2.2, 2.3. `ua_public` and
/// `as_public` are the uncompressed encodings of the two public keys.
fn derive_keys(
    ecdh_secret: &[u8],
    auth: &AuthSecret,
    ua_public: &[u8; UNCOMPRESSED_POINT_LEN],
    as_public: &[u8; UNCOMPRESSED_POINT_LEN],
    salt: &[u8; SALT_LEN],
) -> Result<Keys, RelayError> {
    const HKDF_FAILED: RelayError = RelayError::Internal("HKDF refused a fixed output length");
    let mut ikm = Zeroizing::new([0u8; 32]);
    Hkdf::<Sha256>::new(Some(auth.dangerous_as_bytes()), ecdh_secret)
        .expand_multi_info(&[WEBPUSH_INFO, ua_public, as_public], ikm.as_mut())
        .map_err(|_| HKDF_FAILED)?;
    let content = Hkdf::<Sha256>::new(Some(salt), ikm.as_ref());
    let mut cek = Zeroizing::new([0u8; 16]);
    content.expand(CEK_INFO, cek.as_mut()).map_err(|_| HKDF_FAILED)?;
    let mut nonce = Zeroizing::new([0u8; 12]);
    content.expand(NONCE_INFO, nonce.as_mut()).map_err(|_| HKDF_FAILED)?;
    Ok(Keys { cek, nonce })
}

/// Builds the body. `plaintext.len() + padding` must be at most
/// [`MAX_PLAINTEXT_LEN`] (checked by the callers, and again here).
fn seal(
    ua_public: &PublicKey,
    ua_public_bytes: &[u8; UNCOMPRESSED_POINT_LEN],
    auth: &AuthSecret,
    ephemeral: &SecretKey,
    salt: &[u8; SALT_LEN],
    plaintext: &[u8],
    padding: usize,
) -> Result<Vec<u8>, RelayError> {
    let record_plain_len = plaintext.len().saturating_add(padding);
    if record_plain_len > MAX_PLAINTEXT_LEN {
        return Err(RelayError::PayloadTooLarge { len: record_plain_len, max: MAX_PLAINTEXT_LEN });
    }
    let as_public = uncompressed_point(&ephemeral.public_key())?;
    let shared = p256::ecdh::diffie_hellman(ephemeral.to_nonzero_scalar(), ua_public.as_affine());
    let keys = derive_keys(shared.raw_secret_bytes(), auth, ua_public_bytes, &as_public, salt)?;
    drop(shared);

    // Header, then the record's plaintext, encrypted in place. The buffer has
    // its final capacity from the start (no reallocation leaves a copy of the
    // plaintext behind) and is wiped if anything fails before encryption.
    let mut body = Zeroizing::new(Vec::with_capacity(HEADER_LEN + record_plain_len + 1 + TAG_LEN));
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(KEYID_LEN);
    body.extend_from_slice(&as_public);
    body.extend_from_slice(plaintext);
    body.push(LAST_RECORD_DELIMITER);
    body.resize(HEADER_LEN + record_plain_len + 1, 0);

    let cipher = Aes128Gcm::new((&*keys.cek).into());
    let record = body.get_mut(HEADER_LEN..).ok_or(RelayError::Internal("body shorter than its header"))?;
    let tag = cipher
        .encrypt_in_place_detached((&*keys.nonce).into(), b"", record)
        .map_err(|_| RelayError::Internal("AES-GCM refused a record of at most 4096 bytes"))?;
    body.extend_from_slice(&tag);
    // Only ciphertext is left: hand it out without the wiping wrapper.
    Ok(std::mem::take(&mut *body))
}

/// The user agent's side (RFC 8291 section 3.4): decrypts a body made by
/// [`encrypt`] or any RFC 8291 sender, for the subscription whose private
/// key is `ua_secret` and whose auth secret is `auth`, and strips the
/// padding. Plaintext is returned only after the tag verified.
///
/// Total on any bytes. Accepts exactly one record: the key id must be a
/// 65-byte uncompressed P-256 point, `rs` at least 18 and larger than the
/// record (RFC 8291 section 4), and the padding delimiter `0x02`. Every
/// failure is [`RelayError::DecryptionFailed`].
///
/// `rs` itself is not authenticated (RFC 8188 section 2.1 keeps it outside
/// the key derivation): a changed `rs` that still admits the record
/// decrypts to the same plaintext. Everything else in the body is bound by
/// the key schedule or the tag.
pub fn decrypt(ua_secret: &SecretKey, auth: &AuthSecret, body: &[u8]) -> Result<Zeroizing<Vec<u8>>, RelayError> {
    const FAIL: RelayError = RelayError::DecryptionFailed;
    let (header, ciphertext) = body.split_at_checked(HEADER_LEN).ok_or(FAIL)?;
    let (salt, rest) = header.split_first_chunk::<SALT_LEN>().ok_or(FAIL)?;
    let (rs, rest) = rest.split_first_chunk::<4>().ok_or(FAIL)?;
    let (idlen, as_public) = rest.split_first().ok_or(FAIL)?;
    let as_public: &[u8; UNCOMPRESSED_POINT_LEN] = as_public.try_into().map_err(|_| FAIL)?;
    if *idlen != KEYID_LEN {
        return Err(FAIL);
    }
    let rs = u32::from_be_bytes(*rs);
    let record_len = u32::try_from(ciphertext.len()).map_err(|_| FAIL)?;
    if rs < MIN_RECORD_SIZE || record_len >= rs {
        return Err(FAIL);
    }
    let (sealed, tag) = ciphertext.split_last_chunk::<TAG_LEN>().ok_or(FAIL)?;
    if sealed.is_empty() {
        // Not even the padding delimiter.
        return Err(FAIL);
    }
    let as_key = parse_uncompressed_point(as_public).ok_or(FAIL)?;
    let ua_public = uncompressed_point(&ua_secret.public_key())?;
    let shared = p256::ecdh::diffie_hellman(ua_secret.to_nonzero_scalar(), as_key.as_affine());
    let keys = derive_keys(shared.raw_secret_bytes(), auth, &ua_public, as_public, salt)?;
    drop(shared);

    let cipher = Aes128Gcm::new((&*keys.cek).into());
    let mut plaintext = Zeroizing::new(sealed.to_vec());
    cipher.decrypt_in_place_detached((&*keys.nonce).into(), b"", &mut plaintext, tag.into()).map_err(|_| FAIL)?;

    // RFC 8188 section 2: strip trailing zeros; the byte before them is the
    // delimiter, 0x02 for the last record. 0x01 would announce a further
    // record, which a single-record message does not have.
    let delimiter_at = plaintext.iter().rposition(|b| *b != 0).ok_or(FAIL)?;
    if plaintext.get(delimiter_at) != Some(&LAST_RECORD_DELIMITER) {
        return Err(FAIL);
    }
    plaintext.truncate(delimiter_at);
    Ok(plaintext)
}

/// An uncompressed SEC1 point (`0x04 || x || y`) on P-256, as in a message
/// header's key id. Compressed points and the identity are refused; `p256`
/// refuses points off the curve.
fn parse_uncompressed_point(bytes: &[u8; UNCOMPRESSED_POINT_LEN]) -> Option<PublicKey> {
    if bytes.first() != Some(&0x04) {
        return None;
    }
    PublicKey::from_sec1_bytes(bytes).ok()
}

/// The uncompressed SEC1 encoding of a point.
fn uncompressed_point(key: &PublicKey) -> Result<[u8; UNCOMPRESSED_POINT_LEN], RelayError> {
    key.to_encoded_point(false)
        .as_bytes()
        .try_into()
        .map_err(|_| RelayError::Internal("a P-256 point did not encode to 65 bytes"))
}
