//! The one error type of `kms-serve`.

use std::{io, net::SocketAddr, path::PathBuf};

/// Why `kms-serve` refused a setting or could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// An `--allow-host` value is not an origin we can put in a CSP
    /// `frame-ancestors` list and in the iframe's allowlist. The message
    /// leaves the value out (clap prints it); the field keeps it.
    #[error("not an origin scheme://host[:port]: {reason}")]
    InvalidOrigin {
        /// The value given.
        value: String,
        /// What is wrong with it, and the spelling to use where there is one.
        reason: String,
    },
    /// A `--kms`, `--host`, `--site` or `--push` value refused.
    #[error("{reason}")]
    InvalidSiteSpec {
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The KMS origin without any host allowed to embed it.
    #[error(
        "the KMS origin needs at least one --allow-host origin (its frame-ancestors and the iframe's host allowlist)"
    )]
    NoAllowedHosts,
    /// A `--host-group` that names a host not allowed, or one already in
    /// another group.
    #[error("--host-group: {0}")]
    InvalidHostGroup(String),
    /// The KMS bundle's `manifest.json` could not be read or is not one.
    #[error("the KMS bundle's manifest: {0}")]
    Manifest(String),
    /// Nothing to serve.
    #[error("nothing to serve: give --kms, --host, --site or --push")]
    NoOrigins,
    /// A site directory that cannot be served.
    #[error("cannot serve {}: {source}", dir.display())]
    Root {
        /// The directory given.
        dir: PathBuf,
        /// Why it cannot be used (missing, unreadable, not a directory).
        source: io::Error,
    },
    /// A listening socket that could not be opened.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address given.
        addr: SocketAddr,
        /// The socket's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A server thread that could not be started.
    #[error("cannot start a server thread: {0}")]
    Thread(#[source] io::Error),
    /// The generated `kms-config.json` could not be encoded.
    #[error("cannot encode kms-config.json: {0}")]
    Config(#[from] serde_json::Error),
}
