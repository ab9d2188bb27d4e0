//! Stage 5: the checkpoints the verifier held before. None may be larger
//! than the export (rollback), and each must match the export's entries at
//! its size (fork). Their scope and key were checked in stage 2.

use super::{fail, head_after, short, Failure, FailureReason};
use crate::audit::checkpoint::Checkpoint;

/// Checks each expected checkpoint against the chain `heads` of the
/// export's `count` entries, counting in `verified` those that match.
pub(super) fn check(
    expected: &[Checkpoint],
    heads: &[String],
    count: u64,
    verified: &mut usize,
) -> Result<(), Failure> {
    for (i, cp) in expected.iter().enumerate() {
        check_one(i, cp, heads, count)?;
        *verified = verified.saturating_add(1);
    }
    Ok(())
}

/// Expected checkpoint `i` is within the export and signs its head.
fn check_one(i: usize, cp: &Checkpoint, heads: &[String], count: u64) -> Result<(), Failure> {
    let Some(head) = head_after(heads, cp.size) else {
        return Err(fail(
            Some(count),
            None,
            FailureReason::Rollback,
            format!(
                "expected checkpoint #{i} covers {} entries, the export only {count}: this is an older copy or \
                 its tail was cut",
                cp.size
            ),
        ));
    };
    if cp.head != *head {
        return Err(fail(
            cp.size.checked_sub(1),
            None,
            FailureReason::Fork,
            format!(
                "expected checkpoint #{i} signs head {} after {} entries, the export has {}: the log forked",
                short(&cp.head),
                cp.size,
                short(head)
            ),
        ));
    }
    Ok(())
}
