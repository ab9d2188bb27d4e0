//! What a native process provides: the system clock and (for the `kms`
//! tool) the default store location.

#[cfg(feature = "cli")]
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use kms_core::env::{Clock, Pause, UnixMillis};

/// The system clock. (Native only: `SystemTime::now()` panics on
/// wasm32-unknown-unknown.)
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> UnixMillis {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    /// Sleeps the thread: a native engine serves one call at a time on it
    /// (the `kms` tool), so there is nothing else to run meanwhile.
    fn pause(&self, ms: u64) -> Pause<'_> {
        std::thread::sleep(std::time::Duration::from_millis(ms));
        Box::pin(std::future::ready(()))
    }
}

/// The default store of the `kms` tool: `kms.sqlite` in the user's data directory
/// (`~/.local/share/kms/` on Linux), or `./kms.sqlite` when there is none.
#[cfg(feature = "cli")]
pub fn default_store_path() -> PathBuf {
    directories::ProjectDirs::from("", "", "kms")
        .map(|d| d.data_dir().join("kms.sqlite"))
        .unwrap_or_else(|| PathBuf::from("kms.sqlite"))
}
