//! Listing, adding, removing enrollments, and changing the passphrase.
//! Every change needs a live session of the user and re-wraps the same
//! master secret: the master secret and every key derived from it stay.

use kms_core::audit::{AuditRecord, AuditScope, EventKind, Outcome};
use kms_core::crypto::aad;
use kms_core::env::Clock;
use kms_core::rpc::{
    AddEnrollmentParams, ChangePassphraseParams, EnrollmentList, RemoveEnrollmentParams, RemoveResult, UserParams,
};
use kms_core::unlock::{EnrollmentInfo, EnrollmentRecord, Method, MethodParams};
use kms_core::CoreError;
use kms_storage::WriteBatch;
use rand_core::CryptoRngCore;

use super::context::CallContext;
use super::Kms;
use crate::crypto::CryptoProvider;
use crate::error::EngineResult;
use crate::layout;

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> Kms<C, R, P> {
    pub(super) async fn list_enrollments(&self, p: UserParams) -> EngineResult<EnrollmentList> {
        self.load_user(&p.user).await?;
        let all = self.load_enrollments(&p.user).await?;
        Ok(EnrollmentList { enrollments: all.ok.iter().map(|l| l.value.info()).collect(), damaged: all.damaged_ids() })
    }

    pub(super) async fn add_enrollment(
        &mut self,
        cx: &mut CallContext,
        p: AddEnrollmentParams,
    ) -> EngineResult<EnrollmentInfo> {
        let now = self.clock.now_ms();
        // Check the session before anything else, so a caller without one
        // learns nothing about the user's enrollments.
        self.sessions.master(&p.user, &p.session, now)?;
        let user = self.load_user(&p.user).await?;
        let existing = self.load_enrollments(&p.user).await?;
        if existing.count() >= self.config.max_enrollments {
            return Err(CoreError::invalid(format!(
                "a user may have at most {} enrollments",
                self.config.max_enrollments
            ))
            .into());
        }
        let records: Vec<_> = existing.ok.iter().map(|l| l.value.clone()).collect();
        // The master secret is taken out of the session for the wrap; the
        // session map is not borrowed across the await inside.
        let master = self.session_master(&p.user, &p.session).await?;
        let new = self.new_enrollment(&p.user, p.enrollment, &records).await?;
        let wrapped = self.crypto.rewrap_master(&master, &new.wrap, &new.aad(&p.user), &mut self.rng).await?;
        let record = EnrollmentRecord::from_wrapped(new.id, p.label, new.params, wrapped, now)?;

        let mut batch = WriteBatch::new();
        user.expect_unchanged(&mut batch)?;
        // The cap and the duplicate-credential check above hold only if no
        // enrollment changed meanwhile.
        existing.expect_unchanged(&mut batch)?;
        batch.put(&user.key, user.value.bump_enrollments().encode()?)?;
        let key = layout::enrollment(&p.user, &record.id)?;
        batch.expect_absent(&key)?;
        batch.put(&key, record.encode()?)?;
        let entry = AuditRecord::new(EventKind::EnrollmentAdd, Outcome::Ok)
            .with_method(record.params.method().as_str())
            .with_id("enrollment_id", record.id.as_str());
        self.audit_into(cx, &mut batch, &AuditScope::User(p.user.clone()), vec![entry], None, None).await?;
        self.commit_audited(cx, batch).await?;
        Ok(record.info())
    }

    pub(super) async fn remove_enrollment(
        &mut self,
        cx: &mut CallContext,
        p: RemoveEnrollmentParams,
    ) -> EngineResult<RemoveResult> {
        let now = self.clock.now_ms();
        self.sessions.master(&p.user, &p.session, now)?;
        let user = self.load_user(&p.user).await?;
        let all = self.load_enrollments(&p.user).await?;
        // A damaged record can be removed too: that is how a user recovers.
        let target = all
            .ok
            .iter()
            .find(|l| l.value.id == p.enrollment_id)
            .map(|l| &l.key)
            .or_else(|| all.damaged.iter().find(|d| d.value.as_ref() == Some(&p.enrollment_id)).map(|d| &d.key))
            .ok_or_else(|| CoreError::NotFound(format!("enrollment {}", p.enrollment_id)))?;
        // Never remove the last enrollment, nor the last intact one: damaged
        // records cannot unlock, so removing the only working one would lose
        // the master secret.
        let removing_intact = all.ok.iter().any(|l| l.value.id == p.enrollment_id);
        if all.count() <= 1 || (removing_intact && all.ok.len() <= 1) {
            return Err(CoreError::Forbidden(
                "cannot remove the last enrollment: the master secret would be lost; add another one first".into(),
            )
            .into());
        }
        let mut batch = WriteBatch::new();
        // Every other enrollment must still be there, or two concurrent
        // removals could each leave the user with none.
        all.expect_unchanged(&mut batch)?;
        user.expect_unchanged(&mut batch)?;
        batch.put(&user.key, user.value.bump_enrollments().encode()?)?;
        batch.delete(target)?;
        batch.delete(&layout::throttle(&p.user, &p.enrollment_id)?)?;
        let entry = AuditRecord::new(EventKind::EnrollmentRemove, Outcome::Ok)
            .with_id("enrollment_id", p.enrollment_id.as_str());
        self.audit_into(cx, &mut batch, &AuditScope::User(p.user.clone()), vec![entry], None, None).await?;
        self.commit_audited(cx, batch).await?;
        // Sessions opened elsewhere, perhaps with the removed credential, end.
        self.sessions.lock_user_except(&p.user, &p.session);
        Ok(RemoveResult { removed: p.enrollment_id, remaining: all.count().saturating_sub(1) })
    }

    pub(super) async fn change_passphrase(
        &mut self,
        cx: &mut CallContext,
        p: ChangePassphraseParams,
    ) -> EngineResult<EnrollmentInfo> {
        let now = self.clock.now_ms();
        self.sessions.master(&p.user, &p.session, now)?;
        let user = self.load_user(&p.user).await?;
        let loaded =
            self.find_enrollment(&p.user, p.enrollment_id.as_ref(), Method::Passphrase, |_| true).await?.record()?;
        self.config.passphrase.check(&p.new_passphrase)?;
        let params = self.config.passphrase.new_params(&mut self.rng);
        let out = self.run_pbkdf2(&p.new_passphrase, &params).await?;
        let master = self.session_master(&p.user, &p.session).await?;
        let old = &loaded.value;
        let params = MethodParams::Passphrase(params);
        let wrap = self.enrollment_wrap_key(&params, out, &p.user, &old.id).await?;
        let aad = aad::master_wrap(&p.user, &old.id, Method::Passphrase);
        let wrapped = self.crypto.rewrap_master(&master, &wrap, &aad, &mut self.rng).await?;
        let mut record = EnrollmentRecord::from_wrapped(old.id.clone(), old.label.clone(), params, wrapped, now)?;
        record.created_ms = old.created_ms;

        let mut batch = WriteBatch::new();
        loaded.expect_unchanged(&mut batch)?;
        // The master secret wrapped here is still the user's (no `rekey`
        // committed since the session's check).
        user.expect_unchanged(&mut batch)?;
        batch.put(&loaded.key, record.encode()?)?;
        // A new passphrase starts with a clean slate.
        batch.delete(&layout::throttle(&p.user, &old.id)?)?;
        let entry =
            AuditRecord::new(EventKind::PassphraseChange, Outcome::Ok).with_id("enrollment_id", old.id.as_str());
        self.audit_into(cx, &mut batch, &AuditScope::User(p.user.clone()), vec![entry], None, None).await?;
        self.commit_audited(cx, batch).await?;
        // Whoever knew the old passphrase loses their open sessions too.
        self.sessions.lock_user_except(&p.user, &p.session);
        Ok(record.info())
    }

    /// The session's master secret for one operation: a second handle (a
    /// pointer natively, a `CryptoKey` reference in the browser, never a
    /// copy of the secret), so no borrow of the session map spans an await.
    /// Refused (`locked`; the session ends) when the user's master secret
    /// was replaced (`rekey`, by this engine or another one over the same
    /// store) after the session opened: a stale secret must not seal or
    /// wrap anything.
    pub(super) async fn session_master(
        &mut self,
        user: &kms_core::ids::UserId,
        session: &kms_core::session::SessionToken,
    ) -> EngineResult<P::Master> {
        let now = self.clock.now_ms();
        // The token first: a caller without one learns nothing of the user.
        self.sessions.master(user, session, now)?;
        let epoch = self.load_user(user).await?.value.master_epoch;
        Ok(self.sessions.master_at(user, session, epoch, now)?.clone())
    }
}
