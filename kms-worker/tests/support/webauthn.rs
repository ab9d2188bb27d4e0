//! Gate mode's WebAuthn side: the workspace's software authenticator
//! (`kms_core::testing::authenticator`) for this harness's RP ID and origin.
//! Its assertions go to the engine as JSON (`Assertion::to_json`), the
//! browser's `PublicKeyCredential.toJSON()`.

pub use kms_core::testing::authenticator::{authenticator_data, client_data_json, SoftAuthenticator, UP, UV};

use super::{ORIGIN, RP_ID};

/// A software authenticator for the default configuration's RP ID and
/// origin, its key and credential id drawn from `seed`.
pub fn authenticator(seed: u64) -> SoftAuthenticator {
    SoftAuthenticator::new(seed, RP_ID, ORIGIN)
}
