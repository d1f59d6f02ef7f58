//! Server nodes: each writes a heartbeat, and marks the desks whose live connection it holds,
//! so whichever node watches can tell a dead node and count a center's desks across nodes.

use chrono::{DateTime, Utc};
use gymgate_shared::{CenterId, DeskId};

use super::sql::Conn;
use super::{StoreError, parse_ts, ts};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub id: String,
    pub name: String,
    pub started_at: DateTime<Utc>,
    pub beat_at: DateTime<Utc>,
}

/// A node starts: it is live from now. A live node of the same name is one this node replaces
/// (the same host restarted), so it stops counting as live or as dead.
pub fn register(
    conn: &mut dyn Conn,
    id: &str,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let replaced: Vec<String> = conn.all(
        "SELECT id FROM nodes WHERE name = ?1 AND stopped_at IS NULL",
        &[&name],
        |r| r.get(0),
    )?;
    for old in &replaced {
        stop(conn, old, now)?;
    }
    conn.execute(
        "INSERT INTO nodes (id, name, started_at, beat_at) VALUES (?1, ?2, ?3, ?3)",
        &[&id, &name, &ts(now)],
    )?;
    Ok(())
}

pub fn beat(conn: &mut dyn Conn, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE nodes SET beat_at = ?2 WHERE id = ?1",
        &[&id, &ts(now)],
    )?;
    Ok(())
}

/// What a node counted, in one minute or over a span.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub answered: u64,
    pub refused: u64,
    pub failed: u64,
    pub pin_failures: u64,
}

impl Counts {
    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }
}

impl std::ops::Add for Counts {
    type Output = Counts;
    fn add(self, other: Counts) -> Counts {
        Counts {
            answered: self.answered + other.answered,
            refused: self.refused + other.refused,
            failed: self.failed + other.failed,
            pin_failures: self.pin_failures + other.pin_failures,
        }
    }
}

/// A day and a bit of minutes is what the console and the incidents look back over.
const MINUTES_KEPT: i64 = 26 * 60;

/// Adds what this node counted since its last beat to `minute` (minutes since the Unix
/// epoch), and drops its minutes older than the console looks back.
pub fn add_counts(
    conn: &mut dyn Conn,
    id: &str,
    minute: i64,
    counts: Counts,
) -> Result<(), StoreError> {
    let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    conn.execute(
        "INSERT INTO node_minutes (node_id, minute, answered, refused, failed, pin_failures)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (node_id, minute) DO UPDATE SET
             answered = node_minutes.answered + excluded.answered,
             refused = node_minutes.refused + excluded.refused,
             failed = node_minutes.failed + excluded.failed,
             pin_failures = node_minutes.pin_failures + excluded.pin_failures",
        &[
            &id,
            &minute,
            &n(counts.answered),
            &n(counts.refused),
            &n(counts.failed),
            &n(counts.pin_failures),
        ],
    )?;
    conn.execute(
        "DELETE FROM node_minutes WHERE node_id = ?1 AND minute < ?2",
        &[&id, &(minute - MINUTES_KEPT)],
    )?;
    Ok(())
}

/// What the other nodes counted, minute by minute, from `from` to `to` (inclusive).
pub fn counts_elsewhere(
    conn: &mut dyn Conn,
    me: &str,
    from: i64,
    to: i64,
) -> Result<Vec<(i64, Counts)>, StoreError> {
    let u = |v: i64| u64::try_from(v).unwrap_or(0);
    conn.all(
        // PostgreSQL sums BIGINT as NUMERIC: back to BIGINT (SQLite takes the cast as is).
        "SELECT minute, CAST(SUM(answered) AS BIGINT), CAST(SUM(refused) AS BIGINT),
             CAST(SUM(failed) AS BIGINT), CAST(SUM(pin_failures) AS BIGINT)
         FROM node_minutes WHERE minute >= ?2 AND minute <= ?3 AND node_id <> ?1
         GROUP BY minute ORDER BY minute",
        &[&me, &from, &to],
        |r| {
            Ok((
                r.get::<i64>(0)?,
                Counts {
                    answered: u(r.get(1)?),
                    refused: u(r.get(2)?),
                    failed: u(r.get(3)?),
                    pin_failures: u(r.get(4)?),
                },
            ))
        },
    )
}

/// What the other nodes counted from `from` to `to` (minutes, inclusive), all together.
pub fn total_elsewhere(
    conn: &mut dyn Conn,
    me: &str,
    from: i64,
    to: i64,
) -> Result<Counts, StoreError> {
    Ok(counts_elsewhere(conn, me, from, to)?
        .into_iter()
        .fold(Counts::default(), |sum, (_, counts)| sum + counts))
}

/// A node stopped (or was replaced): its desks' connections are gone with it.
pub fn stop(conn: &mut dyn Conn, id: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE nodes SET stopped_at = ?2 WHERE id = ?1 AND stopped_at IS NULL",
        &[&id, &ts(now)],
    )?;
    conn.execute("UPDATE desks SET node_id = NULL WHERE node_id = ?1", &[&id])?;
    Ok(())
}

/// Nodes not stopped, however long ago they last beat.
pub fn unstopped(conn: &mut dyn Conn) -> Result<Vec<NodeRow>, StoreError> {
    conn.all(
        "SELECT id, name, started_at, beat_at FROM nodes WHERE stopped_at IS NULL ORDER BY name",
        &[],
        |r| {
            Ok(NodeRow {
                id: r.get(0)?,
                name: r.get(1)?,
                started_at: parse_ts(&r.get::<String>(2)?)?,
                beat_at: parse_ts(&r.get::<String>(3)?)?,
            })
        },
    )
}

/// The desk's live connection is on `node`.
pub fn desk_connected(conn: &mut dyn Conn, desk: &DeskId, node: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE desks SET node_id = ?2 WHERE id = ?1",
        &[desk, &node],
    )?;
    Ok(())
}

/// The desk's connection on `node` ended (one it made to another node meanwhile stays).
pub fn desk_disconnected(conn: &mut dyn Conn, desk: &DeskId, node: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE desks SET node_id = NULL WHERE id = ?1 AND node_id = ?2",
        &[desk, &node],
    )?;
    Ok(())
}

/// Desks connected to a node that beat since `alive_since`, with their centers.
pub fn online_desks(
    conn: &mut dyn Conn,
    alive_since: DateTime<Utc>,
) -> Result<Vec<(DeskId, CenterId)>, StoreError> {
    conn.all(
        "SELECT d.id, d.center_id FROM desks d JOIN nodes n ON n.id = d.node_id
         WHERE d.node_id IS NOT NULL AND n.stopped_at IS NULL AND n.beat_at >= ?1",
        &[&ts(alive_since)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}
