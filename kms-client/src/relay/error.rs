//! The one error type of the relay module, and its stable codes.

use kms_core::vapid::PushOrigin;
use kms_core::{CoreError, ErrorCode};

/// Everything the relay side can fail with. Messages name fields and limits,
/// never secret bytes (no auth secret, no token, no plaintext).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// The push subscription is malformed or not acceptable (endpoint,
    /// push service not allowed, `p256dh`, `auth`): the error of
    /// [`kms_core::push::ValidatedSubscription`]'s checks.
    #[error("invalid push subscription: {0}")]
    InvalidSubscription(CoreError),
    /// The payload (with any requested padding) does not fit in the single
    /// 4096-byte record of RFC 8291 section 4.
    #[error(
        "payload too large: {len} bytes (with padding) exceed the limit of {max} bytes of plaintext in one \
         4096-byte aes128gcm record (RFC 8291 section 4)"
    )]
    PayloadTooLarge {
        /// Plaintext plus padding that was asked for, in bytes.
        len: usize,
        /// The limit, [`super::MAX_PLAINTEXT_LEN`].
        max: usize,
    },
    /// A `TTL` above the cap (RFC 8030 section 5.2).
    #[error("invalid TTL: {ttl_s} s is more than the cap of {max_s} s (28 days)")]
    InvalidTtl {
        /// The TTL asked for, in seconds.
        ttl_s: u64,
        /// The cap, [`super::MAX_TTL_S`].
        max_s: u64,
    },
    /// A `Topic` that is not 1 to 32 characters of the base64url alphabet
    /// (RFC 8030 section 5.4).
    #[error("invalid Topic: {0}")]
    InvalidTopic(String),
    /// An `Urgency` other than `very-low`, `low`, `normal`, `high` (RFC 8030
    /// section 5.3).
    #[error("invalid Urgency: expected one of very-low, low, normal, high")]
    InvalidUrgency,
    /// A token handed to the [`super::TokenHolder`] is not a well-formed,
    /// self-consistent VAPID token.
    #[error("invalid VAPID token: {0}")]
    InvalidToken(String),
    /// No token was ever given to the holder for this push service.
    #[error(
        "no VAPID token was issued for {origin}: obtain tokens for this push service under a lease \
         whose audiences include it"
    )]
    NoTokenForOrigin {
        /// The push service's origin.
        origin: PushOrigin,
    },
    /// Tokens were issued for this push service, but none is valid for long
    /// enough any more.
    #[error("{}", no_valid_token_message(origin, *latest_expired_at))]
    NoValidToken {
        /// The push service's origin.
        origin: PushOrigin,
        /// The latest `exp` among this origin's tokens that have expired
        /// (held or pruned), seconds since the Unix epoch; `None` if none has
        /// expired yet (all remaining ones expire too soon).
        latest_expired_at: Option<u64>,
    },
    /// A push message did not decrypt: wrong key or auth secret, altered or
    /// truncated bytes, or a malformed header. Deliberately one error for all.
    #[error("push message decryption failed")]
    DecryptionFailed,
    /// A bug or an impossible state (a primitive refused a length that is
    /// fixed by construction).
    #[error("internal error: {0}")]
    Internal(&'static str),
}

fn no_valid_token_message(origin: &PushOrigin, latest_expired_at: Option<u64>) -> String {
    let detail = match latest_expired_at {
        Some(t) => format!("the last one expired at {t} (seconds since the Unix epoch)"),
        None => "the remaining ones expire within the required margin".to_owned(),
    };
    format!(
        "no valid VAPID token for {origin} any more ({detail}): obtain new tokens under the lease \
         (if the lease has expired or was revoked, the user must grant a new one)"
    )
}

impl RelayError {
    /// The stable code, as used on the wire by the rest of the KMS.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidSubscription(e) => e.code(),
            Self::PayloadTooLarge { .. }
            | Self::InvalidTtl { .. }
            | Self::InvalidTopic(_)
            | Self::InvalidUrgency
            | Self::InvalidToken(_)
            | Self::DecryptionFailed => ErrorCode::InvalidInput,
            Self::NoTokenForOrigin { .. } | Self::NoValidToken { .. } => ErrorCode::NotFound,
            Self::Internal(_) => ErrorCode::Internal,
        }
    }
}
