//! The VAPID tokens a relay holds, obtained under a lease, and the choice of
//! one for a push.

use std::collections::BTreeMap;

use kms_core::ids::KeyId;
use kms_core::vapid::{authorization_header, PushOrigin, SignedJwt, VapidPublicKey};
use serde::Deserialize;

use super::error::RelayError;

/// Longest compact JWS accepted, in bytes. A KMS token is about 400.
pub const MAX_JWT_LEN: usize = 4096;

/// Longest decoded JOSE header accepted, in bytes.
const MAX_HEADER_LEN: usize = 256;

/// Tokens held for one push service.
#[derive(Clone)]
struct OriginTokens {
    origin: PushOrigin,
    tokens: Vec<SignedJwt>,
    /// The latest `exp` among tokens [`TokenHolder::prune`] dropped, so that
    /// a later refusal can still say when the last one expired.
    pruned_latest_exp: Option<u64>,
}

/// VAPID tokens (RFC 8292) that the KMS issued under a lease, indexed by
/// their audience, the push service's origin.
///
/// A token is checked when it is inserted: the compact JWS parses (the
/// payload is untrusted and parsed totally), `alg` is `ES256`, `aud` is a
/// [`PushOrigin`], `exp` matches [`SignedJwt::exp`], the `authorization`
/// value is exactly `vapid t=<jwt>, k=<key>` for this JWT, `k` is a P-256
/// point whose thumbprint is [`SignedJwt::kid`], and the signature verifies
/// under `k`. That catches a damaged or mixed-up token before a push service
/// refuses it; it does not make the token trustworthy (anyone can sign with
/// their own key), and the relay does not need it to be: the push service
/// judges the token.
///
/// Tokens are bearer credentials until they expire, so `Debug` shows only
/// origins, counts and expiries.
#[derive(Clone, Default)]
pub struct TokenHolder {
    by_origin: BTreeMap<String, OriginTokens>,
}

/// The claims the holder reads. Other claims (`sub`, `jti`) are ignored.
#[derive(Deserialize)]
struct Claims {
    aud: String,
    exp: u64,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// Whether a token expiring at `exp` is still valid for at least
/// `min_remaining_s` seconds at `now_s`. A JWT is invalid on and after its
/// `exp` (RFC 7519 section 4.1.4), so `exp == now_s` is expired.
fn valid_for(exp: u64, now_s: u64, min_remaining_s: u64) -> bool {
    exp > now_s && exp - now_s >= min_remaining_s
}

impl TokenHolder {
    /// An empty holder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Checks a token (see the type's docs) and adds it under its `aud`.
    /// Inserting a token that is already held does nothing. An expired token
    /// is accepted but never picked.
    pub fn insert(&mut self, token: SignedJwt) -> Result<(), RelayError> {
        let origin = check_token(&token)?;
        let entry = self.by_origin.entry(origin.as_str().to_owned()).or_insert_with(|| OriginTokens {
            origin,
            tokens: Vec::new(),
            pruned_latest_exp: None,
        });
        if !entry.tokens.iter().any(|t| t.jwt == token.jwt) {
            entry.tokens.push(token);
        }
        Ok(())
    }

    /// The token for `origin` with the latest expiry among those still valid
    /// for at least `min_remaining_s` seconds at `now_s` (seconds since the
    /// Unix epoch, from the relay's clock). Leave a margin for clock skew
    /// and delivery time.
    ///
    /// Fails with [`RelayError::NoTokenForOrigin`] if no token was ever
    /// inserted for `origin`, and [`RelayError::NoValidToken`] if tokens
    /// were, but none is valid for long enough any more.
    pub fn pick(&self, origin: &PushOrigin, now_s: u64, min_remaining_s: u64) -> Result<&SignedJwt, RelayError> {
        let entry = self
            .by_origin
            .get(origin.as_str())
            .ok_or_else(|| RelayError::NoTokenForOrigin { origin: origin.clone() })?;
        let best = entry.tokens.iter().filter(|t| valid_for(t.exp, now_s, min_remaining_s)).max_by_key(|t| t.exp);
        best.ok_or_else(|| {
            let expired = entry.tokens.iter().map(|t| t.exp).filter(|exp| *exp <= now_s);
            RelayError::NoValidToken {
                origin: origin.clone(),
                latest_expired_at: expired.chain(entry.pruned_latest_exp).max(),
            }
        })
    }

    /// Whether the relay should obtain new tokens for `origin` now: true when
    /// no token is valid for at least `margin_s` more seconds (including when
    /// none was ever inserted).
    pub fn needs_refresh(&self, origin: &PushOrigin, now_s: u64, margin_s: u64) -> bool {
        self.pick(origin, now_s, margin_s).is_err()
    }

    /// Drops every token that has expired at `now_s`. The origins stay
    /// known, with the latest expiry dropped, so [`TokenHolder::pick`] still
    /// tells "expired" from "never issued".
    pub fn prune(&mut self, now_s: u64) {
        for entry in self.by_origin.values_mut() {
            let dropped = entry.tokens.iter().map(|t| t.exp).filter(|exp| *exp <= now_s).max();
            entry.pruned_latest_exp = entry.pruned_latest_exp.max(dropped);
            entry.tokens.retain(|t| t.exp > now_s);
        }
    }

    /// The `Authorization` header value (`vapid t=<jwt>, k=<key>`, RFC 8292
    /// section 3) of the token [`TokenHolder::pick`] chooses.
    pub fn authorization(&self, origin: &PushOrigin, now_s: u64, min_remaining_s: u64) -> Result<&str, RelayError> {
        Ok(&self.pick(origin, now_s, min_remaining_s)?.authorization)
    }

    /// Every token held (expired ones included until pruned), as its
    /// audience, expiry and key id, without the JWT: what a relay may show
    /// or log. By audience, then expiry.
    pub fn expiries(&self) -> Vec<(&PushOrigin, u64, &KeyId)> {
        let mut out: Vec<(&PushOrigin, u64, &KeyId)> = Vec::with_capacity(self.len());
        for entry in self.by_origin.values() {
            let mut exps: Vec<(&PushOrigin, u64, &KeyId)> =
                entry.tokens.iter().map(|t| (&entry.origin, t.exp, &t.kid)).collect();
            exps.sort_by_key(|(_, exp, _)| *exp);
            out.extend(exps);
        }
        out
    }

    /// The number of tokens held (expired ones included until pruned).
    pub fn len(&self) -> usize {
        self.by_origin.values().map(|e| e.tokens.len()).sum()
    }

    /// Whether no token is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl std::fmt::Debug for TokenHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut map = f.debug_map();
        for entry in self.by_origin.values() {
            let exps: Vec<u64> = entry.tokens.iter().map(|t| t.exp).collect();
            map.entry(&entry.origin.as_str(), &format_args!("exp {exps:?}"));
        }
        map.finish()
    }
}

/// The checks of [`TokenHolder::insert`]; returns the token's audience.
fn check_token(token: &SignedJwt) -> Result<PushOrigin, RelayError> {
    let invalid = |msg: &str| RelayError::InvalidToken(msg.to_owned());
    let jwt = token.jwt.as_str();
    if jwt.len() > MAX_JWT_LEN {
        return Err(invalid("the JWT is longer than 4096 bytes"));
    }
    let (signing_input, signature) = jwt.rsplit_once('.').ok_or_else(|| invalid("not a compact JWS"))?;
    let (header, payload) = signing_input.split_once('.').ok_or_else(|| invalid("not a compact JWS"))?;
    if payload.contains('.') {
        return Err(invalid("not a compact JWS (more than three parts)"));
    }

    let header = kms_core::b64::decode(header, MAX_HEADER_LEN, "header").map_err(|_| invalid("bad JOSE header"))?;
    let header: Header = serde_json::from_slice(&header).map_err(|_| invalid("bad JOSE header"))?;
    if header.alg != "ES256" {
        return Err(invalid("alg must be ES256 (RFC 8292 section 2)"));
    }
    let claims = kms_core::b64::decode(payload, MAX_JWT_LEN, "payload").map_err(|_| invalid("bad JWT payload"))?;
    let claims: Claims = serde_json::from_slice(&claims)
        .map_err(|_| invalid("bad JWT payload: needs a string aud and an integer exp"))?;
    let origin = PushOrigin::parse(&claims.aud).map_err(|_| invalid("aud is not a push service origin"))?;
    if claims.exp != token.exp {
        return Err(invalid("the JWT's exp differs from the token's exp"));
    }

    let k = token
        .authorization
        .strip_prefix("vapid t=")
        .and_then(|rest| rest.strip_prefix(jwt))
        .and_then(|rest| rest.strip_prefix(", k="))
        .ok_or_else(|| invalid("authorization is not \"vapid t=<this JWT>, k=<key>\""))?;
    let key = VapidPublicKey::from_sec1_b64(k).map_err(|_| invalid("k is not a 65-byte uncompressed P-256 point"))?;
    if authorization_header(jwt, &key) != token.authorization {
        return Err(invalid("authorization is not in canonical form"));
    }
    if key.thumbprint() != token.kid {
        return Err(invalid("kid is not the thumbprint of k"));
    }
    let signature = kms_core::b64::decode_array::<64>(signature, "signature")
        .map_err(|_| invalid("the signature is not 64 bytes of base64url"))?;
    if !key.verify(signing_input.as_bytes(), &signature) {
        return Err(invalid("the signature does not verify under k"));
    }
    Ok(origin)
}
