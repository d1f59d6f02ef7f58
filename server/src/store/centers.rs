//! Partner centers: name, address, opening hours (a schedule), and the head of each center's
//! event log.

use chrono::{DateTime, Utc};
use gymgate_shared::CenterId;
use gymgate_shared::api::Center;
use gymgate_shared::hours::{DayHours, OpeningHours, Schedule};

use super::sql::{Conn, Row};
use super::{StoreError, ts};

#[derive(Debug, Clone)]
pub struct CenterRow {
    pub id: CenterId,
    pub name: String,
    pub address: String,
    pub schedule: Schedule,
    pub requires_approval: bool,
    pub head_seq: u64,
    pub pruned_through: u64,
}

impl CenterRow {
    pub fn public(&self) -> Center {
        Center {
            id: self.id.clone(),
            name: self.name.clone(),
            address: self.address.clone(),
        }
    }
}

const COLUMNS: &str =
    "id, name, address, opens, closes, requires_approval, head_seq, pruned_through, schedule";
/// [`COLUMNS`] of a center called `c` in a statement that reads it beside other things (a
/// tap reads its member and its center at once).
pub(super) const COLUMNS_OF_C: &str = "c.id, c.name, c.address, c.opens, c.closes, \
     c.requires_approval, c.head_seq, c.pruned_through, c.schedule";

/// A center's schedule; one stored before schedules existed (`schedule` NULL) keeps its single
/// span every day.
fn schedule_of(text: Option<String>, opens: u16, closes: u16) -> Result<Schedule, StoreError> {
    match text {
        Some(text) => serde_json::from_str(&text)
            .map_err(|e| StoreError::Corrupt(format!("a center's schedule: {e}"))),
        None => Ok(Schedule::uniform(DayHours::Open(OpeningHours {
            opens,
            closes,
        }))),
    }
}

pub(super) fn from_row(row: &dyn Row) -> Result<CenterRow, StoreError> {
    Ok(CenterRow {
        id: row.get(0)?,
        name: row.get(1)?,
        address: row.get(2)?,
        schedule: schedule_of(row.get(8)?, row.get(3)?, row.get(4)?)?,
        requires_approval: row.get(5)?,
        head_seq: row.get(6)?,
        pruned_through: row.get(7)?,
    })
}

pub fn load(conn: &mut dyn Conn, id: &CenterId) -> Result<Option<CenterRow>, StoreError> {
    conn.one(
        &format!("SELECT {COLUMNS} FROM centers WHERE id = ?1"),
        &[id],
        from_row,
    )
}

pub fn list(conn: &mut dyn Conn) -> Result<Vec<CenterRow>, StoreError> {
    conn.all(
        &format!("SELECT {COLUMNS} FROM centers ORDER BY name, id"),
        &[],
        from_row,
    )
}

/// Every center's id, in id order: jobs appending to several centers' logs go in this order,
/// so two of them on two nodes lock the centers in the same order.
pub fn ids(conn: &mut dyn Conn) -> Result<Vec<CenterId>, StoreError> {
    conn.all("SELECT id FROM centers ORDER BY id", &[], |r| r.get(0))
}

pub fn count(conn: &mut dyn Conn) -> Result<i64, StoreError> {
    conn.value("SELECT COUNT(*) FROM centers", &[])
}

pub fn find_by_name(conn: &mut dyn Conn, name: &str) -> Result<Option<CenterId>, StoreError> {
    conn.optional("SELECT id FROM centers WHERE name = ?1", &[&name])
}

pub struct NewCenter<'a> {
    pub id: &'a CenterId,
    pub name: &'a str,
    pub address: &'a str,
    pub schedule: &'a Schedule,
    pub requires_approval: bool,
}

pub fn insert(
    conn: &mut dyn Conn,
    center: &NewCenter<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO centers (id, name, address, schedule, requires_approval, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            center.id,
            &center.name,
            &center.address,
            &serde_json::to_string(center.schedule)?,
            &center.requires_approval,
            &ts(now),
        ],
    )?;
    Ok(())
}

/// Replaces a center's schedule; false for an unknown center.
pub fn set_schedule(
    conn: &mut dyn Conn,
    id: &CenterId,
    schedule: &Schedule,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE centers SET schedule = ?2 WHERE id = ?1",
        &[id, &serde_json::to_string(schedule)?],
    )?;
    Ok(changed > 0)
}

/// Centers with at least one paired desk, with their schedules (what the alert rules watch).
/// One pass over the desks, centers by key: with 10,000 desks a correlated EXISTS per center
/// took seconds of CPU every check and hurt tap latency.
pub fn with_desks(conn: &mut dyn Conn) -> Result<Vec<(CenterId, String, Schedule)>, StoreError> {
    conn.all(
        "SELECT c.id, c.name, c.opens, c.closes, c.schedule FROM centers c
         JOIN (SELECT DISTINCT center_id FROM desks WHERE revoked_at IS NULL) d
           ON d.center_id = c.id",
        &[],
        |row| {
            Ok((
                row.get(0)?,
                row.get(1)?,
                schedule_of(row.get(4)?, row.get(2)?, row.get(3)?)?,
            ))
        },
    )
}

/// Every center's newest seq.
pub fn heads(conn: &mut dyn Conn) -> Result<Vec<(CenterId, u64)>, StoreError> {
    conn.all("SELECT id, head_seq FROM centers", &[], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })
}

pub fn head(conn: &mut dyn Conn, id: &CenterId) -> Result<Option<u64>, StoreError> {
    conn.optional("SELECT head_seq FROM centers WHERE id = ?1", &[id])
}

#[cfg(test)]
mod columns {
    /// The two lists name the same columns in the same order.
    #[test]
    fn a_center_read_beside_other_things_has_the_same_columns() {
        let prefixed: Vec<String> = super::COLUMNS
            .split(", ")
            .map(|c| format!("c.{c}"))
            .collect();
        let listed: Vec<&str> = super::COLUMNS_OF_C.split(", ").collect();
        assert_eq!(prefixed, listed);
    }
}

/// How strictly a center's staff-recorded visits are confirmed (docs/settlement.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfirmationRule {
    /// Days after a visit reached the server, with no "no", before it is paid anyway.
    pub confirm_days: u32,
    /// Set while the center is under review: then only a member's yes pays.
    pub review_reason: Option<String>,
}

pub fn confirmation_rule(
    conn: &mut dyn Conn,
    id: &CenterId,
) -> Result<Option<ConfirmationRule>, StoreError> {
    conn.one(
        "SELECT confirm_days, review_reason FROM centers WHERE id = ?1",
        &[id],
        |r| {
            Ok(ConfirmationRule {
                confirm_days: r.get(0)?,
                review_reason: r.get(1)?,
            })
        },
    )
}

pub fn set_confirmation_rule(
    conn: &mut dyn Conn,
    id: &CenterId,
    rule: &ConfirmationRule,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE centers SET confirm_days = ?2, review_reason = ?3 WHERE id = ?1",
        &[id, &rule.confirm_days, &rule.review_reason],
    )? > 0)
}

/// Where a center is, in microdegrees (the travel rule compares centers' places).
pub fn set_place(
    conn: &mut dyn Conn,
    id: &CenterId,
    place: Option<(i64, i64)>,
) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "UPDATE centers SET lat_e6 = ?2, lon_e6 = ?3 WHERE id = ?1",
        &[id, &place.map(|p| p.0), &place.map(|p| p.1)],
    )? > 0)
}

pub fn place(conn: &mut dyn Conn, id: &CenterId) -> Result<Option<(i64, i64)>, StoreError> {
    Ok(conn
        .one(
            "SELECT lat_e6, lon_e6 FROM centers WHERE id = ?1",
            &[id],
            |r| Ok((r.get::<Option<i64>>(0)?, r.get::<Option<i64>>(1)?)),
        )?
        .and_then(|(lat, lon)| Some((lat?, lon?))))
}
