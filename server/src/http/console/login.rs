//! Console login: accounts' passwords checked with the same care as PINs, sessions as an
//! HttpOnly cookie with a CSRF token.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use gymgate_shared::api::{ConsoleLogin, ConsoleSession};

use crate::error::AppError;
use crate::extract::{ApiJson, AsViewer, CONSOLE_COOKIE};
use crate::state::AppState;
use crate::store::audit::Subject;
use crate::store::operators;
use crate::tokens;

/// How long a console login lasts.
const SESSION_HOURS: i64 = 12;
/// Wrong passwords in a row before an account is locked, and for how long.
const MAX_PASSWORD_FAILURES: u32 = 10;
const LOCK_MINUTES: i64 = 15;

pub(super) fn wrong_login() -> AppError {
    AppError::unauthorized(
        "wrong_login",
        "아이디 또는 비밀번호가 맞지 않습니다 (10번 틀리면 15분 동안 잠깁니다) / wrong username or password (10 wrong ones lock the account for 15 minutes)",
    )
}

pub(super) fn session_cookie(token: &str, max_age: i64, headers: &HeaderMap) -> String {
    // Behind a TLS proxy the cookie is marked Secure; on plain http (a LAN, tests) it cannot be.
    let secure = headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|p| p.eq_ignore_ascii_case("https"));
    format!(
        "{CONSOLE_COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={max_age}{}",
        if secure { "; Secure" } else { "" }
    )
}

pub(super) async fn login(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<ConsoleLogin>,
) -> Result<Response, AppError> {
    let ip = state.client_ip(peer, &headers);
    if !state.console_login_limiter.allow(&ip) {
        return Err(AppError::RateLimited);
    }
    if request.username.len() > 64 || request.password.len() > 256 {
        return Err(wrong_login());
    }
    let username = request.username.trim().to_owned();
    let lookup = username.clone();
    let found = state
        .store
        .read(move |conn| operators::by_username(conn, &lookup))
        .await?;
    let now = Utc::now();
    // An unknown name costs the same argon2 work as a known one: the answer's timing does not
    // tell which names exist.
    let hash = found.as_ref().map_or_else(
        || state.unknown_member_pin_hash.clone(),
        |o| o.password_hash.clone(),
    );
    let matches = state.pins.verify(request.password, hash).await?;
    let Some(row) = found else {
        return Err(wrong_login());
    };
    let locked = row.locked_until.is_some_and(|until| until > now);
    if row.operator.disabled || locked {
        return Err(wrong_login());
    }
    if !matches {
        let id = row.operator.id.clone();
        let name = row.operator.username.clone();
        state
            .store
            .writer
            .write(move |ctx| -> Result<(), AppError> {
                let until = ctx.now + chrono::Duration::minutes(LOCK_MINUTES);
                let failures =
                    operators::record_failure(ctx.tx, &id, MAX_PASSWORD_FAILURES, until)?;
                if failures >= MAX_PASSWORD_FAILURES {
                    tracing::warn!(operator = %name, "operator account locked after wrong passwords");
                    let subject = Subject {
                        target: Some(format!("operator:{name}")),
                        ..Subject::default()
                    };
                    let after = serde_json::json!({ "locked_until": until });
                    ctx.audit("server", "operator.locked", &subject, None, Some(&after))?;
                }
                Ok(())
            })
            .await?;
        return Err(wrong_login());
    }
    let token = tokens::new_token();
    let csrf_token = tokens::new_token();
    let token_hash = tokens::hash(&token);
    let expires_at = now + chrono::Duration::hours(SESSION_HOURS);
    let operator = row.operator.clone();
    let (id, csrf) = (operator.id.clone(), csrf_token.clone());
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            operators::clear_failures(ctx.tx, &id)?;
            operators::put_session(ctx.tx, &token_hash, &id, &csrf, ctx.now, expires_at)?;
            Ok(())
        })
        .await?;
    tracing::info!(operator = %operator.username, "operator logged in to the console");
    let body = ConsoleSession {
        username: operator.username,
        role: operator.role,
        csrf_token,
        expires_at,
    };
    Ok((
        [(
            header::SET_COOKIE,
            session_cookie(&token, SESSION_HOURS * 3600, &headers),
        )],
        Json(body),
    )
        .into_response())
}

pub(super) async fn logout(
    State(state): State<AppState>,
    AsViewer(actor): AsViewer,
    headers: HeaderMap,
    request: axum::extract::Request,
) -> Result<Response, AppError> {
    tracing::info!(operator = %actor.name, "operator logged out of the console");
    let (parts, _) = request.into_parts();
    if let Some(token) = crate::extract::console_token(&parts) {
        let hash = tokens::hash(token);
        state
            .store
            .writer
            .write(move |ctx| operators::end_session(ctx.tx, &hash))
            .await?;
    }
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, session_cookie("", 0, &headers))],
    )
        .into_response())
}

/// The logged-in operator and the CSRF token (a reloaded page asks for it again).
pub(super) async fn session(
    State(state): State<AppState>,
    request: axum::extract::Request,
) -> Result<Json<ConsoleSession>, AppError> {
    let (parts, _) = request.into_parts();
    let token = crate::extract::console_token(&parts)
        .ok_or_else(|| AppError::unauthorized("login_required", "로그인이 필요합니다 / log in"))?;
    let hash = tokens::hash(token);
    let now = Utc::now();
    let (operator, csrf_token, expires_at) = state
        .store
        .read(move |conn| operators::session(conn, &hash, now))
        .await?
        .ok_or_else(|| {
            AppError::unauthorized(
                "session_expired",
                "로그인이 끝났습니다. 다시 로그인해 주세요 / your session ended; log in again",
            )
        })?;
    Ok(Json(ConsoleSession {
        username: operator.username,
        role: operator.role,
        csrf_token,
        expires_at,
    }))
}
