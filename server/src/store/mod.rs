//! Durable storage on SQLite.
//!
//! One writer thread owns the only write connection and commits jobs in groups: every job
//! queued while the previous commit was syncing goes into the next transaction, so one fsync
//! covers many taps. A job's caller hears back only after that commit, so a `201` means the
//! check-in is on disk. Reads use a small pool of read connections on blocking threads; WAL
//! lets them run beside the writer.

pub mod imports;
pub mod logins;
pub(crate) mod schema;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OpenFlags};

pub use writer::{Published, Publisher, WriteCtx, Writer, event_frame};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database migration failed: {0}")]
    Migration(#[from] rusqlite_migration::Error),
    #[error("could not encode stored data: {0}")]
    Json(#[from] serde_json::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the database writer has stopped")]
    WriterGone,
    #[error("the database could not store this request")]
    NotStored,
    #[error("could not create the data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("a blocking database task failed: {0}")]
    Join(String),
    #[error("backup failed: {0}")]
    Backup(String),
}

impl StoreError {
    /// Full disk, read-only file, I/O error: the request was not stored and may be retried later.
    pub fn is_unavailable(&self) -> bool {
        use rusqlite::ErrorCode::*;
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                DiskFull | ReadOnly | SystemIoFailure | CannotOpen | DatabaseBusy | DatabaseLocked
            ),
            StoreError::WriterGone | StoreError::NotStored | StoreError::Join(_) => true,
            _ => false,
        }
    }
}

pub use gymgate_shared::timefmt::to_text as ts;

pub fn parse_ts(text: &str) -> Result<DateTime<Utc>, StoreError> {
    gymgate_shared::timefmt::from_text(text)
        .ok_or_else(|| StoreError::Corrupt(format!("bad stored time {text:?}")))
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    // synchronous=FULL: a commit returns only after the WAL is fsync'd, which is what lets a
    // 201 promise durability across power loss, not only across a process crash.
    conn.execute_batch(
        "PRAGMA journal_mode = WAL;
         PRAGMA synchronous = FULL;
         PRAGMA foreign_keys = ON;
         PRAGMA busy_timeout = 5000;
         PRAGMA temp_store = MEMORY;",
    )?;
    // temp_store: every write job runs in a savepoint whose page copies (the sub-journal) are
    // temporary; in a file they cost a pwrite per page, a fifth of the writer's time.
    Ok(())
}

#[derive(Clone)]
pub struct Store {
    /// The checkpointer thread runs while any clone of the store lives.
    _checkpointer: Arc<()>,
    pub writer: Writer,
    readers: Arc<ReadPool>,
    epoch: Arc<str>,
}

impl Store {
    /// Opens (creating and migrating if needed) the database at `path` and starts its writer.
    pub fn open(path: &Path, on_commit: Publisher) -> Result<Store, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
                path: dir.to_owned(),
                source,
            })?;
        }
        let mut conn = Connection::open(path)?;
        configure(&conn)?;
        schema::migrations().to_latest(&mut conn)?;
        let epoch: String =
            conn.query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |r| {
                r.get(0)
            })?;
        // Checkpoints copy the WAL into the database file. Left automatic they run inside a
        // commit of the writer, stalling every tap in that batch; a thread of their own keeps
        // them off the tap path.
        conn.execute_batch(
            "PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 134217728;",
        )?;
        // The writer reads before it writes (policy, idempotency, cards): a page cache that
        // holds the hot part of the database keeps those reads out of the kernel.
        conn.execute_batch("PRAGMA cache_size = -65536; PRAGMA mmap_size = 268435456;")?;
        let alive = Arc::new(());
        let restart_wal = Arc::new(std::sync::atomic::AtomicBool::new(false));
        start_checkpointer(path, Arc::downgrade(&alive), restart_wal.clone())?;
        let writer = Writer::start(conn, on_commit, restart_wal)?;
        Ok(Store {
            _checkpointer: alive,
            writer,
            readers: Arc::new(ReadPool {
                path: path.to_owned(),
                idle: Mutex::new(Vec::new()),
                permits: Arc::new(tokio::sync::Semaphore::new(MAX_READERS)),
            }),
            epoch: epoch.into(),
        })
    }

    pub fn epoch(&self) -> &str {
        &self.epoch
    }

    /// The name of one center's event log in this database, as desks see it (`epoch` in
    /// `welcome` and the snapshot). A cursor is a position in one center's log: bound to the
    /// center, a cursor a desk kept from another center (a PC moved and re-paired) can never
    /// be resumed here and skip this center's events.
    pub fn log_epoch(&self, center: &gymgate_shared::CenterId) -> String {
        format!("{}:{center}", self.epoch)
    }

    /// Runs `f` on a read connection on a blocking thread.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        // A burst of reads (thousands of desks saying hello after a restart) waits here rather
        // than starting a blocking thread and a connection each: both would stay allocated
        // long after the burst.
        let permit = self
            .readers
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::WriterGone)?;
        let pool = self.readers.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            let conn = pool.take()?;
            let result = f(&conn);
            pool.give_back(conn);
            result
        })
        .await
        .map_err(|e| StoreError::Join(e.to_string()))?
    }
}

impl Store {
    /// Checks the database for damage (`PRAGMA quick_check`: every page and index entry, not
    /// the slower cross-checks of `integrity_check`) on a read connection, beside the writer.
    /// `None` when it is sound; otherwise the first things SQLite found.
    pub async fn check_integrity(&self) -> Result<Option<String>, StoreError> {
        let result = self
            .read(|conn| {
                let mut statement = conn.prepare("PRAGMA quick_check(5)")?;
                let lines: Vec<String> = statement
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok(lines)
            })
            .await;
        match result {
            Ok(lines) if lines == ["ok"] => Ok(None),
            Ok(lines) => Ok(Some(lines.join("; "))),
            // A page so damaged that the check cannot even read it is damage too.
            Err(StoreError::Sqlite(rusqlite::Error::SqliteFailure(e, message)))
                if matches!(
                    e.code,
                    rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase
                ) =>
            {
                Ok(Some(message.unwrap_or_else(|| e.to_string())))
            }
            Err(error) => Err(error),
        }
    }
}

const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_millis(500);

/// A WAL longer than this (frames of one page, ~64 MB; ~1.2 s of taps at 1,000/s) is started
/// over from its beginning. Each start-over costs the writer a short stall, so not too often.
const WAL_RESTART_FRAMES: i64 = 16384;

fn start_checkpointer(
    path: &Path,
    alive: std::sync::Weak<()>,
    restart_wal: Arc<std::sync::atomic::AtomicBool>,
) -> Result<(), StoreError> {
    let conn = Connection::open(path)?;
    configure(&conn)?;
    std::thread::Builder::new()
        .name("gymgate-checkpoint".into())
        .spawn(move || {
            while alive.upgrade().is_some() {
                std::thread::sleep(CHECKPOINT_EVERY);
                match checkpoint_for_restart(&conn) {
                    // Under steady writes the WAL never becomes fully copied at the moment a
                    // transaction starts, so SQLite never starts it over: it grows, and every
                    // commit pays the file system for new blocks (a fifth of a tap's time).
                    // The writer copies the last few frames itself and the WAL restarts.
                    Ok(true) => restart_wal.store(true, std::sync::atomic::Ordering::Relaxed),
                    Ok(false) => {}
                    Err(error) => tracing::warn!(%error, "WAL checkpoint failed; will retry"),
                }
            }
        })
        .map_err(|e| StoreError::Join(format!("cannot start the checkpointer: {e}")))?;
    Ok(())
}

/// Frames the writer may be left to copy when it restarts the WAL: a few commits' worth at
/// 1,000 taps/s, a millisecond or two of its time (mostly the database file's fsync).
const LEFT_FOR_THE_WRITER: i64 = 256;
/// Passes one round may take to get there (under saturation it never does; the writer then
/// copies what one commit added).
const CATCH_UP_PASSES: usize = 8;

/// Copies the WAL into the database file; true when the WAL is long enough to start over. It
/// then copies again until a pass finds only what came in during the previous one, so the
/// writer's share of the restart is tiny: left with a whole interval's frames the writer spent
/// 11–21 ms copying them, in the middle of taps.
fn checkpoint_for_restart(conn: &Connection) -> Result<bool, StoreError> {
    // PASSIVE never waits for the writer or readers; what it cannot copy now it copies next
    // time. Returns (frames in the WAL, frames copied).
    let pass = || -> Result<(i64, i64), StoreError> {
        Ok(conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
            Ok((r.get(1)?, r.get(2)?))
        })?)
    };
    let (log, mut copied) = pass()?;
    if log <= WAL_RESTART_FRAMES {
        return Ok(false);
    }
    for _ in 0..CATCH_UP_PASSES {
        let (log, now_copied) = pass()?;
        // Fewer frames copied than before: the writer started the WAL over meanwhile.
        if now_copied < copied {
            return Ok(false);
        }
        let this_pass = now_copied - copied;
        copied = now_copied;
        if this_pass <= LEFT_FOR_THE_WRITER && log - now_copied <= LEFT_FOR_THE_WRITER {
            break;
        }
    }
    Ok(true)
}

const MAX_READERS: usize = 16;

struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
    /// Reads running at once, at most [`MAX_READERS`].
    permits: Arc<tokio::sync::Semaphore>,
}

impl ReadPool {
    fn take(&self) -> Result<Connection, StoreError> {
        if let Some(conn) = self.idle.lock().ok().and_then(|mut idle| idle.pop()) {
            return Ok(conn);
        }
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.execute_batch("PRAGMA busy_timeout = 5000;")?;
        Ok(conn)
    }

    fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.idle.lock()
            && idle.len() < MAX_READERS
        {
            idle.push(conn);
        }
    }
}

/// What [`backup`] wrote.
#[derive(Debug, Clone, Copy)]
pub struct BackupReport {
    pub pages: i32,
    pub bytes: u64,
}

/// Copies the database at `source` to `destination` with SQLite's online backup API (safe
/// while the server writes: it reads one consistent snapshot), checks the copy's integrity,
/// and only then gives it its final name, so a half-written backup never looks like one.
pub fn backup(source: &Path, destination: &Path) -> Result<BackupReport, StoreError> {
    if destination.exists() {
        return Err(StoreError::Backup(format!(
            "{} exists already; choose a new file",
            destination.display()
        )));
    }
    let mut partial = destination.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    let result = (|| {
        let from = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
        from.busy_timeout(std::time::Duration::from_secs(10))?;
        let mut to = Connection::open(&partial)?;
        let pages = {
            let copy = rusqlite::backup::Backup::new(&from, &mut to)?;
            // All pages in one step (-1): a source written between steps would restart a
            // stepped copy. Busy or locked means a writer holds it; wait a little.
            let mut waits = 0;
            loop {
                match copy.step(-1)? {
                    rusqlite::backup::StepResult::Done => break,
                    rusqlite::backup::StepResult::More => {}
                    _ if waits < 200 => {
                        waits += 1;
                        std::thread::sleep(std::time::Duration::from_millis(50));
                    }
                    _ => return Err(StoreError::Backup("the database stayed busy".into())),
                }
            }
            copy.progress().pagecount
        };
        let check: String = to.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if check != "ok" {
            return Err(StoreError::Backup(format!(
                "the copy fails its check: {check}"
            )));
        }
        drop(to);
        std::fs::File::open(&partial)
            .and_then(|f| f.sync_all())
            .map_err(|e| StoreError::Backup(format!("cannot sync the copy: {e}")))?;
        std::fs::rename(&partial, destination)
            .map_err(|e| StoreError::Backup(format!("cannot name the copy: {e}")))?;
        let bytes = std::fs::metadata(destination).map(|m| m.len()).unwrap_or(0);
        Ok(BackupReport { pages, bytes })
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    result
}

/// How SQLite would run `sql` with `parameters`: the plan's steps joined by " / ", for tests
/// that pin a hot query to its index.
#[cfg(test)]
pub(crate) fn query_plan(
    conn: &Connection,
    sql: &str,
    parameters: impl rusqlite::Params,
) -> String {
    let steps: Vec<String> = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .and_then(|mut plan| {
            plan.query_map(parameters, |r| r.get(3))?
                .collect::<Result<_, _>>()
        })
        .unwrap_or_else(|e| vec![format!("no plan: {e}")]);
    steps.join(" / ")
}

/// A database for unit tests in `dir`: the schema, one plan without a visit limit, member
/// `m1` on it, and `centers` (each named by its id). The store must outlive the connection's
/// use: it owns the writer.
#[cfg(test)]
pub(crate) fn test_database(dir: &tempfile::TempDir, centers: &[&str]) -> (Store, Connection) {
    let path = dir.path().join("test.db");
    let store = Store::open(&path, Box::new(|_| {})).expect("store");
    let conn = Connection::open(&path).expect("connection");
    conn.execute_batch(
        "INSERT INTO plans (id, name, visits_per_month) VALUES (1, '무제한', NULL);
         INSERT INTO members (id, member_no, name, phone, pin_hash, plan_id, valid_from,
                              valid_until, created_at)
         VALUES ('m1', 'A1', '회원', '010-0000-0000', 'x', 1, '2020-01-01', '2099-12-31',
                 '2026-01-01');",
    )
    .expect("plan and member");
    for center in centers {
        conn.execute(
            "INSERT INTO centers (id, name, created_at) VALUES (?1, ?1, '2026-01-01')",
            [center],
        )
        .expect("center");
    }
    (store, conn)
}
