//! Time in the browser: `Date.now()` (`SystemTime::now()` panics on
//! wasm32-unknown-unknown).

use kms_core::env::{Clock, Pause, UnixMillis};
use wasm_bindgen::{JsCast, JsValue};

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

    /// `setTimeout` of the global scope (the worker's), as a future.
    fn pause(&self, ms: u64) -> Pause<'_> {
        let promise = js_sys::Promise::new(&mut |resolve, _reject| {
            let global = js_sys::global();
            let set_timeout = js_sys::Reflect::get(&global, &JsValue::from_str("setTimeout"))
                .ok()
                .and_then(|f| f.dyn_into::<js_sys::Function>().ok());
            let waited = set_timeout.map(|f| f.call2(&global, &resolve, &JsValue::from_f64(ms as f64)));
            if !matches!(waited, Some(Ok(_))) {
                // No timer to be had: go on at once rather than never.
                let _ = resolve.call0(&JsValue::UNDEFINED);
            }
        });
        Box::pin(async move {
            let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
        })
    }
}
