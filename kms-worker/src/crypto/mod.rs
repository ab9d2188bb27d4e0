//! The crypto provider: every operation on a long-lived secret key, behind
//! handles the engine holds but cannot read. This is the one seam between
//! the engine's rules and the platform's cryptography, in the manner of
//! rustls's `CryptoProvider`: the engine asks for "the wrapping key of this
//! enrollment", "the master secret in this sealed blob", "a signature by
//! this key"; the provider decides where the key material lives.
//!
//! - [`native::NativeCrypto`]: RustCrypto (through `kms-core`). Handles are
//!   the secrets themselves, zeroized on drop and redacted in `Debug`.
//! - `web::WebCrypto` (browser build only): WebCrypto. Handles are
//!   non-extractable `CryptoKey`s; no long-lived secret is ever in WASM or
//!   JS memory.
//!
//! Both make and open the same bytes (`docs/formats.md`): AES-256-GCM blobs
//! `nonce || ciphertext || tag` with the AAD of `kms_core::crypto::aad`,
//! HKDF-SHA256 with the salts and `info` strings of `kms-core`, PKCS#8 for
//! sealed P-256 keys, raw `r || s` signatures. A store written on one
//! platform opens on the other.
//!
//! What stays bytes, and why, is listed in `docs/threat-model.md`: the
//! input key material of a wrapping key (a PBKDF2 or PRF output, a gate
//! key, a lease secret), imported at once and wiped; the audit MAC key,
//! which evolves with every entry and is stored beside the chain; the
//! instance audit key, stored in the clear by design.

pub mod native;
#[cfg(all(target_arch = "wasm32", target_os = "unknown"))]
pub mod web;

use kms_core::crypto::aead::Sealed;
use kms_core::crypto::p256_key::{KeyFormat, P256PublicKey};
pub use kms_core::crypto::sealed_key::OpenError;
use kms_core::ids::UserId;
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use crate::error::EngineResult;

pub use native::NativeCrypto;

/// The operations on secret keys. Every method is async because WebCrypto
/// is; the native provider completes at once.
///
/// Methods that open something sealed return `Ok(Err(OpenError))` when the
/// bytes do not open (the caller decides what that means: a wrong
/// credential, a damaged record), and `Err` only when the platform itself
/// failed.
// Not `Send`: the browser's handles are JS objects, and the engine runs on
// one thread on both platforms.
#[allow(async_fn_in_trait)]
pub trait CryptoProvider {
    /// An enrollment's (or a lease's) AES-256-GCM key, from HKDF.
    type WrapKey;
    /// A user's master secret, held by a session; cloning it copies the
    /// handle, never the secret.
    type Master: Clone;
    /// A P-256 key just generated, that can still be sealed once.
    type NewSigner;
    /// A P-256 signing key opened from its sealed form: it signs, and
    /// nothing else. Cloning copies the handle.
    type Signer: Clone;

    /// The AES-256-GCM key `HKDF-SHA256(ikm, salt, info)`: an enrollment's
    /// wrapping key (`ikm` a PBKDF2 or PRF output, or a gate key), a
    /// lease's key (`ikm` the lease secret). `ikm` is wiped on return.
    async fn wrap_key(&self, ikm: Zeroizing<[u8; 32]>, salt: &[u8], info: &[u8]) -> EngineResult<Self::WrapKey>;

    /// Seals a 32-byte secret that is bytes on every platform (the audit
    /// chain's MAC key, in the engine's chain mark) under `key` with `aad`:
    /// AES-256-GCM, the nonce from `rng`.
    async fn seal_bytes(
        &self,
        key: &Self::WrapKey,
        aad: &[u8],
        secret: &[u8; 32],
        rng: &mut dyn CryptoRngCore,
    ) -> EngineResult<Sealed>;

    /// Opens what [`CryptoProvider::seal_bytes`] sealed, into a buffer wiped
    /// on drop. A blob that does not open under `key` and `aad` is
    /// `Ok(Err(_))`.
    async fn open_bytes(
        &self,
        key: &Self::WrapKey,
        aad: &[u8],
        sealed: &Sealed,
    ) -> EngineResult<Result<Zeroizing<[u8; 32]>, OpenError>>;

    /// A fresh master secret, returned as a handle and sealed under `wrap`
    /// with `aad` (the first enrollment's record).
    async fn new_master(
        &self,
        wrap: &Self::WrapKey,
        aad: &[u8],
        rng: &mut dyn CryptoRngCore,
    ) -> EngineResult<(Self::Master, Sealed)>;

    /// Opens a master secret sealed under `wrap` with `aad`.
    async fn unwrap_master(
        &self,
        wrap: &Self::WrapKey,
        aad: &[u8],
        sealed: &Sealed,
    ) -> EngineResult<Result<Self::Master, OpenError>>;

    /// Seals the master secret again, under another enrollment's `wrap`
    /// with its `aad`.
    async fn rewrap_master(
        &self,
        master: &Self::Master,
        wrap: &Self::WrapKey,
        aad: &[u8],
        rng: &mut dyn CryptoRngCore,
    ) -> EngineResult<Sealed>;

    /// The AES-256-GCM subkey of `master` for `purpose` of `user`
    /// (`kms_core::crypto::kdf::derive_subkey`): `vapid-seal`, `audit-seal`.
    async fn subkey(&self, master: &Self::Master, user: &UserId, purpose: &str) -> EngineResult<Self::WrapKey>;

    /// The same derivation as [`CryptoProvider::subkey`], as bytes: only for
    /// the audit chain's first MAC key (`audit-mac`), which is bytes on
    /// every platform.
    async fn subkey_bytes(
        &self,
        master: &Self::Master,
        user: &UserId,
        purpose: &str,
    ) -> EngineResult<Zeroizing<[u8; 32]>>;

    /// A fresh P-256 key pair.
    async fn generate_signer(&self, rng: &mut dyn CryptoRngCore) -> EngineResult<(Self::NewSigner, P256PublicKey)>;

    /// Seals a new key (PKCS#8) under `key` with `aad`, and gives it back
    /// as a signer. The new key's handle is consumed: in the browser, the
    /// only extractable handle there ever was is dropped here.
    async fn seal_new_signer(
        &self,
        new: Self::NewSigner,
        key: &Self::WrapKey,
        aad: &[u8],
        rng: &mut dyn CryptoRngCore,
    ) -> EngineResult<(Sealed, Self::Signer)>;

    /// Opens a sealed key laid out as `format`, which must be the key whose
    /// public half is `expected`.
    async fn open_signer(
        &self,
        key: &Self::WrapKey,
        aad: &[u8],
        sealed: &Sealed,
        format: KeyFormat,
        expected: &P256PublicKey,
    ) -> EngineResult<Result<Self::Signer, OpenError>>;

    /// Opens a sealed key (as [`CryptoProvider::open_signer`]) and seals it
    /// again as PKCS#8 under `to` with `to_aad`, without it ever being a
    /// signer (a lease's copy of a VAPID key; a key re-sealed in the new
    /// format).
    #[allow(clippy::too_many_arguments)]
    async fn reseal_signer(
        &self,
        from: &Self::WrapKey,
        from_aad: &[u8],
        sealed: &Sealed,
        format: KeyFormat,
        expected: &P256PublicKey,
        to: &Self::WrapKey,
        to_aad: &[u8],
        rng: &mut dyn CryptoRngCore,
    ) -> EngineResult<Result<Sealed, OpenError>>;

    /// ES256: ECDSA P-256 over SHA-256 of `msg`, as raw `r || s`. Natively
    /// deterministic (RFC 6979); WebCrypto's nonces are random. Either
    /// verifies; where one encoding matters (audit checkpoints) the caller
    /// normalizes `s`.
    async fn sign(&self, signer: &Self::Signer, msg: &[u8]) -> EngineResult<[u8; 64]>;

    /// [`CryptoProvider::sign`] of each message, in order (a lease batch).
    /// WebCrypto starts every signature before awaiting the first.
    async fn sign_all(&self, signer: &Self::Signer, msgs: &[String]) -> EngineResult<Vec<[u8; 64]>> {
        let mut out = Vec::with_capacity(msgs.len());
        for m in msgs {
            out.push(self.sign(signer, m.as_bytes()).await?);
        }
        Ok(out)
    }
}
