//! Members' photos: one small JPEG each (already re-encoded by `crate::photos`).

use chrono::{DateTime, Utc};
use gymgate_shared::MemberId;

use super::sql::Conn;
use super::{StoreError, ts};

pub fn put(
    conn: &mut dyn Conn,
    member: &MemberId,
    jpeg: &[u8],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO member_photos (member_id, jpeg, updated_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (member_id) DO UPDATE SET jpeg = excluded.jpeg,
                                               updated_at = excluded.updated_at",
        &[member, &jpeg, &ts(now)],
    )?;
    Ok(())
}

pub fn get(conn: &mut dyn Conn, member: &MemberId) -> Result<Option<Vec<u8>>, StoreError> {
    conn.optional(
        "SELECT jpeg FROM member_photos WHERE member_id = ?1",
        &[member],
    )
}

pub fn delete(conn: &mut dyn Conn, member: &MemberId) -> Result<bool, StoreError> {
    Ok(conn.execute("DELETE FROM member_photos WHERE member_id = ?1", &[member])? > 0)
}
