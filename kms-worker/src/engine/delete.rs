//! `user_delete`: the end of a user. Every secret and delegation goes in one
//! atomic write; what stays is a tombstone (so the id is never set up again
//! and every later call, a relay's `lease_issue` included, is refused with
//! `user_deleted`) and the user's audit chain, which holds no secrets and
//! ends with the `user_delete` entry under a signed final checkpoint. The
//! caller gets that chain as a last export, since nobody can unlock to
//! export it afterwards.

use kms_core::audit::{AuditRecord, AuditScope, EventKind, Outcome};
use kms_core::env::Clock;
use kms_core::ids::UserId;
use kms_core::lease::{LeaseRecord, LeaseStatus};
use kms_core::rpc::{UserDeleteParams, UserDeleteResult};
use kms_core::CoreError;
use kms_storage::limits::MAX_BATCH_OPS;
use kms_storage::{KeyPrefix, StoreKey, WriteBatch};
use rand_core::CryptoRngCore;

use super::context::CallContext;
use super::Kms;
use crate::crypto::CryptoProvider;
use crate::error::{EngineError, EngineResult};
use crate::layout;

/// Operations the audit appends and the tombstone need beside the deletions.
const BOOKKEEPING_OPS: usize = 16;

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> Kms<C, R, P> {
    /// Deletes `p.user`: needs a live session of that user and `confirm`
    /// equal to the user id. In one batch: the tombstone (on the condition
    /// that the user record is unchanged), the deletion of every enrollment,
    /// throttle, VAPID key, subscription, lease and the sealed audit signing
    /// key, a `user_delete` entry with a signed checkpoint in the user's
    /// chain and one in the instance chain. All sessions of the user end.
    pub(super) async fn user_delete(
        &mut self,
        cx: &mut CallContext,
        p: UserDeleteParams,
    ) -> EngineResult<UserDeleteResult> {
        let now = self.clock.now_ms();
        if p.confirm != p.user.as_str() {
            return Err(CoreError::invalid("confirm: must repeat the id of the user being deleted").into());
        }
        let master = self.session_master(&p.user, &p.session).await?;
        let user = self.load_user(&p.user).await?;
        let signing = self.user_audit_key(&master, &p.user).await?;
        drop(master);

        let doomed = self.secret_records(&p.user).await?;
        let leases_revoked: Vec<_> = doomed
            .leases
            .iter()
            .filter_map(|(_, bytes)| serde_json::from_slice::<LeaseRecord>(bytes).ok())
            .filter(|l| matches!(l.status(), LeaseStatus::Active) && !kms_core::lease::is_expired(l, now))
            .map(|l| l.id().clone())
            .collect();
        let subscriptions_removed = doomed.subscriptions.len() as u64;
        if doomed.count().saturating_add(BOOKKEEPING_OPS) > MAX_BATCH_OPS {
            return Err(EngineError::internal("too many records to delete in one atomic write"));
        }

        let mut batch = WriteBatch::new();
        user.expect_unchanged(&mut batch)?;
        batch.put(&user.key, user.value.tombstone(now).encode()?)?;
        for key in doomed.keys() {
            batch.delete(key)?;
        }
        let scope = AuditScope::User(p.user.clone());
        batch.delete(&layout::audit_signing_key(&scope)?)?;
        let entry = AuditRecord::new(EventKind::UserDelete, Outcome::Ok)
            .with_id("leases_revoked", leases_revoked.len().to_string())
            .with_id("subscriptions_removed", subscriptions_removed.to_string());
        let written = self.audit_into(cx, &mut batch, &scope, vec![entry], Some(&signing), None).await?;
        let last_seq = written.last().map(|e| e.seq).unwrap_or_default();
        let instance_entry = AuditRecord::new(EventKind::UserDelete, Outcome::Ok)
            .with_id("user", p.user.as_str())
            .with_id("final_seq", last_seq.to_string());
        self.audit_into(cx, &mut batch, &AuditScope::Instance, vec![instance_entry], None, None).await?;
        self.commit_audited(cx, batch).await?;
        self.sessions.lock_user(&p.user);

        // A record another engine added between our listing and our commit
        // survives the batch; the tombstone already refuses every use of it,
        // and this sweep erases it. Best effort: the deletion has happened.
        if let Ok(left) = self.secret_records(&p.user).await {
            if left.count() > 0 {
                let mut sweep = WriteBatch::new();
                if left.keys().try_for_each(|k| sweep.delete(k).map(|_| ())).is_ok() {
                    let _ = self.store.commit(sweep).await;
                }
            }
        }

        let (entries, checkpoints) = self.read_chain(&scope).await?;
        let final_checkpoint =
            checkpoints.last().cloned().ok_or_else(|| EngineError::internal("the final checkpoint is missing"))?;
        let export =
            kms_core::audit::write_export(&scope, &signing.public, &entries, &checkpoints).map_err(CoreError::from)?;
        Ok(UserDeleteResult {
            user: p.user,
            deleted_ms: now,
            leases_revoked,
            subscriptions_removed,
            final_checkpoint,
            export,
        })
    }

    /// Every record of `user` that holds or guards a secret or a delegation,
    /// as stored (damaged ones too: they are deleted, not parsed).
    async fn secret_records(&self, user: &UserId) -> EngineResult<Doomed> {
        let list = |prefix: KeyPrefix| async move { self.store.list(&prefix, MAX_BATCH_OPS).await };
        Ok(Doomed {
            other: [
                list(layout::enrollments(user)?).await?,
                list(layout::throttles(user)?).await?,
                list(layout::vapid_keys(user)?).await?,
            ]
            .concat(),
            subscriptions: list(layout::subscriptions(user)?).await?,
            leases: list(layout::leases(user)?).await?,
        })
    }
}

/// The records a deletion erases.
struct Doomed {
    subscriptions: Vec<(StoreKey, Vec<u8>)>,
    leases: Vec<(StoreKey, Vec<u8>)>,
    /// Enrollments, throttles, VAPID keys.
    other: Vec<(StoreKey, Vec<u8>)>,
}

impl Doomed {
    fn count(&self) -> usize {
        self.subscriptions.len() + self.leases.len() + self.other.len()
    }

    fn keys(&self) -> impl Iterator<Item = &StoreKey> {
        self.subscriptions.iter().chain(&self.leases).chain(&self.other).map(|(k, _)| k)
    }
}
