//! The one way Watchpost opens a SQLite database, for the embedded store and the state database alike:
//! WAL with a busy timeout, the schema migrated by `PRAGMA user_version`, and the file checked before use.
//!
//! Why one helper: the two databases had two copies of this code, and they had drifted (one recognised a
//! busy database by its error code, the other by the words "database is locked").

use rusqlite::{Connection, ErrorCode};
use std::path::Path;
use std::time::Duration;

/// What differs between the two databases.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Enforce `REFERENCES` (the state database's deliveries belong to alerts).
    pub foreign_keys: bool,
    /// Page cache per connection, KiB (`None`: SQLite's default, 2 MiB).
    pub cache_kib: Option<i64>,
}

/// How long a statement waits for another process's write lock before it fails as busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether the same call may succeed later: busy, locked, full and I/O errors may clear; anything else
/// (schema, constraint, a damaged file) will not.
pub fn is_transient(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked | ErrorCode::DiskFull | ErrorCode::SystemIoFailure)
    )
}

/// One connection with the settings every Watchpost connection has. The file must exist or be creatable.
pub fn connect(path: &Path, options: Options) -> rusqlite::Result<Connection> {
    #[allow(clippy::disallowed_methods)] // the one sanctioned open (clippy.toml)
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    if let Some(kib) = options.cache_kib {
        conn.pragma_update(None, "cache_size", -kib)?;
    }
    conn.pragma_update(None, "foreign_keys", options.foreign_keys)?;
    Ok(conn)
}

/// Starts a transaction that writes: it takes the write lock at `BEGIN`, waiting up to the busy timeout.
///
/// Why not `Connection::transaction` (deferred): a deferred transaction that reads and then writes must
/// upgrade its read lock, and in WAL mode SQLite refuses that upgrade at once with SQLITE_BUSY, without
/// waiting, when another connection wrote in between (the busy handler cannot help: waiting would not
/// make the snapshot current). An acknowledgement made while alerting was committing failed that way.
pub fn write_transaction(conn: &mut Connection) -> rusqlite::Result<rusqlite::Transaction<'_>> {
    conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
}

/// Opens the database at `path` for writing: creates its directory and the file if needed, applies the
/// `migrations` not yet applied, and refuses a file that is damaged or read-only ([`check_usable`]). The
/// error is a sentence for the user, saying what to do.
pub fn open(path: &Path, migrations: &[&str], options: Options) -> Result<Connection, String> {
    open_checked(path, migrations, options, true)
}

/// Opens an existing database for a command that only reads (`watchpost status`, reports), without the
/// start-up `quick_check`: it reads every page (2.2 s for 30 days of 10,000 endpoints' rollups), which a
/// read of a few pages need not pay. A damaged page the command reads is still refused with the same
/// sentence ([`is_damage`], [`damaged`]).
pub fn open_to_read(path: &Path, migrations: &[&str], options: Options) -> Result<Connection, String> {
    open_checked(path, migrations, options, false)
}

fn open_checked(path: &Path, migrations: &[&str], options: Options, check: bool) -> Result<Connection, String> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| format!("cannot create directory {}: {e}", dir.display()))?;
    }
    // Two processes creating the file at once (an agent and alerting started together) can meet SQLITE_BUSY
    // where the busy timeout does not apply (switching a new file to WAL): try again for a few seconds.
    let mut attempt = 0;
    loop {
        match connect(path, options).and_then(|mut conn| migrate(&mut conn, migrations).map(|()| conn)) {
            Ok(conn) => {
                if check {
                    check_usable(&conn)?;
                }
                return Ok(conn);
            }
            Err(e) if e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy) && attempt < 50 => {
                attempt += 1;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => return Err(explain_open_error(&e)),
        }
    }
}

/// Applies the migrations after the one `PRAGMA user_version` names. Append-only: the version is the count
/// applied, and a database newer than this build is refused rather than misread.
fn migrate(conn: &mut Connection, migrations: &[&str]) -> rusqlite::Result<()> {
    let current: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let current = usize::try_from(current).unwrap_or(usize::MAX);
    if current > migrations.len() {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "the database has schema version {current}, newer than this Watchpost knows ({}); upgrade Watchpost",
            migrations.len()
        )));
    }
    for (i, sql) in migrations.iter().enumerate().skip(current) {
        // Processes that start together (an agent and alerting on one file) race here: the write lock is
        // taken first, then the version read again, so each migration runs once.
        let tx = write_transaction(conn)?;
        let now: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if now > i as i64 {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// What to do about a damaged database, as the user reads it.
pub fn damaged(why: &str) -> String {
    format!("the database is damaged ({why}): move the file aside to start a new one, or restore it from a backup")
}

/// Whether `e` says the file is damaged or not a database.
pub fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase))
}

/// Refuses a database that cannot be trusted or written, with what to do about it: damaged pages (`PRAGMA
/// quick_check`, which reads every page once: seconds for gigabytes, at start only), or a file opened
/// read-only. Without this a damaged store was written to in vain while the agent spooled forever and the
/// page, reading nothing, showed every component operational.
pub fn check_usable(conn: &Connection) -> Result<(), String> {
    let mut stmt = conn.prepare("PRAGMA quick_check(5)").map_err(|e| damaged(&e.to_string()))?;
    let found: Vec<String> =
        stmt.query_map([], |r| r.get::<_, String>(0)).and_then(|rows| rows.collect()).map_err(|e| damaged(&e.to_string()))?;
    if found.iter().any(|line| line != "ok") {
        return Err(damaged(&format!("PRAGMA quick_check: {}", found.join("; "))));
    }
    if conn.is_readonly(rusqlite::MAIN_DB).unwrap_or(false) {
        return Err("the database file is read-only: Watchpost needs to write it (check its permissions and the file system)".into());
    }
    Ok(())
}

/// An open error as the user reads it: a file that is not a database at all, or is damaged, says what to do.
pub fn explain_open_error(e: &rusqlite::Error) -> String {
    match e.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            format!("{e}: the file is damaged or not a Watchpost database; move it aside to start a new one, or restore it from a backup")
        }
        Some(ErrorCode::ReadOnly | ErrorCode::CannotOpen | ErrorCode::PermissionDenied) => {
            format!("{e}: Watchpost needs to create and write this file (check the path, its permissions and the file system)")
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPTIONS: Options = Options { foreign_keys: true, cache_kib: None };

    #[test]
    fn migrations_apply_once_and_a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/dir/t.db");
        let v1 = ["CREATE TABLE a (x INTEGER)"];
        let v2 = ["CREATE TABLE a (x INTEGER)", "CREATE TABLE b (y INTEGER)"];
        drop(open(&path, &v1, OPTIONS).unwrap());
        let conn = open(&path, &v2, OPTIONS).unwrap();
        assert_eq!(conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0)).unwrap(), 2);
        drop(conn);
        let err = open(&path, &v1, OPTIONS).unwrap_err();
        assert!(err.contains("newer than this Watchpost knows"), "{err}");
    }

    #[test]
    fn a_file_that_is_not_a_database_is_explained() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junk.db");
        std::fs::write(&path, vec![b'x'; 8192]).unwrap();
        let err = open(&path, &[], OPTIONS).unwrap_err();
        assert!(err.contains("not a Watchpost database"), "{err}");
    }

    /// Two processes each read a row and write it back while the other commits in between: with
    /// [`write_transaction`] the second waits for the first and both increments land; a deferred
    /// transaction failed the second at once with SQLITE_BUSY (an acknowledgement answered 500).
    #[test]
    fn regression_read_then_write_waits_for_another_writer_instead_of_failing_busy() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let mut first = open(&path, &["CREATE TABLE c (n INTEGER); INSERT INTO c VALUES (0)"], OPTIONS).unwrap();
        let mut second = connect(&path, OPTIONS).unwrap();
        let tx = write_transaction(&mut first).unwrap();
        let n: i64 = tx.query_row("SELECT n FROM c", [], |r| r.get(0)).unwrap();
        let other = std::thread::spawn(move || -> rusqlite::Result<()> {
            let tx = write_transaction(&mut second)?;
            let n: i64 = tx.query_row("SELECT n FROM c", [], |r| r.get(0))?;
            tx.execute("UPDATE c SET n = ?1", [n + 1])?;
            tx.commit()
        });
        std::thread::sleep(Duration::from_millis(200));
        tx.execute("UPDATE c SET n = ?1", [n + 1]).unwrap();
        tx.commit().unwrap();
        other.join().unwrap().unwrap();
        assert_eq!(first.query_row("SELECT n FROM c", [], |r| r.get::<_, i64>(0)).unwrap(), 2);
    }
}
