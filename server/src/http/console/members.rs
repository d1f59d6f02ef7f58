//! Members, their visits, photos and PINs, and disputes decided in bulk.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::Utc;
use gymgate_shared::CheckinId;
use gymgate_shared::api::{
    BulkDisputes, BulkResult, Checkin, CheckinStatus, MemberDetail, MemberPage, PinReset,
    VisitCorrection,
};

use crate::auth::pins::Priority;
use crate::auth::tokens;
use crate::checkins;
use crate::error::AppError;
use crate::extract::{ApiJson, AsSupport, AsViewer};
use crate::state::AppState;
use crate::store::audit::Subject;
use crate::store::{checkins as stored_checkins, logins, members};

use super::super::admin;

/// Disputes one bulk decision may take.
const MAX_BULK: usize = 500;

#[derive(serde::Deserialize)]
pub(super) struct MemberQuery {
    q: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

/// Notes a read of members' personal data in the audit log (who read whom, never the search
/// text): the bulk-read alert counts these.
async fn audit_read(
    state: &AppState,
    actor: String,
    action: &'static str,
    subject: Subject,
    after: serde_json::Value,
) {
    let result = state
        .store
        .writer
        .write(move |ctx| ctx.audit(&actor, action, &subject, None, Some(&after)))
        .await;
    if let Err(error) = result {
        tracing::warn!(%error, action, "cannot audit a read of members' data");
    }
}

pub(super) async fn member_list(
    State(state): State<AppState>,
    AsViewer(actor): AsViewer,
    Query(query): Query<MemberQuery>,
) -> Result<Json<MemberPage>, AppError> {
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let q = query
        .q
        .unwrap_or_default()
        .trim()
        .chars()
        .take(64)
        .collect::<String>();
    let page = state
        .store
        .read(move |conn| {
            if q.is_empty() {
                let rows = members::page(conn, query.after.as_deref().unwrap_or(""), limit)?;
                let next = (rows.len() == limit as usize)
                    .then(|| rows.last().map(|m| m.member_no.clone()))
                    .flatten();
                Ok(MemberPage {
                    members: rows.iter().map(members::summary).collect(),
                    next,
                })
            } else {
                let rows = members::search(conn, &q, limit)?;
                Ok(MemberPage {
                    members: rows.iter().map(members::summary).collect(),
                    next: None,
                })
            }
        })
        .await?;
    audit_read(
        &state,
        actor.name,
        "members.search",
        Subject::default(),
        serde_json::json!({ "results": page.members.len() }),
    )
    .await;
    Ok(Json(page))
}

/// Visits shown on a member's page.
const MEMBER_VISITS: u32 = 200;

pub(super) async fn member_detail(
    State(state): State<AppState>,
    AsViewer(actor): AsViewer,
    Path(member_no): Path<String>,
) -> Result<Json<MemberDetail>, AppError> {
    let read_no = member_no.clone();
    let detail = state
        .store
        .read(move |conn| {
            let Some(member) = members::load_by_no(conn, &member_no)? else {
                return Ok(None);
            };
            let history = stored_checkins::visit_history(conn, &member.id, None, Utc::now())?;
            let failures = logins::load(conn, &member_no)?;
            let blocked_reason = members::blocked_reason(conn, &member.id)?;
            Ok(Some(MemberDetail {
                member: member.public(&history),
                phone: member.phone.clone(),
                blocked_reason,
                pin_lock: gymgate_shared::api::PinLock {
                    member_no: member.member_no.clone(),
                    failures: failures.as_ref().map_or(0, |f| f.failures),
                    locked_until: failures
                        .and_then(|f| f.locked_until)
                        .filter(|until| *until > Utc::now()),
                },
                visits: stored_checkins::of_member(conn, &member.id, MEMBER_VISITS)?,
            }))
        })
        .await?
        .ok_or_else(|| AppError::not_found("unknown_member", "no such member"))?;
    audit_read(
        &state,
        actor.name,
        "member.read",
        Subject {
            member_no: Some(read_no),
            ..Subject::default()
        },
        serde_json::json!({ "visits": detail.visits.len() }),
    )
    .await;
    Ok(Json(detail))
}

/// A new six-digit PIN, told once to the operator to give the member; their logins end.
pub(super) async fn reset_pin(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(member_no): Path<String>,
) -> Result<Json<PinReset>, AppError> {
    let pin = tokens::new_pin();
    let hash = state.pins.hash_with(pin.clone(), Priority::Login).await?;
    let no = member_no.clone();
    let member_id = state
        .store
        .writer
        .write(move |ctx| -> Result<gymgate_shared::MemberId, AppError> {
            let member = crate::members::by_no(ctx.tx, &no)?;
            crate::members::change_pin(ctx, &member.id, &hash)?;
            logins::clear(ctx.tx, &no)?;
            let subject = Subject {
                member_no: Some(no.clone()),
                ..Subject::default()
            };
            // The PIN itself never goes into the log.
            ctx.audit(
                &actor.name,
                "member.reset_pin",
                &subject,
                None,
                Some(&serde_json::json!({ "pin_reset": true, "sessions_ended": true, "passes_revoked": true })),
            )?;
            Ok(member.id)
        })
        .await?;
    state.end_member_sessions(&member_id);
    Ok(Json(PinReset { member_no, pin }))
}

/// A member's photo (JPEG or PNG, at most 5 MB and 6000 pixels a side): decoded and kept as a
/// small JPEG with no metadata; desks that know the member hear of it and fetch it.
pub(super) async fn put_photo(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(member_no): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, AppError> {
    // Decoding is CPU work: off the async threads.
    let jpeg = tokio::task::spawn_blocking(move || crate::photos::thumbnail(&body))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|problem| {
            let code = match problem {
                crate::photos::PhotoError::NotAnImage => "not_an_image",
                crate::photos::PhotoError::TooLarge => "image_too_large",
                crate::photos::PhotoError::Damaged => "image_damaged",
            };
            AppError::bad_request(code, problem.to_string())
        })?;
    let url = state
        .store
        .writer
        .write(move |ctx| -> Result<String, AppError> {
            let member = crate::members::by_no(ctx.tx, &member_no)?;
            let url = crate::members::set_photo(ctx, &member.id, Some(&jpeg))?.unwrap_or_default();
            let subject = Subject {
                member_no: Some(member_no),
                ..Subject::default()
            };
            ctx.audit(
                &actor.name,
                "member.photo",
                &subject,
                Some(&serde_json::json!({ "photo": member.photo_url.is_some() })),
                Some(&serde_json::json!({ "photo": true, "bytes": jpeg.len() })),
            )?;
            Ok(url)
        })
        .await?;
    Ok(Json(serde_json::json!({ "photo_url": url })))
}

pub(super) async fn delete_photo(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(member_no): Path<String>,
) -> Result<StatusCode, AppError> {
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let member = crate::members::by_no(ctx.tx, &member_no)?;
            let had = member.photo_url.is_some();
            crate::members::set_photo(ctx, &member.id, None)?;
            let subject = Subject {
                member_no: Some(member_no),
                ..Subject::default()
            };
            ctx.audit(
                &actor.name,
                "member.photo_delete",
                &subject,
                Some(&serde_json::json!({ "photo": had })),
                Some(&serde_json::json!({ "photo": false })),
            )?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub(super) async fn change_visit(
    state: &AppState,
    actor_name: String,
    id: String,
    void: bool,
    correction: VisitCorrection,
) -> Result<Checkin, AppError> {
    let id = CheckinId::new(id);
    let VisitCorrection {
        reason,
        override_rules,
    } = correction;
    state
        .store
        .writer
        .write(move |ctx| -> Result<Checkin, AppError> {
            let (
                checkins::Resolved {
                    checkin,
                    overridden,
                },
                before,
            ) = checkins::correct_by_operator(
                ctx,
                &id,
                void,
                &reason,
                override_rules,
                &actor_name,
            )?;
            let subject = Subject {
                member_no: members::load(ctx.tx, &checkin.member_id)?.map(|m| m.member_no),
                center_id: Some(checkin.center_id.clone()),
                target: Some(checkin.id.to_string()),
            };
            ctx.audit(
                &actor_name,
                if void {
                    "checkin.void"
                } else {
                    "checkin.correct"
                },
                &subject,
                Some(&serde_json::json!({ "status": before.as_str() })),
                Some(&serde_json::json!({
                    "status": checkin.status.as_str(),
                    "reason": reason,
                    "overridden_rule": overridden.map(|r| r.code()),
                })),
            )?;
            Ok(checkin)
        })
        .await
}

pub(super) async fn void_visit(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<VisitCorrection>,
) -> Result<Json<Checkin>, AppError> {
    Ok(Json(
        change_visit(&state, actor.name, id, true, body).await?,
    ))
}

pub(super) async fn correct_visit(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<VisitCorrection>,
) -> Result<Json<Checkin>, AppError> {
    Ok(Json(
        change_visit(&state, actor.name, id, false, body).await?,
    ))
}

/// Policy reasons that may be decided in bulk: who came is not in doubt, only a rule about
/// the visit (a second visit today, the month's visits used up, outside opening hours).
/// Anything about who the member is or whether their pass holds (blocked, expired, a pass
/// shown twice or revoked) is looked at one by one.
pub(super) fn safe_in_bulk(reason: &str) -> bool {
    matches!(
        reason,
        "already_checked_in_today" | "no_visits_left" | "center_closed"
    )
}

pub(super) async fn bulk_disputes(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    ApiJson(bulk): ApiJson<BulkDisputes>,
) -> Result<Json<BulkResult>, AppError> {
    if bulk.checkin_ids.len() > MAX_BULK {
        return Err(AppError::bad_request(
            "too_many",
            format!("한 번에 {MAX_BULK}건까지 / at most {MAX_BULK} at once"),
        ));
    }
    let by = actor.name.clone();
    let result = state
        .store
        .writer
        .write(move |ctx| -> Result<BulkResult, AppError> {
            let mut result = BulkResult {
                decided: Vec::new(),
                skipped: Vec::new(),
            };
            for id in bulk.checkin_ids {
                let Some(checkin) = stored_checkins::load(ctx.tx, &id)? else {
                    result.skipped.push((id, "unknown_checkin".into()));
                    continue;
                };
                if checkin.status != CheckinStatus::Disputed {
                    result.skipped.push((id, "not_disputed".into()));
                    continue;
                }
                let reason = checkin.dispute.as_ref().map_or("", |d| d.reason.as_str());
                if bulk.accept && !safe_in_bulk(reason) {
                    result.skipped.push((id, "decide_one_by_one".into()));
                    continue;
                }
                // Bulk never overrides: a visit the rules refuse now is left for one-by-one.
                match admin::resolve_audited(ctx, &by, &id, bulk.accept, bulk.reason.clone(), false)
                {
                    Ok(_) => result.decided.push(id),
                    Err(AppError::Conflict {
                        code: "rules_refuse",
                        ..
                    }) => {
                        result.skipped.push((id, "rules_refuse".into()));
                    }
                    Err(error) => return Err(error),
                }
            }
            Ok(result)
        })
        .await?;
    Ok(Json(result))
}
