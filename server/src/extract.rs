//! The extractors that authenticate callers, and JSON bodies with the contract's errors.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts};
use axum::http::request::Parts;
use axum::response::IntoResponse;
use gymgate_shared::api::Role;
use gymgate_shared::{CenterId, DeskId, MemberId};

use crate::auth::member_sessions::Session;
use crate::auth::tokens;
use crate::error::AppError;
use crate::state::AppState;

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
    /// When the token stops working: a long-lived response ends then.
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The token's hash, for a long-lived response to see whether it still exists.
    pub token_hash: Vec<u8>,
}

impl FromRequestParts<AppState> for MemberAuth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        let hash = tokens::hash(bearer(parts)?);
        let now = chrono::Utc::now();
        let session = match state.member_sessions.get(&hash, now) {
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
                state
                    .member_sessions
                    .remember(hash.clone(), session.clone(), now);
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
            expires_at: session.expires_at,
            token_hash: hash,
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
        let hash = match bearer(parts) {
            Ok(token) => tokens::hash(token),
            // A browser cannot set headers on a WebSocket: the web desk offers its token as a
            // subprotocol (a header, never the URL that proxies log); see `websocket_token`.
            Err(error) => tokens::hash(websocket_token(parts).ok_or(error)?),
        };
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

/// The subprotocol a desk in a browser asks for; the server answers with it alone.
pub const DESK_PROTOCOL: &str = "gymgate.desk.v1";
/// The prefix of the subprotocol that carries a browser desk's token.
const TOKEN_PROTOCOL: &str = "gymgate.token.";

/// The desk token a browser offered in `Sec-WebSocket-Protocol` (`gymgate.desk.v1,
/// gymgate.token.<token>`), only on a WebSocket upgrade that asks for the desk protocol.
fn websocket_token(parts: &Parts) -> Option<&str> {
    let upgrade = parts.headers.get(axum::http::header::UPGRADE)?;
    if !upgrade.as_bytes().eq_ignore_ascii_case(b"websocket") {
        return None;
    }
    let mut offered = parts
        .headers
        .get_all(axum::http::header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim);
    let mut asks_desk = false;
    let mut token = None;
    for protocol in offered.by_ref() {
        if protocol == DESK_PROTOCOL {
            asks_desk = true;
        } else if let Some(t) = protocol.strip_prefix(TOKEN_PROTOCOL) {
            token = Some(t).filter(|t| !t.is_empty());
        }
    }
    if asks_desk { token } else { None }
}

/// The console's session cookie: HttpOnly (scripts cannot read it), SameSite=Strict (no
/// other site's page sends it); changes also need the session's CSRF token in a header.
pub const CONSOLE_COOKIE: &str = "gymgate_console";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Who is acting on the admin API: an operator logged in to the console, or automation with
/// the admin token (which can do everything).
#[derive(Debug, Clone)]
pub struct Actor {
    /// `operator:<username>` or `admin-token`: what the audit log and histories say.
    pub name: String,
    pub role: Role,
    /// The hash of the console session's token (`None` for the admin token): what a
    /// long-lived response checks again, so it ends with the session.
    pub session: Option<Vec<u8>>,
    /// Whether the account has a second factor (the admin token needs none).
    pub second_factor: bool,
}

impl Actor {
    /// Whether this caller may still act as it did when the request began: the console
    /// session still open (not logged out, expired, or ended by disabling the account) and the
    /// role unchanged.
    pub async fn still_valid(&self, state: &AppState) -> Result<bool, AppError> {
        let Some(hash) = self.session.clone() else {
            return Ok(true);
        };
        let now = chrono::Utc::now();
        let found = state
            .store
            .read(move |conn| crate::store::operators::session(conn, &hash, now))
            .await?;
        Ok(found.is_some_and(|(operator, _, _)| operator.role == self.role))
    }
}

/// The console cookie's value in a request, if any.
pub fn console_token(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == CONSOLE_COOKIE)
        .map(|(_, value)| value.trim())
        .filter(|v| !v.is_empty())
}

async fn actor(parts: &Parts, state: &AppState) -> Result<Actor, AppError> {
    if parts
        .headers
        .contains_key(axum::http::header::AUTHORIZATION)
    {
        let token = bearer(parts)?;
        return if tokens::same_secret(token, &state.config.admin_token) {
            Ok(Actor {
                name: "admin-token".into(),
                role: Role::Admin,
                session: None,
                second_factor: true,
            })
        } else {
            Err(AppError::unauthorized("invalid_token", "wrong admin token"))
        };
    }
    let token = console_token(parts).ok_or_else(|| {
        AppError::unauthorized(
            "login_required",
            "로그인이 필요합니다 / log in to the console (or send the admin token)",
        )
    })?;
    let hash = tokens::hash(token);
    let now = chrono::Utc::now();
    let key = hash.clone();
    let (operator, csrf, _) = state
        .store
        .read(move |conn| crate::store::operators::session(conn, &key, now))
        .await?
        .ok_or_else(|| {
            AppError::unauthorized(
                "session_expired",
                "로그인이 끝났습니다. 다시 로그인해 주세요 / your session ended; log in again",
            )
        })?;
    let safe = matches!(
        parts.method,
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if !safe {
        let given = parts
            .headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        if !tokens::same_secret(given, &csrf) {
            return Err(AppError::forbidden(
                "csrf_failed",
                "요청을 확인할 수 없습니다. 페이지를 새로 고쳐 주세요 / missing or wrong CSRF token; reload the page",
            ));
        }
    }
    Ok(Actor {
        name: format!("operator:{}", operator.username),
        role: operator.role,
        session: Some(hash),
        second_factor: operator.totp,
    })
}

async fn actor_with(parts: &Parts, state: &AppState, needed: Role) -> Result<Actor, AppError> {
    let actor = actor(parts, state).await?;
    if actor.role < needed {
        return Err(AppError::forbidden(
            "role_forbidden",
            format!(
                "이 작업은 {} 권한이 필요합니다 / this needs the {} role (you are {})",
                needed.as_str(),
                needed.as_str(),
                actor.role.as_str()
            ),
        ));
    }
    // Only once the role allows it (a viewer is told about roles, not second factors): an
    // admin account does nothing, reads included, before it has its second factor.
    if actor.role == Role::Admin && !actor.second_factor && state.config.require_admin_totp {
        return Err(AppError::forbidden(
            "totp_setup_required",
            "관리자 계정은 2단계 인증(인증 앱)을 먼저 설정해야 합니다: '내 계정' → 2단계 인증 / an admin account must set up its second factor first (My account → two-step login)",
        ));
    }
    Ok(actor)
}

/// Anyone logged in, whatever their role and second factor: their own account (password,
/// second factor, logout).
pub struct AsAccount(pub Actor);

impl FromRequestParts<AppState> for AsAccount {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, AppError> {
        Ok(AsAccount(actor(parts, state).await?))
    }
}

macro_rules! role_extractor {
    ($name:ident, $role:expr, $doc:literal) => {
        #[doc = $doc]
        pub struct $name(pub Actor);

        impl FromRequestParts<AppState> for $name {
            type Rejection = AppError;

            async fn from_request_parts(
                parts: &mut Parts,
                state: &AppState,
            ) -> Result<Self, AppError> {
                Ok($name(actor_with(parts, state, $role).await?))
            }
        }
    };
}

role_extractor!(AsViewer, Role::Viewer, "Anyone on the console: reads.");
role_extractor!(
    AsSupport,
    Role::Support,
    "Support or admin: members, check-ins, disputes, notices."
);
role_extractor!(
    AsAdmin,
    Role::Admin,
    "Admin (or the admin token): centers, desks, imports, accounts, settings."
);
