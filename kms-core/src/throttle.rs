//! Unlock throttling: consecutive failures raise an exponential back-off,
//! counted twice: per enrollment, and per user over all of its enrollments
//! (so that a user with many enrollments does not give a guesser many free
//! tries). The states are stored (so a reload does not reset them), and an
//! attempt during either back-off is refused before any KDF runs.

use serde::{Deserialize, Serialize};

use crate::env::UnixMillis;
use crate::error::{CoreError, Result};

/// The back-off rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThrottlePolicy {
    /// Failures allowed before any wait (typos happen).
    pub free_failures: u32,
    /// The first wait; each further failure doubles it.
    pub base_ms: u64,
    /// The longest wait.
    pub max_ms: u64,
}

impl Default for ThrottlePolicy {
    /// 3 free failures, then 1 s, 2 s, 4 s ... capped at 15 minutes.
    fn default() -> Self {
        Self { free_failures: 3, base_ms: 1000, max_ms: 15 * 60 * 1000 }
    }
}

impl ThrottlePolicy {
    /// The per-user budget over all enrollments: 10 free failures, then
    /// 1 s, 2 s, 4 s ... capped at 15 minutes.
    pub fn per_user_default() -> Self {
        Self { free_failures: 10, ..Self::default() }
    }

    /// The wait imposed after `failures` consecutive failures.
    pub fn delay_ms(&self, failures: u32) -> u64 {
        let over = failures.saturating_sub(self.free_failures);
        if over == 0 {
            return 0;
        }
        let doublings = over.saturating_sub(1).min(40);
        self.base_ms.saturating_mul(1u64 << doublings).min(self.max_ms)
    }
}

/// The stored throttle state of one enrollment, or of a user over all its
/// enrollments.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleState {
    /// Consecutive failed attempts.
    pub failures: u32,
    /// When the last failure happened.
    pub last_failure_ms: UnixMillis,
}

impl ThrottleState {
    /// What a stored state that does not parse counts as: the most failures
    /// there can be. The next attempt may run, and if it fails the longest
    /// wait follows; a damaged record never hands out a fresh budget.
    pub const DAMAGED: Self = Self { failures: u32::MAX, last_failure_ms: 0 };

    /// Refuses with `throttled` while the back-off runs, and whenever the
    /// clock reads earlier than the last recorded failure (a clock set back
    /// does not shorten a wait: the attempt waits until the clock is past
    /// that failure's wait again).
    pub fn check(&self, policy: &ThrottlePolicy, now: UnixMillis) -> Result<()> {
        let last = self.believed_last(policy, now);
        let until = last.saturating_add(policy.delay_ms(self.failures));
        let clock_behind = self.failures > 0 && now < last;
        if now < until || clock_behind {
            return Err(CoreError::Throttled { retry_after_ms: until.saturating_sub(now).max(1) });
        }
        Ok(())
    }

    /// The state after one more failure at `now`. The time of the last
    /// failure never moves back, unless it was not believable (below).
    pub fn failed(&self, policy: &ThrottlePolicy, now: UnixMillis) -> Self {
        Self { failures: self.failures.saturating_add(1), last_failure_ms: now.max(self.believed_last(policy, now)) }
    }

    /// The last failure's time, unless it lies further ahead of the clock
    /// than the longest wait: such a time comes from a clock that was once
    /// far ahead (a bad real-time clock, a resumed VM), and believing it
    /// would lock the user out until that date, with no way to clear it (only
    /// a success does). It counts as long past: one attempt may run, and if
    /// it fails the failure is recorded at the clock's time.
    fn believed_last(&self, policy: &ThrottlePolicy, now: UnixMillis) -> UnixMillis {
        if self.last_failure_ms > now.saturating_add(policy.max_ms) {
            0
        } else {
            self.last_failure_ms
        }
    }

    /// A stored state, or [`Self::DAMAGED`] when the bytes do not parse.
    pub fn decode_or_damaged(bytes: &[u8]) -> Self {
        Self::decode(bytes).unwrap_or(Self::DAMAGED)
    }

    /// Parses a stored state, capped in size.
    pub fn decode(bytes: &[u8]) -> Result<Self> {
        if bytes.len() > 256 {
            return Err(CoreError::Integrity);
        }
        serde_json::from_slice(bytes).map_err(|_| CoreError::Integrity)
    }

    /// Serializes the state for storage.
    pub fn encode(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|e| CoreError::Internal(format!("encode throttle: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let p = ThrottlePolicy::default();
        let delays: Vec<u64> = (0..7).map(|n| p.delay_ms(n)).collect();
        assert_eq!(delays, vec![0, 0, 0, 0, 1000, 2000, 4000]);
        assert_eq!(p.delay_ms(u32::MAX), p.max_ms);
    }

    #[test]
    fn check_refuses_during_backoff() {
        let p = ThrottlePolicy::default();
        let mut s = ThrottleState::default();
        for t in 0..4 {
            assert!(s.check(&p, t).is_ok());
            s = s.failed(&p, t);
        }
        assert_eq!(s.check(&p, 3), Err(CoreError::Throttled { retry_after_ms: 1000 }));
        assert_eq!(s.check(&p, 1002), Err(CoreError::Throttled { retry_after_ms: 1 }));
        assert!(s.check(&p, 1003).is_ok());
    }

    #[test]
    fn a_clock_set_back_neither_passes_nor_resets() {
        let p = ThrottlePolicy::default();
        // One failure, still within the free ones, at t = 10,000.
        let s = ThrottleState::default().failed(&p, 10_000);
        assert!(s.check(&p, 10_000).is_ok());
        // The clock now reads earlier: refused, not treated as fresh.
        assert_eq!(s.check(&p, 9_000), Err(CoreError::Throttled { retry_after_ms: 1_000 }));
        // A failure recorded with that clock keeps the later time.
        assert_eq!(s.failed(&p, 9_000).last_failure_ms, 10_000);
    }

    #[test]
    fn a_failure_dated_far_ahead_does_not_lock_the_user_out() {
        let p = ThrottlePolicy::default();
        let year = 365 * 24 * 3600 * 1000;
        // A mistyped passphrase while the clock read a year ahead.
        let s = ThrottleState::default().failed(&p, year + 50_000);
        // The clock is right again: one attempt may run.
        assert!(s.check(&p, 50_000).is_ok());
        // Its failure is dated now, and the back-off goes on from there.
        let again = s.failed(&p, 50_000);
        assert_eq!(again, ThrottleState { failures: 2, last_failure_ms: 50_000 });
        // A clock behind by less than the longest wait is still refused.
        assert!(again.check(&p, 49_000).is_err());
    }

    #[test]
    fn a_damaged_record_counts_as_the_most_failures() {
        let p = ThrottlePolicy::default();
        let s = ThrottleState::decode_or_damaged(b"{not json");
        assert_eq!(s, ThrottleState::DAMAGED);
        // One attempt may run; its failure brings the longest wait.
        let now = 1_765_000_000_000;
        assert!(s.check(&p, now).is_ok());
        let after = s.failed(&p, now);
        assert_eq!(after.check(&p, now), Err(CoreError::Throttled { retry_after_ms: p.max_ms }));
    }

    #[test]
    fn the_per_user_budget_is_wider_but_bounded() {
        let p = ThrottlePolicy::per_user_default();
        assert_eq!(p.delay_ms(10), 0);
        assert_eq!(p.delay_ms(11), 1_000);
        assert_eq!(p.delay_ms(u32::MAX), 15 * 60 * 1000);
    }
}
