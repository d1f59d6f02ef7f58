//! Console login: accounts' passwords checked with the same care as PINs, sessions as an
//! HttpOnly cookie with a CSRF token.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use gymgate_shared::api::{
    ConsoleLogin, ConsoleSession, PasswordChange, RecoveryCodes, TotpConfirm, TotpSetup,
};

use crate::auth::tokens;
use crate::error::AppError;
use crate::extract::{ApiJson, AsAccount, CONSOLE_COOKIE};
use crate::state::AppState;
use crate::store::audit::Subject;
use crate::store::operators::{self, OperatorRow};

/// How long a console login lasts.
const SESSION_HOURS: i64 = 12;
/// Wrong passwords from one address for one account name: the first few are free, then each
/// waits twice as long as the last (1 s … 15 min), over a window of an hour. Someone guessing
/// from one address slows only themselves; the account's owner elsewhere logs in as usual.
const FREE_FAILURES: u32 = 3;
const FIRST_DELAY_SECONDS: u64 = 1;
const MAX_DELAY_SECONDS: u64 = 15 * 60;
const FAILURE_WINDOW_MINUTES: i64 = 60;
/// Wrong passwords for one account from all addresses together before the account itself is
/// locked (a campaign from many addresses), and for how long; operators are alerted.
const GLOBAL_LOCK_AFTER: u32 = 100;
const GLOBAL_LOCK_MINUTES: i64 = 60;

pub(super) fn wrong_login() -> AppError {
    AppError::unauthorized(
        "wrong_login",
        "아이디 또는 비밀번호가 맞지 않습니다 (여러 번 틀리면 잠시 기다려야 합니다) / wrong username or password (repeated mistakes make you wait)",
    )
}

/// How long (name, address) must wait after `failures` wrong passwords.
fn delay_after(failures: u32) -> std::time::Duration {
    let Some(over) = failures.checked_sub(FREE_FAILURES).filter(|o| *o > 0) else {
        return std::time::Duration::ZERO;
    };
    let factor = 1u64.checked_shl(over - 1).unwrap_or(u64::MAX);
    std::time::Duration::from_secs(
        FIRST_DELAY_SECONDS
            .saturating_mul(factor)
            .min(MAX_DELAY_SECONDS),
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

/// A wrong password or second factor: counted for (name, address), and for the account.
async fn count_failure(
    state: &AppState,
    username: &str,
    address: &str,
    account: Option<&OperatorRow>,
) -> Result<(), AppError> {
    let (name, address) = (username.to_owned(), address.to_owned());
    let account = account.map(|row| (row.operator.id.clone(), row.operator.username.clone()));
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let since = ctx.now - chrono::Duration::minutes(FAILURE_WINDOW_MINUTES);
            operators::record_address_failure(ctx.tx, &name, &address, ctx.now, since)?;
            let Some((id, username)) = account else {
                return Ok(());
            };
            let until = ctx.now + chrono::Duration::minutes(GLOBAL_LOCK_MINUTES);
            let failures = operators::record_failure(ctx.tx, &id, GLOBAL_LOCK_AFTER, until)?;
            if failures >= GLOBAL_LOCK_AFTER {
                tracing::warn!(operator = %username, "operator account locked: wrong passwords from many addresses");
                let subject = Subject {
                    target: Some(format!("operator:{username}")),
                    ..Subject::default()
                };
                let after = serde_json::json!({ "locked_until": until, "failures": failures });
                ctx.audit("server", "operator.locked", &subject, None, Some(&after))?;
            }
            Ok(())
        })
        .await
}

pub(super) async fn login(
    State(state): State<AppState>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    ApiJson(request): ApiJson<ConsoleLogin>,
) -> Result<Response, AppError> {
    let ip = state.client_ip(peer, &headers);
    let network = crate::auth::client_ip::network(ip);
    if !state.console_login_limiter.allow(&network) {
        return Err(AppError::RateLimited);
    }
    if request.username.len() > 64 || request.password.len() > 256 {
        return Err(wrong_login());
    }
    let username = request.username.trim().to_owned();
    let address = network.to_string();
    let now = Utc::now();
    let (lookup, from, since) = (
        username.clone(),
        address.clone(),
        now - chrono::Duration::minutes(FAILURE_WINDOW_MINUTES),
    );
    let (found, failures) = state
        .store
        .read(move |conn| {
            Ok((
                operators::by_username(conn, &lookup)?,
                operators::address_failures(conn, &lookup, &from, since)?,
            ))
        })
        .await?;
    // Known and unknown names are delayed alike, before any hashing.
    if let Some((failures, last_at)) = failures {
        let ready = last_at + chrono::Duration::from_std(delay_after(failures)).unwrap_or_default();
        if ready > now {
            return Err(AppError::LoginDelayed {
                retry_after: (ready - now).to_std().unwrap_or_default(),
            });
        }
    }
    // An unknown name costs the same argon2 work as a known one: the answer's timing does not
    // tell which names exist.
    let hash = found.as_ref().map_or_else(
        || state.unknown_member_pin_hash.clone(),
        |o| o.password_hash.clone(),
    );
    let matches = state.pins.verify(request.password, hash).await?;
    if !matches {
        count_failure(&state, &username, &address, found.as_ref()).await?;
        return Err(wrong_login());
    }
    let Some(row) = found else {
        return Err(wrong_login());
    };
    let locked = row.locked_until.is_some_and(|until| until > now);
    if row.operator.disabled || locked {
        return Err(wrong_login());
    }
    let mut totp_step = None;
    let mut recovery = None;
    if let Some(secret) = &row.totp_secret {
        match (&request.totp, &request.recovery_code) {
            (Some(code), _) => {
                let step = crate::auth::totp::check(secret, code, now.timestamp().max(0) as u64)
                    .filter(|step| i64::try_from(*step).is_ok_and(|s| s > row.totp_step));
                let Some(step) = step else {
                    count_failure(&state, &username, &address, Some(&row)).await?;
                    return Err(AppError::unauthorized(
                        "wrong_totp",
                        "인증 앱의 6자리 코드가 맞지 않습니다 (한 번 쓴 코드는 다시 쓸 수 없습니다) / the 6-digit code is wrong (a code works once)",
                    ));
                };
                totp_step = Some(step);
            }
            (None, Some(code)) => recovery = Some(crate::auth::totp::recovery_hash(code)),
            (None, None) => {
                return Err(AppError::unauthorized(
                    "totp_required",
                    "인증 앱의 6자리 코드를 입력해 주세요 / enter the 6-digit code from your authenticator app",
                ));
            }
        }
    }
    let token = tokens::new_token();
    let csrf_token = tokens::new_token();
    let token_hash = tokens::hash(&token);
    let expires_at = now + chrono::Duration::hours(SESSION_HOURS);
    let operator = row.operator.clone();
    let (id, csrf, name, from) = (
        operator.id.clone(),
        csrf_token.clone(),
        username.clone(),
        address.clone(),
    );
    let started = state
        .store
        .writer
        .write(move |ctx| -> Result<bool, AppError> {
            if let Some(step) = totp_step
                && !operators::use_totp_step(ctx.tx, &id, step)?
            {
                // The same code twice at once: the first login took it.
                return Ok(false);
            }
            if let Some(hash) = &recovery {
                if !operators::use_recovery_code(ctx.tx, &id, hash, ctx.now)? {
                    return Ok(false);
                }
                let subject = Subject {
                    target: Some(format!("operator:{name}")),
                    ..Subject::default()
                };
                ctx.audit(
                    &format!("operator:{name}"),
                    "operator.recovery_code_used",
                    &subject,
                    None,
                    None,
                )?;
            }
            operators::clear_failures(ctx.tx, &id)?;
            operators::clear_address_failures(ctx.tx, &name, &from)?;
            operators::put_session(ctx.tx, &token_hash, &id, &csrf, ctx.now, expires_at)?;
            Ok(true)
        })
        .await?;
    if !started {
        count_failure(&state, &username, &address, Some(&row)).await?;
        return Err(AppError::unauthorized(
            "wrong_totp",
            "코드가 맞지 않거나 이미 사용되었습니다 / the code is wrong or was used already",
        ));
    }
    tracing::info!(operator = %operator.username, "operator logged in to the console");
    let body = ConsoleSession {
        username: operator.username,
        role: operator.role,
        csrf_token,
        expires_at,
        totp: operator.totp,
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

/// An operator changes their own password: the current one proves it is them; every other
/// session of the account ends.
pub(super) async fn change_password(
    State(state): State<AppState>,
    AsAccount(actor): AsAccount,
    ApiJson(change): ApiJson<PasswordChange>,
) -> Result<StatusCode, AppError> {
    let Some(username) = actor.name.strip_prefix("operator:").map(str::to_owned) else {
        return Err(AppError::bad_request(
            "not_an_operator",
            "the admin token has no password to change",
        ));
    };
    super::accounts::check_password(&change.new)?;
    let lookup = username.clone();
    let row = state
        .store
        .read(move |conn| operators::by_username(conn, &lookup))
        .await?
        .ok_or_else(|| AppError::not_found("unknown_operator", "no such operator"))?;
    if !state
        .pins
        .verify(change.current, row.password_hash.clone())
        .await?
    {
        return Err(AppError::forbidden(
            "wrong_password",
            "지금 비밀번호가 맞지 않습니다 / the current password is wrong",
        ));
    }
    let hash = state
        .pins
        .hash_with(change.new, crate::auth::pins::Priority::Login)
        .await?;
    let keep = actor.session.clone();
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            operators::set_password(ctx.tx, &row.operator.id, &hash, keep.as_deref())?;
            let subject = Subject {
                target: Some(format!("operator:{username}")),
                ..Subject::default()
            };
            let after =
                serde_json::json!({ "password_changed": true, "other_sessions_ended": true });
            ctx.audit(
                &actor.name,
                "operator.change_password",
                &subject,
                None,
                Some(&after),
            )?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Starts setting up a second factor: a new secret for the authenticator app. It counts only
/// once a code from it is confirmed (a half-done setup locks nobody out).
pub(super) async fn totp_setup(
    State(state): State<AppState>,
    AsAccount(actor): AsAccount,
) -> Result<Json<TotpSetup>, AppError> {
    let Some(username) = actor.name.strip_prefix("operator:").map(str::to_owned) else {
        return Err(AppError::bad_request(
            "not_an_operator",
            "the admin token has no second factor",
        ));
    };
    let secret = crate::auth::totp::new_secret();
    let (stored, name) = (secret.clone(), username.clone());
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let row = operators::by_username(ctx.tx, &name)?
                .ok_or_else(|| AppError::not_found("unknown_operator", "no such operator"))?;
            if row.totp_secret.is_some() {
                return Err(AppError::conflict(
                    "totp_already_set",
                    "2단계 인증이 이미 설정되어 있습니다. 바꾸려면 관리자에게 초기화를 요청하세요 / a second factor is set already; an admin can reset it",
                ));
            }
            Ok(operators::set_totp_pending(ctx.tx, &row.operator.id, &stored)?)
        })
        .await?;
    Ok(Json(TotpSetup {
        otpauth_url: crate::auth::totp::otpauth_url(&secret, &username),
        secret,
    }))
}

/// Confirms the second factor with a code from the app; answers the recovery codes, once.
pub(super) async fn totp_confirm(
    State(state): State<AppState>,
    AsAccount(actor): AsAccount,
    ApiJson(confirm): ApiJson<TotpConfirm>,
) -> Result<Json<RecoveryCodes>, AppError> {
    let Some(username) = actor.name.strip_prefix("operator:").map(str::to_owned) else {
        return Err(AppError::bad_request(
            "not_an_operator",
            "the admin token has no second factor",
        ));
    };
    let codes = crate::auth::totp::new_recovery_codes();
    let hashes: Vec<Vec<u8>> = codes
        .iter()
        .map(|c| crate::auth::totp::recovery_hash(c))
        .collect();
    let now = Utc::now().timestamp().max(0) as u64;
    let by = actor.name.clone();
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let row = operators::by_username(ctx.tx, &username)?
                .ok_or_else(|| AppError::not_found("unknown_operator", "no such operator"))?;
            let step = row
                .totp_pending
                .as_deref()
                .and_then(|secret| crate::auth::totp::check(secret, &confirm.code, now))
                .ok_or_else(|| {
                    AppError::bad_request(
                        "wrong_totp",
                        "코드가 맞지 않습니다. 앱에 방금 추가한 gymgate 항목의 6자리를 입력하세요 / the code does not match the secret just set up",
                    )
                })?;
            operators::confirm_totp(ctx.tx, &row.operator.id, step, &hashes)?;
            let subject = Subject {
                target: Some(format!("operator:{username}")),
                ..Subject::default()
            };
            ctx.audit(&by, "operator.totp_enabled", &subject, None, Some(&serde_json::json!({ "totp": true })))?;
            Ok(())
        })
        .await?;
    Ok(Json(RecoveryCodes { codes }))
}

pub(super) async fn logout(
    State(state): State<AppState>,
    AsAccount(actor): AsAccount,
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
        totp: operator.totp,
        username: operator.username,
        role: operator.role,
        csrf_token,
        expires_at,
    }))
}
