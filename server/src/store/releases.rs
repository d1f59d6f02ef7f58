//! Desk releases (the signed manifest and the installer) and their rollouts.

use chrono::{DateTime, Utc};
use gymgate_shared::CenterId;
use gymgate_shared::hours::OpeningHours;
use gymgate_shared::release::{Manifest, SignedManifest};

use super::sql::Conn;
use super::{StoreError, parse_ts, ts};

/// A release as listed for operators (without the installer's bytes).
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReleaseRow {
    pub version: String,
    pub size: u64,
    pub sha256: String,
    pub min_from: String,
    pub notes_ko: String,
    pub notes_en: String,
    pub uploaded_by: String,
    pub uploaded_at: DateTime<Utc>,
    /// The installer arrived and matched the manifest.
    pub ready: bool,
}

/// A signed manifest; `false` when this version exists already with its installer (a
/// release, once whole, is never replaced: sign a new version).
pub fn put_manifest(
    conn: &mut dyn Conn,
    signed: &SignedManifest,
    manifest: &Manifest,
    by: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let whole: Option<bool> = conn.one(
        "SELECT installer IS NOT NULL FROM releases WHERE version = ?1",
        &[&manifest.version],
        |r| r.get(0),
    )?;
    if whole == Some(true) {
        return Ok(false);
    }
    let json = serde_json::to_string(signed).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    conn.execute(
        "INSERT INTO releases (version, signed, size, sha256, min_from, notes_ko, notes_en,
                               uploaded_by, uploaded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (version) DO UPDATE SET signed = ?2, size = ?3, sha256 = ?4,
             min_from = ?5, notes_ko = ?6, notes_en = ?7, uploaded_by = ?8, uploaded_at = ?9",
        &[
            &manifest.version,
            &json,
            &manifest.size,
            &manifest.sha256,
            &manifest.min_from,
            &manifest.notes_ko,
            &manifest.notes_en,
            &by,
            &ts(now),
        ],
    )?;
    Ok(true)
}

/// The signed manifest of a version.
pub fn signed(conn: &mut dyn Conn, version: &str) -> Result<Option<SignedManifest>, StoreError> {
    let json: Option<String> = conn.optional(
        "SELECT signed FROM releases WHERE version = ?1",
        &[&version],
    )?;
    json.map(|json| serde_json::from_str(&json).map_err(|e| StoreError::Corrupt(e.to_string())))
        .transpose()
}

pub fn put_installer(conn: &mut dyn Conn, version: &str, bytes: &[u8]) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE releases SET installer = ?2 WHERE version = ?1",
        &[&version, &bytes],
    )?;
    Ok(())
}

pub fn installer(conn: &mut dyn Conn, version: &str) -> Result<Option<Vec<u8>>, StoreError> {
    let found: Option<Option<Vec<u8>>> = conn.one(
        "SELECT installer FROM releases WHERE version = ?1",
        &[&version],
        |r| r.get(0),
    )?;
    Ok(found.flatten())
}

pub fn list(conn: &mut dyn Conn) -> Result<Vec<ReleaseRow>, StoreError> {
    conn.all(
        "SELECT version, size, sha256, min_from, notes_ko, notes_en, uploaded_by, uploaded_at,
                installer IS NOT NULL
         FROM releases ORDER BY uploaded_at DESC",
        &[],
        |r| {
            Ok(ReleaseRow {
                version: r.get(0)?,
                size: r.get(1)?,
                sha256: r.get(2)?,
                min_from: r.get(3)?,
                notes_ko: r.get(4)?,
                notes_en: r.get(5)?,
                uploaded_by: r.get(6)?,
                uploaded_at: parse_ts(&r.get::<String>(7)?)?,
                ready: r.get(8)?,
            })
        },
    )
}

/// A rollout as stored.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RolloutRow {
    pub version: String,
    pub canary_centers: Vec<CenterId>,
    pub percent: u8,
    /// Korean local hours, daily, in which its desks may install (`"02:00-05:00"`).
    #[serde(serialize_with = "as_text")]
    pub quiet_hours: Option<OpeningHours>,
    pub state: String,
    pub reason: Option<String>,
    pub started_by: String,
    pub started_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Quiet hours as operators write them (`"02:00-05:00"`), for the console and the CLI.
fn as_text<S: serde::Serializer>(
    hours: &Option<OpeningHours>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match hours {
        Some(hours) => serializer.serialize_str(&hours.to_string()),
        None => serializer.serialize_none(),
    }
}

pub fn put_rollout(conn: &mut dyn Conn, rollout: &RolloutRow) -> Result<(), StoreError> {
    let canaries = serde_json::to_string(&rollout.canary_centers)
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    conn.execute(
        "INSERT INTO rollouts (version, canaries, percent, state, reason, started_by,
                               started_at, updated_at, quiet_hours)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (version) DO UPDATE SET canaries = ?2, percent = ?3, state = ?4,
             reason = ?5, updated_at = ?8, quiet_hours = ?9",
        &[
            &rollout.version,
            &canaries,
            &rollout.percent,
            &rollout.state,
            &rollout.reason,
            &rollout.started_by,
            &ts(rollout.started_at),
            &ts(rollout.updated_at),
            &rollout.quiet_hours.map(|h| h.to_string()),
        ],
    )?;
    Ok(())
}

pub fn rollout(conn: &mut dyn Conn, version: &str) -> Result<Option<RolloutRow>, StoreError> {
    Ok(rollouts(conn)?.into_iter().find(|r| r.version == version))
}

/// Every rollout, newest version first.
pub fn rollouts(conn: &mut dyn Conn) -> Result<Vec<RolloutRow>, StoreError> {
    let mut rows = conn.all(
        "SELECT version, canaries, percent, state, reason, started_by, started_at, updated_at,
                quiet_hours
         FROM rollouts",
        &[],
        |r| {
            Ok(RolloutRow {
                version: r.get(0)?,
                canary_centers: serde_json::from_str(&r.get::<String>(1)?)
                    .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                percent: r.get::<u32>(2)?.min(100) as u8,
                state: r.get(3)?,
                reason: r.get(4)?,
                started_by: r.get(5)?,
                started_at: parse_ts(&r.get::<String>(6)?)?,
                updated_at: parse_ts(&r.get::<String>(7)?)?,
                quiet_hours: r
                    .get::<Option<String>>(8)?
                    .map(|text| {
                        OpeningHours::parse_window(&text).ok_or_else(|| {
                            StoreError::Corrupt(format!("rollout quiet hours {text:?}"))
                        })
                    })
                    .transpose()?,
            })
        },
    )?;
    rows.sort_by_key(|r| std::cmp::Reverse(gymgate_shared::release::version_key(&r.version)));
    Ok(rows)
}

/// The rollouts with their signed manifests, as offers are decided from them.
pub fn offers(conn: &mut dyn Conn) -> Result<Vec<crate::releases::Rollout>, StoreError> {
    let mut out = Vec::new();
    for row in rollouts(conn)? {
        let (Some(signed), Some(state)) = (
            signed(conn, &row.version)?,
            crate::releases::RolloutState::parse(&row.state),
        ) else {
            continue;
        };
        let min_from: String = conn
            .optional(
                "SELECT min_from FROM releases WHERE version = ?1",
                &[&row.version],
            )?
            .unwrap_or_default();
        out.push(crate::releases::Rollout {
            version: row.version,
            signed,
            min_from,
            canary_centers: row.canary_centers,
            percent: row.percent,
            quiet_hours: row.quiet_hours,
            state,
        });
    }
    Ok(out)
}
