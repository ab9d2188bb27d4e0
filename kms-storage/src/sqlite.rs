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
//! Opening checks before it changes anything. A missing file is created
//! complete (schema and application id written in a private temporary file
//! of mode 0600 next to it, then linked into place without replacing
//! anything), so a store file is never seen half-made. An existing path is
//! refused untouched ([`StoreError::NotAStore`]: mode, bytes and times
//! unchanged) unless it is a regular file, not a symbolic link, not empty,
//! writable, a SQLite database, and this crate's: the application id
//! [`APPLICATION_ID`] (or 0, for stores made before it existed) and the
//! `meta` table with a schema version. Only then is it tightened to mode
//! 0600 (group and other bits removed, never a bit added) and switched to
//! WAL; SQLite gives the `-wal` and `-shm` files it creates the same mode.
//!
//! A symbolic link as the store path is refused, not followed: tightening
//! the mode through it would change a file the path does not name.
//! Directories on the way may be links. A store file without write
//! permission is refused rather than opened read-only: the engine writes on
//! every call (the audit log), so a read-only store could not serve one, and
//! a user who made the file read-only asked for it not to change.
//!
//! The checks trust the store's directory: someone who can replace the file
//! between the check and the open can replace the store itself.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};

use crate::limits::{check_stored_value, ListCollector};
use crate::{KeyPrefix, Store, StoreError, StoreKey, WriteBatch};

/// The schema version this build writes and understands.
pub const SCHEMA_VERSION: i64 = 1;

/// The SQLite header's application id (bytes 68-71) of a store: "KMS1".
/// Stores made before it existed have 0 and are told by their `meta` table.
pub const APPLICATION_ID: i32 = 0x4b4d_5331;

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
    /// directories if missing (mode 0700 from their creation on Unix;
    /// existing directories are left as they are).
    ///
    /// Refuses, without changing it ([`StoreError::NotAStore`]), anything
    /// but a store of this crate: a symbolic link, a non-regular or empty
    /// file, a file without write permission, a file that is not SQLite, or
    /// another application's SQLite database. Refuses a store written by a
    /// newer schema version ([`StoreError::SchemaTooNew`]) and a store of
    /// this crate that is damaged ([`StoreError::Corrupt`]), also untouched.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            create_private_dirs(parent)?;
        }
        let meta = match std::fs::symlink_metadata(path) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                create_store_file(path)?;
                std::fs::symlink_metadata(path).map_err(|e| io_error("reading the new database's metadata", &e))?
            }
            Err(e) => return Err(io_error("reading the database file's metadata", &e)),
        };
        check_file(&meta)?;
        // An immutable read-only connection first: it never writes (no
        // journal rollback, no WAL checkpoint, no header change) and makes
        // no -wal or -shm file, so a file that turns out not to be ours is
        // left as it was.
        {
            let (name, flags) = probe_name(path);
            let probe = Connection::open_with_flags(name, flags).map_err(|e| open_error("opening the database", e))?;
            check_ours(&probe)?;
            probe.close().map_err(|(_, e)| sql_error("closing the check connection", e))?;
        }
        // No SQLITE_OPEN_URI: the path is a file name, never a URI with
        // options an attacker-influenced path could smuggle in. No
        // SQLITE_OPEN_CREATE: the file exists, and is ours.
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(path, flags).map_err(|e| open_error("opening the database", e))?;
        // SQLite silently falls back to read-only when it cannot write.
        if conn.is_readonly(rusqlite::MAIN_DB).map_err(|e| sql_error("checking the database is writable", e))? {
            return Err(read_only());
        }
        // Still the file that was checked (not swapped for a link since)?
        let now = std::fs::symlink_metadata(path).map_err(|e| io_error("reading the database file's metadata", &e))?;
        if !same_file(&meta, &now) {
            return Err(StoreError::NotAStore("the store path changed while it was being opened".to_owned()));
        }
        // Before the first read on this connection, which may create the
        // -wal and -shm files with the database file's mode.
        restrict_permissions(path, &now)?;
        check_ours(&conn)?;
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

    /// Creates the schema on a fresh database (in memory only: a file is
    /// created complete by [`create_store_file`]), or checks the version of
    /// an existing one. One IMMEDIATE transaction, so the check cannot race
    /// another connection's change.
    fn migrate(&self) -> Result<(), StoreError> {
        let tx = rusqlite::Transaction::new_unchecked(&self.conn, TransactionBehavior::Immediate)
            .map_err(|e| sql_error("beginning the schema transaction", e))?;
        if self.path.is_none() && user_tables(&tx)? == 0 {
            create_schema(&tx)?;
            return tx.commit().map_err(|e| sql_error("committing the schema", e));
        }
        // Read-only: `tx` rolls back on drop.
        check_ours(&tx)
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

/// What the check connection opens: on unix, `path` as a `file:` URI with
/// `immutable=1` (SQLite reads the file without locking it and without
/// creating -wal or -shm files). The URI is built here, every byte but
/// unreserved ones percent-encoded, so nothing in the path can add options.
#[cfg(unix)]
fn probe_name(path: &Path) -> (std::ffi::OsString, OpenFlags) {
    use std::fmt::Write as _;
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from(if path.is_absolute() { "file://" } else { "file:" });
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(char::from(b));
        } else {
            let _ = write!(uri, "%{b:02X}");
        }
    }
    uri.push_str("?immutable=1");
    (uri.into(), OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_URI | OpenFlags::SQLITE_OPEN_NO_MUTEX)
}

/// Elsewhere, a plain read-only connection (it may leave an empty -wal
/// next to another application's WAL database, never change the file).
#[cfg(not(unix))]
fn probe_name(path: &Path) -> (std::ffi::OsString, OpenFlags) {
    (path.as_os_str().to_owned(), OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX)
}

/// Maps an error of the first open of an existing file: SQLite says "not a
/// database" for a file without its magic header.
fn open_error(context: &str, error: rusqlite::Error) -> StoreError {
    match sql_error(context, error) {
        StoreError::Corrupt(_) => not_sqlite(),
        other => other,
    }
}

fn not_sqlite() -> StoreError {
    StoreError::NotAStore("the file is not a SQLite database".to_owned())
}

fn foreign() -> StoreError {
    StoreError::NotAStore("the file is a SQLite database of another application, not a store".to_owned())
}

fn read_only() -> StoreError {
    StoreError::NotAStore(
        "the store file is read-only; a store is written on every call (the audit log), \
         so give its owner write permission to use it"
            .to_owned(),
    )
}

/// How many tables the database holds besides SQLite's own.
fn user_tables(conn: &Connection) -> Result<i64, StoreError> {
    conn.query_row("SELECT count(*) FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'", [], |row| {
        row.get(0)
    })
    .map_err(|e| sql_error("reading the schema", e))
}

/// The schema of a new store, written in `conn`'s open transaction.
fn create_schema(conn: &Connection) -> Result<(), StoreError> {
    conn.pragma_update(None, "application_id", APPLICATION_ID)
        .map_err(|e| sql_error("recording the application id", e))?;
    conn.execute_batch(
        "CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
         CREATE TABLE records (key TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID;",
    )
    .map_err(|e| sql_error("creating the schema", e))?;
    conn.execute("INSERT INTO meta (name, value) VALUES ('schema_version', ?1)", params![SCHEMA_VERSION])
        .map_err(|e| sql_error("recording the schema version", e))?;
    Ok(())
}

/// Whether the database on `conn` is a store of this crate at the schema
/// version this build understands. Reads only. A file that is not SQLite
/// or is another application's is [`StoreError::NotAStore`]; a store of
/// ours that is damaged is [`StoreError::Corrupt`].
fn check_ours(conn: &Connection) -> Result<(), StoreError> {
    // The first read: SQLite checks the magic header here.
    let application_id: i32 = conn
        .pragma_query_value(None, "application_id", |row| row.get(0))
        .map_err(|e| open_error("reading the header", e))?;
    if application_id != 0 && application_id != APPLICATION_ID {
        return Err(foreign());
    }
    let has_meta: bool = conn
        .query_row("SELECT EXISTS (SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = 'meta')", [], |row| {
            row.get(0)
        })
        .map_err(|e| open_error("reading the schema", e))?;
    if !has_meta {
        // Id 0 and no meta table: someone else's database (or an empty
        // one), not ours to fill. Our id without it: ours, damaged.
        return Err(if application_id == 0 {
            foreign()
        } else {
            StoreError::Corrupt("the meta table is missing".to_owned())
        });
    }
    let version: Option<i64> = conn
        .query_row("SELECT value FROM meta WHERE name = 'schema_version'", [], |row| row.get(0))
        .optional()
        .map_err(|e| sql_error("reading the schema version", e))?;
    match version {
        Some(SCHEMA_VERSION) => SqliteStore::check_records_table(conn),
        Some(found) if found > SCHEMA_VERSION => Err(StoreError::SchemaTooNew { found, supported: SCHEMA_VERSION }),
        Some(found) => Err(StoreError::Corrupt(format!("unknown schema version {found}"))),
        None if application_id == 0 => Err(foreign()),
        None => Err(StoreError::Corrupt("the schema version is missing".to_owned())),
    }
}

/// Refuses what `open` must not touch, from the path's own metadata (not a
/// link's target).
fn check_file(meta: &std::fs::Metadata) -> Result<(), StoreError> {
    if meta.file_type().is_symlink() {
        return Err(StoreError::NotAStore(
            "the store path is a symbolic link; give the path of the file itself".to_owned(),
        ));
    }
    if !meta.is_file() {
        return Err(StoreError::NotAStore("the store path is not a regular file".to_owned()));
    }
    if meta.len() == 0 {
        // Never made by `open`, which only links complete stores into
        // place: SQLite would take it for a new database and fill it.
        return Err(StoreError::NotAStore("the file is empty, so it is not a store".to_owned()));
    }
    if meta.permissions().readonly() {
        return Err(read_only());
    }
    Ok(())
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt;
    a.dev() == b.dev() && a.ino() == b.ino() && !b.file_type().is_symlink()
}

#[cfg(not(unix))]
fn same_file(_a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    b.is_file()
}

/// Makes a new store at `path`: the schema is written in a temporary file
/// of mode 0600 in the same directory, which is then linked to `path`
/// (a link never replaces an existing file) and removed. If another opener
/// linked its store first, that one is used. So a store file, once it
/// exists, is complete, and an empty file is never ours.
///
/// The temporary file is created with our own descriptor, closed before
/// SQLite opens it: closing a descriptor drops every POSIX lock the process
/// holds on the file, so none is ever opened on a file SQLite has open.
fn create_store_file(path: &Path) -> Result<(), StoreError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path.file_name().ok_or_else(|| StoreError::NotAStore("the store path names no file".to_owned()))?;
    let nanos = SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(name);
    temp_name.push(format!(".{}.{nanos}.{}.new", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let temp = TempFile(path.with_file_name(temp_name));
    create_private_file(&temp.0)?;
    {
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&temp.0, flags).map_err(|e| sql_error("creating the database", e))?;
        let tx = rusqlite::Transaction::new_unchecked(&conn, TransactionBehavior::Immediate)
            .map_err(|e| sql_error("beginning the schema transaction", e))?;
        create_schema(&tx)?;
        tx.commit().map_err(|e| sql_error("committing the schema", e))?;
        conn.close().map_err(|(_, e)| sql_error("closing the new database", e))?;
    }
    match std::fs::hard_link(&temp.0, path) {
        Ok(()) => Ok(()),
        // Another opener created it first: use theirs (checked like any
        // existing file).
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(io_error("linking the new database into place", &e)),
    }
}

/// Creates the missing directories of `dir`, each of mode 0700 as it is
/// made (the mode is given to `mkdir`, so there is no moment with the
/// umask's default). Directories that exist are not touched.
#[cfg(unix)]
fn create_private_dirs(dir: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| io_error("creating the database directory", &e))
}

#[cfg(not(unix))]
fn create_private_dirs(dir: &Path) -> Result<(), StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| io_error("creating the database directory", &e))
}

/// A temporary file, removed (with any journal SQLite left) on drop.
struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
        let mut journal = self.0.clone().into_os_string();
        journal.push("-journal");
        let _ = std::fs::remove_file(journal);
    }
}

/// Creates a new, empty file of mode 0600 (never an existing one, never
/// through a link).
#[cfg(unix)]
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io_error("creating the database file", &e))?;
    // The umask may have removed bits; 0600 exactly, on the descriptor.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(|e| io_error("restricting the database file to mode 0600", &e))
}

#[cfg(not(unix))]
fn create_private_file(path: &Path) -> Result<(), StoreError> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map(drop)
        .map_err(|e| io_error("creating the database file", &e))
}

/// Removes group and other permissions from a store file of ours that has
/// them (it holds sealed secrets); never adds a permission. By path, after
/// `open` checked the path is no symbolic link; not through a descriptor of
/// our own, whose closing would drop this process's SQLite locks on it.
#[cfg(unix)]
fn restrict_permissions(path: &Path, meta: &std::fs::Metadata) -> Result<(), StoreError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = meta.permissions().mode();
    if mode & 0o077 == 0 {
        return Ok(());
    }
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode & 0o600))
        .map_err(|e| io_error("restricting the database file to mode 0600", &e))
}

/// Elsewhere, file permissions are left to the platform (the user profile's
/// ACLs on Windows).
#[cfg(not(unix))]
fn restrict_permissions(_path: &Path, _meta: &std::fs::Metadata) -> Result<(), StoreError> {
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
