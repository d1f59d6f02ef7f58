//! Each center's event log: a gapless `seq` per center, assigned in the transaction that
//! stores the event, so the order desks see is the order of commits.

use chrono::{DateTime, Utc};
use gymgate_shared::protocol::EventKind;
use gymgate_shared::{CenterId, CheckinId, MemberId};

use super::sql::{Conn, Dialect};
use super::{StoreError, ts};

/// The PostgreSQL channel committed events are announced on (payload
/// `center_id:seq:node_id`).
pub const EVENTS_CHANNEL: &str = "gymgate_events";

/// An event as stored in a center's log. The wire frame is made from it outside the store.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub center_id: CenterId,
    pub seq: u64,
    /// The stored time text, exactly as desks receive it.
    pub at: String,
    pub kind: EventKind,
    /// The payload as stored (JSON).
    pub data: String,
    /// The member whose check-in this event is about, so their app can follow it live.
    pub member_id: Option<MemberId>,
    /// For a new check-in: its id, so the member can be told once a desk has shown it.
    pub checkin_id: Option<CheckinId>,
}

/// Appends an event with the center's next seq; returns the seq.
pub fn append(
    conn: &mut dyn Conn,
    center: &CenterId,
    at: DateTime<Utc>,
    kind: EventKind,
    data: &str,
) -> Result<u64, StoreError> {
    let seq: u64 = conn.value(
        "UPDATE centers SET head_seq = head_seq + 1 WHERE id = ?1 RETURNING head_seq",
        &[center],
    )?;
    conn.execute(
        "INSERT INTO events (center_id, seq, at, kind, data) VALUES (?1, ?2, ?3, ?4, ?5)",
        &[center, &seq, &ts(at), &kind.as_str(), &data],
    )?;
    if conn.dialect() == Dialect::Postgres {
        // Delivered to every node's listener when (and only if) this transaction commits.
        conn.query(
            "SELECT pg_notify(?1, ?2 || ':' || COALESCE(current_setting('gymgate.node', true), ''))",
            &[&EVENTS_CHANNEL, &format!("{center}:{seq}")],
            &mut |_| Ok(()),
        )?;
    }
    Ok(seq)
}

/// Events of a center after `after_seq`, oldest first, at most `limit`. Who they are about
/// is left out: readers of the log (desks catching up) do not need it.
pub fn after(
    conn: &mut dyn Conn,
    center: &CenterId,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<StoredEvent>, StoreError> {
    conn.all(
        "SELECT seq, at, kind, data FROM events WHERE center_id = ?1 AND seq > ?2
         ORDER BY seq LIMIT ?3",
        &[center, &after_seq, &limit],
        |r| {
            let kind: String = r.get(2)?;
            Ok(StoredEvent {
                center_id: center.clone(),
                seq: r.get(0)?,
                at: r.get(1)?,
                kind: EventKind::parse(&kind)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown event kind {kind:?}")))?,
                data: r.get(3)?,
                member_id: None,
                checkin_id: None,
            })
        },
    )
}

/// Centers whose log is not whole, at most `limit`: the events kept must be exactly those
/// after `pruned_through` up to `head_seq` (retention deletes from the oldest end). A gap is
/// an event lost; one past the head, or a count that does not add up, is a log that does not
/// belong to this head (a partial restore). Reads every center's events by the primary key.
pub fn log_gaps(conn: &mut dyn Conn, limit: usize) -> Result<Vec<String>, StoreError> {
    let centers: Vec<(CenterId, u64, u64, u64, u64, u64)> = conn.all(
        "SELECT c.id, c.head_seq, c.pruned_through, COUNT(e.seq), COALESCE(MIN(e.seq), 0),
                COALESCE(MAX(e.seq), 0)
         FROM centers c LEFT JOIN events e ON e.center_id = c.id
         GROUP BY c.id, c.head_seq, c.pruned_through
         ORDER BY c.id",
        &[],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        },
    )?;
    Ok(centers
        .into_iter()
        .filter_map(|(center, head, pruned, count, low, high)| {
            let expected = head.saturating_sub(pruned);
            let whole = if count == 0 {
                expected == 0
            } else {
                count == expected && low == pruned + 1 && high == head
            };
            (!whole).then(|| {
                format!(
                    "center {center}: {count} events {low}..{high} kept, \
                     {expected} expected ({}..{head})",
                    pruned + 1
                )
            })
        })
        .take(limit)
        .collect())
}
