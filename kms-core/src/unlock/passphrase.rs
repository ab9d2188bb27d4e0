//! Passphrase enrollment: PBKDF2-HMAC-SHA256 (RFC 8018) -> HKDF-SHA256
//! (RFC 5869) -> the key that wraps the master secret.
//!
//! PBKDF2 itself is run by the caller (the engine): natively with the
//! `pbkdf2` crate ([`crate::crypto::kdf::pbkdf2_sha256`]), in the browser
//! through WebCrypto, which is 4-5x faster than PBKDF2 compiled to WASM. This
//! module takes the PBKDF2 output and does the rest.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::kdf;
use crate::env::UnixMillis;
use crate::error::{CoreError, Result};
use crate::ids::{EnrollmentId, UserId};
use crate::secret::{Key256, MasterSecret, Passphrase};

use super::enrollment::{EnrollmentRecord, Method, MethodParams};

/// The only algorithm the record format knows today.
pub const ALG: &str = "pbkdf2-sha256";
/// OWASP Password Storage Cheat Sheet (2023) for PBKDF2-HMAC-SHA256; also the
/// floor: the KMS never wraps with fewer.
pub const MIN_ITERATIONS: u32 = 600_000;
/// The default work factor.
pub const DEFAULT_ITERATIONS: u32 = MIN_ITERATIONS;
/// A stored record asking for more than this is treated as corrupt: it would
/// otherwise let whoever edits the store make every unlock take minutes.
pub const MAX_ITERATIONS: u32 = 20_000_000;
/// Salt length in bytes (NIST SP 800-132 asks for at least 16).
pub const SALT_LEN: usize = 16;
/// Default minimum passphrase length, in characters.
pub const DEFAULT_MIN_CHARS: usize = 12;
/// Longest passphrase accepted, in bytes (PBKDF2 hashes long passwords
/// first; the cap bounds memory and request size).
pub const MAX_BYTES: usize = 1024;

/// The passphrase rules a deployment runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassphrasePolicy {
    min_chars: usize,
    iterations: u32,
}

impl Default for PassphrasePolicy {
    fn default() -> Self {
        Self { min_chars: DEFAULT_MIN_CHARS, iterations: DEFAULT_ITERATIONS }
    }
}

impl PassphrasePolicy {
    /// A policy; refuses iterations below the floor or above the cap, and a
    /// minimum length below 8 characters (NIST SP 800-63B).
    pub fn new(min_chars: usize, iterations: u32) -> Result<Self> {
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(CoreError::invalid(format!(
                "iterations: must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}"
            )));
        }
        if !(8..=256).contains(&min_chars) {
            return Err(CoreError::invalid("minimum passphrase length: must be between 8 and 256"));
        }
        Ok(Self { min_chars, iterations })
    }

    /// The iteration count new wraps use.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// The minimum length in characters.
    pub fn min_chars(&self) -> usize {
        self.min_chars
    }

    /// Checks a new passphrase against the policy.
    pub fn check(&self, p: &Passphrase) -> Result<()> {
        if p.as_bytes().len() > MAX_BYTES {
            return Err(CoreError::invalid(format!("passphrase: longer than {MAX_BYTES} bytes")));
        }
        if p.char_len() < self.min_chars {
            return Err(CoreError::invalid(format!("passphrase: at least {} characters required", self.min_chars)));
        }
        Ok(())
    }

    /// Checks a passphrase offered to unlock: not empty and at most
    /// [`MAX_BYTES`]. No enrolled passphrase can be either (every policy
    /// refuses them), so such a request is malformed, not a wrong guess:
    /// the engine refuses it before the throttle counts anything. The
    /// minimum length is not applied here: a passphrase enrolled under an
    /// older, laxer policy still unlocks.
    pub fn check_offered(p: &Passphrase) -> Result<()> {
        if p.as_bytes().is_empty() {
            return Err(CoreError::invalid("passphrase: empty"));
        }
        if p.as_bytes().len() > MAX_BYTES {
            return Err(CoreError::invalid(format!("passphrase: longer than {MAX_BYTES} bytes")));
        }
        Ok(())
    }

    /// Fresh parameters (new random salt) at this policy's cost.
    pub fn new_params(&self, rng: &mut impl CryptoRngCore) -> PassphraseParams {
        let mut salt = [0u8; SALT_LEN];
        rng.fill_bytes(&mut salt);
        PassphraseParams { alg: ALG.into(), iterations: self.iterations, salt: crate::b64::encode(salt) }
    }
}

/// The stored KDF parameters of a passphrase enrollment, so the cost can be
/// raised later (re-wrap at the next successful unlock).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PassphraseParams {
    pub alg: String,
    pub iterations: u32,
    /// base64url of the 16-byte salt.
    pub salt: String,
}

impl PassphraseParams {
    /// The salt, after checking that the parameters are ones we would have
    /// written. Bad parameters are reported as a failed unlock, like a wrong
    /// passphrase, and before any KDF runs.
    pub fn checked_salt(&self) -> Result<[u8; SALT_LEN]> {
        if self.alg != ALG || !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&self.iterations) {
            return Err(CoreError::UnlockFailed);
        }
        crate::b64::decode_array::<SALT_LEN>(&self.salt, "salt").map_err(|_| CoreError::UnlockFailed)
    }
}

/// Runs PBKDF2 natively with these parameters (the reference path; the
/// browser uses WebCrypto and must give the same bytes).
pub fn pbkdf2_native(p: &Passphrase, params: &PassphraseParams) -> Result<Zeroizing<[u8; 32]>> {
    let salt = params.checked_salt()?;
    Ok(kdf::pbkdf2_sha256(p.as_bytes(), &salt, params.iterations))
}

fn wrap_key(pbkdf2_out: &[u8; 32], params: &PassphraseParams, user: &UserId, id: &EnrollmentId) -> Result<Key256> {
    let (salt, info) = MethodParams::Passphrase(params.clone()).wrap_kdf(user, id)?;
    kdf::hkdf_key(pbkdf2_out, &salt, &info)
}

/// Wraps `master` for a passphrase enrollment, given the PBKDF2 output for
/// `params`.
#[allow(clippy::too_many_arguments)]
pub fn enroll(
    master: &MasterSecret,
    user: &UserId,
    id: EnrollmentId,
    label: Option<String>,
    params: PassphraseParams,
    pbkdf2_out: &[u8; 32],
    now: UnixMillis,
    rng: &mut impl CryptoRngCore,
) -> Result<EnrollmentRecord> {
    let key = wrap_key(pbkdf2_out, &params, user, &id)?;
    EnrollmentRecord::seal(master, user, id, label, MethodParams::Passphrase(params), &key, now, rng)
}

/// Unwraps the master secret of a passphrase enrollment, given the PBKDF2
/// output for the record's parameters. A wrong passphrase and a corrupted
/// record both give [`CoreError::UnlockFailed`].
pub fn unlock(
    record: &EnrollmentRecord,
    user: &UserId,
    id: &EnrollmentId,
    pbkdf2_out: &[u8; 32],
) -> Result<MasterSecret> {
    let MethodParams::Passphrase(params) = &record.params else {
        return Err(CoreError::UnlockFailed);
    };
    let key = wrap_key(pbkdf2_out, params, user, id).map_err(|_| CoreError::UnlockFailed)?;
    record.unwrap_master(user, id, Method::Passphrase, &key)
}

/// Picks an iteration count for a target unlock time. `measure(n)` runs
/// PBKDF2 with `n` iterations on the target platform and returns the time it
/// took in milliseconds (the core has no clock). The result scales the
/// measurement linearly, rounds up to a multiple of 10,000, and never goes
/// below [`MIN_ITERATIONS`] or above [`MAX_ITERATIONS`].
pub fn calibrate_iterations(target_ms: f64, mut measure: impl FnMut(u32) -> f64) -> u32 {
    const PROBE: u32 = 100_000;
    let took = measure(PROBE);
    if !(took.is_finite() && took > 0.0 && target_ms.is_finite() && target_ms > 0.0) {
        return MIN_ITERATIONS;
    }
    let wanted = (f64::from(PROBE) * target_ms / took).min(f64::from(MAX_ITERATIONS));
    // `wanted` is finite and within u32 range here.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let wanted = wanted.ceil() as u32;
    let rounded = wanted.div_ceil(10_000).saturating_mul(10_000);
    rounded.clamp(MIN_ITERATIONS, MAX_ITERATIONS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_has_a_floor_and_scales() {
        // A fast machine: 100k iterations in 10 ms -> 1 s target wants 10M.
        assert_eq!(calibrate_iterations(1000.0, |_| 10.0), 10_000_000);
        // A slow machine never goes below the floor.
        assert_eq!(calibrate_iterations(100.0, |_| 500.0), MIN_ITERATIONS);
        assert_eq!(calibrate_iterations(100.0, |_| 0.0), MIN_ITERATIONS);
        assert_eq!(calibrate_iterations(f64::NAN, |_| 1.0), MIN_ITERATIONS);
        assert_eq!(calibrate_iterations(1e12, |_| 1.0), MAX_ITERATIONS);
        // 100k in 12 ms, target 100 ms -> 833,334 -> 840,000.
        assert_eq!(calibrate_iterations(100.0, |_| 12.0), 840_000);
    }

    #[test]
    fn policy_floor() {
        assert!(PassphrasePolicy::new(12, 599_999).is_err());
        assert!(PassphrasePolicy::new(7, 600_000).is_err());
        let p = PassphrasePolicy::default();
        assert!(p.check(&Passphrase::new("short")).is_err());
        assert!(p.check(&Passphrase::new("x".repeat(MAX_BYTES + 1))).is_err());
        assert!(PassphrasePolicy::check_offered(&Passphrase::new("")).is_err());
        assert!(PassphrasePolicy::check_offered(&Passphrase::new("x".repeat(MAX_BYTES + 1))).is_err());
        assert!(PassphrasePolicy::check_offered(&Passphrase::new("x".repeat(MAX_BYTES))).is_ok());
        assert!(PassphrasePolicy::check_offered(&Passphrase::new("short")).is_ok());
        assert!(p.check(&Passphrase::new("twelve chars")).is_ok());
    }
}
