//! Who runs PBKDF2. Natively, the `pbkdf2` crate; in the browser, WebCrypto
//! (`crypto.subtle.deriveBits`), which is 4-5x faster than PBKDF2 compiled to
//! WASM and gives the same bytes. The engine only sees this trait.

use async_trait::async_trait;
use zeroize::Zeroizing;

use crate::error::EngineResult;

/// Computes PBKDF2-HMAC-SHA256 with a 32-byte output.
#[async_trait(?Send)]
pub trait Pbkdf2Provider {
    /// PBKDF2-HMAC-SHA256(password, salt, iterations), 32 bytes.
    async fn pbkdf2_sha256(&self, password: &[u8], salt: &[u8], iterations: u32) -> EngineResult<Zeroizing<[u8; 32]>>;
}

/// The RustCrypto implementation: the reference every other provider must
/// match.
#[derive(Debug, Default, Clone, Copy)]
pub struct NativePbkdf2;

#[async_trait(?Send)]
impl Pbkdf2Provider for NativePbkdf2 {
    async fn pbkdf2_sha256(&self, password: &[u8], salt: &[u8], iterations: u32) -> EngineResult<Zeroizing<[u8; 32]>> {
        Ok(kms_core::crypto::kdf::pbkdf2_sha256(password, salt, iterations))
    }
}
