//! What the platform provides: the time. Randomness comes in as a
//! `rand_core::CryptoRngCore`, so the same core runs natively, in tests with a
//! fixed clock and seeded RNG, and in the browser (where
//! `SystemTime::now()` panics on wasm32-unknown-unknown).

use std::cell::Cell;
use std::rc::Rc;

/// Milliseconds since the Unix epoch.
pub type UnixMillis = u64;

/// A source of the current time.
pub trait Clock {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> UnixMillis;
}

impl<C: Clock + ?Sized> Clock for Rc<C> {
    fn now_ms(&self) -> UnixMillis {
        (**self).now_ms()
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now_ms(&self) -> UnixMillis {
        (**self).now_ms()
    }
}

/// A clock that only moves when told to: for tests of expiry and back-off.
/// Clones share the same time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock(Rc<Cell<UnixMillis>>);

impl ManualClock {
    /// A clock standing at `now_ms`.
    pub fn new(now_ms: UnixMillis) -> Self {
        Self(Rc::new(Cell::new(now_ms)))
    }

    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.set(self.0.get().saturating_add(ms));
    }

    /// Sets the clock to `now_ms`.
    pub fn set(&self, now_ms: UnixMillis) {
        self.0.set(now_ms);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> UnixMillis {
        self.0.get()
    }
}
