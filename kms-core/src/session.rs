//! Sessions: what a successful unlock opens. A session holds the user's
//! master secret in memory until it is locked, expires, or is dropped (the
//! secret is zeroized in every case, by [`MasterSecret`]'s drop).
//!
//! A session is named by a random bearer token handed to the caller. Every
//! operation that needs the master secret presents the user id and the
//! token; the token must belong to that user and be live.

use rand_core::CryptoRngCore;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::env::UnixMillis;
use crate::error::{CoreError, Result};
use crate::ids::{KeyId, UserId};
use crate::secret::MasterSecret;
use crate::vapid::VapidSigningKey;

/// Default session lifetime: 5 minutes.
pub const DEFAULT_TTL_MS: u64 = 5 * 60 * 1000;
/// Longest configurable session lifetime: 24 hours.
pub const MAX_TTL_MS: u64 = 24 * 60 * 60 * 1000;
/// At most this many live sessions per user; opening one more closes the
/// oldest (two tabs are normal, a hundred are a leak).
pub const MAX_PER_USER: usize = 8;
/// At most this many live sessions in all.
pub const MAX_TOTAL: usize = 1024;

/// A session token: 32 random bytes, base64url. A bearer capability, so it
/// never prints.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
// TypeScript: a string, as the `Serialize` impl writes it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
pub struct SessionToken(String);

impl std::fmt::Debug for SessionToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionToken(<redacted>)")
    }
}

impl SessionToken {
    fn generate(rng: &mut impl CryptoRngCore) -> Self {
        let mut b = [0u8; 32];
        rng.fill_bytes(&mut b);
        Self(crate::b64::encode(b))
    }

    /// Wraps a token received from a caller (length-capped).
    pub fn parse(s: &str) -> Result<Self> {
        if s.is_empty() || s.len() > 64 {
            return Err(CoreError::invalid("session: malformed token"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The token text, to hand to the caller.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    fn ct_eq(&self, other: &Self) -> bool {
        self.0.len() == other.0.len() && bool::from(self.0.as_bytes().ct_eq(other.0.as_bytes()))
    }
}

impl Serialize for SessionToken {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SessionToken {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

struct Session<M, K> {
    user: UserId,
    token: SessionToken,
    master: M,
    /// Which master secret of the user this is: the user record's
    /// `master_epoch` when the session opened. A `rekey` moves the record
    /// on, and a session of another engine (another tab) still holding the
    /// old secret is then refused before it seals or wraps anything.
    epoch: u64,
    expires_ms: UnixMillis,
    /// The current VAPID signing key, unsealed once per session so that
    /// signing a JWT costs one ECDSA signature, not an unseal plus a key
    /// schedule. Zeroized (or released) with the session.
    vapid: Option<(KeyId, K)>,
}

impl<M, K> std::fmt::Debug for Session<M, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("user", &self.user)
            .field("expires_ms", &self.expires_ms)
            .finish_non_exhaustive()
    }
}

/// The live sessions of an engine. A session holds the master secret as
/// `M` and its cached VAPID key as `K`: the secrets themselves natively
/// ([`MasterSecret`], [`VapidSigningKey`], zeroized on drop), or a crypto
/// provider's handles (non-extractable WebCrypto keys in the browser).
pub struct Sessions<M = MasterSecret, K = VapidSigningKey> {
    /// Each session in a box of its own, allocated once: removing one or
    /// growing the list moves pointers, never the secrets, so no copy of a
    /// secret is left behind where nothing would wipe it. Dropping the box
    /// zeroizes the secret in place.
    live: Vec<Box<Session<M, K>>>,
    ttl_ms: u64,
}

impl<M, K> std::fmt::Debug for Sessions<M, K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions").field("live", &self.live).field("ttl_ms", &self.ttl_ms).finish()
    }
}

impl<M, K> Default for Sessions<M, K> {
    fn default() -> Self {
        Self { live: Vec::new(), ttl_ms: DEFAULT_TTL_MS }
    }
}

impl<M, K> Sessions<M, K> {
    /// Sessions that last `ttl_ms` (1 second to 24 hours).
    pub fn with_ttl(ttl_ms: u64) -> Result<Self> {
        if !(1000..=MAX_TTL_MS).contains(&ttl_ms) {
            return Err(CoreError::invalid("session ttl: must be between 1 s and 24 h"));
        }
        Ok(Self { live: Vec::new(), ttl_ms })
    }

    /// Opens a session for `user` holding `master` (of epoch 0). Returns its
    /// token and expiry.
    pub fn open(
        &mut self,
        user: &UserId,
        master: M,
        now: UnixMillis,
        rng: &mut impl CryptoRngCore,
    ) -> (SessionToken, UnixMillis) {
        self.open_at(user, master, 0, now, rng)
    }

    /// Opens a session for `user` holding `master`, the user's master
    /// secret of `epoch` (see [`Self::master_at`]). Returns its token and
    /// expiry.
    pub fn open_at(
        &mut self,
        user: &UserId,
        master: M,
        epoch: u64,
        now: UnixMillis,
        rng: &mut impl CryptoRngCore,
    ) -> (SessionToken, UnixMillis) {
        self.purge_expired(now);
        if let Some(oldest) = self.live.iter().position(|s| &s.user == user) {
            if self.live.iter().filter(|s| &s.user == user).count() >= MAX_PER_USER {
                self.live.remove(oldest);
            }
        }
        if self.live.len() >= MAX_TOTAL {
            self.live.remove(0);
        }
        let token = SessionToken::generate(rng);
        let expires_ms = now.saturating_add(self.ttl_ms);
        self.live.push(Box::new(Session {
            user: user.clone(),
            token: token.clone(),
            master,
            epoch,
            expires_ms,
            vapid: None,
        }));
        (token, expires_ms)
    }

    fn find(&self, token: &SessionToken) -> Option<usize> {
        // Compare against every session so the time taken does not depend on
        // which one matched.
        let mut found = None;
        for (i, s) in self.live.iter().enumerate() {
            if s.token.ct_eq(token) {
                found = Some(i);
            }
        }
        found
    }

    /// The master secret of `user`'s session `token`. An unknown or expired
    /// token is `locked`; a live token of another user is `forbidden`.
    pub fn master(&mut self, user: &UserId, token: &SessionToken, now: UnixMillis) -> Result<&M> {
        let i = self.check(user, token, now)?;
        self.live.get(i).map(|s| &s.master).ok_or_else(|| CoreError::Internal("session vanished".into()))
    }

    /// [`Self::master`], when the session holds the user's master secret
    /// of `epoch` (the stored user record's). A session of an earlier epoch
    /// holds a master secret that a `rekey` replaced: it ends here, and the
    /// answer is `locked`.
    pub fn master_at(&mut self, user: &UserId, token: &SessionToken, epoch: u64, now: UnixMillis) -> Result<&M> {
        let i = self.check(user, token, now)?;
        if self.live.get(i).is_some_and(|s| s.epoch != epoch) {
            self.live.remove(i);
            return Err(CoreError::Locked(
                "the master secret was replaced (rekey) after this session opened: unlock again".into(),
            ));
        }
        self.live.get(i).map(|s| &s.master).ok_or_else(|| CoreError::Internal("session vanished".into()))
    }

    /// The master secret of any live session of `user` of `epoch` (none:
    /// `None`), for work that reveals nothing of it and needs no caller's
    /// token: the MAC check of `audit_verify`.
    pub fn any_master(&self, user: &UserId, epoch: u64, now: UnixMillis) -> Option<&M> {
        self.live.iter().find(|s| &s.user == user && s.epoch == epoch && s.expires_ms > now).map(|s| &s.master)
    }

    /// The session's cached VAPID signing key, if it is the key `kid`.
    /// Checked like [`Self::master`].
    pub fn cached_vapid_key(
        &mut self,
        user: &UserId,
        token: &SessionToken,
        kid: &KeyId,
        now: UnixMillis,
    ) -> Result<Option<&K>> {
        let i = self.check(user, token, now)?;
        Ok(self.live.get(i).and_then(|s| s.vapid.as_ref()).filter(|(k, _)| k == kid).map(|(_, key)| key))
    }

    /// Caches `key` (the key `kid`) in `user`'s session `token`, replacing
    /// any older one.
    pub fn cache_vapid_key(
        &mut self,
        user: &UserId,
        token: &SessionToken,
        kid: KeyId,
        key: K,
        now: UnixMillis,
    ) -> Result<()> {
        let i = self.check(user, token, now)?;
        if let Some(s) = self.live.get_mut(i) {
            s.vapid = Some((kid, key));
        }
        Ok(())
    }

    /// The expiry of `user`'s session `token`, checked like [`Self::master`].
    pub fn expiry(&mut self, user: &UserId, token: &SessionToken, now: UnixMillis) -> Result<UnixMillis> {
        let i = self.check(user, token, now)?;
        self.live.get(i).map(|s| s.expires_ms).ok_or_else(|| CoreError::Internal("session vanished".into()))
    }

    fn check(&mut self, user: &UserId, token: &SessionToken, now: UnixMillis) -> Result<usize> {
        let Some(i) = self.find(token) else {
            self.purge_expired(now);
            return Err(CoreError::Locked("no session: unlock first".into()));
        };
        let (expired, other_user) = match self.live.get(i) {
            Some(s) => (s.expires_ms <= now, &s.user != user),
            None => return Err(CoreError::Internal("session vanished".into())),
        };
        if expired {
            self.live.remove(i);
            self.purge_expired(now);
            return Err(CoreError::Locked("session expired: unlock again".into()));
        }
        if other_user {
            return Err(CoreError::Forbidden("the session belongs to another user".into()));
        }
        Ok(i)
    }

    /// Locks (ends) `user`'s session `token`, zeroizing its secret.
    pub fn lock(&mut self, user: &UserId, token: &SessionToken, now: UnixMillis) -> Result<()> {
        let i = self.check(user, token, now)?;
        self.live.remove(i);
        Ok(())
    }

    /// Ends every session of `user` (after a change that must not leave old
    /// sessions behind, or on user deletion).
    pub fn lock_user(&mut self, user: &UserId) -> usize {
        let before = self.live.len();
        self.live.retain(|s| &s.user != user);
        before - self.live.len()
    }

    /// Ends every session of `user` except `keep` (after a change of how the
    /// user unlocks: a session opened with a removed or replaced credential
    /// must not outlive it). Returns how many were ended.
    pub fn lock_user_except(&mut self, user: &UserId, keep: &SessionToken) -> usize {
        let before = self.live.len();
        self.live.retain(|s| &s.user != user || s.token.ct_eq(keep));
        before - self.live.len()
    }

    /// Drops expired sessions (zeroizing their secrets).
    pub fn purge_expired(&mut self, now: UnixMillis) {
        self.live.retain(|s| s.expires_ms > now);
    }

    /// Number of live (not yet purged) sessions.
    pub fn len(&self) -> usize {
        self.live.len()
    }

    /// Whether there is no session.
    pub fn is_empty(&self) -> bool {
        self.live.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn a_session_secret_never_moves_when_the_list_changes() {
        // Removing a session shifts the list and opening more grows it: the
        // secrets must stay where they are, since a copy left behind in the
        // old place would never be wiped.
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(9);
        let users: Vec<UserId> = (0..40).map(|i| UserId::parse(&format!("u{i}")).unwrap()).collect();
        let mut s: Sessions = Sessions::with_ttl(60_000).unwrap();
        let mut tokens = Vec::new();
        for u in users.iter().take(3) {
            tokens.push(s.open(u, MasterSecret::generate(&mut rng), 0, &mut rng).0);
        }
        let at = |s: &mut Sessions, tokens: &[SessionToken], i: usize| {
            std::ptr::from_ref(s.master(&users[i], &tokens[i], 1).unwrap()) as usize
        };
        let before = at(&mut s, &tokens, 2);
        s.lock(&users[0], &tokens[0], 1).unwrap();
        assert_eq!(at(&mut s, &tokens, 2), before, "after a removal before it");
        for u in users.iter().skip(3) {
            s.open(u, MasterSecret::generate(&mut rng), 1, &mut rng);
        }
        assert_eq!(at(&mut s, &tokens, 2), before, "after the list grew");
    }

    #[test]
    fn lifecycle() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(5);
        let alice = UserId::parse("alice").unwrap();
        let bob = UserId::parse("bob").unwrap();
        let mut s: Sessions = Sessions::with_ttl(1000).unwrap();
        let (t, exp) = s.open(&alice, MasterSecret::generate(&mut rng), 0, &mut rng);
        assert_eq!(exp, 1000);
        assert!(s.master(&alice, &t, 999).is_ok());
        assert_eq!(s.master(&bob, &t, 1).map(|_| ()).unwrap_err().code(), crate::ErrorCode::Forbidden);
        let e = s.master(&alice, &t, 1000).map(|_| ()).unwrap_err();
        assert_eq!(e, CoreError::Locked("session expired: unlock again".into()));
        assert!(s.is_empty(), "expired session dropped");

        let (t, _) = s.open(&alice, MasterSecret::generate(&mut rng), 0, &mut rng);
        s.lock(&alice, &t, 1).unwrap();
        assert_eq!(s.master(&alice, &t, 2).map(|_| ()).unwrap_err().code(), crate::ErrorCode::Locked);
        assert!(format!("{t:?}").contains("redacted"));
    }

    #[test]
    fn capped_per_user() {
        let mut rng = rand_chacha::ChaCha20Rng::seed_from_u64(6);
        let alice = UserId::parse("alice").unwrap();
        let mut s: Sessions = Sessions::default();
        let (first, _) = s.open(&alice, MasterSecret::generate(&mut rng), 0, &mut rng);
        for _ in 0..MAX_PER_USER {
            s.open(&alice, MasterSecret::generate(&mut rng), 0, &mut rng);
        }
        assert_eq!(s.len(), MAX_PER_USER);
        assert!(s.master(&alice, &first, 1).is_err(), "oldest evicted");
    }
}
