//! Notices operators post to desks (Korean and English).

use chrono::{DateTime, Utc};
use gymgate_shared::NoticeId;
use gymgate_shared::api::{Notice, Severity};

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

pub fn insert(conn: &mut dyn Conn, notice: &Notice) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO notices (id, severity, text_ko, text_en, starts_at, ends_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            &notice.id,
            &severity_str(notice.severity),
            &notice.text_ko,
            &notice.text_en,
            &ts(notice.starts_at),
            &notice.ends_at.map(ts),
        ],
    )?;
    Ok(())
}

const SELECT: &str =
    "SELECT id, severity, text_ko, text_en, starts_at, ends_at, cleared_at FROM notices";

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

pub fn load(conn: &mut dyn Conn, id: &NoticeId) -> Result<Option<Notice>, StoreError> {
    conn.one(&format!("{SELECT} WHERE id = ?1"), &[id], from_row)
}

/// Notices not cleared and not past their end.
pub fn active(conn: &mut dyn Conn, now: DateTime<Utc>) -> Result<Vec<Notice>, StoreError> {
    conn.all(
        &format!(
            "{SELECT} WHERE cleared_at IS NULL AND (ends_at IS NULL OR ends_at > ?1)
             ORDER BY starts_at"
        ),
        &[&ts(now)],
        from_row,
    )
}

pub fn clear(conn: &mut dyn Conn, id: &NoticeId, now: DateTime<Utc>) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE notices SET cleared_at = ?2 WHERE id = ?1",
        &[id, &ts(now)],
    )?;
    Ok(())
}
