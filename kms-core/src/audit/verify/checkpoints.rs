//! Stage 4: the export's own checkpoints, in file order, then what the
//! last one and the header must say about the whole export.

use super::{fail, head_after, short, to_u64, Failure, FailureReason};
use crate::audit::checkpoint::Checkpoint;
use crate::audit::export::{Export, ExportHeader};

/// Checks each checkpoint of the export, counting in `verified` those that
/// pass (the count stays in the report when a later one fails).
pub(super) fn check(export: &Export, heads: &[String], verified: &mut usize) -> Result<(), Failure> {
    let count = to_u64(export.entries.len());
    let first_line = first_checkpoint_line(export);
    for (j, cp) in export.checkpoints.iter().enumerate() {
        check_one(&export.header, heads, count, cp, Some(first_line.saturating_add(j)))?;
        *verified = verified.saturating_add(1);
    }
    Ok(())
}

/// After every checkpoint verified: the last one covers every entry, and
/// the header's `count` and `exported_ms` agree with the export.
pub(super) fn check_final(export: &Export) -> Result<(), Failure> {
    let count = to_u64(export.entries.len());
    check_final_covers_all(export, count)?;
    check_header_count(&export.header, count)?;
    let final_ts = export.checkpoints.last().map_or(0, |c| c.ts_ms);
    check_header_time(&export.header, final_ts)
}

/// With a nonce expected: the final checkpoint (checked above) signs it.
pub(super) fn check_nonce(export: &Export, expected: Option<&str>) -> Result<(), Failure> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let last = export.checkpoints.last();
    if last.and_then(|c| c.nonce.as_deref()) == Some(expected) {
        return Ok(());
    }
    let line = first_checkpoint_line(export).saturating_add(export.checkpoints.len()).saturating_sub(1);
    let found = match last.and_then(|c| c.nonce.as_deref()) {
        Some(other) => format!("nonce {other}"),
        None => "no nonce".to_owned(),
    };
    Err(fail(
        last.map(|c| c.size),
        last.map(|_| line),
        FailureReason::NonceMismatch,
        format!("the final checkpoint signs {found}, not the nonce {expected} this export was asked for: it is not the export made for this request"),
    ))
}

/// The 1-based line of the first checkpoint: after the header and the
/// entries.
fn first_checkpoint_line(export: &Export) -> usize {
    export.entries.len().saturating_add(2)
}

/// One checkpoint on `line`: scope, key id, signature, size not beyond
/// the `count` entries, head equal to the chain's head at its size.
fn check_one(
    header: &ExportHeader,
    heads: &[String],
    count: u64,
    cp: &Checkpoint,
    line: Option<usize>,
) -> Result<(), Failure> {
    if cp.scope != header.scope {
        return Err(fail(
            None,
            line,
            FailureReason::ScopeMismatch,
            format!("the checkpoint is for {}, the export is for {}", cp.scope, header.scope),
        ));
    }
    if cp.kid != header.audit_kid {
        return Err(fail(
            None,
            line,
            FailureReason::CheckpointKeyMismatch,
            format!("the checkpoint names key {}, the header's key is {}", cp.kid, header.audit_kid),
        ));
    }
    if !cp.verify(&header.audit_public_key) {
        return Err(fail(
            None,
            line,
            FailureReason::BadCheckpointSignature,
            format!("the signature of the checkpoint over {} entries does not verify", cp.size),
        ));
    }
    let Some(expected_head) = head_after(heads, cp.size) else {
        return Err(fail(
            Some(count),
            line,
            FailureReason::CheckpointBeyondEntries,
            format!(
                "a validly signed checkpoint covers {} entries but the export holds {count}: entries from seq \
                 {count} on were deleted",
                cp.size
            ),
        ));
    };
    if cp.head != *expected_head {
        return Err(fail(
            cp.size.checked_sub(1),
            line,
            FailureReason::CheckpointHeadMismatch,
            format!(
                "the checkpoint signs head {} after {} entries, but the export's entries give {}",
                short(&cp.head),
                cp.size,
                short(expected_head)
            ),
        ));
    }
    Ok(())
}

/// The last checkpoint covers all `count` entries: nothing was appended
/// after the final signature, and the final checkpoint is there.
fn check_final_covers_all(export: &Export, count: u64) -> Result<(), Failure> {
    match export.checkpoints.last() {
        Some(last) if last.size == count => Ok(()),
        last => {
            let covered = last.map_or(0, |c| c.size);
            let last_line = first_checkpoint_line(export).saturating_add(export.checkpoints.len()).saturating_sub(1);
            Err(fail(
                Some(covered),
                last.map(|_| last_line),
                FailureReason::MissingFinalCheckpoint,
                format!(
                    "no final checkpoint covers all {count} entries (the last covers {covered}): entries from seq \
                     {covered} on are not signed"
                ),
            ))
        }
    }
}

/// The header's `count` is the number of entry lines.
fn check_header_count(header: &ExportHeader, count: u64) -> Result<(), Failure> {
    if header.count != count {
        return Err(fail(
            None,
            Some(1),
            FailureReason::CountMismatch,
            format!("the header announces {} entries, the export holds {count}", header.count),
        ));
    }
    Ok(())
}

/// The header's `exported_ms` is the final checkpoint's time.
fn check_header_time(header: &ExportHeader, final_ts: u64) -> Result<(), Failure> {
    if header.exported_ms != final_ts {
        return Err(fail(
            None,
            Some(1),
            FailureReason::ExportTimeMismatch,
            format!("the header's exported_ms {} is not the final checkpoint's time {final_ts}", header.exported_ms),
        ));
    }
    Ok(())
}
