//! [`SqliteStore`]: the durable native backend.
//!
//! SQLite, because it is the most tested embedded ACID database, and its
//! transactions give the batch atomicity [`Store::commit`] promises.
//!
//! Crash safety: the database runs in WAL mode with `synchronous=FULL`. A
//! commit is durable once `commit` returns (the WAL is fsynced at every
//! commit), and a write interrupted at any point (process killed, power cut)
//! leaves the previous committed state readable: a commit only counts once
//! its commit frame is in the WAL, and recovery ignores any torn tail after
//! the last complete commit. WAL also lets other connections read the last
//! committed state while a write is in progress.
//!
//! The file holds sealed secrets, so on unix it is set to mode 0600 as soon
//! as it is opened, before anything is written to it; SQLite gives the
//! `-wal` and `-shm` files it creates next to it the same mode.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::limits::{check_stored_value, ListCollector};
use crate::{KeyPrefix, Store, StoreError, StoreKey, WriteBatch};

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = 1;

/// How long to wait for another connection's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Maps a SQLite error to a [`StoreError`]. rusqlite's messages name SQL
/// and error codes, never bound values, so they are safe to carry.
fn sql_error(context: &str, error: rusqlite::Error) -> StoreError {
    match &error {
        rusqlite::Error::SqliteFailure(e, _)
            if matches!(e.code, ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) =>
        {
            StoreError::Corrupt(format!("{context}: {error}"))
        }
        rusqlite::Error::InvalidColumnType(..) | rusqlite::Error::FromSqlConversionFailure(..) => {
            StoreError::Corrupt(format!("{context}: {error}"))
        }
        _ => StoreError::Backend(format!("{context}: {error}")),
    }
}

fn io_error(context: &str, error: &std::io::Error) -> StoreError {
    StoreError::Backend(format!("{context}: {error}"))
}

/// A [`Store`] in one SQLite database file (or in memory).
///
/// rusqlite's `Connection` is used through `&self` only (its statement cache
/// has its own interior mutability), so no `RefCell` is needed; transactions
/// are begun with `Transaction::new_unchecked`, which is sound here because
/// no method calls out while one is open, so they never nest.
pub struct SqliteStore {
    conn: Connection,
    /// Only for `Debug`; `None` in memory.
    path: Option<PathBuf>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, creating its parent
    /// directory if missing. Refuses a database written by a newer schema
    /// version ([`StoreError::SchemaTooNew`]) and a SQLite file that is not a
    /// store of this crate ([`StoreError::Corrupt`]).
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| io_error("creating the database directory", &e))?;
        }
        // No SQLITE_OPEN_URI: the path is a file name, never a URI with
        // options an attacker-influenced path could smuggle in.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| sql_error("opening the database", e))?;
        // Right after the open, before anything is written: SQLite has
        // created the file (empty) with the umask's default mode.
        restrict_permissions(path)?;
        Self::init(conn, Some(path.to_path_buf()))
    }

    /// A private in-memory database, gone when the value is dropped.
    pub fn open_in_memory() -> Result<Self, StoreError> {
        let conn = Connection::open_in_memory().map_err(|e| sql_error("opening an in-memory database", e))?;
        Self::init(conn, None)
    }

    /// Closes the connection, reporting any error (dropping also closes, but
    /// silently).
    pub fn close(self) -> Result<(), StoreError> {
        self.conn.close().map_err(|(_, e)| sql_error("closing the database", e))
    }

    fn init(conn: Connection, path: Option<PathBuf>) -> Result<Self, StoreError> {
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| sql_error("setting the busy timeout", e))?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(|e| sql_error("enabling WAL", e))?;
        // An in-memory database has no file to journal to; it answers
        // "memory", and durability is moot for it.
        let expected = if path.is_some() { "wal" } else { "memory" };
        if !mode.eq_ignore_ascii_case(expected) {
            return Err(StoreError::Backend(format!("the database refused WAL journaling (journal mode is {mode})")));
        }
        // FULL: fsync the WAL at every commit, so a returned commit survives
        // a power cut, not only a process crash.
        conn.pragma_update(None, "synchronous", "FULL").map_err(|e| sql_error("setting synchronous=FULL", e))?;
        // Overwrite freed pages with zeros: a deleted or replaced sealed
        // record should not linger in the file's free space.
        conn.pragma_update(None, "secure_delete", "ON").map_err(|e| sql_error("enabling secure_delete", e))?;
        let store = Self { conn, path };
        store.migrate()?;
        Ok(store)
    }

    /// Creates the schema on a fresh database, or checks the version of an
    /// existing one. One IMMEDIATE transaction, so two processes opening a
    /// fresh file at once cannot both create it.
    fn migrate(&self) -> Result<(), StoreError> {
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| sql_error("beginning the schema transaction", e))?;
        let has_meta: bool = tx
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'meta')",
                [],
                |row| row.get(0),
            )
            .map_err(|e| sql_error("reading the schema", e))?;
        if has_meta {
            let version: Option<i64> = tx
                .query_row("SELECT value FROM meta WHERE name = 'schema_version'", [], |row| row.get(0))
                .optional()
                .map_err(|e| sql_error("reading the schema version", e))?;
            // Read-only in this branch: `tx` rolls back on drop.
            return match version {
                Some(SCHEMA_VERSION) => Self::check_records_table(&tx),
                Some(found) if found > SCHEMA_VERSION => {
                    Err(StoreError::SchemaTooNew { found, supported: SCHEMA_VERSION })
                }
                Some(found) => Err(StoreError::Corrupt(format!("unknown schema version {found}"))),
                None => Err(StoreError::Corrupt("the schema version is missing".to_owned())),
            };
        }
        let other_tables: i64 = tx
            .query_row("SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'", [], |row| {
                row.get(0)
            })
            .map_err(|e| sql_error("reading the schema", e))?;
        if other_tables != 0 {
            // Someone else's SQLite file: writing our tables into it would
            // mix our secrets into their data.
            return Err(StoreError::Corrupt("the file is a SQLite database of some other application".to_owned()));
        }
        tx.execute_batch(
            "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
             CREATE TABLE records (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;",
        )
        .map_err(|e| sql_error("creating the schema", e))?;
        tx.execute("INSERT INTO meta (name, value) VALUES ('schema_version', ?1)", params![SCHEMA_VERSION])
            .map_err(|e| sql_error("recording the schema version", e))?;
        tx.commit().map_err(|e| sql_error("committing the schema", e))
    }

    /// A current-version database must have its records table; without it
    /// every read would fail with a confusing "no such table".
    fn check_records_table(conn: &Connection) -> Result<(), StoreError> {
        let has_records: bool = conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'records')",
                [],
                |row| row.get(0),
            )
            .map_err(|e| sql_error("reading the schema", e))?;
        if has_records {
            Ok(())
        } else {
            Err(StoreError::Corrupt("the records table is missing".to_owned()))
        }
    }

    /// The value under `key`, read on `conn` (inside or outside a
    /// transaction).
    fn read(conn: &Connection, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        let mut stmt = conn
            .prepare_cached("SELECT value FROM records WHERE key = ?1")
            .map_err(|e| sql_error("preparing a read", e))?;
        let value: Option<Vec<u8>> = stmt
            .query_row(params![key.as_str()], |row| row.get(0))
            .optional()
            .map_err(|e| sql_error("reading a record", e))?;
        if let Some(value) = &value {
            check_stored_value(value)?;
        }
        Ok(value)
    }
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish_non_exhaustive()
    }
}

/// Sets the database file to mode 0600: SQLite creates it with the umask's
/// default (often world-readable), and it holds sealed secrets. SQLite then
/// gives the `-wal` and `-shm` files it creates the same mode.
///
/// Done by path, right after SQLite opened (and so created) the file and
/// before anything is written to it. Not by creating the file ourselves
/// first: opening and closing our own descriptor on a database file would
/// drop every POSIX lock this process's SQLite connections hold on it.
#[cfg(unix)]
fn restrict_permissions(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| io_error("restricting the database file to mode 0600", &e))
}

/// Elsewhere, file permissions are left to the platform (the user profile's
/// ACLs on Windows).
#[cfg(not(unix))]
fn restrict_permissions(_path: &Path) -> Result<(), StoreError> {
    Ok(())
}

#[async_trait::async_trait(?Send)]
impl Store for SqliteStore {
    async fn get(&self, key: &StoreKey) -> Result<Option<Vec<u8>>, StoreError> {
        Self::read(&self.conn, key)
    }

    async fn list(&self, prefix: &KeyPrefix, limit: usize) -> Result<Vec<(StoreKey, Vec<u8>)>, StoreError> {
        let mut out = ListCollector::new(limit);
        let (start, end) = prefix.descendant_range();
        // The prefix itself or the `[prefix/, prefix0)` range: both are
        // primary-key lookups. One past the limit is fetched so the collector
        // can tell "exactly limit" from "more than limit".
        let fetch = i64::try_from(out.fetch_limit()).unwrap_or(i64::MAX);
        let mut stmt = self
            .conn
            .prepare_cached(
                "SELECT key, value FROM records
                 WHERE key = ?1 OR (key >= ?2 AND key < ?3)
                 ORDER BY key LIMIT ?4",
            )
            .map_err(|e| sql_error("preparing a listing", e))?;
        let mut rows =
            stmt.query(params![prefix.as_str(), start, end, fetch]).map_err(|e| sql_error("listing records", e))?;
        while let Some(row) = rows.next().map_err(|e| sql_error("listing records", e))? {
            let key: String = row.get(0).map_err(|e| sql_error("reading a listed key", e))?;
            let value: Vec<u8> = row.get(1).map_err(|e| sql_error("reading a listed value", e))?;
            let key = StoreKey::new(&key)
                .map_err(|_| StoreError::Corrupt("a stored key breaks the key grammar".to_owned()))?;
            out.push(key, value)?;
        }
        Ok(out.finish())
    }

    async fn commit(&self, batch: WriteBatch) -> Result<(), StoreError> {
        if batch.is_empty() {
            return Ok(());
        }
        // IMMEDIATE takes the write lock up front, so the preconditions read
        // below cannot go stale before the writes land. Every early return
        // drops `tx`, which rolls back.
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| sql_error("beginning a transaction", e))?;
        for (key, expect) in batch.expectations() {
            let current = Self::read(&tx, key)?;
            if !expect.holds(current.as_deref()) {
                return Err(StoreError::Conflict { key: key.to_string() });
            }
        }
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT INTO records (key, value) VALUES (?1, ?2)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                )
                .map_err(|e| sql_error("preparing a write", e))?;
            let mut delete = tx
                .prepare_cached("DELETE FROM records WHERE key = ?1")
                .map_err(|e| sql_error("preparing a delete", e))?;
            for (key, value) in batch.writes() {
                match value {
                    Some(value) => put.execute(params![key.as_str(), value]),
                    None => delete.execute(params![key.as_str()]),
                }
                .map_err(|e| sql_error("writing a record", e))?;
            }
        }
        tx.commit().map_err(|e| sql_error("committing", e))
    }
}
