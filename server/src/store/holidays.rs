//! Public holidays (Korea's 2026–2027 ship with the schema; operators add and remove days).

use chrono::{DateTime, NaiveDate, Utc};
use gymgate_shared::api::Holiday;
use gymgate_shared::hours::{CenterHours, Schedule};

use super::StoreError;
use super::sql::Conn;

/// How many holidays ahead a desk is told (about two years of Korea's).
const AHEAD: usize = 60;

fn date_of(text: &str) -> Result<NaiveDate, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("bad stored holiday {text:?}")))
}

pub fn list(conn: &mut dyn Conn) -> Result<Vec<Holiday>, StoreError> {
    conn.all(
        "SELECT date, name FROM holidays ORDER BY date",
        &[],
        |row| {
            Ok(Holiday {
                date: date_of(&row.get::<String>(0)?)?,
                name: row.get(1)?,
            })
        },
    )
}

/// The holiday on `date`, if any.
pub fn on(conn: &mut dyn Conn, date: NaiveDate) -> Result<Option<String>, StoreError> {
    conn.optional(
        "SELECT name FROM holidays WHERE date = ?1",
        &[&date.to_string()],
    )
}

/// Holidays from `from` on (what a desk keeps for its offline check-ins).
pub fn from(conn: &mut dyn Conn, from: NaiveDate) -> Result<Vec<NaiveDate>, StoreError> {
    let rows: Vec<String> = conn.all(
        &format!("SELECT date FROM holidays WHERE date >= ?1 ORDER BY date LIMIT {AHEAD}"),
        &[&from.to_string()],
        |row| row.get(0),
    )?;
    rows.iter().map(|d| date_of(d)).collect()
}

/// Adds or renames a holiday; the name it had before, if any.
pub fn put(conn: &mut dyn Conn, holiday: &Holiday) -> Result<Option<String>, StoreError> {
    let before = on(conn, holiday.date)?;
    conn.execute(
        "INSERT INTO holidays (date, name) VALUES (?1, ?2)
         ON CONFLICT (date) DO UPDATE SET name = excluded.name",
        &[&holiday.date.to_string(), &holiday.name],
    )?;
    Ok(before)
}

/// Removes a holiday; the name it had, `None` when there was none.
pub fn delete(conn: &mut dyn Conn, date: NaiveDate) -> Result<Option<String>, StoreError> {
    let before = on(conn, date)?;
    conn.execute("DELETE FROM holidays WHERE date = ?1", &[&date.to_string()])?;
    Ok(before)
}

/// What the policy needs to judge a check-in at `at`: the schedule, and the business day's
/// holiday if the center keeps other hours on holidays (one indexed read, only then).
pub fn hours_at(
    conn: &mut dyn Conn,
    schedule: &Schedule,
    at: DateTime<Utc>,
) -> Result<CenterHours, StoreError> {
    let mut holidays = Vec::new();
    if schedule.holidays.is_some() {
        let day = schedule.business_date(at);
        if on(conn, day)?.is_some() {
            holidays.push(day);
        }
    }
    Ok(CenterHours {
        schedule: schedule.clone(),
        holidays,
    })
}

/// A center's hours as desks keep them: the schedule and the holidays from yesterday on.
pub fn for_desks(
    conn: &mut dyn Conn,
    schedule: &Schedule,
    now: DateTime<Utc>,
) -> Result<CenterHours, StoreError> {
    let yesterday = gymgate_shared::kst::date_of(now - chrono::Duration::days(1));
    Ok(CenterHours {
        schedule: schedule.clone(),
        holidays: from(conn, yesterday)?,
    })
}
