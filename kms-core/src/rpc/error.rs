//! The error half of a response: a stable code and a human message.

use serde::{Deserialize, Serialize};

use crate::error::{CoreError, ErrorCode};

/// An error as it crosses the RPC boundary. `code` is stable (switch on it);
/// `message` is for people. Neither ever carries secret bytes: messages name
/// fields and limits, never values.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[error("{code}: {message}")]
pub struct RpcError {
    pub code: ErrorCode,
    pub message: String,
    /// For `throttled` and `quota_exceeded`: how long to wait before trying
    /// again.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub retry_after_ms: Option<u64>,
    /// For `integrity`: the first `seq` of the user's audit log that is not
    /// as the engine wrote it.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub first_bad_seq: Option<u64>,
}

impl RpcError {
    /// An error with a code and message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into(), retry_after_ms: None, first_bad_seq: None }
    }

    /// Shorthand for an `invalid_input` error.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }
}

impl From<CoreError> for RpcError {
    fn from(e: CoreError) -> Self {
        let retry_after_ms = match e {
            CoreError::Throttled { retry_after_ms } | CoreError::QuotaExceeded { retry_after_ms, .. } => {
                Some(retry_after_ms)
            }
            _ => None,
        };
        let first_bad_seq = match e {
            CoreError::AuditRewritten { first_bad_seq, .. } => Some(first_bad_seq),
            _ => None,
        };
        // The code already names the category; the message says what to do.
        // Internal details stay inside.
        let message = match &e {
            CoreError::InvalidInput(m) | CoreError::Locked(m) | CoreError::Forbidden(m) => m.clone(),
            CoreError::NotFound(what) => format!("no such {what}"),
            CoreError::AlreadyExists(what) => format!("{what} already exists"),
            CoreError::UnlockFailed => "wrong passphrase or credential".to_owned(),
            CoreError::Throttled { retry_after_ms } => {
                format!("too many failed attempts; try again in {} s", retry_after_ms.div_ceil(1000))
            }
            CoreError::Integrity => "a stored record failed authentication".to_owned(),
            CoreError::Internal(m) => format!("internal error: {m}"),
            CoreError::LeaseExpired(m)
            | CoreError::LeaseRevoked(m)
            | CoreError::LeaseKeyRotated(m)
            | CoreError::UserDeleted(m) => m.clone(),
            CoreError::QuotaExceeded { limit, retry_after_ms } => {
                format!("this lease allows {limit} tokens per hour; try again in {} s", retry_after_ms.div_ceil(1000))
            }
            CoreError::AuditRewritten { first_bad_seq, found } => format!(
                "this user's audit log was rewritten in storage (first bad entry: seq {first_bad_seq}, \
                 {found}); nothing was signed over it, a tamper_detected entry records it, and the operation \
                 was not done: retry it"
            ),
        };
        Self { code: e.code(), message, retry_after_ms, first_bad_seq }
    }
}

/// Rewrites a serde error so it never echoes the offending value (it could be
/// a passphrase typed into the wrong field): serde's "invalid type: string
/// \"...\", expected X" becomes "wrong type or value, expected X".
pub fn sanitize_serde_error(e: &serde_json::Error) -> String {
    let msg = e.to_string();
    let msg = msg.split(" at line ").next().unwrap_or_default();
    if msg.starts_with("invalid type") || msg.starts_with("invalid value") || msg.starts_with("invalid length") {
        return match msg.split_once(", expected ") {
            Some((_, expected)) => format!("wrong type or value, expected {expected}"),
            None => "wrong type or value".to_owned(),
        };
    }
    // The base64 decoder's messages ("Invalid symbol 37, offset 0.") give
    // a byte of the input and where it is: name the problem only.
    if [
        "Invalid symbol",
        "Invalid byte",
        "Invalid last symbol",
        "Invalid padding",
        "Invalid input length",
        "Encoded text",
    ]
    .iter()
    .any(|p| msg.starts_with(p))
    {
        return "a field is not base64url".to_owned();
    }
    if msg.starts_with("unknown variant") {
        // "unknown variant `x`, expected one of ..." echoes x; drop it.
        return match msg.split_once(", expected ") {
            Some((_, expected)) => format!("unknown variant, expected {expected}"),
            None => "unknown variant".to_owned(),
        };
    }
    // Remaining serde messages name fields ("missing field `user`", "unknown
    // field `x`") or come from our own parsers, which never echo values.
    // Still cap their length.
    msg.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serde_errors_do_not_echo_values() {
        let e = serde_json::from_str::<u32>("\"hunter2-secret\"").unwrap_err();
        let s = sanitize_serde_error(&e);
        assert!(!s.contains("hunter2"), "{s}");
        assert!(s.contains("expected u32"), "{s}");
    }

    #[test]
    fn base64_decoder_messages_do_not_echo_input() {
        use serde::de::Error as _;
        let e = serde_json::Error::custom("Invalid symbol 37, offset 0.");
        assert_eq!(sanitize_serde_error(&e), "a field is not base64url");
    }
}
