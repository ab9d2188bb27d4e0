//! VAPID JWTs (RFC 8292 section 2): ES256-signed claims `aud`, `exp`, `sub`
//! (and an optional `jti`), checked before anything is signed.

use serde::{Deserialize, Serialize};

use super::key::{VapidPublicKey, VapidSigningKey};
use super::origin::PushOrigin;
use crate::error::{CoreError, Result};
use crate::ids::KeyId;
use crate::weburl;

/// The longest lifetime of a token: RFC 8292 section 2 says `exp` MUST NOT
/// be more than 24 hours from the time of the request.
pub const MAX_JWT_LIFETIME_S: u64 = 86_400;

/// Longest `sub` accepted, in bytes.
pub const MAX_SUB_LEN: usize = 512;

/// Longest `jti` accepted, in characters (all ASCII).
pub const MAX_JTI_LEN: usize = 128;

/// The JOSE header of every token, byte for byte.
const HEADER_JSON: &str = r#"{"typ":"JWT","alg":"ES256"}"#;

/// What a caller asks to have signed. Nothing here is trusted: turn it into
/// [`ValidatedClaims`] with [`validate`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct JwtRequest {
    /// The push service's origin, e.g. `https://fcm.googleapis.com`.
    pub aud: String,
    /// The operator's contact: `mailto:` or `https:`.
    pub sub: String,
    /// Expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// An optional token id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jti: Option<String>,
}

/// Claims that passed [`validate`] at a given time. The fields are private
/// and there is no other constructor, so holding one means the checks ran.
/// The `exp` check is relative to the `now_ms` given to [`validate`]: validate
/// right before signing, and do not keep these around.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedClaims {
    aud: PushOrigin,
    sub: String,
    exp: u64,
    jti: Option<String>,
}

impl ValidatedClaims {
    /// The audience: a push service origin.
    pub fn aud(&self) -> &PushOrigin {
        &self.aud
    }

    /// The contact URI.
    pub fn sub(&self) -> &str {
        &self.sub
    }

    /// Expiry, seconds since the Unix epoch.
    pub fn exp(&self) -> u64 {
        self.exp
    }

    /// The token id, if any.
    pub fn jti(&self) -> Option<&str> {
        self.jti.as_deref()
    }
}

/// Checks a request against RFC 8292 and this KMS's limits at time `now_ms`
/// (milliseconds since the Unix epoch, from the caller's clock):
///
/// - `aud` is a [`PushOrigin`] (the origin, not the endpoint URL);
/// - `exp` is strictly after now and at most [`MAX_JWT_LIFETIME_S`] after
///   now (exactly 24 h is accepted);
/// - `sub` is a `mailto:` URI with an address or an `https:` URL with a
///   host, printable ASCII, at most [`MAX_SUB_LEN`] bytes;
/// - `jti`, if present, is 1 to [`MAX_JTI_LEN`] printable ASCII characters
///   other than `"` and `\`.
pub fn validate(req: &JwtRequest, now_ms: u64) -> Result<ValidatedClaims> {
    let aud = PushOrigin::parse(&req.aud)?;
    check_exp(req.exp, now_ms)?;
    check_sub(&req.sub)?;
    if let Some(jti) = &req.jti {
        check_jti(jti)?;
    }
    Ok(ValidatedClaims { aud, sub: req.sub.clone(), exp: req.exp, jti: req.jti.clone() })
}

fn check_exp(exp: u64, now_ms: u64) -> Result<()> {
    let max_ms = now_ms.saturating_add(MAX_JWT_LIFETIME_S.saturating_mul(1000));
    let too_far = || {
        CoreError::invalid(format!(
            "exp must be at most {MAX_JWT_LIFETIME_S} s (24 h) after now (RFC 8292 section 2): \
             the latest allowed is {}",
            max_ms / 1000
        ))
    };
    let exp_ms = exp.checked_mul(1000).ok_or_else(too_far)?;
    if exp_ms <= now_ms {
        return Err(CoreError::invalid(format!(
            "exp must be in the future: {exp} is not after now ({} s since the Unix epoch)",
            now_ms / 1000
        )));
    }
    if exp_ms > max_ms {
        return Err(too_far());
    }
    Ok(())
}

fn check_sub(sub: &str) -> Result<()> {
    const RULE: &str = "sub must be a mailto: URI (\"mailto:ops@example.com\") or an https: URL \
                        (\"https://example.com/contact\"), RFC 8292 section 2.1";
    if sub.is_empty() || sub.len() > MAX_SUB_LEN {
        return Err(CoreError::invalid(format!("sub must be 1 to {MAX_SUB_LEN} bytes")));
    }
    // The value is sent verbatim; a URI is ASCII, anything else is
    // percent-encoded.
    if !sub.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CoreError::invalid("sub must be printable ASCII without spaces (percent-encode other characters)"));
    }
    if let Some(address) = sub.strip_prefix("mailto:") {
        return match address.split_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => Ok(()),
            _ => Err(CoreError::invalid(format!("{RULE}: a mailto: URI needs an address with an @"))),
        };
    }
    if let Some(rest) = sub.strip_prefix("https://") {
        // The authority, as RFC 3986 reads it: up to the first `/`, `?` or
        // `#`. A WHATWG parser skips extra slashes (and reads `\` as `/`),
        // so `https:///path` would parse with `path` as its host; a
        // recipient reading RFC 3986 sees no host at all. Both must agree.
        let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or_default();
        if authority.is_empty() {
            return Err(CoreError::invalid(format!("{RULE}: the https: URL needs a host")));
        }
        let url = weburl::parse(sub).map_err(|e| CoreError::invalid(format!("{RULE}: {e}")))?;
        if url.host().is_none() {
            return Err(CoreError::invalid(format!("{RULE}: the https: URL needs a host")));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(CoreError::invalid("sub must not contain userinfo"));
        }
        return Ok(());
    }
    Err(CoreError::invalid(RULE))
}

fn check_jti(jti: &str) -> Result<()> {
    if jti.is_empty() || jti.len() > MAX_JTI_LEN {
        return Err(CoreError::invalid(format!("jti must be 1 to {MAX_JTI_LEN} characters")));
    }
    if !jti.bytes().all(|b| (0x20..=0x7e).contains(&b) && b != b'"' && b != b'\\') {
        return Err(CoreError::invalid("jti must be printable ASCII without \" and \\"));
    }
    Ok(())
}

/// The payload, serialized by serde_json so every string is escaped
/// correctly. Field order is the wire order.
#[derive(Serialize)]
struct Payload<'a> {
    aud: &'a str,
    exp: u64,
    sub: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    jti: Option<&'a str>,
}

/// Signs `claims` as a compact JWS (RFC 7515): base64url of the header
/// `{"typ":"JWT","alg":"ES256"}`, base64url of the payload
/// `{"aud":…,"exp":…,"sub":…[,"jti":…]}`, and base64url of the raw 64-byte
/// ES256 signature `r || s` over `header.payload`.
///
/// Fails (`Internal`) only if serialization or ECDSA fails, which does not
/// happen for these inputs.
pub fn sign(key: &VapidSigningKey, claims: &ValidatedClaims) -> Result<String> {
    let signing_input = signing_input(claims)?;
    let signature = key.sign(signing_input.as_bytes())?;
    Ok(compact(&signing_input, &signature))
}

/// `base64url(header) "." base64url(payload)` of `claims`: the bytes an
/// ES256 signer signs (see [`sign`]).
pub fn signing_input(claims: &ValidatedClaims) -> Result<String> {
    let payload = Payload { aud: claims.aud.as_str(), exp: claims.exp, sub: &claims.sub, jti: claims.jti.as_deref() };
    let payload =
        serde_json::to_vec(&payload).map_err(|_| CoreError::Internal("jwt payload serialization failed".into()))?;
    Ok(format!("{}.{}", crate::b64::encode(HEADER_JSON), crate::b64::encode(payload)))
}

/// The compact JWS of `signing_input` and its raw `r || s` signature.
fn compact(signing_input: &str, signature: &[u8; 64]) -> String {
    format!("{signing_input}.{}", crate::b64::encode(signature))
}

/// The `Authorization` header value of RFC 8292 section 3:
/// `vapid t=<jwt>, k=<base64url of the 65-byte uncompressed public key>`.
pub fn authorization_header(jwt: &str, public: &VapidPublicKey) -> String {
    format!("vapid t={jwt}, k={}", public.to_sec1_b64())
}

/// A signed token, as returned by RPC.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SignedJwt {
    /// The compact JWS.
    pub jwt: String,
    /// The signing key's id (RFC 7638 thumbprint).
    pub kid: KeyId,
    /// The token's expiry, seconds since the Unix epoch.
    pub exp: u64,
    /// The complete `Authorization` header value.
    pub authorization: String,
    /// The token's `jti`, when it has one (for the audit log and the holder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub jti: Option<String>,
}

impl SignedJwt {
    /// Signs `claims` with `key` and assembles the result.
    pub fn issue(key: &VapidSigningKey, claims: &ValidatedClaims) -> Result<Self> {
        let input = signing_input(claims)?;
        let signature = key.sign(input.as_bytes())?;
        Ok(Self::assemble(&input, &signature, &key.public(), claims))
    }

    /// The token whose [`signing_input`] of `claims` the key `public` signed
    /// as `signature` (raw `r || s`), for a signer outside this crate (a
    /// crypto provider).
    pub fn assemble(
        signing_input: &str,
        signature: &[u8; 64],
        public: &VapidPublicKey,
        claims: &ValidatedClaims,
    ) -> Self {
        let jwt = compact(signing_input, signature);
        Self {
            authorization: authorization_header(&jwt, public),
            kid: public.thumbprint(),
            exp: claims.exp,
            jti: claims.jti.clone(),
            jwt,
        }
    }
}
