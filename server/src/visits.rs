//! Whether the member stands behind a visit: their answers in the app ("was this you?" and
//! "이 방문은 제가 아닙니다"), and the rule settlement pays by (docs/settlement.md).

use chrono::{DateTime, Utc};
use gymgate_shared::api::{CheckinStatus, Confirmation, Dispute, MemberVisit, VisitAnswer};
use gymgate_shared::{CheckinId, MemberId};

use crate::error::AppError;
use crate::store::WriteCtx;
use crate::store::centers::ConfirmationRule;
use crate::store::checkins::{self, OwnVisit, Settled};

/// How far back a member may say a visit was not theirs.
pub const DISPUTE_DAYS: i64 = 30;
/// Most characters of a member's statement kept.
const STATEMENT_MAX: usize = 500;

/// Whether settlement pays a visit now: admitted, and either the member's own evidence, their
/// yes, an operator's decision, or (staff-recorded, not suspicious, the center not under
/// review) the center's days passed since the server learned of it with no "no".
pub fn is_paid(visit: &Settled, rule: &ConfirmationRule, now: DateTime<Utc>) -> bool {
    visit.status == CheckinStatus::Admitted
        && match visit.confirmation {
            Confirmation::ByEvidence | Confirmation::Member | Confirmation::Operator => true,
            Confirmation::Unconfirmed => {
                rule.review_reason.is_none()
                    && !visit.suspicious
                    && visit.known_at + chrono::Duration::days(rule.confirm_days.into()) <= now
            }
            Confirmation::NotMe => false,
        }
}

/// A visit as the member's history shows it.
pub fn member_view(visit: OwnVisit, now: DateTime<Utc>) -> MemberVisit {
    let recent = visit.checkin.at >= now - chrono::Duration::days(DISPUTE_DAYS);
    let counted = visit.checkin.status.counts_as_visit();
    MemberVisit {
        ask: recent && counted && visit.confirmation == Confirmation::Unconfirmed,
        disputable: recent && counted && visit.confirmation != Confirmation::NotMe,
        evidence: visit.evidence,
        confirmation: visit.confirmation,
        checkin: visit.checkin,
    }
}

/// The member answers about one of their visits: yes confirms it; no disputes it, with their
/// statement, for operators. Answering again the same way changes nothing.
pub fn answer(
    ctx: &mut WriteCtx<'_>,
    member_id: &MemberId,
    checkin_id: &CheckinId,
    answer: &VisitAnswer,
) -> Result<MemberVisit, AppError> {
    // Another member's visit looks exactly like a missing one.
    let mut visit = checkins::own_visit_for_update(ctx.tx, checkin_id)?
        .filter(|v| &v.checkin.member_id == member_id)
        .ok_or_else(|| {
            AppError::not_found(
                "unknown_checkin",
                "방문 기록을 찾을 수 없습니다 / no such visit",
            )
        })?;
    let now = ctx.now;
    let recent = visit.checkin.at >= now - chrono::Duration::days(DISPUTE_DAYS);
    if visit.confirmation == Confirmation::NotMe {
        return if answer.mine {
            Err(AppError::conflict(
                "already_disputed",
                "이미 '제가 아닙니다'라고 답한 방문입니다. 운영팀이 확인 중입니다 / you already said this visit was not yours; operators are looking at it",
            ))
        } else {
            Ok(member_view(visit, now))
        };
    }
    if !visit.checkin.status.counts_as_visit() || !recent {
        return Err(AppError::conflict(
            "not_answerable",
            format!(
                "{}일이 지났거나 인정되지 않은 방문에는 답할 수 없습니다 / only counted visits of the last {} days can be answered",
                DISPUTE_DAYS, DISPUTE_DAYS
            ),
        ));
    }
    if answer.mine {
        if visit.confirmation == Confirmation::Unconfirmed {
            checkins::set_confirmation(ctx.tx, checkin_id, Confirmation::Member, now)?;
            visit.confirmation = Confirmation::Member;
        }
        return Ok(member_view(visit, now));
    }
    let statement = answer
        .statement
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .ok_or_else(|| {
            AppError::bad_request(
                "statement_required",
                "어떻게 된 일인지 한 줄 적어 주세요. 운영팀이 확인합니다 / say in a line what happened; operators will look into it",
            )
        })?
        .chars()
        .take(STATEMENT_MAX)
        .collect::<String>();
    let checkin = &mut visit.checkin;
    checkin.dispute = Some(Dispute {
        reason: "not_me".into(),
        synced_at: now,
    });
    crate::checkins::change_status(
        ctx,
        checkin,
        CheckinStatus::Disputed,
        "member".into(),
        Some("not_me".into()),
    )?;
    checkins::mark_not_me(ctx.tx, checkin, &statement, now)?;
    visit.confirmation = Confirmation::NotMe;
    Ok(member_view(visit, now))
}
