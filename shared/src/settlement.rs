//! The digest on a center's monthly statement, computed the same way by the server (from its
//! database) and by the desk (from its cache), so a center can see that no visit it saw was
//! left out of its statement or counted twice. The format is in docs/settlement.md.

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};

use crate::CenterId;
use crate::api::CheckinStatus;

/// A check-in as the digest sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub id: String,
    pub at: DateTime<Utc>,
    pub status: CheckinStatus,
}

/// Final statuses are in the digest; `pending` and `disputed` may still change, so they stay
/// out of it until decided (the statement counts open disputes apart).
pub fn is_counted(status: CheckinStatus) -> bool {
    matches!(
        status,
        CheckinStatus::Admitted
            | CheckinStatus::Voided
            | CheckinStatus::Denied
            | CheckinStatus::Expired
    )
}

/// The line a counted check-in adds to its day's chain.
fn line(c: &Counted) -> String {
    format!(
        "{}|{}|{}\n",
        c.id,
        crate::timefmt::to_text(c.at),
        c.status.as_str()
    )
}

/// The chain over one day's lines: sorted as bytes (times are fixed-width text, so text
/// order is time order; the id breaks ties), hashed one after the other.
fn chain(center: &CenterId, date: NaiveDate, mut lines: Vec<String>) -> DayDigest {
    lines.sort();
    let mut head: [u8; 32] =
        Sha256::digest(format!("gymgate-settlement-v1\n{center}\n{date}\n")).into();
    for line in &lines {
        let mut next = Sha256::new();
        next.update(head);
        next.update(line.as_bytes());
        head = next.finalize().into();
    }
    DayDigest {
        date,
        count: lines.len(),
        digest: hex(&head),
    }
}

/// One Korean day's digest (lowercase hex SHA-256): a hash chain over the day's counted
/// check-ins ordered by time, then id. Returns the digest and how many check-ins it covers.
pub fn day_digest(center: &CenterId, date: NaiveDate, checkins: &[Counted]) -> (String, usize) {
    let lines = checkins
        .iter()
        .filter(|c| is_counted(c.status) && crate::kst::date_of(c.at) == date)
        .map(line)
        .collect();
    let day = chain(center, date, lines);
    (day.digest, day.count)
}

/// A day on the statement.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DayDigest {
    pub date: NaiveDate,
    pub count: usize,
    pub digest: String,
}

/// Every day of `checkins` that has a counted check-in, in date order (one pass over them).
pub fn day_digests(center: &CenterId, checkins: &[Counted]) -> Vec<DayDigest> {
    let mut days: std::collections::BTreeMap<NaiveDate, Vec<String>> = Default::default();
    for c in checkins.iter().filter(|c| is_counted(c.status)) {
        days.entry(crate::kst::date_of(c.at))
            .or_default()
            .push(line(c));
    }
    days.into_iter()
        .map(|(date, lines)| chain(center, date, lines))
        .collect()
}

/// The month's digest over its days' digests (`YYYY-MM`).
pub fn month_digest(center: &CenterId, month: &str, days: &[DayDigest]) -> String {
    let mut hash = Sha256::new();
    hash.update(format!("gymgate-settlement-month-v1\n{center}\n{month}\n"));
    for day in days {
        hash.update(format!("{} {} {}\n", day.date, day.count, day.digest));
    }
    hex(&hash.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        crate::timefmt::from_text(text).expect("time")
    }

    fn counted(id: &str, time: &str, status: CheckinStatus) -> Counted {
        Counted {
            id: id.into(),
            at: at(time),
            status,
        }
    }

    #[test]
    fn order_does_not_matter_but_every_visit_does() {
        let center = CenterId::new("c1");
        let date = NaiveDate::from_ymd_opt(2026, 11, 20).expect("date");
        let a = counted("a", "2026-11-20T01:00:00.000000Z", CheckinStatus::Admitted);
        let b = counted("b", "2026-11-20T02:00:00.000000Z", CheckinStatus::Voided);
        let pending = counted("p", "2026-11-20T03:00:00.000000Z", CheckinStatus::Pending);
        let (one, n) = day_digest(&center, date, &[a.clone(), b.clone(), pending.clone()]);
        let (two, _) = day_digest(&center, date, &[pending, b.clone(), a.clone()]);
        assert_eq!((one.clone(), n), (two, 2));
        // A visit left out, counted twice, or with another status changes the digest.
        assert_ne!(day_digest(&center, date, std::slice::from_ref(&a)).0, one);
        assert_ne!(
            day_digest(&center, date, &[a.clone(), b.clone(), b.clone()]).0,
            one
        );
        let admitted_b = Counted {
            status: CheckinStatus::Admitted,
            ..b
        };
        assert_ne!(day_digest(&center, date, &[a, admitted_b]).0, one);
        // Another center's chain never matches.
        assert_ne!(
            day_digest(&CenterId::new("c2"), date, &[]).0,
            day_digest(&center, date, &[]).0
        );
    }

    #[test]
    fn days_are_korean_days() {
        let center = CenterId::new("c1");
        // 23:30 UTC on the 19th is 08:30 on the 20th in Korea.
        let late = counted("x", "2026-11-19T23:30:00.000000Z", CheckinStatus::Admitted);
        let days = day_digests(&center, &[late]);
        assert_eq!(days.len(), 1);
        assert_eq!(days[0].date.to_string(), "2026-11-20");
        assert_eq!(days[0].count, 1);
        assert_eq!(month_digest(&center, "2026-11", &days).len(), 64);
    }
}
