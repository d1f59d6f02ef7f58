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

/// A fraud signal with the visits behind it and whether its center is under review.
#[derive(serde::Serialize)]
pub(super) struct SignalView {
    #[serde(flatten)]
    signal: crate::store::signals::FraudSignal,
    visits: Vec<checkins::ReviewedVisit>,
    under_review: bool,
}

/// The review queue: every fraud signal now, with its visits (docs/settlement.md, "Fraud
/// signals"). Read fresh: a month of visits, center by center.
pub(super) async fn signals(
    State(state): State<AppState>,
    _: AsViewer,
) -> Result<Json<Vec<SignalView>>, AppError> {
    let rules = state.config.alerts.rules.fraud.clone();
    let (floor, factor) = (
        state.config.alerts.rules.lookup_floor,
        state.config.alerts.rules.lookup_factor,
    );
    let views = state
        .store
        .read(move |conn| {
            let now = chrono::Utc::now();
            let mut views = Vec::new();
            let mut signals = crate::store::signals::fraud_signals(conn, now, &rules)?;
            // The desks reading members, as the `desk_lookups` alert sees them.
            for desk in crate::store::desks::lookup_outliers(conn, now, floor, factor)? {
                let usual = desk.usual.round();
                signals.push(crate::store::signals::FraudSignal {
                    kind: crate::store::signals::SignalKind::DeskLookups,
                    key: format!("desk_lookups:{}", desk.desk_id),
                    text_ko: format!(
                        "{} {}: 하루 회원 조회 {}회 (평소 하루 {usual}회)",
                        desk.center_name, desk.desk_name, desk.last_day
                    ),
                    text_en: format!(
                        "{} {}: {} member lookups in a day (usually {usual})",
                        desk.center_name, desk.desk_name, desk.last_day
                    ),
                    center_id: desk.center_id,
                    center_name: desk.center_name,
                    checkin_ids: Vec::new(),
                });
            }
            for signal in signals {
                let mut visits = Vec::with_capacity(signal.checkin_ids.len());
                for id in &signal.checkin_ids {
                    if let Some(visit) = checkins::reviewed_visit(conn, id)? {
                        visits.push(visit);
                    }
                }
                let under_review = centers::confirmation_rule(conn, &signal.center_id)?
                    .is_some_and(|r| r.review_reason.is_some());
                views.push(SignalView {
                    signal,
                    visits,
                    under_review,
                });
            }
            Ok(views)
        })
        .await?;
    Ok(Json(views))
}

#[derive(serde::Deserialize, serde::Serialize)]
pub(super) struct Place {
    lat: f64,
    lon: f64,
}

/// Where a center is (for the travel rule), audited.
pub(super) async fn put_center_place(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    Path(id): Path<CenterId>,
    ApiJson(place): ApiJson<Place>,
) -> Result<Json<Place>, AppError> {
    if !(-90.0..=90.0).contains(&place.lat) || !(-180.0..=180.0).contains(&place.lon) {
        return Err(AppError::bad_request(
            "invalid_place",
            "위도는 -90–90, 경도는 -180–180입니다 (예: 37.4979, 127.0276) / lat is -90 to 90, lon -180 to 180",
        ));
    }
    let e6 = |v: f64| (v * 1_000_000.0).round() as i64;
    let stored = (e6(place.lat), e6(place.lon));
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let before = centers::place(ctx.tx, &id)?;
            if !centers::set_place(ctx.tx, &id, Some(stored))? {
                return Err(unknown_center());
            }
            let json = |p: Option<(i64, i64)>| {
                p.map(|(lat, lon)| {
                    serde_json::json!({"lat": lat as f64 / 1e6, "lon": lon as f64 / 1e6})
                })
            };
            ctx.audit(
                &actor.name,
                "center.place",
                &Subject {
                    center_id: Some(id.clone()),
                    ..Subject::default()
                },
                json(before).as_ref(),
                json(Some(stored)).as_ref(),
            )?;
            Ok(())
        })
        .await?;
    Ok(Json(place))
}
