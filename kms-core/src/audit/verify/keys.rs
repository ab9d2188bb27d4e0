//! Stage 2: the key. The header's key must be the one its kid names, the
//! pinned key if there is one, and the key of every checkpoint the verifier
//! holds.

use super::{fail, Failure, FailureReason, VerifyOptions};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::export::ExportHeader;
use crate::audit::key::AuditPublicKey;

/// Runs the key checks in order: kid, pinned key, expected checkpoints.
pub(super) fn check(header: &ExportHeader, opts: &VerifyOptions) -> Result<(), Failure> {
    check_kid(header)?;
    if let Some(expected) = &opts.expected_public_key {
        check_pinned(header, expected)?;
    }
    for (i, cp) in opts.expected_checkpoints.iter().enumerate() {
        check_expected_checkpoint(header, i, cp)?;
    }
    Ok(())
}

/// The header's `audit_kid` is the thumbprint of its key.
fn check_kid(header: &ExportHeader) -> Result<(), Failure> {
    if header.audit_public_key.kid() != header.audit_kid {
        return Err(fail(
            None,
            Some(1),
            FailureReason::KidMismatch,
            "the header's audit_kid is not the thumbprint of its audit_public_key",
        ));
    }
    Ok(())
}

/// The header's key is the key the verifier pinned.
fn check_pinned(header: &ExportHeader, expected: &AuditPublicKey) -> Result<(), Failure> {
    if *expected != header.audit_public_key {
        return Err(fail(
            None,
            Some(1),
            FailureReason::AuditKeyMismatch,
            format!(
                "the export's audit key (kid {}) is not the expected key (kid {})",
                header.audit_kid,
                expected.kid()
            ),
        ));
    }
    Ok(())
}

/// Expected checkpoint `i` is of the export's scope and verifies under the
/// header's key (else the key was replaced). Whether its head matches the
/// entries is stage 5.
fn check_expected_checkpoint(header: &ExportHeader, i: usize, cp: &Checkpoint) -> Result<(), Failure> {
    if cp.scope != header.scope {
        return Err(fail(
            None,
            None,
            FailureReason::ScopeMismatch,
            format!("expected checkpoint #{i} is for {}, the export is for {}", cp.scope, header.scope),
        ));
    }
    if !cp.verify(&header.audit_public_key) {
        return Err(fail(
            None,
            None,
            FailureReason::AuditKeyMismatch,
            format!(
                "expected checkpoint #{i} (size {}, kid {}) does not verify under the export's key (kid {}): \
                 the audit key was replaced",
                cp.size, cp.kid, header.audit_kid
            ),
        ));
    }
    Ok(())
}
