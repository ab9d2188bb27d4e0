//! Issuing tokens under a lease, without the user.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Serialize};

use super::credential::LeaseCredential;
use super::custody::{self, invalid_credential};
use super::record::LeaseRecord;
use super::refusal::UsableLease;
use super::{DEFAULT_TOKEN_TTL_S, MIN_STAGGER_S, MIN_TOKEN_LIFETIME_S, QUOTA_WINDOW_MS};
use crate::crypto::aead::Sealed;
use crate::crypto::p256_key::KeyFormat;
use crate::error::{CoreError, Result};
use crate::vapid::{validate, JwtRequest, PushOrigin, SignedJwt, ValidatedClaims, MAX_JWT_LIFETIME_S};

/// What a lease holder asks for (the credential travels beside it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct IssueRequest {
    /// The push service's origin: one of the lease's audiences.
    pub aud: String,
    /// The operator's contact, `mailto:` or `https:` (RFC 8292 section 2.1).
    pub sub: String,
    /// How many tokens, 1 to the lease's `max_batch`. Default 1.
    #[serde(default = "one")]
    #[cfg_attr(feature = "ts", ts(as = "Option<_>", optional))]
    pub count: u32,
    /// The wanted lifetime of the longest-lived token, in seconds: more than
    /// [`MIN_TOKEN_LIFETIME_S`]; default [`DEFAULT_TOKEN_TTL_S`]. Longer than
    /// 24 h or than the lease has left is served at that limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_s: Option<u64>,
}

fn one() -> u32 {
    1
}

/// Issues `req.count` tokens under a checked lease ([`super::check_usable`]:
/// not revoked, not ended, bound to the user's current key) for the holder
/// of `credential`, at the instant of the check (see the issuance rules of
/// [`crate::lease`]). Returns the tokens, sorted by expiry, and the record
/// with the new issuance times, which the engine must write (atomically,
/// against the record it read) before handing the tokens out. The checked
/// record itself is not changed.
///
/// In order: the credential must name this lease and open its sealed key
/// (`forbidden`, "invalid lease credential"); `aud` must be an origin
/// (`invalid_input`) and one of the lease's audiences (`forbidden`); `count`
/// and `ttl_s` must be in range (`invalid_input`); the lease must have more
/// than [`MIN_TOKEN_LIFETIME_S`] left (`lease_expired`); `sub` must be valid
/// (`invalid_input`); the quota must allow `count` more tokens
/// (`quota_exceeded` with `retry_after_ms`).
///
/// The engine finds the record by `credential.lease_id()`; if it keeps
/// leases under per-user keys, it must also check that `record.user()` is
/// the user it looked under (the sealed key opens for the user named in the
/// record, wherever the record sits).
pub fn issue(
    lease: &UsableLease<'_>,
    credential: &LeaseCredential,
    req: &IssueRequest,
    rng: &mut impl CryptoRngCore,
) -> Result<(Vec<SignedJwt>, LeaseRecord)> {
    verify_credential(lease.record(), credential)?;
    let opening = opening(lease, credential)?;
    let record = lease.record();
    // The lease id comes from the credential (equal to the record's), the
    // user and kid from the record: a record moved to another user or
    // lease, or rebound to another kid, does not open.
    let signing_key = custody::open(
        opening.sealed,
        opening.format,
        credential.secret(),
        &record.user,
        credential.lease_id(),
        &record.kid,
    )?;
    let (claims, updated) = plan(lease, req, rng)?;
    let tokens = claims.iter().map(|c| SignedJwt::issue(&signing_key, c)).collect::<Result<Vec<_>>>()?;
    // The unsealed key is wiped here (p256's `SigningKey` zeroizes on drop).
    drop(signing_key);
    Ok((tokens, updated))
}

/// Checks `credential` against `record` before anything about the lease is
/// told: its id must be the record's, and its secret must derive to the
/// record's credential check (compared in constant time). A record made
/// before the check existed passes here; its credential is checked when
/// its key is opened ([`opening`]). Any mismatch is `forbidden`, "invalid
/// lease credential", whatever state the lease is in.
pub fn verify_credential(record: &LeaseRecord, credential: &LeaseCredential) -> Result<()> {
    use subtle::ConstantTimeEq as _;
    if credential.lease_id() != record.id() {
        return Err(invalid_credential());
    }
    let Some(stored) = &record.credential_check else {
        return Ok(());
    };
    let derived = custody::credential_check(credential.secret(), &record.user, credential.lease_id())?;
    if bool::from(derived.as_bytes().ct_eq(stored.as_bytes())) {
        Ok(())
    } else {
        Err(invalid_credential())
    }
}

/// What opening a lease's key takes, for a caller that opens it itself
/// (the engine, through its crypto provider): the sealed key and its
/// format, the lease key's HKDF salt and `info` (input: the credential's
/// secret), and the AAD.
#[derive(Debug)]
pub struct LeaseOpening<'a> {
    pub sealed: &'a Sealed,
    pub format: KeyFormat,
    pub kdf_salt: Vec<u8>,
    pub kdf_info: Vec<u8>,
    pub aad: Vec<u8>,
}

/// The first step of [`issue`]: the credential must name this lease
/// (`forbidden`, "invalid lease credential"). Its key is opened next; a
/// key that does not open is the same refusal
/// ([`INVALID_CREDENTIAL`](super::custody::INVALID_CREDENTIAL)), an
/// authentic one that is not the lease's key is `Integrity`. Then
/// [`plan`].
pub fn opening<'a>(lease: &UsableLease<'a>, credential: &LeaseCredential) -> Result<LeaseOpening<'a>> {
    let record: &'a LeaseRecord = lease.record();
    if credential.lease_id() != record.id() {
        return Err(invalid_credential());
    }
    // A usable lease is active, and an active record always has its key
    // (checked when it is read).
    let sealed = record.sealed_key.as_ref().ok_or(CoreError::Integrity)?;
    let (kdf_salt, kdf_info) = custody::lease_key_kdf(&record.user, credential.lease_id());
    let aad = crate::crypto::aad::lease_key(&record.user, credential.lease_id(), &record.kid);
    Ok(LeaseOpening { sealed, format: record.sealed_format, kdf_salt, kdf_info, aad })
}

/// The rest of [`issue`] once the key opened: `aud` must be an origin
/// (`invalid_input`) and one of the lease's audiences (`forbidden`); `count`
/// and `ttl_s` must be in range (`invalid_input`); the lease must have more
/// than [`MIN_TOKEN_LIFETIME_S`] left (`lease_expired`); `sub` must be valid
/// (`invalid_input`); the quota must allow `count` more tokens
/// (`quota_exceeded`). Returns the claims to sign, in order, and the record
/// with the new issuance times.
pub fn plan(
    lease: &UsableLease<'_>,
    req: &IssueRequest,
    rng: &mut impl CryptoRngCore,
) -> Result<(Vec<ValidatedClaims>, LeaseRecord)> {
    let (record, now_ms) = (lease.record(), lease.now_ms());
    let aud = PushOrigin::parse(&req.aud)?;
    if !record.audiences.contains(&aud) {
        let allowed: Vec<&str> = record.audiences.iter().map(PushOrigin::as_str).collect();
        return Err(CoreError::Forbidden(format!(
            "aud {aud} is not one of this lease's audiences: {}",
            allowed.join(", ")
        )));
    }
    if req.count == 0 {
        return Err(CoreError::invalid("count must be at least 1"));
    }
    if req.count > record.max_batch {
        return Err(CoreError::invalid(format!(
            "count ({}) exceeds this lease's max_batch of {}",
            req.count, record.max_batch
        )));
    }
    let ttl_s = req.ttl_s.unwrap_or(DEFAULT_TOKEN_TTL_S);
    if ttl_s <= MIN_TOKEN_LIFETIME_S {
        return Err(CoreError::invalid(format!("ttl_s must be more than {MIN_TOKEN_LIFETIME_S}")));
    }
    let exps = expiries(now_ms, record.expires_ms, ttl_s.min(MAX_JWT_LIFETIME_S), req.count)?;

    let claims = exps
        .iter()
        .map(|&exp| {
            let mut jti = [0u8; 16];
            rng.fill_bytes(&mut jti);
            let request =
                JwtRequest { aud: aud.to_string(), sub: req.sub.clone(), exp, jti: Some(crate::b64::encode(jti)) };
            validate(&request, now_ms)
        })
        .collect::<Result<Vec<ValidatedClaims>>>()?;

    let issued = take_quota(record, req.count, now_ms)?;
    let mut updated = record.clone();
    updated.issued = issued;
    Ok((claims, updated))
}

/// The expiries (seconds since the Unix epoch) of a batch of `count`
/// tokens, ascending.
///
/// `latest = min(now + ttl_s, lease end)`, rounded down to whole seconds;
/// `earliest` is the first second more than [`MIN_TOKEN_LIFETIME_S`] after
/// `now_ms`. Token `i` of `n` expires at `latest - (n - 1 - i) * stagger`,
/// `stagger = max(MIN_STAGGER_S, (latest - now) / n)`, lowered to
/// `(latest - earliest) / (n - 1)` if the spread would reach below
/// `earliest`. Every expiry is thus in `[earliest, latest]`. `ttl_s` is at
/// most 24 h and more than [`MIN_TOKEN_LIFETIME_S`] (checked by the caller),
/// so `latest < earliest` happens only near the lease's end.
fn expiries(now_ms: u64, lease_end_ms: u64, ttl_s: u64, count: u32) -> Result<Vec<u64>> {
    let now_s = now_ms / 1000;
    let earliest = now_ms.saturating_add(MIN_TOKEN_LIFETIME_S.saturating_mul(1000)) / 1000 + 1;
    let latest = now_s.saturating_add(ttl_s).min(lease_end_ms / 1000);
    if latest < earliest {
        return Err(CoreError::LeaseExpired(format!(
            "the lease ends in {} s, too soon for a token that stays valid for more than {MIN_TOKEN_LIFETIME_S} s; \
             ask the user to extend it or grant a new one",
            lease_end_ms.saturating_sub(now_ms) / 1000
        )));
    }
    let n = u64::from(count.max(1));
    let gaps = n - 1;
    let stagger = match gaps {
        0 => 0,
        _ => {
            let wanted = ((latest - now_s) / n).max(MIN_STAGGER_S);
            wanted.min((latest - earliest) / gaps)
        }
    };
    // (gaps - i) * stagger <= gaps * stagger <= latest - earliest: no underflow.
    Ok((0..n).map(|i| latest - (gaps - i) * stagger).collect())
}

/// The quota window after issuing `count` more tokens at `now_ms`, or
/// `quota_exceeded` with the time until enough earlier tokens leave the
/// window for `count` to fit.
fn take_quota(record: &LeaseRecord, count: u32, now_ms: u64) -> Result<Vec<u64>> {
    let limit = record.tokens_per_hour;
    let mut window = record.issued_in_window(now_ms);
    let used = u64::try_from(window.len()).unwrap_or(u64::MAX);
    let wanted = u64::from(count);
    if wanted > u64::from(limit) {
        // Not reachable for a valid record (max_batch <= tokens_per_hour).
        return Err(CoreError::invalid(format!("count ({count}) exceeds tokens_per_hour ({limit})")));
    }
    let excess = used.saturating_add(wanted).saturating_sub(u64::from(limit));
    if excess > 0 {
        // The `excess` oldest tokens must leave; the last of them leaves at
        // its time + 1 h. Every entry is in the window, so this is >= 1 ms.
        let retry_after_ms = usize::try_from(excess - 1)
            .ok()
            .and_then(|i| window.get(i))
            .map_or(QUOTA_WINDOW_MS, |t| t.saturating_add(QUOTA_WINDOW_MS).saturating_sub(now_ms));
        return Err(CoreError::QuotaExceeded { limit, retry_after_ms });
    }
    window.extend(std::iter::repeat_n(now_ms, usize::try_from(count).unwrap_or(0)));
    Ok(window)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW_MS: u64 = 1_700_000_000_250;
    const NOW_S: u64 = NOW_MS / 1000;
    const DAY_MS: u64 = 86_400_000;

    fn strictly_increasing(v: &[u64]) -> bool {
        v.windows(2).all(|w| w[0] < w[1])
    }

    #[test]
    fn single_token_gets_the_full_ttl() {
        assert_eq!(expiries(NOW_MS, NOW_MS + DAY_MS, 3600, 1).unwrap(), vec![NOW_S + 3600]);
    }

    #[test]
    fn batch_is_staggered_by_lifetime_over_n() {
        let e = expiries(NOW_MS, NOW_MS + DAY_MS, 12 * 3600, 10).unwrap();
        assert_eq!(e.len(), 10);
        assert_eq!(e[9], NOW_S + 12 * 3600);
        assert!(e.windows(2).all(|w| w[1] - w[0] == 4320), "{e:?}");
    }

    #[test]
    fn short_ttl_squeezes_the_stagger_so_the_first_token_lives_a_minute() {
        // 1 h for 10 tokens: 360 s apart.
        let e = expiries(NOW_MS, NOW_MS + DAY_MS, 3600, 10).unwrap();
        assert!(e.windows(2).all(|w| w[1] - w[0] == 360), "{e:?}");
        // 700 s: 70 s apart fits (9 * 70 = 630 <= 700 - 61).
        let e = expiries(NOW_MS, NOW_MS + DAY_MS, 700, 10).unwrap();
        assert!(e.windows(2).all(|w| w[1] - w[0] == 70), "{e:?}");
        // 600 s: 60 s apart would put the first token 60 s from now, not
        // more; the stagger drops to 59 s and the first lives 69 s.
        let e = expiries(NOW_MS, NOW_MS + DAY_MS, 600, 10).unwrap();
        assert!(e.windows(2).all(|w| w[1] - w[0] == 59), "{e:?}");
        assert_eq!(e[0], NOW_S + 69);
    }

    #[test]
    fn stagger_shrinks_to_fit_and_never_goes_below_the_minimum_lifetime() {
        // 2 minutes left in the lease, 10 tokens.
        let end = NOW_MS + 120_000;
        let e = expiries(NOW_MS, end, 12 * 3600, 10).unwrap();
        assert_eq!(e.len(), 10);
        assert!(strictly_increasing(&e), "{e:?}");
        assert!(e.iter().all(|&x| x * 1000 > NOW_MS + 60_000 && x * 1000 <= end), "{e:?}");
        // 62 s left: room for one second only; tokens share expiries.
        let end = NOW_MS + 62_000;
        let e = expiries(NOW_MS, end, 12 * 3600, 10).unwrap();
        assert!(e.iter().all(|&x| x * 1000 > NOW_MS + 60_000 && x * 1000 <= end), "{e:?}");
        assert!(e.windows(2).all(|w| w[0] <= w[1]), "{e:?}");
    }

    #[test]
    fn too_close_to_the_end_is_refused() {
        for left_ms in [0, 30_000, 60_000, 60_749] {
            let err = expiries(NOW_MS, NOW_MS + left_ms, 12 * 3600, 1).unwrap_err();
            assert!(matches!(err, CoreError::LeaseExpired(_)), "{left_ms}: {err}");
        }
        // 60.75 s left reaches the second NOW_S + 61, which is 60.75 s away.
        assert_eq!(expiries(NOW_MS, NOW_MS + 60_750, 12 * 3600, 1).unwrap(), vec![NOW_S + 61]);
    }

    #[test]
    fn minimum_ttl_always_fits() {
        for now_ms in [NOW_S * 1000, NOW_S * 1000 + 1, NOW_S * 1000 + 999] {
            let e = expiries(now_ms, now_ms + DAY_MS, MIN_TOKEN_LIFETIME_S + 1, 5).unwrap();
            assert!(e.iter().all(|&x| x * 1000 > now_ms + 60_000), "{now_ms}: {e:?}");
        }
    }
}
