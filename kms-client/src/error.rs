//! Client errors.

use kms_core::rpc::RpcError;
use kms_core::ErrorCode;

/// What a client call can fail with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The KMS answered with an error.
    #[error("{0}")]
    Rpc(#[from] RpcError),
    /// The transport failed (the request may or may not have run).
    #[error("transport: {0}")]
    Transport(String),
    /// The KMS answered something this client does not understand.
    #[error("unexpected response: {0}")]
    Protocol(String),
    /// The channel to the KMS frame failed with one of the browser client's
    /// own codes (`timeout`, `cancelled`, `disconnected`: the request may or
    /// may not have run), or `connect` was refused by the KMS frame with its
    /// reason ([`ChannelCode::OriginNotAllowed`] and the others). Only the browser client (`browser::BrowserKms`) makes
    /// these; the engine's codes come as [`ClientError::Rpc`].
    #[error("{code}: {message}")]
    Channel { code: ChannelCode, message: String },
}

/// The browser client's own error codes, beside the engine's
/// ([`ErrorCode`]); the strings are those of `KmsError.code` in
/// `js/kms-client.js` (`ClientErrorCode` and `FrameErrorCode` in its
/// declarations, where `protocol` is [`ClientError::Protocol`]): the
/// channel's (`timeout`, `cancelled`, `disconnected`), the KMS frame's
/// reasons for not serving the page, which `connect` rejects with, and
/// `unsupported`, which a UI operation rejects with. (`popup_blocked` is the
/// JS client's only: this client has no window mode.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ChannelCode {
    /// No answer in time: the frame did not load or connect (the KMS
    /// origin's CSP `frame-ancestors` does not name the page, so the
    /// browser did not load it), the call took too long, or nobody
    /// answered the KMS frame's prompt.
    Timeout,
    /// The request was cancelled before it finished.
    Cancelled,
    /// The connection is closed.
    Disconnected,
    /// The KMS frame will not serve this page's origin: its
    /// `kms-config.json` does not list it.
    OriginNotAllowed,
    /// The KMS origin serves no `/kms-config.json`.
    ConfigMissing,
    /// The KMS origin's `/kms-config.json` is unusable (the message names
    /// the field).
    ConfigInvalid,
    /// The KMS origin is not a secure context (not https, not localhost).
    InsecureContext,
    /// The browser keeps the KMS origin's storage from it here for another
    /// reason than [`ChannelCode::StorageBlocked`] (no IndexedDB, a
    /// database that does not open).
    StorageUnavailable,
    /// The browser blocks the KMS's storage because the page that embeds it
    /// is of another site and third-party storage is blocked: serve the KMS
    /// on the app's own site (`docs/browser.md` section 5, "Sites").
    StorageBlocked,
    /// The KMS frame speaks another channel protocol, or runs a version of
    /// another release line than this client (`docs/versioning.md`).
    Incompatible,
    /// A request the frame cannot serve in this browser: it needs a passkey
    /// and the frame has no WebAuthn here (or the browser says it has no
    /// PRF).
    Unsupported,
}

impl ChannelCode {
    /// The code as the JS client spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Timeout => "timeout",
            Self::Cancelled => "cancelled",
            Self::Disconnected => "disconnected",
            Self::OriginNotAllowed => "origin_not_allowed",
            Self::ConfigMissing => "config_missing",
            Self::ConfigInvalid => "config_invalid",
            Self::InsecureContext => "insecure_context",
            Self::StorageUnavailable => "storage_unavailable",
            Self::StorageBlocked => "storage_blocked",
            Self::Incompatible => "incompatible",
            Self::Unsupported => "unsupported",
        }
    }

    /// The code for its JS spelling, if it is one of these.
    pub fn parse(code: &str) -> Option<Self> {
        [
            Self::Timeout,
            Self::Cancelled,
            Self::Disconnected,
            Self::OriginNotAllowed,
            Self::ConfigMissing,
            Self::ConfigInvalid,
            Self::InsecureContext,
            Self::StorageUnavailable,
            Self::StorageBlocked,
            Self::Incompatible,
            Self::Unsupported,
        ]
        .into_iter()
        .find(|c| c.as_str() == code)
    }
}

impl std::fmt::Display for ChannelCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ClientError {
    /// The stable code: the engine's, or `internal` for local failures
    /// (including [`ClientError::Channel`]: see [`ClientError::code_str`]).
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::Rpc(e) => e.code,
            Self::Transport(_) | Self::Protocol(_) | Self::Channel { .. } => ErrorCode::Internal,
        }
    }

    /// The code as the JS client's `KmsError.code` spells it: the engine's
    /// code, a [`ChannelCode`], `protocol` for [`ClientError::Protocol`],
    /// `internal` for [`ClientError::Transport`].
    pub fn code_str(&self) -> &'static str {
        match self {
            Self::Rpc(e) => e.code.as_str(),
            Self::Channel { code, .. } => code.as_str(),
            Self::Protocol(_) => "protocol",
            Self::Transport(_) => ErrorCode::Internal.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_str_spells_the_js_codes() {
        let rpc = ClientError::Rpc(RpcError::new(ErrorCode::NotFound, "no such user"));
        assert_eq!(rpc.code_str(), "not_found");
        assert_eq!(rpc.code(), ErrorCode::NotFound);
        let timeout = ClientError::Channel { code: ChannelCode::Timeout, message: "no answer".into() };
        assert_eq!(timeout.code_str(), "timeout");
        assert_eq!(timeout.code(), ErrorCode::Internal);
        assert_eq!(timeout.to_string(), "timeout: no answer");
        assert_eq!(ClientError::Protocol("x".into()).code_str(), "protocol");
        assert_eq!(ClientError::Transport("x".into()).code_str(), "internal");
    }

    #[test]
    fn channel_codes_parse_their_own_spelling_only() {
        for code in [
            ChannelCode::Timeout,
            ChannelCode::Cancelled,
            ChannelCode::Disconnected,
            ChannelCode::OriginNotAllowed,
            ChannelCode::ConfigMissing,
            ChannelCode::ConfigInvalid,
            ChannelCode::InsecureContext,
            ChannelCode::StorageUnavailable,
            ChannelCode::StorageBlocked,
            ChannelCode::Incompatible,
            ChannelCode::Unsupported,
        ] {
            assert_eq!(ChannelCode::parse(code.as_str()), Some(code));
        }
        assert_eq!(ChannelCode::parse("origin_not_allowed"), Some(ChannelCode::OriginNotAllowed));
        assert_eq!(ChannelCode::parse("protocol"), None);
        assert_eq!(ChannelCode::parse("not_found"), None);
        assert_eq!(ChannelCode::parse("Timeout"), None);
    }
}
