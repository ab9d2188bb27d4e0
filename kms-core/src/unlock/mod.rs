//! Unlock methods: how an enrollment wraps the user's master secret and how
//! it gets it back.
//!
//! | method | wrapping key comes from | protects at rest |
//! | --- | --- | --- |
//! | passphrase | PBKDF2-HMAC-SHA256 -> HKDF | yes, as strong as the passphrase |
//! | passkey PRF | WebAuthn PRF output -> HKDF | yes, needs the authenticator |
//! | passkey gate | a key kept in storage -> HKDF | **no**: policy only, see [`gate`] |
//!
//! Every wrap is AES-256-GCM with AAD = (format version, user, enrollment id,
//! method, purpose), recomputed from the caller's request on every unwrap.

pub mod ceremony;
pub mod enrollment;
pub mod gate;
pub mod gate_wrap;
pub mod passphrase;
pub mod prf;

pub use enrollment::{EnrollmentInfo, EnrollmentRecord, Method, MethodParams};
