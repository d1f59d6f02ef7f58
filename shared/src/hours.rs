//! Opening hours as centers have them: hours per weekday (possibly past midnight), hours on
//! public holidays, and closures for date ranges.
//!
//! A visit belongs to the center's **business day**, not the calendar day: at a center open
//! 06:00–02:00, 23:30 and 00:30 are the same day. A business day begins at the latest closing
//! time past midnight of the week ([`Schedule::day_start`], 00:00 for a center that never
//! stays open past midnight); every opening must be at or after it, so each day's hours lie
//! inside that day. The server (taps, offline records, disputes, the center-offline alert) and
//! both desks (offline check-ins) use these same functions, or, in the browser, code checked
//! against them by the conformance vectors.

use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::kst;

const DAY_MINUTES: u16 = 24 * 60;

/// One span in Korean local minutes since midnight. `opens == closes` means open all day;
/// `closes < opens` runs past midnight (e.g. 06:00–01:00).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OpeningHours {
    pub opens: u16,
    pub closes: u16,
}

impl OpeningHours {
    pub const ALWAYS: OpeningHours = OpeningHours {
        opens: 0,
        closes: 0,
    };

    /// Parses `"06:00-23:00"`; `"24h"` is always open.
    pub fn parse(text: &str) -> Option<OpeningHours> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("24h") || text == "24시간" {
            return Some(Self::ALWAYS);
        }
        let (opens, closes) = text.split_once(['-', '~'])?;
        Some(OpeningHours {
            opens: parse_hhmm(opens)?,
            closes: parse_hhmm(closes)?,
        })
    }

    fn is_always(&self) -> bool {
        self.opens == self.closes
    }

    /// Whether the Korean local time of `at` falls inside the span, on any day (a span past
    /// midnight covers both ends of the night). Used for hours that repeat daily, such as a
    /// rollout's quiet hours, not for a center's business day.
    pub fn covers(&self, at: DateTime<Utc>) -> bool {
        let minute = kst::minute_of_day(at);
        if self.is_always() {
            true
        } else if self.past_midnight() {
            minute >= self.opens || minute < self.closes
        } else {
            self.opens <= minute && minute < self.closes
        }
    }

    /// A daily window operators set (quiet hours): `"02:00-05:00"`, never all day.
    pub fn parse_window(text: &str) -> Option<OpeningHours> {
        Self::parse(text).filter(|span| !span.is_always())
    }

    fn past_midnight(&self) -> bool {
        self.closes < self.opens
    }

    /// Whether `minute` (minutes since the business day's calendar midnight, `day_start` to
    /// `day_start + 1440`) falls inside the span.
    fn contains(&self, minute: u16) -> bool {
        if self.is_always() {
            return true;
        }
        let closes = if self.past_midnight() {
            self.closes + DAY_MINUTES
        } else {
            self.closes
        };
        self.opens <= minute && minute < closes
    }
}

impl std::fmt::Display for OpeningHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.is_always() {
            return f.write_str("24h");
        }
        write!(
            f,
            "{:02}:{:02}-{:02}:{:02}",
            self.opens / 60,
            self.opens % 60,
            self.closes / 60,
            self.closes % 60
        )
    }
}

fn parse_hhmm(text: &str) -> Option<u16> {
    let (h, m) = text.trim().split_once(':')?;
    let (h, m): (u16, u16) = (h.trim().parse().ok()?, m.trim().parse().ok()?);
    // "24:00" as a closing time is midnight.
    if h == 24 && m == 0 {
        return Some(0);
    }
    (h < 24 && m < 60).then_some(h * 60 + m)
}

/// A day's hours: closed, or open for one span. On the wire and in CSV: `"06:00-23:00"`,
/// `"24h"` or `"closed"` (`"휴무"` is read too).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum DayHours {
    Closed,
    Open(OpeningHours),
}

impl DayHours {
    pub const ALWAYS: DayHours = DayHours::Open(OpeningHours::ALWAYS);

    pub fn parse(text: &str) -> Option<DayHours> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("closed") || text == "휴무" {
            return Some(DayHours::Closed);
        }
        OpeningHours::parse(text).map(DayHours::Open)
    }

    /// Korean for people: `06:00-23:00`, `24시간`, `휴무`.
    pub fn label_ko(&self) -> String {
        match self {
            DayHours::Closed => "휴무".into(),
            DayHours::Open(h) if h.is_always() => "24시간".into(),
            DayHours::Open(h) => h.to_string(),
        }
    }

    fn span(&self) -> Option<OpeningHours> {
        match self {
            DayHours::Closed => None,
            DayHours::Open(h) => Some(*h),
        }
    }
}

impl std::fmt::Display for DayHours {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DayHours::Closed => f.write_str("closed"),
            DayHours::Open(h) => h.fmt(f),
        }
    }
}

impl From<DayHours> for String {
    fn from(day: DayHours) -> String {
        day.to_string()
    }
}

impl TryFrom<String> for DayHours {
    type Error = String;
    fn try_from(text: String) -> Result<DayHours, String> {
        DayHours::parse(&text).ok_or_else(|| format!("not a day's hours: {text:?}"))
    }
}

/// A center closed for whole days, `from` to `to` inclusive (business days).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Closure {
    pub from: NaiveDate,
    pub to: NaiveDate,
    #[serde(default)]
    pub reason: String,
}

/// The weekday names, Monday first, as the CSV header and the console use them.
pub const WEEKDAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
pub const WEEKDAYS_KO: [&str; 7] = ["월", "화", "수", "목", "금", "토", "일"];

/// Most closures one center keeps (a year of odd days off is far fewer).
pub const MAX_CLOSURES: usize = 200;
pub const MAX_REASON_CHARS: usize = 100;

/// A center's hours as operators set them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    /// Monday first.
    pub week: [DayHours; 7],
    /// Hours on public holidays; `None` keeps the weekday's hours.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub holidays: Option<DayHours>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub closures: Vec<Closure>,
}

/// Why a schedule cannot be kept; `message()` is Korean then English, for the console.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    #[error("{day} opens at {opens} before the business day starts at {day_start}")]
    OpensBeforeDayStart {
        day: String,
        opens: String,
        day_start: String,
    },
    #[error("a closure ends before it starts: {0}")]
    ClosureBackwards(String),
    #[error("too many closures (at most {MAX_CLOSURES})")]
    TooManyClosures,
}

impl ScheduleError {
    pub fn message(&self) -> String {
        match self {
            ScheduleError::OpensBeforeDayStart {
                day,
                opens,
                day_start,
            } => format!(
                "{day} 개점 시간 {opens}이(가) 전날 영업이 끝나는 {day_start}보다 이릅니다 / {self}"
            ),
            ScheduleError::ClosureBackwards(range) => {
                format!("휴관 기간의 끝이 시작보다 앞입니다: {range} / {self}")
            }
            ScheduleError::TooManyClosures => {
                format!("휴관 기간은 {MAX_CLOSURES}개까지 둘 수 있습니다 / {self}")
            }
        }
    }
}

fn hhmm(minute: u16) -> String {
    format!("{:02}:{:02}", minute / 60, minute % 60)
}

impl Schedule {
    /// Open every day, all day: the default of a new center.
    pub fn always() -> Schedule {
        Schedule::uniform(DayHours::ALWAYS)
    }

    pub fn uniform(day: DayHours) -> Schedule {
        Schedule {
            week: [day; 7],
            holidays: None,
            closures: Vec::new(),
        }
    }

    fn days(&self) -> impl Iterator<Item = (&'static str, &DayHours)> {
        WEEKDAYS_KO
            .into_iter()
            .zip(self.week.iter())
            .chain(self.holidays.iter().map(|h| ("공휴일", h)))
    }

    /// Minutes after calendar midnight at which a business day begins: the latest closing time
    /// past midnight of any day (0 when no day runs past midnight).
    pub fn day_start(&self) -> u16 {
        self.days()
            .filter_map(|(_, d)| d.span())
            .filter(|h| h.past_midnight())
            .map(|h| h.closes)
            .max()
            .unwrap_or(0)
    }

    /// Checks what the functions below rely on, and trims closure reasons.
    pub fn validated(mut self) -> Result<Schedule, ScheduleError> {
        let day_start = self.day_start();
        for (day, hours) in self.days() {
            if let Some(span) = hours.span()
                && !span.is_always()
                && span.opens < day_start
            {
                return Err(ScheduleError::OpensBeforeDayStart {
                    day: day.into(),
                    opens: hhmm(span.opens),
                    day_start: hhmm(day_start),
                });
            }
        }
        if self.closures.len() > MAX_CLOSURES {
            return Err(ScheduleError::TooManyClosures);
        }
        for closure in &mut self.closures {
            if closure.to < closure.from {
                return Err(ScheduleError::ClosureBackwards(format!(
                    "{}~{}",
                    closure.from, closure.to
                )));
            }
            closure.reason = closure
                .reason
                .trim()
                .replace(';', ",")
                .chars()
                .take(MAX_REASON_CHARS)
                .collect();
        }
        self.closures.sort_by_key(|c| c.from);
        Ok(self)
    }

    /// The business day an instant belongs to.
    pub fn business_date(&self, at: DateTime<Utc>) -> NaiveDate {
        kst::date_of(at - Duration::minutes(i64::from(self.day_start())))
    }

    /// `[start, end)` of the business day containing `at`, in UTC: what "once per center per
    /// day" counts over.
    pub fn day_bounds(&self, at: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let start =
            kst::start_of(self.business_date(at)) + Duration::minutes(i64::from(self.day_start()));
        (start, start + Duration::days(1))
    }

    /// The hours of one business day: a closure first, then holiday hours, then the weekday.
    pub fn hours_on(&self, date: NaiveDate, holiday: bool) -> DayHours {
        if self.closures.iter().any(|c| c.from <= date && date <= c.to) {
            return DayHours::Closed;
        }
        match (holiday, self.holidays) {
            (true, Some(hours)) => hours,
            _ => self.week[date.weekday().num_days_from_monday() as usize],
        }
    }

    /// Korean for people, runs of equal days folded: `월–금 06:00-23:00 · 토 09:00-18:00 · 일
    /// 휴무 · 공휴일 휴무`, or just `24시간`.
    pub fn summary_ko(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        let mut i = 0;
        while i < 7 {
            let mut j = i;
            while j + 1 < 7 && self.week[j + 1] == self.week[i] {
                j += 1;
            }
            let days = match (i, j) {
                (0, 6) => String::new(),
                (i, j) if i == j => format!("{} ", WEEKDAYS_KO[i]),
                (i, j) => format!("{}–{} ", WEEKDAYS_KO[i], WEEKDAYS_KO[j]),
            };
            parts.push(format!("{days}{}", self.week[i].label_ko()));
            i = j + 1;
        }
        if let Some(h) = self.holidays {
            parts.push(format!("공휴일 {}", h.label_ko()));
        }
        if !self.closures.is_empty() {
            parts.push(format!("휴관 {}건", self.closures.len()));
        }
        parts.join(" · ")
    }
}

/// What the policy needs: a center's schedule and the public holidays it applies to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CenterHours {
    pub schedule: Schedule,
    /// Public holidays (Korean dates). The server sends desks those from yesterday on; on the
    /// server it may hold just the business day in question.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub holidays: Vec<NaiveDate>,
}

impl CenterHours {
    pub fn always() -> CenterHours {
        CenterHours {
            schedule: Schedule::always(),
            holidays: Vec::new(),
        }
    }

    /// The hours of the business day `at` belongs to.
    pub fn hours_at(&self, at: DateTime<Utc>) -> (NaiveDate, DayHours) {
        let date = self.schedule.business_date(at);
        let hours = self.schedule.hours_on(date, self.holidays.contains(&date));
        (date, hours)
    }

    pub fn is_open(&self, at: DateTime<Utc>) -> bool {
        let (date, hours) = self.hours_at(at);
        let Some(span) = hours.span() else {
            return false;
        };
        let minutes = (at - kst::start_of(date)).num_minutes();
        // Within the business day the offset is day_start..day_start + 1440 < 2880 minutes.
        u16::try_from(minutes).is_ok_and(|m| span.contains(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("rfc3339")
            .with_timezone(&Utc)
    }

    fn day(text: &str) -> DayHours {
        DayHours::parse(text).expect("day hours")
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().expect("date")
    }

    #[test]
    fn a_visit_past_midnight_belongs_to_the_day_before() {
        let hours = CenterHours {
            schedule: Schedule::uniform(day("06:00-02:00")),
            holidays: vec![],
        };
        assert_eq!(hours.schedule.day_start(), 120);
        // 23:30 and 00:30 KST on the night of March 9th: one business day, March 9th.
        let late = utc("2026-03-09T14:30:00Z");
        let later = utc("2026-03-09T15:30:00Z");
        assert_eq!(hours.schedule.business_date(late), date("2026-03-09"));
        assert_eq!(hours.schedule.business_date(later), date("2026-03-09"));
        assert_eq!(
            hours.schedule.day_bounds(later),
            (utc("2026-03-08T17:00:00Z"), utc("2026-03-09T17:00:00Z"))
        );
        assert!(hours.is_open(late) && hours.is_open(later));
        // 02:00 KST closed, 05:59 closed, 06:00 open (the 10th).
        assert!(!hours.is_open(utc("2026-03-09T17:00:00Z")));
        assert!(!hours.is_open(utc("2026-03-09T20:59:00Z")));
        assert!(hours.is_open(utc("2026-03-09T21:00:00Z")));
        assert_eq!(
            hours.schedule.business_date(utc("2026-03-09T21:00:00Z")),
            date("2026-03-10")
        );
    }

    #[test]
    fn weekdays_holidays_and_closures() {
        let mut schedule = Schedule::uniform(day("06:00-23:00"));
        schedule.week[6] = DayHours::Closed; // Sunday
        schedule.week[5] = day("09:00-18:00"); // Saturday
        schedule.holidays = Some(DayHours::Closed);
        schedule.closures.push(Closure {
            from: date("2026-12-24"),
            to: date("2026-12-26"),
            reason: "내부 공사".into(),
        });
        let schedule = schedule.validated().expect("valid");
        let hours = CenterHours {
            schedule,
            holidays: vec![date("2026-09-24"), date("2026-09-25")],
        };
        // Saturday 2026-03-14 10:00 KST open, 19:00 closed; Sunday 10:00 closed.
        assert!(hours.is_open(utc("2026-03-14T01:00:00Z")));
        assert!(!hours.is_open(utc("2026-03-14T10:00:00Z")));
        assert!(!hours.is_open(utc("2026-03-15T01:00:00Z")));
        // Chuseok (Thursday 2026-09-24) closed; the Wednesday before open.
        assert!(!hours.is_open(utc("2026-09-24T01:00:00Z")));
        assert!(hours.is_open(utc("2026-09-23T01:00:00Z")));
        // The closure, both ends inclusive.
        assert!(!hours.is_open(utc("2026-12-24T01:00:00Z")));
        assert!(!hours.is_open(utc("2026-12-26T01:00:00Z")));
        assert!(hours.is_open(utc("2026-12-28T01:00:00Z")));
        assert_eq!(
            hours.schedule.summary_ko(),
            "월–금 06:00-23:00 · 토 09:00-18:00 · 일 휴무 · 공휴일 휴무 · 휴관 1건"
        );
        assert_eq!(Schedule::always().summary_ko(), "24시간");
    }

    #[test]
    fn an_all_day_day_after_a_late_night_runs_from_day_start_to_day_start() {
        let mut schedule = Schedule::uniform(day("24h"));
        schedule.week[4] = day("06:00-03:00"); // Friday past midnight
        let hours = CenterHours {
            schedule: schedule.validated().expect("valid"),
            holidays: vec![],
        };
        // Saturday 2026-03-14 02:30 KST still Friday's (open); 03:00 Saturday's (all day).
        assert!(hours.is_open(utc("2026-03-13T17:30:00Z")));
        assert_eq!(
            hours.schedule.business_date(utc("2026-03-13T17:30:00Z")),
            date("2026-03-13")
        );
        assert!(hours.is_open(utc("2026-03-13T18:00:00Z")));
        // Friday 02:59 KST is still Thursday's all-day business day.
        assert!(hours.is_open(utc("2026-03-12T17:59:00Z")));
        assert_eq!(
            hours.schedule.business_date(utc("2026-03-12T17:59:00Z")),
            date("2026-03-12")
        );
        // Friday 03:30 is in Friday's day but before it opens at 06:00.
        assert!(!hours.is_open(utc("2026-03-12T18:30:00Z")));
    }

    #[test]
    fn impossible_schedules_are_refused_in_korean() {
        let mut schedule = Schedule::uniform(day("06:00-23:00"));
        schedule.week[4] = day("18:00-04:00");
        schedule.week[5] = day("03:00-12:00");
        let error = schedule
            .validated()
            .expect_err("opens before the day start");
        assert!(
            error.message().contains("토 개점 시간 03:00"),
            "{}",
            error.message()
        );
        let mut backwards = Schedule::always();
        backwards.closures.push(Closure {
            from: date("2026-12-26"),
            to: date("2026-12-24"),
            reason: String::new(),
        });
        assert!(matches!(
            backwards.validated(),
            Err(ScheduleError::ClosureBackwards(_))
        ));
    }

    #[test]
    fn day_hours_text_round_trips() {
        for text in ["06:00-23:00", "24h", "closed", "18:00-02:00"] {
            assert_eq!(day(text).to_string(), text);
        }
        assert_eq!(day("휴무"), DayHours::Closed);
        assert_eq!(day("06:00-24:00"), day("06:00-00:00"));
        assert_eq!(day("06:00~23:00"), day("06:00-23:00"));
        assert_eq!(DayHours::parse("25:00-01:00"), None);
        assert_eq!(DayHours::parse("매일"), None);
        let schedule = Schedule::uniform(day("06:00-23:00"));
        let json = serde_json::to_string(&schedule).expect("json");
        assert!(json.contains("\"06:00-23:00\""), "{json}");
        assert_eq!(
            serde_json::from_str::<Schedule>(&json).expect("back"),
            schedule
        );
        assert!(serde_json::from_str::<Schedule>(r#"{"week":["x","","","","","",""]}"#).is_err());
    }

    #[test]
    fn a_daily_window_covers_its_korean_hours_on_any_night() {
        let night = OpeningHours::parse_window("23:00-05:00").expect("window");
        // 22:59 KST is 13:59Z; 23:00 KST 14:00Z; 04:59 KST 19:59Z; 05:00 KST 20:00Z.
        assert!(!night.covers(utc("2026-12-03T13:59:00Z")));
        assert!(night.covers(utc("2026-12-03T14:00:00Z")));
        assert!(night.covers(utc("2026-12-03T19:59:00Z")));
        assert!(!night.covers(utc("2026-12-03T20:00:00Z")));
        let early = OpeningHours::parse_window("02:00-05:00").expect("window");
        assert!(early.covers(utc("2026-12-03T17:30:00Z")));
        assert!(!early.covers(utc("2026-12-03T14:30:00Z")));
        assert_eq!(
            OpeningHours::parse_window("24h"),
            None,
            "all day is no window"
        );
        assert_eq!(OpeningHours::parse_window("03:00-03:00"), None);
        assert_eq!(OpeningHours::parse_window("3시"), None);
    }
}
