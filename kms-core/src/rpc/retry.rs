//! Which calls an engine may run again after losing a race.

use super::methods::Call;

impl Call {
    /// Whether a run of this call that lost a race to a concurrent change of
    /// the same store (another worker, another process) may simply be run
    /// again: each run reads what is stored afresh, and a lost run wrote
    /// nothing but its failure entry. Unlock is not among them: a second KDF
    /// run and throttle count for one attempt would be wrong; nor is any
    /// call the user started by hand (setup, enrollments, rotation), whose
    /// caller should see the conflict and decide.
    pub fn retries_on_conflict(&self) -> bool {
        matches!(
            self,
            Self::SignJwt(_) | Self::LeaseIssue(_) | Self::LeaseCourier(_) | Self::LeaseList(_) | Self::AuditExport(_)
        )
    }
}
