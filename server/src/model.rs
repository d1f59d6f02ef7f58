//! Reading records out of the database and shaping them into contract types. Every function
//! takes a plain `&Connection`, so it works on a read connection and inside a write job alike.

use chrono::{DateTime, NaiveDate, Utc};
use gymgate_shared::api::{
    AdminDispute, Center, Checkin, CheckinCard, CheckinChange, CheckinMethod, CheckinStatus,
    Dispute, Member, Notice, RosterMember, Severity,
};
use gymgate_shared::policy::{self, OpeningHours, PassFacts, VisitHistory, visits_left};
use gymgate_shared::{CenterId, CheckinId, DeskId, LocalId, MemberId, NoticeId, kst};
use rusqlite::{Connection, OptionalExtension, Row};

use crate::store::{StoreError, parse_ts, ts};

/// How far back a desk's roster reaches.
pub const ROSTER_DAYS: i64 = 90;

#[derive(Debug, Clone)]
pub struct CenterRow {
    pub id: CenterId,
    pub name: String,
    pub address: String,
    pub hours: OpeningHours,
    pub requires_approval: bool,
    pub head_seq: u64,
    pub pruned_through: u64,
}

impl CenterRow {
    pub fn public(&self) -> Center {
        Center {
            id: self.id.clone(),
            name: self.name.clone(),
            address: self.address.clone(),
        }
    }
}

const CENTER_COLUMNS: &str =
    "id, name, address, opens, closes, requires_approval, head_seq, pruned_through";

fn center_from_row(row: &Row<'_>) -> rusqlite::Result<CenterRow> {
    Ok(CenterRow {
        id: CenterId::new(row.get::<_, String>(0)?),
        name: row.get(1)?,
        address: row.get(2)?,
        hours: OpeningHours {
            opens: row.get(3)?,
            closes: row.get(4)?,
        },
        requires_approval: row.get(5)?,
        head_seq: row.get(6)?,
        pruned_through: row.get(7)?,
    })
}

pub fn load_center(conn: &Connection, id: &CenterId) -> Result<Option<CenterRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!(
            "SELECT {CENTER_COLUMNS} FROM centers WHERE id = ?1"
        ))?
        .query_row([id.as_str()], center_from_row)
        .optional()?)
}

pub fn list_centers(conn: &Connection) -> Result<Vec<CenterRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {CENTER_COLUMNS} FROM centers ORDER BY name, id"
    ))?;
    let rows = stmt.query_map([], center_from_row)?;
    Ok(rows.collect::<Result<_, _>>()?)
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub id: MemberId,
    pub member_no: String,
    pub name: String,
    pub phone: String,
    pub pin_hash: String,
    pub plan: String,
    pub visits_per_month: Option<u32>,
    pub valid_from: NaiveDate,
    pub valid_until: NaiveDate,
    pub birthday: Option<NaiveDate>,
    pub photo_url: Option<String>,
    pub blocked: bool,
    /// Offline passes issued before this are refused.
    pub passes_revoked_at: Option<DateTime<Utc>>,
}

impl MemberRow {
    pub fn pass(&self) -> PassFacts {
        PassFacts {
            blocked: self.blocked,
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            visits_per_month: self.visits_per_month,
        }
    }

    pub fn public(&self, history: &VisitHistory) -> Member {
        Member {
            id: self.id.clone(),
            member_no: self.member_no.clone(),
            name: self.name.clone(),
            plan: self.plan.clone(),
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            visits_per_month: self.visits_per_month,
            visits_left: visits_left(&self.pass(), history),
            blocked: self.blocked,
        }
    }

    pub fn roster(&self, history: &VisitHistory) -> RosterMember {
        let digits: String = self.phone.chars().filter(char::is_ascii_digit).collect();
        let phone_last4 = digits[digits.len().saturating_sub(4)..].to_owned();
        RosterMember {
            id: self.id.clone(),
            member_no: self.member_no.clone(),
            name: self.name.clone(),
            phone_last4,
            plan: self.plan.clone(),
            valid_from: self.valid_from,
            valid_until: self.valid_until,
            visits_per_month: self.visits_per_month,
            visits_left: visits_left(&self.pass(), history),
            blocked: self.blocked,
            birthday: self.birthday,
            photo_url: self.photo_url.clone(),
        }
    }
}

fn parse_date(text: &str) -> rusqlite::Result<NaiveDate> {
    text.parse().map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e))
    })
}

const MEMBER_SELECT: &str = "SELECT m.id, m.member_no, m.name, m.phone, m.pin_hash, p.name, \
     p.visits_per_month, m.valid_from, m.valid_until, m.birthday, m.photo_url, m.blocked, \
     m.passes_revoked_at \
     FROM members m JOIN plans p ON p.id = m.plan_id";

fn member_from_row(row: &Row<'_>) -> rusqlite::Result<MemberRow> {
    let birthday: Option<String> = row.get(9)?;
    Ok(MemberRow {
        id: MemberId::new(row.get::<_, String>(0)?),
        member_no: row.get(1)?,
        name: row.get(2)?,
        phone: row.get(3)?,
        pin_hash: row.get(4)?,
        plan: row.get(5)?,
        visits_per_month: row.get(6)?,
        valid_from: parse_date(&row.get::<_, String>(7)?)?,
        valid_until: parse_date(&row.get::<_, String>(8)?)?,
        birthday: birthday.as_deref().map(parse_date).transpose()?,
        photo_url: row.get(10)?,
        blocked: row.get(11)?,
        passes_revoked_at: row
            .get::<_, Option<String>>(12)?
            .as_deref()
            .map(|text| {
                parse_ts(text).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        12,
                        rusqlite::types::Type::Text,
                        Box::new(e),
                    )
                })
            })
            .transpose()?,
    })
}

pub fn load_member(conn: &Connection, id: &MemberId) -> Result<Option<MemberRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{MEMBER_SELECT} WHERE m.id = ?1"))?
        .query_row([id.as_str()], member_from_row)
        .optional()?)
}

pub fn load_member_by_no(
    conn: &Connection,
    member_no: &str,
) -> Result<Option<MemberRow>, StoreError> {
    Ok(conn
        .prepare_cached(&format!("{MEMBER_SELECT} WHERE m.member_no = ?1"))?
        .query_row([member_no], member_from_row)
        .optional()?)
}

/// A member's visits in a month and, of those, today's at one center. Runs on every tap:
/// answered from the `checkins_member_month` index alone (see the plan test below).
const VISITS_SQL: &str = "SELECT COUNT(*),
            COALESCE(SUM(center_id = ?4 AND at >= ?5 AND at < ?6), 0)
     FROM checkins
     WHERE member_id = ?1 AND at >= ?2 AND at < ?3
       AND status IN ('admitted', 'pending')";

/// Whether a member checked in at a center before a time ("first visit here?"). Also from the
/// month index alone: a member's check-ins are a few hundred at most, a center's are many, so
/// this must never walk `checkins_center_at`.
const EARLIER_HERE_SQL: &str =
    "SELECT EXISTS (SELECT 1 FROM checkins INDEXED BY checkins_member_month
     WHERE member_id = ?1 AND at < ?3 AND center_id = ?2 AND status IN ('admitted', 'pending'))";

/// Visits that count (admitted, pending) in the Korean month of `at`, and whether one of
/// them was at `center` on the Korean day of `at`.
pub fn visit_history(
    conn: &Connection,
    member: &MemberId,
    center: Option<&CenterId>,
    at: DateTime<Utc>,
) -> Result<VisitHistory, StoreError> {
    let (month_start, month_end) = kst::month_bounds(at);
    let (day_start, day_end) = kst::day_bounds(at);
    let (visits, today): (u32, u32) = conn.prepare_cached(VISITS_SQL)?.query_row(
        rusqlite::params![
            member.as_str(),
            ts(month_start),
            ts(month_end),
            center.map(CenterId::as_str).unwrap_or(""),
            ts(day_start),
            ts(day_end),
        ],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(VisitHistory {
        visits_this_month: visits,
        visited_this_center_today: today > 0,
    })
}

const CHECKIN_SELECT: &str = "SELECT c.id, c.member_id, c.center_id, ctr.name, c.status, \
     c.method, c.at, c.rev, c.local_id, c.desk_id, c.history, c.dispute_reason, c.synced_at \
     FROM checkins c JOIN centers ctr ON ctr.id = c.center_id";

fn checkin_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Checkin, StoreError>> {
    let status: String = row.get(4)?;
    let method: String = row.get(5)?;
    let at: String = row.get(6)?;
    let history: String = row.get(10)?;
    let local_id: Option<String> = row.get(8)?;
    let desk_id: Option<String> = row.get(9)?;
    let id = CheckinId::new(row.get::<_, String>(0)?);
    let member_id = MemberId::new(row.get::<_, String>(1)?);
    let center_id = CenterId::new(row.get::<_, String>(2)?);
    let center_name: String = row.get(3)?;
    let rev: u32 = row.get(7)?;
    let dispute_reason: Option<String> = row.get(11)?;
    let synced_at: Option<String> = row.get(12)?;
    Ok((|| {
        let dispute = match (dispute_reason, synced_at) {
            (Some(reason), Some(synced_at)) => Some(Dispute {
                reason,
                synced_at: parse_ts(&synced_at)?,
            }),
            _ => None,
        };
        Ok(Checkin {
            id,
            member_id,
            center_id,
            center_name,
            status: CheckinStatus::parse(&status)
                .ok_or_else(|| StoreError::Corrupt(format!("check-in status {status:?}")))?,
            method: CheckinMethod::parse(&method)
                .ok_or_else(|| StoreError::Corrupt(format!("check-in method {method:?}")))?,
            at: parse_ts(&at)?,
            rev,
            local_id: local_id.map(LocalId::new),
            desk_id: desk_id.map(DeskId::new),
            history: serde_json::from_str::<Vec<CheckinChange>>(&history)?,
            dispute,
        })
    })())
}

pub fn load_checkin(conn: &Connection, id: &CheckinId) -> Result<Option<Checkin>, StoreError> {
    conn.prepare_cached(&format!("{CHECKIN_SELECT} WHERE c.id = ?1"))?
        .query_row([id.as_str()], checkin_from_row)
        .optional()?
        .transpose()
}

pub fn todays_checkins(
    conn: &Connection,
    center: &CenterId,
    now: DateTime<Utc>,
) -> Result<Vec<Checkin>, StoreError> {
    let (start, end) = kst::day_bounds(now);
    let mut stmt = conn.prepare_cached(&format!(
        "{CHECKIN_SELECT} WHERE c.center_id = ?1 AND c.at >= ?2 AND c.at < ?3 ORDER BY c.at"
    ))?;
    let rows = stmt.query_map(
        rusqlite::params![center.as_str(), ts(start), ts(end)],
        checkin_from_row,
    )?;
    rows.map(|r| r.map_err(StoreError::from).and_then(|c| c))
        .collect()
}

/// Stores a new check-in; a tap's keeps the Idempotency-Key that created it, so a retry with
/// the same key finds it.
pub fn insert_checkin(
    conn: &Connection,
    checkin: &Checkin,
    idempotency_key: Option<&str>,
) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO checkins (id, member_id, center_id, status, method, at, rev, local_id,
                               desk_id, history, idempotency_key, dispute_reason, synced_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(rusqlite::params![
        checkin.id.as_str(),
        checkin.member_id.as_str(),
        checkin.center_id.as_str(),
        checkin.status.as_str(),
        checkin.method.as_str(),
        ts(checkin.at),
        checkin.rev,
        checkin.local_id.as_ref().map(LocalId::as_str),
        checkin.desk_id.as_ref().map(DeskId::as_str),
        serde_json::to_string(&checkin.history)?,
        idempotency_key,
        checkin.dispute.as_ref().map(|d| d.reason.as_str()),
        checkin.dispute.as_ref().map(|d| ts(d.synced_at)),
    ])?;
    Ok(())
}

pub fn update_checkin(conn: &Connection, checkin: &Checkin) -> Result<(), StoreError> {
    conn.prepare_cached("UPDATE checkins SET status = ?2, rev = ?3, history = ?4 WHERE id = ?1")?
        .execute(rusqlite::params![
            checkin.id.as_str(),
            checkin.status.as_str(),
            checkin.rev,
            serde_json::to_string(&checkin.history)?,
        ])?;
    Ok(())
}

/// The card a desk shows for a check-in: who, their pass after this visit, and what to notice.
pub fn card(conn: &Connection, checkin: Checkin) -> Result<CheckinCard, StoreError> {
    let member = load_member(conn, &checkin.member_id)?
        .ok_or_else(|| StoreError::Corrupt(format!("check-in {} has no member", checkin.id)))?;
    let history = visit_history(conn, &member.id, None, checkin.at)?;
    card_with(conn, checkin, &member, &history)
}

/// [`card`] for callers that already hold the member and their visits in the check-in's
/// month (counting this check-in): saves the writer two queries per tap.
pub fn card_with(
    conn: &Connection,
    checkin: Checkin,
    member: &MemberRow,
    history: &VisitHistory,
) -> Result<CheckinCard, StoreError> {
    let earlier_here: bool = conn.prepare_cached(EARLIER_HERE_SQL)?.query_row(
        rusqlite::params![
            member.id.as_str(),
            checkin.center_id.as_str(),
            ts(checkin.at)
        ],
        |r| r.get(0),
    )?;
    let flags = policy::flags(
        !earlier_here,
        member.valid_until,
        member.birthday,
        checkin.status == CheckinStatus::Pending,
        checkin.at,
    );
    Ok(CheckinCard {
        member: member.roster(history),
        checkin,
        flags,
    })
}

/// Whether a member checked in (admitted or pending) at a center before `at`.
pub fn visited_before(
    conn: &Connection,
    member: &MemberId,
    center: &CenterId,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(conn.prepare_cached(EARLIER_HERE_SQL)?.query_row(
        rusqlite::params![member.as_str(), center.as_str(), ts(at)],
        |r| r.get(0),
    )?)
}

/// Pass holders a desk may look up: by exact member number, or by exact name with the last
/// four digits of their phone; only passes that end today or later.
pub fn lookup(
    conn: &Connection,
    member_no: Option<&str>,
    name_and_last4: Option<(&str, &str)>,
    today: NaiveDate,
    limit: usize,
) -> Result<Vec<MemberRow>, StoreError> {
    let found: Vec<MemberRow> = if let Some(no) = member_no {
        load_member_by_no(conn, no)?.into_iter().collect()
    } else if let Some((name, _)) = name_and_last4 {
        conn.prepare_cached(&format!("{MEMBER_SELECT} WHERE m.name = ?1 LIMIT 200"))?
            .query_map([name], member_from_row)?
            .collect::<Result<_, _>>()?
    } else {
        Vec::new()
    };
    Ok(found
        .into_iter()
        .filter(|m| m.valid_until >= today)
        .filter(|m| match name_and_last4 {
            Some((_, last4)) => {
                let digits: String = m.phone.chars().filter(char::is_ascii_digit).collect();
                digits.ends_with(last4)
            }
            None => true,
        })
        .take(limit)
        .collect())
}

/// Members who visited `center` in the last [`ROSTER_DAYS`].
pub fn roster(
    conn: &Connection,
    center: &CenterId,
    now: DateTime<Utc>,
) -> Result<Vec<RosterMember>, StoreError> {
    let since = now - chrono::Duration::days(ROSTER_DAYS);
    let mut stmt = conn.prepare_cached(&format!(
        "{MEMBER_SELECT} WHERE m.id IN
            (SELECT DISTINCT member_id FROM checkins WHERE center_id = ?1 AND at >= ?2)
         ORDER BY m.name"
    ))?;
    let members: Vec<MemberRow> = stmt
        .query_map(
            rusqlite::params![center.as_str(), ts(since)],
            member_from_row,
        )?
        .collect::<Result<_, _>>()?;
    members
        .into_iter()
        .map(|m| {
            let history = visit_history(conn, &m.id, None, now)?;
            Ok(m.roster(&history))
        })
        .collect()
}

/// Centers whose roster includes this member (visited within [`ROSTER_DAYS`]).
pub fn centers_visited_by(
    conn: &Connection,
    member: &MemberId,
    now: DateTime<Utc>,
) -> Result<Vec<CenterId>, StoreError> {
    let since = now - chrono::Duration::days(ROSTER_DAYS);
    let mut stmt = conn.prepare_cached(
        "SELECT DISTINCT center_id FROM checkins WHERE member_id = ?1 AND at >= ?2",
    )?;
    let rows = stmt.query_map(rusqlite::params![member.as_str(), ts(since)], |r| {
        r.get::<_, String>(0)
    })?;
    Ok(rows
        .map(|r| r.map(CenterId::new))
        .collect::<Result<_, _>>()?)
}

/// Disputed check-ins waiting for an operator, oldest first, with who and where.
pub fn open_disputes(conn: &Connection, limit: usize) -> Result<Vec<AdminDispute>, StoreError> {
    let mut stmt = conn.prepare_cached(&format!(
        "{CHECKIN_SELECT} WHERE c.status = 'disputed'
         ORDER BY c.at LIMIT ?1"
    ))?;
    let checkins: Vec<Checkin> = stmt
        .query_map([limit as i64], checkin_from_row)?
        .map(|r| r.map_err(StoreError::from).and_then(|c| c))
        .collect::<Result<_, _>>()?;
    let mut desk_name = conn.prepare_cached("SELECT name FROM desks WHERE id = ?1")?;
    let mut disputes = Vec::with_capacity(checkins.len());
    for checkin in checkins {
        let member = load_member(conn, &checkin.member_id)?
            .ok_or_else(|| StoreError::Corrupt(format!("check-in {} has no member", checkin.id)))?;
        let desk_name = match &checkin.desk_id {
            Some(desk) => desk_name
                .query_row([desk.as_str()], |r| r.get::<_, String>(0))
                .optional()?,
            None => None,
        };
        disputes.push(AdminDispute {
            checkin,
            member_no: member.member_no,
            member_name: member.name,
            desk_name,
        });
    }
    Ok(disputes)
}

fn severity_str(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Warning => "warning",
        Severity::Critical => "critical",
    }
}

fn parse_severity(text: &str) -> Severity {
    match text {
        "critical" => Severity::Critical,
        "warning" => Severity::Warning,
        _ => Severity::Info,
    }
}

pub fn insert_notice(conn: &Connection, notice: &Notice) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO notices (id, severity, text_ko, text_en, starts_at, ends_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        rusqlite::params![
            notice.id.as_str(),
            severity_str(notice.severity),
            notice.text_ko,
            notice.text_en,
            ts(notice.starts_at),
            notice.ends_at.map(ts),
        ],
    )?;
    Ok(())
}

fn notice_from_row(row: &Row<'_>) -> rusqlite::Result<(Notice, Option<String>, Option<String>)> {
    let severity: String = row.get(1)?;
    Ok((
        Notice {
            id: NoticeId::new(row.get::<_, String>(0)?),
            severity: parse_severity(&severity),
            text_ko: row.get(2)?,
            text_en: row.get(3)?,
            starts_at: Utc::now(),
            ends_at: None,
            cleared: row.get::<_, Option<String>>(6)?.is_some(),
        },
        Some(row.get::<_, String>(4)?),
        row.get(5)?,
    ))
}

fn finish_notice(
    (mut notice, starts, ends): (Notice, Option<String>, Option<String>),
) -> Result<Notice, StoreError> {
    if let Some(starts) = starts {
        notice.starts_at = parse_ts(&starts)?;
    }
    notice.ends_at = ends.as_deref().map(parse_ts).transpose()?;
    Ok(notice)
}

pub fn load_notice(conn: &Connection, id: &NoticeId) -> Result<Option<Notice>, StoreError> {
    conn.query_row(
        "SELECT id, severity, text_ko, text_en, starts_at, ends_at, cleared_at FROM notices
         WHERE id = ?1",
        [id.as_str()],
        notice_from_row,
    )
    .optional()?
    .map(finish_notice)
    .transpose()
}

/// Notices not cleared and not past their end.
pub fn active_notices(conn: &Connection, now: DateTime<Utc>) -> Result<Vec<Notice>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, severity, text_ko, text_en, starts_at, ends_at, cleared_at FROM notices
         WHERE cleared_at IS NULL AND (ends_at IS NULL OR ends_at > ?1) ORDER BY starts_at",
    )?;
    let rows = stmt.query_map([ts(now)], notice_from_row)?;
    rows.map(|r| r.map_err(StoreError::from).and_then(finish_notice))
        .collect()
}

/// Events of a center after `after_seq`, oldest first, as ready-to-send frames.
pub fn events_after(
    conn: &Connection,
    center: &CenterId,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<(u64, axum::extract::ws::Utf8Bytes)>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, at, kind, data FROM events WHERE center_id = ?1 AND seq > ?2
         ORDER BY seq LIMIT ?3",
    )?;
    let rows = stmt.query_map(
        rusqlite::params![center.as_str(), after_seq, limit as i64],
        |r| {
            Ok((
                r.get::<_, u64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
            ))
        },
    )?;
    let mut frames = Vec::new();
    for row in rows {
        let (seq, at, kind, data) = row?;
        frames.push((seq, crate::store::event_frame(seq, &at, &kind, &data)?));
    }
    Ok(frames)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The two queries every tap runs read one index and never the table.
    #[test]
    fn tap_queries_read_only_the_member_month_index() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, conn) = crate::store::test_database(&dir, &[]);
        let values = ["m", "c", "2026-01-01", "c", "2026-01-01", "2026-01-02"];
        for (sql, parameters) in [(VISITS_SQL, 6), (EARLIER_HERE_SQL, 3)] {
            let text = crate::store::query_plan(
                &conn,
                sql,
                rusqlite::params_from_iter(&values[..parameters]),
            );
            assert!(
                text.contains("COVERING INDEX checkins_member_month"),
                "{sql}\n→ {text}"
            );
        }
        drop(store);
    }

    /// "First visit" means no earlier check-in of this member at this center: a later visit,
    /// another center's visit or a voided one do not count.
    #[test]
    fn first_visit_is_about_earlier_check_ins_at_that_center() {
        use gymgate_shared::api::{CheckinFlag, CheckinMethod};
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, conn) = crate::store::test_database(&dir, &["c1", "c2"]);
        let day = |d: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 11, d)
                .and_then(|date| date.and_hms_opt(1, 0, 0))
                .expect("date")
                .and_utc()
        };
        let checkin = |id: &str, center: &str, at, status| Checkin {
            id: CheckinId::new(id.to_owned()),
            member_id: MemberId::new("m1".to_owned()),
            center_id: CenterId::new(center.to_owned()),
            center_name: String::new(),
            status,
            method: CheckinMethod::App,
            at,
            rev: 1,
            local_id: None,
            desk_id: None,
            history: Vec::new(),
            dispute: None,
        };
        let first_visit = |c: &Checkin| {
            card(&conn, c.clone())
                .expect("card")
                .flags
                .contains(&CheckinFlag::FirstVisit)
        };
        let voided = checkin("k0", "c1", day(2), CheckinStatus::Voided);
        let elsewhere = checkin("k1", "c2", day(3), CheckinStatus::Admitted);
        let first = checkin("k2", "c1", day(5), CheckinStatus::Admitted);
        let second = checkin("k3", "c1", day(9), CheckinStatus::Admitted);
        for c in [&voided, &elsewhere, &first, &second] {
            insert_checkin(&conn, c, None).expect("insert");
        }
        assert!(first_visit(&elsewhere));
        assert!(
            first_visit(&first),
            "a voided visit and another center's do not count"
        );
        assert!(!first_visit(&second));
        drop(store);
    }
}
