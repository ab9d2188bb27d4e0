//! The export format `kms-audit-export`, version 1: writing
//! ([`write_export`]) and reading ([`parse_export`]).
//!
//! An export is one scope's whole audit chain plus the checkpoints that
//! sign it. It is meant to be checked by anyone, with nothing but the audit
//! public key, by [`super::verify_export`] or an independent implementation
//! of this page.
//!
//! # Layout
//!
//! UTF-8 text, JSON Lines: one JSON object per line, each line ended by a
//! single `\n` (LF; no CR, no blank lines, no byte order mark), including the
//! last line. A file that does not end with `\n` is truncated. Every object
//! starts with a `"type"` member. In this order:
//!
//! 1. exactly one **header** line,
//! 2. `count` **entry** lines, in sequence order `0, 1, ..., count - 1`,
//! 3. one or more **checkpoint** lines. The last one covers all `count`
//!    entries: an export always ends with a checkpoint signed when it was
//!    made.
//!
//! Example (values shortened):
//!
//! ```text
//! {"type":"header","format":"kms-audit-export","version":1,"scope":"user:alice","exported_ms":1700000000900,"audit_kid":"Xw..","audit_public_key":{"kty":"EC","crv":"P-256","x":"..","y":".."},"first_seq":0,"count":2}
//! {"type":"entry","seq":0,"ts_ms":1700000000000,"scope":"user:alice","event":"setup","outcome":"ok","method":"passphrase","ids":{"enrollment_id":"Qm.."},"reason":null,"prev":"3q..","mac":"u1.."}
//! {"type":"entry","seq":1,"ts_ms":1700000000500,"scope":"user:alice","event":"unlock","outcome":"failed","method":"passphrase","ids":{},"reason":"unlock_failed","prev":"9s..","mac":"Zk.."}
//! {"type":"checkpoint","scope":"user:alice","size":2,"head":"c2..","ts_ms":1700000000900,"kid":"Xw..","sig":".."}
//! ```
//!
//! # Header
//!
//! | member | value |
//! | --- | --- |
//! | `type` | `"header"` |
//! | `format` | `"kms-audit-export"` |
//! | `version` | `1` (a reader refuses any other version) |
//! | `scope` | `"user:<id>"` or `"instance"` |
//! | `exported_ms` | when the export was made (ms since the Unix epoch); equals the final checkpoint's `ts_ms`, which makes it signed |
//! | `audit_kid` | RFC 7638 thumbprint of `audit_public_key` |
//! | `audit_public_key` | the P-256 audit public key as a JWK `{"kty":"EC","crv":"P-256","x":..,"y":..}` |
//! | `first_seq` | `0` (version 1 exports always hold the whole chain) |
//! | `count` | the number of entry lines |
//!
//! The header is not signed itself; each member is checked against signed
//! data or a fixed value by the verifier. The public key in the header is
//! trusted only if the verifier pins it (or holds checkpoints it signed);
//! otherwise the report says so.
//!
//! # Entry lines
//!
//! `{"type":"entry",` followed by the members of [`AuditEntry`], in this
//! order: `seq`, `ts_ms`, `scope`, `event`, `outcome`, `method`, `ids`,
//! `reason`, `prev`, `mac`. `method` and `reason` are `null` or a snake_case
//! code; `ids` is an object of at most 16 string members, names in byte
//! order. The entry's **canonical bytes** are the line with its leading
//! `"type":"entry",` member removed, i.e. `{"seq":...,"mac":"..."}`.
//!
//! - `prev` = base64url(SHA-256(canonical bytes of entry `seq - 1`)); for
//!   `seq` 0, base64url(SHA-256(`"kms-audit/v1/genesis\n"` + scope)).
//! - `mac` = base64url(HMAC-SHA256(K_seq, canonical bytes with `"mac":""`)),
//!   with `K_0` per scope (see [`super::chain`]) and
//!   `K_{i+1} = SHA-256("kms-audit/v1/evolve" || K_i)`. Only a holder of
//!   `K_0` (the user, through the master secret) can check it.
//!
//! # Checkpoint lines
//!
//! `{"type":"checkpoint",` followed by the members of [`Checkpoint`]:
//! `scope`, `size`, `head`, `ts_ms`, `kid`, `sig`. The signature covers the
//! text described in [`super::checkpoint`].
//!
//! # Canonical form
//!
//! Every line must be exactly the serialization this module writes: members
//! in the order above, no whitespace, integers in plain decimal, strings
//! escaped as `serde_json` (and `JSON.stringify`) escape them (`"` and `\`
//! with a backslash, control characters as `\n`, `\t`, ... or `\u00xx`,
//! everything else literally). A line with the right content in another
//! spelling is refused (`non_canonical`). So the bytes a reader sees are the
//! bytes that were hashed and signed: no two different files verify as the
//! same log, and no reader is shown a duplicated member the verifier
//! ignored. A re-serializing verifier in JavaScript can rebuild the
//! canonical bytes with `JSON.stringify` (id names are never integer-like, so
//! key order is kept) as long as `seq` and `ts_ms` stay below 2^53.
//!
//! base64url is unpadded (RFC 4648 section 5) and canonical (unused bits
//! zero).
//!
//! # Limits
//!
//! A reader refuses, with the line number: more than [`MAX_EXPORT_BYTES`]
//! of input, a line longer than [`MAX_LINE_BYTES`], more than
//! [`MAX_EXPORT_ENTRIES`] entries, more than [`MAX_EXPORT_CHECKPOINTS`]
//! checkpoints. Entry caps (ids, lengths) keep every valid entry well under
//! the line limit.

use serde::de::{IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use super::checkpoint::Checkpoint;
use super::entry::{AuditEntry, AuditScope};
use super::error::AuditError;
use super::key::AuditPublicKey;
use super::verify::FailureReason;
use crate::ids::KeyId;
use crate::vapid::Jwk;

/// The `format` member of the header.
pub const EXPORT_FORMAT: &str = "kms-audit-export";
/// The `version` member of the header this code writes and reads.
pub const EXPORT_VERSION: u32 = 1;
/// Largest export a reader accepts: 10 MiB.
pub const MAX_EXPORT_BYTES: usize = 10 * 1024 * 1024;
/// Longest line a reader accepts: 16 KiB (an entry at every cap is about
/// 10 KiB).
pub const MAX_LINE_BYTES: usize = 16 * 1024;
/// Most entry lines a reader accepts.
pub const MAX_EXPORT_ENTRIES: usize = 1_000_000;
/// Most checkpoint lines a reader accepts: 1,024.
///
/// Each costs a verifier one ES256 check (about 0.2 ms natively), and
/// `audit_verify` runs for callers without a session: at 10,000 one export
/// cost 2.2 s. The engine writes at most its last 64 per chain
/// (`KEPT_CHECKPOINTS` in `kms-worker/src/engine/audit.rs`), so 1,024 leaves
/// 16 times that.
pub const MAX_EXPORT_CHECKPOINTS: usize = 1024;

/// The header of a parsed export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportHeader {
    pub scope: AuditScope,
    /// When the export was made (the final checkpoint's `ts_ms` in a valid
    /// export).
    pub exported_ms: u64,
    pub audit_kid: KeyId,
    /// The key the header carries. Parsed and on the curve, but trusted
    /// only once the verifier pinned it.
    pub audit_public_key: AuditPublicKey,
    /// Always 0 in version 1.
    pub first_seq: u64,
    /// The number of entries the header announces (the verifier compares it
    /// with the entry lines).
    pub count: u64,
}

/// An export as read by [`parse_export`]: well-formed and canonical, not yet
/// verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    pub header: ExportHeader,
    /// The entry lines in file order (line `i + 2` is `entries[i]`).
    pub entries: Vec<AuditEntry>,
    /// The checkpoint lines in file order (line `entries.len() + 2 + j` is
    /// `checkpoints[j]`).
    pub checkpoints: Vec<Checkpoint>,
}

/// Why an export could not be read. Every variant but `TooLarge` names the
/// 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    #[error("the export is {len} bytes, more than the limit of {max}")]
    TooLarge { len: usize, max: usize },
    #[error("line {line}: longer than {max} bytes")]
    LineTooLong { line: usize, max: usize },
    #[error("line {line}: the export does not end with a newline (truncated)")]
    Truncated { line: usize },
    #[error("line {line}: not a JSON object line ({detail})")]
    Malformed { line: usize, detail: String },
    #[error("line {line}: the export does not start with a header line")]
    MissingHeader { line: usize },
    #[error("line {line}: a second header line")]
    DuplicateHeader { line: usize },
    #[error("line {line}: unknown line type {found}")]
    UnknownLineType { line: usize, found: String },
    #[error("line {line}: unsupported format version {found} (this reader knows version {EXPORT_VERSION})")]
    UnsupportedVersion { line: usize, found: String },
    #[error("line {line}: {detail}")]
    InvalidField { line: usize, detail: String },
    #[error("line {line}: not in canonical form (members, order, spacing or escapes differ from the format)")]
    NonCanonical { line: usize },
    #[error("line {line}: an entry line after a checkpoint line")]
    Misplaced { line: usize },
    #[error("line {line}: more than {max} entries")]
    TooManyEntries { line: usize, max: usize },
    #[error("line {line}: more than {max} checkpoints")]
    TooManyCheckpoints { line: usize, max: usize },
}

impl ExportError {
    /// The 1-based line the error is about.
    pub fn line(&self) -> Option<usize> {
        match self {
            Self::TooLarge { .. } => None,
            Self::LineTooLong { line, .. }
            | Self::Truncated { line }
            | Self::Malformed { line, .. }
            | Self::MissingHeader { line }
            | Self::DuplicateHeader { line }
            | Self::UnknownLineType { line, .. }
            | Self::UnsupportedVersion { line, .. }
            | Self::InvalidField { line, .. }
            | Self::NonCanonical { line }
            | Self::Misplaced { line }
            | Self::TooManyEntries { line, .. }
            | Self::TooManyCheckpoints { line, .. } => Some(*line),
        }
    }

    /// The verification failure code this error is reported as.
    pub fn reason(&self) -> FailureReason {
        match self {
            Self::TooLarge { .. } => FailureReason::TooLarge,
            Self::LineTooLong { .. } => FailureReason::LineTooLong,
            Self::Truncated { .. } => FailureReason::Truncated,
            Self::Malformed { .. } => FailureReason::MalformedLine,
            Self::MissingHeader { .. } => FailureReason::MissingHeader,
            Self::DuplicateHeader { .. } => FailureReason::DuplicateHeader,
            Self::UnknownLineType { .. } => FailureReason::UnknownLineType,
            Self::UnsupportedVersion { .. } => FailureReason::UnsupportedVersion,
            Self::InvalidField { .. } => FailureReason::InvalidField,
            Self::NonCanonical { .. } => FailureReason::NonCanonical,
            Self::Misplaced { .. } => FailureReason::MisplacedLine,
            Self::TooManyEntries { .. } => FailureReason::TooManyEntries,
            Self::TooManyCheckpoints { .. } => FailureReason::TooManyCheckpoints,
        }
    }
}

/// The header line's members after `type`, in format order.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct HeaderWire {
    format: String,
    version: u32,
    scope: AuditScope,
    exported_ms: u64,
    audit_kid: KeyId,
    audit_public_key: Jwk,
    first_seq: u64,
    count: u64,
}

/// Appends `{"type":"<kind>",<members of value>}\n` to `out`.
fn push_line<T: Serialize>(out: &mut String, kind: &str, value: &T) -> Result<(), AuditError> {
    let body = serde_json::to_string(value).map_err(|_| AuditError::Internal("export serialization failed".into()))?;
    let members = body.strip_prefix('{').ok_or_else(|| AuditError::Internal("export line is not an object".into()))?;
    out.push_str("{\"type\":\"");
    out.push_str(kind);
    out.push_str("\",");
    out.push_str(members);
    out.push('\n');
    Ok(())
}

/// Writes an export of one scope: the header, `entries` as given, then
/// `checkpoints` as given. The caller passes the whole chain as stored, in
/// sequence order, and the checkpoints it kept with, last, one it has just
/// signed over its current state ([`Checkpoint::sign`]); `exported_ms` in the
/// header is that checkpoint's `ts_ms`.
///
/// Nothing is checked or repaired: the export shows what is stored, and a
/// damaged store gives an export that fails verification, which is the
/// point. (A writer that refused to export a broken chain would hide the
/// damage from the user.)
pub fn write_export(
    scope: &AuditScope,
    public_key: &AuditPublicKey,
    entries: &[AuditEntry],
    checkpoints: &[Checkpoint],
) -> Result<String, AuditError> {
    let header = HeaderWire {
        format: EXPORT_FORMAT.to_owned(),
        version: EXPORT_VERSION,
        scope: scope.clone(),
        exported_ms: checkpoints.last().map_or(0, |c| c.ts_ms),
        audit_kid: public_key.kid(),
        audit_public_key: public_key.jwk(),
        first_seq: 0,
        count: u64::try_from(entries.len()).unwrap_or(u64::MAX),
    };
    let mut out = String::with_capacity(512 + entries.len() * 320 + checkpoints.len() * 320);
    push_line(&mut out, "header", &header)?;
    for e in entries {
        push_line(&mut out, "entry", e)?;
    }
    for c in checkpoints {
        push_line(&mut out, "checkpoint", c)?;
    }
    Ok(out)
}

/// Reads an export: checks the layout, the limits and the canonical form of
/// every line, and parses every member. Total: never panics, whatever the
/// input, and stops at the first problem with its line number.
///
/// It does not verify anything cryptographic, the header's `count` or the
/// chain; [`super::verify_export`] does.
pub fn parse_export(text: &str) -> Result<Export, ExportError> {
    parse_with_limits(text, &Limits::DEFAULT)
}

/// The reader's limits, a parameter only so that unit tests can reach the
/// entry limit (at the minimum entry size of about 190 bytes, the byte limit
/// stops an export at about 55,000 entries, long before 1,000,000).
struct Limits {
    bytes: usize,
    line: usize,
    entries: usize,
    checkpoints: usize,
}

impl Limits {
    const DEFAULT: Self = Self {
        bytes: MAX_EXPORT_BYTES,
        line: MAX_LINE_BYTES,
        entries: MAX_EXPORT_ENTRIES,
        checkpoints: MAX_EXPORT_CHECKPOINTS,
    };
}

fn parse_with_limits(text: &str, limits: &Limits) -> Result<Export, ExportError> {
    if text.len() > limits.bytes {
        return Err(ExportError::TooLarge { len: text.len(), max: limits.bytes });
    }
    if text.is_empty() {
        return Err(ExportError::MissingHeader { line: 1 });
    }
    // `complete` is false when the text does not end with '\n': its last
    // piece is then a cut-off line.
    let (body, complete) = match text.strip_suffix('\n') {
        Some(b) => (b, true),
        None => (text, false),
    };
    let mut pieces = body.split('\n').peekable();
    let mut header: Option<ExportHeader> = None;
    let mut entries = Vec::new();
    let mut checkpoints = Vec::new();
    let mut n = 0usize;
    while let Some(line) = pieces.next() {
        n = n.saturating_add(1);
        if !complete && pieces.peek().is_none() {
            return Err(ExportError::Truncated { line: n });
        }
        if line.len() > limits.line {
            return Err(ExportError::LineTooLong { line: n, max: limits.line });
        }
        let kind = line_type(line, n)?;
        match kind.as_deref() {
            Some("header") => {
                if header.is_some() {
                    return Err(ExportError::DuplicateHeader { line: n });
                }
                header = Some(parse_header(line, n)?);
            }
            Some(k @ ("entry" | "checkpoint")) => {
                if header.is_none() {
                    return Err(ExportError::MissingHeader { line: n });
                }
                if k == "entry" {
                    if !checkpoints.is_empty() {
                        return Err(ExportError::Misplaced { line: n });
                    }
                    if entries.len() >= limits.entries {
                        return Err(ExportError::TooManyEntries { line: n, max: limits.entries });
                    }
                    entries.push(parse_body::<AuditEntry>(line, n, "entry")?);
                } else {
                    if checkpoints.len() >= limits.checkpoints {
                        return Err(ExportError::TooManyCheckpoints { line: n, max: limits.checkpoints });
                    }
                    checkpoints.push(parse_body::<Checkpoint>(line, n, "checkpoint")?);
                }
            }
            other => {
                let found = match other {
                    Some(t) => format!("{:?}", shorten(t, 40)),
                    None => "(no \"type\" member)".to_owned(),
                };
                return Err(ExportError::UnknownLineType { line: n, found });
            }
        }
    }
    let header = header.ok_or(ExportError::MissingHeader { line: 1 })?;
    Ok(Export { header, entries, checkpoints })
}

/// The `type` member of a line, after checking that the whole line is one
/// JSON object (and that `type`, if present, appears once and is a string).
fn line_type(line: &str, n: usize) -> Result<Option<String>, ExportError> {
    struct TypeOnly(Option<String>);

    impl<'de> Deserialize<'de> for TypeOnly {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl<'de> Visitor<'de> for V {
                type Value = TypeOnly;

                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("a JSON object")
                }

                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TypeOnly, A::Error> {
                    let mut kind = None;
                    while let Some(key) = map.next_key::<String>()? {
                        if key == "type" {
                            if kind.is_some() {
                                return Err(serde::de::Error::custom("duplicate member \"type\""));
                            }
                            kind = Some(map.next_value::<String>()?);
                        } else {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                    Ok(TypeOnly(kind))
                }
            }
            d.deserialize_map(V)
        }
    }

    if line.is_empty() {
        return Err(ExportError::Malformed { line: n, detail: "empty line".to_owned() });
    }
    serde_json::from_str::<TypeOnly>(line)
        .map(|t| t.0)
        .map_err(|e| ExportError::Malformed { line: n, detail: shorten(&e.to_string(), 160) })
}

/// The members after `"type":"<kind>",` as an object of type `T`, which must
/// re-serialize to exactly those bytes.
fn parse_body<T: Serialize + for<'de> Deserialize<'de>>(line: &str, n: usize, kind: &str) -> Result<T, ExportError> {
    let prefix = format!("{{\"type\":\"{kind}\",");
    let members = line.strip_prefix(prefix.as_str()).ok_or(ExportError::NonCanonical { line: n })?;
    let body = format!("{{{members}");
    let value: T = serde_json::from_str(&body).map_err(|e| ExportError::InvalidField {
        line: n,
        detail: format!("{kind}: {}", shorten(&e.to_string(), 160)),
    })?;
    let again = serde_json::to_string(&value).map_err(|_| ExportError::NonCanonical { line: n })?;
    if again != body {
        return Err(ExportError::NonCanonical { line: n });
    }
    Ok(value)
}

fn parse_header(line: &str, n: usize) -> Result<ExportHeader, ExportError> {
    /// The two members that say which reader applies, read leniently first
    /// so that a future version is reported as such, not as unknown fields.
    #[derive(Deserialize)]
    struct Probe {
        format: Option<serde_json::Value>,
        version: Option<serde_json::Value>,
    }
    let probe: Probe = serde_json::from_str(line)
        .map_err(|e| ExportError::Malformed { line: n, detail: shorten(&e.to_string(), 160) })?;
    if probe.format.as_ref().and_then(|v| v.as_str()) != Some(EXPORT_FORMAT) {
        return Err(ExportError::InvalidField {
            line: n,
            detail: format!("header: format must be \"{EXPORT_FORMAT}\""),
        });
    }
    match probe.version {
        Some(v) if v.as_u64() == Some(u64::from(EXPORT_VERSION)) => {}
        Some(v) => return Err(ExportError::UnsupportedVersion { line: n, found: shorten(&v.to_string(), 40) }),
        None => return Err(ExportError::UnsupportedVersion { line: n, found: "(none)".to_owned() }),
    }
    let wire: HeaderWire = parse_body(line, n, "header")?;
    if wire.first_seq != 0 {
        return Err(ExportError::InvalidField {
            line: n,
            detail: "header: first_seq must be 0 (version 1 exports hold the whole chain)".to_owned(),
        });
    }
    let audit_public_key = AuditPublicKey::from_jwk(&wire.audit_public_key).map_err(|_| ExportError::InvalidField {
        line: n,
        detail: "header: audit_public_key is not a P-256 public key".to_owned(),
    })?;
    Ok(ExportHeader {
        scope: wire.scope,
        exported_ms: wire.exported_ms,
        audit_kid: wire.audit_kid,
        audit_public_key,
        first_seq: wire.first_seq,
        count: wire.count,
    })
}

/// At most `max` characters of `s`, with control characters replaced, for
/// error details that quote the input.
pub(crate) fn shorten(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).map(|c| if c.is_control() { '?' } else { c }).collect();
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{append, AuditMacKey, AuditRecord, AuditSigningKey, ChainState, EventKind, Outcome};
    use rand_chacha::rand_core::SeedableRng;

    fn small_export(entries: usize) -> String {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(1);
        let scope = AuditScope::Instance;
        let mut state = ChainState::genesis(scope.clone(), AuditMacKey::generate(&mut rng));
        let key = AuditSigningKey::generate(&mut rng).unwrap();
        let mut list = Vec::new();
        for i in 0..entries {
            let (e, next) = append(&state, &scope, AuditRecord::new(EventKind::Lock, Outcome::Ok), i as u64).unwrap();
            list.push(e);
            state = next;
        }
        let cp = Checkpoint::sign(&key, &state, 99).unwrap();
        write_export(&scope, key.public(), &list, &[cp.clone(), cp]).unwrap()
    }

    #[test]
    fn every_limit_is_enforced_with_its_line() {
        let text = small_export(3);
        let lim = |bytes, line, entries, checkpoints| Limits { bytes, line, entries, checkpoints };
        assert!(parse_with_limits(&text, &lim(text.len(), 1000, 3, 2)).is_ok());
        assert_eq!(
            parse_with_limits(&text, &lim(text.len() - 1, 1000, 3, 2)),
            Err(ExportError::TooLarge { len: text.len(), max: text.len() - 1 })
        );
        assert_eq!(
            parse_with_limits(&text, &lim(text.len(), 1000, 2, 2)),
            Err(ExportError::TooManyEntries { line: 4, max: 2 })
        );
        assert_eq!(
            parse_with_limits(&text, &lim(text.len(), 1000, 3, 1)),
            Err(ExportError::TooManyCheckpoints { line: 6, max: 1 })
        );
        let longest = text.lines().map(str::len).max().unwrap();
        assert_eq!(
            parse_with_limits(&text, &lim(text.len(), longest - 1, 3, 2)).unwrap_err().reason(),
            FailureReason::LineTooLong
        );
    }

    #[test]
    fn the_default_limits_are_the_documented_ones() {
        assert_eq!(MAX_EXPORT_BYTES, 10 * 1024 * 1024);
        assert_eq!(MAX_LINE_BYTES, 16 * 1024);
        assert_eq!(MAX_EXPORT_ENTRIES, 1_000_000);
        assert_eq!(MAX_EXPORT_CHECKPOINTS, 1024);
    }

    #[test]
    fn shorten_cuts_and_cleans() {
        assert_eq!(shorten("abc", 5), "abc");
        assert_eq!(shorten("abcdef", 3), "abc…");
        assert_eq!(shorten("a\nb", 5), "a?b");
    }
}
