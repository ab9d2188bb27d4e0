//! Thin, typed wrappers over the RustCrypto primitives the KMS uses, so every
//! call site gets the same parameters and the same errors.

pub mod aad;
pub mod aead;
pub mod kdf;
pub mod p256_key;
pub mod sealed_key;
