//! Refusals counted rather than appended when they repeat
//! (`kms_core::audit::repeat`): the first of a run goes into the chain, the
//! repeats raise a counter stored beside it, and the counter becomes one
//! summary entry before the chain's next refusal of another kind, or its
//! next checkpoint. The fast paths (a token, a signature) read nothing more.

use kms_core::audit::{AuditRecord, AuditScope, ChainState, RepeatedRefusal};
use kms_core::env::Clock;
use kms_storage::WriteBatch;
use rand_core::CryptoRngCore;

use super::audit::decode;
use super::context::CallContext;
use super::Kms;
use crate::crypto::CryptoProvider;
use crate::error::EngineResult;
use crate::layout;

impl<C: Clock, R: CryptoRngCore, P: CryptoProvider> Kms<C, R, P> {
    /// Audits `record`, the refusal of the call that just ended, in
    /// `scope`: counted into the stored run if it is one more of it (same
    /// kind, nothing appended since, within the window), else appended after
    /// the summary of the previous run, starting a new one.
    pub(super) async fn audit_refusal(
        &mut self,
        cx: &mut CallContext,
        scope: &AuditScope,
        record: AuditRecord,
    ) -> EngineResult<()> {
        let now = self.clock.now_ms();
        let key = layout::audit_repeat(scope)?;
        let state_key = layout::audit_state(scope)?;
        if let (Some(run_bytes), Some(state_bytes)) = (self.get(&key).await?, self.get(&state_key).await?) {
            let run = RepeatedRefusal::decode(&run_bytes).ok();
            let state = decode::<ChainState>(&state_bytes, "chain state").ok();
            if let (Some(run), Some(state)) = (run, state) {
                if run.counts(&record, state.next_seq(), now) {
                    // Only the counter changes; the chain must be as read.
                    let mut batch = WriteBatch::new();
                    batch.expect_value(&key, run_bytes)?;
                    batch.expect_value(&state_key, state_bytes)?;
                    batch.put(&key, run.counted(now).encode()?)?;
                    self.store.commit(batch).await?;
                    cx.audited = true;
                    return Ok(());
                }
            }
        }
        let mut batch = WriteBatch::new();
        cx.flush_repeats = true;
        let written = self.audit_into(cx, &mut batch, scope, vec![record.clone()], None, None).await?;
        let started = written.last().and_then(|e| RepeatedRefusal::start(&record, e.seq.saturating_add(1), now));
        if let Some(run) = started {
            batch.put(&key, run.encode()?)?;
        }
        self.commit_audited(cx, batch).await
    }

    /// Puts the summary of `scope`'s stored run (if it counted any repeat)
    /// before `records`, and deletes the counter in `batch`, with the
    /// precondition that nobody changed it since it was read. A counter that
    /// does not parse is deleted without a summary.
    pub(super) async fn flush_repeats(
        &self,
        batch: &mut WriteBatch,
        scope: &AuditScope,
        mut records: Vec<AuditRecord>,
    ) -> EngineResult<Vec<AuditRecord>> {
        let key = layout::audit_repeat(scope)?;
        let Some(bytes) = self.get(&key).await? else { return Ok(records) };
        let summary = RepeatedRefusal::decode(&bytes).ok().and_then(|run| run.summary());
        batch.expect_value(&key, bytes)?;
        batch.delete(&key)?;
        if let Some(summary) = summary {
            records.insert(0, summary);
        }
        Ok(records)
    }
}
