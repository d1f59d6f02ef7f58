//! The extractors that authenticate callers, and JSON bodies with the contract's errors.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use gymgate_shared::{CenterId, DeskId, MemberId};

use crate::error::AppError;
use crate::member_sessions::Session;
use crate::state::AppState;
use crate::tokens;

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
                let row = state
                    .store
                    .read(move |conn| crate::store::tokens::member_of(conn, &key))
                    .await?;
                let (member_id, expires_at) = row.ok_or_else(|| {
                    AppError::unauthorized(
                        "invalid_token",
                        "unknown member token; please log in again",
                    )
                })?;
                let session = Session {
                    member_id,
                    expires_at,
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
        let row = state
            .store
            .read(move |conn| crate::store::desks::by_token(conn, &hash))
            .await?;
        match row {
            None => Err(AppError::unauthorized(
                "invalid_token",
                "unknown desk token; pair this desk again",
            )),
            Some((_, _, _, true)) => Err(AppError::unauthorized(
                "token_revoked",
                "this desk was unpaired by an operator; pair it again",
            )),
            Some((desk_id, center_id, name, false)) => Ok(DeskAuth {
                desk_id,
                center_id,
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
