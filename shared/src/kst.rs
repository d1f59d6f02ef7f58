//! Korean local time. A member's "day" and "month" are Korean ones, whatever the server's or
//! the desk's clock zone is. Korea has kept UTC+9 without daylight saving since 1988, so a
//! fixed offset is exact and avoids shipping a time-zone database to every desk.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveTime, Offset, Timelike, Utc};

const OFFSET_SECONDS: i32 = 9 * 3600;

pub fn offset() -> FixedOffset {
    // 9 hours is well within ±24 h, so this cannot fail; fall back to UTC to stay panic-free.
    FixedOffset::east_opt(OFFSET_SECONDS).unwrap_or_else(|| Utc.fix())
}

/// The Korean calendar date of an instant.
pub fn date_of(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&offset()).date_naive()
}

/// Minutes since Korean midnight (0..1440).
pub fn minute_of_day(at: DateTime<Utc>) -> u16 {
    let local = at.with_timezone(&offset());
    // hour < 24 and minute < 60, so this fits in u16.
    (local.hour() * 60 + local.minute()) as u16
}

/// The UTC instant at which a Korean calendar date begins.
pub fn start_of(date: NaiveDate) -> DateTime<Utc> {
    let local = date.and_time(NaiveTime::MIN);
    DateTime::<Utc>::from_naive_utc_and_offset(
        local - chrono::Duration::seconds(i64::from(OFFSET_SECONDS)),
        Utc,
    )
}

/// `[start, end)` of the Korean day containing `at`, in UTC.
pub fn day_bounds(at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let date = date_of(at);
    let next = date.succ_opt().unwrap_or(date);
    (start_of(date), start_of(next))
}

/// `[start, end)` of the Korean calendar month containing `at`, in UTC.
pub fn month_bounds(at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
    let date = date_of(at);
    let first = date.with_day(1).unwrap_or(date);
    let next = if first.month() == 12 {
        NaiveDate::from_ymd_opt(first.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(first.year(), first.month() + 1, 1)
    }
    .unwrap_or(first);
    (start_of(first), start_of(next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("rfc3339")
            .with_timezone(&Utc)
    }

    #[test]
    fn korean_day_starts_at_15_utc() {
        // 14:59 UTC on the 1st is 23:59 KST on the 1st; 15:00 UTC is already the 2nd in Korea.
        assert_eq!(
            date_of(utc("2026-03-01T14:59:59Z")).to_string(),
            "2026-03-01"
        );
        assert_eq!(
            date_of(utc("2026-03-01T15:00:00Z")).to_string(),
            "2026-03-02"
        );
        let (start, end) = day_bounds(utc("2026-03-01T20:00:00Z"));
        assert_eq!(start, utc("2026-03-01T15:00:00Z"));
        assert_eq!(end, utc("2026-03-02T15:00:00Z"));
    }

    #[test]
    fn korean_month_bounds_cross_the_utc_month() {
        // 2026-01-31T16:00Z is Feb 1st 01:00 in Korea: February's month.
        let (start, end) = month_bounds(utc("2026-01-31T16:00:00Z"));
        assert_eq!(start, utc("2026-01-31T15:00:00Z"));
        assert_eq!(end, utc("2026-02-28T15:00:00Z"));
        let (start, end) = month_bounds(utc("2026-12-15T00:00:00Z"));
        assert_eq!(start, utc("2026-11-30T15:00:00Z"));
        assert_eq!(end, utc("2026-12-31T15:00:00Z"));
    }

    #[test]
    fn minute_of_day_is_korean() {
        assert_eq!(minute_of_day(utc("2026-03-01T15:00:00Z")), 0);
        assert_eq!(minute_of_day(utc("2026-03-01T00:30:00Z")), 9 * 60 + 30);
    }
}
