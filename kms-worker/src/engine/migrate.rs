//! Re-sealing keys stored in the format from before the crypto providers
//! (the bare 32-byte scalar) as PKCS#8, the one format both providers open
//! without the key passing through WASM memory. It happens at the user's
//! next unlock, in the unlock's own atomic write, the way passphrase records
//! are re-wrapped when the iteration count rises. A lease's copy cannot be
//! re-sealed without its credential; leases keep the old form until they
//! end (at most 30 days).

use kms_core::crypto::p256_key::KeyFormat;
use kms_core::env::Clock;
use kms_core::ids::UserId;
use kms_core::CoreError;
use kms_storage::WriteBatch;
use rand_core::CryptoRngCore;

use super::state::Loaded;
use super::Kms;
use crate::crypto::CryptoProvider;
use crate::error::{EngineError, EngineResult};
use crate::layout;

/// Most VAPID key records read for re-sealing (the cap on a user's keys).
const MAX_KEYS: usize = 256;

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> Kms<C, R, P> {
    /// Adds to `batch` the user's VAPID and audit key records re-sealed as
    /// PKCS#8, each on the condition that it is unchanged. Returns how many.
    pub(super) async fn reseal_legacy_keys(
        &mut self,
        batch: &mut WriteBatch,
        master: &P::Master,
        user: &UserId,
    ) -> EngineResult<usize> {
        let mut count = 0;
        let vapid_sealing = self.crypto.subkey(master, user, kms_core::vapid::key::SEALING_PURPOSE).await?;
        for (key, bytes) in self.store.list(&layout::vapid_keys(user)?, MAX_KEYS).await? {
            let record: kms_core::vapid::VapidKeyRecord =
                serde_json::from_slice(&bytes).map_err(|_| EngineError::corrupt("a VAPID key record is corrupt"))?;
            if record.key_format() != KeyFormat::Scalar {
                continue;
            }
            let aad = record.aad(user);
            let sealed = self
                .crypto
                .reseal_signer(
                    &vapid_sealing,
                    &aad,
                    record.sealed(),
                    KeyFormat::Scalar,
                    record.public_key().as_p256(),
                    &vapid_sealing,
                    &aad,
                    &mut self.rng,
                )
                .await?
                .map_err(|_| CoreError::Integrity)?;
            let loaded = Loaded { key, bytes: Some(bytes), value: () };
            loaded.expect_unchanged(batch)?;
            let resealed = serde_json::to_vec(&record.resealed(sealed))
                .map_err(|_| EngineError::internal("could not encode a VAPID key record"))?;
            batch.put(&loaded.key, resealed)?;
            count += 1;
        }

        let audit = self.load_audit_key(user).await?;
        if audit.value.key_format() == KeyFormat::Scalar {
            let sealing = self.crypto.subkey(master, user, kms_core::audit::key::SEALING_PURPOSE).await?;
            let public = audit.value.public_key().map_err(CoreError::from)?.clone();
            let aad = audit.value.aad(user);
            let sealed = self
                .crypto
                .reseal_signer(
                    &sealing,
                    &aad,
                    audit.value.sealed(),
                    KeyFormat::Scalar,
                    public.as_p256(),
                    &sealing,
                    &aad,
                    &mut self.rng,
                )
                .await?
                .map_err(|_| CoreError::from(kms_core::audit::AuditError::Integrity))?;
            audit.expect_unchanged(batch)?;
            let resealed = serde_json::to_vec(&audit.value.resealed(sealed))
                .map_err(|_| EngineError::internal("could not encode the audit key record"))?;
            batch.put(&audit.key, resealed)?;
            count += 1;
        }
        Ok(count)
    }
}
