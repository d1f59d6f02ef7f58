//! The operations that create and change check-ins. Each runs inside one write job, so its
//! policy reads and its writes are serialised with every other check-in: two taps of the same
//! member racing each other cannot both pass "once per center per day".

use chrono::{DateTime, SubsecRound, Utc};
use gymgate_shared::api::{
    Checkin, CheckinChange, CheckinMethod, CheckinStatus, Confirmation, Dispute, Evidence,
    TapLocation,
};
use gymgate_shared::pass::{self, PassError, PassKey};
use gymgate_shared::policy::VisitHistory;
use gymgate_shared::protocol::{Decision, EventPayload, OutboxRecord, RecordMethod, RecordStatus};
use gymgate_shared::{CenterId, CheckinId, DeskId, LocalId, MemberId, policy, presence};

use crate::error::AppError;
use crate::store::members::MemberRow;
use crate::store::{WriteCtx, centers, checkins, desks, holidays, members};

/// How far an offline record's time may lie in the future (desk clocks drift) or the past
/// (a desk offline over a long weekend).
const RECORD_MAX_FUTURE: chrono::Duration = chrono::Duration::minutes(10);
const RECORD_MAX_AGE: chrono::Duration = chrono::Duration::days(14);

pub struct TapResult {
    pub checkin: Checkin,
    /// False when the idempotency key had already created this check-in.
    pub created: bool,
}

/// A member taps Enter at a center, with the desk's presence code when they scanned one.
pub fn tap(
    ctx: &mut WriteCtx<'_>,
    member_id: &MemberId,
    center_id: &CenterId,
    idempotency_key: &str,
    presence: Option<&str>,
    location: Option<TapLocation>,
) -> Result<TapResult, AppError> {
    // Loaded and locked at once: the rules below read a member no other tap can change.
    // Every statement here is a round trip on PostgreSQL, so a tap sends three: this one,
    // the member's history at the center, and the insert (a fourth on a center with holiday
    // hours: is today a holiday).
    let members::TapReads {
        member,
        earlier,
        center,
    } = members::for_tap(ctx.tx, member_id, idempotency_key, center_id)?
        .ok_or_else(|| AppError::unauthorized("invalid_token", "unknown member"))?;
    if let Some((earlier_center, checkin_id)) = earlier {
        if &earlier_center != center_id {
            return Err(AppError::conflict(
                "idempotency_key_reused",
                "this Idempotency-Key was already used for a check-in at another center",
            ));
        }
        let checkin = checkins::load(ctx.tx, &checkin_id)?
            .ok_or_else(|| AppError::Internal("idempotency key points nowhere".into()))?;
        return Ok(TapResult {
            checkin,
            created: false,
        });
    }
    let center = center.ok_or_else(|| AppError::not_found("unknown_center", "no such center"))?;
    let now = ctx.now;
    let presence_desk = match presence {
        Some(code) => Some(present_at(ctx, code, center_id)?),
        None => None,
    };
    let located = match location {
        Some(location) => located(ctx, member_id, center_id, location)?,
        None => None,
    };
    let (history, earlier_here) =
        checkins::history_here(ctx.tx, member_id, center_id, &center.schedule, now)?;
    let hours = holidays::hours_at(ctx.tx, &center.schedule, now)?;
    policy::evaluate(&member.pass(), &history, &hours, now).map_err(AppError::Refused)?;

    let status = if center.requires_approval {
        CheckinStatus::Pending
    } else {
        CheckinStatus::Admitted
    };
    let checkin = Checkin {
        id: CheckinId::generate(),
        member_id: member_id.clone(),
        center_id: center_id.clone(),
        center_name: center.name.clone(),
        status,
        method: CheckinMethod::App,
        at: now,
        rev: 1,
        local_id: None,
        desk_id: None,
        history: vec![CheckinChange {
            at: now,
            status,
            by: "member".into(),
            reason: None,
        }],
        dispute: None,
    };
    checkins::insert(
        ctx.tx,
        &checkin,
        &checkins::Provenance {
            evidence: if presence_desk.is_some() {
                Evidence::AppPresence
            } else {
                Evidence::App
            },
            presence_desk: presence_desk.as_ref(),
            location: located,
            // Far from the center by its own account: the member is asked, and it is not
            // paid until they say yes.
            suspicion: located
                .filter(|(distance, accuracy)| distance - accuracy > FAR_FROM_CENTER_M)
                .map(|_| "far_from_center".to_owned()),
            ..checkins::Provenance::app(Some(idempotency_key))
        },
    )?;
    let after = VisitHistory {
        visits_this_month: history.visits_this_month + 1,
        visited_this_center_today: true,
    };
    let card = checkins::card_of(checkin.clone(), &member, &after, earlier_here);
    ctx.append_event(center_id, &EventPayload::Checkin(card))?;
    Ok(TapResult {
        checkin,
        created: true,
    })
}

/// A tap whose phone says it is farther than this from the center (beyond its accuracy).
const FAR_FROM_CENTER_M: i64 = 1000;

/// How far a tap's location is from the center, and its accuracy (meters): only with the
/// member's consent and where the center's place is known; otherwise nothing is kept. The
/// place itself is never stored.
fn located(
    ctx: &mut WriteCtx<'_>,
    member: &MemberId,
    center: &CenterId,
    location: TapLocation,
) -> Result<Option<(i64, i64)>, AppError> {
    let plausible = (-90.0..=90.0).contains(&location.lat)
        && (-180.0..=180.0).contains(&location.lon)
        && location.accuracy_m.is_finite()
        && location.accuracy_m >= 0.0;
    if !plausible {
        return Ok(None);
    }
    let Some(members::LocationCheck {
        consent: true,
        place: Some(place),
    }) = members::location_check(ctx.tx, member, center)?
    else {
        return Ok(None);
    };
    let km = gymgate_shared::geo::distance_km(
        (location.lat, location.lon),
        gymgate_shared::geo::from_e6(place),
    );
    Ok(Some((
        (km * 1000.0).round() as i64,
        location.accuracy_m.min(1e6).round() as i64,
    )))
}

/// Checks the presence code a tap carried: a desk of `center` (not revoked) signed it a moment
/// ago. Returns that desk. A code that fails refuses the tap, so the member scans again; a tap
/// with no code is never refused for it.
fn present_at(ctx: &mut WriteCtx<'_>, code: &str, center: &CenterId) -> Result<DeskId, AppError> {
    let refuse = |problem: presence::PresenceError| {
        AppError::bad_request(problem.code(), problem.message_ko())
    };
    let shown = presence::parse(code).map_err(refuse)?;
    let Some((desk_center, key)) = desks::presence_key(ctx.tx, &shown.desk_id)? else {
        return Err(refuse(presence::PresenceError::Foreign));
    };
    if &desk_center != center {
        return Err(refuse(presence::PresenceError::Foreign));
    }
    shown.verify(&key, center, ctx.now).map_err(refuse)?;
    Ok(shown.desk_id)
}

/// Staff at a desk admit, deny or void a check-in of their own center.
pub fn decide(
    ctx: &mut WriteCtx<'_>,
    desk_id: &DeskId,
    desk_center: &CenterId,
    checkin_id: &CheckinId,
    decision: Decision,
    reason: Option<String>,
) -> Result<Checkin, AppError> {
    refuse_revoked(ctx, desk_id)?;
    // Another center's check-in is reported exactly like a missing one: a desk learns nothing
    // about other centers, not even that an id exists.
    let mut checkin = checkins::load_for_update(ctx.tx, checkin_id)?
        .filter(|c| &c.center_id == desk_center)
        .ok_or_else(|| {
            AppError::not_found("unknown_checkin", format!("no check-in {checkin_id} here"))
        })?;
    let next = match (decision, checkin.status) {
        (Decision::Admit, CheckinStatus::Pending) => CheckinStatus::Admitted,
        (Decision::Deny, CheckinStatus::Pending) => CheckinStatus::Denied,
        (Decision::Void, CheckinStatus::Admitted | CheckinStatus::Pending) => CheckinStatus::Voided,
        (decision, status) => {
            return Err(AppError::conflict(
                "invalid_transition",
                format!("cannot {decision:?} a check-in that is {}", status.as_str())
                    .to_lowercase(),
            ));
        }
    };
    let reason = reason
        .map(|r| r.chars().take(500).collect::<String>())
        .filter(|r| !r.trim().is_empty());
    change_status(ctx, &mut checkin, next, format!("desk:{desk_id}"), reason)?;
    Ok(checkin)
}

/// A desk revoked through another node may still be connected here for a moment (its token
/// is checked at the upgrade): what it sends is refused in the transaction that would store it.
fn refuse_revoked(ctx: &mut WriteCtx<'_>, desk_id: &DeskId) -> Result<(), AppError> {
    if desks::is_active(ctx.tx, desk_id)? {
        Ok(())
    } else {
        Err(revoked())
    }
}

fn revoked() -> AppError {
    AppError::unauthorized(
        DESK_REVOKED,
        "이 데스크는 연결이 해제되었습니다. 다시 연결해 주세요 / this desk was unpaired; pair it again",
    )
}

/// The error code of a revoked desk's refused write; the session ends after it.
pub const DESK_REVOKED: &str = "desk_revoked";

pub struct RecordResult {
    pub local_id: LocalId,
    pub status: RecordStatus,
    pub checkin_id: Option<CheckinId>,
    pub reason: Option<String>,
}

/// The desk a record comes from, as the server saw it.
pub struct Recorder<'a> {
    pub desk_id: &'a DeskId,
    pub center_id: &'a CenterId,
    /// When the connection the record came over began.
    pub connected_at: DateTime<Utc>,
}

/// A desk's clock and the time a record takes to arrive are allowed this much before a record
/// counts as made while the server saw the desk online.
const ONLINE_GRACE: chrono::Duration = chrono::Duration::seconds(60);
/// A desk that is online sends what it records within this; later is back-filling.
const ONLINE_SEND_WITHIN: chrono::Duration = chrono::Duration::seconds(120);

/// Why a desk's record looks made up rather than kept through an outage (codes, in
/// docs/settlement.md), and whether the server saw the desk online at the visit's time.
fn suspicion(
    desk: &desks::RecordingDesk,
    connected_at: DateTime<Utc>,
    at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> (Vec<&'static str>, bool) {
    let mut codes = Vec::new();
    if at < desk.paired_at - ONLINE_GRACE {
        codes.push("before_pairing");
    }
    // The desk said its outbox was empty after this visit: it had nothing to send then, so
    // the visit was not waiting in it.
    let said_empty_after = desk
        .outbox_empty_at
        .is_some_and(|empty| at < empty - ONLINE_GRACE);
    if said_empty_after {
        codes.push("after_empty_outbox");
    }
    let during_this_connection = at >= connected_at + ONLINE_GRACE;
    if during_this_connection && now - at > ONLINE_SEND_WITHIN {
        codes.push("late_from_online_desk");
    }
    (codes, said_empty_after || at >= connected_at - ONLINE_GRACE)
}

/// A desk sends a check-in it made while offline. Idempotent by `local_id`: the second time
/// it answers `duplicate` with the first outcome's check-in and reason.
pub fn record(
    ctx: &mut WriteCtx<'_>,
    recorder: &Recorder<'_>,
    item: &OutboxRecord,
    pass_keys: &[PassKey],
) -> Result<RecordResult, AppError> {
    let desk_id = recorder.desk_id;
    let desk = desks::recording(ctx.tx, desk_id)?.ok_or_else(revoked)?;
    // Staff typed a member number: the member is whoever holds it here.
    let resolved;
    let item = match (&item.method, &item.manual) {
        (RecordMethod::Manual, Some(manual)) => {
            let member_no = manual.member_no.trim();
            let member_id = members::id_of(ctx.tx, member_no)?
                // Kept in the record under the number, so support can find it.
                .unwrap_or_else(|| MemberId::new(format!("no:{member_no}")));
            resolved = OutboxRecord {
                member_id,
                ..item.clone()
            };
            &resolved
        }
        _ => item,
    };
    members::lock(ctx.tx, &item.member_id)?;
    if let Some(earlier) = checkins::earlier_record(ctx.tx, &item.local_id)? {
        if &earlier.desk_id != desk_id {
            // A local_id is a UUID: another desk using it is forged or broken, not a retry.
            return Ok(RecordResult {
                local_id: item.local_id.clone(),
                status: RecordStatus::Rejected,
                checkin_id: None,
                reason: Some("local_id_taken".into()),
            });
        }
        return Ok(RecordResult {
            local_id: item.local_id.clone(),
            status: RecordStatus::Duplicate,
            checkin_id: earlier.checkin_id,
            reason: earlier.reason,
        });
    }

    let (status, checkin_id, reason) = judge_record(ctx, recorder, &desk, item, pass_keys)?;
    checkins::insert_record(
        ctx.tx,
        &checkins::NewRecord {
            local_id: &item.local_id,
            desk_id,
            member_id: &item.member_id,
            at: item.at,
            status: status.as_str(),
            checkin_id: checkin_id.as_ref(),
            reason: reason.as_deref(),
        },
        ctx.now,
    )?;
    Ok(RecordResult {
        local_id: item.local_id.clone(),
        status,
        checkin_id,
        reason,
    })
}

fn judge_record(
    ctx: &mut WriteCtx<'_>,
    recorder: &Recorder<'_>,
    desk: &desks::RecordingDesk,
    item: &OutboxRecord,
    pass_keys: &[PassKey],
) -> Result<(RecordStatus, Option<CheckinId>, Option<String>), AppError> {
    let (desk_id, desk_center) = (recorder.desk_id, recorder.center_id);
    let rejected = |reason: &str| Ok((RecordStatus::Rejected, None, Some(reason.to_owned())));
    // Stored times have microsecond precision; keep the event's copy identical to the row.
    let at = item.at.trunc_subsecs(6);
    if !in_window(at, ctx.now) {
        return rejected("time_out_of_range");
    }
    let manual = match (item.method, &item.manual) {
        (RecordMethod::Manual, Some(manual)) => Some(manual),
        (RecordMethod::Manual, None) => return rejected("manual_entry_missing"),
        _ => None,
    };
    let Some(member) = members::load(ctx.tx, &item.member_id)? else {
        return rejected(if manual.is_some() {
            "unknown_member_no"
        } else {
            "unknown_member"
        });
    };
    // A scanned pass is checked again, as the desk checked it, at the time the desk scanned
    // it. A pass that fails here still stands for a member at the door: the visit is kept as
    // disputed, like any other the rules refuse.
    let pass = match item.method {
        RecordMethod::Roster | RecordMethod::Manual => Ok(None),
        RecordMethod::Pass => match recheck_pass(&member, item, at, pass_keys) {
            Ok(fingerprint) => {
                if checkins::pass_used(ctx.tx, &fingerprint)? {
                    Err(PassError::Replayed)
                } else {
                    Ok(Some(fingerprint))
                }
            }
            Err(problem) => Err(problem),
        },
    };
    let Some(center) = centers::load(ctx.tx, desk_center)? else {
        return Err(AppError::Internal("desk's center is missing".into()));
    };
    let (history, earlier_here) =
        checkins::history_here(ctx.tx, &member.id, desk_center, &center.schedule, at)?;
    let hours = holidays::hours_at(ctx.tx, &center.schedule, at)?;
    let method = match item.method {
        RecordMethod::Roster => CheckinMethod::Roster,
        RecordMethod::Pass => CheckinMethod::Pass,
        RecordMethod::Manual => CheckinMethod::Manual,
    };
    let by = format!("desk:{desk_id}");
    let admitted_offline = CheckinChange {
        at,
        status: CheckinStatus::Admitted,
        by: by.clone(),
        reason: Some(match manual {
            // What staff saw stays with the visit, for operators and support.
            Some(manual) => format!(
                "staff judgement: {}",
                manual.note.trim().chars().take(200).collect::<String>()
            ),
            None => "recorded offline".into(),
        }),
    };
    let refusal = match &pass {
        Err(problem) => Some(problem.code().to_owned()),
        Ok(_) => policy::evaluate(&member.pass(), &history, &hours, at)
            .err()
            .map(|r| r.code().to_owned()),
    };
    // Staff already let this member in: an offline check-in is admitted even where the
    // center normally approves check-ins by hand. One the rules refuse is still a visit that
    // happened: it is kept as disputed (it does not use up the pass) until operators decide.
    let (status, history_entries, dispute) = match &refusal {
        None => (CheckinStatus::Admitted, vec![admitted_offline], None),
        Some(code) => (
            CheckinStatus::Disputed,
            vec![
                admitted_offline,
                CheckinChange {
                    at: ctx.now,
                    status: CheckinStatus::Disputed,
                    by: "server".into(),
                    reason: Some(code.clone()),
                },
            ],
            Some(Dispute {
                reason: code.clone(),
                synced_at: ctx.now,
            }),
        ),
    };
    let checkin = Checkin {
        id: CheckinId::generate(),
        member_id: member.id.clone(),
        center_id: desk_center.clone(),
        center_name: center.name.clone(),
        status,
        method,
        at,
        rev: 1,
        local_id: Some(item.local_id.clone()),
        desk_id: Some(desk_id.clone()),
        history: history_entries,
        dispute,
    };
    let (codes, desk_online) = suspicion(desk, recorder.connected_at, at, ctx.now);
    checkins::insert(
        ctx.tx,
        &checkin,
        &checkins::Provenance {
            idempotency_key: None,
            synced_at: Some(ctx.now),
            evidence: Evidence::of_method(method),
            desk_online: Some(desk_online),
            suspicion: (!codes.is_empty()).then(|| codes.join(",")),
            presence_desk: None,
            location: None,
        },
    )?;
    if let Ok(Some(fingerprint)) = &pass {
        // This showing is used now: the same code at another desk is caught as replayed.
        checkins::use_pass(ctx.tx, fingerprint, &checkin.id, ctx.now)?;
    }
    // The month's count is of the visit's own month, which is what `history` counted; a
    // disputed visit does not count.
    let after = match &refusal {
        None => VisitHistory {
            visits_this_month: history.visits_this_month + 1,
            visited_this_center_today: true,
        },
        Some(_) => history,
    };
    let card = checkins::card_of(checkin.clone(), &member, &after, earlier_here);
    ctx.append_event(desk_center, &EventPayload::Checkin(card))?;
    Ok(match refusal {
        None => (RecordStatus::Accepted, Some(checkin.id), None),
        Some(code) => (RecordStatus::Conflict, Some(checkin.id), Some(code)),
    })
}

/// The server's check of a scanned pass: everything the desk checked (as of `at`, when it
/// was scanned), plus what only the server knows: whose pass it is and whether the member's
/// passes were revoked. Returns the showing's fingerprint (whether it was used already is
/// the caller's to ask).
fn recheck_pass(
    member: &MemberRow,
    item: &OutboxRecord,
    at: DateTime<Utc>,
    keys: &[PassKey],
) -> Result<String, PassError> {
    let proof = item.proof.as_deref().ok_or(PassError::Malformed)?;
    let shown = pass::parse(&pass::from_keyboard(proof))?;
    shown.verify(keys, at)?;
    if shown.certificate.member_id != member.id {
        return Err(PassError::BadServerSignature);
    }
    if member
        .passes_revoked_at
        .is_some_and(|revoked| shown.certificate.issued_at < revoked)
    {
        return Err(PassError::Revoked);
    }
    Ok(shown.fingerprint())
}

/// An operator accepts (the visit counts: `admitted`) or rejects (it does not: `denied`) a
/// disputed check-in. `by` names the operator for the history.
pub fn resolve_dispute(
    ctx: &mut WriteCtx<'_>,
    checkin_id: &CheckinId,
    accept: bool,
    reason: Option<String>,
    override_rules: bool,
    by: &str,
) -> Result<Resolved, AppError> {
    let mut checkin = checkins::load_for_update(ctx.tx, checkin_id)?.ok_or_else(|| {
        AppError::not_found("unknown_checkin", format!("no check-in {checkin_id}"))
    })?;
    if checkin.status != CheckinStatus::Disputed {
        return Err(AppError::conflict(
            "not_disputed",
            format!(
                "check-in {checkin_id} is {}, not disputed",
                checkin.status.as_str()
            ),
        ));
    }
    let reason = reason
        .map(|r| r.trim().chars().take(500).collect::<String>())
        .filter(|r| !r.is_empty());
    if !accept && reason.is_none() {
        return Err(AppError::bad_request(
            "reason_required",
            "say why the visit is rejected; the center and the member will see it",
        ));
    }
    let (next, overridden) = if accept {
        let overridden = rules_for_counting(ctx, &checkin, override_rules, reason.as_deref())?;
        (CheckinStatus::Admitted, overridden)
    } else {
        (CheckinStatus::Denied, None)
    };
    let reason = with_override(reason, overridden);
    let member_said_not_me = checkin
        .dispute
        .as_ref()
        .is_some_and(|d| d.reason == "not_me");
    change_status(ctx, &mut checkin, next, by.to_owned(), reason)?;
    if member_said_not_me && accept {
        // Counted against the member's word: the operator's decision is what pays it.
        checkins::set_confirmation(ctx.tx, checkin_id, Confirmation::Operator, ctx.now)?;
    }
    Ok(Resolved {
        checkin,
        overridden,
    })
}

/// A check-in an operator changed, and the rule they overrode to make it count, if any.
pub struct Resolved {
    pub checkin: Checkin,
    pub overridden: Option<policy::Refusal>,
}

/// Before an operator makes a visit count (accepting a dispute, correcting a voided one), the
/// rules run again as of the visit, against every other visit that counts now, with the
/// member's row locked like a tap's: what was refused because the member came twice that day
/// is still refused while the first visit counts. `override_rules` (with a reason) lets it
/// count anyway; the caller audits which rule was overridden.
fn rules_for_counting(
    ctx: &mut WriteCtx<'_>,
    checkin: &Checkin,
    override_rules: bool,
    reason: Option<&str>,
) -> Result<Option<policy::Refusal>, AppError> {
    members::lock(ctx.tx, &checkin.member_id)?;
    let member = members::load(ctx.tx, &checkin.member_id)?
        .ok_or_else(|| AppError::Internal("the visit's member is gone".into()))?;
    let center = centers::load(ctx.tx, &checkin.center_id)?
        .ok_or_else(|| AppError::Internal("the visit's center is gone".into()))?;
    // This visit does not count yet (voided, denied, expired or disputed), so the history is
    // of the others.
    let history = checkins::visit_history(
        ctx.tx,
        &checkin.member_id,
        Some((&checkin.center_id, &center.schedule)),
        checkin.at,
    )?;
    let hours = holidays::hours_at(ctx.tx, &center.schedule, checkin.at)?;
    let Err(refusal) = policy::evaluate(&member.pass(), &history, &hours, checkin.at) else {
        return Ok(None);
    };
    if !override_rules {
        return Err(AppError::conflict(
            "rules_refuse",
            format!(
                "규칙상 인정할 수 없습니다: {} 그래도 인정하려면 사유와 함께 '규칙 무시'를 선택하세요 / \
                 the rules refuse this visit ({}); to count it anyway, override with a reason",
                refusal.message_ko(),
                refusal.code()
            ),
        ));
    }
    if reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(AppError::bad_request(
            "reason_required",
            "규칙을 무시하려면 사유를 적어 주세요 / say why the rules are overridden",
        ));
    }
    Ok(Some(refusal))
}

fn with_override(reason: Option<String>, overridden: Option<policy::Refusal>) -> Option<String> {
    match overridden {
        None => reason,
        Some(rule) => Some(format!(
            "{} (override: {})",
            reason.unwrap_or_default(),
            rule.code()
        )),
    }
}

/// Expires up to `limit` pending check-ins made before `before`: the visit is given back, and
/// desks and the member hear it like any other change. Returns how many expired (not how
/// many were looked at: one decided meanwhile is left alone and not counted).
pub fn expire_pending(
    ctx: &mut WriteCtx<'_>,
    before: DateTime<Utc>,
    limit: usize,
    window: chrono::Duration,
) -> Result<usize, AppError> {
    let waited = if window.num_minutes() >= 1 {
        format!("{} minutes", window.num_minutes())
    } else {
        format!("{} seconds", window.num_seconds())
    };
    let ids = checkins::overdue_pending(ctx.tx, before, limit)?;
    expire_checkins(ctx, &ids, &waited)
}

/// Expires those of `ids` still pending; returns how many it expired.
fn expire_checkins(
    ctx: &mut WriteCtx<'_>,
    ids: &[CheckinId],
    waited: &str,
) -> Result<usize, AppError> {
    let mut expired = 0;
    for id in ids {
        let Some(mut checkin) = checkins::load(ctx.tx, id)? else {
            continue;
        };
        if checkin.status != CheckinStatus::Pending {
            continue;
        }
        expired += 1;
        change_status(
            ctx,
            &mut checkin,
            CheckinStatus::Expired,
            "server".into(),
            Some(format!(
                "no one at the desk admitted or denied it within {waited}"
            )),
        )?;
    }
    Ok(expired)
}

fn in_window(at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
    at <= now + RECORD_MAX_FUTURE && at >= now - RECORD_MAX_AGE
}

/// An operator voids a visit (it stops counting) or corrects one (a voided, denied or expired
/// visit made to count again), with a reason the member and the center see. `by` names the
/// operator in the visit's history.
pub fn correct_by_operator(
    ctx: &mut WriteCtx<'_>,
    checkin_id: &CheckinId,
    void: bool,
    reason: &str,
    override_rules: bool,
    by: &str,
) -> Result<(Resolved, CheckinStatus), AppError> {
    let mut checkin = checkins::load_for_update(ctx.tx, checkin_id)?.ok_or_else(|| {
        AppError::not_found("unknown_checkin", format!("no check-in {checkin_id}"))
    })?;
    let reason: String = reason.trim().chars().take(500).collect();
    if reason.is_empty() {
        return Err(AppError::bad_request(
            "reason_required",
            "사유를 적어 주세요 / say why; the member and the center see it",
        ));
    }
    let before = checkin.status;
    let next = match (void, before) {
        (true, CheckinStatus::Admitted | CheckinStatus::Pending) => CheckinStatus::Voided,
        (false, CheckinStatus::Voided | CheckinStatus::Denied | CheckinStatus::Expired) => {
            CheckinStatus::Admitted
        }
        (_, status) => {
            return Err(AppError::conflict(
                "invalid_transition",
                format!(
                    "cannot {} a check-in that is {}",
                    if void { "void" } else { "correct" },
                    status.as_str()
                ),
            ));
        }
    };
    let overridden = if next == CheckinStatus::Admitted {
        rules_for_counting(ctx, &checkin, override_rules, Some(&reason))?
    } else {
        None
    };
    let reason = with_override(Some(reason), overridden);
    change_status(ctx, &mut checkin, next, by.to_owned(), reason)?;
    Ok((
        Resolved {
            checkin,
            overridden,
        },
        before,
    ))
}

/// Moves a check-in to `next` with who and why in its history, stores it, and tells the
/// center's desks and the member (`checkin_updated`): the one way every change is made.
pub(crate) fn change_status(
    ctx: &mut WriteCtx<'_>,
    checkin: &mut Checkin,
    next: CheckinStatus,
    by: String,
    reason: Option<String>,
) -> Result<(), AppError> {
    checkin.status = next;
    checkin.rev += 1;
    checkin.history.push(CheckinChange {
        at: ctx.now,
        status: next,
        by,
        reason,
    });
    checkins::update(ctx.tx, checkin)?;
    let card = checkins::card(ctx.tx, checkin.clone())?;
    let center = checkin.center_id.clone();
    ctx.append_event(&center, &EventPayload::CheckinUpdated(card))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::test_database;

    /// Each way a desk's record can contradict what the server saw of the desk, and the
    /// honest cases beside them: kept through an outage, or recorded live.
    #[test]
    fn a_record_is_suspicious_where_the_desk_was_seen_online() {
        let now = Utc::now();
        let minutes = chrono::Duration::minutes;
        let desk = |paired: i64, empty: Option<i64>| desks::RecordingDesk {
            paired_at: now - minutes(paired),
            outbox_empty_at: empty.map(|m| now - minutes(m)),
        };
        // Offline for an hour, reconnected a minute ago with items waiting: honest.
        let (codes, online) = suspicion(
            &desk(6000, Some(120)),
            now - minutes(1),
            now - minutes(30),
            now,
        );
        assert!(codes.is_empty(), "{codes:?}");
        assert!(!online);
        // Recorded live on this connection: honest, and online.
        let (codes, online) = suspicion(
            &desk(6000, Some(60)),
            now - minutes(60),
            now - chrono::Duration::seconds(2),
            now,
        );
        assert!(codes.is_empty(), "{codes:?}");
        assert!(online);
        // A visit of 40 minutes ago on a connection up for an hour, sent only now.
        let (codes, online) = suspicion(
            &desk(6000, Some(60)),
            now - minutes(60),
            now - minutes(40),
            now,
        );
        assert_eq!(codes, ["late_from_online_desk"]);
        assert!(online);
        // The desk said its outbox was empty after the visit.
        let (codes, online) = suspicion(
            &desk(6000, Some(60)),
            now - minutes(60),
            now - minutes(600),
            now,
        );
        assert_eq!(codes, ["after_empty_outbox"]);
        assert!(online);
        // A visit before the desk was paired at all.
        let (codes, _) = suspicion(&desk(30, None), now - minutes(1), now - minutes(600), now);
        assert_eq!(codes, ["before_pairing"]);
    }

    /// Finding 6. Expiry reports the check-ins it expired, not the ids it was given: one
    /// decided meanwhile (admitted at the desk) and one unknown are not counted.
    #[tokio::test]
    async fn finding_6_expiry_counts_only_what_it_expired() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, mut conn) = test_database(&dir, &["c1"]);
        let at = Utc::now() - chrono::Duration::hours(1);
        let checkin = |id: &str, status| crate::store::sqlite::test_checkin(id, "c1", at, status);
        for c in [
            checkin("k1", CheckinStatus::Pending),
            checkin("k2", CheckinStatus::Admitted),
        ] {
            checkins::insert(&mut conn, &c, &checkins::Provenance::app(None)).expect("insert");
        }
        let ids = ["k1", "k2", "k9"].map(|id| CheckinId::new(id.to_owned()));
        let expired = store
            .writer
            .write(move |ctx| expire_checkins(ctx, &ids, "20 minutes"))
            .await
            .expect("expire");
        assert_eq!(expired, 1);
        let status: String = conn
            .query_row("SELECT status FROM checkins WHERE id = 'k1'", [], |r| {
                r.get(0)
            })
            .expect("k1");
        assert_eq!(status, "expired");
    }
}
