//! Time in the browser: `Date.now()` (`SystemTime::now()` panics on
//! wasm32-unknown-unknown).

use kms_core::env::{Clock, UnixMillis};

/// The wall clock of the JavaScript global scope.
#[derive(Debug, Default, Clone, Copy)]
pub struct DateClock;

impl Clock for DateClock {
    fn now_ms(&self) -> UnixMillis {
        let now = js_sys::Date::now();
        // A finite positive number in every browser; anything else reads as
        // the epoch rather than as a far future that would extend sessions.
        if now.is_finite() && now > 0.0 {
            now as UnixMillis
        } else {
            0
        }
    }
}
