//! The member API: log in, see the pass, list centers, tap Enter, follow a check-in.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::response::IntoResponse;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use futures_util::StreamExt;
use gymgate_shared::CheckinId;
use gymgate_shared::api::{
    Center, CheckinEnvelope, CheckinRequest, Consents, Member, MemberLogin, MemberSession,
    MemberVisit, Notice, PassCertificate, PassRequest, VisitAnswer,
};

use crate::auth::logins::{self, Gate};
use crate::auth::tokens;
use crate::checkins;
use crate::error::AppError;
use crate::extract::{ApiJson, MemberAuth};
use crate::hub::MemberNote;
use crate::state::AppState;
use crate::store::{self, centers, checkins as stored_checkins, members, notices};

const MAX_IDEMPOTENCY_KEY: usize = 128;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/member", post(login))
        .route("/api/v1/me", get(me))
        .route("/api/v1/centers", get(centers))
        .route("/api/v1/notices", get(notices))
        .route("/api/v1/checkins", post(tap))
        .route("/api/v1/checkins/{id}", get(checkin))
        .route("/api/v1/me/events", get(member_events))
        .route("/api/v1/me/pass", post(issue_pass))
        .route("/api/v1/me/photo", get(my_photo))
        .route("/api/v1/me/consents", get(consents).put(set_consents))
        .route("/api/v1/me/visits", get(visits))
        .route("/api/v1/me/visits/{id}/answer", post(answer_visit))
}

async fn consents(
    State(state): State<AppState>,
    auth: MemberAuth,
) -> Result<Json<Consents>, AppError> {
    state
        .store
        .read(move |conn| members::consents(conn, &auth.member_id))
        .await?
        .map(Json)
        .ok_or_else(|| AppError::unauthorized("invalid_token", "unknown member"))
}

/// The member says whether their taps may carry the phone's location (asked once in the app;
/// changed any time).
async fn set_consents(
    State(state): State<AppState>,
    auth: MemberAuth,
    ApiJson(wanted): ApiJson<Consents>,
) -> Result<Json<Consents>, AppError> {
    let member = auth.member_id;
    let consents = state
        .store
        .writer
        .write_for(
            member.clone().as_str(),
            move |ctx| -> Result<Consents, AppError> {
                members::set_location_consent(ctx.tx, &member, wanted.location, ctx.now)?;
                members::consents(ctx.tx, &member)?
                    .ok_or_else(|| AppError::unauthorized("invalid_token", "unknown member"))
            },
        )
        .await?;
    Ok(Json(consents))
}

/// Visits the history lists: more than a member makes in three months.
const VISITS_LISTED: u32 = 200;

/// The member's own visits, newest first, each with its evidence and whether they confirmed it.
async fn visits(
    State(state): State<AppState>,
    auth: MemberAuth,
) -> Result<Json<Vec<MemberVisit>>, AppError> {
    let now = Utc::now();
    let visits = state
        .store
        .read(move |conn| stored_checkins::visits_of_member(conn, &auth.member_id, VISITS_LISTED))
        .await?;
    Ok(Json(
        visits
            .into_iter()
            .map(|v| crate::visits::member_view(v, now))
            .collect(),
    ))
}

/// "네, 제 방문입니다" or "이 방문은 제가 아닙니다" about one visit.
async fn answer_visit(
    State(state): State<AppState>,
    auth: MemberAuth,
    Path(id): Path<String>,
    ApiJson(answer): ApiJson<VisitAnswer>,
) -> Result<Json<MemberVisit>, AppError> {
    let id = CheckinId::new(id);
    let member_id = auth.member_id;
    let visit = state
        .store
        .writer
        .write_for(member_id.clone().as_str(), move |ctx| {
            crate::visits::answer(ctx, &member_id, &id, &answer)
        })
        .await?;
    Ok(Json(visit))
}

/// A pass certificate for the phone whose public key comes in the body, so the member has
/// something to show with no network (see `gymgate_shared::pass`).
async fn issue_pass(
    State(state): State<AppState>,
    auth: MemberAuth,
    ApiJson(request): ApiJson<PassRequest>,
) -> Result<Json<PassCertificate>, AppError> {
    let device = crate::passes::device_key(&request.device_key).ok_or_else(|| {
        AppError::bad_request(
            "invalid_device_key",
            "device_key must be an Ed25519 public key, base64url (32 bytes)",
        )
    })?;
    if !state.pass_limiter.allow(&auth.member_id) {
        return Err(AppError::RateLimited);
    }
    let member_id = auth.member_id.clone();
    let now = Utc::now();
    let (member, visits_left) = state
        .store
        .read(move |conn| {
            let Some(member) = members::load(conn, &member_id)? else {
                return Ok(None);
            };
            let history = stored_checkins::visit_history(conn, &member.id, None, now)?;
            let left = gymgate_shared::policy::visits_left(&member.pass(), &history);
            Ok(Some((member, left)))
        })
        .await?
        .ok_or_else(|| AppError::unauthorized("invalid_token", "unknown member"))?;
    if member.blocked {
        return Err(AppError::Refused(
            gymgate_shared::policy::Refusal::MemberBlocked,
        ));
    }
    let certificate = state.passes.issue(&member, visits_left, device, now);
    let (issued_at, expires_at) = (certificate.issued_at, certificate.expires_at);
    let device_key = request.device_key.trim().to_owned();
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            members::record_pass_issue(ctx.tx, &member.id, &device_key, issued_at, expires_at)?;
            Ok(())
        })
        .await?;
    Ok(Json(certificate))
}

/// Server-sent events: every change to this member's check-ins (`event: checkin`, data the
/// check-in), so the member app shows the desk's admit, deny or void at once.
async fn member_events(
    State(state): State<AppState>,
    auth: MemberAuth,
) -> Sse<impl futures_util::Stream<Item = Result<SseEvent, Infallible>>> {
    let feed = state
        .hub
        .watch_member(&auth.member_id, state.config.limits.feeds_per_member);
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        loop {
            let encoded = match feed.events.recv().await? {
                MemberNote::Event(published) => {
                    let data: serde_json::Value = match serde_json::from_str(&published.data) {
                        Ok(data) => data,
                        Err(error) => {
                            tracing::error!(%error, "cannot read an event for a member");
                            continue;
                        }
                    };
                    SseEvent::default()
                        .event("checkin")
                        .json_data(&data["checkin"])
                }
                // `event: shown`: a desk has the check-in on screen.
                MemberNote::Shown(shown) => SseEvent::default().event("shown").json_data(&shown),
            };
            match encoded {
                Ok(event) => return Some((Ok(event), feed)),
                Err(error) => tracing::error!(%error, "cannot encode a member event"),
            }
        }
    });
    // The stream ends with the token: at its expiry here, and at once when the member's
    // sessions are ended (a PIN change or a block closes the member's feeds in the hub).
    let left = (auth.expires_at - chrono::Utc::now())
        .to_std()
        .unwrap_or(Duration::ZERO);
    let expiry = tokio::time::sleep(left);
    Sse::new(
        stream
            .take_until(state.shutdown.clone().cancelled_owned())
            .take_until(expiry)
            .take_until(token_gone(state.clone(), auth.token_hash)),
    )
    .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// How often a member's live feed looks whether its token still exists, with several nodes.
const FEED_RECHECK: Duration = Duration::from_secs(15);

/// Completes when the token is gone through another node whose word this node missed (a
/// PIN reset there ends the feeds of every node that hears it). One node: never (this node
/// ends the feeds itself).
async fn token_gone(state: AppState, token_hash: Vec<u8>) {
    if state.store.postgres_url().is_none() {
        return std::future::pending().await;
    }
    let mut every = tokio::time::interval(FEED_RECHECK);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    every.tick().await;
    loop {
        every.tick().await;
        let key = token_hash.clone();
        if let Ok(None) = state
            .store
            .read(move |conn| store::tokens::member_of(conn, &key))
            .await
        {
            return;
        }
    }
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(login): ApiJson<MemberLogin>,
) -> Result<Json<MemberSession>, AppError> {
    let wrong = || AppError::unauthorized("invalid_credentials", "member number or PIN is wrong");
    let member_no = login.member_no.trim().to_owned();
    // Nothing that cannot be a member number or a PIN gets as far as any state or work.
    if !logins::plausible_member_no(&member_no) || !logins::plausible_pin(&login.pin) {
        return Err(wrong());
    }
    let address = state.client_ip(peer, &headers);
    let counted = |outcome: &'static str| {
        metrics::counter!(crate::metrics::LOGINS, "outcome" => outcome).increment(1);
    };
    let _admitted = state
        .logins
        .admit(address, &member_no)
        .await
        .inspect_err(|_| counted("limited"))?;
    let now = Utc::now();
    let lookup_no = member_no.clone();
    let (member, failures) = state
        .store
        .read(move |conn| {
            Ok((
                members::load_by_no(conn, &lookup_no)?,
                store::logins::load(conn, &lookup_no)?,
            ))
        })
        .await?;
    let gate = |failures: Option<&store::logins::Failures>| -> Result<(), AppError> {
        match logins::gate(&state.logins.policy, failures, now) {
            Gate::Open => Ok(()),
            Gate::Delayed { retry_after } => {
                counted("delayed");
                Err(AppError::LoginDelayed { retry_after })
            }
            Gate::Locked { until } => {
                counted("locked");
                Err(locked(until))
            }
        }
    };
    gate(failures.as_ref())?;
    // Several nodes: one check per number across all of them (the admission above holds it
    // on this node only), judged again on the failures as they are now.
    let shared = state.store.postgres_url().is_some();
    let mut failures = failures;
    if shared {
        let number = member_no.clone();
        let claimed = state
            .store
            .writer
            .write(move |ctx| store::logins::claim_check(ctx.tx, &number))
            .await?;
        let Some(now_failures) = claimed else {
            counted("limited");
            return Err(AppError::RateLimited);
        };
        failures = now_failures;
        if let Err(refused) = gate(failures.as_ref()) {
            let number = member_no.clone();
            state
                .store
                .writer
                .write(move |ctx| store::logins::release_check(ctx.tx, &number))
                .await?;
            return Err(refused);
        }
    }
    // An unknown number is checked against a hash of nothing, at the same cost.
    let hash = member.as_ref().map_or_else(
        || state.unknown_member_pin_hash.clone(),
        |m| m.pin_hash.clone(),
    );
    let right = state.pins.verify(login.pin, hash).await? && member.is_some();
    let policy = state.logins.policy.clone();
    let Some(member) = member.filter(|_| right) else {
        state.logins.failed(address);
        let after = state
            .store
            .writer
            .write(move |ctx| {
                if shared {
                    store::logins::release_check(ctx.tx, &member_no)?;
                }
                store::logins::record_failure(
                    ctx.tx,
                    &member_no,
                    ctx.now,
                    policy.window,
                    policy.lock_after,
                    policy.lock_for,
                )
            })
            .await?;
        counted("wrong");
        return Err(match after.locked_until {
            Some(until) if until > now => locked(until),
            _ => wrong(),
        });
    };
    counted("ok");
    let token = tokens::new_token();
    let hash = tokens::hash(&token);
    let ttl = state.config.member_token_ttl;
    let member_id = member.id.clone();
    let had_failures = failures.is_some();
    let view = state
        .store
        .writer
        .write(move |ctx| -> Result<Member, AppError> {
            if shared {
                store::logins::release_check(ctx.tx, &member_no)?;
            }
            if had_failures {
                store::logins::clear(ctx.tx, &member_no)?;
            }
            store::tokens::insert(ctx.tx, &hash, &member_id, ctx.now, ctx.now + ttl)?;
            let history = stored_checkins::visit_history(ctx.tx, &member_id, None, ctx.now)?;
            Ok(member.public(&history))
        })
        .await?;
    Ok(Json(MemberSession {
        token,
        member: view,
    }))
}

/// A locked account is told so, with when it opens again and what to do meanwhile.
fn locked(until: chrono::DateTime<Utc>) -> AppError {
    AppError::forbidden(
        "account_locked",
        format!(
            "too many wrong PINs: this account is locked until {} (Korean time); \
             the front desk can still check you in, and support can unlock it",
            until
                .with_timezone(&gymgate_shared::kst::offset())
                .format("%Y-%m-%d %H:%M")
        ),
    )
}

/// The member's own photo, shown on their pass (`404 no_photo` when there is none).
async fn my_photo(
    State(state): State<AppState>,
    auth: MemberAuth,
) -> Result<impl IntoResponse, AppError> {
    let member = auth.member_id;
    let jpeg = state
        .store
        .read(move |conn| crate::store::photos::get(conn, &member))
        .await?
        .ok_or_else(|| AppError::not_found("no_photo", "no photo for this member"))?;
    Ok((
        [
            (header::CONTENT_TYPE, "image/jpeg"),
            (header::CACHE_CONTROL, "private, no-cache"),
        ],
        jpeg,
    ))
}

async fn me(State(state): State<AppState>, auth: MemberAuth) -> Result<Json<Member>, AppError> {
    let member = state
        .store
        .read(move |conn| {
            let Some(member) = members::load(conn, &auth.member_id)? else {
                return Ok(None);
            };
            let history = stored_checkins::visit_history(conn, &member.id, None, Utc::now())?;
            Ok(Some(member.public(&history)))
        })
        .await?
        .ok_or_else(|| AppError::unauthorized("invalid_token", "unknown member"))?;
    Ok(Json(member))
}

async fn centers(
    State(state): State<AppState>,
    _auth: MemberAuth,
) -> Result<Json<Vec<Center>>, AppError> {
    let centers = state
        .store
        .read(|conn| Ok(centers::list(conn)?.iter().map(|c| c.public()).collect()))
        .await?;
    Ok(Json(centers))
}

/// Active operator notices; public, so the member app can show them before login too.
async fn notices(State(state): State<AppState>) -> Result<Json<Vec<Notice>>, AppError> {
    let notices = state
        .store
        .read(|conn| notices::active(conn, Utc::now(), notices::Audience::Members))
        .await?;
    Ok(Json(notices))
}

async fn tap(
    State(state): State<AppState>,
    auth: MemberAuth,
    headers: HeaderMap,
    ApiJson(request): ApiJson<CheckinRequest>,
) -> Result<(StatusCode, Json<CheckinEnvelope>), AppError> {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| {
            AppError::bad_request(
                "missing_idempotency_key",
                "an Idempotency-Key header is required, so a retried tap does not check in twice",
            )
        })?
        .to_owned();
    if key.len() > MAX_IDEMPOTENCY_KEY {
        return Err(AppError::bad_request(
            "invalid_idempotency_key",
            format!("the Idempotency-Key may be at most {MAX_IDEMPOTENCY_KEY} characters"),
        ));
    }
    let started = std::time::Instant::now();
    if !state.tap_limiter.allow(&auth.member_id) {
        metrics::counter!(crate::metrics::TAPS, "outcome" => "rate_limited").increment(1);
        return Err(AppError::RateLimited);
    }
    let member_id = auth.member_id;
    let result = state
        .store
        .writer
        .write_for(member_id.clone().as_str(), move |ctx| {
            checkins::tap(
                ctx,
                &member_id,
                &request.center_id,
                &key,
                request.presence.as_deref(),
                request.location,
            )
        })
        .await;
    let outcome = match &result {
        Ok(r) if r.created => "created",
        Ok(_) => "repeated",
        Err(AppError::Store(_) | AppError::Internal(_)) => "failed",
        Err(_) => "refused",
    };
    metrics::counter!(crate::metrics::TAPS, "outcome" => outcome).increment(1);
    state.tap_stats.answered.fetch_add(1, Ordering::Relaxed);
    if outcome == "failed" {
        state.tap_stats.failed.fetch_add(1, Ordering::Relaxed);
    }
    if outcome == "refused" {
        state.tap_stats.refused.fetch_add(1, Ordering::Relaxed);
    }
    state.tap_stats.count(
        chrono::Utc::now(),
        outcome == "refused",
        outcome == "failed",
    );
    metrics::histogram!(crate::metrics::TAP_SECONDS).record(started.elapsed().as_secs_f64());
    let result = result?;
    let status = if result.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((
        status,
        Json(CheckinEnvelope {
            checkin: result.checkin,
        }),
    ))
}

async fn checkin(
    State(state): State<AppState>,
    auth: MemberAuth,
    Path(id): Path<String>,
) -> Result<Json<CheckinEnvelope>, AppError> {
    let id = CheckinId::new(id);
    let checkin = state
        .store
        .read(move |conn| stored_checkins::load(conn, &id))
        .await?
        // Another member's check-in looks exactly like a missing one.
        .filter(|c| c.member_id == auth.member_id)
        .ok_or_else(|| AppError::not_found("unknown_checkin", "no such check-in"))?;
    Ok(Json(CheckinEnvelope { checkin }))
}
