//! Shared helpers for the lease tests: a user with a VAPID key, leases made
//! with a seeded RNG at a fixed time, and an independent JWT check
//! (jsonwebtoken 11, RustCrypto backend). Used by the `lease_*.rs` test
//! files as `support::lease`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
#![allow(dead_code)]

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use kms_core::ids::{KeyId, UserId};
use kms_core::lease::{self, IssueRequest, LeaseCredential, LeaseParams, LeaseRecord};
use kms_core::vapid::{SignedJwt, VapidSigningKey};
use kms_core::{CoreError, ErrorCode};
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha20Rng;
use serde::Deserialize;

/// A fixed clock reading, deliberately not on a whole second.
pub const NOW_MS: u64 = 1_700_000_000_250;
pub const NOW_S: u64 = NOW_MS / 1000;
pub const HOUR_MS: u64 = 3_600_000;
pub const DAY_MS: u64 = 24 * HOUR_MS;

pub const FCM: &str = "https://fcm.googleapis.com";
pub const MOZ: &str = "https://updates.push.services.mozilla.com";
pub const APPLE: &str = "https://web.push.apple.com";
pub const SUB: &str = "mailto:ops@example.com";

pub fn rng(seed: u64) -> ChaCha20Rng {
    ChaCha20Rng::seed_from_u64(seed)
}

pub fn user(name: &str) -> UserId {
    UserId::parse(name).unwrap()
}

/// A VAPID key and its kid, from a seed.
pub fn vapid(seed: u64) -> (VapidSigningKey, KeyId) {
    let key = VapidSigningKey::generate(&mut rng(seed));
    let kid = key.public().thumbprint();
    (key, kid)
}

/// Lease parameters with defaults for everything optional.
pub fn params(audiences: &[&str]) -> LeaseParams {
    LeaseParams {
        relay: "relay-1".into(),
        audiences: audiences.iter().map(|s| (*s).to_owned()).collect(),
        lifetime_s: None,
        tokens_per_hour: None,
        max_batch: None,
    }
}

/// A user's lease, as the engine would create it with a live session.
#[derive(Debug)]
pub struct Lease {
    pub user: UserId,
    pub key: VapidSigningKey,
    pub kid: KeyId,
    pub record: LeaseRecord,
    pub credential: LeaseCredential,
}

pub fn lease_with(name: &str, p: &LeaseParams, now_ms: u64, seed: u64) -> Lease {
    let user = user(name);
    let (key, kid) = vapid(seed);
    let (record, credential) = lease::create(p, &user, &key, &kid, now_ms, &mut rng(seed + 1000)).unwrap();
    Lease { user, key, kid, record, credential }
}

/// alice's lease for FCM and Mozilla, created at NOW_MS with defaults.
pub fn lease(seed: u64) -> Lease {
    lease_with("alice", &params(&[FCM, MOZ]), NOW_MS, seed)
}

/// Issues under `record` at `now_ms` as the engine does: the check (with the
/// lease's own key as the user's current one), then the issuance.
pub fn issue(
    record: &LeaseRecord,
    credential: &LeaseCredential,
    req: &IssueRequest,
    now_ms: u64,
    rng: &mut ChaCha20Rng,
) -> Result<(Vec<SignedJwt>, LeaseRecord), CoreError> {
    let usable = lease::check_usable(record, now_ms, Some(record.kid()))?;
    lease::issue(&usable, credential, req, rng)
}

/// Extends `record` at `now_ms` as the engine does: the check against the
/// user's `current_kid`, then the extension.
pub fn extend(
    record: &LeaseRecord,
    lifetime_s: u64,
    now_ms: u64,
    current_kid: Option<&KeyId>,
) -> Result<LeaseRecord, CoreError> {
    let usable = lease::check_usable(record, now_ms, current_kid)?;
    lease::extend(&usable, lifetime_s)
}

pub fn req(aud: &str, count: u32, ttl_s: Option<u64>) -> IssueRequest {
    IssueRequest { aud: aud.into(), sub: SUB.into(), count, ttl_s }
}

/// The credential's text, through its `Serialize` (as the RPC returns it).
pub fn text(c: &LeaseCredential) -> String {
    serde_json::from_value::<String>(serde_json::to_value(c).unwrap()).unwrap()
}

pub fn code<T: std::fmt::Debug>(r: Result<T, CoreError>) -> ErrorCode {
    r.unwrap_err().code()
}

/// The record as JSON, edited by `f`, read back: what a writer of the
/// store can do.
pub fn edited(record: &LeaseRecord, f: impl FnOnce(&mut serde_json::Value)) -> LeaseRecord {
    let mut v = serde_json::to_value(record).unwrap();
    f(&mut v);
    serde_json::from_value(v).unwrap()
}

#[derive(Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    pub aud: String,
    pub exp: u64,
    pub sub: String,
    pub jti: String,
}

/// Verifies `token` with jsonwebtoken against `key`'s public JWK: ES256,
/// signature, `aud`, required claims. `exp` is checked against the real
/// clock only when `check_exp` (tests at a fixed time check it themselves).
pub fn verify(token: &SignedJwt, key: &VapidSigningKey, aud: &str, check_exp: bool) -> Claims {
    let jwk = key.public().jwk();
    let dk = DecodingKey::from_ec_components(&jwk.x, &jwk.y).unwrap();
    let mut v = Validation::new(Algorithm::ES256);
    v.set_audience(&[aud]);
    v.set_required_spec_claims(&["exp", "aud", "sub"]);
    v.validate_exp = check_exp;
    v.leeway = 0;
    let header = jsonwebtoken::decode_header(&token.jwt).unwrap();
    assert_eq!(header.alg, Algorithm::ES256);
    let claims = jsonwebtoken::decode::<Claims>(&token.jwt, &dk, &v).unwrap().claims;
    assert_eq!(claims.exp, token.exp);
    assert_eq!(token.kid, key.public().thumbprint());
    assert_eq!(token.authorization, format!("vapid t={}, k={}", token.jwt, key.public().to_sec1_b64()));
    claims
}
