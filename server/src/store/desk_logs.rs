//! Logs operators asked desks for: the request (who, when) and, once the desk sent it, the
//! redacted text. A few are kept per desk; older ones go as new ones are asked for.

use chrono::{DateTime, Duration, Utc};
use gymgate_shared::DeskId;
use gymgate_shared::api::AdminDeskLog;

use super::sql::Conn;
use super::{StoreError, parse_ts, ts};

/// Logs kept per desk (requests and uploads together).
const KEPT: u64 = 5;
/// A request a desk has not answered in this long is no longer sent to it.
pub const REQUEST_DAYS: i64 = 7;

/// A new request; the oldest beyond [`KEPT`] are forgotten.
pub fn request(
    conn: &mut dyn Conn,
    desk: &DeskId,
    by: &str,
    now: DateTime<Utc>,
) -> Result<String, StoreError> {
    let id = uuid::Uuid::now_v7().to_string();
    conn.execute(
        "INSERT INTO desk_logs (id, desk_id, requested_by, requested_at, bytes)
         VALUES (?1, ?2, ?3, ?4, 0)",
        &[&id, desk, &by, &ts(now)],
    )?;
    conn.execute(
        "DELETE FROM desk_logs WHERE desk_id = ?1 AND id NOT IN
           (SELECT id FROM desk_logs WHERE desk_id = ?1 ORDER BY id DESC LIMIT ?2)",
        &[desk, &KEPT],
    )?;
    Ok(id)
}

/// Requests of this desk still waiting for its upload (recent ones only).
pub fn waiting(
    conn: &mut dyn Conn,
    desk: &DeskId,
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    conn.all(
        "SELECT id FROM desk_logs WHERE desk_id = ?1 AND uploaded_at IS NULL
           AND requested_at >= ?2 ORDER BY id",
        &[desk, &ts(now - Duration::days(REQUEST_DAYS))],
        |r| r.get(0),
    )
}

/// What became of an upload.
#[derive(Debug, PartialEq, Eq)]
pub enum Upload {
    Stored,
    /// No such request for this desk (another desk's, or forgotten).
    Unknown,
    /// This request was answered before; the first upload stays.
    AlreadyUploaded,
}

/// Stores the desk's answer to one of its own requests.
pub fn upload(
    conn: &mut dyn Conn,
    request_id: &str,
    desk: &DeskId,
    text: &str,
    now: DateTime<Utc>,
) -> Result<Upload, StoreError> {
    let uploaded: Option<Option<String>> = conn.one(
        "SELECT uploaded_at FROM desk_logs WHERE id = ?1 AND desk_id = ?2",
        &[&request_id, desk],
        |r| r.get(0),
    )?;
    match uploaded {
        None => Ok(Upload::Unknown),
        Some(Some(_)) => Ok(Upload::AlreadyUploaded),
        Some(None) => {
            conn.execute(
                "UPDATE desk_logs SET uploaded_at = ?2, bytes = ?3, text = ?4 WHERE id = ?1",
                &[&request_id, &ts(now), &(text.len() as u64), &text],
            )?;
            Ok(Upload::Stored)
        }
    }
}

/// A desk's logs, newest request first (without their text).
pub fn list(conn: &mut dyn Conn, desk: &DeskId) -> Result<Vec<AdminDeskLog>, StoreError> {
    conn.all(
        "SELECT id, desk_id, requested_by, requested_at, uploaded_at, bytes FROM desk_logs
         WHERE desk_id = ?1 ORDER BY id DESC",
        &[desk],
        |r| {
            Ok(AdminDeskLog {
                request_id: r.get(0)?,
                desk_id: r.get(1)?,
                requested_by: r.get(2)?,
                requested_at: parse_ts(&r.get::<String>(3)?)?,
                uploaded_at: r
                    .get::<Option<String>>(4)?
                    .map(|at| parse_ts(&at))
                    .transpose()?,
                bytes: r.get(5)?,
            })
        },
    )
}

/// One uploaded log: its desk and text (`None` when unknown or not uploaded yet).
pub fn text(conn: &mut dyn Conn, request_id: &str) -> Result<Option<(DeskId, String)>, StoreError> {
    conn.one(
        "SELECT desk_id, text FROM desk_logs WHERE id = ?1 AND text IS NOT NULL",
        &[&request_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}
