//! The audit log: every change made through the console or the admin API.

use chrono::{DateTime, Utc};
use gymgate_shared::CenterId;
use gymgate_shared::api::AuditEntry;
use uuid::Uuid;

use super::sql::{Conn, Row};
use super::{StoreError, parse_ts, ts};

/// What a change is about, for the log's filters.
#[derive(Debug, Default, Clone)]
pub struct Subject {
    pub member_no: Option<String>,
    pub center_id: Option<CenterId>,
    pub target: Option<String>,
}

pub fn record(
    conn: &mut dyn Conn,
    at: DateTime<Utc>,
    actor: &str,
    action: &str,
    subject: &Subject,
    before: Option<&serde_json::Value>,
    after: Option<&serde_json::Value>,
) -> Result<(), StoreError> {
    let before = before.map(serde_json::to_string).transpose()?;
    let after = after.map(serde_json::to_string).transpose()?;
    conn.execute(
        "INSERT INTO audit (id, at, actor, action, member_no, center_id, target, before, after)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        &[
            &Uuid::now_v7().to_string(),
            &ts(at),
            &actor,
            &action,
            &subject.member_no,
            &subject.center_id,
            &subject.target,
            &before,
            &after,
        ],
    )?;
    Ok(())
}

fn from_row(row: &dyn Row) -> Result<AuditEntry, StoreError> {
    let json = |text: Option<String>| -> Result<Option<serde_json::Value>, StoreError> {
        Ok(text.as_deref().map(serde_json::from_str).transpose()?)
    };
    Ok(AuditEntry {
        id: row.get(0)?,
        at: parse_ts(&row.get::<String>(1)?)?,
        actor: row.get(2)?,
        action: row.get(3)?,
        member_no: row.get(4)?,
        center_id: row.get(5)?,
        target: row.get(6)?,
        before: json(row.get(7)?)?,
        after: json(row.get(8)?)?,
    })
}

/// Newest first; by member number or center when given (ids are time-ordered UUIDv7).
pub fn list(
    conn: &mut dyn Conn,
    member_no: Option<&str>,
    center_id: Option<&str>,
    limit: u32,
) -> Result<Vec<AuditEntry>, StoreError> {
    const COLUMNS: &str =
        "SELECT id, at, actor, action, member_no, center_id, target, before, after FROM audit";
    match (member_no, center_id) {
        (Some(no), _) => conn.all(
            &format!("{COLUMNS} WHERE member_no = ?1 ORDER BY id DESC LIMIT ?2"),
            &[&no, &limit],
            from_row,
        ),
        (None, Some(center)) => conn.all(
            &format!("{COLUMNS} WHERE center_id = ?1 ORDER BY id DESC LIMIT ?2"),
            &[&center, &limit],
            from_row,
        ),
        (None, None) => conn.all(
            &format!("{COLUMNS} ORDER BY id DESC LIMIT ?1"),
            &[&limit],
            from_row,
        ),
    }
}

/// Actors who read members' personal data at least `floor` times since `since`, with how
/// many (an operator copying the member list page by page).
pub fn bulk_readers(
    conn: &mut dyn Conn,
    since: DateTime<Utc>,
    floor: u64,
) -> Result<Vec<(String, u64)>, StoreError> {
    let readers: Vec<(String, u64)> = conn.all(
        "SELECT actor, COUNT(*) FROM audit
         WHERE action IN ('member.read', 'members.search') AND at >= ?1
         GROUP BY actor ORDER BY actor",
        &[&ts(since)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(readers.into_iter().filter(|(_, n)| *n >= floor).collect())
}

/// The centers whose desks looked this member up (their rosters may hold the member though
/// they never came): from the audit's `desk.lookup` entries.
pub fn centers_that_looked_up(
    conn: &mut dyn Conn,
    member_no: &str,
) -> Result<Vec<CenterId>, StoreError> {
    conn.all(
        "SELECT DISTINCT d.center_id FROM audit a JOIN desks d ON a.actor = 'desk:' || d.id
         WHERE a.member_no = ?1 AND a.action = 'desk.lookup'",
        &[&member_no],
        |r| r.get(0),
    )
}
