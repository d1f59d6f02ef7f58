//! Member login tokens (hashed).

use chrono::{DateTime, Utc};
use gymgate_shared::MemberId;

use super::sql::Conn;
use super::{StoreError, parse_ts, ts};

pub fn insert(
    conn: &mut dyn Conn,
    token_hash: &[u8],
    member: &MemberId,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO member_tokens (token_hash, member_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4)",
        &[&token_hash, member, &ts(now), &ts(expires_at)],
    )?;
    Ok(())
}

/// Whose token this is and until when it holds.
pub fn member_of(
    conn: &mut dyn Conn,
    token_hash: &[u8],
) -> Result<Option<(MemberId, DateTime<Utc>)>, StoreError> {
    conn.one(
        "SELECT member_id, expires_at FROM member_tokens WHERE token_hash = ?1",
        &[&token_hash],
        |r| Ok((r.get(0)?, parse_ts(&r.get::<String>(1)?)?)),
    )
}
