//! Each center's event log: a gapless `seq` per center, assigned in the transaction that
//! stores the event, so the order desks see is the order of commits.

use chrono::{DateTime, Utc};
use gymgate_shared::protocol::EventKind;
use gymgate_shared::{CenterId, CheckinId, MemberId};

use super::sql::{Conn, Dialect};
use super::{StoreError, ts};

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
            &[&super::postgres::EVENTS_CHANNEL, &format!("{center}:{seq}")],
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
