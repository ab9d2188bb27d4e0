//! The enrollment record: one wrap of the user's master secret, with the
//! public parameters needed to rebuild the wrapping key.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use crate::crypto::aad;
use crate::crypto::aead::{self, Sealed};
use crate::env::UnixMillis;
use crate::error::{CoreError, Result};
use crate::ids::{EnrollmentId, UserId};
use crate::secret::{Key256, MasterSecret};

use super::gate::GateCredential;
use super::passphrase::PassphraseParams;
use super::prf::PrfParams;

/// Version of the stored enrollment record format.
pub const RECORD_VERSION: u32 = 1;
/// Largest stored enrollment record the engine will parse.
pub const MAX_RECORD_BYTES: usize = 8 * 1024;
/// Longest label a user may give an enrollment.
pub const MAX_LABEL_LEN: usize = 64;

/// An unlock method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(rename = "EnrollmentMethod"))]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Passphrase,
    PasskeyPrf,
    PasskeyGate,
}

impl Method {
    /// The method's name, as bound into the AAD and shown on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Passphrase => "passphrase",
            Self::PasskeyPrf => "passkey_prf",
            Self::PasskeyGate => "passkey_gate",
        }
    }
}

/// The public, per-method parameters of an enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum MethodParams {
    Passphrase(PassphraseParams),
    PasskeyPrf(PrfParams),
    PasskeyGate(GateParams),
}

impl MethodParams {
    /// The HKDF salt and `info` of this enrollment's wrapping key, whose
    /// input key material is the method's 32-byte secret: the PBKDF2 output
    /// (passphrase), the PRF output (passkey PRF), the stored gate key
    /// ([`GateParams::gate_key`]). `info` names the method and binds the
    /// user and the enrollment.
    pub fn wrap_kdf(&self, user: &UserId, id: &EnrollmentId) -> Result<(Vec<u8>, Vec<u8>)> {
        let salt = match self {
            Self::Passphrase(p) => p.checked_salt()?.to_vec(),
            Self::PasskeyPrf(p) => crate::b64::decode_array::<32>(&p.hkdf_salt, "hkdf_salt")?.to_vec(),
            Self::PasskeyGate(_) => super::gate_wrap::GATE_SALT.to_vec(),
        };
        Ok((salt, wrap_key_info(self.method(), user, id)))
    }

    /// Which method these parameters belong to.
    pub fn method(&self) -> Method {
        match self {
            Self::Passphrase(_) => Method::Passphrase,
            Self::PasskeyPrf(_) => Method::PasskeyPrf,
            Self::PasskeyGate(_) => Method::PasskeyGate,
        }
    }
}

/// Gate-mode parameters: the credential to verify assertions against, and
/// the wrapping key itself, stored in the clear. That is what "policy, not
/// cryptography" means; see [`super::gate`].
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateParams {
    pub credential: GateCredential,
    /// base64url of the 32-byte key that wraps the master secret.
    pub gate_key: String,
}

impl GateParams {
    /// The stored gate key: the input key material of the wrapping key.
    pub fn gate_key(&self) -> Result<zeroize::Zeroizing<[u8; 32]>> {
        Ok(zeroize::Zeroizing::new(crate::b64::decode_array::<32>(&self.gate_key, "gate_key")?))
    }
}

impl std::fmt::Debug for GateParams {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GateParams").field("credential", &self.credential).field("gate_key", &"<redacted>").finish()
    }
}

/// A stored enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollmentRecord {
    pub v: u32,
    pub id: EnrollmentId,
    pub label: Option<String>,
    pub created_ms: UnixMillis,
    pub updated_ms: UnixMillis,
    pub params: MethodParams,
    /// The master secret sealed under this enrollment's wrapping key.
    pub wrapped: Sealed,
}

/// What the outside may know about an enrollment (no key material).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct EnrollmentInfo {
    pub id: EnrollmentId,
    pub method: Method,
    pub label: Option<String>,
    pub created_ms: UnixMillis,
    pub updated_ms: UnixMillis,
    /// Whether this enrollment protects the master secret at rest. False for
    /// a gate-mode passkey: whoever copies the store can unwrap the master
    /// secret; the passkey only gates the running KMS's API.
    pub protects_at_rest: bool,
    /// Passphrase: the PBKDF2 iteration count.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub iterations: Option<u32>,
    /// Passkeys: the credential id (base64url), for `allowCredentials`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub credential_id: Option<String>,
    /// Passkey PRF: the salt to pass as `prf.eval.first` (base64url).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub prf_salt: Option<String>,
    /// Passkey gate: the WebAuthn relying party id.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub rp_id: Option<String>,
}

/// Checks an optional label: at most [`MAX_LABEL_LEN`] characters, none of
/// them a control, a bidirectional control (the audit log refuses the same
/// ones in its ids) or a line or paragraph separator: a label is shown to
/// the user (the KMS frame names the enrollment it would remove by it) and
/// must read as itself.
pub fn check_label(label: Option<String>) -> Result<Option<String>> {
    let deceptive = |c: char| crate::audit::entry::is_refused_char(c) || matches!(c, '\u{2028}' | '\u{2029}');
    match label {
        Some(l) if l.chars().count() > MAX_LABEL_LEN || l.chars().any(deceptive) => Err(CoreError::invalid(format!(
            "label: at most {MAX_LABEL_LEN} characters, without control, bidirectional-control or separator characters"
        ))),
        other => Ok(other),
    }
}

impl EnrollmentRecord {
    /// A new record around a master secret a crypto provider wrapped under
    /// this enrollment's wrapping key with AAD
    /// [`aad::master_wrap`]`(user, id, params.method())`.
    pub fn from_wrapped(
        id: EnrollmentId,
        label: Option<String>,
        params: MethodParams,
        wrapped: Sealed,
        now: UnixMillis,
    ) -> Result<Self> {
        Ok(Self {
            v: RECORD_VERSION,
            id,
            label: check_label(label)?,
            created_ms: now,
            updated_ms: now,
            params,
            wrapped,
        })
    }

    /// Wraps `master` under `wrap_key` into a new record.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn seal(
        master: &MasterSecret,
        user: &UserId,
        id: EnrollmentId,
        label: Option<String>,
        params: MethodParams,
        wrap_key: &Key256,
        now: UnixMillis,
        rng: &mut impl CryptoRngCore,
    ) -> Result<Self> {
        let aad = aad::master_wrap(user, &id, params.method());
        let wrapped = master.wrap(wrap_key, &aad, rng)?;
        Self::from_wrapped(id, label, params, wrapped, now)
    }

    /// Unwraps the master secret. The AAD is rebuilt from what the caller
    /// asked for (`user`, `id`, `method`), not from the record, so a record
    /// copied under another user, id or method does not open. Every failure
    /// is [`CoreError::UnlockFailed`].
    pub(crate) fn unwrap_master(
        &self,
        user: &UserId,
        id: &EnrollmentId,
        method: Method,
        wrap_key: &Key256,
    ) -> Result<MasterSecret> {
        if self.v != RECORD_VERSION {
            return Err(CoreError::UnlockFailed);
        }
        let aad = aad::master_wrap(user, id, method);
        let plain = aead::open(wrap_key, &aad, &self.wrapped).map_err(|_| CoreError::UnlockFailed)?;
        MasterSecret::from_unwrapped(plain).map_err(|_| CoreError::UnlockFailed)
    }

    /// Parses a stored record, capped in size.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > MAX_RECORD_BYTES {
            return Err(CoreError::Integrity);
        }
        serde_json::from_slice(bytes).map_err(|_| CoreError::Integrity)
    }

    /// Serializes the record for storage.
    pub fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| CoreError::Internal(format!("encode enrollment: {e}")))
    }

    /// The public view of this enrollment.
    pub fn info(&self) -> EnrollmentInfo {
        let mut info = EnrollmentInfo {
            id: self.id.clone(),
            method: self.params.method(),
            label: self.label.clone(),
            created_ms: self.created_ms,
            updated_ms: self.updated_ms,
            protects_at_rest: !matches!(self.params, MethodParams::PasskeyGate(_)),
            iterations: None,
            credential_id: None,
            prf_salt: None,
            rp_id: None,
        };
        match &self.params {
            MethodParams::Passphrase(p) => info.iterations = Some(p.iterations),
            MethodParams::PasskeyPrf(p) => {
                info.credential_id = Some(p.credential_id.clone());
                info.prf_salt = Some(p.prf_salt.clone());
            }
            MethodParams::PasskeyGate(g) => {
                info.credential_id = Some(g.credential.credential_id.clone());
                info.rp_id = Some(g.credential.rp_id.clone());
            }
        }
        info
    }
}

/// HKDF `info` for an enrollment's wrapping key: names the method and binds
/// user and enrollment, so one secret never yields the same key twice.
pub(crate) fn wrap_key_info(method: Method, user: &UserId, id: &EnrollmentId) -> Vec<u8> {
    [
        b"kms/v1/wrap/".as_slice(),
        method.as_str().as_bytes(),
        b"\0",
        user.as_str().as_bytes(),
        b"\0",
        id.as_str().as_bytes(),
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_must_read_as_itself() {
        for bad in ["phone\u{202e}(unused)", "a\u{2066}b", "line\u{2028}break", "tab\there", "\u{200f}x"] {
            assert!(check_label(Some(bad.to_owned())).is_err(), "{bad:?}");
        }
        assert!(check_label(Some("x".repeat(MAX_LABEL_LEN + 1))).is_err());
        // Letters of any script, emoji joined by U+200D, spaces: fine.
        for good in ["laptop", "Téléphone de Zoë", "\u{1f468}\u{200d}\u{1f469}", "ключ 2"] {
            assert_eq!(check_label(Some(good.to_owned())).unwrap().as_deref(), Some(good));
        }
        assert_eq!(check_label(None).unwrap(), None);
    }
}
