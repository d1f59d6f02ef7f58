//! What members' phones report going wrong (`app_reports.rs`): the report endpoint anyone may
//! call, and the operators' view of the last hour.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::error::AppError;
use crate::extract::{ApiJson, AsViewer};
use crate::state::AppState;

/// A report is a kind and a version; a larger body is not one the app sent.
const MAX_REPORT_BYTES: usize = 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v1/reports",
            post(report).layer(DefaultBodyLimit::max(MAX_REPORT_BYTES)),
        )
        .route("/api/v1/admin/app-reports", get(recent))
}

/// What the app sends; any other field is ignored, and nothing but the kind and the version
/// is kept.
#[derive(serde::Deserialize)]
struct Report {
    kind: String,
    #[serde(default)]
    app_version: String,
}

async fn report(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(report): ApiJson<Report>,
) -> Result<StatusCode, AppError> {
    let from = crate::auth::client_ip::network(state.client_ip(peer, &headers));
    if !state.report_limiter.allow(&from) {
        return Err(AppError::RateLimited);
    }
    let now = state.config.alerts.clock.now();
    let kind = state
        .app_reports
        .add(&report.kind, &report.app_version, now);
    metrics::counter!(crate::metrics::APP_REPORTS, "kind" => kind).increment(1);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
struct RecentQuery {
    minutes: Option<i64>,
}

#[derive(serde::Serialize)]
struct ReportCount {
    kind: &'static str,
    kind_ko: &'static str,
    app_version: String,
    count: u64,
}

/// This node's reports of the last `minutes` (1–60), most first.
async fn recent(
    State(state): State<AppState>,
    _: AsViewer,
    Query(query): Query<RecentQuery>,
) -> Json<Vec<ReportCount>> {
    let minutes = query.minutes.unwrap_or(60).clamp(1, 60);
    let from = state.config.alerts.clock.now() - chrono::Duration::minutes(minutes - 1);
    Json(
        state
            .app_reports
            .since(from)
            .into_iter()
            .map(|(kind, app_version, count)| ReportCount {
                kind,
                kind_ko: crate::app_reports::kind_ko(kind),
                app_version,
                count,
            })
            .collect(),
    )
}
