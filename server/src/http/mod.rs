//! The HTTP surface for members, operators and the member web app; health and metrics.
//! (Desks have their own folder: `desk/`.)

mod admin;
pub use admin::issue_pairing_code;
mod console;
pub(crate) use console::{halt_rollout, live_feed};
mod member;
mod privacy;
mod reports;
mod web;
mod web_desk;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};

use crate::error::AppError;
use crate::state::AppState;

pub fn router(state: AppState) -> Router {
    let max_body = state.config.limits.max_body_bytes;
    let (request_timeout, import_timeout) = (
        state.config.limits.request_timeout,
        state.config.limits.import_timeout,
    );
    Router::new()
        .route("/livez", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .route(
            "/metrics",
            get(|| async {
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    crate::metrics::render(),
                )
            }),
        )
        // The member app's files go gzipped (a phone on a slow network sees the page sooner);
        // fonts and images are compressed already and pass through as they are.
        .merge(web::routes().layer(tower_http::compression::CompressionLayer::new()))
        .merge(web_desk::routes().layer(tower_http::compression::CompressionLayer::new()))
        .merge(member::routes())
        .merge(privacy::routes())
        .merge(reports::routes())
        .merge(crate::desk::routes())
        .merge(admin::routes(state.config.limits.max_import_bytes))
        .merge(console::routes())
        .fallback(|| async { AppError::not_found("not_found", "no such endpoint") })
        .method_not_allowed_fallback(|| async {
            (
                StatusCode::METHOD_NOT_ALLOWED,
                Json(gymgate_shared::api::ErrorBody::new(
                    "method_not_allowed",
                    "this endpoint does not take that method",
                )),
            )
        })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(axum::middleware::from_fn(
            move |request: axum::extract::Request, next: axum::middleware::Next| async move {
                let path = request.uri().path();
                let long = path == IMPORT_PATH
                    || (path.starts_with(RELEASES_PATH) && path.ends_with("/installer"));
                let limit = if long {
                    import_timeout
                } else {
                    request_timeout
                };
                match tokio::time::timeout(limit, next.run(request)).await {
                    Ok(response) => response,
                    Err(_) => AppError::Timeout.into_response(),
                }
            },
        ))
        // No browser guesses a type the server did not say (a JSON answer or a photo taken
        // for a script or a page).
        .layer(
            tower_http::set_header::SetResponseHeaderLayer::if_not_present(
                axum::http::header::X_CONTENT_TYPE_OPTIONS,
                axum::http::HeaderValue::from_static("nosniff"),
            ),
        )
        .with_state(state)
}

/// Member lists (zips of photos) and desk installers may take longer to upload than other
/// requests.
const IMPORT_PATH: &str = "/api/v1/admin/members/import";
const RELEASES_PATH: &str = "/api/v1/admin/releases/";

/// Ready when the database passed its last integrity check, answers a read, and the writer
/// is running. On PostgreSQL a center's broken log is alerted but keeps every node ready:
/// the nodes share the database, and failing them all would stop every center for one.
async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    if let Some(damage) = state.damage()
        && state.store.postgres_url().is_none()
    {
        return Err(AppError::Unavailable {
            code: "database_damaged",
            message: format!(
                "the database is damaged ({damage}); restore it from the last backup \
                 (docs/operations.md, runbook: damaged database)"
            ),
        });
    }
    state.store.read(crate::store::centers::count).await?;
    if state.store.writer.is_closed() {
        return Err(AppError::Store(crate::store::StoreError::WriterGone));
    }
    Ok("ready")
}
