//! The result of a verification: the report, its first failure and the
//! stable failure codes.

use serde::{Deserialize, Serialize};

// Only for the doc links (the doc comments are also the generated
// TypeScript's, so they keep their short form).
#[cfg(doc)]
use super::verify_export;

/// A stable, machine-readable reason for a failed verification. These
/// strings are part of the verify RPC and the CLI's `--json` output: never
/// rename one, only add.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureReason {
    /// The input is larger than the export size limit, or more expected
    /// checkpoints were given than [`super::MAX_EXPECTED_CHECKPOINTS`].
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
    /// The final checkpoint does not sign the nonce the verifier asked the
    /// export for: the export is not the one made for this request (an
    /// older one, replayed).
    NonceMismatch,
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
            Self::NonceMismatch => "nonce_mismatch",
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
    /// The `seq` of every `tamper_detected` entry in the export, once read:
    /// the engine found the stored log rewritten before each of them and
    /// refused to sign over it (the entry says where; see the warnings). A
    /// valid export can carry them: it is then an honest record of a
    /// tampered history.
    #[serde(default)]
    pub tamper_detected: Vec<u64>,
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
        if !self.tamper_detected.is_empty() {
            let seqs: Vec<String> = self.tamper_detected.iter().map(u64::to_string).collect();
            writeln!(f, "tampering found by the engine: tamper_detected at seq {}", seqs.join(", "))?;
        }
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

impl VerifyReport {
    /// A report of nothing verified yet; [`super::verify_export`] fills it
    /// in as the stages pass.
    pub(super) fn empty() -> Self {
        Self {
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
            tamper_detected: Vec::new(),
            warnings: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every reason, for the name test; the exhaustive match in `as_str`
    /// makes a new variant fail to compile until it has a name.
    const ALL: [FailureReason; 34] = [
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
        FailureReason::NonceMismatch,
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
