//! Unlock throttling: consecutive failures of one enrollment raise an
//! exponential back-off. The state is stored (so a reload does not reset
//! it), and an attempt during the back-off is refused before any KDF runs.

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

/// The stored throttle state of one enrollment.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleState {
    /// Consecutive failed attempts.
    pub failures: u32,
    /// When the last failure happened.
    pub last_failure_ms: UnixMillis,
}

impl ThrottleState {
    /// Refuses with `throttled` while the back-off runs.
    pub fn check(&self, policy: &ThrottlePolicy, now: UnixMillis) -> Result<()> {
        let until = self.last_failure_ms.saturating_add(policy.delay_ms(self.failures));
        if now < until {
            return Err(CoreError::Throttled { retry_after_ms: until - now });
        }
        Ok(())
    }

    /// The state after one more failure at `now`.
    pub fn failed(&self, now: UnixMillis) -> Self {
        Self { failures: self.failures.saturating_add(1), last_failure_ms: now }
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
            s = s.failed(t);
        }
        assert_eq!(s.check(&p, 3), Err(CoreError::Throttled { retry_after_ms: 1000 }));
        assert_eq!(s.check(&p, 1002), Err(CoreError::Throttled { retry_after_ms: 1 }));
        assert!(s.check(&p, 1003).is_ok());
    }
}
