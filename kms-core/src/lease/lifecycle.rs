//! Creating, extending, revoking and expiring leases.

use rand_core::CryptoRngCore;

use super::credential::LeaseCredential;
use super::custody;
use super::id::LeaseId;
use super::params::{check_lifetime, LeaseParams};
use super::record::{LeaseFormatV1, LeaseRecord, LeaseStatus};
use super::refusal::UsableLease;
use super::CLEANUP_AFTER_MS;
use crate::crypto::aead::Sealed;
use crate::crypto::p256_key::KeyFormat;
use crate::error::{CoreError, Result};
use crate::ids::{KeyId, UserId};
use crate::vapid::VapidSigningKey;

/// `now_ms + lifetime_s` seconds, or `invalid_input` past the end of time.
fn end_after(now_ms: u64, lifetime_s: u64) -> Result<u64> {
    lifetime_s
        .checked_mul(1000)
        .and_then(|ms| now_ms.checked_add(ms))
        .ok_or_else(|| CoreError::invalid("lifetime_s: the lease would end after the clock's range"))
}

/// Creates a lease of `user` at `now_ms`, bound to `signing_key`, whose
/// thumbprint is `kid` (the user's current key; the engine unsealed it with
/// a live session). Returns the record to store and the credential to hand,
/// once, to the lease holder; the credential's secret is not in the record.
///
/// `params` are checked as [`LeaseParams`] documents (`invalid_input`). A
/// `kid` that is not `signing_key`'s thumbprint is a caller bug
/// (`internal`): such a lease could never be opened. This is [`draft`] and
/// [`LeaseDraft::finish`] with the key sealed natively; the engine does the
/// sealing through its crypto provider instead.
pub fn create(
    params: &LeaseParams,
    user: &UserId,
    signing_key: &VapidSigningKey,
    kid: &KeyId,
    now_ms: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<(LeaseRecord, LeaseCredential)> {
    if signing_key.public().thumbprint() != *kid {
        return Err(CoreError::Internal("lease create: kid is not the signing key's thumbprint".into()));
    }
    let draft = draft(params, user, kid, now_ms, rng)?;
    let sealed = custody::seal(signing_key, draft.credential.secret(), user, &draft.record.id, kid, rng)?;
    Ok(draft.finish(sealed))
}

/// A lease being created: its terms checked, its id and credential made,
/// its copy of the VAPID key not yet sealed. The caller seals the key
/// `kid` (PKCS#8) under the lease key ([`LeaseDraft::key_kdf`], keyed by
/// [`LeaseDraft::credential`]'s secret) with [`LeaseDraft::aad`], then
/// calls [`LeaseDraft::finish`].
#[derive(Debug)]
pub struct LeaseDraft {
    record: LeaseRecord,
    credential: LeaseCredential,
}

/// Checks `params` and drafts a lease of `user` at `now_ms` bound to the
/// key `kid` (see [`create`]).
pub fn draft(
    params: &LeaseParams,
    user: &UserId,
    kid: &KeyId,
    now_ms: u64,
    rng: &mut impl CryptoRngCore,
) -> Result<LeaseDraft> {
    let terms = params.check()?;
    let expires_ms = end_after(now_ms, terms.lifetime_s)?;
    let id = LeaseId::generate(rng);
    let credential = LeaseCredential::generate(id.clone(), rng);
    let check = custody::credential_check(credential.secret(), user, &id)?;
    let record = LeaseRecord {
        v: LeaseFormatV1,
        id,
        user: user.clone(),
        relay: terms.relay,
        audiences: terms.audiences,
        kid: kid.clone(),
        created_ms: now_ms,
        expires_ms,
        tokens_per_hour: terms.tokens_per_hour,
        max_batch: terms.max_batch,
        status: LeaseStatus::Active,
        sealed_key: None,
        sealed_format: KeyFormat::Pkcs8,
        credential_check: Some(check),
        issued: Vec::new(),
        extended: 0,
        courier: None,
        seen: Vec::new(),
    };
    Ok(LeaseDraft { record, credential })
}

impl LeaseDraft {
    /// The credential the lease key is derived from.
    pub fn credential(&self) -> &LeaseCredential {
        &self.credential
    }

    /// The HKDF salt and `info` of the lease key (input: the credential's
    /// secret).
    pub fn key_kdf(&self) -> (Vec<u8>, Vec<u8>) {
        custody::lease_key_kdf(&self.record.user, &self.record.id)
    }

    /// The AAD the key is sealed with.
    pub fn aad(&self) -> Vec<u8> {
        crate::crypto::aad::lease_key(&self.record.user, &self.record.id, &self.record.kid)
    }

    /// Gives the lease a courier key (`lease_create` with a relay key).
    pub fn with_courier(mut self, courier: super::courier::CourierSecret) -> Self {
        self.record.courier = Some(courier);
        self
    }

    /// The record to store, holding `sealed`, and the credential to hand out
    /// once.
    pub fn finish(self, sealed: Sealed) -> (LeaseRecord, LeaseCredential) {
        let mut record = self.record;
        record.sealed_key = Some(sealed);
        (record, self.credential)
    }
}

/// Moves the end of a checked lease ([`super::check_usable`]: not revoked,
/// not ended, bound to the current key) to `lifetime_s` seconds after the
/// check. The engine calls this only with a live session of the lease's
/// user: there is no renewal without the user.
///
/// `lifetime_s` must be 60 s to 30 days (`invalid_input`) and the new end
/// later than the current one (an extension never shortens; revoke to stop
/// a lease early).
pub fn extend(lease: &UsableLease<'_>, lifetime_s: u64) -> Result<LeaseRecord> {
    let record = lease.record();
    let expires_ms = end_after(lease.now_ms(), check_lifetime(lifetime_s)?)?;
    if expires_ms <= record.expires_ms {
        return Err(CoreError::invalid(format!(
            "lifetime_s: the new end ({expires_ms} ms) is not after the lease's current end ({} ms)",
            record.expires_ms
        )));
    }
    let mut updated = record.clone();
    updated.expires_ms = expires_ms;
    updated.extended = updated.extended.saturating_add(1);
    Ok(updated)
}

/// Revokes the lease at `now_ms`: the sealed key is deleted, so nothing,
/// not even the genuine credential, can sign under it again, and the record
/// stays as a tombstone that answers `lease_revoked`. Revoking a revoked
/// lease keeps its first revocation time. An ended lease can be revoked too
/// (it drops the key before cleanup).
pub fn revoke(record: &LeaseRecord, now_ms: u64) -> LeaseRecord {
    let mut updated = record.clone();
    if updated.status == LeaseStatus::Active {
        updated.status = LeaseStatus::Revoked { at_ms: now_ms };
    }
    updated.sealed_key = None;
    updated.issued.clear();
    updated
}

/// The record of a lease that has ended at `now_ms` with its sealed key
/// erased (and its issuance times, which no quota needs any more), or
/// `None` when there is nothing to erase (not ended, or no key left). The
/// engine writes it with any call that reads the lease after its end, and
/// at unlock, so a copy of the store taken after that holds no key.
pub fn erase_if_ended(record: &LeaseRecord, now_ms: u64) -> Option<LeaseRecord> {
    if !is_expired(record, now_ms) || record.sealed_key.is_none() {
        return None;
    }
    let mut updated = record.clone();
    updated.sealed_key = None;
    updated.issued.clear();
    Some(updated)
}

/// Whether the lease has ended at `now_ms` (from `expires_ms` on).
pub fn is_expired(record: &LeaseRecord, now_ms: u64) -> bool {
    now_ms >= record.expires_ms
}

/// Whether the engine may delete the record at `now_ms`: it ended more than
/// [`CLEANUP_AFTER_MS`] (7 days) ago, revoked or not. Until then it answers
/// "expired" or "revoked" instead of "not found"; the engine should audit
/// the deletion (`lease_expire`).
pub fn expired_cleanup_due(record: &LeaseRecord, now_ms: u64) -> bool {
    now_ms > record.expires_ms.saturating_add(CLEANUP_AFTER_MS)
}
