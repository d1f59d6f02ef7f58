//! Notices operators post to desks (Korean and English).

use chrono::{DateTime, Utc};
use gymgate_shared::api::{Notice, Severity};
use gymgate_shared::{CenterId, NoticeId};

use super::sql::{Conn, Row};
use super::{StoreError, parse_ts, ts};

fn severity_str(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

fn parse_severity(text: &str) -> Severity {
    match text {
        "critical" => Severity::Critical,
        "warning" => Severity::Warning,
        _ => Severity::Info,
    }
}

/// A notice for `centers` only (empty: every center, and members in the app too).
pub fn insert(
    conn: &mut dyn Conn,
    notice: &Notice,
    centers: &[CenterId],
) -> Result<(), StoreError> {
    let centers = if centers.is_empty() {
        None
    } else {
        Some(serde_json::to_string(centers)?)
    };
    conn.execute(
        "INSERT INTO notices (id, severity, text_ko, text_en, starts_at, ends_at, center_ids)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        &[
            &notice.id,
            &severity_str(notice.severity),
            &notice.text_ko,
            &notice.text_en,
            &ts(notice.starts_at),
            &notice.ends_at.map(ts),
            &centers,
        ],
    )?;
    Ok(())
}

const SELECT: &str = "SELECT id, severity, text_ko, text_en, starts_at, ends_at, cleared_at, \
     center_ids FROM notices";

fn from_row(row: &dyn Row) -> Result<Notice, StoreError> {
    Ok(Notice {
        id: row.get(0)?,
        severity: parse_severity(&row.get::<String>(1)?),
        text_ko: row.get(2)?,
        text_en: row.get(3)?,
        starts_at: parse_ts(&row.get::<String>(4)?)?,
        ends_at: row
            .get::<Option<String>>(5)?
            .as_deref()
            .map(parse_ts)
            .transpose()?,
        cleared: row.get::<Option<String>>(6)?.is_some(),
    })
}

/// The centers a notice is for (empty: all).
fn centers_of(row: &dyn Row) -> Result<Vec<CenterId>, StoreError> {
    Ok(row
        .get::<Option<String>>(7)?
        .as_deref()
        .map(serde_json::from_str)
        .transpose()?
        .unwrap_or_default())
}

pub fn load(
    conn: &mut dyn Conn,
    id: &NoticeId,
) -> Result<Option<(Notice, Vec<CenterId>)>, StoreError> {
    conn.one(&format!("{SELECT} WHERE id = ?1"), &[id], |r| {
        Ok((from_row(r)?, centers_of(r)?))
    })
}

/// Who reads the notices.
#[derive(Debug, Clone, Copy)]
pub enum Audience<'a> {
    /// Operators: every notice.
    Operators,
    /// Members in the app: notices for every center.
    Members,
    /// One center's desks: notices for every center and for this one.
    Center(&'a CenterId),
}

/// Notices not cleared and not past their end, for `audience`.
pub fn active(
    conn: &mut dyn Conn,
    now: DateTime<Utc>,
    audience: Audience<'_>,
) -> Result<Vec<Notice>, StoreError> {
    let all = conn.all(
        &format!(
            "{SELECT} WHERE cleared_at IS NULL AND (ends_at IS NULL OR ends_at > ?1)
             ORDER BY starts_at"
        ),
        &[&ts(now)],
        |r| Ok((from_row(r)?, centers_of(r)?)),
    )?;
    Ok(all
        .into_iter()
        .filter(|(_, centers)| match audience {
            Audience::Operators => true,
            Audience::Members => centers.is_empty(),
            Audience::Center(center) => centers.is_empty() || centers.contains(center),
        })
        .map(|(notice, _)| notice)
        .collect())
}

pub fn clear(conn: &mut dyn Conn, id: &NoticeId, now: DateTime<Utc>) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE notices SET cleared_at = ?2 WHERE id = ?1",
        &[id, &ts(now)],
    )?;
    Ok(())
}
