//! The bytes of secrets, for tests that must know them: the memory-scan
//! test of the browser build looks for exactly these bytes in the worker's
//! memory, and the fixture that feeds it is checked against them. Nothing
//! outside tests can reach this module (the `testing` feature).

use crate::audit::AuditSigningKey;
use crate::secret::{Key256, MasterSecret};
use crate::vapid::VapidSigningKey;

/// The 32 bytes of a master secret.
pub fn master_bytes(master: &MasterSecret) -> [u8; 32] {
    *master.expose()
}

/// The 32 bytes of a symmetric key.
pub fn key_bytes(key: &Key256) -> [u8; 32] {
    *key.expose()
}

/// The secret scalar of a VAPID key.
pub fn vapid_scalar(key: &VapidSigningKey) -> [u8; 32] {
    *key.p256().scalar_bytes()
}

/// The secret scalar of an audit key.
pub fn audit_scalar(key: &AuditSigningKey) -> [u8; 32] {
    *key.p256().scalar_bytes()
}
