//! Which calls an engine may run again after losing a race.

use super::methods::Call;

impl Call {
    /// Whether a run of this call that lost a race to a concurrent change of
    /// the same store (another worker, another process) may simply be run
    /// again: each run reads what is stored afresh, and a lost run wrote
    /// nothing but its failure entry.
    ///
    /// Unlock with a passphrase or a PRF output is among them: a lost run
    /// wrote nothing (a failed attempt writes its own count, and tries that
    /// write again itself), so a second run costs one more KDF and counts
    /// nothing twice. A gate-mode unlock is not: its run spent the
    /// single-use challenge. Nor is any call the user started by hand
    /// (setup, enrollments, rotation), whose caller should see the conflict
    /// and decide.
    pub fn retries_on_conflict(&self) -> bool {
        match self {
            Self::Unlock(p) => !matches!(p.credential, super::UnlockCredential::PasskeyGate { .. }),
            Self::Lock(_)
            | Self::SignJwt(_)
            | Self::LeaseIssue(_)
            | Self::LeaseCourier(_)
            | Self::LeaseList(_)
            | Self::AuditExport(_) => true,
            _ => false,
        }
    }
}
