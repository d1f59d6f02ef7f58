//! Visits per center per Korean month: the table, the CSV and each center's statement with
//! its digest (docs/settlement.md).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::IntoResponse;
use chrono::{DateTime, NaiveDate, Utc};
use gymgate_shared::api::{CheckinStatus, Evidence, SettlementRow, Statement};
use gymgate_shared::settlement::{self, Counted};
use gymgate_shared::{CenterId, kst};

use crate::csv_out;
use crate::error::AppError;
use crate::extract::AsViewer;
use crate::state::AppState;
use crate::store::{centers, checkins as stored_checkins};

#[derive(serde::Deserialize)]
pub(super) struct MonthQuery {
    month: Option<String>,
}

/// `YYYY-MM` (a Korean month) as its first day; this month when not given.
pub(super) fn month_of(query: &MonthQuery) -> Result<(String, NaiveDate), AppError> {
    let text = match &query.month {
        Some(m) => m.trim().to_owned(),
        None => kst::date_of(Utc::now()).format("%Y-%m").to_string(),
    };
    let first = NaiveDate::parse_from_str(&format!("{text}-01"), "%Y-%m-%d").map_err(|_| {
        AppError::bad_request(
            "invalid_month",
            "월은 2026-11 처럼 씁니다 / month looks like 2026-11",
        )
    })?;
    Ok((text, first))
}

pub(super) fn month_bounds(first: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    (kst::start_of(first), kst::start_of(next))
}

/// One center's month: its totals, and the statement digest over its check-ins.
pub(super) fn center_month(
    conn: &mut dyn crate::store::Conn,
    center_id: &CenterId,
    center_name: &str,
    month: &str,
    first: NaiveDate,
) -> Result<Statement, crate::store::StoreError> {
    let (from, to) = month_bounds(first);
    let rows = stored_checkins::of_center_between(conn, center_id, from, to)?;
    let rule = centers::confirmation_rule(conn, center_id)?
        .ok_or_else(|| crate::store::StoreError::Corrupt(format!("center {center_id} vanished")))?;
    let now = Utc::now();
    let mut totals = SettlementRow {
        center_id: center_id.clone(),
        center_name: center_name.to_owned(),
        admitted: 0,
        voided: 0,
        denied: 0,
        expired: 0,
        disputed_accepted: 0,
        disputed_rejected: 0,
        disputed_open: 0,
        confirmed: 0,
        unconfirmed: 0,
        not_me: 0,
        evidence: Evidence::ALL
            .iter()
            .map(|e| (e.as_str().to_owned(), 0))
            .collect(),
    };
    let mut counted = Vec::with_capacity(rows.len());
    for visit in rows {
        totals.not_me += u64::from(visit.not_me);
        match visit.status {
            CheckinStatus::Admitted => {
                totals.admitted += 1;
                totals.disputed_accepted += u64::from(visit.was_disputed);
                if crate::visits::is_paid(&visit, &rule, now) {
                    totals.confirmed += 1;
                } else {
                    totals.unconfirmed += 1;
                }
                *totals
                    .evidence
                    .entry(visit.evidence.as_str().to_owned())
                    .or_default() += 1;
            }
            CheckinStatus::Voided => totals.voided += 1,
            CheckinStatus::Denied => {
                totals.denied += 1;
                totals.disputed_rejected += u64::from(visit.was_disputed);
            }
            CheckinStatus::Expired => totals.expired += 1,
            CheckinStatus::Disputed => totals.disputed_open += 1,
            CheckinStatus::Pending => {}
        }
        counted.push(Counted {
            id: visit.id.to_string(),
            at: visit.at,
            status: visit.status,
        });
    }
    let days = settlement::day_digests(center_id, &counted);
    let digest = settlement::month_digest(center_id, month, &days);
    Ok(Statement {
        month: month.to_owned(),
        totals,
        days,
        digest,
    })
}

pub(super) async fn month_statements(
    state: &AppState,
    month: String,
    first: NaiveDate,
) -> Result<Vec<Statement>, AppError> {
    Ok(state
        .store
        .read(move |conn| {
            let all = centers::list(conn)?;
            all.iter()
                .map(|c| center_month(conn, &c.id, &c.name, &month, first))
                .collect::<Result<Vec<_>, _>>()
        })
        .await?)
}

pub(super) async fn settlement(
    State(state): State<AppState>,
    _: AsViewer,
    Query(query): Query<MonthQuery>,
) -> Result<Json<Vec<Statement>>, AppError> {
    let (month, first) = month_of(&query)?;
    Ok(Json(month_statements(&state, month, first).await?))
}

/// Every center's month as a spreadsheet: UTF-8 with a byte order mark (Excel reads the
/// Hangul), every cell safe from formula injection.
pub(super) async fn settlement_csv(
    State(state): State<AppState>,
    _: AsViewer,
    Query(query): Query<MonthQuery>,
) -> Result<impl IntoResponse, AppError> {
    let (month, first) = month_of(&query)?;
    let statements = month_statements(&state, month.clone(), first).await?;
    let rows = statements.iter().map(|s| {
        let t = &s.totals;
        vec![
            month.clone(),
            t.center_id.to_string(),
            t.center_name.clone(),
            t.admitted.to_string(),
            t.voided.to_string(),
            t.denied.to_string(),
            t.expired.to_string(),
            t.disputed_accepted.to_string(),
            t.disputed_rejected.to_string(),
            t.disputed_open.to_string(),
            s.digest.clone(),
            // After the digest, where a spreadsheet made before them still finds its columns.
            t.confirmed.to_string(),
            t.unconfirmed.to_string(),
            t.not_me.to_string(),
        ]
        .into_iter()
        .chain(
            Evidence::ALL
                .iter()
                .map(|e| t.evidence.get(e.as_str()).copied().unwrap_or(0).to_string()),
        )
        .collect::<Vec<_>>()
    });
    let body = csv_out::to_csv(
        &[
            "월 month",
            "센터 ID center_id",
            "센터 center",
            "정산 입장 admitted",
            "취소 voided",
            "거절 denied",
            "만료 expired",
            "분쟁 승인 disputed_accepted",
            "분쟁 거절 disputed_rejected",
            "분쟁 미결 disputed_open",
            "명세 다이제스트 digest",
            "지급 confirmed",
            "회원 확인 대기 unconfirmed",
            "회원 이의 not_me",
            "증거 앱 evidence_app",
            "증거 앱+현장QR evidence_app_presence",
            "증거 오프라인 패스 evidence_pass",
            "증거 명단 evidence_roster",
            "증거 수기 evidence_manual",
        ],
        rows,
    )
    .map_err(|e| AppError::Internal(format!("cannot write the CSV: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"gymgate-settlement-{month}.csv\""),
            ),
        ],
        body,
    ))
}

pub(super) async fn statement(
    State(state): State<AppState>,
    _: AsViewer,
    Path(center_id): Path<String>,
    Query(query): Query<MonthQuery>,
) -> Result<Json<Statement>, AppError> {
    let (month, first) = month_of(&query)?;
    let center_id = CenterId::new(center_id);
    let statement = state
        .store
        .read(move |conn| {
            let Some(center) = centers::load(conn, &center_id)? else {
                return Ok(None);
            };
            center_month(conn, &center.id, &center.name, &month, first).map(Some)
        })
        .await?
        .ok_or_else(|| AppError::not_found("unknown_center", "no such center"))?;
    Ok(Json(statement))
}
