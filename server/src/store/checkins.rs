//! Check-ins, the cards desks show for them, the records desks send from their outboxes, and
//! the showings of offline passes.

use chrono::{DateTime, Utc};
use gymgate_shared::api::{
    AdminDispute, Checkin, CheckinCard, CheckinChange, CheckinMethod, CheckinStatus, Confirmation,
    Dispute, Evidence,
};
use gymgate_shared::hours::Schedule;
use gymgate_shared::policy::{self, VisitHistory};
use gymgate_shared::{CenterId, CheckinId, DeskId, LocalId, MemberId, kst};

use super::members::{self, MemberRow, ROSTER_DAYS};
use super::sql::{Conn, Dialect, Row};
use super::{StoreError, parse_ts, ts};

// The statements a tap reads a member's visits with, from the `checkins_member_month` index
// alone (see the plan test below), put together from these pieces so the tap's one statement
// and the separate ones cannot drift apart.

/// The member's visits that count, between ?7 and ?8.
macro_rules! counted_visits {
    () => {
        " FROM checkins
     WHERE member_id = ?1 AND at >= ?7 AND at < ?8
       AND status IN ('admitted', 'pending')"
    };
}

/// Of those, the ones in the month ?2..?3, and the ones at center ?4 on its day ?5..?6.
macro_rules! month_and_today {
    () => {
        "COALESCE(SUM(CASE WHEN at >= ?2 AND at < ?3 THEN 1 ELSE 0 END), 0),
            COALESCE(SUM(CASE WHEN center_id = ?4 AND at >= ?5 AND at < ?6 THEN 1 ELSE 0 END), 0)"
    };
}

/// Whether the member checked in at `$center` before `$at`. A member's check-ins are a few
/// hundred at most, a center's are many, so this must never walk `checkins_center_at` (SQLite
/// is told so; PostgreSQL's planner judges by its statistics).
macro_rules! earlier_here {
    ($center:literal, $at:literal) => {
        concat!(
            "SELECT CASE WHEN EXISTS (SELECT 1 FROM checkins INDEXED BY checkins_member_month
     WHERE member_id = ?1 AND at < ",
            $at,
            " AND center_id = ",
            $center,
            " AND status IN ('admitted', 'pending'))
     THEN 1 ELSE 0 END"
        )
    };
}

/// A member's visits in a month and, of those, today's at one center.
pub(super) const VISITS_SQL: &str = concat!("SELECT ", month_and_today!(), counted_visits!());

/// Whether a member checked in at a center before a time ("first visit here?").
pub(super) const EARLIER_HERE_SQL: &str = earlier_here!("?2", "?3");

/// [`VISITS_SQL`] with a third column, [`EARLIER_HERE_SQL`] at center ?4 before ?9: what a tap
/// needs for the rules and the card, in one statement.
const HISTORY_HERE_SQL: &str = concat!(
    "SELECT ",
    month_and_today!(),
    ", (",
    earlier_here!("?4", "?9"),
    ")",
    counted_visits!()
);

/// The index hint is SQLite's; PostgreSQL's planner judges by its statistics.
fn for_dialect(sql: &'static str, dialect: Dialect) -> std::borrow::Cow<'static, str> {
    match dialect {
        Dialect::Sqlite => sql.into(),
        Dialect::Postgres => sql.replace(" INDEXED BY checkins_member_month", "").into(),
    }
}

/// Visits that count (admitted, pending) in the Korean month of `at`, and whether one of
/// them was at `center` on that center's business day of `at` (its schedule says when a day
/// begins: a center open past midnight counts 00:30 with the evening before).
pub fn visit_history(
    conn: &mut dyn Conn,
    member: &MemberId,
    center: Option<(&CenterId, &Schedule)>,
    at: DateTime<Utc>,
) -> Result<VisitHistory, StoreError> {
    let (month_start, month_end) = kst::month_bounds(at);
    let (day_start, day_end) = match center {
        Some((_, schedule)) => schedule.day_bounds(at),
        None => kst::day_bounds(at),
    };
    let center = center.map(|(id, _)| id);
    // A business day past midnight can start in the month before (23:30 on the 30th, then
    // 00:30 on the 1st): the rows read cover both the month and the day.
    let (from, to) = (month_start.min(day_start), month_end.max(day_end));
    let (visits, today): (u32, u32) = conn
        .one(
            VISITS_SQL,
            &[
                member,
                &ts(month_start),
                &ts(month_end),
                &center.map(CenterId::as_str).unwrap_or(""),
                &ts(day_start),
                &ts(day_end),
                &ts(from),
                &ts(to),
            ],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?
        .unwrap_or((0, 0));
    Ok(VisitHistory {
        visits_this_month: visits,
        visited_this_center_today: today > 0,
    })
}

/// A member's history at a center as of `at` (see [`visit_history`]), and whether they had
/// checked in there before `at`: what a tap needs for the rules and the card, in one statement.
pub fn history_here(
    conn: &mut dyn Conn,
    member: &MemberId,
    center: &CenterId,
    schedule: &Schedule,
    at: DateTime<Utc>,
) -> Result<(VisitHistory, bool), StoreError> {
    let (month_start, month_end) = kst::month_bounds(at);
    let (day_start, day_end) = schedule.day_bounds(at);
    let (from, to) = (month_start.min(day_start), month_end.max(day_end));
    let sql = for_dialect(HISTORY_HERE_SQL, conn.dialect());
    let (visits, today, earlier): (u32, u32, u32) = conn
        .one(
            &sql,
            &[
                member,
                &ts(month_start),
                &ts(month_end),
                center,
                &ts(day_start),
                &ts(day_end),
                &ts(from),
                &ts(to),
                &ts(at),
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )?
        .unwrap_or((0, 0, 0));
    Ok((
        VisitHistory {
            visits_this_month: visits,
            visited_this_center_today: today > 0,
        },
        earlier > 0,
    ))
}

/// Whether a member checked in (admitted or pending) at a center before `at`.
pub fn visited_before(
    conn: &mut dyn Conn,
    member: &MemberId,
    center: &CenterId,
    at: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let sql = for_dialect(EARLIER_HERE_SQL, conn.dialect());
    conn.value(&sql, &[member, center, &ts(at)])
}

const SELECT: &str = "SELECT c.id, c.member_id, c.center_id, ctr.name, c.status, \
     c.method, c.at, c.rev, c.local_id, c.desk_id, c.history, c.dispute_reason, c.synced_at \
     FROM checkins c JOIN centers ctr ON ctr.id = c.center_id";

fn from_row(row: &dyn Row) -> Result<Checkin, StoreError> {
    let status: String = row.get(4)?;
    let method: String = row.get(5)?;
    let dispute_reason: Option<String> = row.get(11)?;
    let synced_at: Option<String> = row.get(12)?;
    let at = parse_ts(&row.get::<String>(6)?)?;
    // A tap has no sync time: a member's "not me" about one is dated by the visit.
    let dispute = match (dispute_reason, synced_at) {
        (Some(reason), Some(synced_at)) => Some(Dispute {
            reason,
            synced_at: parse_ts(&synced_at)?,
        }),
        (Some(reason), None) => Some(Dispute {
            reason,
            synced_at: at,
        }),
        _ => None,
    };
    Ok(Checkin {
        id: row.get(0)?,
        member_id: row.get(1)?,
        center_id: row.get(2)?,
        center_name: row.get(3)?,
        status: CheckinStatus::parse(&status)
            .ok_or_else(|| StoreError::Corrupt(format!("check-in status {status:?}")))?,
        method: CheckinMethod::parse(&method)
            .ok_or_else(|| StoreError::Corrupt(format!("check-in method {method:?}")))?,
        at,
        rev: row.get(7)?,
        local_id: row.get(8)?,
        desk_id: row.get(9)?,
        history: serde_json::from_str::<Vec<CheckinChange>>(&row.get::<String>(10)?)?,
        dispute,
    })
}

/// Holds a check-in's row until the transaction ends (on PostgreSQL; SQLite has one writer),
/// so two nodes changing one check-in take turns.
fn lock(conn: &mut dyn Conn, id: &CheckinId) -> Result<(), StoreError> {
    if conn.dialect() == Dialect::Postgres {
        conn.query(
            "SELECT id FROM checkins WHERE id = ?1 FOR UPDATE",
            &[id],
            &mut |_| Ok(()),
        )?;
    }
    Ok(())
}

/// [`load`], holding the row until the transaction ends (on PostgreSQL), so two nodes deciding
/// on one check-in take turns.
pub fn load_for_update(conn: &mut dyn Conn, id: &CheckinId) -> Result<Option<Checkin>, StoreError> {
    lock(conn, id)?;
    load(conn, id)
}

pub fn load(conn: &mut dyn Conn, id: &CheckinId) -> Result<Option<Checkin>, StoreError> {
    conn.one(&format!("{SELECT} WHERE c.id = ?1"), &[id], from_row)
}

/// A center's check-ins on its business day of `now`, in time order.
pub fn todays(
    conn: &mut dyn Conn,
    center: &CenterId,
    schedule: &Schedule,
    now: DateTime<Utc>,
) -> Result<Vec<Checkin>, StoreError> {
    let (start, end) = schedule.day_bounds(now);
    conn.all(
        &format!("{SELECT} WHERE c.center_id = ?1 AND c.at >= ?2 AND c.at < ?3 ORDER BY c.at"),
        &[center, &ts(start), &ts(end)],
        from_row,
    )
}

/// How a new check-in came about, beyond the check-in itself: stored with it for settlement
/// and fraud review (docs/settlement.md, "Evidence").
pub struct Provenance<'a> {
    /// A tap's Idempotency-Key, so a retry with the same key finds the check-in.
    pub idempotency_key: Option<&'a str>,
    /// When a desk's record reached the server, so an incident can count the visits that
    /// came in after it.
    pub synced_at: Option<DateTime<Utc>>,
    pub evidence: Evidence,
    /// For a desk's record: whether the server saw the desk online when it says it made it.
    pub desk_online: Option<bool>,
    /// Why the record looks made up (codes, comma-separated), if it does.
    pub suspicion: Option<String>,
    /// The desk whose presence code the member's tap carried.
    pub presence_desk: Option<&'a DeskId>,
    /// How far the phone said it was from the center, and its accuracy (meters).
    pub location: Option<(i64, i64)>,
}

impl<'a> Provenance<'a> {
    /// A member's own tap in the app.
    pub fn app(idempotency_key: Option<&'a str>) -> Provenance<'a> {
        Provenance {
            idempotency_key,
            synced_at: None,
            evidence: Evidence::App,
            desk_online: None,
            suspicion: None,
            presence_desk: None,
            location: None,
        }
    }

    /// Staff-only evidence and suspicious records wait for the member.
    pub fn confirmation(&self) -> Confirmation {
        if self.evidence.staff_only() || self.suspicion.is_some() {
            Confirmation::Unconfirmed
        } else {
            Confirmation::ByEvidence
        }
    }
}

/// Stores a new check-in with its provenance.
pub fn insert(
    conn: &mut dyn Conn,
    checkin: &Checkin,
    provenance: &Provenance<'_>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO checkins (id, member_id, center_id, status, method, at, rev, local_id,
                               desk_id, history, idempotency_key, dispute_reason, synced_at,
                               evidence, desk_online, suspicion, confirmation, presence_desk,
                               location_m, location_accuracy_m)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
                 ?18, ?19, ?20)",
        &[
            &checkin.id,
            &checkin.member_id,
            &checkin.center_id,
            &checkin.status.as_str(),
            &checkin.method.as_str(),
            &ts(checkin.at),
            &checkin.rev,
            &checkin.local_id,
            &checkin.desk_id,
            &serde_json::to_string(&checkin.history)?,
            &provenance.idempotency_key,
            &checkin.dispute.as_ref().map(|d| d.reason.as_str()),
            &checkin
                .dispute
                .as_ref()
                .map(|d| d.synced_at)
                .or(provenance.synced_at)
                .map(ts),
            &provenance.evidence.as_str(),
            &provenance.desk_online,
            &provenance.suspicion,
            &provenance.confirmation().as_str(),
            &provenance.presence_desk,
            &provenance.location.map(|l| l.0),
            &provenance.location.map(|l| l.1),
        ],
    )?;
    Ok(())
}

pub fn update(conn: &mut dyn Conn, checkin: &Checkin) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE checkins SET status = ?2, rev = ?3, history = ?4 WHERE id = ?1",
        &[
            &checkin.id,
            &checkin.status.as_str(),
            &checkin.rev,
            &serde_json::to_string(&checkin.history)?,
        ],
    )?;
    Ok(())
}

/// The card a desk shows for a check-in: who, their pass after this visit, and what to notice.
pub fn card(conn: &mut dyn Conn, checkin: Checkin) -> Result<CheckinCard, StoreError> {
    let member = members::load(conn, &checkin.member_id)?
        .ok_or_else(|| StoreError::Corrupt(format!("check-in {} has no member", checkin.id)))?;
    let history = visit_history(conn, &member.id, None, checkin.at)?;
    let earlier_here = visited_before(conn, &member.id, &checkin.center_id, checkin.at)?;
    Ok(card_of(checkin, &member, &history, earlier_here))
}

/// The card, for a caller that also knows whether the member had been here before.
pub fn card_of(
    checkin: Checkin,
    member: &MemberRow,
    history: &VisitHistory,
    earlier_here: bool,
) -> CheckinCard {
    let flags = policy::flags(
        !earlier_here,
        member.valid_until,
        member.birthday,
        checkin.status == CheckinStatus::Pending,
        checkin.at,
    );
    CheckinCard {
        member: member.roster(history),
        checkin,
        flags,
    }
}

/// Centers whose roster includes this member (visited within [`ROSTER_DAYS`]).
pub fn centers_visited_by(
    conn: &mut dyn Conn,
    member: &MemberId,
    now: DateTime<Utc>,
) -> Result<Vec<CenterId>, StoreError> {
    let since = now - chrono::Duration::days(ROSTER_DAYS);
    conn.all(
        // In id order, like every job that appends to several centers: two such jobs on two
        // nodes then lock the centers in the same order and never wait for each other.
        "SELECT DISTINCT center_id FROM checkins WHERE member_id = ?1 AND at >= ?2
         ORDER BY center_id",
        &[member, &ts(since)],
        |r| r.get(0),
    )
}

/// Disputed check-ins waiting for an operator, oldest first, with who and where.
pub fn open_disputes(conn: &mut dyn Conn, limit: usize) -> Result<Vec<AdminDispute>, StoreError> {
    let checkins = conn.all(
        &format!("{SELECT} WHERE c.status = 'disputed' ORDER BY c.at LIMIT ?1"),
        &[&limit],
        from_row,
    )?;
    let mut disputes = Vec::with_capacity(checkins.len());
    for checkin in checkins {
        let member = members::load(conn, &checkin.member_id)?
            .ok_or_else(|| StoreError::Corrupt(format!("check-in {} has no member", checkin.id)))?;
        let desk_name = match &checkin.desk_id {
            Some(desk) => conn.optional("SELECT name FROM desks WHERE id = ?1", &[desk])?,
            None => None,
        };
        let member_statement = conn
            .optional::<Option<String>>(
                "SELECT member_statement FROM checkins WHERE id = ?1",
                &[&checkin.id],
            )?
            .flatten();
        disputes.push(AdminDispute {
            checkin,
            member_no: member.member_no,
            member_name: member.name,
            desk_name,
            member_statement,
        });
    }
    Ok(disputes)
}

/// Pending check-ins nobody admitted or denied before `before`, oldest first, at most `limit`.
pub(super) const OVERDUE_SQL: &str = "SELECT id FROM checkins INDEXED BY checkins_pending
     WHERE status = 'pending' AND at < ?1 ORDER BY at LIMIT ?2";

pub fn overdue_pending(
    conn: &mut dyn Conn,
    before: DateTime<Utc>,
    limit: usize,
) -> Result<Vec<CheckinId>, StoreError> {
    let sql = match conn.dialect() {
        Dialect::Sqlite => OVERDUE_SQL,
        // Locked, skipping rows another node is expiring right now.
        Dialect::Postgres => {
            "SELECT id FROM checkins WHERE status = 'pending' AND at < ?1 ORDER BY at LIMIT ?2
             FOR UPDATE SKIP LOCKED"
        }
    };
    conn.all(sql, &[&ts(before), &limit], |r| r.get(0))
}

/// What became of a record a desk sent before: the desk that sent it, its check-in, why.
pub struct EarlierRecord {
    pub desk_id: DeskId,
    pub checkin_id: Option<CheckinId>,
    pub reason: Option<String>,
}

pub fn earlier_record(
    conn: &mut dyn Conn,
    local_id: &LocalId,
) -> Result<Option<EarlierRecord>, StoreError> {
    conn.one(
        "SELECT desk_id, checkin_id, reason FROM outbox_records WHERE local_id = ?1",
        &[local_id],
        |r| {
            Ok(EarlierRecord {
                desk_id: r.get(0)?,
                checkin_id: r.get(1)?,
                reason: r.get(2)?,
            })
        },
    )
}

pub struct NewRecord<'a> {
    pub local_id: &'a LocalId,
    pub desk_id: &'a DeskId,
    pub member_id: &'a MemberId,
    pub at: DateTime<Utc>,
    pub status: &'a str,
    pub checkin_id: Option<&'a CheckinId>,
    pub reason: Option<&'a str>,
}

pub fn insert_record(
    conn: &mut dyn Conn,
    record: &NewRecord<'_>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO outbox_records (local_id, desk_id, member_id, at, status, checkin_id,
                                     reason, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        &[
            record.local_id,
            record.desk_id,
            record.member_id,
            &ts(record.at),
            &record.status,
            &record.checkin_id,
            &record.reason,
            &ts(now),
        ],
    )?;
    Ok(())
}

/// Whether this showing of a pass was used for a check-in already.
pub fn pass_used(conn: &mut dyn Conn, fingerprint: &str) -> Result<bool, StoreError> {
    conn.value(
        "SELECT CASE WHEN EXISTS (SELECT 1 FROM pass_uses WHERE fingerprint = ?1)
         THEN 1 ELSE 0 END",
        &[&fingerprint],
    )
}

pub fn use_pass(
    conn: &mut dyn Conn,
    fingerprint: &str,
    checkin: &CheckinId,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO pass_uses (fingerprint, checkin_id, used_at) VALUES (?1, ?2, ?3)",
        &[&fingerprint, checkin, &ts(now)],
    )?;
    Ok(())
}

/// A member's check-ins, newest first (the console's member page).
pub fn of_member(
    conn: &mut dyn Conn,
    member: &MemberId,
    limit: u32,
) -> Result<Vec<Checkin>, StoreError> {
    conn.all(
        &format!("{SELECT} WHERE c.member_id = ?1 ORDER BY c.at DESC, c.id DESC LIMIT ?2"),
        &[member, &limit],
        from_row,
    )
}

/// A check-in as settlement counts it.
pub struct Settled {
    pub id: CheckinId,
    pub at: DateTime<Utc>,
    pub status: CheckinStatus,
    /// It was disputed once (and may have been decided since).
    pub was_disputed: bool,
    pub evidence: Evidence,
    pub confirmation: Confirmation,
    /// Marked suspicious when it was recorded: never paid without the member's yes.
    pub suspicious: bool,
    /// When the server learned of it: a staff-recorded visit's days to a "no" count from here.
    pub known_at: DateTime<Utc>,
    /// The member said "not me".
    pub not_me: bool,
}

/// One center's check-ins in `[from, to)` (settlement): read from the center's index range.
pub fn of_center_between(
    conn: &mut dyn Conn,
    center: &CenterId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<Settled>, StoreError> {
    conn.all(
        "SELECT id, at, status, dispute_reason IS NOT NULL, method, evidence, confirmation,
                suspicion IS NOT NULL, COALESCE(synced_at, at), dispute_reason = 'not_me'
         FROM checkins
         WHERE center_id = ?1 AND at >= ?2 AND at < ?3",
        &[center, &ts(from), &ts(to)],
        |r| {
            let status: String = r.get(2)?;
            let at = parse_ts(&r.get::<String>(1)?)?;
            Ok(Settled {
                id: r.get(0)?,
                at,
                status: CheckinStatus::parse(&status)
                    .ok_or_else(|| StoreError::Corrupt(format!("unknown status {status:?}")))?,
                was_disputed: r.get(3)?,
                evidence: evidence_of(&r.get::<String>(4)?, r.get(5)?)?,
                confirmation: confirmation_of(&r.get::<String>(6)?)?,
                suspicious: r.get(7)?,
                known_at: parse_ts(&r.get::<String>(8)?)?,
                not_me: r.get::<Option<bool>>(9)?.unwrap_or(false),
            })
        },
    )
}

/// A row's evidence; rows stored before evidence was kept have their method's.
fn evidence_of(method: &str, evidence: Option<String>) -> Result<Evidence, StoreError> {
    match evidence {
        Some(text) => Evidence::parse(&text)
            .ok_or_else(|| StoreError::Corrupt(format!("check-in evidence {text:?}"))),
        None => CheckinMethod::parse(method)
            .map(Evidence::of_method)
            .ok_or_else(|| StoreError::Corrupt(format!("check-in method {method:?}"))),
    }
}

fn confirmation_of(text: &str) -> Result<Confirmation, StoreError> {
    Confirmation::parse(text)
        .ok_or_else(|| StoreError::Corrupt(format!("check-in confirmation {text:?}")))
}

/// A member's visit with what settlement knows of it.
pub struct OwnVisit {
    pub checkin: Checkin,
    pub evidence: Evidence,
    pub confirmation: Confirmation,
}

/// [`SELECT`] with the visit's evidence and confirmation after its columns.
fn own_visit_select() -> String {
    SELECT.replace(
        " FROM checkins c",
        ", c.evidence, c.confirmation FROM checkins c",
    )
}

fn own_visit_from_row(row: &dyn Row) -> Result<OwnVisit, StoreError> {
    let checkin = from_row(row)?;
    let evidence = evidence_of(checkin.method.as_str(), row.get(13)?)?;
    Ok(OwnVisit {
        evidence,
        confirmation: confirmation_of(&row.get::<String>(14)?)?,
        checkin,
    })
}

/// The member's visits, newest first, with their evidence and confirmation (the app's
/// visit history).
pub fn visits_of_member(
    conn: &mut dyn Conn,
    member: &MemberId,
    limit: u32,
) -> Result<Vec<OwnVisit>, StoreError> {
    let select = own_visit_select();
    conn.all(
        &format!("{select} WHERE c.member_id = ?1 ORDER BY c.at DESC, c.id DESC LIMIT ?2"),
        &[member, &limit],
        own_visit_from_row,
    )
}

/// One visit with what settlement knows of it, locked on PostgreSQL (the member answers it).
pub fn own_visit_for_update(
    conn: &mut dyn Conn,
    id: &CheckinId,
) -> Result<Option<OwnVisit>, StoreError> {
    lock(conn, id)?;
    let select = own_visit_select();
    conn.one(
        &format!("{select} WHERE c.id = ?1"),
        &[id],
        own_visit_from_row,
    )
}

/// How a visit came about, for operators.
pub fn evidence(
    conn: &mut dyn Conn,
    id: &CheckinId,
) -> Result<Option<gymgate_shared::api::CheckinEvidence>, StoreError> {
    conn.one(
        "SELECT method, evidence, desk_online, synced_at, at, suspicion, confirmation,
                answered_at, member_statement, presence_desk, location_m, location_accuracy_m
         FROM checkins WHERE id = ?1",
        &[id],
        |r| {
            let synced_at = r
                .get::<Option<String>>(3)?
                .map(|t| parse_ts(&t))
                .transpose()?;
            let at = parse_ts(&r.get::<String>(4)?)?;
            Ok(gymgate_shared::api::CheckinEvidence {
                checkin_id: id.clone(),
                evidence: evidence_of(&r.get::<String>(0)?, r.get(1)?)?,
                desk_online: r.get(2)?,
                synced_at,
                sync_lag_s: synced_at.map(|s| (s - at).num_seconds()),
                suspicion: r
                    .get::<Option<String>>(5)?
                    .map(|s| s.split(',').map(str::to_owned).collect())
                    .unwrap_or_default(),
                confirmation: confirmation_of(&r.get::<String>(6)?)?,
                answered_at: r
                    .get::<Option<String>>(7)?
                    .map(|t| parse_ts(&t))
                    .transpose()?,
                member_statement: r.get(8)?,
                presence_desk: r.get(9)?,
                location_m: r.get(10)?,
                location_accuracy_m: r.get(11)?,
            })
        },
    )
}

/// A visit behind a fraud signal, as the console's review lists it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ReviewedVisit {
    pub checkin_id: CheckinId,
    pub member_no: String,
    pub center_name: String,
    pub at: DateTime<Utc>,
    pub status: String,
    pub evidence: Evidence,
    pub confirmation: Confirmation,
    pub suspicion: Option<String>,
    pub desk_name: Option<String>,
}

pub fn reviewed_visit(
    conn: &mut dyn Conn,
    id: &CheckinId,
) -> Result<Option<ReviewedVisit>, StoreError> {
    conn.one(
        "SELECT c.id, m.member_no, ctr.name, c.at, c.status, c.method, c.evidence,
                c.confirmation, c.suspicion, d.name
         FROM checkins c JOIN members m ON m.id = c.member_id
              JOIN centers ctr ON ctr.id = c.center_id
              LEFT JOIN desks d ON d.id = c.desk_id
         WHERE c.id = ?1",
        &[id],
        |r| {
            Ok(ReviewedVisit {
                checkin_id: r.get(0)?,
                member_no: r.get(1)?,
                center_name: r.get(2)?,
                at: parse_ts(&r.get::<String>(3)?)?,
                status: r.get(4)?,
                evidence: evidence_of(&r.get::<String>(5)?, r.get(6)?)?,
                confirmation: confirmation_of(&r.get::<String>(7)?)?,
                suspicion: r.get(8)?,
                desk_name: r.get(9)?,
            })
        },
    )
}

/// The member's own words on their "not me" answers (their data download).
pub fn statements_of_member(
    conn: &mut dyn Conn,
    member: &MemberId,
) -> Result<Vec<(String, String)>, StoreError> {
    conn.all(
        "SELECT id, member_statement FROM checkins
         WHERE member_id = ?1 AND member_statement IS NOT NULL",
        &[member],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// The member said yes, or an operator decided their "not me".
pub fn set_confirmation(
    conn: &mut dyn Conn,
    id: &CheckinId,
    confirmation: Confirmation,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE checkins SET confirmation = ?2, answered_at = ?3 WHERE id = ?1",
        &[id, &confirmation.as_str(), &ts(now)],
    )?;
    Ok(())
}

/// The member said the visit was not theirs: it is disputed, with their words, until an
/// operator decides. `checkin` carries the new status, rev and history.
pub fn mark_not_me(
    conn: &mut dyn Conn,
    checkin: &Checkin,
    statement: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    conn.execute(
        "UPDATE checkins SET status = ?2, rev = ?3, history = ?4, dispute_reason = 'not_me',
         confirmation = 'not_me', answered_at = ?5, member_statement = ?6 WHERE id = ?1",
        &[
            &checkin.id,
            &checkin.status.as_str(),
            &checkin.rev,
            &serde_json::to_string(&checkin.history)?,
            &ts(now),
            &statement,
        ],
    )?;
    Ok(())
}

/// What offline check-ins made in `[from, to]` did once they reached the server (from
/// `from` on): how many, at how many centers and desks, and how many became disputes.
pub struct OfflineImpact {
    pub synced: u64,
    pub centers: u64,
    pub desks: u64,
    pub disputes: u64,
}

pub fn offline_impact(
    conn: &mut dyn Conn,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<OfflineImpact, StoreError> {
    conn.one(
        "SELECT COUNT(*), COUNT(DISTINCT center_id), COUNT(DISTINCT desk_id),
                COALESCE(SUM(CASE WHEN dispute_reason IS NOT NULL THEN 1 ELSE 0 END), 0)
         FROM checkins WHERE synced_at >= ?1 AND at >= ?1 AND at <= ?2",
        &[&ts(from), &ts(to)],
        |r| {
            Ok(OfflineImpact {
                synced: r.get(0)?,
                centers: r.get(1)?,
                desks: r.get(2)?,
                disputes: r.get(3)?,
            })
        },
    )
    .map(|found| {
        found.unwrap_or(OfflineImpact {
            synced: 0,
            centers: 0,
            desks: 0,
            disputes: 0,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::{query_plan, test_database};

    /// The two queries every tap runs read one index and never the table.
    #[test]
    fn tap_queries_read_only_the_member_month_index() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, conn) = test_database(&dir, &[]);
        let values = [
            "m",
            "c",
            "2026-01-01",
            "c",
            "2026-01-01",
            "2026-01-02",
            "2026-01-01",
            "2026-01-02",
            "2026-01-02",
        ];
        for (sql, parameters) in [
            (VISITS_SQL, 8),
            (EARLIER_HERE_SQL, 3),
            (HISTORY_HERE_SQL, 9),
        ] {
            let text = query_plan(
                &conn,
                sql,
                rusqlite::params_from_iter(&values[..parameters]),
            );
            assert!(
                text.contains("COVERING INDEX checkins_member_month")
                    && !text.contains("checkins_center_at")
                    && !text.contains("SCAN checkins"),
                "{sql}\n→ {text}"
            );
        }
        drop(store);
    }

    /// "First visit" means no earlier check-in of this member at this center: a later visit,
    /// another center's visit or a voided one do not count.
    #[test]
    fn first_visit_is_about_earlier_check_ins_at_that_center() {
        use gymgate_shared::api::CheckinFlag;
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, mut conn) = test_database(&dir, &["c1", "c2"]);
        let day = |d: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, 11, d)
                .and_then(|date| date.and_hms_opt(1, 0, 0))
                .expect("date")
                .and_utc()
        };
        let checkin = crate::store::sqlite::test_checkin;
        let voided = checkin("k0", "c1", day(2), CheckinStatus::Voided);
        let elsewhere = checkin("k1", "c2", day(3), CheckinStatus::Admitted);
        let first = checkin("k2", "c1", day(5), CheckinStatus::Admitted);
        let second = checkin("k3", "c1", day(9), CheckinStatus::Admitted);
        for c in [&voided, &elsewhere, &first, &second] {
            insert(&mut conn, c, &Provenance::app(None)).expect("insert");
        }
        // The tap's one statement says the same as the card's two.
        let schedule = gymgate_shared::hours::Schedule::always();
        for c in [&voided, &elsewhere, &first, &second] {
            let (history, earlier) =
                history_here(&mut conn, &c.member_id, &c.center_id, &schedule, c.at)
                    .expect("history here");
            let visits = visit_history(
                &mut conn,
                &c.member_id,
                Some((&c.center_id, &schedule)),
                c.at,
            )
            .expect("history");
            let before = visited_before(&mut conn, &c.member_id, &c.center_id, c.at)
                .expect("visited before");
            assert_eq!(
                (
                    history.visits_this_month,
                    history.visited_this_center_today,
                    earlier
                ),
                (
                    visits.visits_this_month,
                    visits.visited_this_center_today,
                    before
                ),
                "{}",
                c.id
            );
        }
        let mut first_visit = |c: &Checkin| {
            card(&mut conn, c.clone())
                .expect("card")
                .flags
                .contains(&CheckinFlag::FirstVisit)
        };
        assert!(first_visit(&elsewhere));
        assert!(
            first_visit(&first),
            "a voided visit and another center's do not count"
        );
        assert!(!first_visit(&second));
        drop(store);
    }

    /// A night past midnight that crosses the month: 23:30 on 30 November and 00:30 on
    /// 1 December (KST) at a center open 06:00–02:00 are one business day, though the second
    /// is in another month (found by the hours test on 3 December 2026).
    #[test]
    fn a_business_day_that_starts_in_the_month_before_still_counts_as_today() {
        use gymgate_shared::hours::{DayHours, Schedule};
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, mut conn) = test_database(&dir, &["c1"]);
        let kst = |d: u32, m: u32, h: u32, min: u32| {
            chrono::NaiveDate::from_ymd_opt(2026, m, d)
                .and_then(|date| date.and_hms_opt(h, min, 0))
                .expect("date")
                .and_utc()
                - chrono::Duration::hours(9)
        };
        let evening = crate::store::sqlite::test_checkin(
            "k1",
            "c1",
            kst(30, 11, 23, 30),
            CheckinStatus::Admitted,
        );
        insert(&mut conn, &evening, &Provenance::app(None)).expect("insert");
        let schedule = Schedule::uniform(DayHours::parse("06:00-02:00").expect("hours"));
        let center = CenterId::new("c1");
        let member = MemberId::new("m1");
        let history = visit_history(
            &mut conn,
            &member,
            Some((&center, &schedule)),
            kst(1, 12, 0, 30),
        )
        .expect("history");
        assert!(history.visited_this_center_today, "the same business day");
        assert_eq!(
            history.visits_this_month, 0,
            "November's visit is not December's"
        );
        let morning = visit_history(
            &mut conn,
            &member,
            Some((&center, &schedule)),
            kst(1, 12, 6, 30),
        )
        .expect("history");
        assert!(
            !morning.visited_this_center_today,
            "06:30 opens a new business day"
        );
        drop(store);
    }

    /// The expiry sweep reads only pending check-ins, never the whole table.
    #[test]
    fn overdue_pending_check_ins_are_found_by_their_own_index() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, conn) = test_database(&dir, &[]);
        let text = query_plan(&conn, OVERDUE_SQL, ["2026-01-01", "10"]);
        assert!(text.contains("INDEX checkins_pending (at<?)"), "{text}");
        drop(store);
    }
}
