//! Pending WebAuthn ceremonies, held in memory by the engine: gate-mode
//! challenges and PRF salts offered for a new enrollment. Each is single-use,
//! bound to one user (and, for a challenge, one enrollment) and expires.
//! They are deliberately not persisted: a restart simply asks for a new one.

use rand_core::CryptoRngCore;
use subtle::ConstantTimeEq;

use crate::env::UnixMillis;
use crate::error::{CoreError, Result};
use crate::ids::{CeremonyId, EnrollmentId, UserId};

/// How long a ceremony stays valid by default (WebAuthn's recommended
/// timeout range is 5 to 10 minutes).
pub const DEFAULT_CEREMONY_TTL_MS: u64 = 5 * 60 * 1000;
/// At most this many ceremonies are pending at once; the oldest is dropped.
pub const MAX_PENDING: usize = 256;

/// What a pending ceremony is waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CeremonyKind {
    /// A gate-mode unlock of this enrollment; the assertion must sign this
    /// challenge.
    GateChallenge { enrollment_id: EnrollmentId, challenge: [u8; 32] },
    /// A new PRF enrollment; the browser evaluates the PRF with this salt.
    PrfSalt { salt: [u8; 32] },
}

#[derive(Debug)]
struct Pending {
    id: CeremonyId,
    user: UserId,
    kind: CeremonyKind,
    expires_ms: UnixMillis,
}

/// The engine's book of pending ceremonies.
#[derive(Debug)]
pub struct CeremonyBook {
    pending: Vec<Pending>,
    ttl_ms: u64,
}

impl Default for CeremonyBook {
    fn default() -> Self {
        Self::new(DEFAULT_CEREMONY_TTL_MS)
    }
}

impl CeremonyBook {
    /// An empty book whose ceremonies live `ttl_ms`.
    pub fn new(ttl_ms: u64) -> Self {
        Self { pending: Vec::new(), ttl_ms }
    }

    /// Starts a gate challenge for `user`'s enrollment.
    pub fn issue_challenge(
        &mut self,
        user: &UserId,
        enrollment_id: &EnrollmentId,
        now: UnixMillis,
        rng: &mut impl CryptoRngCore,
    ) -> (CeremonyId, [u8; 32], UnixMillis) {
        let mut challenge = [0u8; 32];
        rng.fill_bytes(&mut challenge);
        let kind = CeremonyKind::GateChallenge { enrollment_id: enrollment_id.clone(), challenge };
        let (id, expires) = self.push(user, kind, now, rng);
        (id, challenge, expires)
    }

    /// Offers a fresh PRF salt for a new passkey enrollment of `user`.
    pub fn issue_prf_salt(
        &mut self,
        user: &UserId,
        now: UnixMillis,
        rng: &mut impl CryptoRngCore,
    ) -> (CeremonyId, [u8; 32], UnixMillis) {
        let mut salt = [0u8; 32];
        rng.fill_bytes(&mut salt);
        let (id, expires) = self.push(user, CeremonyKind::PrfSalt { salt }, now, rng);
        (id, salt, expires)
    }

    fn push(
        &mut self,
        user: &UserId,
        kind: CeremonyKind,
        now: UnixMillis,
        rng: &mut impl CryptoRngCore,
    ) -> (CeremonyId, UnixMillis) {
        self.pending.retain(|p| p.expires_ms > now);
        if self.pending.len() >= MAX_PENDING {
            self.pending.remove(0);
        }
        let id = CeremonyId::generate(rng);
        let expires_ms = now.saturating_add(self.ttl_ms);
        self.pending.push(Pending { id: id.clone(), user: user.clone(), kind, expires_ms });
        (id, expires_ms)
    }

    /// Takes (removes) the ceremony `id` of `user`. It is consumed whatever
    /// happens next, so a challenge can be answered once only. Unknown, used,
    /// expired and other users' ceremonies all give `not_found`.
    pub fn take(&mut self, user: &UserId, id: &CeremonyId, now: UnixMillis) -> Result<CeremonyKind> {
        let pos = self.pending.iter().position(|p| bool::from(p.id.as_str().as_bytes().ct_eq(id.as_str().as_bytes())));
        let not_found = || CoreError::NotFound("ceremony (unknown, already used, or expired)".into());
        let pending = match pos {
            Some(i) => self.pending.remove(i),
            None => return Err(not_found()),
        };
        if pending.expires_ms <= now || &pending.user != user {
            return Err(not_found());
        }
        Ok(pending.kind)
    }

    /// Number of pending ceremonies (for tests and metrics).
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Whether nothing is pending.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn single_use_expiring_and_bound_to_user() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(3);
        let alice = UserId::parse("alice").unwrap();
        let bob = UserId::parse("bob").unwrap();
        let e = EnrollmentId::generate(&mut rng);
        let mut book = CeremonyBook::new(1000);

        let (id, ch, _) = book.issue_challenge(&alice, &e, 0, &mut rng);
        assert_eq!(
            book.take(&alice, &id, 10).unwrap(),
            CeremonyKind::GateChallenge { enrollment_id: e.clone(), challenge: ch }
        );
        assert!(book.take(&alice, &id, 10).is_err(), "second use must fail");

        let (id, _, _) = book.issue_challenge(&alice, &e, 0, &mut rng);
        assert!(book.take(&alice, &id, 1000).is_err(), "expired");

        let (id, _, _) = book.issue_prf_salt(&alice, 0, &mut rng);
        assert!(book.take(&bob, &id, 1).is_err(), "other user");
        assert!(book.take(&alice, &id, 1).is_err(), "consumed by the failed attempt");
    }

    #[test]
    fn capped() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(4);
        let alice = UserId::parse("alice").unwrap();
        let mut book = CeremonyBook::new(1000);
        for _ in 0..(MAX_PENDING + 10) {
            book.issue_prf_salt(&alice, 0, &mut rng);
        }
        assert_eq!(book.len(), MAX_PENDING);
    }
}
