//! Settings operators change at run time (the support contact, the lowest desk version
//! still supported).

use gymgate_shared::api::SupportContact;

use super::StoreError;
use super::sql::Conn;

const SUPPORT: &str = "support";
const MIN_DESK_VERSION: &str = "min_desk_version";

pub fn support(conn: &mut dyn Conn) -> Result<Option<SupportContact>, StoreError> {
    let text: Option<String> =
        conn.optional("SELECT value FROM settings WHERE key = ?1", &[&SUPPORT])?;
    Ok(text.as_deref().map(serde_json::from_str).transpose()?)
}

pub fn put_support(conn: &mut dyn Conn, contact: &SupportContact) -> Result<(), StoreError> {
    let value = serde_json::to_string(contact)?;
    conn.execute(
        "INSERT INTO settings (key, value) VALUES (?1, ?2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&SUPPORT, &value],
    )?;
    Ok(())
}

/// The lowest desk program version still supported, if operators set one.
pub fn min_desk_version(conn: &mut dyn Conn) -> Result<Option<String>, StoreError> {
    conn.optional(
        "SELECT value FROM settings WHERE key = ?1",
        &[&MIN_DESK_VERSION],
    )
}

/// Sets (or, with `None`, clears) the lowest desk version still supported.
pub fn put_min_desk_version(conn: &mut dyn Conn, version: Option<&str>) -> Result<(), StoreError> {
    match version {
        Some(version) => conn.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            &[&MIN_DESK_VERSION, &version],
        )?,
        None => conn.execute("DELETE FROM settings WHERE key = ?1", &[&MIN_DESK_VERSION])?,
    };
    Ok(())
}
