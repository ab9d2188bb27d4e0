//! Re-sealing keys stored in the format from before the crypto providers
//! (the bare 32-byte scalar) as PKCS#8, the one format both providers open
//! without the key passing through WASM memory. It happens at the user's
//! next unlock, in the unlock's own atomic write, the way passphrase records
//! are re-wrapped when the iteration count rises. A lease's copy can only be
//! opened with its credential, so it is re-sealed at the lease's next
//! `lease_issue`, in that call's write (`engine/lease.rs`).

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
use kms_core::audit::AuditKeyRecord;

/// Most VAPID key records read for re-sealing (the cap on a user's keys).
const MAX_KEYS: usize = 256;

/// What an unlock re-sealed, and what it had to leave as it was.
#[derive(Debug, Default)]
pub(super) struct Resealed {
    /// Records re-sealed as PKCS#8 in the unlock's write.
    pub done: usize,
    /// Old-format VAPID records that do not read back or do not open: left
    /// untouched (the unlock still succeeds; the key is as unusable as it
    /// was), and counted in the unlock's audit entry.
    pub skipped: usize,
}

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> Kms<C, R, P> {
    /// Adds to `batch` the user's VAPID and audit key records re-sealed as
    /// PKCS#8, each on the condition that it is unchanged. A VAPID record
    /// that is damaged (does not parse, sits under another kid, does not
    /// open) is skipped: a damaged retired key must not lock the user out.
    pub(super) async fn reseal_legacy_keys(
        &mut self,
        batch: &mut WriteBatch,
        master: &P::Master,
        user: &UserId,
        audit: Loaded<AuditKeyRecord>,
    ) -> EngineResult<Resealed> {
        let mut out = Resealed::default();
        // Derived only if an old record is found: most unlocks find none.
        let mut vapid_sealing = None;
        for (key, bytes) in self.store.list(&layout::vapid_keys(user)?, MAX_KEYS).await? {
            let record = match super::vapid::decode_key(&bytes) {
                Ok(r) if layout::vapid_key(user, r.kid())? == key && r.info().is_ok() => r,
                Ok(r) if r.key_format() == KeyFormat::Pkcs8 => continue,
                _ => {
                    out.skipped += 1;
                    continue;
                }
            };
            if record.key_format() != KeyFormat::Scalar {
                continue;
            }
            let aad = record.aad(user);
            if vapid_sealing.is_none() {
                vapid_sealing = Some(self.crypto.subkey(master, user, kms_core::vapid::key::SEALING_PURPOSE).await?);
            }
            let Some(sealing) = &vapid_sealing else {
                return Err(EngineError::internal("the VAPID sealing key"));
            };
            let resealed = self
                .crypto
                .reseal_signer(
                    sealing,
                    &aad,
                    record.sealed(),
                    KeyFormat::Scalar,
                    record.public_key().as_p256(),
                    sealing,
                    &aad,
                    &mut self.rng,
                )
                .await?;
            let Ok(sealed) = resealed else {
                out.skipped += 1;
                continue;
            };
            let loaded = Loaded { key, bytes: Some(bytes), value: () };
            loaded.expect_unchanged(batch)?;
            batch.put(&loaded.key, super::vapid::encode_key(&record.resealed(sealed))?)?;
            out.done += 1;
        }

        // The audit key record the unlock read and opened a moment ago (its
        // checkpoint needs it), so a failure here is damage, as it would be
        // there.
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
            out.done += 1;
        }
        Ok(out)
    }
}
