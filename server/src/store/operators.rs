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
    /// The second factor's secret (base32), once confirmed; one being set up.
    pub totp_secret: Option<String>,
    pub totp_pending: Option<String>,
    /// The last TOTP step a code was accepted for: a code works once.
    pub totp_step: i64,
}

const SELECT: &str = "SELECT id, username, role, password_hash, created_at, disabled_at, \
     locked_until, totp_secret, totp_pending, totp_step FROM operators";

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
            totp: row.get::<Option<String>>(7)?.is_some(),
        },
        password_hash: row.get(3)?,
        locked_until: locked.as_deref().map(parse_ts).transpose()?,
        totp_secret: row.get(7)?,
        totp_pending: row.get(8)?,
        totp_step: row.get(9)?,
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

/// Wrong passwords for an account name (as typed) from one address, in the current window:
/// how many, and when the last one was.
pub fn address_failures(
    conn: &mut dyn Conn,
    username: &str,
    address: &str,
    since: DateTime<Utc>,
) -> Result<Option<(u32, DateTime<Utc>)>, StoreError> {
    let row: Option<(u32, String)> = conn.one(
        "SELECT failures, last_at FROM operator_failures
         WHERE username = ?1 AND address = ?2 AND first_at >= ?3",
        &[&username, &address, &ts(since)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    row.map(|(n, last)| Ok((n, parse_ts(&last)?))).transpose()
}

/// Counts a wrong password for (name, address); a window older than `since` starts over.
/// Rows of finished windows are dropped on the way, so the table holds only live guessing.
pub fn record_address_failure(
    conn: &mut dyn Conn,
    username: &str,
    address: &str,
    now: DateTime<Utc>,
    since: DateTime<Utc>,
) -> Result<u32, StoreError> {
    conn.execute(
        "DELETE FROM operator_failures WHERE last_at < ?1",
        &[&ts(since)],
    )?;
    conn.value(
        "INSERT INTO operator_failures (username, address, failures, first_at, last_at)
         VALUES (?1, ?2, 1, ?3, ?3)
         ON CONFLICT (username, address) DO UPDATE SET
             failures = CASE WHEN operator_failures.first_at < ?4 THEN 1
                             ELSE operator_failures.failures + 1 END,
             first_at = CASE WHEN operator_failures.first_at < ?4 THEN ?3
                             ELSE operator_failures.first_at END,
             last_at = ?3
         RETURNING failures",
        &[&username, &address, &ts(now), &ts(since)],
    )
}

pub fn clear_address_failures(
    conn: &mut dyn Conn,
    username: &str,
    address: &str,
) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM operator_failures WHERE username = ?1 AND address = ?2",
        &[&username, &address],
    )?;
    Ok(())
}

/// A new password; every session of the account ends but `keep` (the one that changed it).
pub fn set_password(
    conn: &mut dyn Conn,
    id: &str,
    password_hash: &str,
    keep: Option<&[u8]>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE operators SET password_hash = ?2, failures = 0, locked_until = NULL WHERE id = ?1",
        &[&id, &password_hash],
    )?;
    conn.execute(
        "DELETE FROM operator_sessions WHERE operator_id = ?1 AND token_hash IS NOT ?2",
        &[&id, &keep],
    )?;
    Ok(())
}

/// A second factor being set up (not required until confirmed).
pub fn set_totp_pending(conn: &mut dyn Conn, id: &str, secret: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE operators SET totp_pending = ?2 WHERE id = ?1",
        &[&id, &secret],
    )?;
    Ok(())
}

/// The set-up secret becomes the account's second factor, with fresh recovery codes.
pub fn confirm_totp(
    conn: &mut dyn Conn,
    id: &str,
    step: u64,
    recovery_hashes: &[Vec<u8>],
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE operators SET totp_secret = totp_pending, totp_pending = NULL, totp_step = ?2
         WHERE id = ?1 AND totp_pending IS NOT NULL",
        &[&id, &step],
    )?;
    conn.execute(
        "DELETE FROM operator_recovery_codes WHERE operator_id = ?1",
        &[&id],
    )?;
    for hash in recovery_hashes {
        conn.execute(
            "INSERT INTO operator_recovery_codes (operator_id, code_hash) VALUES (?1, ?2)",
            &[&id, hash],
        )?;
    }
    Ok(())
}

/// The step of a code just accepted: an earlier or equal step is refused from now on.
pub fn use_totp_step(conn: &mut dyn Conn, id: &str, step: u64) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE operators SET totp_step = ?2 WHERE id = ?1 AND totp_step < ?2",
        &[&id, &step],
    )?;
    Ok(changed == 1)
}

/// Uses one recovery code; false when it is not one of the account's unused codes.
pub fn use_recovery_code(
    conn: &mut dyn Conn,
    id: &str,
    code_hash: &[u8],
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let changed = conn.execute(
        "UPDATE operator_recovery_codes SET used_at = ?3
         WHERE operator_id = ?1 AND code_hash = ?2 AND used_at IS NULL",
        &[&id, &code_hash, &ts(now)],
    )?;
    Ok(changed == 1)
}

/// An admin takes the second factor away (a lost phone, recovery codes gone): the account
/// sets it up again at its next login.
pub fn clear_totp(conn: &mut dyn Conn, id: &str) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE operators SET totp_secret = NULL, totp_pending = NULL, totp_step = 0 WHERE id = ?1",
        &[&id],
    )?;
    conn.execute(
        "DELETE FROM operator_recovery_codes WHERE operator_id = ?1",
        &[&id],
    )?;
    Ok(())
}

/// Accounts locked now (the alert names them).
pub fn locked(
    conn: &mut dyn Conn,
    now: DateTime<Utc>,
) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
    let rows: Vec<(String, String)> = conn.all(
        "SELECT username, locked_until FROM operators WHERE locked_until > ?1 ORDER BY username",
        &[&ts(now)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    rows.into_iter()
        .map(|(name, until)| Ok((name, parse_ts(&until)?)))
        .collect()
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
