//! The wrap half of gate mode: the master secret wrapped under a random key
//! kept in the record itself. The assertion check is in [`super::gate`];
//! this module must only be called after it succeeded.

use rand_core::CryptoRngCore;

use crate::crypto::kdf;
use crate::env::UnixMillis;
use crate::error::{CoreError, Result};
use crate::ids::{EnrollmentId, UserId};
use crate::secret::{Key256, MasterSecret};

use super::enrollment::{EnrollmentRecord, GateParams, Method, MethodParams};
use super::gate::GateCredential;

/// The HKDF salt of a gate enrollment's wrapping key.
pub const GATE_SALT: &[u8] = b"kms/v1/gate";

fn wrap_key(params: &GateParams, user: &UserId, id: &EnrollmentId) -> Result<Key256> {
    let (salt, info) = MethodParams::PasskeyGate(params.clone()).wrap_kdf(user, id)?;
    kdf::hkdf_key(params.gate_key()?.as_ref(), &salt, &info)
}

/// The parameters of a new gate enrollment of `credential`: a fresh random
/// gate key, stored in the record (see [`super::gate`] on why that is
/// policy, not cryptography).
pub fn new_params(credential: GateCredential, rng: &mut impl CryptoRngCore) -> GateParams {
    let gate_key = Key256::generate(rng);
    GateParams { credential, gate_key: crate::b64::encode(gate_key.expose()) }
}

/// Wraps `master` for a gate enrollment of `credential`.
pub fn enroll(
    master: &MasterSecret,
    user: &UserId,
    id: EnrollmentId,
    label: Option<String>,
    credential: GateCredential,
    now: UnixMillis,
    rng: &mut impl CryptoRngCore,
) -> Result<EnrollmentRecord> {
    let params = new_params(credential, rng);
    let key = wrap_key(&params, user, &id)?;
    EnrollmentRecord::seal(master, user, id, label, MethodParams::PasskeyGate(params), &key, now, rng)
}

/// Unwraps the master secret of a gate enrollment. Call only after
/// [`super::gate::verify_assertion`] accepted an assertion for this record.
pub fn unlock_after_assertion(record: &EnrollmentRecord, user: &UserId, id: &EnrollmentId) -> Result<MasterSecret> {
    let MethodParams::PasskeyGate(params) = &record.params else {
        return Err(CoreError::UnlockFailed);
    };
    let key = wrap_key(params, user, id).map_err(|_| CoreError::UnlockFailed)?;
    record.unwrap_master(user, id, Method::PasskeyGate, &key)
}
