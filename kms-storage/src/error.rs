//! The one error type every storage operation returns.
//!
//! Messages name keys and sizes, never values: values are sealed blobs, but
//! errors end up in logs and over RPC, and a log is no place for even sealed
//! secrets.

/// Why a storage operation failed.
///
/// `#[non_exhaustive]` so a backend can grow a new failure mode without
/// breaking every `match` in the engine.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A key or prefix broke the key grammar (see [`crate::StoreKey`]).
    /// The message says which rule, but does not echo the input: a string
    /// passed where a key belongs may well be something secret.
    #[error("invalid key: {0}")]
    InvalidKey(String),

    /// A value, a batch or a listing is bigger than its cap.
    #[error("too large: {size} bytes, at most {max} allowed")]
    TooLarge {
        /// The size that was refused.
        size: usize,
        /// The cap it broke.
        max: usize,
    },

    /// More items than allowed: operations in a batch, or records matching a
    /// listing. A listing never returns a silently truncated view.
    #[error("too many items: at most {max} allowed")]
    TooMany {
        /// The cap that was reached.
        max: usize,
    },

    /// A precondition of a batch did not hold; nothing was written.
    #[error("precondition failed for key {key}; nothing was written")]
    Conflict {
        /// The key whose precondition failed.
        key: String,
    },

    /// The backend failed (I/O, locking, an injected test failure, ...).
    #[error("storage backend failed: {0}")]
    Backend(String),

    /// The backend holds data this crate could never have written.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),

    /// The path holds something that is not a store this crate may open,
    /// and it was left untouched (mode, bytes and times unchanged): a
    /// symbolic link, something other than a regular file, an empty file, a
    /// file that is not SQLite, another application's SQLite database, or a
    /// store file without write permission (a store is written on every
    /// call). The message names the problem, never the file's contents.
    #[error("refused to open the store, left untouched: {0}")]
    NotAStore(String),

    /// The database was written by a newer version of this crate. Opening it
    /// anyway could silently misread or damage records, so it is refused.
    #[error(
        "database schema version {found} is newer than the {supported} this build supports; \
         upgrade the application instead of opening it"
    )]
    SchemaTooNew {
        /// The version found in the database.
        found: i64,
        /// The newest version this build understands.
        supported: i64,
    },
}
