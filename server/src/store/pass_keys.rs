//! The keys that sign offline passes, when several nodes share a PostgreSQL database: every
//! node signs with the newest and publishes all, so a pass issued through one node is checked
//! by desks connected to any other. (SQLite's single node keeps them in files.)

use chrono::{DateTime, Utc};

use super::sql::Conn;
use super::{StoreError, ts};

/// The secret keys, oldest first.
pub fn all(conn: &mut dyn Conn) -> Result<Vec<Vec<u8>>, StoreError> {
    conn.all(
        "SELECT secret FROM pass_keys ORDER BY created_at, kid",
        &[],
        |r| r.get(0),
    )
}

/// Adds a key (a node starting at the same moment as another may add one too: both stay
/// valid, and every node signs with the newest).
pub fn add(
    conn: &mut dyn Conn,
    kid: &str,
    secret: &[u8],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO pass_keys (kid, secret, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (kid) DO NOTHING",
        &[&kid, &secret, &ts(now)],
    )?;
    Ok(())
}
