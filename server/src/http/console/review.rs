//! Centers under review: how strictly a center's staff-recorded visits must be confirmed by
//! their members before they are paid (docs/settlement.md, "Member confirmation").

use axum::Json;
use axum::extract::{Path, State};
use gymgate_shared::api::{CenterConfirmation, CheckinEvidence};
use gymgate_shared::{CenterId, CheckinId};

use crate::error::AppError;
use crate::extract::{ApiJson, AsAdmin, AsViewer};
use crate::state::AppState;
use crate::store::audit::Subject;
use crate::store::centers::{self, ConfirmationRule};
use crate::store::checkins;

/// The longest a center may leave its members to say no before a visit is paid anyway.
const CONFIRM_DAYS_MAX: u32 = 60;

fn view(rule: ConfirmationRule) -> CenterConfirmation {
    CenterConfirmation {
        confirm_days: rule.confirm_days,
        under_review: rule.review_reason.is_some(),
        reason: rule.review_reason,
    }
}

fn unknown_center() -> AppError {
    AppError::not_found("unknown_center", "그런 센터가 없습니다 / no such center")
}

pub(super) async fn center_confirmation(
    State(state): State<AppState>,
    _: AsViewer,
    Path(id): Path<CenterId>,
) -> Result<Json<CenterConfirmation>, AppError> {
    let rule = state
        .store
        .read(move |conn| centers::confirmation_rule(conn, &id))
        .await?
        .ok_or_else(unknown_center)?;
    Ok(Json(view(rule)))
}

/// Sets a center's days to a "no" and puts it under review or takes it off, audited with the
/// reason.
pub(super) async fn put_center_confirmation(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    Path(id): Path<CenterId>,
    ApiJson(wanted): ApiJson<CenterConfirmation>,
) -> Result<Json<CenterConfirmation>, AppError> {
    if wanted.confirm_days > CONFIRM_DAYS_MAX {
        return Err(AppError::bad_request(
            "invalid_confirm_days",
            format!(
                "확인 기간은 0–{CONFIRM_DAYS_MAX}일입니다 / confirm_days is 0 to {CONFIRM_DAYS_MAX}"
            ),
        ));
    }
    let reason = wanted
        .reason
        .as_deref()
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| r.chars().take(500).collect::<String>());
    if wanted.under_review && reason.is_none() {
        return Err(AppError::bad_request(
            "reason_required",
            "검토 대상으로 지정하는 이유를 적어 주세요 / say why the center is put under review",
        ));
    }
    let rule = ConfirmationRule {
        confirm_days: wanted.confirm_days,
        review_reason: if wanted.under_review {
            reason.clone()
        } else {
            None
        },
    };
    let rule = state
        .store
        .writer
        .write(move |ctx| -> Result<ConfirmationRule, AppError> {
            let before = centers::confirmation_rule(ctx.tx, &id)?.ok_or_else(unknown_center)?;
            centers::set_confirmation_rule(ctx.tx, &id, &rule)?;
            let subject = Subject {
                center_id: Some(id.clone()),
                ..Subject::default()
            };
            let json = |rule: &ConfirmationRule, reason: Option<&String>| {
                serde_json::json!({
                    "confirm_days": rule.confirm_days,
                    "under_review": rule.review_reason.is_some(),
                    "reason": reason,
                })
            };
            ctx.audit(
                &actor.name,
                "center.confirmation",
                &subject,
                Some(&json(&before, before.review_reason.as_ref())),
                Some(&json(&rule, reason.as_ref())),
            )?;
            Ok(rule)
        })
        .await?;
    Ok(Json(view(rule)))
}

/// How one visit came about: its evidence, the desk's state, why it looks suspicious, and
/// what the member answered.
pub(super) async fn checkin_evidence(
    State(state): State<AppState>,
    _: AsViewer,
    Path(id): Path<CheckinId>,
) -> Result<Json<CheckinEvidence>, AppError> {
    let evidence = state
        .store
        .read(move |conn| checkins::evidence(conn, &id))
        .await?
        .ok_or_else(|| {
            AppError::not_found("unknown_checkin", "그런 방문이 없습니다 / no such check-in")
        })?;
    Ok(Json(evidence))
}
