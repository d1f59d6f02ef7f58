//! The HTTP surface: routes, shared state, and the extractors that authenticate callers.

mod admin;
pub use admin::issue_pairing_code;
mod desk;
mod member;
mod web;

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use gymgate_shared::{CenterId, DeskId, MemberId};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::error::AppError;
use crate::hub::Hub;
use crate::imports::ImportQueue;
use crate::logins::LoginGuard;
use crate::member_sessions::{MemberSessions, Session};
use crate::rate_limit::RateLimiter;
use crate::store::{Store, parse_ts};
use crate::tokens;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub store: Store,
    pub hub: Arc<Hub>,
    pub config: Config,
    pub shutdown: CancellationToken,
    pub desk_tasks: TaskTracker,
    pub pins: crate::pins::PinWorkers,
    pub tap_limiter: RateLimiter<MemberId>,
    pub pair_limiter: RateLimiter<IpAddr>,
    pub logins: LoginGuard,
    /// What a PIN is checked against when the member number belongs to nobody: the same
    /// work as for a real member, so the answer's timing says nothing.
    pub unknown_member_pin_hash: String,
    pub tap_stats: crate::metrics::TapStats,
    /// Member tokens already checked, so a tap does not ask the database again.
    pub member_sessions: MemberSessions,
    pub imports: ImportQueue,
    /// Set when the database failed its integrity check: what the check said.
    pub damage: Mutex<Option<String>>,
    /// Signs offline pass certificates; its public keys go to desks.
    pub passes: crate::passes::PassSigner,
    /// Certificates one member may be issued per hour (a phone asks whenever it is online).
    pub pass_limiter: RateLimiter<MemberId>,
    /// Lookups one desk may make per minute.
    pub lookup_limiter: RateLimiter<DeskId>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        store: Store,
        hub: Arc<Hub>,
        config: Config,
        shutdown: CancellationToken,
        pins: crate::pins::PinWorkers,
        unknown_member_pin_hash: String,
        passes: crate::passes::PassSigner,
    ) -> Self {
        let minute = Duration::from_secs(60);
        let limits = &config.limits;
        AppState(Arc::new(Inner {
            tap_limiter: RateLimiter::new(limits.taps_per_member_per_minute, minute),
            pair_limiter: RateLimiter::new(limits.pair_attempts_per_ip_per_minute, minute),
            logins: LoginGuard::new(config.logins.clone()),
            unknown_member_pin_hash,
            imports: ImportQueue::default(),
            damage: Mutex::new(None),
            passes,
            pass_limiter: RateLimiter::new(
                limits.passes_per_member_per_hour,
                Duration::from_secs(3600),
            ),
            lookup_limiter: RateLimiter::new(limits.lookups_per_desk_per_minute, minute),
            store,
            hub,
            config,
            shutdown,
            desk_tasks: TaskTracker::new(),
            pins,
            tap_stats: Default::default(),
            member_sessions: MemberSessions::default(),
        }))
    }
}

pub fn router(state: AppState) -> Router {
    let max_body = state.config.limits.max_body_bytes;
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
        .merge(member::routes())
        .merge(desk::routes())
        .merge(admin::routes(state.config.limits.max_import_bytes))
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
        .with_state(state)
}

impl AppState {
    /// The address a request comes from, seen through the trusted proxies.
    pub fn client_ip(&self, peer: std::net::SocketAddr, headers: &axum::http::HeaderMap) -> IpAddr {
        crate::client_ip::client_ip(peer.ip(), headers, &self.config.trusted_proxies)
    }

    /// What the last integrity check found wrong with the database, if anything.
    pub fn damage(&self) -> Option<String> {
        self.damage.lock().ok().and_then(|d| d.clone())
    }
}

/// Ready when the database passed its last integrity check, answers a read, and the writer
/// is running.
async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, AppError> {
    if let Some(damage) = state.damage() {
        return Err(AppError::Unavailable {
            code: "database_damaged",
            message: format!(
                "the database is damaged ({damage}); restore it from the last backup \
                 (docs/operations.md, runbook: damaged database)"
            ),
        });
    }
    state
        .store
        .read(
            |conn| Ok(conn.query_row("SELECT COUNT(*) FROM centers", [], |r| r.get::<_, i64>(0))?),
        )
        .await?;
    if state.store.writer.is_closed() {
        return Err(AppError::Store(crate::store::StoreError::WriterGone));
    }
    Ok("ready")
}

/// JSON body whose rejections use the contract's error body.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(AppError))]
pub struct ApiJson<T>(pub T);

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> axum::response::Response {
        Json(self.0).into_response()
    }
}

fn bearer(parts: &Parts) -> Result<&str, AppError> {
    let header = parts
        .headers
        .get(axum::http::header::AUTHORIZATION)
        .ok_or_else(|| {
            AppError::unauthorized(
                "missing_token",
                "an Authorization: Bearer token is required",
            )
        })?;
    header
        .to_str()
        .ok()
        .and_then(|h| h.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            AppError::unauthorized(
                "invalid_token",
                "the Authorization header must be 'Bearer <token>'",
            )
        })
}

/// A member, from a member token.
pub struct MemberAuth {
    pub member_id: MemberId,
}

impl FromRequestParts<AppState> for MemberAuth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let hash = tokens::hash(bearer(parts)?);
        let now = chrono::Utc::now();
        let session = match state.member_sessions.get(&hash) {
            Some(session) => session,
            None => {
                let key = hash.clone();
                let row: Option<(String, String)> = state
                    .store
                    .read(move |conn| {
                        use rusqlite::OptionalExtension;
                        Ok(conn
                            .prepare_cached(
                                "SELECT member_id, expires_at FROM member_tokens WHERE token_hash = ?1",
                            )?
                            .query_row([key], |r| Ok((r.get(0)?, r.get(1)?)))
                            .optional()?)
                    })
                    .await?;
                let (member_id, expires_at) = row.ok_or_else(|| {
                    AppError::unauthorized(
                        "invalid_token",
                        "unknown member token; please log in again",
                    )
                })?;
                let session = Session {
                    member_id: MemberId::new(member_id),
                    expires_at: parse_ts(&expires_at)?,
                };
                state.member_sessions.remember(hash, session.clone(), now);
                session
            }
        };
        if session.expires_at <= now {
            return Err(AppError::unauthorized(
                "token_expired",
                "your login has expired; please log in again",
            ));
        }
        Ok(MemberAuth {
            member_id: session.member_id,
        })
    }
}

/// A paired, not revoked desk, from a desk token.
#[derive(Debug, Clone)]
pub struct DeskAuth {
    pub desk_id: DeskId,
    pub center_id: CenterId,
    /// What staff named the desk ("1층 데스크"), shown to members whose check-in it showed.
    pub name: String,
}

impl FromRequestParts<AppState> for DeskAuth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let hash = tokens::hash(bearer(parts)?);
        type Row = (String, String, String, Option<String>);
        let row: Option<Row> = state
            .store
            .read(move |conn| {
                use rusqlite::OptionalExtension;
                Ok(conn
                    .prepare_cached(
                        "SELECT id, center_id, name, revoked_at FROM desks WHERE token_hash = ?1",
                    )?
                    .query_row([hash], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
                    .optional()?)
            })
            .await?;
        match row {
            None => Err(AppError::unauthorized(
                "invalid_token",
                "unknown desk token; pair this desk again",
            )),
            Some((_, _, _, Some(_))) => Err(AppError::unauthorized(
                "token_revoked",
                "this desk was unpaired by an operator; pair it again",
            )),
            Some((desk_id, center_id, name, None)) => Ok(DeskAuth {
                desk_id: DeskId::new(desk_id),
                center_id: CenterId::new(center_id),
                name,
            }),
        }
    }
}

/// An operator, from the admin token in the server's config.
pub struct AdminAuth;

impl FromRequestParts<AppState> for AdminAuth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let token = bearer(parts)?;
        if tokens::same_secret(token, &state.config.admin_token) {
            Ok(AdminAuth)
        } else {
            Err(AppError::unauthorized("invalid_token", "wrong admin token"))
        }
    }
}
