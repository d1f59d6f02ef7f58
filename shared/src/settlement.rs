//! The digest on a center's monthly statement, computed the same way by the server (from its
//! database) and by the desk (from its cache), so a center can see that no visit it saw was
//! left out of its statement or counted twice. The format is in docs/settlement.md.

use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest, Sha256};

use crate::CenterId;
use crate::api::CheckinStatus;
pub use crate::api::DayDigest;

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

/// A day of a statement with what it counted, so a desk can say what differs, not just that
/// something does.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StatementDay {
    #[serde(flatten)]
    pub day: DayDigest,
    /// The day's counted check-ins: id and final status.
    pub checkins: Vec<(String, CheckinStatus)>,
}

/// Every day of `checkins` with a counted check-in, with the check-ins it counted.
pub fn statement_days(center: &CenterId, checkins: &[Counted]) -> Vec<StatementDay> {
    let mut by_day: std::collections::BTreeMap<NaiveDate, Vec<(String, CheckinStatus)>> =
        Default::default();
    for c in checkins.iter().filter(|c| is_counted(c.status)) {
        by_day
            .entry(crate::kst::date_of(c.at))
            .or_default()
            .push((c.id.clone(), c.status));
    }
    day_digests(center, checkins)
        .into_iter()
        .map(|day| StatementDay {
            checkins: by_day.remove(&day.date).unwrap_or_default(),
            day,
        })
        .collect()
}

/// How a desk's record of one day compares with the server's statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCheck {
    pub date: NaiveDate,
    pub server_count: usize,
    pub desk_count: usize,
    /// Same digest: the same visits with the same outcomes ("일치").
    pub matches: bool,
    /// Visits only the server counts (e.g. taps while this desk was off, or another desk's).
    pub only_on_server: Vec<String>,
    /// Visits this desk saw that the server does not count.
    pub only_on_desk: Vec<String>,
    /// Visits both hold with another outcome (voided on the server, admitted here …).
    pub different: Vec<String>,
}

/// Day by day: the server's statement against the desk's own record. A day only one side
/// has is compared against an empty day.
pub fn compare(server: &[StatementDay], desk: &[StatementDay]) -> Vec<DayCheck> {
    let mut dates: Vec<NaiveDate> = server.iter().chain(desk).map(|d| d.day.date).collect();
    dates.sort();
    dates.dedup();
    dates
        .into_iter()
        .map(|date| {
            let find = |days: &[StatementDay]| days.iter().find(|d| d.day.date == date).cloned();
            let (theirs, ours) = (find(server), find(desk));
            let map =
                |d: &Option<StatementDay>| -> std::collections::BTreeMap<String, CheckinStatus> {
                    d.iter().flat_map(|d| d.checkins.iter().cloned()).collect()
                };
            let (s, k) = (map(&theirs), map(&ours));
            DayCheck {
                date,
                server_count: theirs.as_ref().map_or(0, |d| d.day.count),
                desk_count: ours.as_ref().map_or(0, |d| d.day.count),
                matches: theirs.as_ref().map(|d| &d.day.digest)
                    == ours.as_ref().map(|d| &d.day.digest),
                only_on_server: s
                    .keys()
                    .filter(|id| !k.contains_key(*id))
                    .cloned()
                    .collect(),
                only_on_desk: k
                    .keys()
                    .filter(|id| !s.contains_key(*id))
                    .cloned()
                    .collect(),
                different: s
                    .iter()
                    .filter(|(id, status)| k.get(*id).is_some_and(|other| other != *status))
                    .map(|(id, _)| id.clone())
                    .collect(),
            }
        })
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

    #[test]
    fn a_desk_is_told_day_by_day_what_differs() {
        let center = CenterId::new("c1");
        let a = counted("a", "2026-11-20T01:00:00.000000Z", CheckinStatus::Admitted);
        let b = counted("b", "2026-11-20T02:00:00.000000Z", CheckinStatus::Admitted);
        let c = counted("c", "2026-11-21T02:00:00.000000Z", CheckinStatus::Admitted);
        let voided_b = Counted {
            status: CheckinStatus::Voided,
            ..b.clone()
        };
        let server = statement_days(&center, &[a.clone(), voided_b, c.clone()]);
        let desk = statement_days(&center, &[a.clone(), b, c.clone()]);
        let checks = compare(&server, &desk);
        assert_eq!(checks.len(), 2);
        assert!(!checks[0].matches);
        assert_eq!(checks[0].different, ["b"]);
        assert!(checks[0].only_on_server.is_empty() && checks[0].only_on_desk.is_empty());
        assert!(checks[1].matches);
        let d = counted("d", "2026-11-22T02:00:00.000000Z", CheckinStatus::Admitted);
        let checks = compare(&server, &statement_days(&center, &[a, c, d]));
        assert_eq!(checks[0].only_on_server, ["b"]);
        assert_eq!(
            (checks[2].only_on_desk.clone(), checks[2].server_count),
            (vec!["d".to_owned()], 0)
        );
    }
}
