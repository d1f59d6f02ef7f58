//! Fraud signals: patterns in the visits that say a center (or a member's account) may be
//! making visits up (docs/settlement.md, "Fraud signals"). Read per center from the
//! `checkins_center_at` index over the rules' window, so the work is the window's visits, not
//! the whole history; the alert loop reads them every `signals_every`, the console on demand.

use std::collections::HashMap;

use chrono::{DateTime, Datelike, Utc};
use gymgate_shared::{CenterId, CheckinId, MemberId, kst};

use super::sql::Conn;
use super::{StoreError, parse_ts, ts};

/// Thresholds of the fraud rules (`config::Rules::fraud`).
#[derive(Debug, Clone)]
pub struct FraudRules {
    /// The span the shares and counts are taken over.
    pub window: chrono::Duration,
    /// Fewer visits than this at a center say nothing about its shares.
    pub min_visits: u64,
    /// A center whose share of staff-recorded visits is at least this, and at least
    /// `staff_share_factor` times the rest of the network's.
    pub staff_share_floor: f64,
    pub staff_share_factor: f64,
    /// Suspicious desk records (docs/settlement.md) at one center in the window.
    pub suspicious_records: u64,
    /// Faster than this between two centers is not one person travelling.
    pub travel_kmh: f64,
    /// Two visits further apart in time than this are not compared.
    pub travel_within: chrono::Duration,
    /// The last days of a month, and how many times a center's usual daily visits in them
    /// make a burst (with at least `min_visits` in them).
    pub month_end_days: u32,
    pub month_end_factor: f64,
    /// "Not me" answers at one center in the window.
    pub not_me: u64,
}

impl Default for FraudRules {
    fn default() -> Self {
        FraudRules {
            window: chrono::Duration::days(30),
            min_visits: 20,
            staff_share_floor: 0.3,
            staff_share_factor: 3.0,
            suspicious_records: 3,
            travel_kmh: 150.0,
            travel_within: chrono::Duration::hours(6),
            month_end_days: 3,
            month_end_factor: 2.5,
            not_me: 3,
        }
    }
}

/// What a signal is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalKind {
    /// Far more staff-recorded visits than the network's.
    StaffShare,
    /// Desk records that contradict what the server saw of the desk.
    SuspiciousRecords,
    /// One member at two centers farther apart than travel allows.
    ImpossibleTravel,
    /// A burst of visits in the last days of a month.
    MonthEndBurst,
    /// Many members saying a visit was not them.
    NotMe,
    /// One desk looking up far more members than it usually does (the `desk_lookups` alert;
    /// listed in the review queue with its figures, there are no visits behind it).
    DeskLookups,
}

impl SignalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SignalKind::StaffShare => "staff_share",
            SignalKind::SuspiciousRecords => "suspicious_records",
            SignalKind::ImpossibleTravel => "impossible_travel",
            SignalKind::MonthEndBurst => "month_end_burst",
            SignalKind::NotMe => "not_me",
            SignalKind::DeskLookups => "desk_lookups",
        }
    }
}

/// One signal, with the visits behind it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FraudSignal {
    pub kind: SignalKind,
    /// The center it is about (for travel: the later visit's).
    pub center_id: CenterId,
    pub center_name: String,
    /// A stable name for the alert: the kind and what it is about.
    pub key: String,
    pub text_ko: String,
    pub text_en: String,
    /// The visits behind it (at most [`VISITS_SHOWN`]).
    pub checkin_ids: Vec<CheckinId>,
}

/// Visits listed with a signal; the console links to each.
pub const VISITS_SHOWN: usize = 50;

/// Visits of one center in the window, as the rules count them.
#[derive(Debug, Default, Clone)]
struct Tally {
    counted: u64,
    staff: u64,
    staff_ids: Vec<CheckinId>,
    suspicious: Vec<CheckinId>,
    not_me: Vec<CheckinId>,
    month_end: u64,
    month_end_ids: Vec<CheckinId>,
    month_rest: u64,
}

fn push_capped(list: &mut Vec<CheckinId>, id: CheckinId) {
    if list.len() < VISITS_SHOWN {
        list.push(id);
    }
}

/// The month whose end is being watched at `now`, if any: the current month from its last
/// days on, or the one before for a week after it ended. Returns (month start, last days'
/// start, month end).
fn month_end_span(
    now: DateTime<Utc>,
    days: u32,
) -> Option<(DateTime<Utc>, DateTime<Utc>, DateTime<Utc>)> {
    let today = kst::date_of(now);
    let this_month = today.with_day(1)?;
    let last_month = this_month.checked_sub_months(chrono::Months::new(1))?;
    for first in [this_month, last_month] {
        let next = first.checked_add_months(chrono::Months::new(1))?;
        let (start, end) = (kst::start_of(first), kst::start_of(next));
        let last_days = end - chrono::Duration::days(days.into());
        if now >= last_days && now < end + chrono::Duration::days(7) {
            return Some((start, last_days, end));
        }
    }
    None
}

/// Every fraud signal at `now`.
pub fn fraud_signals(
    conn: &mut dyn Conn,
    now: DateTime<Utc>,
    rules: &FraudRules,
) -> Result<Vec<FraudSignal>, StoreError> {
    let centers: Vec<(CenterId, String, Option<i64>, Option<i64>)> = conn.all(
        "SELECT id, name, lat_e6, lon_e6 FROM centers ORDER BY id",
        &[],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let from = now - rules.window;
    let month = month_end_span(now, rules.month_end_days);
    let scan_from = month.map_or(from, |(start, _, _)| start.min(from));
    let travel_from = now - chrono::Duration::hours(24);
    let mut tallies: Vec<Tally> = Vec::with_capacity(centers.len());
    let mut recent: Vec<(MemberId, DateTime<Utc>, usize, CheckinId)> = Vec::new();
    for (index, (center, _, _, _)) in centers.iter().enumerate() {
        let mut tally = Tally::default();
        conn.query(
            "SELECT id, member_id, at, status, COALESCE(evidence, method), suspicion IS NOT NULL,
                    dispute_reason = 'not_me'
             FROM checkins WHERE center_id = ?1 AND at >= ?2 AND at < ?3",
            &[center, &ts(scan_from), &ts(now)],
            &mut |r| {
                let id: CheckinId = r.get(0)?;
                let member: MemberId = r.get(1)?;
                let at = parse_ts(&r.get::<String>(2)?)?;
                let status: String = r.get(3)?;
                let evidence: String = r.get(4)?;
                let suspicious: bool = r.get(5)?;
                let not_me = r.get::<Option<bool>>(6)?.unwrap_or(false);
                // What was counted as a visit, or was until its member said no.
                let counted = matches!(status.as_str(), "admitted" | "pending") || not_me;
                if let Some((start, last_days, end)) = month
                    && counted
                    && at >= start
                    && at < end
                {
                    if at >= last_days {
                        tally.month_end += 1;
                        push_capped(&mut tally.month_end_ids, id.clone());
                    } else {
                        tally.month_rest += 1;
                    }
                }
                if at < from {
                    return Ok(());
                }
                if counted {
                    tally.counted += 1;
                    if matches!(evidence.as_str(), "roster" | "manual") {
                        tally.staff += 1;
                        push_capped(&mut tally.staff_ids, id.clone());
                    }
                }
                if suspicious {
                    push_capped(&mut tally.suspicious, id.clone());
                }
                if not_me {
                    push_capped(&mut tally.not_me, id.clone());
                }
                if counted && at >= travel_from {
                    recent.push((member, at, index, id));
                }
                Ok(())
            },
        )?;
        tallies.push(tally);
    }
    let mut signals = Vec::new();
    let (all_counted, all_staff) = tallies
        .iter()
        .fold((0, 0), |(c, s), t| (c + t.counted, s + t.staff));
    for ((center, name, _, _), tally) in centers.iter().zip(&tallies) {
        let signal = |kind: SignalKind, ko: String, en: String, ids: &[CheckinId]| FraudSignal {
            kind,
            center_id: center.clone(),
            center_name: name.clone(),
            key: format!("{}:{center}", kind.as_str()),
            text_ko: format!("{name}: {ko}"),
            text_en: format!("{name}: {en}"),
            checkin_ids: ids.to_vec(),
        };
        if tally.counted >= rules.min_visits {
            let share = tally.staff as f64 / tally.counted as f64;
            let (rest_counted, rest_staff) = (all_counted - tally.counted, all_staff - tally.staff);
            let network = if rest_counted == 0 {
                0.0
            } else {
                rest_staff as f64 / rest_counted as f64
            };
            if share >= rules.staff_share_floor && share >= rules.staff_share_factor * network {
                let (pct, net) = ((share * 100.0).round(), (network * 100.0).round());
                signals.push(signal(
                    SignalKind::StaffShare,
                    format!(
                        "직원 기록 입장 비율 {pct}% (다른 센터 {net}%), {}건 중 {}건",
                        tally.counted, tally.staff
                    ),
                    format!(
                        "{pct}% of visits recorded by staff (the rest of the network {net}%), {} of {}",
                        tally.staff, tally.counted
                    ),
                    &tally.staff_ids,
                ));
            }
        }
        if tally.suspicious.len() as u64 >= rules.suspicious_records {
            let n = tally.suspicious.len();
            signals.push(signal(
                SignalKind::SuspiciousRecords,
                format!("온라인 데스크의 소급 기록 등 의심 기록 {n}건"),
                format!(
                    "{n} suspicious desk records (back-dated from an online desk and the like)"
                ),
                &tally.suspicious,
            ));
        }
        if tally.not_me.len() as u64 >= rules.not_me {
            let n = tally.not_me.len();
            signals.push(signal(
                SignalKind::NotMe,
                format!("회원의 '제가 아닙니다' 답변 {n}건"),
                format!("{n} members said a visit was not them"),
                &tally.not_me,
            ));
        }
        if let Some((start, last_days, end)) = month {
            let last_span = (now.min(end) - last_days).num_hours().max(1) as f64 / 24.0;
            let rest_days = ((last_days - start).num_hours().max(24) as f64 / 24.0).max(1.0);
            let usual = tally.month_rest as f64 / rest_days;
            let burst = tally.month_end as f64 / last_span;
            if tally.month_end >= rules.min_visits
                && burst > rules.month_end_factor * usual.max(1.0)
            {
                let (burst, usual) = (burst.round(), usual.round());
                signals.push(signal(
                    SignalKind::MonthEndBurst,
                    format!("월말 입장 급증: 하루 {burst}건 (평소 하루 {usual}건)"),
                    format!("month-end burst: {burst} visits a day (usually {usual})"),
                    &tally.month_end_ids,
                ));
            }
        }
    }
    signals.extend(impossible_travel(&centers, recent, rules));
    Ok(signals)
}

/// A member's consecutive visits at two centers with known places, closer in time than
/// the distance allows.
fn impossible_travel(
    centers: &[(CenterId, String, Option<i64>, Option<i64>)],
    mut recent: Vec<(MemberId, DateTime<Utc>, usize, CheckinId)>,
    rules: &FraudRules,
) -> Vec<FraudSignal> {
    recent.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
    let place = |index: usize| match centers.get(index) {
        Some((_, _, Some(lat), Some(lon))) => Some((*lat, *lon)),
        _ => None,
    };
    let mut found: HashMap<String, FraudSignal> = HashMap::new();
    for pair in recent.windows(2) {
        let [
            (member_a, at_a, center_a, id_a),
            (member_b, at_b, center_b, id_b),
        ] = pair
        else {
            continue;
        };
        if member_a != member_b || center_a == center_b || *at_b - *at_a > rules.travel_within {
            continue;
        }
        let (Some(a), Some(b)) = (place(*center_a), place(*center_b)) else {
            continue;
        };
        let km = gymgate_shared::geo::distance_km(
            gymgate_shared::geo::from_e6(a),
            gymgate_shared::geo::from_e6(b),
        );
        let hours = ((*at_b - *at_a).num_seconds().max(60)) as f64 / 3600.0;
        if km / hours <= rules.travel_kmh {
            continue;
        }
        let (Some((from_id, from_name, _, _)), Some((to_id, to_name, _, _))) =
            (centers.get(*center_a), centers.get(*center_b))
        else {
            continue;
        };
        let minutes = (hours * 60.0).round();
        let km = km.round();
        let key = format!(
            "{}:{member_b}:{from_id}:{to_id}",
            SignalKind::ImpossibleTravel.as_str()
        );
        found.insert(
            key.clone(),
            FraudSignal {
                kind: SignalKind::ImpossibleTravel,
                center_id: to_id.clone(),
                center_name: to_name.clone(),
                key,
                text_ko: format!(
                    "한 회원이 {minutes}분 만에 {from_name} → {to_name} ({km} km) 입장: 계정 공유나 대리 입장 의심"
                ),
                text_en: format!(
                    "one member entered {from_name} then {to_name} ({km} km) {minutes} minutes apart: a shared account or someone entering for them"
                ),
                checkin_ids: vec![id_a.clone(), id_b.clone()],
            },
        );
    }
    let mut signals: Vec<FraudSignal> = found.into_values().collect();
    signals.sort_by(|a, b| a.key.cmp(&b.key));
    signals
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::checkins::{self, Provenance};
    use crate::store::sqlite::{test_checkin, test_database};
    use gymgate_shared::api::{CheckinMethod, CheckinStatus, Evidence};

    fn visit(
        conn: &mut rusqlite::Connection,
        id: &str,
        member: &str,
        center: &str,
        at: DateTime<Utc>,
        evidence: Evidence,
        suspicion: Option<&str>,
    ) {
        let mut checkin = test_checkin(id, center, at, CheckinStatus::Admitted);
        checkin.member_id = MemberId::new(member);
        checkin.method = match evidence {
            Evidence::Roster => CheckinMethod::Roster,
            Evidence::Manual => CheckinMethod::Manual,
            Evidence::Pass => CheckinMethod::Pass,
            Evidence::App | Evidence::AppPresence => CheckinMethod::App,
        };
        checkins::insert(
            conn,
            &checkin,
            &Provenance {
                evidence,
                suspicion: suspicion.map(str::to_owned),
                ..Provenance::app(None)
            },
        )
        .expect("insert");
    }

    fn members(conn: &rusqlite::Connection, count: usize) {
        for i in 0..count {
            conn.execute(
                "INSERT INTO members (id, member_no, name, phone, pin_hash, plan_id, valid_from,
                                      valid_until, created_at)
                 VALUES (?1, ?1, '회원', '010', 'x', 1, '2020-01-01', '2099-12-31', '2026-01-01')",
                [format!("p{i}")],
            )
            .expect("member");
        }
    }

    fn kinds(signals: &[FraudSignal]) -> Vec<(SignalKind, String)> {
        signals
            .iter()
            .map(|s| (s.kind, s.center_id.to_string()))
            .collect()
    }

    /// Each rule raises on its pattern at one center and stays quiet at the center beside
    /// it with ordinary traffic.
    #[tokio::test]
    async fn each_rule_raises_on_its_pattern_and_not_on_normal_traffic() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (_store, mut conn) = test_database(&dir, &["honest", "staffed", "backfill", "denied"]);
        members(&conn, 40);
        // The 10th of a month at noon, Seoul time: no month end is watched.
        let now = kst::start_of(chrono::NaiveDate::from_ymd_opt(2026, 11, 10).expect("date"))
            + chrono::Duration::hours(12);
        let day = |d: i64| now - chrono::Duration::days(d);
        let rules = FraudRules {
            min_visits: 10,
            ..FraudRules::default()
        };
        for i in 0..20 {
            let member = format!("p{i}");
            visit(
                &mut conn,
                &format!("h{i}"),
                &member,
                "honest",
                day(i % 9 + 1),
                Evidence::App,
                None,
            );
            // Two in three recorded by staff here.
            let evidence = if i % 3 == 0 {
                Evidence::App
            } else {
                Evidence::Roster
            };
            visit(
                &mut conn,
                &format!("s{i}"),
                &member,
                "staffed",
                day(i % 9 + 1),
                evidence,
                None,
            );
        }
        for i in 0..4 {
            let member = format!("p{}", 20 + i);
            visit(
                &mut conn,
                &format!("b{i}"),
                &member,
                "backfill",
                day(2),
                Evidence::Roster,
                Some("after_empty_outbox"),
            );
            visit(
                &mut conn,
                &format!("d{i}"),
                &member,
                "denied",
                day(3),
                Evidence::App,
                None,
            );
        }
        // Members said "not me" to three visits at `denied`.
        for i in 0..3 {
            conn.execute(
                "UPDATE checkins SET status = 'disputed', dispute_reason = 'not_me',
                 confirmation = 'not_me' WHERE id = ?1",
                [format!("d{i}")],
            )
            .expect("not me");
        }
        let signals = fraud_signals(&mut conn, now, &rules).expect("signals");
        let mut found = kinds(&signals);
        found.sort_by_key(|(k, c)| (k.as_str(), c.clone()));
        assert_eq!(
            found,
            [
                (SignalKind::NotMe, "denied".into()),
                (SignalKind::StaffShare, "staffed".into()),
                (SignalKind::SuspiciousRecords, "backfill".into()),
            ],
            "{signals:#?}"
        );
        let staffed = signals
            .iter()
            .find(|s| s.kind == SignalKind::StaffShare)
            .expect("staff share");
        assert_eq!(
            staffed.checkin_ids.len(),
            13,
            "the staff-recorded visits behind it"
        );
        assert!(
            staffed.text_ko.contains("직원 기록 입장 비율"),
            "{}",
            staffed.text_ko
        );
    }

    #[tokio::test]
    async fn one_member_at_two_far_centers_too_soon_is_impossible_travel() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (_store, mut conn) = test_database(&dir, &["gangnam", "yeoksam", "haeundae"]);
        members(&conn, 2);
        for (id, lat, lon) in [
            ("gangnam", 37_497_900, 127_027_600),
            ("yeoksam", 37_500_600, 127_036_400),
            ("haeundae", 35_163_100, 129_163_600),
        ] {
            conn.execute(
                "UPDATE centers SET lat_e6 = ?2, lon_e6 = ?3 WHERE id = ?1",
                rusqlite::params![id, lat, lon],
            )
            .expect("place");
        }
        let now = kst::start_of(chrono::NaiveDate::from_ymd_opt(2026, 11, 10).expect("date"))
            + chrono::Duration::hours(12);
        let ago = |m: i64| now - chrono::Duration::minutes(m);
        // p0: Gangnam, then Haeundae (325 km) 40 minutes later.
        visit(
            &mut conn,
            "t1",
            "p0",
            "gangnam",
            ago(60),
            Evidence::App,
            None,
        );
        visit(
            &mut conn,
            "t2",
            "p0",
            "haeundae",
            ago(20),
            Evidence::App,
            None,
        );
        // p1: Gangnam, then Yeoksam next door 30 minutes later: a normal evening.
        visit(
            &mut conn,
            "n1",
            "p1",
            "gangnam",
            ago(50),
            Evidence::App,
            None,
        );
        visit(
            &mut conn,
            "n2",
            "p1",
            "yeoksam",
            ago(20),
            Evidence::App,
            None,
        );
        let signals = fraud_signals(&mut conn, now, &FraudRules::default()).expect("signals");
        assert_eq!(signals.len(), 1, "{signals:#?}");
        assert_eq!(signals[0].kind, SignalKind::ImpossibleTravel);
        assert_eq!(
            signals[0].checkin_ids,
            [CheckinId::new("t1"), CheckinId::new("t2")]
        );
        assert!(
            signals[0].text_ko.contains("gangnam → haeundae (322 km)"),
            "{}",
            signals[0].text_ko
        );
    }

    #[tokio::test]
    async fn a_burst_in_the_last_days_of_a_month_is_raised() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (_store, mut conn) = test_database(&dir, &["steady", "burst"]);
        members(&conn, 40);
        // The 29th of November at 20:00 Seoul: the month's last three days have begun.
        let now = kst::start_of(chrono::NaiveDate::from_ymd_opt(2026, 11, 29).expect("date"))
            + chrono::Duration::hours(20);
        let day = |d: u32, h: i64| {
            kst::start_of(chrono::NaiveDate::from_ymd_opt(2026, 11, d).expect("date"))
                + chrono::Duration::hours(h)
        };
        // Both centers: a visit a day through the month.
        for d in 1..=26 {
            for center in ["steady", "burst"] {
                let member = format!("p{}", d % 40);
                visit(
                    &mut conn,
                    &format!("{center}{d}"),
                    &member,
                    center,
                    day(d, 10),
                    Evidence::App,
                    None,
                );
            }
        }
        // Then `burst` records 30 visits on the 28th and 29th.
        for i in 0..30 {
            let member = format!("p{i}");
            visit(
                &mut conn,
                &format!("x{i}"),
                &member,
                "burst",
                day(28 + (i % 2), 9),
                Evidence::Roster,
                None,
            );
        }
        let rules = FraudRules {
            min_visits: 10,
            staff_share_floor: 2.0,
            ..FraudRules::default()
        };
        let signals = fraud_signals(&mut conn, now, &rules).expect("signals");
        assert_eq!(
            kinds(&signals),
            [(SignalKind::MonthEndBurst, "burst".into())],
            "{signals:#?}"
        );
        // The 15th: no month end is watched, so nothing.
        let mid = day(15, 12);
        assert!(
            fraud_signals(&mut conn, mid, &rules)
                .expect("signals")
                .is_empty()
        );
    }
}
