//! Operator accounts (console logins) and their sessions. Passwords are argon2 hashes; a
//! session is kept only as a hash of the cookie's token.

use chrono::{DateTime, Utc};
use gymgate_shared::api::{Operator, Role};

use super::sql::{Conn, Row};
use super::{StoreError, parse_ts, ts};

/// An account as stored, with what logging in needs.
#[derive(Debug, Clone)]
pub struct OperatorRow {
    pub operator: Operator,
    pub password_hash: String,
    pub locked_until: Option<DateTime<Utc>>,
}

const SELECT: &str = "SELECT id, username, role, password_hash, created_at, disabled_at, \
     locked_until FROM operators";

fn from_row(row: &dyn Row) -> Result<OperatorRow, StoreError> {
    let role: String = row.get(2)?;
    let locked: Option<String> = row.get(6)?;
    Ok(OperatorRow {
        operator: Operator {
            id: row.get(0)?,
            username: row.get(1)?,
            role: Role::parse(&role)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown operator role {role:?}")))?,
            created_at: parse_ts(&row.get::<String>(4)?)?,
            disabled: row.get::<Option<String>>(5)?.is_some(),
        },
        password_hash: row.get(3)?,
        locked_until: locked.as_deref().map(parse_ts).transpose()?,
    })
}

pub fn by_username(conn: &mut dyn Conn, username: &str) -> Result<Option<OperatorRow>, StoreError> {
    conn.one(
        &format!("{SELECT} WHERE username = ?1"),
        &[&username],
        from_row,
    )
}

pub fn list(conn: &mut dyn Conn) -> Result<Vec<Operator>, StoreError> {
    Ok(conn
        .all(&format!("{SELECT} ORDER BY username"), &[], from_row)?
        .into_iter()
        .map(|o| o.operator)
        .collect())
}

pub fn insert(
    conn: &mut dyn Conn,
    operator: &Operator,
    password_hash: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO operators (id, username, role, password_hash, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        &[
            &operator.id,
            &operator.username,
            &operator.role.as_str(),
            &password_hash,
            &ts(operator.created_at),
        ],
    )?;
    Ok(())
}

/// Sets role and/or disabled; a disabled operator's sessions end at once.
pub fn update(
    conn: &mut dyn Conn,
    id: &str,
    role: Option<Role>,
    disabled: Option<bool>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if let Some(role) = role {
        conn.execute(
            "UPDATE operators SET role = ?2 WHERE id = ?1",
            &[&id, &role.as_str()],
        )?;
    }
    if let Some(disabled) = disabled {
        conn.execute(
            "UPDATE operators SET disabled_at = ?2 WHERE id = ?1",
            &[&id, &disabled.then(|| ts(now))],
        )?;
        if disabled {
            conn.execute(
                "DELETE FROM operator_sessions WHERE operator_id = ?1",
                &[&id],
            )?;
        }
    }
    Ok(())
}

/// A wrong password: counts it and locks the account once `max` are reached.
pub fn record_failure(
    conn: &mut dyn Conn,
    id: &str,
    max: u32,
    lock_until: DateTime<Utc>,
) -> Result<u32, StoreError> {
    let failures: u32 = conn.value(
        "UPDATE operators SET failures = failures + 1 WHERE id = ?1 RETURNING failures",
        &[&id],
    )?;
    if failures >= max {
        conn.execute(
            "UPDATE operators SET locked_until = ?2, failures = 0 WHERE id = ?1",
            &[&id, &ts(lock_until)],
        )?;
    }
    Ok(failures)
}

pub fn clear_failures(conn: &mut dyn Conn, id: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE operators SET failures = 0, locked_until = NULL WHERE id = ?1",
        &[&id],
    )?;
    Ok(())
}

pub fn put_session(
    conn: &mut dyn Conn,
    token_hash: &[u8],
    operator_id: &str,
    csrf_token: &str,
    now: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO operator_sessions (token_hash, operator_id, csrf_token, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        &[&token_hash, &operator_id, &csrf_token, &ts(now), &ts(expires_at)],
    )?;
    Ok(())
}

/// A live session's operator (not disabled) with its CSRF token and end.
pub fn session(
    conn: &mut dyn Conn,
    token_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<Option<(Operator, String, DateTime<Utc>)>, StoreError> {
    let found = conn.one(
        "SELECT s.operator_id, s.csrf_token, s.expires_at FROM operator_sessions s
         WHERE s.token_hash = ?1 AND s.expires_at > ?2",
        &[&token_hash, &ts(now)],
        |r| {
            Ok((
                r.get::<String>(0)?,
                r.get::<String>(1)?,
                r.get::<String>(2)?,
            ))
        },
    )?;
    let Some((operator_id, csrf, expires)) = found else {
        return Ok(None);
    };
    let operator = conn.one(
        &format!("{SELECT} WHERE id = ?1"),
        &[&operator_id],
        from_row,
    )?;
    match operator {
        Some(row) if !row.operator.disabled => Ok(Some((row.operator, csrf, parse_ts(&expires)?))),
        _ => Ok(None),
    }
}

pub fn end_session(conn: &mut dyn Conn, token_hash: &[u8]) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM operator_sessions WHERE token_hash = ?1",
        &[&token_hash],
    )?;
    Ok(())
}

/// Forgets sessions past their end (retention).
pub fn prune_sessions(conn: &mut dyn Conn, now: DateTime<Utc>) -> Result<usize, StoreError> {
    conn.execute(
        "DELETE FROM operator_sessions WHERE expires_at <= ?1",
        &[&ts(now)],
    )
}
