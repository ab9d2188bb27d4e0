//! PBKDF2 providers for the engine under test: the real one with a log of
//! every run, and a fast fake for the fuzz test.

use std::cell::RefCell;
use std::rc::Rc;

use async_trait::async_trait;
use kms_worker::error::EngineResult;
use kms_worker::{NativePbkdf2, Pbkdf2Provider};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

/// A PBKDF2 provider that runs the real (native) PBKDF2 and logs the
/// iteration count of every run, so a test can prove that the KDF did, or
/// did not, run.
#[derive(Debug, Clone, Default)]
pub struct LoggingPbkdf2 {
    pub runs: Rc<RefCell<Vec<u32>>>,
}

#[async_trait(?Send)]
impl Pbkdf2Provider for LoggingPbkdf2 {
    async fn pbkdf2_sha256(&self, password: &[u8], salt: &[u8], iterations: u32) -> EngineResult<Zeroizing<[u8; 32]>> {
        self.runs.borrow_mut().push(iterations);
        NativePbkdf2.pbkdf2_sha256(password, salt, iterations).await
    }
}

/// NOT PBKDF2: a single SHA-256 of (iterations, salt, password), for the
/// fuzz test only, where thousands of requests must not each cost 600,000
/// HMAC rounds. Deterministic, so a passphrase still unlocks what it set up.
#[derive(Debug, Clone, Copy, Default)]
pub struct FakeFastPbkdf2;

#[async_trait(?Send)]
impl Pbkdf2Provider for FakeFastPbkdf2 {
    async fn pbkdf2_sha256(&self, password: &[u8], salt: &[u8], iterations: u32) -> EngineResult<Zeroizing<[u8; 32]>> {
        let mut h = Sha256::new();
        h.update(iterations.to_be_bytes());
        h.update((salt.len() as u64).to_be_bytes());
        h.update(salt);
        h.update(password);
        Ok(Zeroizing::new(h.finalize().into()))
    }
}
