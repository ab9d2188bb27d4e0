//! The VAPID check of a push (RFC 8292): `Authorization: vapid t=<JWT>,
//! k=<key>`, an ES256 JWT that verifies under `k`, for this push service
//! (`aud`), not expired and at most 24 hours ahead (`exp`), with a contact
//! (`sub`).
//!
//! Independent of the KMS's own code on purpose: the key is parsed with
//! `p256` and the JWT verified with `jsonwebtoken`, so a bug the KMS and
//! its relay share cannot pass unnoticed here.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, Validation};
use p256::{elliptic_curve::sec1::ToEncodedPoint as _, PublicKey};
use serde_json::{Map, Value};

use super::store::POINT_LEN;

/// Longest `Authorization` value read, in bytes. A VAPID header is about 500.
pub const MAX_AUTHORIZATION_LEN: usize = 4096;

/// The longest a token may still be valid (RFC 8292 section 2: `exp` MUST
/// NOT be more than 24 hours from the time of the request).
pub const MAX_TOKEN_LIFETIME_MS: u64 = 24 * 3600 * 1000;

/// Checks the `Authorization` value of a push to the service at `origin`
/// (`http://localhost:<port>`) at time `now_ms`. Returns the key `k` (the
/// 65-byte uncompressed point) the token verified under, or why it was
/// refused, in words (the answer is 401).
pub fn check(authorization: Option<&str>, origin: &str, now_ms: u64) -> Result<[u8; POINT_LEN], String> {
    let value =
        authorization.ok_or("no Authorization header: a push needs 'vapid t=<JWT>, k=<key>' (RFC 8292 section 3)")?;
    if value.len() > MAX_AUTHORIZATION_LEN {
        return Err(format!("Authorization longer than {MAX_AUTHORIZATION_LEN} bytes"));
    }
    let (jwt, k) = parse_header(value)?;
    let key = parse_key(k)?;
    let claims = verify_jwt(jwt, &key)?;
    check_claims(&claims, origin, now_ms)?;
    point_bytes(&key).ok_or_else(|| "k does not encode to 65 bytes".to_owned())
}

/// `vapid t=<jwt>, k=<key>`: scheme `vapid` (case-insensitive), then the
/// two parameters in either order, each once.
fn parse_header(value: &str) -> Result<(&str, &str), String> {
    const SHAPE: &str = "Authorization is not 'vapid t=<JWT>, k=<key>' (RFC 8292 section 3)";
    let (scheme, params) = value.trim().split_once(' ').ok_or(SHAPE)?;
    if !scheme.eq_ignore_ascii_case("vapid") {
        return Err(format!("Authorization scheme is {scheme:?}, not vapid (RFC 8292 section 3)"));
    }
    let (mut t, mut k) = (None, None);
    for param in params.split(',') {
        let (name, param_value) = param.trim().split_once('=').ok_or(SHAPE)?;
        let param_value = param_value.trim();
        // A quoted-string is allowed by the auth-param grammar (RFC 9110).
        let param_value = param_value.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(param_value);
        let slot = match name.trim().to_ascii_lowercase().as_str() {
            "t" => &mut t,
            "k" => &mut k,
            _ => continue,
        };
        if slot.replace(param_value).is_some() {
            return Err(format!("Authorization has {name}= twice"));
        }
    }
    match (t, k) {
        (Some(t), Some(k)) => Ok((t, k)),
        (None, _) => Err("Authorization has no t= (the JWT)".into()),
        (_, None) => Err("Authorization has no k= (the public key)".into()),
    }
}

/// `k`: base64url (padding tolerated) of a 65-byte uncompressed P-256 point.
fn parse_key(k: &str) -> Result<PublicKey, String> {
    const NOT_A_KEY: &str = "k is not the base64url of a 65-byte uncompressed P-256 point";
    let bytes = URL_SAFE_NO_PAD.decode(k.trim_end_matches('=')).map_err(|_| NOT_A_KEY)?;
    if bytes.len() != POINT_LEN || bytes.first() != Some(&0x04) {
        return Err(NOT_A_KEY.into());
    }
    PublicKey::from_sec1_bytes(&bytes).map_err(|_| "k is not a point on P-256".into())
}

/// The uncompressed encoding of a key.
fn point_bytes(key: &PublicKey) -> Option<[u8; POINT_LEN]> {
    key.to_encoded_point(false).as_bytes().try_into().ok()
}

/// Verifies the JWS (ES256, RFC 7518 section 3.4) under `key` with
/// jsonwebtoken and returns its claims. The time and audience checks are
/// [`check_claims`]'s, against the clock the caller passed.
fn verify_jwt(jwt: &str, key: &PublicKey) -> Result<Map<String, Value>, String> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|e| format!("the JWT is malformed ({e})"))?;
    if header.alg != Algorithm::ES256 {
        return Err(format!("JWT alg is {:?}, not ES256 (RFC 8292 section 2)", header.alg));
    }
    // RFC 7519 section 5.1: when present, "JWT" is the value to use.
    if header.typ.as_deref().is_some_and(|typ| typ != "JWT") {
        return Err("JWT typ is not \"JWT\"".into());
    }
    let point = key.to_encoded_point(false);
    let (Some(x), Some(y)) = (point.x(), point.y()) else {
        return Err("k is the point at infinity".into());
    };
    let decoding = DecodingKey::from_ec_components(&URL_SAFE_NO_PAD.encode(x), &URL_SAFE_NO_PAD.encode(y))
        .map_err(|e| format!("k is not usable as an ES256 key ({e})"))?;
    let mut validation = Validation::new(Algorithm::ES256);
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    match jsonwebtoken::decode::<Map<String, Value>>(jwt, &decoding, &validation) {
        Ok(data) => Ok(data.claims),
        Err(e) if matches!(e.kind(), ErrorKind::InvalidSignature) => {
            Err("the JWT signature does not verify under k".into())
        }
        Err(e) => Err(format!("the JWT does not verify ({e})")),
    }
}

/// `aud` is exactly this service's origin, `exp` in (now, now + 24 h], and
/// `sub` a `mailto:` or `https:` contact.
fn check_claims(claims: &Map<String, Value>, origin: &str, now_ms: u64) -> Result<(), String> {
    match claims.get("aud") {
        Some(Value::String(aud)) if aud == origin => {}
        Some(Value::String(aud)) => {
            return Err(format!("JWT aud is {aud:?}, not this push service's origin {origin:?} (RFC 8292 section 2)"))
        }
        Some(_) => return Err("JWT aud is not a string".into()),
        None => return Err("JWT has no aud".into()),
    }
    let exp = match claims.get("exp") {
        Some(exp) => exp.as_u64().ok_or("JWT exp is not a whole number of seconds")?,
        None => return Err("JWT has no exp (RFC 8292 section 2)".into()),
    };
    let too_far = || "JWT exp is more than 24 hours ahead (RFC 8292 section 2)".to_owned();
    let exp_ms = exp.checked_mul(1000).ok_or_else(too_far)?;
    if exp_ms <= now_ms {
        return Err("JWT has expired (exp is not in the future)".into());
    }
    if exp_ms > now_ms.saturating_add(MAX_TOKEN_LIFETIME_MS) {
        return Err(too_far());
    }
    match claims.get("sub") {
        // RFC 8292 section 2.1 says SHOULD; the KMS signs nothing else, so
        // anything else here is a bug worth seeing.
        Some(Value::String(sub)) if sub.starts_with("mailto:") || sub.starts_with("https:") => Ok(()),
        Some(_) => Err("JWT sub is not a mailto: or https: contact".into()),
        None => Err("JWT has no sub (the contact of the application server)".into()),
    }
}
