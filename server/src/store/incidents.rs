//! The incident log: alerts raised and resolved, the server's own restarts, and notices, each
//! with a start and an end. Operators add cause, action and follow-up afterwards.

use chrono::{DateTime, Utc};
use gymgate_shared::api::{Incident, IncidentKind, IncidentNotes};
use uuid::Uuid;

use super::sql::{Conn, Row};
use super::{StoreError, parse_ts, ts};

/// Longest note an operator may write into one field.
pub const MAX_NOTE_CHARS: usize = 4000;

const COLUMNS: &str = "id, kind, key, title, started_at, ended_at, cause, action, follow_up";

/// A row as stored; [`RawIncident::parse`] checks the kind and times.
struct RawIncident {
    id: String,
    kind: String,
    key: String,
    title: String,
    started_at: String,
    ended_at: Option<String>,
    cause: String,
    action: String,
    follow_up: String,
}

fn from_row(row: &dyn Row) -> Result<RawIncident, StoreError> {
    Ok(RawIncident {
        id: row.get(0)?,
        kind: row.get(1)?,
        key: row.get(2)?,
        title: row.get(3)?,
        started_at: row.get(4)?,
        ended_at: row.get(5)?,
        cause: row.get(6)?,
        action: row.get(7)?,
        follow_up: row.get(8)?,
    })
}

impl RawIncident {
    fn parse(self) -> Result<Incident, StoreError> {
        Ok(Incident {
            kind: IncidentKind::parse(&self.kind).ok_or_else(|| {
                StoreError::Corrupt(format!("unknown incident kind {:?}", self.kind))
            })?,
            started_at: parse_ts(&self.started_at)?,
            ended_at: self.ended_at.as_deref().map(parse_ts).transpose()?,
            id: self.id,
            key: self.key,
            title: self.title,
            cause: self.cause,
            action: self.action,
            follow_up: self.follow_up,
        })
    }
}

/// Opens an incident (or records a finished one when `ended_at` is given).
pub fn open(
    conn: &mut dyn Conn,
    kind: IncidentKind,
    key: &str,
    title: &str,
    started_at: DateTime<Utc>,
    ended_at: Option<DateTime<Utc>>,
) -> Result<String, StoreError> {
    let id = Uuid::now_v7().to_string();
    conn.execute(
        "INSERT INTO incidents (id, kind, key, title, started_at, ended_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            &id,
            &kind.as_str(),
            &key,
            &title,
            &ts(started_at),
            &ended_at.map(ts),
        ],
    )?;
    Ok(id)
}

/// Ends the incident(s) of `key` at `at`: open ones, and ones planned to end later (a
/// notice cleared before its end time).
pub fn close(conn: &mut dyn Conn, key: &str, at: DateTime<Utc>) -> Result<usize, StoreError> {
    conn.execute(
        "UPDATE incidents SET ended_at = ?2
         WHERE key = ?1 AND (ended_at IS NULL OR ended_at > ?2)",
        &[&key, &ts(at)],
    )
}

/// Newest first.
pub fn list(conn: &mut dyn Conn, limit: u32) -> Result<Vec<Incident>, StoreError> {
    let rows = conn.all(
        &format!("SELECT {COLUMNS} FROM incidents ORDER BY started_at DESC, id DESC LIMIT ?1"),
        &[&limit],
        from_row,
    )?;
    rows.into_iter().map(RawIncident::parse).collect()
}

/// Alerts still open: what a node taking over the shared duties already finds announced.
pub fn open_alerts(conn: &mut dyn Conn) -> Result<Vec<Incident>, StoreError> {
    let rows = conn.all(
        &format!(
            "SELECT {COLUMNS} FROM incidents WHERE kind = ?1 AND ended_at IS NULL
             ORDER BY started_at, id"
        ),
        &[&IncidentKind::Alert.as_str()],
        from_row,
    )?;
    rows.into_iter().map(RawIncident::parse).collect()
}

pub fn load(conn: &mut dyn Conn, id: &str) -> Result<Option<Incident>, StoreError> {
    conn.one(
        &format!("SELECT {COLUMNS} FROM incidents WHERE id = ?1"),
        &[&id],
        from_row,
    )?
    .map(RawIncident::parse)
    .transpose()
}

/// Writes the fields the operator gave; returns the incident as it is now, or `None` if
/// there is no such incident.
pub fn annotate(
    conn: &mut dyn Conn,
    id: &str,
    notes: &IncidentNotes,
) -> Result<Option<Incident>, StoreError> {
    conn.execute(
        "UPDATE incidents SET cause = COALESCE(?2, cause), action = COALESCE(?3, action),
             follow_up = COALESCE(?4, follow_up) WHERE id = ?1",
        &[&id, &notes.cause, &notes.action, &notes.follow_up],
    )?;
    load(conn, id)
}

/// How the previous run of the server ended, found at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restart {
    /// The previous run stopped without its shutdown code running (crash, kill, power cut).
    pub unclean: bool,
    /// The last moment the previous run was known alive.
    pub down_since: DateTime<Utc>,
    pub up_at: DateTime<Utc>,
}

fn meta(conn: &mut dyn Conn, key: &str) -> Result<Option<String>, StoreError> {
    conn.optional("SELECT value FROM meta WHERE key = ?1", &[&key])
}

fn set_meta(conn: &mut dyn Conn, key: &str, value: &str) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO meta (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&key, &value],
    )?;
    Ok(())
}

/// The marks of one node's runs: on a database shared by nodes, each node (by name) has its
/// own; the single node of SQLite keeps the original unnamed ones.
fn keys(node: Option<&str>) -> (String, String) {
    match node {
        None => ("running".to_owned(), "alive_at".to_owned()),
        Some(name) => (format!("running:{name}"), format!("alive_at:{name}")),
    }
}

/// Called once at start: marks this run as running, and records a restart incident when
/// there was a previous run. A brand-new database has none. `node` names the node when
/// several share the database.
pub fn started(
    conn: &mut dyn Conn,
    now: DateTime<Utc>,
    node: Option<String>,
) -> Result<Option<Restart>, StoreError> {
    let (running_key, alive_key) = keys(node.as_deref());
    let running = meta(conn, &running_key)?;
    let alive_at = meta(conn, &alive_key)?
        .as_deref()
        .map(parse_ts)
        .transpose()?;
    set_meta(conn, &running_key, "1")?;
    set_meta(conn, &alive_key, &ts(now))?;
    let Some(down_since) = alive_at else {
        return Ok(None);
    };
    // A single node's alerts ended with its previous run; this run raises again what still
    // holds. (Nodes sharing a database leave them: another node may be watching.)
    if node.is_none() {
        conn.execute(
            "UPDATE incidents SET ended_at = ?1 WHERE kind = 'alert' AND ended_at IS NULL",
            &[&ts(down_since)],
        )?;
    }
    let restart = Restart {
        unclean: running.as_deref() == Some("1"),
        down_since,
        up_at: now,
    };
    let title = if restart.unclean {
        "서버가 비정상 종료 후 다시 시작됨 / server restarted after an unclean stop"
    } else {
        "서버 재시작 / server restarted"
    };
    let title = match &node {
        None => title.to_owned(),
        Some(name) => format!("{name}: {title}"),
    };
    open(
        conn,
        IncidentKind::Restart,
        "server_restart",
        &title,
        restart.down_since,
        Some(now),
    )?;
    Ok(Some(restart))
}

/// Remembers that this run was alive at `now`, so the next start knows how long it was down.
pub fn heartbeat(
    conn: &mut dyn Conn,
    now: DateTime<Utc>,
    node: Option<&str>,
) -> Result<(), StoreError> {
    set_meta(conn, &keys(node).1, &ts(now))
}

/// Called at the end of a graceful shutdown.
pub fn stopped(
    conn: &mut dyn Conn,
    now: DateTime<Utc>,
    node: Option<String>,
) -> Result<(), StoreError> {
    let (running_key, alive_key) = keys(node.as_deref());
    set_meta(conn, &alive_key, &ts(now))?;
    set_meta(conn, &running_key, "0")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> rusqlite::Connection {
        let mut conn = rusqlite::Connection::open_in_memory().expect("in-memory database");
        crate::store::schema::migrations()
            .to_latest(&mut conn)
            .expect("migrations");
        conn
    }

    #[test]
    fn a_restart_is_clean_only_after_a_graceful_stop() -> Result<(), StoreError> {
        let mut conn = db();
        let conn: &mut dyn Conn = &mut conn;
        // Stored times keep microseconds.
        let t0 = chrono::SubsecRound::trunc_subsecs(Utc::now(), 6);
        assert_eq!(
            started(conn, t0, None)?,
            None,
            "a new database has no previous run"
        );
        let t1 = t0 + chrono::Duration::seconds(30);
        heartbeat(conn, t1, None)?;
        // No stop: the process was killed.
        let t2 = t1 + chrono::Duration::seconds(90);
        let restart = started(conn, t2, None)?.expect("a previous run");
        assert!(restart.unclean);
        assert_eq!(restart.down_since, t1);
        stopped(conn, t2 + chrono::Duration::seconds(5), None)?;
        let again =
            started(conn, t2 + chrono::Duration::seconds(9), None)?.expect("a previous run");
        assert!(!again.unclean);
        let log = list(conn, 10)?;
        assert_eq!(log.len(), 2);
        assert!(
            log.iter()
                .all(|i| i.kind == IncidentKind::Restart && i.ended_at.is_some())
        );
        Ok(())
    }

    #[test]
    fn notes_fill_only_the_given_fields() -> Result<(), StoreError> {
        let mut conn = db();
        let conn: &mut dyn Conn = &mut conn;
        let now = Utc::now();
        let id = open(
            conn,
            IncidentKind::Alert,
            "tap_failures",
            "taps failing",
            now,
            None,
        )?;
        assert_eq!(close(conn, "tap_failures", now)?, 1);
        assert_eq!(close(conn, "tap_failures", now)?, 0, "already ended");
        let notes = IncidentNotes {
            cause: Some("디스크 가득 참".into()),
            ..IncidentNotes::default()
        };
        annotate(conn, &id, &notes)?;
        let notes = IncidentNotes {
            follow_up: Some("disk alert at 80%".into()),
            ..IncidentNotes::default()
        };
        let incident = annotate(conn, &id, &notes)?.expect("exists");
        assert_eq!(incident.cause, "디스크 가득 참");
        assert_eq!(incident.follow_up, "disk alert at 80%");
        assert_eq!(incident.action, "");
        assert_eq!(annotate(conn, "nope", &notes)?, None);
        Ok(())
    }
}
