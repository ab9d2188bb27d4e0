//! VAPID JWTs checked independently of the engine: the RFC 7638 thumbprint
//! and jsonwebtoken's verification.

use sha2::{Digest as _, Sha256};

use super::b64;

/// RFC 7638 thumbprint of a P-256 JWK, computed here independently of the
/// engine: SHA-256 over the required members in lexicographic order.
pub fn rfc7638_thumbprint(x: &str, y: &str) -> String {
    let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
    b64(Sha256::digest(canonical.as_bytes()))
}

/// The claims of a VAPID JWT, as jsonwebtoken decodes them.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VapidClaims {
    pub aud: String,
    pub exp: u64,
    pub sub: String,
    #[serde(default)]
    pub jti: Option<String>,
}

/// Verifies `jwt` with jsonwebtoken (an independent implementation) against
/// the P-256 key `(x, y)` (JWK coordinates), requiring ES256, `aud`, `exp`
/// (not expired, no leeway) and `sub`.
pub fn verify_jwt(jwt: &str, x: &str, y: &str, aud: &str) -> Result<VapidClaims, jsonwebtoken::errors::Error> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let key = DecodingKey::from_ec_components(x, y)?;
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&[aud]);
    v.set_required_spec_claims(&["exp", "aud", "sub"]);
    v.leeway = 0;
    jsonwebtoken::decode::<VapidClaims>(jwt, &key, &v).map(|d| d.claims)
}

/// [`verify_jwt`] without the expiry check: for tokens signed at a fixed
/// instant of a stored fixture, whose expiry the real clock may have passed.
pub fn verify_jwt_signature(
    jwt: &str,
    x: &str,
    y: &str,
    aud: &str,
) -> Result<VapidClaims, jsonwebtoken::errors::Error> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let key = DecodingKey::from_ec_components(x, y)?;
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&[aud]);
    v.set_required_spec_claims(&["exp", "aud", "sub"]);
    v.validate_exp = false;
    jsonwebtoken::decode::<VapidClaims>(jwt, &key, &v).map(|d| d.claims)
}
