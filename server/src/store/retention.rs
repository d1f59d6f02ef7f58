//! Retention: events older than the retention period and expired member tokens are deleted in
//! small write jobs. Taps share the one writer, so a sweep done as a single job (an hour of
//! events a month ago, every expired token) held every tap behind it for as long as the sweep
//! took; now a tap waits for one chunk at most.

use chrono::{DateTime, Utc};

use super::sql::Conn;
use super::{StoreError, Writer, ts};

/// Rows one retention job deletes at most: ~2 ms of the writer (benches/retention.rs: with
/// 2,000 a write arriving meanwhile waited up to 9 ms, with 500 up to 5 ms).
const CHUNK: usize = 500;
/// Centers one job looks at at most (each is one primary-key probe, even with nothing old).
const CENTERS_PER_JOB: usize = 256;

/// What one retention run deleted, and in how many write jobs.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pruned {
    pub events: usize,
    pub tokens: usize,
    /// Wrong-PIN counts whose day is over (locks still in force are kept).
    pub login_failures: usize,
    /// Showings of offline passes too old to be synced again (kept 15 days for replay checks).
    pub pass_uses: usize,
    pub jobs: usize,
}

/// Deletes what is past retention as of `now`, one chunk per write job; wrong-PIN counts go
/// once `login_window` has passed since their last failure.
pub async fn prune(
    writer: &Writer,
    now: DateTime<Utc>,
    retention: chrono::Duration,
    login_window: chrono::Duration,
) -> Result<Pruned, StoreError> {
    let mut pruned = prune_in_chunks(writer, now, retention, CHUNK).await?;
    // A showing of a pass can be recorded at most 14 days after it was made (an offline
    // desk's outbox); a day more and nothing can use it again.
    let (deleted, jobs) = delete_chunked(
        writer,
        "DELETE FROM pass_uses WHERE fingerprint IN (
             SELECT fingerprint FROM pass_uses WHERE used_at < ?1 LIMIT ?2)",
        ts(now - chrono::Duration::days(15)),
        CHUNK,
    )
    .await?;
    pruned.pass_uses += deleted;
    pruned.jobs += jobs;
    // Members' data downloads past their 7 days (a few a day: one job).
    writer
        .write(move |ctx| super::exports::delete_expired(ctx.tx, now))
        .await?;
    pruned.jobs += 1;
    loop {
        let deleted = writer
            .write(move |ctx| super::logins::prune(ctx.tx, now - login_window, now, CHUNK))
            .await?;
        pruned.login_failures += deleted;
        pruned.jobs += 1;
        if deleted < CHUNK {
            return Ok(pruned);
        }
    }
}

/// [`prune`] with `chunk` rows per job at most (`usize::MAX`: the whole sweep in one job, as
/// retention used to run; the retention benchmark compares the two).
pub async fn prune_in_chunks(
    writer: &Writer,
    now: DateTime<Utc>,
    retention: chrono::Duration,
    chunk: usize,
) -> Result<Pruned, StoreError> {
    let chunk = chunk.max(1);
    let cutoff = ts(now - retention);
    let mut pruned = Pruned::default();
    // "" sorts before every center id.
    let mut from = Some(String::new());
    while let Some(start) = from.take() {
        let cutoff = cutoff.clone();
        let step = writer
            .write(move |ctx| prune_events(ctx.tx, &cutoff, &start, chunk))
            .await?;
        pruned.events += step.deleted;
        pruned.jobs += 1;
        from = step.resume_at;
    }
    let (deleted, jobs) = delete_chunked(
        writer,
        "DELETE FROM member_tokens WHERE token_hash IN (
             SELECT token_hash FROM member_tokens WHERE expires_at < ?1 LIMIT ?2)",
        ts(now),
        chunk,
    )
    .await?;
    pruned.tokens += deleted;
    pruned.jobs += jobs;
    // Console sessions past their end (a few per operator a day: one job).
    pruned.tokens += writer
        .write(move |ctx| super::operators::prune_sessions(ctx.tx, now))
        .await?;
    pruned.jobs += 1;
    Ok(pruned)
}

/// Runs `sql` (a delete of at most `?2` rows older than `?1`) one write job at a time until a
/// job deletes less than a chunk; returns the rows deleted and the jobs it took.
async fn delete_chunked(
    writer: &Writer,
    sql: &'static str,
    before: String,
    chunk: usize,
) -> Result<(usize, usize), StoreError> {
    let (mut total, mut jobs) = (0, 0);
    loop {
        let before = before.clone();
        let deleted = writer
            .write(move |ctx| -> Result<usize, StoreError> {
                ctx.tx.execute(sql, &[&before, &chunk])
            })
            .await?;
        total += deleted;
        jobs += 1;
        if deleted < chunk {
            return Ok((total, jobs));
        }
    }
}

struct EventsStep {
    deleted: usize,
    /// The center the next job starts at (inclusive); `None` when every center is done.
    resume_at: Option<String>,
}

/// The oldest events of one center, oldest first.
const OLDEST_EVENTS_SQL: &str =
    "SELECT seq, at FROM events WHERE center_id = ?1 ORDER BY seq LIMIT ?2";

/// Deletes up to `chunk` events older than `cutoff`, center by center from `start` in id
/// order, and raises each center's `pruned_through` to its newest deleted seq (a desk whose
/// cursor is behind that must re-sync). A center's events only get later with seq, so its old
/// events are the front of its primary key: found and deleted without reading the rest. (If
/// the clock ever stepped back, an old event behind a newer one just waits for a later run.)
fn prune_events(
    conn: &mut dyn Conn,
    cutoff: &str,
    start: &str,
    chunk: usize,
) -> Result<EventsStep, StoreError> {
    let centers: Vec<String> = conn.all(
        "SELECT id FROM centers WHERE id >= ?1 ORDER BY id LIMIT ?2",
        &[&start, &(CENTERS_PER_JOB + 1)],
        |r| r.get(0),
    )?;
    let mut deleted = 0;
    for (i, center) in centers.iter().enumerate() {
        if i == CENTERS_PER_JOB {
            return Ok(EventsStep {
                deleted,
                resume_at: Some(center.clone()),
            });
        }
        // Read in order until the first event that is not old; the rest of the page is
        // not looked at.
        let mut old = 0;
        let mut newest_old: Option<i64> = None;
        let mut past_cutoff = false;
        conn.query(
            OLDEST_EVENTS_SQL,
            &[center, &(chunk - deleted)],
            &mut |row| {
                if past_cutoff {
                    return Ok(());
                }
                let at: String = row.get(1)?;
                if at.as_str() >= cutoff {
                    past_cutoff = true;
                    return Ok(());
                }
                old += 1;
                newest_old = Some(row.get(0)?);
                Ok(())
            },
        )?;
        if let Some(seq) = newest_old {
            conn.execute(
                "DELETE FROM events WHERE center_id = ?1 AND seq <= ?2",
                &[center, &seq],
            )?;
            conn.execute(
                "UPDATE centers SET pruned_through =
                     CASE WHEN pruned_through > ?2 THEN pruned_through ELSE ?2 END
                 WHERE id = ?1",
                &[center, &seq],
            )?;
            deleted += old;
        }
        if deleted == chunk {
            // This center may have more old events: the next job starts with it again.
            return Ok(EventsStep {
                deleted,
                resume_at: Some(center.clone()),
            });
        }
    }
    Ok(EventsStep {
        deleted,
        resume_at: None,
    })
}

/// Deleted members' visits from before `before` (their years are over), with what points at
/// them; then the pseudonymous rows of deleted members with no visit left. Returns the visits
/// removed.
pub fn forget_deleted_members(
    conn: &mut dyn Conn,
    before: DateTime<Utc>,
) -> Result<usize, StoreError> {
    const OLD: &str = "SELECT c.id FROM checkins c JOIN members m ON m.id = c.member_id
         WHERE m.deleted_at IS NOT NULL AND c.at < ?1";
    let before = ts(before);
    conn.execute(
        &format!("DELETE FROM pass_uses WHERE checkin_id IN ({OLD})"),
        &[&before],
    )?;
    conn.execute(
        &format!("UPDATE outbox_records SET checkin_id = NULL WHERE checkin_id IN ({OLD})"),
        &[&before],
    )?;
    let visits = conn.execute(
        &format!("DELETE FROM checkins WHERE id IN ({OLD})"),
        &[&before],
    )?;
    conn.execute(
        "DELETE FROM members WHERE deleted_at IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM checkins c WHERE c.member_id = members.id)
         AND NOT EXISTS (SELECT 1 FROM outbox_records o WHERE o.member_id = members.id)",
        &[],
    )?;
    Ok(visits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use rusqlite::{Connection, params};

    fn at(minutes_ago: i64, now: DateTime<Utc>) -> String {
        ts(now - chrono::Duration::minutes(minutes_ago))
    }

    fn open(dir: &tempfile::TempDir) -> (Store, Connection) {
        crate::store::sqlite::test_database(dir, &["c1", "c2", "c3"])
    }

    /// A deleted member's visits stay (pseudonymous) for their years, then go, and with the
    /// last of them the row; a member who did not leave keeps everything.
    #[test]
    fn a_deleted_members_visits_go_after_their_years_and_then_the_row() {
        use crate::store::checkins::{self, Provenance};
        use gymgate_shared::api::CheckinStatus;
        let dir = tempfile::tempdir().expect("temp dir");
        let (_store, mut conn) = open(&dir);
        conn.execute_batch(
            "INSERT INTO members (id, member_no, name, phone, pin_hash, plan_id, valid_from,
                                  valid_until, created_at)
             VALUES ('m2', 'A2', '남는 회원', '010', 'x', 1, '2020-01-01', '2099-12-31',
                     '2020-01-01');",
        )
        .expect("member");
        let now = Utc::now();
        let years = |y: i64| now - chrono::Duration::days(365 * y);
        for (id, member, when) in [
            ("old", "m1", years(6)),
            ("recent", "m1", years(1)),
            ("kept", "m2", years(6)),
        ] {
            let mut c = crate::store::sqlite::test_checkin(id, "c1", when, CheckinStatus::Admitted);
            c.member_id = gymgate_shared::MemberId::new(member);
            checkins::insert(&mut conn, &c, &Provenance::app(Some(id))).expect("insert");
        }
        let m1 = gymgate_shared::MemberId::new("m1");
        crate::store::members::erase(&mut conn, &m1, now).expect("erase");
        assert_eq!(
            forget_deleted_members(&mut conn, years(5)).expect("forget"),
            1
        );
        let left: Vec<String> = {
            let mut statement = conn
                .prepare("SELECT id FROM checkins ORDER BY id")
                .expect("prepare");
            statement
                .query_map([], |r| r.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("rows")
        };
        assert_eq!(left, ["kept", "recent"]);
        let members = |conn: &Connection| -> i64 {
            conn.query_row("SELECT COUNT(*) FROM members", [], |r| r.get(0))
                .expect("count")
        };
        assert_eq!(
            members(&conn),
            2,
            "the row stays while a visit points at it"
        );
        assert_eq!(forget_deleted_members(&mut conn, now).expect("forget"), 1);
        assert_eq!(members(&conn), 1, "only the member who stayed is left");
    }

    fn add_event(conn: &Connection, center: &str, seq: i64, at: &str) {
        conn.execute(
            "INSERT INTO events (center_id, seq, at, kind, data) VALUES (?1, ?2, ?3, 'notice', '{}')",
            params![center, seq, at],
        )
        .expect("event");
    }

    /// Old events go, in jobs of at most a chunk, center by center; recent ones stay, and each
    /// center remembers the newest seq it lost.
    #[tokio::test]
    async fn old_events_are_pruned_a_chunk_per_job() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, conn) = open(&dir);
        let now = Utc::now();
        let retention = chrono::Duration::minutes(60);
        for seq in 1..=25 {
            add_event(&conn, "c1", seq, &at(120 - seq, now));
        }
        for seq in 26..=30 {
            add_event(&conn, "c1", seq, &at(30, now));
        }
        for seq in 1..=3 {
            add_event(&conn, "c3", seq, &at(90, now));
        }
        add_event(&conn, "c3", 4, &at(1, now));

        let pruned = prune_in_chunks(&store.writer, now, retention, 10)
            .await
            .expect("prune");
        assert_eq!(pruned.events, 28);
        // 28 events in chunks of 10 need three event jobs (plus one for tokens).
        assert!(pruned.jobs >= 4, "{pruned:?}");

        let left: Vec<(String, i64)> = conn
            .prepare("SELECT center_id, seq FROM events ORDER BY center_id, seq")
            .expect("query")
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("events");
        let expected: Vec<(String, i64)> = (26..=30)
            .map(|seq| ("c1".to_owned(), seq))
            .chain([("c3".to_owned(), 4)])
            .collect();
        assert_eq!(left, expected);
        let through: Vec<i64> = conn
            .prepare("SELECT pruned_through FROM centers ORDER BY id")
            .expect("query")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("centers");
        assert_eq!(through, vec![25, 0, 3]);

        // Nothing left to do: a second run deletes nothing and keeps the marks.
        let again = prune_in_chunks(&store.writer, now, retention, 10)
            .await
            .expect("prune again");
        assert_eq!((again.events, again.tokens), (0, 0));
    }

    #[tokio::test]
    async fn expired_member_tokens_are_pruned_a_chunk_per_job() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, conn) = open(&dir);
        let now = Utc::now();
        for n in 0..25u8 {
            conn.execute(
                "INSERT INTO member_tokens (token_hash, member_id, created_at, expires_at)
                 VALUES (?1, 'm1', ?2, ?3)",
                params![vec![n], at(600, now), at(5, now)],
            )
            .expect("expired token");
        }
        for n in 100..102u8 {
            conn.execute(
                "INSERT INTO member_tokens (token_hash, member_id, created_at, expires_at)
                 VALUES (?1, 'm1', ?2, ?3)",
                params![vec![n], at(600, now), at(-60, now)],
            )
            .expect("valid token");
        }
        let pruned = prune_in_chunks(&store.writer, now, chrono::Duration::days(30), 10)
            .await
            .expect("prune");
        assert_eq!(pruned.tokens, 25);
        let left: i64 = conn
            .query_row("SELECT COUNT(*) FROM member_tokens", [], |r| r.get(0))
            .expect("count");
        assert_eq!(left, 2);
    }

    /// A showing of a pass is kept while an offline desk could still sync it (14 days), so
    /// a replay is caught; a day later it goes.
    #[tokio::test]
    async fn pass_showings_are_kept_15_days() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, conn) = open(&dir);
        let now = Utc::now();
        for (n, days) in [(0, 16), (1, 20), (2, 14), (3, 0)] {
            conn.execute(
                "INSERT INTO pass_uses (fingerprint, checkin_id, used_at) VALUES (?1, 'ci', ?2)",
                params![format!("f{n}"), ts(now - chrono::Duration::days(days))],
            )
            .expect("pass use");
        }
        let pruned = prune(
            &store.writer,
            now,
            chrono::Duration::days(30),
            chrono::Duration::days(1),
        )
        .await
        .expect("prune");
        assert_eq!(pruned.pass_uses, 2);
        let left: Vec<String> = conn
            .prepare("SELECT fingerprint FROM pass_uses ORDER BY fingerprint")
            .expect("query")
            .query_map([], |r| r.get(0))
            .expect("rows")
            .collect::<Result<_, _>>()
            .expect("fingerprints");
        assert_eq!(left, ["f2", "f3"]);
    }

    /// Each retention query finds its rows by an index: none scans a table in the writer.
    #[test]
    fn retention_queries_search_an_index() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (_store, conn) = open(&dir);
        for (sql, index) in [
            (OLDEST_EVENTS_SQL, "PRIMARY KEY"),
            (
                "SELECT token_hash FROM member_tokens WHERE expires_at < ?1 LIMIT ?2",
                "INDEX member_tokens_expiry",
            ),
            (
                "SELECT fingerprint FROM pass_uses WHERE used_at < ?1 LIMIT ?2",
                "INDEX pass_uses_used",
            ),
        ] {
            let text = crate::store::sqlite::query_plan(&conn, sql, params!["x", 10]);
            assert!(
                text.starts_with("SEARCH") && text.contains(index),
                "{sql}\n→ {text}"
            );
        }
    }
}
