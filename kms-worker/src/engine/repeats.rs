//! Refusals counted rather than appended when they repeat
//! (`kms_core::audit::repeat`): the first refusal of a kind goes into the
//! chain, the later ones raise that kind's count in a record beside it, and
//! the counts become summary entries before the chain's next checkpoint (or
//! when a kind's window ends). Calls that succeed read nothing more.

use kms_core::audit::{AuditRecord, AuditScope, RepeatRuns, Tally};
use kms_core::env::Clock;
use kms_storage::WriteBatch;
use rand_core::CryptoRngCore;

use super::context::CallContext;
use super::Kms;
use crate::crypto::CryptoProvider;
use crate::error::EngineResult;
use crate::layout;

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> Kms<C, R, P> {
    /// Audits `record`, the refusal (or failure) of the call that just
    /// ended, in `scope`: counted if its kind already has a run, else
    /// appended (after the summary of the run it ends, if any). The runs are
    /// written in the same batch, with the precondition that nobody changed
    /// them since they were read: a lost race is a `storage` error, never a
    /// count lost.
    pub(super) async fn audit_refusal(
        &mut self,
        cx: &mut CallContext,
        scope: &AuditScope,
        record: AuditRecord,
    ) -> EngineResult<()> {
        let now = self.clock.now_ms();
        let key = layout::audit_repeat(scope)?;
        let stored = self.get(&key).await?;
        // Runs that do not parse are dropped: their counts are unreadable.
        let mut runs = stored.as_deref().and_then(|b| RepeatRuns::decode(b).ok()).unwrap_or_default();
        let before = runs.clone();
        let tally = runs.tally(&record, now);
        let mut batch = WriteBatch::new();
        if runs != before {
            match stored {
                Some(bytes) => batch.expect_value(&key, bytes)?,
                None => batch.expect_absent(&key)?,
            };
            batch.put(&key, runs.encode()?)?;
        }
        match tally {
            Tally::Counted => {
                self.store.commit(batch).await?;
                cx.audited = true;
                Ok(())
            }
            Tally::Append { summary } => {
                let records = summary.into_iter().chain(std::iter::once(record)).collect();
                self.audit_into(cx, &mut batch, scope, records, None, None).await?;
                self.commit_audited(cx, batch).await
            }
        }
    }

    /// Puts the summaries of `scope`'s runs before `records` and deletes the
    /// runs in `batch`, with the precondition that nobody changed them since
    /// they were read. Runs that do not parse are deleted without a summary.
    pub(super) async fn flush_repeats(
        &self,
        batch: &mut WriteBatch,
        scope: &AuditScope,
        records: Vec<AuditRecord>,
    ) -> EngineResult<Vec<AuditRecord>> {
        let key = layout::audit_repeat(scope)?;
        let Some(bytes) = self.get(&key).await? else { return Ok(records) };
        let summaries = RepeatRuns::decode(&bytes).map(|runs| runs.summaries()).unwrap_or_default();
        batch.expect_value(&key, bytes)?;
        batch.delete(&key)?;
        Ok(summaries.into_iter().chain(records).collect())
    }
}
