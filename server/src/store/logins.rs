//! Wrong PINs per member number, and the lock they lead to. Kept for numbers that belong to
//! no member too: a guess at an unknown number then costs exactly what a guess at a known one
//! costs (one read, one hash, one write) and gets the same answers, so timing and lock
//! messages cannot be used to list valid member numbers.

use super::sql::Conn;
use super::{StoreError, parse_ts, ts};
use chrono::{DateTime, Duration, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failures {
    pub failures: u32,
    /// Start of the 24-hour window the failures are counted in.
    pub first_at: DateTime<Utc>,
    pub last_at: DateTime<Utc>,
    pub locked_until: Option<DateTime<Utc>>,
}

pub fn load(conn: &mut dyn Conn, member_no: &str) -> Result<Option<Failures>, StoreError> {
    let row: Option<(u32, String, String, Option<String>)> = conn.one(
        "SELECT failures, first_at, last_at, locked_until FROM login_failures
         WHERE member_no = ?1",
        &[&member_no],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    row.map(|(failures, first_at, last_at, locked_until)| {
        Ok(Failures {
            failures,
            first_at: parse_ts(&first_at)?,
            last_at: parse_ts(&last_at)?,
            locked_until: locked_until.as_deref().map(parse_ts).transpose()?,
        })
    })
    .transpose()
}

/// Counts one wrong PIN at `now`: failures older than `window` start the count over, and the
/// `lock_after`-th failure in a window locks the number for `lock_for`. Returns the new state.
pub fn record_failure(
    conn: &mut dyn Conn,
    member_no: &str,
    now: DateTime<Utc>,
    window: Duration,
    lock_after: u32,
    lock_for: Duration,
) -> Result<Failures, StoreError> {
    let before = load(conn, member_no)?;
    let mut state = match before {
        Some(state) if now - state.first_at < window => state,
        // A lock outlives the window it was counted in only until it ends.
        Some(state) => Failures {
            failures: 0,
            first_at: now,
            last_at: now,
            locked_until: state.locked_until.filter(|until| *until > now),
        },
        None => Failures {
            failures: 0,
            first_at: now,
            last_at: now,
            locked_until: None,
        },
    };
    state.failures = state.failures.saturating_add(1);
    state.last_at = now;
    if state.failures >= lock_after && state.locked_until.is_none_or(|until| until <= now) {
        state.locked_until = Some(now + lock_for);
    }
    conn.execute(
        "INSERT INTO login_failures (member_no, failures, first_at, last_at, locked_until)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (member_no) DO UPDATE SET failures = ?2, first_at = ?3, last_at = ?4,
             locked_until = ?5",
        &[
            &member_no,
            &state.failures,
            &ts(state.first_at),
            &ts(state.last_at),
            &state.locked_until.map(ts),
        ],
    )?;
    Ok(state)
}

/// How long a PIN check's claim lasts if its node dies before letting it go.
const CHECK_CLAIM_SECONDS: i64 = 10;

/// Nodes sharing PostgreSQL: claims the one PIN check a number may have under way across the
/// cluster, and returns the number's failures as they are now (a check that ended on another
/// node meanwhile may have added one); `None` while another check holds it. The database's
/// clock times the claims.
pub fn claim_check(
    conn: &mut dyn Conn,
    member_no: &str,
) -> Result<Option<Option<Failures>>, StoreError> {
    let claimed = conn.optional::<String>(
        "INSERT INTO login_checks (member_no, until)
         VALUES (?1, clock_timestamp() + CAST(?2 AS BIGINT) * INTERVAL '1 second')
         ON CONFLICT (member_no) DO UPDATE SET until = excluded.until
         WHERE login_checks.until <= clock_timestamp()
         RETURNING member_no",
        &[&member_no, &CHECK_CLAIM_SECONDS],
    )?;
    match claimed {
        Some(_) => Ok(Some(load(conn, member_no)?)),
        None => Ok(None),
    }
}

/// Lets the number's PIN check claim go (the check ended, right or wrong).
pub fn release_check(conn: &mut dyn Conn, member_no: &str) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM login_checks WHERE member_no = ?1",
        &[&member_no],
    )?;
    Ok(())
}

/// Forgets a number's failures and lock (a right PIN, or an operator's unlock). True when
/// there was something to forget.
pub fn clear(conn: &mut dyn Conn, member_no: &str) -> Result<bool, StoreError> {
    Ok(conn.execute(
        "DELETE FROM login_failures WHERE member_no = ?1",
        &[&member_no],
    )? > 0)
}

/// Deletes up to `limit` rows whose last failure is before `before` and that hold no lock
/// still in force; returns how many.
pub fn prune(
    conn: &mut dyn Conn,
    before: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<usize, StoreError> {
    conn.execute(
        "DELETE FROM login_failures WHERE member_no IN (
             SELECT member_no FROM login_failures
             WHERE last_at < ?1 AND (locked_until IS NULL OR locked_until <= ?2)
             LIMIT ?3)",
        &[&ts(before), &ts(now), &limit],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_count_in_a_window_lock_and_clear() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, mut conn) = crate::store::sqlite::test_database(&dir, &[]);
        let conn: &mut dyn Conn = &mut conn;
        let start = Utc::now();
        let (window, lock_for) = (Duration::hours(24), Duration::hours(24));
        for n in 1..=19 {
            let state = record_failure(
                conn,
                "100001",
                start + Duration::minutes(n),
                window,
                20,
                lock_for,
            )
            .expect("failure");
            assert_eq!(state.failures, n as u32);
            assert_eq!(state.locked_until, None);
        }
        let twentieth = start + Duration::minutes(20);
        let locked =
            record_failure(conn, "100001", twentieth, window, 20, lock_for).expect("failure");
        assert_eq!(locked.locked_until, Some(twentieth + lock_for));
        assert_eq!(
            load(conn, "100001").expect("load").map(|f| f.failures),
            Some(20)
        );
        // A day later the window starts over.
        let later = start + Duration::hours(25);
        let fresh = record_failure(conn, "100001", later, window, 20, lock_for).expect("failure");
        assert_eq!(fresh.failures, 1);
        assert!(clear(conn, "100001").expect("clear"));
        assert_eq!(load(conn, "100001").expect("load"), None);
        assert!(!clear(conn, "100001").expect("clear"));
        drop(store);
    }

    #[test]
    fn pruning_keeps_locks_in_force() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, mut conn) = crate::store::sqlite::test_database(&dir, &[]);
        let conn: &mut dyn Conn = &mut conn;
        let long_ago = Utc::now() - Duration::days(3);
        let day = Duration::hours(24);
        record_failure(conn, "old", long_ago, day, 20, day).expect("failure");
        record_failure(conn, "locked", long_ago, day, 1, Duration::days(30)).expect("failure");
        let now = Utc::now();
        assert_eq!(prune(conn, now - day, now, 100).expect("prune"), 1);
        assert!(load(conn, "locked").expect("load").is_some());
        drop(store);
    }
}
