//! The embedded default: one SQLite file in WAL mode, `synchronous=FULL`.
//!
//! One writer thread owns the only write connection and commits jobs in groups (see
//! `writer.rs`); reads use a small pool of read-only connections on blocking threads, which
//! WAL lets run beside the writer; a thread of its own copies the WAL into the database file.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OpenFlags};

use super::StoreError;
use super::sql::Conn;
use super::writer::Session;

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

/// The open SQLite database: its read pool; the checkpointer runs while this lives.
pub(super) struct Sqlite {
    _checkpointer: Arc<()>,
    readers: ReadPool,
}

/// Opens (creating and migrating if needed) the database at `path`; returns it with the
/// writer's session and the database's epoch.
pub(super) fn open(path: &Path) -> Result<(Sqlite, SqliteSession, String), StoreError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::DataDir {
            path: dir.to_owned(),
            source,
        })?;
    }
    let mut conn = Connection::open(path)?;
    configure(&conn)?;
    super::schema::migrations().to_latest(&mut conn)?;
    let epoch: String = conn.query_row("SELECT value FROM meta WHERE key = 'epoch'", [], |r| {
        r.get(0)
    })?;
    // Checkpoints copy the WAL into the database file. Left automatic they run inside a
    // commit of the writer, stalling every tap in that batch; a thread of their own keeps
    // them off the tap path.
    conn.execute_batch("PRAGMA wal_autocheckpoint = 0; PRAGMA journal_size_limit = 134217728;")?;
    // The writer reads before it writes (policy, idempotency, cards): a page cache that
    // holds the hot part of the database keeps those reads out of the kernel.
    conn.execute_batch("PRAGMA cache_size = -65536; PRAGMA mmap_size = 268435456;")?;
    let alive = Arc::new(());
    let restart_wal = Arc::new(AtomicBool::new(false));
    start_checkpointer(path, Arc::downgrade(&alive), restart_wal.clone())?;
    let sqlite = Sqlite {
        _checkpointer: alive,
        readers: ReadPool {
            path: path.to_owned(),
            idle: Mutex::new(Vec::new()),
        },
    };
    let session = SqliteSession {
        conn,
        restart_wal,
        restart_wanted_since: None,
    };
    Ok((sqlite, session, epoch))
}

impl Sqlite {
    /// Runs `f` on a read connection (on the caller's blocking thread).
    pub(super) fn read<T>(
        &self,
        f: impl FnOnce(&mut dyn Conn) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let mut conn = self.readers.take()?;
        let result = f(&mut conn);
        self.readers.give_back(conn);
        result
    }

    /// `PRAGMA quick_check` (every page and index entry, not the slower cross-checks of
    /// `integrity_check`) on a read connection, beside the writer. `None` when it is sound;
    /// otherwise the first things SQLite found.
    pub(super) fn check_integrity(&self) -> Result<Option<String>, StoreError> {
        let result = self.readers.take().and_then(|conn| {
            let lines = (|| {
                let mut statement = conn.prepare("PRAGMA quick_check(5)")?;
                let lines: Vec<String> = statement
                    .query_map([], |r| r.get(0))?
                    .collect::<Result<_, _>>()?;
                Ok::<_, StoreError>(lines)
            })();
            self.readers.give_back(conn);
            lines
        });
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

/// A wanted WAL restart waits for an idle moment of the writer at most this long.
const RESTART_AT_THE_LATEST: std::time::Duration = std::time::Duration::from_secs(2);

/// The writer's connection.
pub(super) struct SqliteSession {
    conn: Connection,
    restart_wal: Arc<AtomicBool>,
    restart_wanted_since: Option<std::time::Instant>,
}

impl Session for SqliteSession {
    fn conn(&mut self) -> &mut dyn Conn {
        &mut self.conn
    }

    /// BEGIN, COMMIT and the savepoints are cached statements (parsing them anew was 5% of
    /// the writer at 1,000 taps/s, where most commits carry one tap).
    fn control(&mut self, sql: &str) -> Result<(), StoreError> {
        self.conn.prepare_cached(sql)?.execute([])?;
        Ok(())
    }

    fn in_transaction(&mut self) -> bool {
        !self.conn.is_autocommit()
    }

    fn between_batches(&mut self, queue_empty: bool) {
        // The checkpointer has just copied nearly all of the WAL; copying the rest here, with
        // no transaction open, lets the next transaction start the WAL over. It is done when
        // no job is waiting, so no tap waits for it; under saturation, after a while anyway.
        if !self.restart_wal.load(Ordering::Relaxed) {
            return;
        }
        let since = *self
            .restart_wanted_since
            .get_or_insert_with(std::time::Instant::now);
        if queue_empty || since.elapsed() > RESTART_AT_THE_LATEST {
            // Once: if the checkpointer was mid-copy or a reader still holds old frames,
            // the WAL is not started over now, and the checkpointer asks again next round.
            self.restart_wal.store(false, Ordering::Relaxed);
            self.restart_wanted_since = None;
            if let Err(error) =
                self.conn
                    .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))
            {
                tracing::warn!(%error, "WAL catch-up checkpoint failed; will retry");
            }
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

/// Idle read connections kept at most (reads at once are bounded by the store).
const MAX_READERS: usize = super::MAX_READERS;

struct ReadPool {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
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
        // The copy is a history of its own from here: put back in place, its event numbers
        // are reused by new taps, and a desk that followed the live database past the copy
        // must see another epoch (re-sync, send its visits again), never the same one.
        new_epoch(&to)?;
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

/// Gives a database a fresh epoch; returns it.
fn new_epoch(conn: &Connection) -> Result<String, StoreError> {
    Ok(conn.query_row(
        "UPDATE meta SET value = lower(hex(randomblob(16))) WHERE key = 'epoch' RETURNING value",
        [],
        |r| r.get(0),
    )?)
}

/// What a restore did.
#[derive(Debug)]
pub struct RestoreReport {
    /// Where the database it replaced went (with its `-wal`/`-shm`), if there was one.
    pub replaced_to: Option<PathBuf>,
    pub epoch: String,
}

/// Puts the backup `from` in place as the database `db` (the server stopped): checks the
/// backup, moves the files it replaces into a folder beside them (never deleted), copies the
/// backup in with SQLite's backup API and gives it a fresh epoch, so restoring the same file
/// twice still makes two histories no desk can mix up.
pub fn restore(from: &Path, db: &Path) -> Result<RestoreReport, StoreError> {
    let fail = |what: String| StoreError::Backup(what);
    if !from.is_file() {
        return Err(fail(format!("no backup file at {}", from.display())));
    }
    let source = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let check: String = source
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(|e| {
            fail(format!(
                "{} is not a readable database: {e}",
                from.display()
            ))
        })?;
    if check != "ok" {
        return Err(fail(format!("the backup fails its check: {check}")));
    }
    let dir = db.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| fail(format!("cannot make {}: {e}", dir.display())))?;
    let side = |suffix: &str| {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    let mut replaced_to = None;
    let present: Vec<PathBuf> = [db.to_owned(), side("-wal"), side("-shm")]
        .into_iter()
        .filter(|p| p.exists())
        .collect();
    if !present.is_empty() {
        let aside = dir.join(format!(
            "replaced-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ));
        std::fs::create_dir_all(&aside)
            .map_err(|e| fail(format!("cannot make {}: {e}", aside.display())))?;
        for file in present {
            let name = file.file_name().map(ToOwned::to_owned).unwrap_or_default();
            std::fs::rename(&file, aside.join(name))
                .map_err(|e| fail(format!("cannot move {} aside: {e}", file.display())))?;
        }
        replaced_to = Some(aside);
    }
    let partial = side(".partial");
    let _ = std::fs::remove_file(&partial);
    let result = (|| -> Result<String, StoreError> {
        let mut to = Connection::open(&partial)?;
        let step = rusqlite::backup::Backup::new(&source, &mut to)?.step(-1)?;
        if step != rusqlite::backup::StepResult::Done {
            return Err(fail(format!(
                "the backup could not be read whole ({step:?})"
            )));
        }
        let epoch = new_epoch(&to)?;
        drop(to);
        std::fs::File::open(&partial)
            .and_then(|f| f.sync_all())
            .map_err(|e| fail(format!("cannot sync the copy: {e}")))?;
        std::fs::rename(&partial, db).map_err(|e| fail(format!("cannot name the copy: {e}")))?;
        Ok(epoch)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
    }
    Ok(RestoreReport {
        replaced_to,
        epoch: result?,
    })
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

/// An app check-in of the test database's member `m1` at `center`, for unit tests.
#[cfg(test)]
pub(crate) fn test_checkin(
    id: &str,
    center: &str,
    at: chrono::DateTime<chrono::Utc>,
    status: gymgate_shared::api::CheckinStatus,
) -> gymgate_shared::api::Checkin {
    gymgate_shared::api::Checkin {
        id: gymgate_shared::CheckinId::new(id.to_owned()),
        member_id: gymgate_shared::MemberId::new("m1".to_owned()),
        center_id: gymgate_shared::CenterId::new(center.to_owned()),
        center_name: String::new(),
        status,
        method: gymgate_shared::api::CheckinMethod::App,
        at,
        rev: 1,
        local_id: None,
        desk_id: None,
        history: Vec::new(),
        dispute: None,
    }
}

/// A database for unit tests in `dir`: the schema, one plan without a visit limit, member
/// `m1` on it, and `centers` (each named by its id). The store must outlive the connection's
/// use: it owns the writer.
#[cfg(test)]
pub(crate) fn test_database(
    dir: &tempfile::TempDir,
    centers: &[&str],
) -> (super::Store, Connection) {
    let path = dir.path().join("test.db");
    let store = super::Store::open_sqlite(&path, Box::new(|_| {})).expect("store");
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
