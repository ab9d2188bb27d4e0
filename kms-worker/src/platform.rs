//! What the engine takes from the platform it runs on, travelling together
//! as one value: the clock, the random generator, the PBKDF2 provider and
//! the crypto provider that holds the secret keys.
//! Natively: the system clock, OS randomness and RustCrypto's PBKDF2; in the
//! browser: `Date.now()`, `crypto.getRandomValues` and WebCrypto's PBKDF2
//! (`web/`); in tests: a manual clock, a seeded RNG, a logging PBKDF2.

use kms_core::env::Clock;
use rand_core::CryptoRngCore;

use crate::crypto::{CryptoProvider, NativeCrypto};
use crate::pbkdf2::{NativePbkdf2, Pbkdf2Provider};

/// The engine's platform.
pub struct Platform<C: Clock, R: CryptoRngCore, P: CryptoProvider = NativeCrypto> {
    /// Milliseconds since the Unix epoch: session and lease expiry, audit
    /// times, throttling.
    pub clock: C,
    /// Every secret and id the engine makes.
    pub rng: R,
    /// Who runs the passphrase KDF.
    pub pbkdf2: Box<dyn Pbkdf2Provider>,
    /// Who holds the secret keys and computes with them
    /// ([`crate::crypto`]).
    pub crypto: P,
}

impl<C: Clock, R: CryptoRngCore> Platform<C, R> {
    /// `clock` and `rng` with the native (RustCrypto) PBKDF2 and crypto
    /// provider.
    pub fn native(clock: C, rng: R) -> Self {
        Self { clock, rng, pbkdf2: Box::new(NativePbkdf2), crypto: NativeCrypto }
    }
}

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> Platform<C, R, P> {
    /// The same platform with another PBKDF2 provider.
    pub fn with_pbkdf2(self, pbkdf2: Box<dyn Pbkdf2Provider>) -> Self {
        Self { pbkdf2, ..self }
    }

    /// The same platform with another crypto provider.
    pub fn with_crypto<Q: CryptoProvider>(self, crypto: Q) -> Platform<C, R, Q> {
        Platform { clock: self.clock, rng: self.rng, pbkdf2: self.pbkdf2, crypto }
    }
}

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> std::fmt::Debug for Platform<C, R, P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The RNG's state is a secret; the clock and provider say nothing.
        f.debug_struct("Platform").finish_non_exhaustive()
    }
}
