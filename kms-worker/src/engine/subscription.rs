//! Push subscriptions: where the user's pushes go, bound to the VAPID key
//! they were made with.

use kms_core::audit::{AuditRecord, AuditScope, EventKind, Outcome};
use kms_core::env::Clock;
use kms_core::ids::UserId;
use kms_core::lease::{LeaseId, LeaseStatus};
use kms_core::push::{SubscriptionInfo, SubscriptionRecord, ValidatedSubscription};
use kms_core::rpc::{
    SessionParams, SubscriptionAddParams, SubscriptionList, SubscriptionRemoveParams, SubscriptionRemoveResult,
};
use kms_core::CoreError;
use kms_storage::WriteBatch;
use rand_core::CryptoRngCore;

use super::context::CallContext;
use super::state::{encode_json, Loaded, MAX_PER_USER};
use super::Kms;
use crate::crypto::CryptoProvider;
use crate::error::EngineResult;
use crate::layout;

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> Kms<C, R, P> {
    pub(super) async fn load_subscriptions(&self, user: &UserId) -> EngineResult<Vec<Loaded<SubscriptionRecord>>> {
        self.list_records(&layout::subscriptions(user)?, "subscription").await
    }

    pub(super) async fn subscription_add(
        &mut self,
        cx: &mut CallContext,
        p: SubscriptionAddParams,
    ) -> EngineResult<SubscriptionInfo> {
        let now = self.clock.now_ms();
        self.sessions.expiry(&p.user, &p.session, now)?;
        let sub = ValidatedSubscription::parse(&p.subscription, &self.config.push_services)?;
        let kid = self
            .current_kid(&p.user)
            .await?
            .ok_or_else(|| CoreError::NotFound("VAPID key to subscribe with (use vapid_generate first)".into()))?;
        let record = SubscriptionRecord::new(&sub, kid, now)?;
        let existing = self.load_subscriptions(&p.user).await?;
        if existing.len() >= MAX_PER_USER && !existing.iter().any(|l| l.value.id() == record.id()) {
            return Err(CoreError::invalid(format!("a user keeps at most {MAX_PER_USER} subscriptions")).into());
        }
        let mut batch = WriteBatch::new();
        batch.put(&layout::subscription(&p.user, record.id())?, encode_json(&record)?)?;
        let entry = AuditRecord::new(EventKind::SubscriptionAdd, Outcome::Ok)
            .with_id("subscription_id", record.id().as_str())
            .with_id("aud", record.origin().as_str())
            .with_id("kid", record.kid().as_str());
        self.audit_into(cx, &mut batch, &AuditScope::User(p.user.clone()), vec![entry], None, None).await?;
        self.commit_audited(cx, batch).await?;
        Ok(record.info())
    }

    pub(super) async fn subscription_list(&mut self, p: SessionParams) -> EngineResult<SubscriptionList> {
        let now = self.clock.now_ms();
        self.sessions.expiry(&p.user, &p.session, now)?;
        let subs = self.load_subscriptions(&p.user).await?;
        Ok(SubscriptionList { subscriptions: subs.iter().map(|l| l.value.info()).collect() })
    }

    pub(super) async fn subscription_remove(
        &mut self,
        cx: &mut CallContext,
        p: SubscriptionRemoveParams,
    ) -> EngineResult<SubscriptionRemoveResult> {
        let now = self.clock.now_ms();
        self.sessions.expiry(&p.user, &p.session, now)?;
        let subs = self.load_subscriptions(&p.user).await?;
        let target = subs
            .iter()
            .find(|l| l.value.id() == &p.id)
            .ok_or_else(|| CoreError::NotFound(format!("subscription {}", p.id.as_str())))?;
        let origin = target.value.origin().clone();
        let still_served = subs.iter().any(|l| l.value.id() != &p.id && l.value.origin() == &origin);
        let leases = self.load_leases(&p.user).await?;
        let affected_leases: Vec<LeaseId> = if still_served {
            Vec::new()
        } else {
            leases
                .iter()
                .filter(|l| matches!(l.value.status(), LeaseStatus::Active) && l.value.audiences().contains(&origin))
                .map(|l| l.value.id().clone())
                .collect()
        };
        let mut batch = WriteBatch::new();
        target.expect_unchanged(&mut batch)?;
        batch.delete(&target.key)?;
        let entry = AuditRecord::new(EventKind::SubscriptionRemove, Outcome::Ok)
            .with_id("subscription_id", p.id.as_str())
            .with_id("aud", origin.as_str());
        self.audit_into(cx, &mut batch, &AuditScope::User(p.user.clone()), vec![entry], None, None).await?;
        self.commit_audited(cx, batch).await?;
        Ok(SubscriptionRemoveResult { removed: p.id, affected_leases })
    }
}
