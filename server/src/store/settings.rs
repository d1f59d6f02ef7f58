//! Settings operators change at run time (the support contact).

use gymgate_shared::api::SupportContact;

use super::StoreError;
use super::sql::Conn;

const SUPPORT: &str = "support";

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
