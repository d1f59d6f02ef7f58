//! The check-in policy: may this member enter this center now?
//!
//! A pure function over facts the caller gathers, so the server (from its database) and the
//! desk (from its offline cache) reach the same answer for the same facts.

use chrono::{DateTime, Datelike, NaiveDate, Utc};

use crate::api::CheckinFlag;
pub use crate::hours::{CenterHours, OpeningHours};
use crate::kst;

/// A pass ending within this many days is flagged to staff.
pub const EXPIRING_SOON_DAYS: i64 = 7;

/// What staff should look at when a member walks in: the one rule for the server's cards, the
/// desk's own cards made offline, and lookups.
pub fn flags(
    first_visit_here: bool,
    valid_until: NaiveDate,
    birthday: Option<NaiveDate>,
    pending: bool,
    at: DateTime<Utc>,
) -> Vec<CheckinFlag> {
    let today = kst::date_of(at);
    let mut flags = Vec::new();
    if first_visit_here {
        flags.push(CheckinFlag::FirstVisit);
    }
    if (0..=EXPIRING_SOON_DAYS).contains(&(valid_until - today).num_days()) {
        flags.push(CheckinFlag::ExpiringSoon);
    }
    if birthday.is_some_and(|b| b.month() == today.month() && b.day() == today.day()) {
        flags.push(CheckinFlag::Birthday);
    }
    if pending {
        flags.push(CheckinFlag::PendingApproval);
    }
    flags
}

/// What the pass itself says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassFacts {
    pub blocked: bool,
    /// First Korean day the pass is valid.
    pub valid_from: NaiveDate,
    /// Last Korean day the pass is valid (inclusive).
    pub valid_until: NaiveDate,
    /// Visits allowed per Korean calendar month; `None` is unlimited.
    pub visits_per_month: Option<u32>,
}

/// What the member has already done, counted by the caller over the Korean day and month of
/// the check-in (see [`crate::kst::day_bounds`] and [`crate::kst::month_bounds`]). Only
/// admitted and pending check-ins count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VisitHistory {
    pub visits_this_month: u32,
    pub visited_this_center_today: bool,
}

/// Why a check-in is refused. `code()` is the wire error code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this membership is blocked; please ask the front desk")]
    MemberBlocked,
    #[error("the pass is not valid yet")]
    PassNotStarted,
    #[error("the pass has expired")]
    PassExpired,
    #[error("the center is closed now")]
    CenterClosed,
    #[error("already checked in at this center today")]
    AlreadyCheckedInToday,
    #[error("no visits left this month")]
    NoVisitsLeft,
}

impl Refusal {
    pub fn code(self) -> &'static str {
        match self {
            Refusal::MemberBlocked => "member_blocked",
            Refusal::PassNotStarted => "pass_not_started",
            Refusal::PassExpired => "pass_expired",
            Refusal::CenterClosed => "center_closed",
            Refusal::AlreadyCheckedInToday => "already_checked_in_today",
            Refusal::NoVisitsLeft => "no_visits_left",
        }
    }

    /// Plain Korean for members and staff.
    pub fn message_ko(self) -> &'static str {
        match self {
            Refusal::MemberBlocked => "이용이 정지된 회원입니다. 데스크에 문의해 주세요.",
            Refusal::PassNotStarted => "이용권 시작일 전입니다.",
            Refusal::PassExpired => "이용권 기간이 끝났습니다.",
            Refusal::CenterClosed => "지금은 센터 운영 시간이 아닙니다.",
            Refusal::AlreadyCheckedInToday => "오늘 이미 이 센터에 입장하셨습니다.",
            Refusal::NoVisitsLeft => "이번 달 이용 횟수를 모두 사용하셨습니다.",
        }
    }

    pub fn from_code(code: &str) -> Option<Refusal> {
        [
            Refusal::MemberBlocked,
            Refusal::PassNotStarted,
            Refusal::PassExpired,
            Refusal::CenterClosed,
            Refusal::AlreadyCheckedInToday,
            Refusal::NoVisitsLeft,
        ]
        .into_iter()
        .find(|r| r.code() == code)
    }
}

/// Visits left this month after `history`, or `None` when the plan is unlimited.
pub fn visits_left(pass: &PassFacts, history: &VisitHistory) -> Option<u32> {
    pass.visits_per_month
        .map(|allowed| allowed.saturating_sub(history.visits_this_month))
}

/// Decides whether a check-in at `at` may happen. Checks run from the most fundamental reason
/// to the most situational one, so the member hears the reason that matters: a blocked member
/// is told so even if their pass also expired, and someone who already came today is told
/// that rather than "no visits left".
pub fn evaluate(
    pass: &PassFacts,
    history: &VisitHistory,
    hours: &CenterHours,
    at: DateTime<Utc>,
) -> Result<(), Refusal> {
    let today = kst::date_of(at);
    if pass.blocked {
        return Err(Refusal::MemberBlocked);
    }
    if today < pass.valid_from {
        return Err(Refusal::PassNotStarted);
    }
    if today > pass.valid_until {
        return Err(Refusal::PassExpired);
    }
    if !hours.is_open(at) {
        return Err(Refusal::CenterClosed);
    }
    if history.visited_this_center_today {
        return Err(Refusal::AlreadyCheckedInToday);
    }
    if visits_left(pass, history) == Some(0) {
        return Err(Refusal::NoVisitsLeft);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("rfc3339")
            .with_timezone(&Utc)
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    fn pass() -> PassFacts {
        PassFacts {
            blocked: false,
            valid_from: date("2026-03-01"),
            valid_until: date("2026-03-31"),
            visits_per_month: Some(8),
        }
    }

    #[test]
    fn admits_a_valid_pass() {
        let at = utc("2026-03-10T01:00:00Z");
        assert_eq!(
            evaluate(
                &pass(),
                &VisitHistory::default(),
                &CenterHours::always(),
                at
            ),
            Ok(())
        );
    }

    #[test]
    fn validity_dates_are_korean_days() {
        let p = pass();
        let none = VisitHistory::default();
        // 2026-02-28T15:00Z is already March 1st 00:00 in Korea: the first valid minute.
        assert_eq!(
            evaluate(
                &p,
                &none,
                &CenterHours::always(),
                utc("2026-02-28T14:59:59Z")
            ),
            Err(Refusal::PassNotStarted)
        );
        assert_eq!(
            evaluate(
                &p,
                &none,
                &CenterHours::always(),
                utc("2026-02-28T15:00:00Z")
            ),
            Ok(())
        );
        // valid_until is inclusive: the last valid moment is March 31st 23:59 KST.
        assert_eq!(
            evaluate(
                &p,
                &none,
                &CenterHours::always(),
                utc("2026-03-31T14:59:59Z")
            ),
            Ok(())
        );
        assert_eq!(
            evaluate(
                &p,
                &none,
                &CenterHours::always(),
                utc("2026-03-31T15:00:00Z")
            ),
            Err(Refusal::PassExpired)
        );
    }

    #[test]
    fn counts_visits_per_month() {
        let at = utc("2026-03-10T01:00:00Z");
        let seven = VisitHistory {
            visits_this_month: 7,
            visited_this_center_today: false,
        };
        let eight = VisitHistory {
            visits_this_month: 8,
            ..seven
        };
        assert_eq!(visits_left(&pass(), &seven), Some(1));
        assert_eq!(
            evaluate(&pass(), &seven, &CenterHours::always(), at),
            Ok(())
        );
        assert_eq!(
            evaluate(&pass(), &eight, &CenterHours::always(), at),
            Err(Refusal::NoVisitsLeft)
        );
        let unlimited = PassFacts {
            visits_per_month: None,
            ..pass()
        };
        assert_eq!(visits_left(&unlimited, &eight), None);
        assert_eq!(
            evaluate(&unlimited, &eight, &CenterHours::always(), at),
            Ok(())
        );
    }

    #[test]
    fn reasons_come_in_order_of_importance() {
        let at = utc("2026-04-10T01:00:00Z");
        let used_up_today = VisitHistory {
            visits_this_month: 8,
            visited_this_center_today: true,
        };
        let blocked = PassFacts {
            blocked: true,
            ..pass()
        };
        assert_eq!(
            evaluate(&blocked, &used_up_today, &CenterHours::always(), at),
            Err(Refusal::MemberBlocked)
        );
        assert_eq!(
            evaluate(&pass(), &used_up_today, &CenterHours::always(), at),
            Err(Refusal::PassExpired)
        );
        let march = utc("2026-03-10T01:00:00Z");
        assert_eq!(
            evaluate(&pass(), &used_up_today, &CenterHours::always(), march),
            Err(Refusal::AlreadyCheckedInToday)
        );
    }

    #[test]
    fn a_closed_center_refuses_in_korean_time() {
        let hours = CenterHours {
            schedule: crate::hours::Schedule::uniform(crate::hours::DayHours::Open(
                OpeningHours::parse("06:00-23:00").expect("parse"),
            )),
            holidays: vec![],
        };
        let p = pass();
        // 20:00Z is 05:00 KST: closed; 21:00Z is 06:00 KST: open.
        assert_eq!(
            evaluate(
                &p,
                &VisitHistory::default(),
                &hours,
                utc("2026-03-09T20:00:00Z")
            ),
            Err(Refusal::CenterClosed)
        );
        assert_eq!(
            evaluate(
                &p,
                &VisitHistory::default(),
                &hours,
                utc("2026-03-09T21:00:00Z")
            ),
            Ok(())
        );
    }

    #[test]
    fn flags_are_in_korean_days() {
        // 2026-03-10 09:00 KST.
        let at = utc("2026-03-10T00:00:00Z");
        assert_eq!(
            flags(true, date("2026-03-17"), Some(date("1990-03-10")), true, at),
            vec![
                CheckinFlag::FirstVisit,
                CheckinFlag::ExpiringSoon,
                CheckinFlag::Birthday,
                CheckinFlag::PendingApproval
            ]
        );
        assert!(
            flags(
                false,
                date("2026-03-18"),
                Some(date("1990-03-11")),
                false,
                at
            )
            .is_empty()
        );
        // 23:30 UTC on the 9th is already the 10th in Korea.
        assert_eq!(
            flags(
                false,
                date("2027-01-01"),
                Some(date("1990-03-10")),
                false,
                utc("2026-03-09T23:30:00Z")
            ),
            vec![CheckinFlag::Birthday]
        );
    }

    #[test]
    fn refusal_codes_round_trip() {
        for r in [
            Refusal::MemberBlocked,
            Refusal::PassNotStarted,
            Refusal::PassExpired,
            Refusal::CenterClosed,
            Refusal::AlreadyCheckedInToday,
            Refusal::NoVisitsLeft,
        ] {
            assert_eq!(Refusal::from_code(r.code()), Some(r));
            assert!(!r.message_ko().is_empty());
        }
        assert_eq!(Refusal::from_code("nope"), None);
    }
}
