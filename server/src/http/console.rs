//! The operators' console: its pages (`/console`, static files like the member app), the
//! login that replaces the shared admin token for people, and the admin API routes only the
//! console needed (accounts, audit, members, visits, settlement, the live "now" page, the
//! support contact, incidents with their impact).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use futures_util::StreamExt;
use gymgate_shared::api::{
    AuditEntry, BulkDisputes, BulkResult, Checkin, CheckinStatus, ConsoleLogin, ConsoleSession,
    IncidentImpact, IncidentKind, IncidentView, MemberDetail, MemberPage, NewNotice, NewOperator,
    NowCenter, NowDesk, NowView, Operator, OperatorUpdate, PinReset, SettlementRow, Severity,
    Statement, SupportContact, TapMinute, VisitCorrection,
};
use gymgate_shared::protocol::EventPayload;
use gymgate_shared::settlement::{self, Counted};
use gymgate_shared::{CenterId, CheckinId, kst};

use crate::error::AppError;
use crate::extract::{ApiJson, AsAdmin, AsSupport, AsViewer, CONSOLE_COOKIE};
use crate::pins::Priority;
use crate::state::AppState;
use crate::store::audit::{self, Subject};
use crate::store::{centers, checkins as stored_checkins, desks, incidents, logins, members};
use crate::store::{operators, settings};
use crate::{checkins, csv_out, tokens};

/// How long a console login lasts.
const SESSION_HOURS: i64 = 12;
/// Wrong passwords in a row before an account is locked, and for how long.
const MAX_PASSWORD_FAILURES: u32 = 10;
const LOCK_MINUTES: i64 = 15;
const MIN_PASSWORD_CHARS: usize = 10;
/// How often the live page is sent again.
const NOW_EVERY: Duration = Duration::from_secs(2);
/// Disputes one bulk decision may take.
const MAX_BULK: usize = 500;

const INDEX: &str = include_str!("../../web/console/index.html");
const SCRIPT: &str = include_str!("../../web/console/console.js");
const STYLE: &str = include_str!("../../web/console/console.css");

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
        .route("/api/v1/console/login", post(login))
        .route("/api/v1/console/logout", post(logout))
        .route("/api/v1/console/session", get(session))
        .route("/api/v1/support", get(support_contact))
        .route(
            "/api/v1/admin/operators",
            get(list_operators).post(add_operator),
        )
        .route("/api/v1/admin/operators/{username}", patch(update_operator))
        .route("/api/v1/admin/audit", get(audit_log))
        .route("/api/v1/admin/members", get(member_list))
        .route("/api/v1/admin/members/{member_no}", get(member_detail))
        .route(
            "/api/v1/admin/members/{member_no}/reset-pin",
            post(reset_pin),
        )
        .route(
            "/api/v1/admin/members/{member_no}/photo",
            axum::routing::put(put_photo).delete(delete_photo).layer(
                axum::extract::DefaultBodyLimit::max(crate::photos::MAX_UPLOAD_BYTES),
            ),
        )
        .route("/api/v1/admin/checkins/{id}/void", post(void_visit))
        .route("/api/v1/admin/checkins/{id}/correct", post(correct_visit))
        .route("/api/v1/admin/disputes/bulk", post(bulk_disputes))
        .route("/api/v1/admin/settlement", get(settlement))
        .route("/api/v1/admin/settlement.csv", get(settlement_csv))
        .route("/api/v1/admin/settlement/{center_id}", get(statement))
        .route("/api/v1/admin/now", get(now))
        .route("/api/v1/admin/now/stream", get(now_stream))
        .route("/api/v1/admin/incidents/view", get(incident_views))
        .route(
            "/api/v1/admin/support",
            get(support_contact).put(set_support),
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

// ----- login -------------------------------------------------------------------------------

fn wrong_login() -> AppError {
    AppError::unauthorized(
        "wrong_login",
        "아이디 또는 비밀번호가 맞지 않습니다 (10번 틀리면 15분 동안 잠깁니다) / wrong username or password (10 wrong ones lock the account for 15 minutes)",
    )
}

fn session_cookie(token: &str, max_age: i64, headers: &HeaderMap) -> String {
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

async fn login(
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

async fn logout(
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
async fn session(
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

// ----- accounts ----------------------------------------------------------------------------

async fn list_operators(
    State(state): State<AppState>,
    _: AsAdmin,
) -> Result<Json<Vec<Operator>>, AppError> {
    Ok(Json(state.store.read(operators::list).await?))
}

fn valid_username(name: &str) -> bool {
    (2..=40).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'))
}

/// Creates an operator account (the CLI creates the first admin with the admin token).
async fn create_operator(
    state: &AppState,
    actor_name: &str,
    new: NewOperator,
) -> Result<Operator, AppError> {
    let username = new.username.trim().to_owned();
    if !valid_username(&username) {
        return Err(AppError::bad_request(
            "invalid_username",
            "아이디는 2~40자(글자·숫자·._-@)입니다 / a username is 2 to 40 letters, digits or ._-@",
        ));
    }
    if new.password.chars().count() < MIN_PASSWORD_CHARS || new.password.len() > 256 {
        return Err(AppError::bad_request(
            "weak_password",
            format!(
                "비밀번호는 {MIN_PASSWORD_CHARS}자 이상이어야 합니다 / a password has at least {MIN_PASSWORD_CHARS} characters"
            ),
        ));
    }
    let hash = state.pins.hash_with(new.password, Priority::Login).await?;
    let operator = Operator {
        id: uuid::Uuid::now_v7().to_string(),
        username,
        role: new.role,
        created_at: Utc::now(),
        disabled: false,
    };
    let stored = operator.clone();
    let by = actor_name.to_owned();
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            if operators::by_username(ctx.tx, &stored.username)?.is_some() {
                return Err(AppError::conflict(
                    "username_taken",
                    "이미 있는 아이디입니다 / that username is taken",
                ));
            }
            operators::insert(ctx.tx, &stored, &hash)?;
            let subject = Subject {
                target: Some(format!("operator:{}", stored.username)),
                ..Subject::default()
            };
            let after = serde_json::json!({ "username": stored.username, "role": stored.role });
            ctx.audit(&by, "operator.add", &subject, None, Some(&after))?;
            Ok(())
        })
        .await?;
    Ok(operator)
}

async fn add_operator(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    ApiJson(new): ApiJson<NewOperator>,
) -> Result<(StatusCode, Json<Operator>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(create_operator(&state, &actor.name, new).await?),
    ))
}

async fn update_operator(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    Path(username): Path<String>,
    ApiJson(update): ApiJson<OperatorUpdate>,
) -> Result<Json<Operator>, AppError> {
    let operator = state
        .store
        .writer
        .write(move |ctx| -> Result<Operator, AppError> {
            let before = operators::by_username(ctx.tx, &username)?
                .ok_or_else(|| AppError::not_found("unknown_operator", "no such operator"))?
                .operator;
            if actor.name == format!("operator:{username}") && update.disabled == Some(true) {
                return Err(AppError::conflict(
                    "cannot_disable_self",
                    "자기 계정은 끌 수 없습니다 / you cannot disable your own account",
                ));
            }
            operators::update(ctx.tx, &before.id, update.role, update.disabled, ctx.now)?;
            let after = operators::by_username(ctx.tx, &username)?
                .ok_or_else(|| AppError::Internal("operator vanished".into()))?
                .operator;
            let subject = Subject {
                target: Some(format!("operator:{username}")),
                ..Subject::default()
            };
            let view = |o: &Operator| serde_json::json!({ "role": o.role, "disabled": o.disabled });
            ctx.audit(
                &actor.name,
                "operator.update",
                &subject,
                Some(&view(&before)),
                Some(&view(&after)),
            )?;
            Ok(after)
        })
        .await?;
    Ok(Json(operator))
}

// ----- audit -------------------------------------------------------------------------------

#[derive(serde::Deserialize)]
struct AuditQuery {
    member_no: Option<String>,
    center_id: Option<String>,
    limit: Option<u32>,
}

async fn audit_log(
    State(state): State<AppState>,
    _: AsViewer,
    Query(query): Query<AuditQuery>,
) -> Result<Json<Vec<AuditEntry>>, AppError> {
    let limit = query.limit.unwrap_or(200).clamp(1, 1000);
    let entries = state
        .store
        .read(move |conn| {
            audit::list(
                conn,
                query.member_no.as_deref().filter(|s| !s.is_empty()),
                query.center_id.as_deref().filter(|s| !s.is_empty()),
                limit,
            )
        })
        .await?;
    Ok(Json(entries))
}

// ----- members and visits ------------------------------------------------------------------

#[derive(serde::Deserialize)]
struct MemberQuery {
    q: Option<String>,
    after: Option<String>,
    limit: Option<u32>,
}

async fn member_list(
    State(state): State<AppState>,
    _: AsViewer,
    Query(query): Query<MemberQuery>,
) -> Result<Json<MemberPage>, AppError> {
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let q = query
        .q
        .unwrap_or_default()
        .trim()
        .chars()
        .take(64)
        .collect::<String>();
    let page = state
        .store
        .read(move |conn| {
            if q.is_empty() {
                let rows = members::page(conn, query.after.as_deref().unwrap_or(""), limit)?;
                let next = (rows.len() == limit as usize)
                    .then(|| rows.last().map(|m| m.member_no.clone()))
                    .flatten();
                Ok(MemberPage {
                    members: rows.iter().map(members::summary).collect(),
                    next,
                })
            } else {
                let rows = members::search(conn, &q, limit)?;
                Ok(MemberPage {
                    members: rows.iter().map(members::summary).collect(),
                    next: None,
                })
            }
        })
        .await?;
    Ok(Json(page))
}

/// Visits shown on a member's page.
const MEMBER_VISITS: u32 = 200;

async fn member_detail(
    State(state): State<AppState>,
    _: AsViewer,
    Path(member_no): Path<String>,
) -> Result<Json<MemberDetail>, AppError> {
    let detail = state
        .store
        .read(move |conn| {
            let Some(member) = members::load_by_no(conn, &member_no)? else {
                return Ok(None);
            };
            let history = stored_checkins::visit_history(conn, &member.id, None, Utc::now())?;
            let failures = logins::load(conn, &member_no)?;
            let blocked_reason = members::blocked_reason(conn, &member.id)?;
            Ok(Some(MemberDetail {
                member: member.public(&history),
                phone: member.phone.clone(),
                blocked_reason,
                pin_lock: gymgate_shared::api::PinLock {
                    member_no: member.member_no.clone(),
                    failures: failures.as_ref().map_or(0, |f| f.failures),
                    locked_until: failures
                        .and_then(|f| f.locked_until)
                        .filter(|until| *until > Utc::now()),
                },
                visits: stored_checkins::of_member(conn, &member.id, MEMBER_VISITS)?,
            }))
        })
        .await?
        .ok_or_else(|| AppError::not_found("unknown_member", "no such member"))?;
    Ok(Json(detail))
}

/// A new six-digit PIN, told once to the operator to give the member; their logins end.
async fn reset_pin(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(member_no): Path<String>,
) -> Result<Json<PinReset>, AppError> {
    let pin = tokens::new_pin();
    let hash = state.pins.hash_with(pin.clone(), Priority::Login).await?;
    let no = member_no.clone();
    let member_id = state
        .store
        .writer
        .write(move |ctx| -> Result<gymgate_shared::MemberId, AppError> {
            let member = members::load_by_no(ctx.tx, &no)?
                .ok_or_else(|| AppError::not_found("unknown_member", "no such member"))?;
            members::set_pin(ctx.tx, &member.id, &hash)?;
            logins::clear(ctx.tx, &no)?;
            let subject = Subject {
                member_no: Some(no.clone()),
                ..Subject::default()
            };
            // The PIN itself never goes into the log.
            ctx.audit(
                &actor.name,
                "member.reset_pin",
                &subject,
                None,
                Some(&serde_json::json!({ "pin_reset": true, "sessions_ended": true })),
            )?;
            Ok(member.id)
        })
        .await?;
    state.member_sessions.forget_member(&member_id);
    Ok(Json(PinReset { member_no, pin }))
}

/// A member's photo (JPEG or PNG, at most 5 MB and 6000 pixels a side): decoded and kept as a
/// small JPEG with no metadata; desks that know the member hear of it and fetch it.
async fn put_photo(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(member_no): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<serde_json::Value>, AppError> {
    // Decoding is CPU work: off the async threads.
    let jpeg = tokio::task::spawn_blocking(move || crate::photos::thumbnail(&body))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|problem| {
            let code = match problem {
                crate::photos::PhotoError::NotAnImage => "not_an_image",
                crate::photos::PhotoError::TooLarge => "image_too_large",
                crate::photos::PhotoError::Damaged => "image_damaged",
            };
            AppError::bad_request(code, problem.to_string())
        })?;
    let url = state
        .store
        .writer
        .write(move |ctx| -> Result<String, AppError> {
            let member = members::load_by_no(ctx.tx, &member_no)?
                .ok_or_else(|| AppError::not_found("unknown_member", "no such member"))?;
            let url = format!(
                "/api/v1/desk/photos/{}?v={}",
                member.id,
                crate::photos::version(&jpeg)
            );
            crate::store::photos::put(ctx.tx, &member.id, &jpeg, ctx.now)?;
            members::set_photo_url(ctx.tx, &member.id, Some(&url))?;
            crate::members::announce_member(ctx, &member.id)?;
            let subject = Subject {
                member_no: Some(member_no),
                ..Subject::default()
            };
            ctx.audit(
                &actor.name,
                "member.photo",
                &subject,
                Some(&serde_json::json!({ "photo": member.photo_url.is_some() })),
                Some(&serde_json::json!({ "photo": true, "bytes": jpeg.len() })),
            )?;
            Ok(url)
        })
        .await?;
    Ok(Json(serde_json::json!({ "photo_url": url })))
}

async fn delete_photo(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(member_no): Path<String>,
) -> Result<StatusCode, AppError> {
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let member = members::load_by_no(ctx.tx, &member_no)?
                .ok_or_else(|| AppError::not_found("unknown_member", "no such member"))?;
            let had = crate::store::photos::delete(ctx.tx, &member.id)?;
            members::set_photo_url(ctx.tx, &member.id, None)?;
            crate::members::announce_member(ctx, &member.id)?;
            let subject = Subject {
                member_no: Some(member_no),
                ..Subject::default()
            };
            ctx.audit(
                &actor.name,
                "member.photo_delete",
                &subject,
                Some(&serde_json::json!({ "photo": had })),
                Some(&serde_json::json!({ "photo": false })),
            )?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn change_visit(
    state: &AppState,
    actor_name: String,
    id: String,
    void: bool,
    reason: String,
) -> Result<Checkin, AppError> {
    let id = CheckinId::new(id);
    state
        .store
        .writer
        .write(move |ctx| -> Result<Checkin, AppError> {
            let (checkin, before) =
                checkins::correct_by_operator(ctx, &id, void, &reason, &actor_name)?;
            let subject = Subject {
                member_no: members::load(ctx.tx, &checkin.member_id)?.map(|m| m.member_no),
                center_id: Some(checkin.center_id.clone()),
                target: Some(checkin.id.to_string()),
            };
            ctx.audit(
                &actor_name,
                if void {
                    "checkin.void"
                } else {
                    "checkin.correct"
                },
                &subject,
                Some(&serde_json::json!({ "status": before.as_str() })),
                Some(&serde_json::json!({ "status": checkin.status.as_str(), "reason": reason })),
            )?;
            Ok(checkin)
        })
        .await
}

async fn void_visit(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<VisitCorrection>,
) -> Result<Json<Checkin>, AppError> {
    Ok(Json(
        change_visit(&state, actor.name, id, true, body.reason).await?,
    ))
}

async fn correct_visit(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<VisitCorrection>,
) -> Result<Json<Checkin>, AppError> {
    Ok(Json(
        change_visit(&state, actor.name, id, false, body.reason).await?,
    ))
}

/// Policy reasons that may be decided in bulk: who came is not in doubt, only a rule about
/// the visit (a second visit today, the month's visits used up, outside opening hours).
/// Anything about who the member is or whether their pass holds (blocked, expired, a pass
/// shown twice or revoked) is looked at one by one.
fn safe_in_bulk(reason: &str) -> bool {
    matches!(
        reason,
        "already_checked_in_today" | "no_visits_left" | "center_closed"
    )
}

async fn bulk_disputes(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    ApiJson(bulk): ApiJson<BulkDisputes>,
) -> Result<Json<BulkResult>, AppError> {
    if bulk.checkin_ids.len() > MAX_BULK {
        return Err(AppError::bad_request(
            "too_many",
            format!("한 번에 {MAX_BULK}건까지 / at most {MAX_BULK} at once"),
        ));
    }
    let by = actor.name.clone();
    let result = state
        .store
        .writer
        .write(move |ctx| -> Result<BulkResult, AppError> {
            let mut result = BulkResult {
                decided: Vec::new(),
                skipped: Vec::new(),
            };
            for id in bulk.checkin_ids {
                let Some(checkin) = stored_checkins::load(ctx.tx, &id)? else {
                    result.skipped.push((id, "unknown_checkin".into()));
                    continue;
                };
                if checkin.status != CheckinStatus::Disputed {
                    result.skipped.push((id, "not_disputed".into()));
                    continue;
                }
                let reason = checkin.dispute.as_ref().map_or("", |d| d.reason.as_str());
                if bulk.accept && !safe_in_bulk(reason) {
                    result.skipped.push((id, "decide_one_by_one".into()));
                    continue;
                }
                super::admin::resolve_audited(ctx, &by, &id, bulk.accept, bulk.reason.clone())?;
                result.decided.push(id);
            }
            Ok(result)
        })
        .await?;
    Ok(Json(result))
}

// ----- settlement --------------------------------------------------------------------------

#[derive(serde::Deserialize)]
struct MonthQuery {
    month: Option<String>,
}

/// `YYYY-MM` (a Korean month) as its first day; this month when not given.
fn month_of(query: &MonthQuery) -> Result<(String, NaiveDate), AppError> {
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

fn month_bounds(first: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let next = first
        .checked_add_months(chrono::Months::new(1))
        .unwrap_or(first);
    (kst::start_of(first), kst::start_of(next))
}

/// One center's month: its totals, and the statement digest over its check-ins.
fn center_month(
    conn: &mut dyn crate::store::Conn,
    center_id: &CenterId,
    center_name: &str,
    month: &str,
    first: NaiveDate,
) -> Result<Statement, crate::store::StoreError> {
    let (from, to) = month_bounds(first);
    let rows = stored_checkins::of_center_between(conn, center_id, from, to)?;
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
    };
    let mut counted = Vec::with_capacity(rows.len());
    for stored_checkins::Settled {
        id,
        at,
        status,
        was_disputed,
    } in rows
    {
        match status {
            CheckinStatus::Admitted => {
                totals.admitted += 1;
                totals.disputed_accepted += u64::from(was_disputed);
            }
            CheckinStatus::Voided => totals.voided += 1,
            CheckinStatus::Denied => {
                totals.denied += 1;
                totals.disputed_rejected += u64::from(was_disputed);
            }
            CheckinStatus::Expired => totals.expired += 1,
            CheckinStatus::Disputed => totals.disputed_open += 1,
            CheckinStatus::Pending => {}
        }
        counted.push(Counted {
            id: id.to_string(),
            at,
            status,
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

async fn month_statements(
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

async fn settlement(
    State(state): State<AppState>,
    _: AsViewer,
    Query(query): Query<MonthQuery>,
) -> Result<Json<Vec<Statement>>, AppError> {
    let (month, first) = month_of(&query)?;
    Ok(Json(month_statements(&state, month, first).await?))
}

/// Every center's month as a spreadsheet: UTF-8 with a byte order mark (Excel reads the
/// Hangul), every cell safe from formula injection.
async fn settlement_csv(
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
        ]
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

async fn statement(
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

// ----- now, incidents ----------------------------------------------------------------------

/// Minutes of taps the live page shows.
const TAP_MINUTES: i64 = 15;

async fn now_view(state: &AppState) -> Result<NowView, AppError> {
    let at = Utc::now();
    let online = state.hub.online_desks();
    let (all_centers, all_desks, open) = state
        .store
        .read(|conn| {
            Ok((
                centers::list(conn)?,
                desks::list(conn)?,
                incidents::list(conn, 200)?,
            ))
        })
        .await?;
    let centers = all_centers
        .into_iter()
        .map(|c| NowCenter {
            desks: all_desks
                .iter()
                .filter(|d| d.center_id == c.id && !d.revoked)
                .map(|d| {
                    let is_online = online.contains(&d.id);
                    NowDesk {
                        clock_skew_s: state.desk_clock(&d.id),
                        desk: super::admin::admin_desk(d.clone(), is_online),
                    }
                })
                .collect(),
            id: c.id,
            name: c.name,
        })
        .collect();
    let open: Vec<_> = open.into_iter().filter(|i| i.ended_at.is_none()).collect();
    let open_incidents = views(state, open).await?;
    let taps = state
        .tap_stats
        .between(at - chrono::Duration::minutes(TAP_MINUTES), at)
        .into_iter()
        .map(|m| TapMinute {
            at: DateTime::from_timestamp(m.minute * 60, 0).unwrap_or(at),
            answered: m.answered,
            refused: m.refused,
            failed: m.failed,
        })
        .collect();
    Ok(NowView {
        at,
        centers,
        open_incidents,
        taps,
    })
}

async fn now(State(state): State<AppState>, _: AsViewer) -> Result<Json<NowView>, AppError> {
    Ok(Json(now_view(&state).await?))
}

/// The live page, sent again every two seconds while the console is open.
async fn now_stream(
    State(state): State<AppState>,
    _: AsViewer,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let shutdown = state.shutdown.clone();
    let stream = futures_util::stream::unfold((state, true), |(state, first)| async move {
        if !first {
            tokio::time::sleep(NOW_EVERY).await;
        }
        let event = match now_view(&state).await {
            Ok(view) => SseEvent::default()
                .event("now")
                .json_data(&view)
                .unwrap_or_else(|_| SseEvent::default().comment("unreadable")),
            Err(error) => SseEvent::default()
                .event("trouble")
                .data(error.public_message()),
        };
        Some((Ok(event), (state, false)))
    });
    Sse::new(stream.take_until(shutdown.cancelled_owned()))
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// The prepared notice for an incident that affects members, if it does.
fn notice_draft(incident: &gymgate_shared::api::Incident) -> Option<NewNotice> {
    let key = incident.key.as_str();
    let server_trouble = incident.kind == IncidentKind::Restart
        || key == crate::alerts::TAP_FAILURES
        || key == crate::alerts::COMMIT_LATENCY
        || key.starts_with(crate::alerts::NODE_DOWN);
    if server_trouble {
        return Some(NewNotice {
            severity: Severity::Warning,
            text_ko: "일시적인 서버 문제로 입장 처리가 늦어지거나 실패할 수 있습니다. 회원님의 정보와 입장 기록은 안전하게 보관되어 있습니다. 앱에서 입장이 안 되면 '오프라인 입장권'을 데스크에 보여 주세요.".into(),
            text_en: "A temporary server problem may slow down or fail check-ins. Your data and visits are safe. If the app cannot check you in, show your offline pass at the desk.".into(),
            ends_at: None,
            center_ids: Vec::new(),
        });
    }
    if let Some(center) = key.strip_prefix(crate::alerts::CENTER_OFFLINE) {
        return Some(NewNotice {
            severity: Severity::Info,
            text_ko: "이 센터 데스크의 인터넷 연결이 끊겼습니다. 입장은 데스크에서 계속 처리되며, 회원님의 입장 기록은 연결이 돌아오면 자동으로 반영됩니다. 앱 대신 회원번호나 '오프라인 입장권'으로 입장해 주세요.".into(),
            text_en: "This center's desk is offline. Check-in continues at the desk, and your visit is recorded once it reconnects. Give your member number or show your offline pass.".into(),
            ends_at: None,
            center_ids: vec![CenterId::new(center)],
        });
    }
    None
}

async fn views(
    state: &AppState,
    list: Vec<gymgate_shared::api::Incident>,
) -> Result<Vec<IncidentView>, AppError> {
    let now = Utc::now();
    let windows: Vec<(DateTime<Utc>, DateTime<Utc>)> = list
        .iter()
        .map(|i| (i.started_at, i.ended_at.unwrap_or(now)))
        .collect();
    let offline_centers: Vec<Option<CenterId>> = list
        .iter()
        .map(|i| {
            i.key
                .strip_prefix(crate::alerts::CENTER_OFFLINE)
                .map(CenterId::new)
        })
        .collect();
    let stored = state
        .store
        .read(move |conn| {
            let mut out = Vec::with_capacity(windows.len());
            for ((from, to), center) in windows.iter().zip(&offline_centers) {
                let offline = stored_checkins::offline_impact(conn, *from, *to)?;
                let center_desks = match center {
                    Some(center) => desks::count_paired(conn, center)?,
                    None => 0,
                };
                out.push((offline, center_desks));
            }
            Ok(out)
        })
        .await?;
    Ok(list
        .into_iter()
        .zip(stored)
        .map(|(incident, (offline, center_desks))| {
            let to = incident.ended_at.unwrap_or(now);
            let minutes = state.tap_stats.between(incident.started_at, to);
            let is_center = incident.key.starts_with(crate::alerts::CENTER_OFFLINE);
            let impact = IncidentImpact {
                taps_refused: minutes.iter().map(|m| u64::from(m.refused)).sum(),
                taps_failed: minutes.iter().map(|m| u64::from(m.failed)).sum(),
                centers_affected: offline.centers.max(u64::from(is_center)),
                desks_affected: offline.desks.max(center_desks),
                offline_synced: offline.synced,
                disputes_raised: offline.disputes,
            };
            IncidentView {
                notice_draft: notice_draft(&incident),
                incident,
                impact,
            }
        })
        .collect())
}

#[derive(serde::Deserialize)]
struct LimitQuery {
    limit: Option<u32>,
}

async fn incident_views(
    State(state): State<AppState>,
    _: AsViewer,
    Query(query): Query<LimitQuery>,
) -> Result<Json<Vec<IncidentView>>, AppError> {
    let limit = query.limit.unwrap_or(50).clamp(1, 200);
    let list = state
        .store
        .read(move |conn| incidents::list(conn, limit))
        .await?;
    Ok(Json(views(&state, list).await?))
}

// ----- support contact ---------------------------------------------------------------------

/// Public: the member app shows it (and keeps it for when the server cannot be reached).
async fn support_contact(State(state): State<AppState>) -> Result<Json<SupportContact>, AppError> {
    Ok(Json(
        state
            .store
            .read(settings::support)
            .await?
            .unwrap_or_default(),
    ))
}

async fn set_support(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    ApiJson(contact): ApiJson<SupportContact>,
) -> Result<Json<SupportContact>, AppError> {
    let contact = SupportContact {
        phone: contact.phone.trim().chars().take(40).collect(),
        chat_url: contact.chat_url.trim().chars().take(300).collect(),
        hours: contact.hours.trim().chars().take(100).collect(),
    };
    if !contact.chat_url.is_empty() && !contact.chat_url.starts_with("https://") {
        return Err(AppError::bad_request(
            "invalid_chat_url",
            "채팅 링크는 https:// 로 시작해야 합니다 / the chat link must start with https://",
        ));
    }
    if !contact
        .phone
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, '-' | ' ' | '+' | '(' | ')'))
    {
        return Err(AppError::bad_request(
            "invalid_phone",
            "전화번호에는 숫자와 -만 씁니다 / the phone number holds digits and dashes",
        ));
    }
    let stored = contact.clone();
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let before = settings::support(ctx.tx)?;
            settings::put_support(ctx.tx, &stored)?;
            // Every desk hears it now (or when it resumes).
            let payload = EventPayload::Support(stored.clone());
            for center in centers::ids(ctx.tx)? {
                ctx.append_event(&center, &payload)?;
            }
            ctx.audit(
                &actor.name,
                "support.set",
                &Subject::default(),
                before.map(serde_json::to_value).transpose()?.as_ref(),
                Some(&serde_json::to_value(&stored)?),
            )?;
            Ok(())
        })
        .await?;
    Ok(Json(contact))
}
