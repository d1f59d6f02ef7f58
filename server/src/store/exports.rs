//! A member's downloads of their own data (Korean PIPA's right of access): each is prepared
//! as a job and kept, behind a link with its own key (stored hashed), for 7 days.

use chrono::{DateTime, Utc};
use gymgate_shared::MemberId;

use super::sql::Conn;
use super::{StoreError, parse_ts, ts};

#[derive(Debug, Clone, serde::Serialize)]
pub struct Export {
    pub id: String,
    /// `preparing`, `ready` or `failed`.
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub bytes: u64,
}

pub fn create(
    conn: &mut dyn Conn,
    id: &str,
    member: &MemberId,
    key_hash: &[u8],
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO member_exports (id, member_id, key_hash, status, created_at, expires_at)
         VALUES (?1, ?2, ?3, 'preparing', ?4, ?5)",
        &[&id, member, &key_hash, &ts(now), &ts(expires_at)],
    )?;
    Ok(())
}

/// The prepared zip, or the job's failure (`None`).
pub fn finish(conn: &mut dyn Conn, id: &str, zip: Option<&[u8]>) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE member_exports SET status = ?2, zip = ?3, bytes = ?4 WHERE id = ?1",
        &[
            &id,
            &if zip.is_some() { "ready" } else { "failed" },
            &zip,
            &zip.map_or(0, <[u8]>::len),
        ],
    )?;
    Ok(())
}

fn from_row(r: &dyn super::sql::Row) -> Result<Export, StoreError> {
    Ok(Export {
        id: r.get(0)?,
        status: r.get(1)?,
        created_at: parse_ts(&r.get::<String>(2)?)?,
        expires_at: parse_ts(&r.get::<String>(3)?)?,
        bytes: r.get(4)?,
    })
}

/// The member's exports still within their 7 days, newest first.
pub fn of_member(
    conn: &mut dyn Conn,
    member: &MemberId,
    now: DateTime<Utc>,
) -> Result<Vec<Export>, StoreError> {
    conn.all(
        "SELECT id, status, created_at, expires_at, bytes FROM member_exports
         WHERE member_id = ?1 AND expires_at > ?2 ORDER BY created_at DESC LIMIT 20",
        &[member, &ts(now)],
        from_row,
    )
}

/// Exports the member asked for since `since` (a bound on how often a zip is made).
pub fn count_since(
    conn: &mut dyn Conn,
    member: &MemberId,
    since: DateTime<Utc>,
) -> Result<u64, StoreError> {
    conn.value(
        "SELECT COUNT(*) FROM member_exports WHERE member_id = ?1 AND created_at >= ?2",
        &[member, &ts(since)],
    )
}

/// The zip behind a link: its key hash, expiry and bytes (`None` while not ready).
pub struct Download {
    pub key_hash: Vec<u8>,
    pub expires_at: DateTime<Utc>,
    pub zip: Option<Vec<u8>>,
}

pub fn download(conn: &mut dyn Conn, id: &str) -> Result<Option<Download>, StoreError> {
    conn.one(
        "SELECT key_hash, expires_at, zip FROM member_exports WHERE id = ?1",
        &[&id],
        |r| {
            Ok(Download {
                key_hash: r.get(0)?,
                expires_at: parse_ts(&r.get::<String>(1)?)?,
                zip: r.get(2)?,
            })
        },
    )
}

/// Exports past their 7 days (the zips go with them).
pub fn delete_expired(conn: &mut dyn Conn, now: DateTime<Utc>) -> Result<usize, StoreError> {
    conn.execute(
        "DELETE FROM member_exports WHERE expires_at <= ?1",
        &[&ts(now)],
    )
}
