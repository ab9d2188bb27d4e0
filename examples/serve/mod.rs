//! `kms-serve`: the static HTTP server of the loopback origins the browser
//! tests and the demo run on.
//!
//! - The **KMS origin** (`--kms`) serves the iframe page, the module worker
//!   script and the WASM bundle. Every response, error or not, carries a
//!   strict `Content-Security-Policy` whose `frame-ancestors` lists the
//!   allowed host origins, `Cross-Origin-Resource-Policy: same-origin`,
//!   `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer` and
//!   `Cache-Control: no-cache`. It also serves a generated
//!   `/kms-config.json`: the iframe reads its host allowlist from its own
//!   origin, never from a URL parameter.
//! - The **host origin** (`--host`, the PWA) and any other **site**
//!   (`--site`) serve static files with `nosniff` and `no-cache` only.
//! - The **local push service** (`--push`, [`push_service`]) stands in for
//!   FCM, Mozilla's or Apple's push service: subscriptions, pushes checked
//!   as a real service checks them (VAPID, encoding, sizes), and a queue the
//!   demo page polls. CORS for the `--allow-host` origins.
//!
//! It refuses to serve anything outside its directories (dot segments,
//! encoded or not, backslashes, NUL, symlinks that lead out), lists no
//! directories, answers only GET and HEAD (the push service has its own
//! API), and binds only loopback addresses. It is a development server: no
//! TLS, no compression, no ranges.
//!
//! One module per job: `args` parses the command line values, `kms_origin`
//! holds the KMS origin's policy, `static_files` maps a request path to a
//! file, `site` answers a request for one origin, `push_service` answers
//! the push service's requests, `server` runs the listeners. `main.rs` beside this file is the binary (the CLI only); it
//! is not part of this module.

mod args;
mod error;
mod kms_origin;
pub mod push_service;
mod server;
mod site;
mod static_files;

pub use args::{AllowedOrigin, HostGroup, PushSpec, SiteSpec};
pub use error::ServeError;
pub use kms_origin::{KmsPolicy, KMS_CONFIG_PATH};
pub use server::{start, start_with_push, BoundOrigin, Options, OriginConfig, PushConfig, Running};
pub use site::Role;
pub use static_files::{content_type, MAX_FILE_LEN, MAX_TARGET_LEN};
