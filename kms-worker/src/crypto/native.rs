//! The native provider: RustCrypto through `kms-core`. The handles are the
//! secrets themselves (zeroized on drop, `<redacted>` in `Debug`), shared
//! through `Rc` so that a clone copies a pointer, never key material.

use std::rc::Rc;

use kms_core::crypto::aead::{self, Sealed};
use kms_core::crypto::kdf;
use kms_core::crypto::p256_key::{KeyFormat, P256PublicKey, P256SigningKey};
use kms_core::crypto::sealed_key::{self, OpenError};
use kms_core::ids::UserId;
use kms_core::secret::{Key256, MasterSecret};
use kms_core::CoreError;
use rand_core::CryptoRngCore;
use zeroize::Zeroizing;

use super::CryptoProvider;
use crate::error::EngineResult;

/// RustCrypto, in process memory.
#[derive(Debug, Default, Clone, Copy)]
pub struct NativeCrypto;

impl CryptoProvider for NativeCrypto {
    type WrapKey = Key256;
    type Master = Rc<MasterSecret>;
    type NewSigner = P256SigningKey;
    type Signer = Rc<P256SigningKey>;

    async fn wrap_key(&self, ikm: Zeroizing<[u8; 32]>, salt: &[u8], info: &[u8]) -> EngineResult<Key256> {
        Ok(kdf::hkdf_key(ikm.as_ref(), salt, info)?)
    }

    async fn seal_bytes(
        &self,
        key: &Key256,
        aad: &[u8],
        secret: &[u8; 32],
        mut rng: &mut dyn CryptoRngCore,
    ) -> EngineResult<Sealed> {
        Ok(aead::seal(key, aad, secret, &mut rng)?)
    }

    async fn open_bytes(
        &self,
        key: &Key256,
        aad: &[u8],
        sealed: &Sealed,
    ) -> EngineResult<Result<Zeroizing<[u8; 32]>, OpenError>> {
        let Ok(plain) = aead::open(key, aad, sealed) else {
            return Ok(Err(OpenError::NotAuthentic));
        };
        let mut out = Zeroizing::new([0u8; 32]);
        if plain.len() != out.len() {
            return Ok(Err(OpenError::NotTheKey));
        }
        out.copy_from_slice(&plain);
        Ok(Ok(out))
    }

    async fn new_master(
        &self,
        wrap: &Key256,
        aad: &[u8],
        mut rng: &mut dyn CryptoRngCore,
    ) -> EngineResult<(Self::Master, Sealed)> {
        let master = MasterSecret::generate(&mut rng);
        let sealed = master.wrap(wrap, aad, &mut rng)?;
        Ok((Rc::new(master), sealed))
    }

    async fn unwrap_master(
        &self,
        wrap: &Key256,
        aad: &[u8],
        sealed: &Sealed,
    ) -> EngineResult<Result<Self::Master, OpenError>> {
        Ok(MasterSecret::unwrap(wrap, aad, sealed).map(Rc::new).map_err(|_| OpenError::NotAuthentic))
    }

    async fn rewrap_master(
        &self,
        master: &Self::Master,
        wrap: &Key256,
        aad: &[u8],
        mut rng: &mut dyn CryptoRngCore,
    ) -> EngineResult<Sealed> {
        Ok(master.wrap(wrap, aad, &mut rng)?)
    }

    async fn subkey(&self, master: &Self::Master, user: &UserId, purpose: &str) -> EngineResult<Key256> {
        Ok(kdf::derive_subkey(master, user.as_str(), purpose)?)
    }

    async fn subkey_bytes(
        &self,
        master: &Self::Master,
        user: &UserId,
        purpose: &str,
    ) -> EngineResult<Zeroizing<[u8; 32]>> {
        Ok(kdf::derive_subkey_bytes(master, user.as_str(), purpose)?)
    }

    async fn generate_signer(&self, mut rng: &mut dyn CryptoRngCore) -> EngineResult<(P256SigningKey, P256PublicKey)> {
        let key = P256SigningKey::generate(&mut rng);
        let public = key.public();
        Ok((key, public))
    }

    async fn seal_new_signer(
        &self,
        new: P256SigningKey,
        key: &Key256,
        aad: &[u8],
        mut rng: &mut dyn CryptoRngCore,
    ) -> EngineResult<(Sealed, Self::Signer)> {
        let sealed = sealed_key::seal(&new, key, aad, &mut rng)?;
        Ok((sealed, Rc::new(new)))
    }

    async fn open_signer(
        &self,
        key: &Key256,
        aad: &[u8],
        sealed: &Sealed,
        format: KeyFormat,
        expected: &P256PublicKey,
    ) -> EngineResult<Result<Self::Signer, OpenError>> {
        Ok(sealed_key::open(key, aad, sealed, format, expected).map(Rc::new))
    }

    async fn reseal_signer(
        &self,
        from: &Key256,
        from_aad: &[u8],
        sealed: &Sealed,
        format: KeyFormat,
        expected: &P256PublicKey,
        to: &Key256,
        to_aad: &[u8],
        mut rng: &mut dyn CryptoRngCore,
    ) -> EngineResult<Result<Sealed, OpenError>> {
        let key = match sealed_key::open(from, from_aad, sealed, format, expected) {
            Ok(key) => key,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(sealed_key::seal(&key, to, to_aad, &mut rng)?))
    }

    async fn sign(&self, signer: &Self::Signer, msg: &[u8]) -> EngineResult<[u8; 64]> {
        Ok(signer.sign(msg).map_err(|_| CoreError::Internal("ecdsa signing failed".into()))?)
    }
}
