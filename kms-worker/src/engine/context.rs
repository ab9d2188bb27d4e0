//! What one call carries from its start to its answer, and no longer: the
//! engine struct keeps only what outlives a call (store, platform, sessions,
//! ceremonies, the chains' committed tails).

use super::audit::AuditTail;

/// The state of one call. [`super::Kms::run`] makes a fresh one per call and
/// passes it to the operation, which is the only place that can change it.
#[derive(Default)]
pub(super) struct CallContext {
    /// Set by an operation that audited itself (in its own batch), so the
    /// failure audit after the call does not write a second entry.
    pub audited: bool,
    /// A precise failure reason for the audit log that the caller does not
    /// see (why a WebAuthn assertion was refused).
    pub failure_reason: Option<&'static str>,
    /// The chain tails written into the batch being built, kept by the
    /// engine once that batch commits (and dropped if it does not).
    pub pending_tails: Vec<AuditTail>,
    /// The verifier's nonce the next checkpoint of this call signs
    /// (`audit_export` asked with one); taken by that checkpoint.
    pub checkpoint_nonce: Option<String>,
    /// The nonce and time of the courier request this call serves
    /// (`lease_courier`), remembered by the lease record it writes.
    pub courier_nonce: Option<(String, u64)>,
}
