//! Desks, the pairing codes that make them, and what they report and look up.

use chrono::{DateTime, Utc};
use gymgate_shared::{CenterId, DeskId};

use super::sql::Conn;
use super::{StoreError, parse_ts, ts};

/// A single-use code for pairing a desk with a center; only its hash is kept. A used or
/// expired code of the same text is replaced (the demo re-issues its code).
pub fn put_pairing_code(
    conn: &mut dyn Conn,
    code_hash: &[u8],
    center: &CenterId,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO pairing_codes (code_hash, center_id, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (code_hash) DO UPDATE SET center_id = ?2, created_at = ?3,
             expires_at = ?4, used_at = NULL, desk_id = NULL",
        &[&code_hash, center, &ts(now), &ts(expires_at)],
    )?;
    Ok(())
}

pub struct PairingCode {
    pub center_id: CenterId,
    pub expires_at: DateTime<Utc>,
    pub used: bool,
}

pub fn pairing_code(
    conn: &mut dyn Conn,
    code_hash: &[u8],
) -> Result<Option<PairingCode>, StoreError> {
    conn.one(
        "SELECT center_id, expires_at, used_at FROM pairing_codes WHERE code_hash = ?1",
        &[&code_hash],
        |r| {
            Ok(PairingCode {
                center_id: r.get(0)?,
                expires_at: parse_ts(&r.get::<String>(1)?)?,
                used: r.get::<Option<String>>(2)?.is_some(),
            })
        },
    )
}

/// A new desk of `center`, made with the code `code_hash`, which is used up.
pub fn pair(
    conn: &mut dyn Conn,
    desk: &DeskId,
    center: &CenterId,
    name: &str,
    token_hash: &[u8],
    code_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO desks (id, center_id, name, token_hash, paired_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        &[desk, center, &name, &token_hash, &ts(now)],
    )?;
    conn.execute(
        "UPDATE pairing_codes SET used_at = ?2, desk_id = ?3 WHERE code_hash = ?1",
        &[&code_hash, &ts(now), desk],
    )?;
    Ok(())
}

/// The desk a token belongs to: id, center, name, and whether it was revoked.
pub fn by_token(
    conn: &mut dyn Conn,
    token_hash: &[u8],
) -> Result<Option<(DeskId, CenterId, String, bool)>, StoreError> {
    conn.one(
        "SELECT id, center_id, name, revoked_at FROM desks WHERE token_hash = ?1",
        &[&token_hash],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get::<Option<String>>(3)?.is_some(),
            ))
        },
    )
}

/// A desk as stored, for operators.
#[derive(Debug, Clone)]
pub struct DeskRow {
    pub id: DeskId,
    pub center_id: CenterId,
    pub name: String,
    pub paired_at: DateTime<Utc>,
    pub revoked: bool,
    pub last_seen: Option<DateTime<Utc>>,
    pub acked_seq: u64,
    pub app_version: Option<String>,
    pub outbox_backlog: u64,
    /// The desk's last health report as stored (JSON, see `desk::health::Stored`) and when
    /// it was sent.
    pub health: Option<(String, DateTime<Utc>)>,
    /// Connections since `connects_since` (the start of the current flapping window).
    pub connects: u64,
    pub connects_since: Option<DateTime<Utc>>,
}

pub fn list(conn: &mut dyn Conn) -> Result<Vec<DeskRow>, StoreError> {
    conn.all(
        "SELECT id, center_id, name, paired_at, revoked_at, last_seen, acked_seq,
                app_version, outbox_backlog, health, health_at, connects, connects_since
         FROM desks ORDER BY center_id, name",
        &[],
        |r| {
            let optional_ts = |text: Option<String>| text.as_deref().map(parse_ts).transpose();
            let health = match (r.get::<Option<String>>(9)?, optional_ts(r.get(10)?)?) {
                (Some(json), Some(at)) => Some((json, at)),
                _ => None,
            };
            Ok(DeskRow {
                id: r.get(0)?,
                center_id: r.get(1)?,
                name: r.get(2)?,
                paired_at: parse_ts(&r.get::<String>(3)?)?,
                revoked: r.get::<Option<String>>(4)?.is_some(),
                last_seen: r
                    .get::<Option<String>>(5)?
                    .as_deref()
                    .map(parse_ts)
                    .transpose()?,
                acked_seq: r.get(6)?,
                app_version: r.get(7)?,
                outbox_backlog: r.get(8)?,
                health,
                connects: r.get(11)?,
                connects_since: optional_ts(r.get(12)?)?,
            })
        },
    )
}

/// A desk's center and name, and whether it was revoked (`None`: no such desk).
pub fn find(
    conn: &mut dyn Conn,
    desk: &DeskId,
) -> Result<Option<(CenterId, String, bool)>, StoreError> {
    conn.one(
        "SELECT center_id, name, revoked_at FROM desks WHERE id = ?1",
        &[desk],
        |r| Ok((r.get(0)?, r.get(1)?, r.get::<Option<String>>(2)?.is_some())),
    )
}

/// Revokes a desk (its token stops working); false when there is no such desk. On
/// PostgreSQL every node hears it at the commit (`DESKS_CHANNEL`) and ends the desk's
/// connection; nodes that miss the notification find it in [`revoked_since`].
pub fn revoke(conn: &mut dyn Conn, desk: &DeskId, now: DateTime<Utc>) -> Result<bool, StoreError> {
    let found = conn.execute(
        "UPDATE desks SET revoked_at = COALESCE(revoked_at, ?2) WHERE id = ?1",
        &[desk, &ts(now)],
    )? > 0;
    if found && conn.dialect() == super::sql::Dialect::Postgres {
        conn.query(
            "SELECT pg_notify(?1, ?2)",
            &[&super::postgres::DESKS_CHANNEL, desk],
            &mut |_| Ok(()),
        )?;
    }
    Ok(found)
}

/// Whether a desk may act: false once revoked (or gone). Checked in the same transaction as
/// what it records, so a desk revoked through another node records nothing more.
pub fn is_active(conn: &mut dyn Conn, desk: &DeskId) -> Result<bool, StoreError> {
    Ok(conn
        .one("SELECT revoked_at FROM desks WHERE id = ?1", &[desk], |r| {
            r.get::<Option<String>>(0)
        })?
        .is_some_and(|revoked| revoked.is_none()))
}

/// What the server knows of a desk when it judges one of its records: when it was paired,
/// and the last time it said its outbox was empty. `None` for a revoked or unknown desk.
pub struct RecordingDesk {
    pub paired_at: DateTime<Utc>,
    pub outbox_empty_at: Option<DateTime<Utc>>,
}

pub fn recording(conn: &mut dyn Conn, desk: &DeskId) -> Result<Option<RecordingDesk>, StoreError> {
    conn.one(
        "SELECT paired_at, outbox_empty_at FROM desks WHERE id = ?1 AND revoked_at IS NULL",
        &[desk],
        |r| {
            Ok(RecordingDesk {
                paired_at: parse_ts(&r.get::<String>(0)?)?,
                outbox_empty_at: r
                    .get::<Option<String>>(1)?
                    .map(|t| parse_ts(&t))
                    .transpose()?,
            })
        },
    )
}

/// The center and the registered presence key of a desk that is not revoked.
pub fn presence_key(
    conn: &mut dyn Conn,
    desk: &DeskId,
) -> Result<Option<(CenterId, String)>, StoreError> {
    conn.one(
        "SELECT center_id, presence_key FROM desks
         WHERE id = ?1 AND revoked_at IS NULL AND presence_key IS NOT NULL",
        &[desk],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// Desks revoked at or after `since` (the nodes' look for revocations they did not hear).
pub fn revoked_since(conn: &mut dyn Conn, since: DateTime<Utc>) -> Result<Vec<DeskId>, StoreError> {
    conn.all(
        "SELECT id FROM desks WHERE revoked_at >= ?1",
        &[&ts(since)],
        |r| r.get(0),
    )
}

/// What the desk said of itself in its hello; one more connection in its flapping window
/// (a new window when the last began before `window_start`).
pub fn remember_presence(
    conn: &mut dyn Conn,
    desk: &DeskId,
    app_version: Option<&str>,
    outbox_backlog: u64,
    now: DateTime<Utc>,
    window_start: DateTime<Utc>,
    presence_key: Option<&str>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE desks SET app_version = COALESCE(?2, app_version), outbox_backlog = ?3,
         last_seen = ?4,
         outbox_empty_at = COALESCE(?6, outbox_empty_at),
         presence_key = COALESCE(presence_key, ?7),
         connects = CASE WHEN connects_since IS NULL OR connects_since < ?5 THEN 1
                         ELSE connects + 1 END,
         connects_since = CASE WHEN connects_since IS NULL OR connects_since < ?5 THEN ?4
                               ELSE connects_since END
         WHERE id = ?1",
        &[
            desk,
            &app_version,
            &outbox_backlog,
            &ts(now),
            &ts(window_start),
            // The desk says it has nothing waiting: no visit before now is still to come.
            &(outbox_backlog == 0).then(|| ts(now)),
            &presence_key,
        ],
    )?;
    Ok(())
}

/// The desk's health report (JSON) and when it was sent; its outbox count for the list.
pub fn remember_health(
    conn: &mut dyn Conn,
    desk: &DeskId,
    health: &str,
    outbox_backlog: u64,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE desks SET health = ?2, health_at = ?3, outbox_backlog = ?4 WHERE id = ?1",
        &[desk, &health, &ts(at), &outbox_backlog],
    )?;
    Ok(())
}

/// Reports kept per desk; older ones go as new ones come.
const REPORTS_KEPT: u64 = 20;

/// A report the desk left after a crash or a cache failure.
pub fn add_report(
    conn: &mut dyn Conn,
    desk: &DeskId,
    report: &gymgate_shared::protocol::DeskReport,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO desk_reports (id, desk_id, at, kind, text, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        &[
            &uuid::Uuid::now_v7().to_string(),
            desk,
            &ts(report.at),
            &report.kind,
            &report.text,
            &ts(now),
        ],
    )?;
    conn.execute(
        "DELETE FROM desk_reports WHERE desk_id = ?1 AND id NOT IN
           (SELECT id FROM desk_reports WHERE desk_id = ?1 ORDER BY id DESC LIMIT ?2)",
        &[desk, &REPORTS_KEPT],
    )?;
    Ok(())
}

/// A desk's reports, newest first.
pub fn reports(
    conn: &mut dyn Conn,
    desk: &DeskId,
) -> Result<Vec<gymgate_shared::api::AdminDeskReport>, StoreError> {
    conn.all(
        "SELECT desk_id, at, received_at, kind, text FROM desk_reports
         WHERE desk_id = ?1 ORDER BY id DESC",
        &[desk],
        |r| {
            Ok(gymgate_shared::api::AdminDeskReport {
                desk_id: r.get(0)?,
                at: parse_ts(&r.get::<String>(1)?)?,
                received_at: parse_ts(&r.get::<String>(2)?)?,
                kind: r.get(3)?,
                text: r.get(4)?,
            })
        },
    )
}

/// The desk's acknowledged position (it only grows) and its last contact.
pub fn remember_ack(
    conn: &mut dyn Conn,
    desk: &DeskId,
    acked: u64,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE desks SET acked_seq = CASE WHEN acked_seq > ?2 THEN acked_seq ELSE ?2 END,
         last_seen = ?3 WHERE id = ?1",
        &[desk, &acked, &ts(now)],
    )?;
    Ok(())
}

/// One lookup a desk made: its kind and how many it found, never the query itself.
pub fn record_lookup(
    conn: &mut dyn Conn,
    desk: &DeskId,
    kind: &str,
    results: usize,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO desk_lookups (at, desk_id, kind, results) VALUES (?1, ?2, ?3, ?4)",
        &[&ts(now), desk, &kind, &results],
    )?;
    Ok(())
}

/// Lookups a desk made since `since`.
pub fn lookups_since(
    conn: &mut dyn Conn,
    desk: &DeskId,
    since: DateTime<Utc>,
) -> Result<u64, StoreError> {
    conn.value(
        "SELECT COUNT(*) FROM desk_lookups WHERE desk_id = ?1 AND at >= ?2",
        &[desk, &ts(since)],
    )
}

/// A desk looking up far more members than it usually does.
#[derive(Debug, Clone, PartialEq)]
pub struct LookupOutlier {
    pub desk_id: DeskId,
    pub center_id: CenterId,
    pub desk_name: String,
    pub center_name: String,
    /// Lookups in the last 24 hours.
    pub last_day: u64,
    /// Its daily average over the 14 days before.
    pub usual: f64,
}

/// Desks with at least `floor` lookups in the 24 hours before `now` and more than `factor`
/// times their daily average of the 14 days before that (a new desk's average is taken as
/// one a day).
pub fn lookup_outliers(
    conn: &mut dyn Conn,
    now: DateTime<Utc>,
    floor: u64,
    factor: f64,
) -> Result<Vec<LookupOutlier>, StoreError> {
    let day = now - chrono::Duration::hours(24);
    let from = day - chrono::Duration::days(14);
    type Row = (DeskId, i64, i64, String, String, CenterId);
    let rows: Vec<Row> = conn.all(
        "SELECT l.desk_id,
                SUM(CASE WHEN l.at >= ?2 THEN 1 ELSE 0 END),
                SUM(CASE WHEN l.at < ?2 THEN 1 ELSE 0 END),
                d.name, c.name, c.id
         FROM desk_lookups l JOIN desks d ON d.id = l.desk_id JOIN centers c ON c.id = d.center_id
         WHERE l.at >= ?1
         GROUP BY l.desk_id, d.name, c.name, c.id",
        &[&ts(from), &ts(day)],
        |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        },
    )?;
    Ok(rows
        .into_iter()
        .filter_map(
            |(desk_id, last_day, before, desk_name, center_name, center_id)| {
                let last_day = u64::try_from(last_day).unwrap_or(0);
                let usual = (before.max(0) as f64 / 14.0).max(1.0);
                (last_day >= floor && last_day as f64 > factor * usual).then_some(LookupOutlier {
                    desk_id,
                    center_id,
                    desk_name,
                    center_name,
                    last_day,
                    usual,
                })
            },
        )
        .collect())
}

/// A center's paired desks (not revoked).
pub fn count_paired(conn: &mut dyn Conn, center: &CenterId) -> Result<u64, StoreError> {
    conn.value(
        "SELECT COUNT(*) FROM desks WHERE center_id = ?1 AND revoked = 0",
        &[center],
    )
}
