//! The operators' console: its pages (`/console`, static files like the member app), the
//! login that replaces the shared admin token for people, and the admin API routes only the
//! console needed (accounts, audit, members, visits, settlement, the live "now" page, the
//! support contact, incidents with their impact).

mod accounts;
mod audit;
mod desk_logs;
mod hours;
mod login;
mod members;
mod now;
mod releases;
mod review;

pub(crate) use now::feed as live_feed;

/// The server halting a rollout by itself (the alert engine: an update failing at desks).
pub(crate) async fn halt_rollout(
    state: &crate::state::AppState,
    version: &str,
    reason: String,
) -> Result<(), crate::error::AppError> {
    releases::set_state(
        state,
        "server",
        version,
        crate::releases::RolloutState::Halted,
        Some(reason),
    )
    .await
    .map(drop)
}
mod settlement;
mod support;

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};

use crate::state::AppState;

const INDEX: &str = include_str!("../../../web/console/index.html");
const SCRIPT: &str = include_str!("../../../web/console/console.js");
const STYLE: &str = include_str!("../../../web/console/console.css");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/console", get(page))
        .route("/console/", get(page))
        .route(
            "/console/console.js",
            get(|| file(SCRIPT, "text/javascript; charset=utf-8")),
        )
        .route(
            "/console/console.css",
            get(|| file(STYLE, "text/css; charset=utf-8")),
        )
        .route("/api/v1/console/login", post(login::login))
        .route("/api/v1/console/logout", post(login::logout))
        .route("/api/v1/console/session", get(login::session))
        .route("/api/v1/console/password", post(login::change_password))
        .route("/api/v1/console/totp/setup", post(login::totp_setup))
        .route("/api/v1/console/totp/confirm", post(login::totp_confirm))
        .route("/api/v1/support", get(support::support_contact))
        .route(
            "/api/v1/admin/operators",
            get(accounts::list_operators).post(accounts::add_operator),
        )
        .route(
            "/api/v1/admin/operators/{username}",
            patch(accounts::update_operator),
        )
        .route(
            "/api/v1/admin/operators/{username}/reset-password",
            post(accounts::reset_password),
        )
        .route("/api/v1/admin/audit", get(audit::audit_log))
        .route(
            "/api/v1/admin/desks/{id}/log-request",
            post(desk_logs::request_log),
        )
        .route("/api/v1/admin/desks/{id}/logs", get(desk_logs::list_logs))
        .route("/api/v1/admin/releases", get(releases::overview))
        .route(
            "/api/v1/admin/releases/{version}",
            axum::routing::put(releases::put_manifest),
        )
        .route(
            "/api/v1/admin/releases/{version}/installer",
            axum::routing::put(releases::put_installer).layer(
                axum::extract::DefaultBodyLimit::max(releases::MAX_INSTALLER_BYTES),
            ),
        )
        .route(
            "/api/v1/admin/rollouts/{version}",
            axum::routing::put(releases::put_rollout),
        )
        .route(
            "/api/v1/admin/rollouts/{version}/pause",
            post(releases::pause),
        )
        .route(
            "/api/v1/admin/rollouts/{version}/resume",
            post(releases::resume),
        )
        .route(
            "/api/v1/admin/rollouts/{version}/halt",
            post(releases::halt),
        )
        .route(
            "/api/v1/admin/desk-logs/{request_id}",
            get(desk_logs::read_log),
        )
        .route(
            "/api/v1/admin/centers/{id}/hours",
            axum::routing::put(hours::put_center_hours),
        )
        .route("/api/v1/admin/signals", get(review::signals))
        .route(
            "/api/v1/admin/centers/{id}/place",
            axum::routing::put(review::put_center_place),
        )
        .route(
            "/api/v1/admin/centers/{id}/confirmation",
            get(review::center_confirmation).put(review::put_center_confirmation),
        )
        .route(
            "/api/v1/admin/hours.csv",
            get(hours::hours_csv).put(hours::put_hours_csv),
        )
        .route("/api/v1/admin/holidays", get(hours::list_holidays))
        .route(
            "/api/v1/admin/holidays/{date}",
            axum::routing::put(hours::put_holiday).delete(hours::delete_holiday),
        )
        .route("/api/v1/admin/members", get(members::member_list))
        .route(
            "/api/v1/admin/members/{member_no}",
            get(members::member_detail),
        )
        .route(
            "/api/v1/admin/members/{member_no}/reset-pin",
            post(members::reset_pin),
        )
        .route(
            "/api/v1/admin/members/{member_no}/photo",
            axum::routing::put(members::put_photo)
                .delete(members::delete_photo)
                .layer(axum::extract::DefaultBodyLimit::max(
                    crate::photos::MAX_UPLOAD_BYTES,
                )),
        )
        .route(
            "/api/v1/admin/checkins/{id}/evidence",
            get(review::checkin_evidence),
        )
        .route(
            "/api/v1/admin/checkins/{id}/void",
            post(members::void_visit),
        )
        .route(
            "/api/v1/admin/checkins/{id}/correct",
            post(members::correct_visit),
        )
        .route("/api/v1/admin/disputes/bulk", post(members::bulk_disputes))
        .route("/api/v1/admin/settlement", get(settlement::settlement))
        .route(
            "/api/v1/admin/settlement.csv",
            get(settlement::settlement_csv),
        )
        .route(
            "/api/v1/admin/settlement/{center_id}",
            get(settlement::statement),
        )
        .route("/api/v1/admin/now", get(now::now))
        .route("/api/v1/admin/now/stream", get(now::now_stream))
        .route("/api/v1/admin/incidents/view", get(now::incident_views))
        .route(
            "/api/v1/admin/support",
            get(support::support_for_operators).put(support::set_support),
        )
}

async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            // The console runs only its own scripts and is never framed (clickjacking).
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
            ),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        INDEX,
    )
}

async fn file(body: &'static str, content_type: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}
