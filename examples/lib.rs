//! Runnable examples live beside this file: `walkthrough.rs` is the main one.
//!
//! - [`serve`] (the `serve/` folder) is `kms-serve`, the static HTTP server
//!   of the loopback origins the browser tests and the demo run on, with the
//!   local push service.
//! - [`relay`] (the `relay/` folder) is `kms-relay`, the demo's relay: it
//!   holds a user's push subscription and lease, gets VAPID tokens through
//!   the user's page, and sends encrypted pushes.
//! - [`http`] is the HTTP plumbing both share.

pub mod http;
pub mod relay;
pub mod serve;
