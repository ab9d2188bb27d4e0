//! Stage 3: the chain, entry by entry in file order: scope, position
//! (`seq` and `prev`), then the MAC when `K_0` is known.

use super::{fail, short, to_u64, Failure, FailureReason};
use crate::audit::chain::{key_for, AuditMacKey};
use crate::audit::entry::{AuditEntry, AuditScope, EventKind};
use crate::audit::export::Export;

/// Checks every entry; with `mac_key0`, the MAC of entry `i` under `K_i`
/// (`K_i` evolved from `K_{i-1}`, except that a `tamper_detected` or
/// `rekey` entry starts a segment under the segment key of its `seq`).
///
/// `mac_key0` is the *current* master secret's: after a `rekey`, entries
/// before the last authentic `rekey` entry are under an earlier master
/// secret's keys, so MACs are checked from that entry on (its `seq` is
/// returned; `0` when there was none).
pub(super) fn check(export: &Export, heads: &[String], mac_key0: Option<&AuditMacKey>) -> Result<u64, Failure> {
    let epoch = mac_key0.and_then(|k0| epoch_start(export, k0)).unwrap_or(0);
    let mut mac_key = mac_key0.map(AuditMacKey::duplicate);
    for (i, e) in export.entries.iter().enumerate() {
        check_scope(&export.header.scope, i, e)?;
        check_position(export, heads, i, e)?;
        if i < epoch {
            continue;
        }
        if let (Some(evolved), Some(k0)) = (mac_key.take(), mac_key0) {
            let k = key_for(e, evolved, k0).map_err(|_| {
                fail(Some(e.seq), entry_line(i), FailureReason::Internal, "could not derive a segment key")
            })?;
            check_mac(&k, i, e)?;
            mac_key = Some(k.evolve());
        }
    }
    Ok(to_u64(epoch))
}

/// The position of the last `rekey` entry whose MAC verifies under the
/// segment key of its `seq` from `k0` (only a holder of the master secret
/// `k0` comes from can have written it); its link is checked with the
/// others.
fn epoch_start(export: &Export, k0: &AuditMacKey) -> Option<usize> {
    export.entries.iter().rposition(|e| {
        e.event == EventKind::Rekey
            && e.outcome == crate::audit::Outcome::Ok
            && AuditMacKey::segment(k0, e.seq).is_ok_and(|k| k.verify_entry(e))
    })
}

/// The 1-based line of the entry at position `i` (the header is line 1).
fn entry_line(i: usize) -> Option<usize> {
    Some(i.saturating_add(2))
}

/// The entry is of the export's scope.
fn check_scope(scope: &AuditScope, i: usize, e: &AuditEntry) -> Result<(), Failure> {
    if e.scope != *scope {
        let expected = to_u64(i);
        return Err(fail(
            Some(expected),
            entry_line(i),
            FailureReason::ScopeMismatch,
            format!("the entry at seq {expected} is from {}, the export is for {scope}", e.scope),
        ));
    }
    Ok(())
}

/// The entry's `seq` is its position and its `prev` the head before it; a
/// wrong `seq` is classified first, then a broken link.
fn check_position(export: &Export, heads: &[String], i: usize, e: &AuditEntry) -> Result<(), Failure> {
    let head = heads.get(i).map_or("", String::as_str);
    let links = e.prev == head;
    if e.seq != to_u64(i) {
        return Err(classify_seq(export, i, e, links));
    }
    if !links {
        return Err(classify_link(&export.header.scope, heads, i, e, head));
    }
    Ok(())
}

/// The entry's MAC verifies under `k` (`K_i`).
fn check_mac(k: &AuditMacKey, i: usize, e: &AuditEntry) -> Result<(), Failure> {
    if !k.verify_entry(e) {
        let expected = to_u64(i);
        return Err(fail(
            Some(expected),
            entry_line(i),
            FailureReason::MacMismatch,
            format!("the MAC of entry {expected} does not verify: the entry was altered or forged"),
        ));
    }
    Ok(())
}

/// An entry at position `i` whose `seq` is not `i`: say what most likely
/// happened.
fn classify_seq(export: &Export, i: usize, e: &AuditEntry, links: bool) -> Failure {
    let expected = to_u64(i);
    let line = entry_line(i);
    if links {
        return fail(
            Some(expected),
            line,
            FailureReason::SeqNotContiguous,
            format!("the entry after seq {} carries seq {} instead of {expected}", expected.saturating_sub(1), e.seq),
        );
    }
    if e.seq < expected {
        return fail(
            Some(e.seq),
            line,
            FailureReason::EntryInserted,
            format!("a second entry with seq {} (at position {expected}): an entry was inserted or duplicated", e.seq),
        );
    }
    let later = export.entries.get(i.saturating_add(1)..).unwrap_or_default();
    if later.iter().any(|x| x.seq == expected) {
        return fail(
            Some(expected),
            line,
            FailureReason::EntryOutOfOrder,
            format!("entry {expected} appears later in the file, after entry {}: entries were reordered", e.seq),
        );
    }
    fail(
        Some(expected),
        line,
        FailureReason::EntryMissing,
        format!("entries {expected} to {} are missing (the next entry present is {})", e.seq.saturating_sub(1), e.seq),
    )
}

/// An entry at position `i`, with the right `seq`, whose `prev` is not
/// `head` (the hash of the entry before it): say what most likely happened.
fn classify_link(scope: &AuditScope, heads: &[String], i: usize, e: &AuditEntry, head: &str) -> Failure {
    let expected = to_u64(i);
    let line = entry_line(i);
    if i == 0 {
        return fail(
            Some(expected),
            line,
            FailureReason::BadGenesis,
            format!("the first entry does not start from the genesis hash of {scope}"),
        );
    }
    // The entry links to the one two places back: the one in between is
    // not part of the chain.
    let skipped = i.checked_sub(1).and_then(|k| heads.get(k)).is_some_and(|h| *h == e.prev);
    if skipped {
        let ins = expected.saturating_sub(1);
        return fail(
            Some(ins),
            Some(i.saturating_add(1)),
            FailureReason::EntryInserted,
            format!("entry {expected} links past the entry at seq {ins}, which is not part of the chain"),
        );
    }
    fail(
        Some(expected),
        line,
        FailureReason::LinkMismatch,
        format!(
            "entry {expected} commits to a predecessor with hash {}, but entry {} hashes to {}: one of them \
             was altered",
            short(&e.prev),
            expected.saturating_sub(1),
            short(head)
        ),
    )
}
