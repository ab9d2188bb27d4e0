//! Per-user VAPID keys (generate, rotate, public keys) and JWT signing.

use kms_core::audit::{AuditRecord, AuditScope, EventKind, Outcome};
use kms_core::env::Clock;
use kms_core::ids::{KeyId, UserId};
use kms_core::rpc::{RotateResult, SessionParams, SignJwtParams, UserParams, VapidKeys};
use kms_core::vapid::key::SEALING_PURPOSE;
use kms_core::vapid::{jwt, KeyStatus, SignedJwt, VapidKeyRecord, VapidPublicInfo, VapidPublicKey};
use kms_core::CoreError;
use kms_storage::WriteBatch;
use rand_core::CryptoRngCore;

use super::context::CallContext;
use super::state::Loaded;
use super::Kms;
use crate::crypto::CryptoProvider;
use crate::error::{EngineError, EngineResult};
use crate::layout;
use crate::records::UserRecord;

/// Largest VAPID key record accepted from the store.
const MAX_KEY_RECORD: usize = 4096;
/// How many public keys the engine remembers (for lease batches).
const PUBLIC_KEYS_KEPT: usize = 16;
/// Most VAPID keys (current and retired) a user keeps.
pub(super) const MAX_KEYS: usize = 256;

pub(super) fn decode_key(bytes: &[u8]) -> EngineResult<VapidKeyRecord> {
    if bytes.len() > MAX_KEY_RECORD {
        return Err(EngineError::corrupt("a VAPID key record is corrupt"));
    }
    serde_json::from_slice(bytes).map_err(|_| EngineError::corrupt("a VAPID key record is corrupt"))
}

pub(super) fn encode_key(r: &VapidKeyRecord) -> EngineResult<Vec<u8>> {
    serde_json::to_vec(r).map_err(|_| EngineError::internal("could not encode a VAPID key record"))
}

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> Kms<C, R, P> {
    pub(super) async fn load_key(&self, user: &UserId, kid: &KeyId) -> EngineResult<Loaded<VapidKeyRecord>> {
        let key = layout::vapid_key(user, kid)?;
        let bytes =
            self.get(&key).await?.ok_or_else(|| EngineError::internal("the current VAPID key record is missing"))?;
        let value = decode_key(&bytes)?;
        if value.kid() != kid {
            return Err(EngineError::corrupt("a VAPID key record is stored under a foreign key"));
        }
        Ok(Loaded { key, bytes: Some(bytes), value })
    }

    /// Makes a new key record at the user's next version.
    async fn make_key(&mut self, master: &P::Master, user: &UserRecord) -> EngineResult<(VapidKeyRecord, UserRecord)> {
        let now = self.clock.now_ms();
        let version = user.next_vapid_version;
        if usize::try_from(version).map_or(true, |v| v > MAX_KEYS) {
            return Err(CoreError::Forbidden(format!(
                "a user keeps at most {MAX_KEYS} VAPID keys (current and retired); this user has used them all"
            ))
            .into());
        }
        let sealing = self.crypto.subkey(master, &user.user, SEALING_PURPOSE).await?;
        let (new, public) = self.crypto.generate_signer(&mut self.rng).await?;
        let public = VapidPublicKey::from_p256(public);
        let aad = kms_core::crypto::aad::vapid_key(&user.user, &public.thumbprint(), version);
        // The new key's only extractable handle ends here; the signer that
        // comes back is not kept (the session opens the stored key on first
        // use, like any other).
        let (sealed, _signer) = self.crypto.seal_new_signer(new, &sealing, &aad, &mut self.rng).await?;
        let record = VapidKeyRecord::from_sealed(public, version, sealed, now);
        let mut next = user.clone();
        next.current_kid = Some(record.kid().clone());
        next.next_vapid_version =
            version.checked_add(1).ok_or_else(|| EngineError::internal("VAPID key versions exhausted"))?;
        Ok((record, next))
    }

    pub(super) async fn vapid_generate(
        &mut self,
        cx: &mut CallContext,
        p: SessionParams,
    ) -> EngineResult<VapidPublicInfo> {
        let master = self.session_master(&p.user, &p.session).await?;
        let user = self.load_user(&p.user).await?;
        if let Some(kid) = &user.value.current_kid {
            return Err(CoreError::AlreadyExists(format!(
                "a current VAPID key ({kid}); vapid_rotate replaces it, but one"
            ))
            .into());
        }
        let (record, next_user) = self.make_key(&master, &user.value).await?;
        let mut batch = WriteBatch::new();
        user.expect_unchanged(&mut batch)?;
        batch.put(&user.key, next_user.encode()?)?;
        let key = layout::vapid_key(&p.user, record.kid())?;
        batch.expect_absent(&key)?;
        batch.put(&key, encode_key(&record)?)?;
        let entry = AuditRecord::new(EventKind::KeyGenerate, Outcome::Ok)
            .with_id("kid", record.kid().as_str())
            .with_id("version", record.version().to_string());
        self.audit_into(cx, &mut batch, &AuditScope::User(p.user.clone()), vec![entry], None, None).await?;
        self.commit_audited(cx, batch).await?;
        Ok(record.info()?)
    }

    pub(super) async fn vapid_rotate(&mut self, cx: &mut CallContext, p: SessionParams) -> EngineResult<RotateResult> {
        let now = self.clock.now_ms();
        let master = self.session_master(&p.user, &p.session).await?;
        let user = self.load_user(&p.user).await?;
        let old_kid = user
            .value
            .current_kid
            .clone()
            .ok_or_else(|| CoreError::NotFound("current VAPID key to rotate (use vapid_generate first)".into()))?;
        let old = self.load_key(&p.user, &old_kid).await?;
        let (record, next_user) = self.make_key(&master, &user.value).await?;
        let mut retired = old.value.clone();
        retired.retire(now);
        let leases = self.load_leases(&p.user).await?;

        let mut batch = WriteBatch::new();
        let erased = Self::erase_ended(&mut batch, &leases, now)?;
        user.expect_unchanged(&mut batch)?;
        old.expect_unchanged(&mut batch)?;
        batch.put(&user.key, next_user.encode()?)?;
        batch.put(&old.key, encode_key(&retired)?)?;
        let key = layout::vapid_key(&p.user, record.kid())?;
        batch.expect_absent(&key)?;
        batch.put(&key, encode_key(&record)?)?;
        let entry = AuditRecord::new(EventKind::KeyRotate, Outcome::Ok)
            .with_id("kid", record.kid().as_str())
            .with_id("retired_kid", old_kid.as_str());
        let mut entries = vec![entry];
        entries.extend(erased);
        self.audit_into(cx, &mut batch, &AuditScope::User(p.user.clone()), entries, None, None).await?;
        self.commit_audited(cx, batch).await?;

        let current = record.info()?;
        let retired = retired.info()?;
        let note = format!(
            "push subscriptions are bound to the key they were created with: every subscription made with key {} \
             must be re-created with the new applicationServerKey (key {}); push services reject the old ones",
            retired.kid, current.kid
        );
        let subs = self.load_subscriptions(&p.user).await?;
        let affected_subscriptions = kms_core::push::affected_by_rotation(subs.iter().map(|l| &l.value), &retired.kid);
        let affected_leases = self.active_leases_bound_to(&p.user, &retired.kid).await?;
        Ok(RotateResult { current, retired, resubscribe_required: true, note, affected_subscriptions, affected_leases })
    }

    pub(super) async fn vapid_public(&self, p: UserParams) -> EngineResult<VapidKeys> {
        let user = self.load_user(&p.user).await?;
        let rows = self.store.list(&layout::vapid_keys(&p.user)?, MAX_KEYS).await?;
        let mut current = None;
        let mut retired = Vec::new();
        for (key, bytes) in rows {
            let rec = decode_key(&bytes)?;
            if layout::vapid_key(&p.user, rec.kid())? != key {
                return Err(EngineError::corrupt("a VAPID key record is stored under a foreign key"));
            }
            let info = rec.info()?;
            if user.value.current_kid.as_ref() == Some(&info.kid) && info.status == KeyStatus::Current {
                current = Some(info);
            } else {
                retired.push(info);
            }
        }
        if user.value.current_kid.is_some() && current.is_none() {
            return Err(EngineError::internal("the current VAPID key record is missing"));
        }
        retired.sort_by_key(|i| std::cmp::Reverse(i.version));
        Ok(VapidKeys { current, retired })
    }

    /// Makes sure the session holds the unsealed key `kid` (the current
    /// key). It is unsealed once per session and kept there; a rotation
    /// changes `current_kid`, which misses the cache.
    pub(super) async fn ensure_signing_key(
        &mut self,
        user: &UserId,
        session: &kms_core::session::SessionToken,
        kid: &KeyId,
    ) -> EngineResult<(P::Signer, VapidPublicKey)> {
        let now = self.clock.now_ms();
        if let Some(cached) = self.sessions.cached_vapid_key(user, session, kid, now)? {
            return Ok(cached.clone());
        }
        let record = self.load_key(user, kid).await?;
        if record.value.status() != KeyStatus::Current {
            return Err(EngineError::internal("the current VAPID key is marked retired"));
        }
        // The stored public key must be the kid's (else `Integrity`); the
        // provider checks that the sealed key is that public key's.
        record.value.info()?;
        let public = record.value.public_key().clone();
        let master = self.session_master(user, session).await?;
        let signer = self.open_vapid_key(&master, user, &record.value).await?;
        self.sessions.cache_vapid_key(user, session, kid.clone(), (signer.clone(), public.clone()), now)?;
        Ok((signer, public))
    }

    /// The public key `kid` of `user`, from the key record (checked: the
    /// kid is its thumbprint) or from the engine's small cache of them. A
    /// kid is the hash of its public key, so a cached answer cannot go
    /// stale; the cache only saves a read per lease batch.
    pub(super) async fn vapid_public_key(&self, user: &UserId, kid: &KeyId) -> EngineResult<VapidPublicKey> {
        if let Some((_, _, key)) = self.public_keys.borrow().iter().find(|(u, k, _)| u == user && k == kid) {
            return Ok(key.clone());
        }
        let record = self.load_key(user, kid).await?;
        record.value.info()?;
        let key = record.value.public_key().clone();
        let mut cache = self.public_keys.borrow_mut();
        if cache.len() >= PUBLIC_KEYS_KEPT {
            cache.remove(0);
        }
        cache.push((user.clone(), kid.clone(), key.clone()));
        Ok(key)
    }

    /// Opens a stored VAPID key with the master secret. Any failure of the
    /// sealed key is `Integrity`.
    pub(super) async fn open_vapid_key(
        &self,
        master: &P::Master,
        user: &UserId,
        record: &VapidKeyRecord,
    ) -> EngineResult<P::Signer> {
        let sealing = self.crypto.subkey(master, user, SEALING_PURPOSE).await?;
        let aad = record.aad(user);
        let opened = self
            .crypto
            .open_signer(&sealing, &aad, record.sealed(), record.key_format(), record.public_key().as_p256())
            .await?;
        Ok(opened.map_err(|_| CoreError::Integrity)?)
    }

    pub(super) async fn sign_jwt(&mut self, cx: &mut CallContext, p: SignJwtParams) -> EngineResult<SignedJwt> {
        let now = self.clock.now_ms();
        // Session first: without one, nothing else is looked at.
        self.sessions.expiry(&p.user, &p.session, now)?;
        let claims = jwt::validate(&p.claims, now)?;
        let user = self.load_user(&p.user).await?;
        let kid = user
            .value
            .current_kid
            .clone()
            .ok_or_else(|| CoreError::NotFound("VAPID key (use vapid_generate first)".into()))?;
        let (signer, public) = self.ensure_signing_key(&p.user, &p.session, &kid).await?;
        let input = jwt::signing_input(&claims)?;
        let signature = self.crypto.sign(&signer, input.as_bytes()).await?;
        let signed = SignedJwt::assemble(&input, &signature, &public, &claims);
        // No audit, no token. The entry names the key, audience and expiry,
        // never the token itself.
        let mut entry = AuditRecord::new(EventKind::JwtSign, Outcome::Ok)
            .with_id("kid", kid.as_str())
            .with_id("aud", claims.aud().as_str())
            .with_id("exp", claims.exp().to_string());
        if let Some(jti) = claims.jti() {
            entry = entry.with_id("jti", jti);
        }
        self.audit_alone(cx, &AuditScope::User(p.user.clone()), vec![entry]).await?;
        cx.audited = true;
        Ok(signed)
    }
}
