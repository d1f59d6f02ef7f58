//! Durable storage: the only module that speaks SQL or knows a database crate.
//!
//! One module per thing stored (centers, members, check-ins, desks, tokens, notices, events,
//! incidents, logins, imports, retention), written once against [`sql::Conn`], which SQLite
//! (the embedded default) implements. Writes go through [`Writer`]: one thread commits jobs
//! in groups, and a job's caller hears back only after that commit, so a `201` means the
//! check-in is on disk. Reads run on blocking threads beside it.

pub mod audit;
pub mod centers;
pub mod checkins;
pub mod desk_logs;
pub mod desks;
pub mod events;
pub mod exports;
pub mod holidays;
pub mod imports;
pub mod incidents;
pub mod lease;
pub mod logins;
pub mod members;
pub mod nodes;
pub mod notices;
pub mod operators;
pub mod pass_keys;
pub mod photos;
pub(crate) mod postgres;
pub(crate) mod postgres_tls;
pub mod releases;
pub mod retention;
pub(crate) mod schema;
pub mod settings;
pub mod signals;
pub mod snapshot;
pub mod sql;
pub(crate) mod sqlite;
pub mod tokens;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::DateTime;
use chrono::Utc;

pub use events::StoredEvent;
pub use sql::Conn;
pub use sqlite::{backup, restore};

/// Gives a PostgreSQL database a fresh epoch (after promoting a standby); returns it.
pub fn new_epoch_postgres(url: &str) -> Result<String, StoreError> {
    postgres::new_epoch(url)
}
pub use writer::{Publisher, WriteCtx, Writer};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("database error: {}", postgres_reason(.0))]
    Postgres(#[from] ::postgres::Error),
    /// The database cannot be reached or cannot take writes now; try again later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// A leader-only write from a node whose lease on the shared duties is gone.
    #[error("this node no longer runs the shared duties (another node took them over)")]
    Fenced,
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
            StoreError::Postgres(e) => postgres_unavailable(e),
            StoreError::WriterGone
            | StoreError::NotStored
            | StoreError::Join(_)
            | StoreError::Unavailable(_) => true,
            _ => false,
        }
    }

    /// A copy for each caller of a batch that failed together.
    fn shared(&self) -> StoreError {
        match self {
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(code, msg)) => {
                StoreError::Sqlite(rusqlite::Error::SqliteFailure(*code, msg.clone()))
            }
            StoreError::NotStored => StoreError::NotStored,
            other if other.is_unavailable() => StoreError::Unavailable(other.to_string()),
            other => StoreError::Corrupt(other.to_string()),
        }
    }
}

/// The driver's own text is only "db error": the log needs the database's reason and SQL
/// state (its message names constraints and objects, never row values; the detail that
/// can hold them is left out).
fn postgres_reason(error: &::postgres::Error) -> String {
    if let Some(db) = error.as_db_error() {
        return format!("{} (SQLSTATE {})", db.message(), db.code().code());
    }
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        // Some kinds already print their cause.
        let said = inner.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        cause = inner.source();
    }
    text
}

/// Connection lost, server shutting down or out of resources, a read-only standby, a
/// deadlock or serialization failure: nothing was stored, and trying again later may work.
fn postgres_unavailable(error: &::postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    let Some(code) = error.code() else {
        // No SQL state: the connection itself failed (refused, reset, timed out).
        return true;
    };
    let code = code.code();
    code.starts_with("08") // connection exception
        || code.starts_with("53") // insufficient resources (disk full, too many connections)
        || code.starts_with("57P") // operator intervention (shutdown, crash recovery)
        || code == "25006" // read-only transaction: connected to a standby
        || code == "40001" // serialization failure
        || code == "40P01" // deadlock detected
}

pub use gymgate_shared::timefmt::to_text as ts;

pub fn parse_ts(text: &str) -> Result<DateTime<Utc>, StoreError> {
    gymgate_shared::timefmt::from_text(text)
        .ok_or_else(|| StoreError::Corrupt(format!("bad stored time {text:?}")))
}

/// Reads running at once. A burst of reads (thousands of desks saying hello after a restart)
/// waits for a permit rather than starting a blocking thread and a connection each: both
/// would stay allocated long after the burst.
const MAX_READERS: usize = 16;

enum Backend {
    Sqlite(sqlite::Sqlite),
    Postgres(postgres::Postgres),
}

#[derive(Clone)]
pub struct Store {
    pub writer: Writer,
    backend: Arc<Backend>,
    permits: Arc<tokio::sync::Semaphore>,
    epoch: Arc<str>,
}

impl Store {
    /// Opens (creating and migrating if needed) the SQLite database at `path` and starts its
    /// writer; `on_commit` hears every committed batch's events, in commit order.
    pub fn open_sqlite(path: &Path, on_commit: Publisher) -> Result<Store, StoreError> {
        let (sqlite, session, epoch) = sqlite::open(path)?;
        let writer = Writer::start(session, on_commit)?;
        Ok(Store {
            writer,
            backend: Arc::new(Backend::Sqlite(sqlite)),
            permits: Arc::new(tokio::sync::Semaphore::new(MAX_READERS)),
            epoch: epoch.into(),
        })
    }

    /// Opens the PostgreSQL database at `url` (migrating it if needed, one node at a time)
    /// and starts the writer pool; `on_commit` hears each committed job's events. The
    /// writers sign their event notifications with `node`, so this node's follower can tell
    /// its own events (already published) from other nodes'.
    pub fn open_postgres(
        url: &str,
        node: &str,
        writers: usize,
        batch: usize,
        on_commit: Publisher,
    ) -> Result<Store, StoreError> {
        let (pg, epoch) = postgres::open(url)?;
        let writer_url = url.to_owned();
        let node = node.to_owned();
        let writer = writer::start_pool(
            move || {
                postgres::connect_writer(&writer_url, &node)
                    .map(|c| postgres::PgSession::new(c, &node))
            },
            writers,
            batch,
            on_commit,
        )?;
        Ok(Store {
            writer,
            backend: Arc::new(Backend::Postgres(pg)),
            permits: Arc::new(tokio::sync::Semaphore::new(MAX_READERS)),
            epoch: epoch.into(),
        })
    }

    pub fn dialect(&self) -> sql::Dialect {
        match &*self.backend {
            Backend::Sqlite(_) => sql::Dialect::Sqlite,
            Backend::Postgres(_) => sql::Dialect::Postgres,
        }
    }

    /// The PostgreSQL URL (the listener opens its own session); `None` on SQLite.
    pub(crate) fn postgres_url(&self) -> Option<&str> {
        match &*self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres(pg) => Some(pg.url()),
        }
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
        F: FnOnce(&mut dyn Conn) -> Result<T, StoreError> + Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| StoreError::WriterGone)?;
        let backend = self.backend.clone();
        tokio::task::spawn_blocking(move || {
            let _permit = permit;
            match &*backend {
                Backend::Sqlite(sqlite) => sqlite.read(f),
                Backend::Postgres(pg) => pg.read(f),
            }
        })
        .await
        .map_err(|e| StoreError::Join(e.to_string()))?
    }

    /// Checks the database for damage beside the writer. `None` when it is sound; otherwise
    /// what the check found.
    pub async fn check_integrity(&self) -> Result<Option<String>, StoreError> {
        if self.postgres_url().is_some() {
            // PostgreSQL checks its own pages (data checksums, `amcheck`); what gymgate can
            // check is that each center's log is whole.
            let gaps = self.read(|conn| events::log_gaps(conn, 5)).await?;
            return Ok((!gaps.is_empty()).then(|| gaps.join("; ")));
        }
        let backend = self.backend.clone();
        tokio::task::spawn_blocking(move || match &*backend {
            Backend::Sqlite(sqlite) => sqlite.check_integrity(),
            Backend::Postgres(_) => Ok(None),
        })
        .await
        .map_err(|e| StoreError::Join(e.to_string()))?
    }
}
