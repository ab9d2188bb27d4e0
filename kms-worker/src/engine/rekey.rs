//! `rekey`: a new master secret after a compromise.
//!
//! A passphrase change or an enrollment removal only re-wraps the same
//! master secret: a copy of the store taken before, with the old
//! passphrase, still opens it and every key sealed under it later. A
//! re-key replaces the master secret itself, in one atomic write:
//!
//! - every enrollment the user keeps wraps the **new** master secret: a
//!   passphrase enrollment from a new passphrase typed for this re-key
//!   (fresh salt; the old passphrase is refused, since whoever took the
//!   copy may know it), a passkey PRF enrollment from its PRF output
//!   (checked against the current record first), a gate-mode enrollment
//!   under a fresh gate key; each is named (the user's consent to keep it),
//!   and every other enrollment is removed, by name, with its throttle
//!   state;
//! - every VAPID key and the audit signing key is re-sealed under subkeys of
//!   the new master secret (the keys stay: rotate the VAPID key beside it,
//!   `vapid_rotate`, to also replace what the old copy could open);
//! - the audit chain is checked under the old `K_0`, then a `rekey` entry
//!   starts a new MAC epoch under the new `K_0` (`kms_core::audit::chain`),
//!   with a signed checkpoint and a mark sealed under the new `K_0`;
//! - every session of the user ends (each held the old master secret) and
//!   a new one is opened.
//!
//! Leases keep working: a lease's copy of its VAPID key is sealed under a
//! key from the lease secret the relay holds, not under the master secret
//! (revoke them, or rotate the VAPID key, to end them).

use std::collections::BTreeSet;

use kms_core::audit::{AuditRecord, EventKind, Outcome};
use kms_core::crypto::aad;
use kms_core::env::Clock;
use kms_core::ids::{EnrollmentId, UserId};
use kms_core::rpc::{RekeyCredential, RekeyParams, RekeyResult};
use kms_core::unlock::{gate_wrap, prf, EnrollmentRecord, Method, MethodParams};
use kms_core::CoreError;
use kms_storage::WriteBatch;
use rand_core::CryptoRngCore;

use super::context::CallContext;
use super::state::Loaded;
use super::Kms;
use crate::crypto::CryptoProvider;
use crate::error::{EngineError, EngineResult};
use crate::layout;

/// How one kept enrollment will wrap the new master secret.
struct Kept<W> {
    old: EnrollmentRecord,
    params: MethodParams,
    wrap: W,
}

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> Kms<C, R, P> {
    pub(super) async fn rekey(&mut self, cx: &mut CallContext, p: RekeyParams) -> EngineResult<RekeyResult> {
        let now = self.clock.now_ms();
        // The session first: a caller without one learns nothing.
        let old_master = self.session_master(&p.user, &p.session).await?;
        let user = self.load_user(&p.user).await?;
        let all = self.load_enrollments(&p.user).await?;
        let remove = self.check_rekey_plan(&p, &all)?;

        // Each kept enrollment's new parameters and wrapping key. A PRF
        // output must open the current record first: proof that it is that
        // passkey's, not a value the caller made up.
        let mut kept = Vec::with_capacity(all.ok.len());
        for l in all.ok.iter().filter(|l| !remove.contains(&l.value.id)) {
            kept.push(self.rekey_wrap(&p, &l.value).await?);
        }

        // The new master secret, sealed under the first kept enrollment,
        // then wrapped under the others.
        let mut records = Vec::with_capacity(kept.len());
        let mut new_master = None;
        for k in &kept {
            let aad = aad::master_wrap(&p.user, &k.old.id, k.params.method());
            let wrapped = match &new_master {
                None => {
                    let (m, sealed) = self.crypto.new_master(&k.wrap, &aad, &mut self.rng).await?;
                    new_master = Some(m);
                    sealed
                }
                Some(m) => self.crypto.rewrap_master(m, &k.wrap, &aad, &mut self.rng).await?,
            };
            let mut record =
                EnrollmentRecord::from_wrapped(k.old.id.clone(), k.old.label.clone(), k.params.clone(), wrapped, now)?;
            record.created_ms = k.old.created_ms;
            records.push(record);
        }
        let Some(new_master) = new_master else {
            return Err(EngineError::internal("rekey without a kept enrollment"));
        };

        let mut batch = WriteBatch::new();
        user.expect_unchanged(&mut batch)?;
        // Every enrollment, kept or removed, must be as read: a concurrent
        // add would otherwise keep wrapping the old master secret.
        all.expect_unchanged(&mut batch)?;
        let bumped = user.value.bump_master();
        batch.put(&user.key, bumped.encode()?)?;
        for r in &records {
            batch.put(&layout::enrollment(&p.user, &r.id)?, r.encode()?)?;
            if r.params.method() == Method::Passphrase {
                batch.delete(&layout::throttle(&p.user, &r.id)?)?;
            }
        }
        for l in all.ok.iter().filter(|l| remove.contains(&l.value.id)) {
            batch.delete(&l.key)?;
            batch.delete(&layout::throttle(&p.user, &l.value.id)?)?;
        }
        for d in all.damaged.iter().filter(|d| d.value.as_ref().is_some_and(|id| remove.contains(id))) {
            batch.delete(&d.key)?;
            if let Some(id) = &d.value {
                batch.delete(&layout::throttle(&p.user, id)?)?;
            }
        }

        let resealed_vapid = self.reseal_vapid_keys(&mut batch, &p.user, &old_master, &new_master).await?;
        let audit_record = self.load_audit_key(&p.user).await?;
        let old_key = self.open_audit_key(&old_master, &p.user, &audit_record.value).await?;
        self.reseal_audit_key(&mut batch, &p.user, audit_record, &old_master, &new_master).await?;
        let new_k0 = self.mac_key0(&new_master, &p.user).await?;

        let removed: Vec<EnrollmentId> = remove.into_iter().collect();
        let resealed_keys = resealed_vapid.saturating_add(1);
        let entry = AuditRecord::new(EventKind::Rekey, Outcome::Ok)
            .with_id("rewrapped", records.len().to_string())
            .with_id("removed", removed.len().to_string())
            .with_id("resealed_keys", resealed_keys.to_string());
        self.audit_rekey(cx, &mut batch, &p.user, &old_key, new_k0, entry).await?;
        self.commit_audited(cx, batch).await?;

        // Every session held the old master secret.
        self.sessions.lock_user(&p.user);
        drop(old_master);
        let (session, expires_ms) = self.sessions.open_at(&p.user, new_master, bumped.master_epoch, now, &mut self.rng);
        Ok(RekeyResult {
            user: p.user,
            session,
            expires_ms,
            enrollments: records.iter().map(EnrollmentRecord::info).collect(),
            removed,
            resealed_keys,
        })
    }

    /// Checks that `p` names every enrollment exactly once where it must,
    /// and returns the set to remove.
    fn check_rekey_plan(
        &self,
        p: &RekeyParams,
        all: &super::state::Enrollments,
    ) -> EngineResult<BTreeSet<EnrollmentId>> {
        let cap = self.config.max_enrollments;
        if p.rewrap.len() > cap || p.remove.len() > cap {
            return Err(CoreError::invalid(format!("rekey: a user has at most {cap} enrollments")).into());
        }
        let mut remove = BTreeSet::new();
        for id in &p.remove {
            let known =
                all.ok.iter().any(|l| &l.value.id == id) || all.damaged.iter().any(|d| d.value.as_ref() == Some(id));
            if !known {
                return Err(CoreError::NotFound(format!("enrollment {id}")).into());
            }
            if !remove.insert(id.clone()) {
                return Err(CoreError::invalid(format!("rekey: remove: enrollment {id} is named twice")).into());
            }
        }
        let mut rewrapped = BTreeSet::new();
        for r in &p.rewrap {
            let id = &r.enrollment_id;
            let Some(l) = all.ok.iter().find(|l| &l.value.id == id) else {
                return Err(CoreError::NotFound(format!("enrollment {id}")).into());
            };
            if remove.contains(id) || !rewrapped.insert(id.clone()) {
                return Err(CoreError::invalid(format!("rekey: enrollment {id} is named twice")).into());
            }
            let fits = matches!(
                (&r.credential, l.value.params.method()),
                (RekeyCredential::Passphrase { .. }, Method::Passphrase)
                    | (RekeyCredential::PasskeyPrf { .. }, Method::PasskeyPrf)
                    | (RekeyCredential::PasskeyGate {}, Method::PasskeyGate)
            );
            if !fits {
                return Err(CoreError::invalid(format!(
                    "rekey: enrollment {id} is a {} enrollment; its credential is of another kind",
                    l.value.params.method().as_str()
                ))
                .into());
            }
        }
        for l in &all.ok {
            let id = &l.value.id;
            let method = l.value.params.method();
            if !remove.contains(id) && !rewrapped.contains(id) {
                return Err(CoreError::invalid(format!(
                    "rekey: the {} enrollment {id} must be wrapped again (rewrap) or removed (remove)",
                    method.as_str()
                ))
                .into());
            }
        }
        if let Some(d) = all.damaged.iter().find(|d| !d.value.as_ref().is_some_and(|id| remove.contains(id))) {
            let named = d.value.as_ref().map_or_else(|| "without an id".to_owned(), ToString::to_string);
            return Err(CoreError::invalid(format!(
                "rekey: the damaged enrollment {named} must be removed (remove): it cannot wrap the new master secret"
            ))
            .into());
        }
        if all.ok.iter().all(|l| remove.contains(&l.value.id)) {
            return Err(CoreError::Forbidden(
                "rekey: at least one enrollment must remain, or the new master secret would be lost".into(),
            )
            .into());
        }
        Ok(remove)
    }

    /// Whether `ikm` (a PBKDF2 output under the record's parameters, a PRF
    /// output) opens the enrollment record `old` as stored.
    async fn opens_record(
        &self,
        user: &UserId,
        old: &EnrollmentRecord,
        ikm: zeroize::Zeroizing<[u8; 32]>,
    ) -> EngineResult<bool> {
        let wrap = self.enrollment_wrap_key(&old.params, ikm, user, &old.id).await?;
        let aad = aad::master_wrap(user, &old.id, old.params.method());
        Ok(self.crypto.unwrap_master(&wrap, &aad, &old.wrapped).await?.is_ok())
    }

    /// The new parameters and wrapping key of a kept enrollment.
    async fn rekey_wrap(&mut self, p: &RekeyParams, old: &EnrollmentRecord) -> EngineResult<Kept<P::WrapKey>> {
        let credential = p.rewrap.iter().find(|r| r.enrollment_id == old.id).map(|r| &r.credential);
        let (params, ikm) = match (&old.params, credential) {
            (MethodParams::Passphrase(old_params), Some(RekeyCredential::Passphrase { passphrase })) => {
                self.config.passphrase.check(passphrase)?;
                // The old passphrase may be what leaked: one that opens the
                // current record is refused (one more PBKDF2 run).
                let out = self.run_pbkdf2(passphrase, old_params).await?;
                if self.opens_record(&p.user, old, out).await? {
                    return Err(CoreError::invalid(format!(
                        "rekey: enrollment {}: choose a new passphrase (whoever took the copy may know this one)",
                        old.id
                    ))
                    .into());
                }
                let params = self.config.passphrase.new_params(&mut self.rng);
                let out = self.run_pbkdf2(passphrase, &params).await?;
                (MethodParams::Passphrase(params), out)
            }
            (MethodParams::PasskeyPrf(prf_params), Some(RekeyCredential::PasskeyPrf { prf_output })) => {
                if !self.opens_record(&p.user, old, prf_output.bytes()?).await? {
                    return Err(CoreError::invalid(format!(
                        "rekey: the PRF output does not open enrollment {}: use that enrollment's passkey",
                        old.id
                    ))
                    .into());
                }
                let salt = kms_core::b64::decode_array::<32>(&prf_params.prf_salt, "prf_salt")
                    .map_err(|_| EngineError::corrupt("the enrollment record's PRF salt is damaged"))?;
                let params = prf::new_params(&prf_params.credential_id, &salt, &mut self.rng)?;
                (MethodParams::PasskeyPrf(params), prf_output.bytes()?)
            }
            (MethodParams::PasskeyGate(gate), Some(RekeyCredential::PasskeyGate {})) => {
                let params = gate_wrap::new_params(gate.credential.clone(), &mut self.rng);
                let key = params.gate_key()?;
                (MethodParams::PasskeyGate(params), key)
            }
            _ => return Err(EngineError::internal("rekey plan and enrollments disagree")),
        };
        let wrap = self.enrollment_wrap_key(&params, ikm, &p.user, &old.id).await?;
        Ok(Kept { old: old.clone(), params, wrap })
    }

    /// Re-seals every VAPID key of `user` from the old master secret's
    /// subkey to the new one's, each on the condition that it is unchanged.
    /// A record that does not open stops the re-key (`corrupt`): left as it
    /// is, it would stay open to the old master secret.
    async fn reseal_vapid_keys(
        &mut self,
        batch: &mut WriteBatch,
        user: &UserId,
        old: &P::Master,
        new: &P::Master,
    ) -> EngineResult<usize> {
        let purpose = kms_core::vapid::key::SEALING_PURPOSE;
        let rows = self.store.list(&layout::vapid_keys(user)?, super::vapid::MAX_KEYS.saturating_add(1)).await?;
        if rows.is_empty() {
            return Ok(0);
        }
        // More than a user can have: some would stay under the old master
        // secret, unseen.
        if rows.len() > super::vapid::MAX_KEYS {
            return Err(EngineError::corrupt("more VAPID key records than a user can have; nothing was changed"));
        }
        let from = self.crypto.subkey(old, user, purpose).await?;
        let to = self.crypto.subkey(new, user, purpose).await?;
        let mut done = 0usize;
        for (key, bytes) in rows {
            let damaged = || EngineError::corrupt("a stored VAPID key is damaged; nothing was changed");
            let record = super::vapid::decode_key(&bytes).map_err(|_| damaged())?;
            if layout::vapid_key(user, record.kid())? != key {
                return Err(damaged());
            }
            let aad = record.aad(user);
            let sealed = self
                .crypto
                .reseal_signer(
                    &from,
                    &aad,
                    record.sealed(),
                    record.key_format(),
                    record.public_key().as_p256(),
                    &to,
                    &aad,
                    &mut self.rng,
                )
                .await?
                .map_err(|_| damaged())?;
            let loaded = Loaded { key, bytes: Some(bytes), value: () };
            loaded.expect_unchanged(batch)?;
            batch.put(&loaded.key, super::vapid::encode_key(&record.resealed(sealed))?)?;
            done = done.saturating_add(1);
        }
        Ok(done)
    }

    /// Re-seals the user's audit signing key under the new master secret.
    async fn reseal_audit_key(
        &mut self,
        batch: &mut WriteBatch,
        user: &UserId,
        record: Loaded<kms_core::audit::AuditKeyRecord>,
        old: &P::Master,
        new: &P::Master,
    ) -> EngineResult<()> {
        let purpose = kms_core::audit::key::SEALING_PURPOSE;
        let from = self.crypto.subkey(old, user, purpose).await?;
        let to = self.crypto.subkey(new, user, purpose).await?;
        let public = record.value.public_key().map_err(CoreError::from)?.clone();
        let aad = record.value.aad(user);
        let sealed = self
            .crypto
            .reseal_signer(
                &from,
                &aad,
                record.value.sealed(),
                record.value.key_format(),
                public.as_p256(),
                &to,
                &aad,
                &mut self.rng,
            )
            .await?
            .map_err(|_| CoreError::from(kms_core::audit::AuditError::Integrity))?;
        record.expect_unchanged(batch)?;
        batch.put(&record.key, super::audit::encode(&record.value.resealed(sealed), "key")?)?;
        Ok(())
    }
}
