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
