//! What the platform provides: the time, and a way to wait. Randomness comes in as a
//! `rand_core::CryptoRngCore`, so the same core runs natively, in tests with a
//! fixed clock and seeded RNG, and in the browser (where
//! `SystemTime::now()` panics on wasm32-unknown-unknown).

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

/// Milliseconds since the Unix epoch.
pub type UnixMillis = u64;

/// A wait in progress.
pub type Pause<'a> = Pin<Box<dyn Future<Output = ()> + 'a>>;

/// A source of the current time.
pub trait Clock {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> UnixMillis;

    /// Waits `ms` milliseconds: the back-off between two runs of a call
    /// that lost a race for the store. The default waits not at all.
    fn pause(&self, ms: u64) -> Pause<'_> {
        let _ = ms;
        Box::pin(std::future::ready(()))
    }
}

impl<C: Clock + ?Sized> Clock for Rc<C> {
    fn now_ms(&self) -> UnixMillis {
        (**self).now_ms()
    }

    fn pause(&self, ms: u64) -> Pause<'_> {
        (**self).pause(ms)
    }
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now_ms(&self) -> UnixMillis {
        (**self).now_ms()
    }

    fn pause(&self, ms: u64) -> Pause<'_> {
        (**self).pause(ms)
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

    /// A pause moves this clock forward, at once.
    fn pause(&self, ms: u64) -> Pause<'_> {
        self.advance(ms);
        Box::pin(std::future::ready(()))
    }
}
