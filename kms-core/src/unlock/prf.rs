//! Passkey PRF enrollment: the WebAuthn PRF extension's output
//! (`prf.results.first`, 32 bytes) -> HKDF-SHA256 -> the wrapping key.
//!
//! The PRF salt (`prf.eval.first`) is random per enrollment, issued by the
//! KMS (see [`super::ceremony`]), stored in the record and handed back at
//! unlock so the browser can ask the authenticator for the same evaluation.
//! The browser hashes it with the "WebAuthn PRF" label before the
//! authenticator sees it; we only ever handle the input and the output.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use crate::crypto::kdf;
use crate::env::UnixMillis;
use crate::error::{CoreError, Result};
use crate::ids::{EnrollmentId, UserId};
use crate::secret::{Key256, MasterSecret, PrfOutput};

use super::enrollment::{EnrollmentRecord, Method, MethodParams};

/// Longest credential id WebAuthn allows (L3 §5.1: at most 1023 bytes).
pub const MAX_CREDENTIAL_ID: usize = 1023;

/// The stored public parameters of a PRF enrollment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrfParams {
    /// base64url credential id.
    pub credential_id: String,
    /// base64url of the 32-byte PRF input (`prf.eval.first`).
    pub prf_salt: String,
    /// base64url of the 32-byte HKDF salt.
    pub hkdf_salt: String,
}

/// Checks a base64url credential id: 1 to 1023 bytes.
pub fn check_credential_id(b64: &str) -> Result<()> {
    let raw = crate::b64::decode(b64, MAX_CREDENTIAL_ID, "credential_id")?;
    if raw.is_empty() {
        return Err(CoreError::invalid("credential_id: empty"));
    }
    Ok(())
}

fn wrap_key(out: &PrfOutput, params: &PrfParams, user: &UserId, id: &EnrollmentId) -> Result<Key256> {
    let ikm = out.bytes()?;
    let (salt, info) = MethodParams::PasskeyPrf(params.clone()).wrap_kdf(user, id)?;
    kdf::hkdf_key(ikm.as_ref(), &salt, &info)
}

/// The parameters of a new PRF enrollment: the credential, the PRF salt it
/// was evaluated with, and a fresh HKDF salt.
pub fn new_params(credential_id: &str, prf_salt: &[u8; 32], rng: &mut impl CryptoRngCore) -> Result<PrfParams> {
    check_credential_id(credential_id)?;
    let mut hkdf_salt = [0u8; 32];
    rng.fill_bytes(&mut hkdf_salt);
    Ok(PrfParams {
        credential_id: credential_id.to_owned(),
        prf_salt: crate::b64::encode(prf_salt),
        hkdf_salt: crate::b64::encode(hkdf_salt),
    })
}

/// Wraps `master` for a PRF enrollment.
#[allow(clippy::too_many_arguments)]
pub fn enroll(
    master: &MasterSecret,
    user: &UserId,
    id: EnrollmentId,
    label: Option<String>,
    credential_id: &str,
    prf_salt: &[u8; 32],
    prf_output: &PrfOutput,
    now: UnixMillis,
    rng: &mut impl CryptoRngCore,
) -> Result<EnrollmentRecord> {
    let params = new_params(credential_id, prf_salt, rng)?;
    let key = wrap_key(prf_output, &params, user, &id)?;
    EnrollmentRecord::seal(master, user, id, label, MethodParams::PasskeyPrf(params), &key, now, rng)
}

/// Unwraps the master secret with a PRF output. A malformed output is
/// `invalid_input`; a wrong one or a corrupted record is `unlock_failed`.
pub fn unlock(
    record: &EnrollmentRecord,
    user: &UserId,
    id: &EnrollmentId,
    prf_output: &PrfOutput,
) -> Result<MasterSecret> {
    // Reject all-zero and wrong-length outputs before anything else.
    prf_output.bytes()?;
    let MethodParams::PasskeyPrf(params) = &record.params else {
        return Err(CoreError::UnlockFailed);
    };
    let key = wrap_key(prf_output, params, user, id).map_err(|_| CoreError::UnlockFailed)?;
    record.unwrap_master(user, id, Method::PasskeyPrf, &key)
}
