//! The audit log: `audit_export`, `audit_verify`, as `kms-worker`'s
//! `engine/audit.rs` runs them.

use serde::{Deserialize, Serialize};

/// `audit_verify` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct AuditVerifyParams {
    /// The export, as written by `audit_export` (JSON Lines).
    pub export: String,
    /// The audit public key the verifier expects (JWK JSON or base64url
    /// SEC1); without it, the key in the export's header is trusted.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub expected_public_key: Option<String>,
    /// Checkpoints the verifier saw before: a rollback or a fork against any
    /// of them is detected.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub expected_checkpoints: Vec<crate::audit::Checkpoint>,
}

/// `audit_export` result.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AuditExportResult {
    /// The export (JSON Lines, `docs/audit-format.md`).
    pub export: String,
    pub entries: u64,
    /// The fresh checkpoint the export ends with: keep it to detect a later
    /// rollback.
    pub checkpoint: crate::audit::Checkpoint,
}
