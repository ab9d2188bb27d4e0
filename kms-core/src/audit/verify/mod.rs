//! Verification of an export: the one function ([`verify_export`]) behind
//! the engine's `verify` RPC, the browser and the CLI.
//!
//! Before anything else, more than [`MAX_EXPECTED_CHECKPOINTS`] expected
//! checkpoints are refused (`too_large`): each costs a signature check.
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
//!    [`VerifyOptions::mac_key0`] is given, its MAC verifies under `K_seq`
//!    (from the last authentic `rekey` entry on, when there is one: the
//!    entries before it are under an earlier master secret's keys).
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
//!
//! # Layout
//!
//! One file per stage, each returning the first [`Failure`] of its stage:
//! `keys.rs` (2), `entries.rs` (3), `checkpoints.rs` (4), `expected.rs`
//! (5); stage 1 is [`super::parse_export`]. `report.rs` holds the report
//! types. This file runs the stages in order and fills in the report.

mod checkpoints;
mod entries;
mod expected;
mod keys;
mod report;

pub use report::{Failure, FailureReason, VerifyReport};

use super::chain::AuditMacKey;
use super::checkpoint::Checkpoint;
use super::entry::{entry_hash, genesis_hash, AuditScope};
use super::export::{parse_export, shorten, Export};
use super::key::AuditPublicKey;

/// At most this many [`VerifyOptions::expected_checkpoints`]; more are
/// refused (`too_large`) before the export is read.
///
/// Each expected checkpoint costs one ES256 verification (stage 2; stage 5
/// is one lookup by its `size`), and `audit_verify` is an RPC without a
/// session, so the list must be bounded by what a legitimate caller needs,
/// not by the request size (an 11 MiB request holds some 40,000). A
/// verifier pins the checkpoints it kept from earlier exports: an export
/// carries at most the engine's last 64 per chain (`KEPT_CHECKPOINTS` in
/// `kms-worker/src/engine/audit.rs`), and an auditor holds one per export
/// it kept, usually a few. 1,024 is 16 times the engine's window (every
/// checkpoint of 16 full exports), and caps this list's cost at 1,024
/// signature checks (about 0.2 s natively).
pub const MAX_EXPECTED_CHECKPOINTS: usize = 1024;

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
    /// The nonce the verifier asked the export for (`audit_export`'s
    /// `nonce`): the final checkpoint must sign exactly it, so an older
    /// export presented as fresh is refused (`nonce_mismatch`).
    pub expected_nonce: Option<String>,
}

/// Verifies an export (see the module docs for the checks and their
/// order). Total: any input gives a report, never a panic.
pub fn verify_export(text: &str, opts: &VerifyOptions) -> VerifyReport {
    let mut report = VerifyReport::empty();
    if let Some(f) = check_expected_count(opts.expected_checkpoints.len()) {
        report.first_failure = Some(f);
        return report;
    }
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
    report.tamper_detected =
        export.entries.iter().filter(|e| e.event == crate::audit::EventKind::TamperDetected).map(|e| e.seq).collect();
    warn_about_trust(&export, opts, &mut report.warnings);
    let heads = match chain_heads(&export) {
        Ok(heads) => heads,
        Err(f) => {
            report.first_failure = Some(f);
            return report;
        }
    };
    report.head = heads.last().cloned();
    match check(&export, &heads, opts, &mut report) {
        Ok(()) => report.valid = true,
        Err(f) => report.first_failure = Some(f),
    }
    report
}

/// More expected checkpoints than [`MAX_EXPECTED_CHECKPOINTS`] fail before
/// any other work.
fn check_expected_count(n: usize) -> Option<Failure> {
    (n > MAX_EXPECTED_CHECKPOINTS).then(|| {
        fail(
            None,
            None,
            FailureReason::TooLarge,
            format!("{n} expected checkpoints: at most {MAX_EXPECTED_CHECKPOINTS} are accepted"),
        )
    })
}

/// `heads[k]` is the chain head after `k` entries: the genesis hash, then
/// the hash of each entry as exported.
fn chain_heads(export: &Export) -> Result<Vec<String>, Failure> {
    let mut heads = Vec::with_capacity(export.entries.len().saturating_add(1));
    heads.push(crate::b64::encode(genesis_hash(&export.header.scope)));
    for e in &export.entries {
        let h =
            entry_hash(e).map_err(|_| fail(Some(e.seq), None, FailureReason::Internal, "could not hash an entry"))?;
        heads.push(crate::b64::encode(h));
    }
    Ok(heads)
}

/// Stages 2 to 5, in order; the counters of the report grow as checks
/// pass, so a failed report still says how far verification got.
fn check(export: &Export, heads: &[String], opts: &VerifyOptions, report: &mut VerifyReport) -> Result<(), Failure> {
    keys::check(&export.header, opts)?;
    let epoch = entries::check(export, heads, opts.mac_key0.as_ref())?;
    report.macs_checked = opts.mac_key0.is_some();
    if report.macs_checked && epoch > 0 {
        report.warnings.push(format!(
            "MACs checked from seq {epoch} (the last rekey): the entries before it are MACed under an earlier master \
             secret's keys and rest on their hash links and the checkpoints signed over them"
        ));
    }
    checkpoints::check(export, heads, &mut report.checkpoints_verified)?;
    checkpoints::check_final(export)?;
    checkpoints::check_nonce(export, opts.expected_nonce.as_deref())?;
    let count = to_u64(export.entries.len());
    expected::check(&opts.expected_checkpoints, heads, count, &mut report.expected_checkpoints_verified)
}

/// What the verification cannot establish, said up front (a key nobody
/// pinned, MACs without a key) along with the first backwards timestamp:
/// none of these makes the export invalid.
fn warn_about_trust(export: &Export, opts: &VerifyOptions, warnings: &mut Vec<String>) {
    if opts.expected_public_key.is_none() && opts.expected_checkpoints.is_empty() {
        warnings.push(format!(
            "no expected key pinned: trusted the key in the header (kid {}); anyone can make a consistent export \
             under a key of their own",
            export.header.audit_kid
        ));
    }
    if opts.mac_key0.is_none() {
        let why = match &export.header.scope {
            AuditScope::User(u) => &*format!(
                "check them with `kms audit verify --user {u} FILE` (asks for the passphrase), or with \
                 audit_verify while the user is unlocked"
            ),
            AuditScope::Instance => {
                "the instance chain's first MAC key is random and not kept; its integrity rests on hash links and \
                 signed checkpoints"
            }
        };
        warnings.push(format!("MACs not checked (no key): {why}"));
    }
    // The engine's own finding that the stored log was rewritten: evidence
    // the export carries, whatever the verdict on the rest.
    for e in export.entries.iter().filter(|e| e.event == crate::audit::EventKind::TamperDetected).take(8) {
        let id = |k: &str| e.ids.get(k).map_or("?", String::as_str);
        warnings.push(format!(
            "the engine found this log rewritten in storage: entry {} (tamper_detected) says seq {} was not as \
             it wrote it ({}); entries before it are not vouched for",
            e.seq,
            id("first_bad_seq"),
            id("found")
        ));
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

/// A count or position as a sequence number (saturating; a `usize` never
/// exceeds `u64` on the supported targets).
fn to_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// A [`Failure`], for the stages' one-line returns.
fn fail(seq: Option<u64>, line: Option<usize>, reason: FailureReason, detail: impl Into<String>) -> Failure {
    Failure { seq, line, reason, detail: detail.into() }
}

/// The first 8 characters of a base64url hash, for details.
fn short(h: &str) -> String {
    shorten(h, 8)
}

/// The chain head after `size` entries, if the export holds that many.
fn head_after(heads: &[String], size: u64) -> Option<&String> {
    usize::try_from(size).ok().and_then(|s| heads.get(s))
}
