//! The audit log: `audit_export`, `audit_verify`, as `kms-worker`'s
//! `engine/audit.rs` runs them.

use serde::de::{Error as _, IgnoredAny, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::audit::{Checkpoint, MAX_EXPECTED_CHECKPOINTS};

/// `audit_export` parameters: the session, and optionally a nonce of the
/// verifier's choosing that the export's final checkpoint signs.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct AuditExportParams {
    pub user: crate::ids::UserId,
    pub session: crate::session::SessionToken,
    /// A fresh value the verifier chose (1 to 64 characters of
    /// `[A-Za-z0-9_-]`): the final checkpoint signs it, so the verifier
    /// knows this export was made for its request
    /// (`audit_verify`'s `expected_nonce`).
    #[serde(default, deserialize_with = "de_nonce")]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub nonce: Option<String>,
}

fn de_nonce<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let nonce = Option::<String>::deserialize(d)?;
    if let Some(n) = &nonce {
        crate::audit::check_nonce(n).map_err(|e| D::Error::custom(e.to_string()))?;
    }
    Ok(nonce)
}

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
    /// of them is detected. At most 1,024 ([`MAX_EXPECTED_CHECKPOINTS`]): a
    /// longer list does not decode (`invalid_input` naming the cap), so the
    /// engine never runs for it; the elements past the cap are not even read.
    #[serde(default, deserialize_with = "de_expected_checkpoints")]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub expected_checkpoints: Vec<Checkpoint>,
    /// The nonce the export was asked for: its final checkpoint must sign
    /// it (`nonce_mismatch` otherwise).
    #[serde(default, deserialize_with = "de_nonce")]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub expected_nonce: Option<String>,
}

/// `expected_checkpoints`: an array of at most [`MAX_EXPECTED_CHECKPOINTS`]
/// checkpoints, refused as soon as one more element is seen.
fn de_expected_checkpoints<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Checkpoint>, D::Error> {
    struct Capped;
    impl<'de> Visitor<'de> for Capped {
        type Value = Vec<Checkpoint>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "an array of at most {MAX_EXPECTED_CHECKPOINTS} checkpoints")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut out = Vec::new();
            while out.len() < MAX_EXPECTED_CHECKPOINTS {
                match seq.next_element::<Checkpoint>()? {
                    Some(cp) => out.push(cp),
                    None => return Ok(out),
                }
            }
            // One more element, of any form, is one too many.
            match seq.next_element::<IgnoredAny>()? {
                Some(_) => Err(A::Error::custom(format!(
                    "expected_checkpoints: at most {MAX_EXPECTED_CHECKPOINTS} are accepted"
                ))),
                None => Ok(out),
            }
        }
    }
    d.deserialize_seq(Capped)
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
