//! Signed checkpoints: a statement, signed with the scope's audit key, that
//! the chain had `size` entries and that the last one hashed to `head`.
//!
//! A hash chain alone cannot show that its tail was cut off or that a whole
//! copy is old. A checkpoint can: whoever kept one knows a size and head the
//! KMS committed to, and any later export must extend it (like a signed tree
//! head in Certificate Transparency, or the C2SP checkpoint format
//! `origin\nsize\nroot\n`).
//!
//! # Signed text
//!
//! ```text
//! kms-audit-checkpoint/v1\n
//! <scope>\n          "user:<id>" or "instance" (never contains a newline)
//! <size>\n           decimal, no leading zeros: entries covered = last seq + 1
//! <head>\n           unpadded base64url SHA-256 of entry size-1 (genesis hash if 0)
//! <ts_ms>\n          decimal, milliseconds since the Unix epoch
//! ```
//!
//! A checkpoint that carries a verifier's nonce (the final checkpoint of an
//! `audit_export` asked for with one) signs `kms-audit-checkpoint/v2` and the
//! nonce as a sixth line, `<nonce>\n`: 1 to 64 characters of `[A-Za-z0-9_-]`.
//! A verifier that chose the nonce knows the export was made after it asked,
//! not replayed from an older one.
//!
//! Every field is of a form that cannot contain `\n`, and the text starts
//! with a label of its own, so it is unambiguous and cannot be mistaken for
//! anything else the KMS signs (a JWT signing input is two base64url parts
//! joined by `.`). The signature is ES256 (ECDSA P-256 over SHA-256 of the
//! text), written as unpadded base64url of the raw 64-byte `r || s`.

use serde::{Deserialize, Deserializer, Serialize};

use super::chain::ChainState;
use super::entry::{de_digest, AuditScope};
use super::error::AuditError;
use super::key::{AuditPublicKey, AuditSigningKey};
use crate::ids::KeyId;

/// The first line of the signed text.
const CHECKPOINT_LABEL: &str = "kms-audit-checkpoint/v1";
/// The first line of the signed text of a checkpoint with a nonce.
const CHECKPOINT_LABEL_NONCE: &str = "kms-audit-checkpoint/v2";
/// Longest verifier nonce, in characters (all ASCII).
pub const MAX_NONCE_LEN: usize = 64;

/// Checks a verifier nonce: 1 to [`MAX_NONCE_LEN`] characters of
/// `[A-Za-z0-9_-]` (base64url, so a random 16 to 48 bytes fits), so it can
/// never hold a newline or need escaping.
pub fn check_nonce(nonce: &str) -> Result<(), AuditError> {
    let ok = !nonce.is_empty()
        && nonce.len() <= MAX_NONCE_LEN
        && nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(AuditError::InvalidInput(format!("nonce: 1 to {MAX_NONCE_LEN} characters of A-Z, a-z, 0-9, - and _")))
    }
}

fn de_nonce<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let nonce = Option::<String>::deserialize(d)?;
    if let Some(n) = &nonce {
        check_nonce(n).map_err(serde::de::Error::custom)?;
    }
    Ok(nonce)
}
/// How an export's checkpoint line starts.
const LINE_PREFIX: &str = "{\"type\":\"checkpoint\",";
/// A checkpoint is about 300 bytes; [`Checkpoint::parse`] refuses more than
/// this.
const MAX_CHECKPOINT_TEXT: usize = 2048;

/// A signed checkpoint, as stored, exported, and held by a verifier.
///
/// Deserializing refuses unknown fields and checks the form of `head` (32
/// bytes) and `sig` (64 bytes); the signature itself is checked by
/// [`Checkpoint::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct Checkpoint {
    pub scope: AuditScope,
    /// Entries covered: the last covered `seq` + 1.
    pub size: u64,
    /// Unpadded base64url SHA-256 of entry `size - 1` (the genesis hash for
    /// `size` 0).
    #[serde(deserialize_with = "de_digest")]
    pub head: String,
    /// When it was signed, milliseconds since the Unix epoch.
    pub ts_ms: u64,
    /// The verifier's nonce this checkpoint signs (see the module docs);
    /// absent from every checkpoint but the final one of an export asked
    /// for with a nonce.
    #[serde(default, skip_serializing_if = "Option::is_none", deserialize_with = "de_nonce")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub nonce: Option<String>,
    /// RFC 7638 thumbprint of the audit public key that signed it.
    pub kid: KeyId,
    /// Unpadded base64url of the raw ES256 signature `r || s` over
    /// [`Checkpoint::signed_text`].
    #[serde(deserialize_with = "de_sig")]
    pub sig: String,
}

/// The exact text a checkpoint's signature covers (see the module docs).
pub fn checkpoint_text(scope: &AuditScope, size: u64, head_b64: &str, ts_ms: u64, nonce: Option<&str>) -> String {
    match nonce {
        None => format!("{CHECKPOINT_LABEL}\n{scope}\n{size}\n{head_b64}\n{ts_ms}\n"),
        Some(n) => format!("{CHECKPOINT_LABEL_NONCE}\n{scope}\n{size}\n{head_b64}\n{ts_ms}\n{n}\n"),
    }
}

impl Checkpoint {
    /// Signs the current size and head of `state` at `ts_ms` with the
    /// scope's audit key (which the caller unsealed, so this needs the
    /// user's session for a user scope).
    pub fn sign(key: &AuditSigningKey, state: &ChainState, ts_ms: u64) -> Result<Self, AuditError> {
        let sig = key.sign(Self::text_to_sign(state, ts_ms, None).as_bytes())?;
        Ok(Self::from_signature(state, ts_ms, None, key.kid().clone(), sig))
    }

    /// The text a checkpoint over `state` at `ts_ms` (with the verifier's
    /// `nonce`, if any) signs, for a signer outside this crate (a crypto
    /// provider).
    pub fn text_to_sign(state: &ChainState, ts_ms: u64, nonce: Option<&str>) -> String {
        checkpoint_text(state.scope(), state.next_seq(), &state.head_b64(), ts_ms, nonce)
    }

    /// The checkpoint over `state` at `ts_ms` whose text
    /// ([`Checkpoint::text_to_sign`]) the key `kid` signed as `sig` (raw
    /// `r || s`). `s` is brought to its low form, the only one verifiers
    /// accept: a provider that cannot be asked for it (WebCrypto) is
    /// normalized here.
    pub fn from_signature(state: &ChainState, ts_ms: u64, nonce: Option<String>, kid: KeyId, sig: [u8; 64]) -> Self {
        Self {
            scope: state.scope().clone(),
            size: state.next_seq(),
            head: state.head_b64(),
            ts_ms,
            nonce,
            kid,
            sig: crate::b64::encode(crate::crypto::p256_key::normalize_low_s(sig)),
        }
    }

    /// Parses a checkpoint as a person passes it to a verifier (for
    /// example `kms audit verify --expect-checkpoint`): either the bare JSON
    /// object, or a checkpoint line copied from an export (starting with
    /// `{"type":"checkpoint",`). Surrounding whitespace is ignored. The
    /// signature is not checked here.
    pub fn parse(text: &str) -> Result<Self, AuditError> {
        let text = text.trim();
        if text.len() > MAX_CHECKPOINT_TEXT {
            return Err(AuditError::InvalidInput("checkpoint: text too long".into()));
        }
        let body = match text.strip_prefix(LINE_PREFIX) {
            Some(members) => format!("{{{members}"),
            None => text.to_owned(),
        };
        serde_json::from_str(&body).map_err(|_| AuditError::InvalidInput("checkpoint: not a checkpoint object".into()))
    }

    /// The text the signature covers.
    pub fn signed_text(&self) -> String {
        checkpoint_text(&self.scope, self.size, &self.head, self.ts_ms, self.nonce.as_deref())
    }

    /// Whether this checkpoint was signed by `key`: its `kid` must be the
    /// key's thumbprint and its signature must verify over
    /// [`Checkpoint::signed_text`]. Says nothing about whether the head
    /// matches a given log; [`super::verify_export`] checks that.
    pub fn verify(&self, key: &AuditPublicKey) -> bool {
        if self.kid != key.kid() {
            return false;
        }
        match crate::b64::decode_array::<64>(&self.sig, "sig") {
            Ok(sig) => key.verify(self.signed_text().as_bytes(), &sig),
            Err(_) => false,
        }
    }
}

/// `sig`: base64url of exactly 64 bytes.
fn de_sig<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    let s = String::deserialize(d)?;
    crate::b64::decode_array::<64>(&s, "sig")
        .map_err(|_| serde::de::Error::custom("expected 64 bytes of base64url"))?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_layout() {
        assert_eq!(
            checkpoint_text(&AuditScope::Instance, 12, "AAAA", 1_700_000_000_000, None),
            "kms-audit-checkpoint/v1\ninstance\n12\nAAAA\n1700000000000\n"
        );
        assert_eq!(
            checkpoint_text(&AuditScope::Instance, 12, "AAAA", 1_700_000_000_000, Some("n-1_X")),
            "kms-audit-checkpoint/v2\ninstance\n12\nAAAA\n1700000000000\nn-1_X\n"
        );
    }

    #[test]
    fn nonces_are_checked() {
        assert!(check_nonce("abc-_09XYZ").is_ok());
        assert!(check_nonce(&"a".repeat(MAX_NONCE_LEN)).is_ok());
        for bad in ["", "a b", "a\nb", "a.b", "\u{e9}", &"a".repeat(MAX_NONCE_LEN + 1)] {
            assert!(check_nonce(bad).is_err(), "{bad:?}");
        }
    }
}
