//! Which database a test's servers use, and a database of their own on PostgreSQL.
//!
//! Servers use SQLite unless the test binary's name starts with `postgres_` (the suites run
//! again there, see `tests/postgres_suites.rs`) or a test asks for PostgreSQL itself. The
//! PostgreSQL cluster is found through `GYMGATE_TEST_POSTGRES` (an admin URL; `.ci/postgres`
//! starts one); without it such tests skip loudly, and fail in CI.

use std::path::Path;

use anyhow::{Context, bail};

pub const ADMIN_URL_VAR: &str = "GYMGATE_TEST_POSTGRES";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backend this test binary's servers use by default.
pub fn backend() -> Backend {
    let postgres_binary = std::env::current_exe().ok().is_some_and(|exe| {
        exe.file_name()
            .and_then(|name| name.to_str())
            .is_some_and(|name| name.starts_with("postgres_"))
    });
    if postgres_binary {
        Backend::Postgres
    } else {
        Backend::Sqlite
    }
}

/// The cluster's admin URL; `None` (after a loud note) when there is none outside CI.
pub fn admin_url() -> anyhow::Result<Option<String>> {
    match std::env::var(ADMIN_URL_VAR) {
        Ok(url) if !url.is_empty() => Ok(Some(url)),
        _ if std::env::var_os("CI").is_some() => {
            bail!("{ADMIN_URL_VAR} is not set in CI: .ci/run must start PostgreSQL (.ci/postgres)")
        }
        _ => {
            eprintln!(
                "\n!!! SKIPPING POSTGRESQL TEST: set {ADMIN_URL_VAR} (eval \"$(.ci/postgres start)\"; \
                 CI always runs them)\n"
            );
            Ok(None)
        }
    }
}

/// Where a data directory keeps the URL of its PostgreSQL database, so a server restarted on
/// the same directory finds the same database.
const URL_FILE: &str = "postgres-url";

/// The URL of `data_dir`'s own database, made on first use.
pub async fn database_for(data_dir: &Path) -> anyhow::Result<String> {
    let file = data_dir.join(URL_FILE);
    if let Ok(url) = std::fs::read_to_string(&file) {
        return Ok(url.trim().to_owned());
    }
    let admin = admin_url()?.context("no PostgreSQL cluster for this test")?;
    let name = format!("gt_{}", uuid::Uuid::new_v4().simple());
    let create = admin.clone();
    let db = name.clone();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut client = gymgate_server::testing::postgres_client(&create, "gymgate tests")?;
        client.batch_execute(&format!("CREATE DATABASE {db}"))?;
        Ok(())
    })
    .await??;
    // The admin URL's settings (TLS: `sslmode`, `sslrootcert`) follow the new database.
    let (path, query) = match admin.split_once('?') {
        Some((path, query)) => (path, format!("?{query}")),
        None => (admin.as_str(), String::new()),
    };
    let (base, _) = path
        .rsplit_once('/')
        .context("the admin URL names no database")?;
    let url = format!("{base}/{name}{query}");
    std::fs::write(&file, &url)?;
    Ok(url)
}

/// Everything a database holds, as text: the SQLite file (and, `with_wal`, its WAL), or every
/// row of every table on PostgreSQL (for tests that look for secrets stored in the clear).
pub async fn contents(data_dir: &Path, with_wal: bool) -> anyhow::Result<Vec<u8>> {
    if let Ok(url) = std::fs::read_to_string(data_dir.join(URL_FILE)) {
        let url = url.trim().to_owned();
        return tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<u8>> {
            let mut client = gymgate_server::testing::postgres_client(&url, "gymgate tests")?;
            let tables: Vec<String> = client
                .query(
                    "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'",
                    &[],
                )?
                .iter()
                .map(|row| row.get(0))
                .collect();
            let mut all = Vec::new();
            for table in tables {
                for row in client.query(&format!("SELECT t::text FROM {table} t"), &[])? {
                    let text: String = row.get(0);
                    all.extend_from_slice(text.as_bytes());
                    all.push(b'\n');
                }
            }
            Ok(all)
        })
        .await?;
    }
    let mut all = std::fs::read(data_dir.join("gymgate.db"))?;
    if with_wal {
        all.extend(std::fs::read(data_dir.join("gymgate.db-wal")).unwrap_or_default());
    }
    Ok(all)
}

/// The ids of every check-in stored.
pub async fn checkin_ids(data_dir: &Path) -> anyhow::Result<Vec<String>> {
    if let Ok(url) = std::fs::read_to_string(data_dir.join(URL_FILE)) {
        let url = url.trim().to_owned();
        return tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
            let mut client = gymgate_server::testing::postgres_client(&url, "gymgate tests")?;
            Ok(client
                .query("SELECT id FROM checkins", &[])?
                .iter()
                .map(|row| row.get(0))
                .collect())
        })
        .await?;
    }
    let db = rusqlite::Connection::open(data_dir.join("gymgate.db"))?;
    let mut statement = db.prepare("SELECT id FROM checkins")?;
    let ids = statement
        .query_map([], |r| r.get::<_, String>(0))?
        .collect::<Result<_, _>>()?;
    Ok(ids)
}

/// Ends the sessions of `application_name` on the database at `url` (a test cutting the
/// listener's connection); returns how many it ended.
pub async fn end_sessions(url: &str, application_name: &str) -> anyhow::Result<u64> {
    // Through the admin database: `url`'s own may be taking no new sessions.
    let admin = admin_url()?.context("no PostgreSQL for the tests")?;
    let database = database_name(url)?;
    let name = application_name.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let mut client = gymgate_server::testing::postgres_client(&admin, "gymgate tests")?;
        let row = client.query_one(
            "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1 AND datname = $2) ended",
            &[&name, &database],
        )?;
        let ended: i64 = row.get(0);
        Ok(u64::try_from(ended).unwrap_or(0))
    })
    .await?
}

/// Runs one statement on the database at `url`, behind the servers' backs (a test making
/// the state another node, or an operator's tool, would leave); returns the rows it touched.
pub async fn execute(url: &str, statement: &str, text: &[&str]) -> anyhow::Result<u64> {
    let (url, statement) = (url.to_owned(), statement.to_owned());
    let text: Vec<String> = text.iter().map(|t| (*t).to_owned()).collect();
    tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
        let mut client = gymgate_server::testing::postgres_client(&url, "gymgate tests")?;
        let params: Vec<&(dyn postgres::types::ToSql + Sync)> = text
            .iter()
            .map(|t| t as &(dyn postgres::types::ToSql + Sync))
            .collect();
        Ok(client.execute(statement.as_str(), &params)?)
    })
    .await?
}

/// The database a `postgres://…/name?…` URL names.
fn database_name(url: &str) -> anyhow::Result<String> {
    let path = url.split_once('?').map_or(url, |(path, _)| path);
    match path.rsplit_once('/') {
        Some((_, name)) if !name.is_empty() && !name.contains('@') => Ok(name.to_owned()),
        _ => bail!("the database URL names no database: {path}"),
    }
}

/// Lets (or stops) new sessions into `url`'s database; sessions already open go on. What a
/// database that cannot take new connections looks like to a node's listener.
pub async fn allow_connections(url: &str, allowed: bool) -> anyhow::Result<()> {
    let admin = admin_url()?.context("no PostgreSQL for the tests")?;
    let name = database_name(url)?.replace('"', "\"\"");
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        let mut client = gymgate_server::testing::postgres_client(&admin, "gymgate tests")?;
        client.batch_execute(&format!(
            "ALTER DATABASE \"{name}\" WITH ALLOW_CONNECTIONS {allowed}"
        ))?;
        Ok(())
    })
    .await?
}

/// The one number a query on the database at `url` answers (a `COUNT(*)`, a sum).
pub async fn number(url: &str, query: &str) -> anyhow::Result<i64> {
    let (url, query) = (url.to_owned(), query.to_owned());
    tokio::task::spawn_blocking(move || -> anyhow::Result<i64> {
        let mut client = gymgate_server::testing::postgres_client(&url, "gymgate tests")?;
        Ok(client.query_one(query.as_str(), &[])?.get(0))
    })
    .await?
}

/// Deadlocks PostgreSQL has found and broken in `url`'s database since it was made.
pub async fn deadlocks(url: &str) -> anyhow::Result<i64> {
    let admin = admin_url()?.context("no PostgreSQL for the tests")?;
    let database = database_name(url)?;
    tokio::task::spawn_blocking(move || -> anyhow::Result<i64> {
        let mut client = gymgate_server::testing::postgres_client(&admin, "gymgate tests")?;
        // Statistics reach the view when a session reports them: ask for this moment's.
        client.batch_execute("SELECT pg_stat_clear_snapshot()")?;
        let row = client.query_one(
            "SELECT COALESCE(deadlocks, 0) FROM pg_stat_database WHERE datname = $1",
            &[&database],
        )?;
        Ok(row.get(0))
    })
    .await?
}
