//! Unlocking and the session: `unlock`, `lock`, `session_status`, and the
//! ceremonies before a passkey operation (`prf_begin`, `gate_begin`), as
//! `kms-worker`'s `engine/unlock.rs` runs them. [`SessionResult`] is also
//! `setup`'s result.

use serde::{Deserialize, Serialize};

use crate::env::UnixMillis;
use crate::ids::{CeremonyId, EnrollmentId, UserId};
use crate::secret::{Passphrase, PrfOutput};
use crate::session::SessionToken;
use crate::unlock::EnrollmentInfo;

/// What unlocks an enrollment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum UnlockCredential {
    Passphrase {
        passphrase: Passphrase,
    },
    PasskeyPrf {
        /// base64url credential id (selects the enrollment).
        credential_id: String,
        /// base64url of `prf.results.first` for the enrollment's salt.
        prf_output: PrfOutput,
    },
    PasskeyGate {
        /// The ceremony from `gate_begin`.
        ceremony_id: CeremonyId,
        /// The browser's `PublicKeyCredential.toJSON()` of the assertion.
        // TypeScript: webauthn-rs-proto has no `TS` impl; the W3C
        // `AuthenticationResponseJSON` is declared by the generator
        // (`kms-client/tests/ts_types.rs`) from a mirror checked against it.
        #[cfg_attr(feature = "ts", ts(type = "AuthenticationResponseJSON"))]
        #[serde(deserialize_with = "assertion_from_json")]
        assertion: Box<webauthn_rs_proto::PublicKeyCredential>,
    },
}

/// The assertion's binary fields (base64url), as JSON pointers and names.
const ASSERTION_B64_FIELDS: [(&str, &str); 5] = [
    ("/rawId", "rawId"),
    ("/response/clientDataJSON", "response.clientDataJSON"),
    ("/response/authenticatorData", "response.authenticatorData"),
    ("/response/signature", "response.signature"),
    ("/response/userHandle", "response.userHandle"),
];

/// Parses the assertion. When that fails, a binary field that is not
/// base64url is named ("assertion.response.clientDataJSON: not
/// base64url") instead of passing on the base64 decoder's message, which
/// gives the offending byte and its position in the input.
fn assertion_from_json<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Box<webauthn_rs_proto::PublicKeyCredential>, D::Error> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine as _;
    use serde::de::Error as _;
    let v = serde_json::Value::deserialize(d)?;
    let e = match serde_json::from_value::<webauthn_rs_proto::PublicKeyCredential>(v.clone()) {
        Ok(a) => return Ok(Box::new(a)),
        Err(e) => e,
    };
    for (pointer, name) in ASSERTION_B64_FIELDS {
        if let Some(serde_json::Value::String(s)) = v.pointer(pointer) {
            if URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).is_err() {
                return Err(D::Error::custom(format!("assertion.{name}: not base64url")));
            }
        }
    }
    Err(D::Error::custom(format!("assertion: {}", crate::rpc::error::sanitize_serde_error(&e))))
}

/// `unlock` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct UnlockParams {
    pub user: UserId,
    /// Which enrollment; optional when the credential identifies it (the
    /// single passphrase enrollment, a PRF credential id, a gate ceremony).
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub enrollment_id: Option<EnrollmentId>,
    pub credential: UnlockCredential,
}

/// `setup` and `unlock` result: a new session.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionResult {
    pub user: UserId,
    pub session: SessionToken,
    pub expires_ms: UnixMillis,
    /// The enrollment that was created (setup) or used (unlock).
    pub enrollment: EnrollmentInfo,
    /// True when the unlock re-wrapped an old record at the current cost.
    #[serde(default)]
    pub rewrapped: bool,
}

/// `session_status` result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SessionStatus {
    pub expires_ms: UnixMillis,
}

/// `prf_begin` result: the salt to pass as `prf.eval.first` (base64url).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct PrfBeginResult {
    pub ceremony_id: CeremonyId,
    pub prf_salt: String,
    pub expires_ms: UnixMillis,
}

/// `gate_begin` parameters.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct GateBeginParams {
    pub user: UserId,
    /// Optional when the user has exactly one gate enrollment.
    #[serde(default)]
    #[cfg_attr(feature = "ts", ts(optional = nullable))]
    pub enrollment_id: Option<EnrollmentId>,
}

/// `gate_begin` result: what `navigator.credentials.get` needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GateBeginResult {
    pub ceremony_id: CeremonyId,
    pub enrollment_id: EnrollmentId,
    /// base64url challenge.
    pub challenge: String,
    pub rp_id: String,
    /// base64url credential id for `allowCredentials`.
    pub credential_id: String,
    pub expires_ms: UnixMillis,
}
