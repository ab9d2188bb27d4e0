//! Leases: what lets a relay obtain tokens while the user is away.

use kms_core::audit::{AuditRecord, AuditScope, EventKind, Outcome};
use kms_core::crypto::p256_key::KeyFormat;
use kms_core::env::Clock;
use kms_core::ids::{KeyId, UserId};
use kms_core::lease::courier::{self, CourierSecret};
use kms_core::lease::{self, LeaseId, LeaseRecord, LeaseStatus};
use kms_core::push;
use kms_core::rpc::{
    LeaseCourierParams, LeaseCourierResult, LeaseCreateParams, LeaseCreateResult, LeaseExtendParams, LeaseIssueParams,
    LeaseIssueResult, LeaseList, LeaseRefParams, SessionParams,
};
use kms_core::vapid::key::SEALING_PURPOSE;
use kms_core::vapid::{jwt, SignedJwt};
use kms_core::CoreError;
use kms_storage::WriteBatch;
use rand_core::CryptoRngCore;

use super::context::CallContext;
use super::state::{decode_json, encode_json, Loaded, MAX_PER_USER};
use super::Kms;
use crate::crypto::{CryptoProvider, OpenError};
use crate::error::{EngineError, EngineResult};
use crate::layout;

/// A lease key that does not open its sealed key is a wrong credential; an
/// authentic key that is not the lease's is damage.
fn lease_open_error(e: OpenError) -> EngineError {
    match e {
        OpenError::NotAuthentic => lease::invalid_credential().into(),
        OpenError::NotTheKey => CoreError::Integrity.into(),
    }
}

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> Kms<C, R, P> {
    pub(super) async fn load_leases(&self, user: &UserId) -> EngineResult<Vec<Loaded<LeaseRecord>>> {
        let all: Vec<Loaded<LeaseRecord>> = self.list_records(&layout::leases(user)?, "lease").await?;
        for l in &all {
            // The sealed key opens for whichever user the record names: a
            // record must sit under its own user and id.
            if l.value.user() != user || layout::lease(user, l.value.id())? != l.key {
                return Err(EngineError::corrupt("a lease record is stored under a foreign key"));
            }
        }
        Ok(all)
    }

    async fn load_lease(&self, user: &UserId, id: &LeaseId) -> EngineResult<Loaded<LeaseRecord>> {
        let key = layout::lease(user, id)?;
        let bytes = self.get(&key).await?.ok_or_else(|| CoreError::NotFound(format!("lease {}", id.as_str())))?;
        let value: LeaseRecord = decode_json(&bytes, "lease")?;
        if value.user() != user || value.id() != id {
            return Err(EngineError::corrupt("a lease record is stored under a foreign key"));
        }
        Ok(Loaded { key, bytes: Some(bytes), value })
    }

    /// Adds to `batch` the erasure of the sealed key of every lease among
    /// `leases` that has ended at `now_ms` (each on the condition that it
    /// is unchanged), and returns their audit entries (`lease_expire`,
    /// reason `key_erased`). Every call that reads a user's leases calls
    /// this, so the key does not outlive the lease in the store.
    pub(super) fn erase_ended(
        batch: &mut WriteBatch,
        leases: &[Loaded<LeaseRecord>],
        now_ms: u64,
    ) -> EngineResult<Vec<AuditRecord>> {
        let mut entries = Vec::new();
        for l in leases {
            if let Some(erased) = lease::erase_if_ended(&l.value, now_ms) {
                l.expect_unchanged(batch)?;
                batch.put(&l.key, encode_json(&erased)?)?;
                entries.push(
                    AuditRecord::new(EventKind::LeaseExpire, Outcome::Ok)
                        .with_id("lease_id", l.value.id().as_str())
                        .with_reason("key_erased"),
                );
            }
        }
        Ok(entries)
    }

    /// For a call on one lease that has ended and still holds its key: the
    /// key is erased and the refusal (`refused`, an entry of `event`) is
    /// audited in one write, and the call answers `lease_expired`. `None`
    /// when there is nothing to erase (the call goes on).
    async fn refuse_ended(
        &mut self,
        cx: &mut CallContext,
        user: &UserId,
        loaded: &Loaded<LeaseRecord>,
        refused: AuditRecord,
        now_ms: u64,
    ) -> EngineResult<Option<EngineError>> {
        let mut batch = WriteBatch::new();
        let mut entries = Self::erase_ended(&mut batch, std::slice::from_ref(loaded), now_ms)?;
        if entries.is_empty() {
            return Ok(None);
        }
        entries.push(AuditRecord { outcome: Outcome::Refused, ..refused }.with_reason("lease_expired"));
        self.audit_into(cx, &mut batch, &AuditScope::User(user.clone()), entries, None, None).await?;
        self.commit_audited(cx, batch).await?;
        let refusal = lease::LeaseRefusal::Expired { expires_ms: loaded.value.expires_ms() };
        Ok(Some(CoreError::from(refusal).into()))
    }

    pub(super) async fn lease_create(
        &mut self,
        cx: &mut CallContext,
        p: LeaseCreateParams,
    ) -> EngineResult<LeaseCreateResult> {
        let now = self.clock.now_ms();
        self.sessions.expiry(&p.user, &p.session, now)?;
        let kid = self
            .current_kid(&p.user)
            .await?
            .ok_or_else(|| CoreError::NotFound("VAPID key to lease (use vapid_generate first)".into()))?;
        let mut params = p.lease;
        lease::check_lifetime_within(params.lifetime_or_default(), self.config.max_lease_lifetime_s)?;
        if params.audiences.is_empty() {
            // By default a relay may address exactly the push services the
            // user has subscriptions at.
            let subs = self.load_subscriptions(&p.user).await?;
            params.audiences =
                push::origins(subs.iter().map(|l| &l.value)).iter().map(|o| o.as_str().to_owned()).collect();
            if params.audiences.is_empty() {
                return Err(CoreError::invalid(
                    "audiences: none given and the user has no stored subscriptions to take them from",
                )
                .into());
            }
        }
        let existing = self.load_leases(&p.user).await?;
        if existing.len() >= MAX_PER_USER {
            return Err(CoreError::invalid(format!("a user keeps at most {MAX_PER_USER} leases; revoke some")).into());
        }
        let master = self.session_master(&p.user, &p.session).await?;
        let vapid = self.load_key(&p.user, &kid).await?;
        vapid.value.info()?;
        let mut draft = lease::draft(&params, &p.user, &kid, now, &mut self.rng)?;
        if p.relay_key.is_some() {
            draft = draft.with_courier(CourierSecret::generate(&mut self.rng));
        }
        // The lease's copy of the key is re-sealed from the stored one,
        // under the key only the credential's holder can rebuild.
        let sealing = self.crypto.subkey(&master, &p.user, SEALING_PURPOSE).await?;
        let (salt, info) = draft.key_kdf();
        let lease_key = self.crypto.wrap_key(draft.credential().key_material(), &salt, &info).await?;
        let v = &vapid.value;
        let sealed = self
            .crypto
            .reseal_signer(
                &sealing,
                &v.aad(&p.user),
                v.sealed(),
                v.key_format(),
                v.public_key().as_p256(),
                &lease_key,
                &draft.aad(),
                &mut self.rng,
            )
            .await?
            .map_err(|_| CoreError::Integrity)?;
        let (record, credential) = draft.finish(sealed);

        let mut batch = WriteBatch::new();
        let mut erased = Self::erase_ended(&mut batch, &existing, now)?;
        let key = layout::lease(&p.user, record.id())?;
        batch.expect_absent(&key)?;
        batch.put(&key, encode_json(&record)?)?;
        let entry = AuditRecord::new(EventKind::LeaseCreate, Outcome::Ok)
            .with_id("lease_id", record.id().as_str())
            .with_id("relay", record.relay().as_str())
            .with_id("kid", kid.as_str())
            .with_id("expires_ms", record.expires_ms().to_string());
        erased.push(entry);
        self.audit_into(cx, &mut batch, &AuditScope::User(p.user.clone()), erased, None, None).await?;
        self.commit_audited(cx, batch).await?;
        let info = record.info(now, Some(&kid));
        Ok(match (&p.relay_key, record.courier()) {
            (Some(relay), Some(courier)) => LeaseCreateResult {
                lease: info,
                credential: None,
                sealed_credential: Some(courier::seal_credential(
                    relay,
                    &p.user,
                    &credential,
                    courier.public(),
                    &mut self.rng,
                )?),
                courier_key: Some(courier.public().clone()),
            },
            _ => LeaseCreateResult {
                lease: info,
                credential: Some(credential),
                sealed_credential: None,
                courier_key: None,
            },
        })
    }

    /// `lease_courier`: opens a token request the relay sealed to the
    /// lease's courier key, refuses a replayed one (its nonce is in the
    /// record) or one outside the clock window, runs `lease_issue` with what
    /// it holds (the nonce is remembered in that call's write), and seals
    /// the result to the relay. Refusals of the request itself are
    /// `forbidden`, audited as refused `lease_token` entries.
    pub(super) async fn lease_courier(
        &mut self,
        cx: &mut CallContext,
        p: LeaseCourierParams,
    ) -> EngineResult<LeaseCourierResult> {
        let now = self.clock.now_ms();
        self.load_user(&p.user).await?;
        let loaded = self.load_lease(&p.user, &p.lease_id).await?;
        let Some(courier_key) = loaded.value.courier() else {
            return Err(CoreError::invalid(
                "lease_courier: this lease was made without a relay key; use lease_issue with its credential",
            )
            .into());
        };
        let (inner, response_key) = courier::open_request(courier_key, &p.user, &p.lease_id, &p.sealed, now)?;
        if loaded.value.has_seen(&inner.nonce) {
            return Err(courier::replayed().into());
        }
        cx.courier_nonce = Some((inner.nonce, inner.ts_ms));
        let issued = self
            .lease_issue(cx, LeaseIssueParams { user: p.user, credential: inner.credential, request: inner.request })
            .await?;
        let json = zeroize::Zeroizing::new(
            serde_json::to_vec(&issued).map_err(|_| EngineError::internal("could not encode the tokens"))?,
        );
        Ok(LeaseCourierResult { sealed: response_key.seal(&json, &mut self.rng)? })
    }

    pub(super) async fn lease_list(&mut self, cx: &mut CallContext, p: SessionParams) -> EngineResult<LeaseList> {
        let now = self.clock.now_ms();
        self.sessions.expiry(&p.user, &p.session, now)?;
        let kid = self.current_kid(&p.user).await?;
        let all = self.load_leases(&p.user).await?;
        let (stale, live): (Vec<_>, Vec<_>) = all.into_iter().partition(|l| lease::expired_cleanup_due(&l.value, now));
        let mut cleaned_up = Vec::new();
        let mut batch = WriteBatch::new();
        let mut entries = Self::erase_ended(&mut batch, &live, now)?;
        if !stale.is_empty() || !entries.is_empty() {
            for l in &stale {
                l.expect_unchanged(&mut batch)?;
                batch.delete(&l.key)?;
                entries.push(
                    AuditRecord::new(EventKind::LeaseExpire, Outcome::Ok).with_id("lease_id", l.value.id().as_str()),
                );
                cleaned_up.push(l.value.id().clone());
            }
            self.audit_into(cx, &mut batch, &AuditScope::User(p.user.clone()), entries, None, None).await?;
            self.commit_tails(cx, batch).await?;
        }
        let live: Vec<_> = live
            .into_iter()
            .map(|l| Loaded { value: lease::erase_if_ended(&l.value, now).unwrap_or(l.value), ..l })
            .collect();
        Ok(LeaseList { leases: live.iter().map(|l| l.value.info(now, kid.as_ref())).collect(), cleaned_up })
    }

    pub(super) async fn lease_revoke(
        &mut self,
        cx: &mut CallContext,
        p: LeaseRefParams,
    ) -> EngineResult<kms_core::lease::LeaseInfo> {
        let now = self.clock.now_ms();
        self.sessions.expiry(&p.user, &p.session, now)?;
        let kid = self.current_kid(&p.user).await?;
        let loaded = self.load_lease(&p.user, &p.lease_id).await?;
        let revoked = lease::revoke(&loaded.value, now);
        let mut batch = WriteBatch::new();
        loaded.expect_unchanged(&mut batch)?;
        batch.put(&loaded.key, encode_json(&revoked)?)?;
        let entry = AuditRecord::new(EventKind::LeaseRevoke, Outcome::Ok).with_id("lease_id", p.lease_id.as_str());
        self.audit_into(cx, &mut batch, &AuditScope::User(p.user.clone()), vec![entry], None, None).await?;
        self.commit_audited(cx, batch).await?;
        Ok(revoked.info(now, kid.as_ref()))
    }

    pub(super) async fn lease_extend(
        &mut self,
        cx: &mut CallContext,
        p: LeaseExtendParams,
    ) -> EngineResult<kms_core::lease::LeaseInfo> {
        let now = self.clock.now_ms();
        self.sessions.expiry(&p.user, &p.session, now)?;
        let kid = self.current_kid(&p.user).await?;
        let loaded = self.load_lease(&p.user, &p.lease_id).await?;
        let refused =
            AuditRecord::new(EventKind::LeaseExtend, Outcome::Refused).with_id("lease_id", p.lease_id.as_str());
        if let Some(refusal) = self.refuse_ended(cx, &p.user, &loaded, refused, now).await? {
            return Err(refusal);
        }
        let usable = lease::check_usable(&loaded.value, now, kid.as_ref()).map_err(CoreError::from)?;
        lease::check_lifetime_within(p.lifetime_s, self.config.max_lease_lifetime_s)?;
        let extended = lease::extend(&usable, p.lifetime_s)?;
        let mut batch = WriteBatch::new();
        loaded.expect_unchanged(&mut batch)?;
        batch.put(&loaded.key, encode_json(&extended)?)?;
        let entry = AuditRecord::new(EventKind::LeaseExtend, Outcome::Ok)
            .with_id("lease_id", p.lease_id.as_str())
            .with_id("expires_ms", extended.expires_ms().to_string());
        self.audit_into(cx, &mut batch, &AuditScope::User(p.user.clone()), vec![entry], None, None).await?;
        self.commit_audited(cx, batch).await?;
        Ok(extended.info(now, kid.as_ref()))
    }

    /// Tokens under a lease, the user absent. Refused after expiry,
    /// revocation, rotation of the bound key or deletion of the user, each
    /// with its own code; every token is audited (never the token itself).
    pub(super) async fn lease_issue(
        &mut self,
        cx: &mut CallContext,
        p: LeaseIssueParams,
    ) -> EngineResult<LeaseIssueResult> {
        let now = self.clock.now_ms();
        // A deleted user's tombstone answers `user_deleted` here, before the
        // lease (erased with the user) would answer `not_found`.
        let user = self.load_user(&p.user).await?;
        let loaded = self.load_lease(&p.user, p.credential.lease_id()).await?;
        // The credential first: a caller without it learns nothing of the
        // lease's state (revoked, ended, rotated).
        lease::verify_credential(&loaded.value, &p.credential)?;
        let refused = AuditRecord::new(EventKind::LeaseToken, Outcome::Refused)
            .with_id("lease_id", p.credential.lease_id().as_str())
            .with_id("aud", &p.request.aud);
        if let Some(refusal) = self.refuse_ended(cx, &p.user, &loaded, refused, now).await? {
            return Err(refusal);
        }
        let usable =
            lease::check_usable(&loaded.value, now, user.value.current_kid.as_ref()).map_err(CoreError::from)?;
        let opening = lease::opening(&usable, &p.credential)?;
        // The lease's key must be the public key of its VAPID key record.
        let public = self.vapid_public_key(&p.user, loaded.value.kid()).await?;
        let key = self.crypto.wrap_key(p.credential.key_material(), &opening.kdf_salt, &opening.kdf_info).await?;
        // A lease made before the crypto providers holds its key as the bare
        // scalar: it is re-sealed as PKCS#8 first (its one pass through
        // memory), written with this call's records, and opened from there.
        let resealed = match opening.format {
            KeyFormat::Pkcs8 => None,
            KeyFormat::Scalar => {
                let (aad, sealed) = (&opening.aad, opening.sealed);
                let again = self
                    .crypto
                    .reseal_signer(&key, aad, sealed, KeyFormat::Scalar, public.as_p256(), &key, aad, &mut self.rng)
                    .await?;
                Some(again.map_err(lease_open_error)?)
            }
        };
        let (sealed, format) = match &resealed {
            Some(s) => (s, KeyFormat::Pkcs8),
            None => (opening.sealed, opening.format),
        };
        let opened = self.crypto.open_signer(&key, &opening.aad, sealed, format, public.as_p256()).await?;
        let signer = opened.map_err(lease_open_error)?;
        let (claims, updated) = lease::plan(&usable, &p.request, &mut self.rng)?;
        let updated = match resealed {
            Some(sealed) => updated.resealed(sealed),
            None => updated,
        };
        // A courier request's nonce is remembered in the same write as its
        // tokens: a replay is refused from then on.
        let updated = match cx.courier_nonce.take() {
            Some((nonce, ts_ms)) => updated.with_seen(&nonce, ts_ms, now)?,
            None => updated,
        };
        let inputs = claims.iter().map(jwt::signing_input).collect::<Result<Vec<_>, _>>()?;
        let signatures = self.crypto.sign_all(&signer, &inputs).await?;
        let tokens: Vec<SignedJwt> = claims
            .iter()
            .zip(inputs.iter().zip(signatures.iter()))
            .map(|(c, (input, signature))| SignedJwt::assemble(input, signature, &public, c))
            .collect();

        let mut batch = WriteBatch::new();
        loaded.expect_unchanged(&mut batch)?;
        batch.put(&loaded.key, encode_json(&updated)?)?;
        let entries = tokens
            .iter()
            .map(|t| {
                let mut e = AuditRecord::new(EventKind::LeaseToken, Outcome::Ok)
                    .with_id("lease_id", updated.id().as_str())
                    .with_id("aud", p.request.aud.as_str())
                    .with_id("exp", t.exp.to_string());
                if let Some(jti) = &t.jti {
                    e = e.with_id("jti", jti.as_str());
                }
                e
            })
            .collect();
        self.audit_into(cx, &mut batch, &AuditScope::User(p.user.clone()), entries, None, None).await?;
        self.commit_audited(cx, batch).await?;
        Ok(LeaseIssueResult { tokens, lease: updated.info(now, user.value.current_kid.as_ref()) })
    }

    /// Leases bound to `kid` that are still active (for a rotation's report).
    pub(super) async fn active_leases_bound_to(&self, user: &UserId, kid: &KeyId) -> EngineResult<Vec<LeaseId>> {
        Ok(self
            .load_leases(user)
            .await?
            .iter()
            .filter(|l| l.value.kid() == kid && matches!(l.value.status(), LeaseStatus::Active))
            .map(|l| l.value.id().clone())
            .collect())
    }
}
