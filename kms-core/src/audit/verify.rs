//! Verification of an export: the one function ([`verify_export`]) behind
//! the engine's `verify` RPC, the browser and the CLI.
//!
//! # What is checked, in order
//!
//! The first failing check is reported ([`Failure`]: a stable
//! [`FailureReason`] code, the sequence number and the line where it was
//! found, and a sentence); later checks do not run.
//!
//! 1. **Reading** ([`super::parse_export`]): size and line limits, the line
//!    layout (one header first, then entries, then checkpoints), known line
//!    types and format version, every member's form, the canonical spelling
//!    of every line.
//! 2. **Key**: the header's `audit_kid` is the thumbprint of its key; the
//!    key equals [`VerifyOptions::expected_public_key`] if given; every
//!    [`VerifyOptions::expected_checkpoints`] is for this scope and verifies
//!    under the header's key (else the key was replaced).
//! 3. **Chain**, entry by entry in file order: the entry is of the header's
//!    scope; its `seq` is its position (0, 1, 2, ...); its `prev` is the hash
//!    of the entry before it (the genesis hash for the first); and, when
//!    [`VerifyOptions::mac_key0`] is given, its MAC verifies under `K_seq`.
//!    When `seq` or `prev` is wrong, the failure is classified from the
//!    surrounding entries (missing, out of order, inserted, or a broken
//!    link), so that each kind of tampering has its own code.
//! 4. **The export's checkpoints**, in file order: scope, key id, signature,
//!    size not beyond the entries, and head equal to the hash of entry
//!    `size - 1`. The last checkpoint must cover every entry, so an entry
//!    appended after the signing (or a truncated checkpoint section) is
//!    caught; the header's `count` must equal the entries and its
//!    `exported_ms` the last checkpoint's time.
//! 5. **Expected checkpoints** (ones the verifier saw before): none may be
//!    larger than the export (else this is an older copy, or its tail was
//!    cut: rollback), and each must match the export's entry at its size
//!    (else the log forked).
//!
//! What verification cannot show is listed in `warnings`: a header key that
//! nobody pinned (anyone can write a self-consistent export under a key of
//! their own), and MACs that were not checked.

use serde::{Deserialize, Serialize};

use super::chain::AuditMacKey;
use super::checkpoint::Checkpoint;
use super::entry::{entry_hash, genesis_hash, AuditEntry, AuditScope};
use super::export::{parse_export, shorten, Export};
use super::key::AuditPublicKey;

/// What the verifier knows beforehand. `Default` is "nothing": the export
/// is then only checked for internal consistency under the key it carries.
#[derive(Debug, Default)]
pub struct VerifyOptions {
    /// The audit public key the verifier trusts (pinned earlier, e.g. from
    /// the user's settings page). The header's key must equal it.
    pub expected_public_key: Option<AuditPublicKey>,
    /// Checkpoints the verifier saw before (from earlier exports or
    /// announcements). Each must verify under the header's key, be for the
    /// same scope, not be larger than the export, and match its entries.
    pub expected_checkpoints: Vec<Checkpoint>,
    /// `K_0` of the chain ([`super::audit_mac_key0`] for a user, derived by
    /// whoever can unlock): then every entry's MAC is checked.
    pub mac_key0: Option<AuditMacKey>,
}

/// A stable, machine-readable reason for a failed verification. These
/// strings are part of the verify RPC and the CLI's `--json` output: never
/// rename one, only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureReason {
    /// The input is larger than the export size limit.
    TooLarge,
    /// A line is longer than the line limit.
    LineTooLong,
    /// The input does not end with a newline: it was cut off.
    Truncated,
    /// A line is not one JSON object (garbled, empty, cut).
    MalformedLine,
    /// The first line is not a header.
    MissingHeader,
    /// A second header line.
    DuplicateHeader,
    /// A line whose `type` is not `header`, `entry` or `checkpoint`.
    UnknownLineType,
    /// The header names another format version.
    UnsupportedVersion,
    /// A member is missing, unknown, of the wrong type, or out of its
    /// limits.
    InvalidField,
    /// A line is not spelled in the canonical form (member order,
    /// whitespace, escapes).
    NonCanonical,
    /// An entry line after a checkpoint line.
    MisplacedLine,
    /// More entries than the limit.
    TooManyEntries,
    /// More checkpoints than the limit.
    TooManyCheckpoints,
    /// The header's `audit_kid` is not the thumbprint of its key.
    KidMismatch,
    /// The header's key is not the expected key, or a checkpoint the
    /// verifier holds does not verify under it: the audit key was replaced.
    AuditKeyMismatch,
    /// An entry or checkpoint is of another scope than the export (for
    /// example an entry moved from another user's log).
    ScopeMismatch,
    /// The first entry does not start from the scope's genesis hash.
    BadGenesis,
    /// An entry links correctly to its predecessor but carries the wrong
    /// sequence number.
    SeqNotContiguous,
    /// Sequence numbers jump forward and the skipped entries are nowhere:
    /// entries were deleted.
    EntryMissing,
    /// The entry that belongs here appears later in the file: entries were
    /// reordered.
    EntryOutOfOrder,
    /// An entry is not part of the chain: a second entry with a sequence
    /// number already used, or an entry its successor skips over.
    EntryInserted,
    /// An entry's `prev` is not the hash of the entry before it: one of the
    /// two was altered (or the chain was rewritten from here).
    LinkMismatch,
    /// An entry's MAC does not verify under the chain key for its `seq`.
    MacMismatch,
    /// A checkpoint of the export was signed by another key than the
    /// header's.
    CheckpointKeyMismatch,
    /// A checkpoint's signature does not verify: it was forged or altered.
    BadCheckpointSignature,
    /// A checkpoint covers more entries than the export holds: the tail
    /// past it was deleted.
    CheckpointBeyondEntries,
    /// A checkpoint's head is not the hash of the entry at its size.
    CheckpointHeadMismatch,
    /// No checkpoint covers all the entries: entries were appended after
    /// the final signature, or the final checkpoint is gone.
    MissingFinalCheckpoint,
    /// The header's `count` is not the number of entry lines.
    CountMismatch,
    /// The header's `exported_ms` is not the final checkpoint's time.
    ExportTimeMismatch,
    /// A checkpoint the verifier holds is larger than the export: this is
    /// an older copy, or its tail was cut.
    Rollback,
    /// A checkpoint the verifier holds disagrees with the export's entry at
    /// its size: two different histories were signed.
    Fork,
    /// The verifier itself failed (cannot happen with a correct build).
    Internal,
}

impl FailureReason {
    /// The code as it appears in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::TooLarge => "too_large",
            Self::LineTooLong => "line_too_long",
            Self::Truncated => "truncated",
            Self::MalformedLine => "malformed_line",
            Self::MissingHeader => "missing_header",
            Self::DuplicateHeader => "duplicate_header",
            Self::UnknownLineType => "unknown_line_type",
            Self::UnsupportedVersion => "unsupported_version",
            Self::InvalidField => "invalid_field",
            Self::NonCanonical => "non_canonical",
            Self::MisplacedLine => "misplaced_line",
            Self::TooManyEntries => "too_many_entries",
            Self::TooManyCheckpoints => "too_many_checkpoints",
            Self::KidMismatch => "kid_mismatch",
            Self::AuditKeyMismatch => "audit_key_mismatch",
            Self::ScopeMismatch => "scope_mismatch",
            Self::BadGenesis => "bad_genesis",
            Self::SeqNotContiguous => "seq_not_contiguous",
            Self::EntryMissing => "entry_missing",
            Self::EntryOutOfOrder => "entry_out_of_order",
            Self::EntryInserted => "entry_inserted",
            Self::LinkMismatch => "link_mismatch",
            Self::MacMismatch => "mac_mismatch",
            Self::CheckpointKeyMismatch => "checkpoint_key_mismatch",
            Self::BadCheckpointSignature => "bad_checkpoint_signature",
            Self::CheckpointBeyondEntries => "checkpoint_beyond_entries",
            Self::CheckpointHeadMismatch => "checkpoint_head_mismatch",
            Self::MissingFinalCheckpoint => "missing_final_checkpoint",
            Self::CountMismatch => "count_mismatch",
            Self::ExportTimeMismatch => "export_time_mismatch",
            Self::Rollback => "rollback",
            Self::Fork => "fork",
            Self::Internal => "internal",
        }
    }
}

impl std::fmt::Display for FailureReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The first thing that did not verify.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Failure {
    /// The sequence number the failure is about, when there is one:
    /// - entry checks: the position in the chain where it broke (for
    ///   `entry_inserted`, the sequence number that appears twice or the
    ///   entry the chain skips over);
    /// - `checkpoint_beyond_entries`, `missing_final_checkpoint`, `rollback`:
    ///   the first sequence number missing or not covered by a signature;
    /// - `checkpoint_head_mismatch`, `fork`: the last sequence number the
    ///   checkpoint covers (`size - 1`);
    /// - otherwise (format, key and signature failures) none.
    pub seq: Option<u64>,
    /// The 1-based line of the export, when the failure is on a line (not
    /// for a checkpoint the verifier supplied).
    pub line: Option<usize>,
    pub reason: FailureReason,
    /// A sentence for people. Not stable; switch on `reason`.
    pub detail: String,
}

/// The result of [`verify_export`]. Serializes to the JSON the verify RPC
/// and `kms audit verify --json` return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct VerifyReport {
    /// True only when every check passed. Warnings do not make it false.
    pub valid: bool,
    /// The header's scope, once the export was read.
    pub scope: Option<String>,
    /// The header's `audit_kid`, once the export was read.
    pub audit_kid: Option<String>,
    /// When the export was made, as the header says (ms since the Unix
    /// epoch). In a valid export it is the final checkpoint's signed time:
    /// an export presented as current but made long ago is an old copy.
    pub exported_ms: Option<u64>,
    /// The number of entry lines, once the export was read.
    pub entries: u64,
    /// How many of the export's checkpoints verified (0 if verification
    /// stopped before the checkpoints).
    pub checkpoints_verified: usize,
    /// How many of the verifier's expected checkpoints were matched against
    /// the export.
    pub expected_checkpoints_verified: usize,
    /// Whether every entry's MAC was checked and verified.
    pub macs_checked: bool,
    /// The export's head (hash of its last entry, base64url), once read.
    pub head: Option<String>,
    pub first_failure: Option<Failure>,
    /// What the verification could not establish (trust in an unpinned key,
    /// MACs not checked, timestamps going backwards).
    pub warnings: Vec<String>,
}

impl std::fmt::Display for VerifyReport {
    /// A human report, as the CLI prints it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "{}", if self.valid { "VALID" } else { "INVALID" })?;
        writeln!(f, "scope: {}", self.scope.as_deref().unwrap_or("-"))?;
        writeln!(f, "audit key: {}", self.audit_kid.as_deref().unwrap_or("-"))?;
        let exported = self.exported_ms.map_or_else(|| "-".to_owned(), |t| t.to_string());
        writeln!(f, "exported (ms since epoch): {exported}")?;
        writeln!(f, "entries: {}", self.entries)?;
        writeln!(f, "head: {}", self.head.as_deref().unwrap_or("-"))?;
        writeln!(
            f,
            "checkpoints verified: {} (expected checkpoints matched: {})",
            self.checkpoints_verified, self.expected_checkpoints_verified
        )?;
        writeln!(f, "MACs checked: {}", if self.macs_checked { "yes" } else { "no" })?;
        if let Some(fail) = &self.first_failure {
            let seq = fail.seq.map_or_else(|| "-".to_owned(), |s| s.to_string());
            let line = fail.line.map_or_else(|| "-".to_owned(), |l| l.to_string());
            writeln!(f, "first failure: {} at seq {seq}, line {line}: {}", fail.reason, fail.detail)?;
        }
        for w in &self.warnings {
            writeln!(f, "warning: {w}")?;
        }
        Ok(())
    }
}

fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

fn fail(seq: Option<u64>, line: Option<usize>, reason: FailureReason, detail: impl Into<String>) -> Failure {
    Failure { seq, line, reason, detail: detail.into() }
}

/// The first 8 characters of a base64url hash, for details.
fn short(h: &str) -> String {
    shorten(h, 8)
}

/// Verifies an export (see the module docs for the checks and their
/// order). Total: any input gives a report, never a panic.
pub fn verify_export(text: &str, opts: &VerifyOptions) -> VerifyReport {
    let mut report = VerifyReport {
        valid: false,
        scope: None,
        audit_kid: None,
        exported_ms: None,
        entries: 0,
        checkpoints_verified: 0,
        expected_checkpoints_verified: 0,
        macs_checked: false,
        head: None,
        first_failure: None,
        warnings: Vec::new(),
    };
    let export = match parse_export(text) {
        Ok(e) => e,
        Err(e) => {
            report.first_failure = Some(fail(None, e.line(), e.reason(), e.to_string()));
            return report;
        }
    };
    report.scope = Some(export.header.scope.to_string());
    report.audit_kid = Some(export.header.audit_kid.to_string());
    report.exported_ms = Some(export.header.exported_ms);
    report.entries = to_u64(export.entries.len());
    warn_about_trust(&export, opts, &mut report.warnings);
    // heads[k] is the chain head after k entries: the genesis hash, then the
    // hash of each entry as exported.
    let mut heads = Vec::with_capacity(export.entries.len().saturating_add(1));
    heads.push(crate::b64::encode(genesis_hash(&export.header.scope)));
    for e in &export.entries {
        match entry_hash(e) {
            Ok(h) => heads.push(crate::b64::encode(h)),
            Err(_) => {
                report.first_failure =
                    Some(fail(Some(e.seq), None, FailureReason::Internal, "could not hash an entry"));
                return report;
            }
        }
    }
    report.head = heads.last().cloned();
    match check(&export, &heads, opts, &mut report) {
        Ok(()) => report.valid = true,
        Err(f) => report.first_failure = Some(f),
    }
    report
}

fn warn_about_trust(export: &Export, opts: &VerifyOptions, warnings: &mut Vec<String>) {
    if opts.expected_public_key.is_none() && opts.expected_checkpoints.is_empty() {
        warnings.push(format!(
            "no expected key pinned: trusted the key in the header (kid {}); anyone can make a consistent export \
             under a key of their own",
            export.header.audit_kid
        ));
    }
    if opts.mac_key0.is_none() {
        let why = match export.header.scope {
            AuditScope::User(_) => "unlock to check them",
            AuditScope::Instance => {
                "the instance chain's first MAC key is random and not kept; its integrity rests on hash links and \
                 signed checkpoints"
            }
        };
        warnings.push(format!("MACs not checked (no key): {why}"));
    }
    let mut last_ts = None;
    for e in &export.entries {
        if last_ts.is_some_and(|t| e.ts_ms < t) {
            warnings.push(format!("timestamps go backwards at seq {} (the engine's clock was set back?)", e.seq));
            break;
        }
        last_ts = Some(e.ts_ms);
    }
}

fn check(export: &Export, heads: &[String], opts: &VerifyOptions, report: &mut VerifyReport) -> Result<(), Failure> {
    let header = &export.header;
    let key = &header.audit_public_key;
    let n_entries = export.entries.len();
    let count = to_u64(n_entries);

    // 2. The key.
    if key.kid() != header.audit_kid {
        return Err(fail(
            None,
            Some(1),
            FailureReason::KidMismatch,
            "the header's audit_kid is not the thumbprint of its audit_public_key",
        ));
    }
    if let Some(expected) = &opts.expected_public_key {
        if expected != key {
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
    }
    for (i, cp) in opts.expected_checkpoints.iter().enumerate() {
        if cp.scope != header.scope {
            return Err(fail(
                None,
                None,
                FailureReason::ScopeMismatch,
                format!("expected checkpoint #{i} is for {}, the export is for {}", cp.scope, header.scope),
            ));
        }
        if !cp.verify(key) {
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
    }

    // 3. The chain.
    let mut mac_key = opts.mac_key0.as_ref().map(AuditMacKey::duplicate);
    for (i, e) in export.entries.iter().enumerate() {
        let expected = to_u64(i);
        let line = Some(i.saturating_add(2));
        let at = Some(expected);
        if e.scope != header.scope {
            return Err(fail(
                at,
                line,
                FailureReason::ScopeMismatch,
                format!("the entry at seq {expected} is from {}, the export is for {}", e.scope, header.scope),
            ));
        }
        let head = heads.get(i).map_or("", String::as_str);
        let links = e.prev == head;
        if e.seq != expected {
            return Err(classify_seq(export, i, e, links));
        }
        if !links {
            if i == 0 {
                return Err(fail(
                    at,
                    line,
                    FailureReason::BadGenesis,
                    format!("the first entry does not start from the genesis hash of {}", header.scope),
                ));
            }
            // The entry links to the one two places back: the one in
            // between is not part of the chain.
            let skipped = i.checked_sub(1).and_then(|k| heads.get(k)).is_some_and(|h| *h == e.prev);
            if skipped {
                let ins = expected.saturating_sub(1);
                return Err(fail(
                    Some(ins),
                    Some(i.saturating_add(1)),
                    FailureReason::EntryInserted,
                    format!("entry {expected} links past the entry at seq {ins}, which is not part of the chain"),
                ));
            }
            return Err(fail(
                at,
                line,
                FailureReason::LinkMismatch,
                format!(
                    "entry {expected} commits to a predecessor with hash {}, but entry {} hashes to {}: one of them \
                     was altered",
                    short(&e.prev),
                    expected.saturating_sub(1),
                    short(head)
                ),
            ));
        }
        if let Some(k) = mac_key.take() {
            if !k.verify_entry(e) {
                return Err(fail(
                    at,
                    line,
                    FailureReason::MacMismatch,
                    format!("the MAC of entry {expected} does not verify: the entry was altered or forged"),
                ));
            }
            mac_key = Some(k.evolve());
        }
    }
    report.macs_checked = opts.mac_key0.is_some();

    // 4. The export's checkpoints.
    let first_cp_line = n_entries.saturating_add(2);
    for (j, cp) in export.checkpoints.iter().enumerate() {
        let line = Some(first_cp_line.saturating_add(j));
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
        if !cp.verify(key) {
            return Err(fail(
                None,
                line,
                FailureReason::BadCheckpointSignature,
                format!("the signature of the checkpoint over {} entries does not verify", cp.size),
            ));
        }
        let Some(expected_head) = usize::try_from(cp.size).ok().and_then(|s| heads.get(s)) else {
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
        report.checkpoints_verified = report.checkpoints_verified.saturating_add(1);
    }
    match export.checkpoints.last() {
        Some(last) if last.size == count => {}
        last => {
            let covered = last.map_or(0, |c| c.size);
            return Err(fail(
                Some(covered),
                last.map(|_| first_cp_line.saturating_add(export.checkpoints.len()).saturating_sub(1)),
                FailureReason::MissingFinalCheckpoint,
                format!(
                    "no final checkpoint covers all {count} entries (the last covers {covered}): entries from seq \
                     {covered} on are not signed"
                ),
            ));
        }
    }
    if header.count != count {
        return Err(fail(
            None,
            Some(1),
            FailureReason::CountMismatch,
            format!("the header announces {} entries, the export holds {count}", header.count),
        ));
    }
    let final_ts = export.checkpoints.last().map_or(0, |c| c.ts_ms);
    if header.exported_ms != final_ts {
        return Err(fail(
            None,
            Some(1),
            FailureReason::ExportTimeMismatch,
            format!("the header's exported_ms {} is not the final checkpoint's time {final_ts}", header.exported_ms),
        ));
    }

    // 5. Checkpoints the verifier held.
    for (i, cp) in opts.expected_checkpoints.iter().enumerate() {
        let Some(head) = usize::try_from(cp.size).ok().and_then(|s| heads.get(s)) else {
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
        report.expected_checkpoints_verified = report.expected_checkpoints_verified.saturating_add(1);
    }
    Ok(())
}

/// An entry at position `i` whose `seq` is not `i`: say what most likely
/// happened.
fn classify_seq(export: &Export, i: usize, e: &AuditEntry, links: bool) -> Failure {
    let expected = to_u64(i);
    let line = Some(i.saturating_add(2));
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reason, for the name test; the exhaustive match in `as_str`
    /// makes a new variant fail to compile until it has a name.
    const ALL: [FailureReason; 33] = [
        FailureReason::TooLarge,
        FailureReason::LineTooLong,
        FailureReason::Truncated,
        FailureReason::MalformedLine,
        FailureReason::MissingHeader,
        FailureReason::DuplicateHeader,
        FailureReason::UnknownLineType,
        FailureReason::UnsupportedVersion,
        FailureReason::InvalidField,
        FailureReason::NonCanonical,
        FailureReason::MisplacedLine,
        FailureReason::TooManyEntries,
        FailureReason::TooManyCheckpoints,
        FailureReason::KidMismatch,
        FailureReason::AuditKeyMismatch,
        FailureReason::ScopeMismatch,
        FailureReason::BadGenesis,
        FailureReason::SeqNotContiguous,
        FailureReason::EntryMissing,
        FailureReason::EntryOutOfOrder,
        FailureReason::EntryInserted,
        FailureReason::LinkMismatch,
        FailureReason::MacMismatch,
        FailureReason::CheckpointKeyMismatch,
        FailureReason::BadCheckpointSignature,
        FailureReason::CheckpointBeyondEntries,
        FailureReason::CheckpointHeadMismatch,
        FailureReason::MissingFinalCheckpoint,
        FailureReason::CountMismatch,
        FailureReason::ExportTimeMismatch,
        FailureReason::Rollback,
        FailureReason::Fork,
        FailureReason::Internal,
    ];

    #[test]
    fn reason_names_match_serde_and_are_unique() {
        let mut names = Vec::new();
        for r in ALL {
            assert_eq!(serde_json::to_string(&r).ok(), Some(format!("\"{r}\"")));
            assert_eq!(serde_json::from_str::<FailureReason>(&format!("\"{r}\"")).ok(), Some(r));
            names.push(r.as_str());
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }
}
