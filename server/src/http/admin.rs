//! The operators' API (bearer admin token): centers, pairing codes, desks, members (imports,
//! PIN locks), disputed visits, notices, the incident log.

use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use gymgate_shared::api::{
    AdminCenter, AdminDesk, AdminDispute, BlockRequest, Checkin, DeskHealthView, DisputeDecision,
    ImportJob, Incident, IncidentKind, IncidentNotes, NewCenter, NewMember, NewNotice, Notice,
    PairingCode, PinLock,
};
use gymgate_shared::hours::{DayHours, Schedule};
use gymgate_shared::protocol::EventPayload;
use gymgate_shared::{CenterId, CheckinId, DeskId, NoticeId};

use crate::auth::pins::Priority;
use crate::auth::tokens;
use crate::error::AppError;
use crate::extract::Actor;
use crate::extract::{ApiJson, AsAdmin, AsSupport, AsViewer};
use crate::members::{announce_member, hash_members, store_member, validate_member};
use crate::state::AppState;
use crate::store::audit::Subject;
use crate::store::centers::{self, CenterRow};
use crate::store::{
    WriteCtx, checkins as stored_checkins, desks, imports, incidents, logins, members, notices,
    settings,
};
use crate::{checkins, csv_out};

pub fn routes(max_import_bytes: usize) -> Router<AppState> {
    Router::new()
        .route("/api/v1/admin/centers", get(list_centers).post(add_center))
        .route(
            "/api/v1/admin/centers/{id}/pairing-codes",
            post(new_pairing_code),
        )
        .route("/api/v1/admin/desks", get(list_desks))
        .route("/api/v1/admin/desks/{id}/revoke", post(revoke_desk))
        .route("/api/v1/admin/desks/{id}/reports", get(desk_reports))
        .route(
            "/api/v1/admin/min-desk-version",
            get(min_desk_version).put(set_min_desk_version),
        )
        .route("/api/v1/admin/members", post(add_member))
        .route(
            "/api/v1/admin/members/import",
            post(import_members).layer(DefaultBodyLimit::max(max_import_bytes)),
        )
        .route("/api/v1/admin/imports", get(list_imports))
        .route("/api/v1/admin/imports/{id}", get(import_job))
        .route(
            "/api/v1/admin/imports/{id}/errors.csv",
            get(import_errors_csv),
        )
        .route(
            "/api/v1/admin/members/{member_no}/block",
            post(block_member),
        )
        .route("/api/v1/admin/members/{member_no}/pin-lock", get(pin_lock))
        .route(
            "/api/v1/admin/members/{member_no}/unlock",
            post(unlock_member),
        )
        .route("/api/v1/admin/disputes", get(list_disputes))
        .route(
            "/api/v1/admin/disputes/{checkin_id}/accept",
            post(accept_dispute),
        )
        .route(
            "/api/v1/admin/disputes/{checkin_id}/reject",
            post(reject_dispute),
        )
        .route("/api/v1/admin/notices", get(list_notices).post(post_notice))
        .route(
            "/api/v1/admin/notices/{id}",
            axum::routing::delete(clear_notice),
        )
        .route("/api/v1/admin/incidents", get(list_incidents))
        .route(
            "/api/v1/admin/incidents/{id}",
            axum::routing::patch(annotate_incident),
        )
}

pub(crate) fn admin_center(c: CenterRow) -> AdminCenter {
    AdminCenter {
        hours: c.schedule.summary_ko(),
        schedule: c.schedule,
        id: c.id,
        name: c.name,
        address: c.address,
        requires_approval: c.requires_approval,
        head_seq: c.head_seq,
    }
}

async fn list_centers(
    State(state): State<AppState>,
    _: AsViewer,
) -> Result<Json<Vec<AdminCenter>>, AppError> {
    let centers = state.store.read(centers::list).await?;
    Ok(Json(centers.into_iter().map(admin_center).collect()))
}

async fn add_center(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    ApiJson(new): ApiJson<NewCenter>,
) -> Result<(StatusCode, Json<AdminCenter>), AppError> {
    let name = new.name.trim().to_owned();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(AppError::bad_request(
            "invalid_name",
            "a center needs a name of 1 to 100 characters",
        ));
    }
    let schedule = match (new.schedule, new.hours.as_deref()) {
        (Some(schedule), _) => schedule
            .validated()
            .map_err(|e| AppError::bad_request("invalid_hours", e.message()))?,
        (None, None) => Schedule::always(),
        (None, Some(text)) => DayHours::parse(text).map(Schedule::uniform).ok_or_else(|| {
            AppError::bad_request(
                "invalid_hours",
                "운영 시간은 \"06:00-23:00\" 또는 \"24h\"처럼 씁니다 / hours look like \"06:00-23:00\" or \"24h\"",
            )
        })?,
    };
    let id = CenterId::generate();
    let center = state
        .store
        .writer
        .write(move |ctx| -> Result<CenterRow, AppError> {
            centers::insert(
                ctx.tx,
                &centers::NewCenter {
                    id: &id,
                    name: &name,
                    address: new.address.trim(),
                    schedule: &schedule,
                    requires_approval: new.requires_approval,
                },
                ctx.now,
            )?;
            let center = centers::load(ctx.tx, &id)?
                .ok_or_else(|| AppError::Internal("center vanished".into()))?;
            let after = serde_json::to_value(admin_center(center.clone()))?;
            let subject = Subject {
                center_id: Some(id.clone()),
                ..Subject::default()
            };
            ctx.audit(&actor.name, "center.add", &subject, None, Some(&after))?;
            Ok(center)
        })
        .await?;
    Ok((StatusCode::CREATED, Json(admin_center(center))))
}

/// Issues a single-use pairing code for a center. Only its hash is kept; the audit row
/// (who, which center, until when; never the code) is written in the same transaction.
pub async fn issue_pairing_code(
    state: &AppState,
    actor: &str,
    center_id: CenterId,
    code: String,
) -> Result<PairingCode, AppError> {
    let ttl = state.config.pairing_code_ttl;
    let hash = tokens::hash(&tokens::normalize_pairing_code(&code));
    let actor = actor.to_owned();
    state
        .store
        .writer
        .write(move |ctx| -> Result<PairingCode, AppError> {
            if centers::load(ctx.tx, &center_id)?.is_none() {
                return Err(AppError::not_found("unknown_center", "no such center"));
            }
            let expires_at = ctx.now + ttl;
            desks::put_pairing_code(ctx.tx, &hash, &center_id, ctx.now, expires_at)?;
            let subject = Subject {
                center_id: Some(center_id.clone()),
                ..Subject::default()
            };
            let after = serde_json::json!({ "expires_at": expires_at });
            ctx.audit(&actor, "pairing_code.issue", &subject, None, Some(&after))?;
            Ok(PairingCode {
                center_id,
                code,
                expires_at,
            })
        })
        .await
}

async fn new_pairing_code(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<PairingCode>), AppError> {
    let code = issue_pairing_code(
        &state,
        &actor.name,
        CenterId::new(id),
        tokens::new_pairing_code(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(code)))
}

/// A desk as operators see it.
pub(super) fn admin_desk(
    desk: desks::DeskRow,
    is_online: bool,
    rules: &crate::config::Rules,
    now: chrono::DateTime<Utc>,
    min_version: Option<&str>,
) -> AdminDesk {
    let figures = crate::desk::health::Figures::of(&desk);
    let problems = crate::desk::health::problems(&figures, is_online, now, rules, min_version);
    let connects_recent = figures.connects_recent(now, rules);
    let health = figures.stored.map(|(stored, at)| DeskHealthView {
        at,
        health: stored.health,
        clock_skew_s: stored.clock_skew_s,
        connects_recent,
        problems,
    });
    AdminDesk {
        health,
        online: is_online,
        offline_since: if is_online { None } else { desk.last_seen },
        app_version: desk.app_version,
        outbox_backlog: desk.outbox_backlog,
        id: desk.id,
        center_id: desk.center_id,
        name: desk.name,
        paired_at: desk.paired_at,
        revoked: desk.revoked,
        last_seen: desk.last_seen,
        acked_seq: desk.acked_seq,
    }
}

async fn list_desks(
    State(state): State<AppState>,
    _: AsViewer,
) -> Result<Json<Vec<AdminDesk>>, AppError> {
    let online = state.hub.online_desks();
    let (rows, min_version) = state
        .store
        .read(|conn| Ok((desks::list(conn)?, settings::min_desk_version(conn)?)))
        .await?;
    let (rules, now) = (&state.config.alerts.rules, Utc::now());
    let desks = rows
        .into_iter()
        .map(|desk| {
            let is_online = online.contains(&desk.id);
            admin_desk(desk, is_online, rules, now, min_version.as_deref())
        })
        .collect();
    Ok(Json(desks))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct MinDeskVersion {
    /// `null`: no minimum.
    version: Option<String>,
}

/// The lowest desk version still supported: desks below it are shown and alerted as
/// `outdated`.
async fn min_desk_version(
    State(state): State<AppState>,
    _: AsViewer,
) -> Result<Json<MinDeskVersion>, AppError> {
    let version = state.store.read(settings::min_desk_version).await?;
    Ok(Json(MinDeskVersion { version }))
}

async fn set_min_desk_version(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    ApiJson(body): ApiJson<MinDeskVersion>,
) -> Result<Json<MinDeskVersion>, AppError> {
    let version = body
        .version
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    if let Some(version) = &version
        && (version.len() > 40 || crate::desk::health::version_key(version).is_none())
    {
        return Err(AppError::bad_request(
            "invalid_version",
            "버전은 0.2.0처럼 숫자와 점으로 씁니다 / write the version as numbers and dots, e.g. 0.2.0",
        ));
    }
    let stored = version.clone();
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let before = settings::min_desk_version(ctx.tx)?;
            settings::put_min_desk_version(ctx.tx, stored.as_deref())?;
            ctx.audit(
                &actor.name,
                "desks.min_version",
                &Subject::default(),
                Some(&serde_json::json!({ "version": before })),
                Some(&serde_json::json!({ "version": stored })),
            )?;
            Ok(())
        })
        .await?;
    Ok(Json(MinDeskVersion { version }))
}

/// What a desk reported after its crashes and cache failures, newest first.
async fn desk_reports(
    State(state): State<AppState>,
    _: AsViewer,
    Path(id): Path<String>,
) -> Result<Json<Vec<gymgate_shared::api::AdminDeskReport>>, AppError> {
    let desk_id = DeskId::new(id);
    Ok(Json(
        state
            .store
            .read(move |conn| desks::reports(conn, &desk_id))
            .await?,
    ))
}

async fn revoke_desk(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let desk_id = DeskId::new(id);
    let target = desk_id.clone();
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            if !desks::revoke(ctx.tx, &target, ctx.now)? {
                return Err(AppError::not_found("unknown_desk", "no such desk"));
            }
            let subject = Subject {
                target: Some(target.to_string()),
                ..Subject::default()
            };
            ctx.audit(
                &actor.name,
                "desk.revoke",
                &subject,
                Some(&serde_json::json!({ "revoked": false })),
                Some(&serde_json::json!({ "revoked": true })),
            )?;
            Ok(())
        })
        .await?;
    state.hub.disconnect_desk(&desk_id);
    Ok(StatusCode::NO_CONTENT)
}

async fn add_member(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    ApiJson(new): ApiJson<NewMember>,
) -> Result<StatusCode, AppError> {
    let new = validate_member(new).map_err(|m| AppError::bad_request("invalid_member", m))?;
    let mut hashed = hash_members(&state.pins, vec![new], Priority::Login, 1).await?;
    let member = hashed
        .pop()
        .ok_or_else(|| AppError::Internal("no member to store".into()))?;
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            store_member(ctx, &member, false)?;
            let subject = Subject {
                member_no: Some(member.new.member_no.clone()),
                ..Subject::default()
            };
            let after = serde_json::json!({
                "name": member.new.name,
                "plan": member.new.plan,
                "valid_from": member.new.valid_from,
                "valid_until": member.new.valid_until,
            });
            Ok(ctx.audit(&actor.name, "member.add", &subject, None, Some(&after))?)
        })
        .await?;
    Ok(StatusCode::CREATED)
}

async fn block_member(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(member_no): Path<String>,
    ApiJson(request): ApiJson<BlockRequest>,
) -> Result<StatusCode, AppError> {
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let member = crate::members::by_no(ctx.tx, &member_no)?;
            let subject = Subject {
                member_no: Some(member_no.clone()),
                ..Subject::default()
            };
            ctx.audit(
                &actor.name,
                if request.blocked {
                    "member.block"
                } else {
                    "member.unblock"
                },
                &subject,
                Some(&serde_json::json!({ "blocked": member.blocked })),
                Some(&serde_json::json!({ "blocked": request.blocked, "reason": request.reason })),
            )?;
            members::set_blocked(
                ctx.tx,
                &member.id,
                request.blocked,
                request.reason.as_deref(),
            )?;
            if request.blocked {
                crate::members::revoke_passes(ctx, &member.id)?;
            }
            announce_member(ctx, &member.id)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stores the CSV as an import job and answers at once (202); the job runs on the server.
async fn import_members(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    body: axum::body::Bytes,
) -> Result<(StatusCode, Json<ImportJob>), AppError> {
    let job = crate::imports::start(&state, &actor.name, body).await?;
    Ok((StatusCode::ACCEPTED, Json(job)))
}

/// Errors kept per job in the list (the job itself has them all).
const LIST_ERRORS: usize = 20;

async fn list_imports(
    State(state): State<AppState>,
    _: AsViewer,
) -> Result<Json<Vec<ImportJob>>, AppError> {
    let jobs = state
        .store
        .read(|conn| imports::list(conn, 50, LIST_ERRORS))
        .await?;
    Ok(Json(jobs))
}

async fn load_import(state: &AppState, id: String) -> Result<ImportJob, AppError> {
    state
        .store
        .read(move |conn| imports::load(conn, &id))
        .await?
        .ok_or_else(|| AppError::not_found("unknown_import", "no such import job"))
}

async fn import_job(
    State(state): State<AppState>,
    _: AsViewer,
    Path(id): Path<String>,
) -> Result<Json<ImportJob>, AppError> {
    Ok(Json(load_import(&state, id).await?))
}

/// The lines that were not imported, as a spreadsheet.
async fn import_errors_csv(
    State(state): State<AppState>,
    _: AsViewer,
    Path(id): Path<String>,
) -> Result<impl IntoResponse, AppError> {
    let job = load_import(&state, id).await?;
    let rows = job.errors.iter().map(|e| {
        vec![
            e.line.to_string(),
            e.member_no.clone().unwrap_or_default(),
            e.message.clone(),
        ]
    });
    let body = csv_out::to_csv(&["line", "member_no", "message"], rows)
        .map_err(|e| AppError::Internal(format!("cannot write the CSV: {e}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"import-{}-errors.csv\"", job.id),
            ),
        ],
        body,
    ))
}

async fn read_pin_lock(state: &AppState, member_no: String) -> Result<PinLock, AppError> {
    state
        .store
        .read(move |conn| {
            if members::load_by_no(conn, &member_no)?.is_none() {
                return Ok(None);
            }
            let failures = logins::load(conn, &member_no)?;
            Ok(Some(PinLock {
                failures: failures.as_ref().map_or(0, |f| f.failures),
                locked_until: failures
                    .and_then(|f| f.locked_until)
                    .filter(|until| *until > Utc::now()),
                member_no,
            }))
        })
        .await?
        .ok_or_else(|| AppError::not_found("unknown_member", "no such member"))
}

async fn pin_lock(
    State(state): State<AppState>,
    _: AsViewer,
    Path(member_no): Path<String>,
) -> Result<Json<PinLock>, AppError> {
    Ok(Json(read_pin_lock(&state, member_no).await?))
}

/// Lifts a member's PIN lock and forgets their wrong PINs; answers the lock as it was.
async fn unlock_member(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(member_no): Path<String>,
) -> Result<Json<PinLock>, AppError> {
    let before = read_pin_lock(&state, member_no.clone()).await?;
    let before_json = serde_json::to_value(&before)?;
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            logins::clear(ctx.tx, &member_no)?;
            let subject = Subject {
                member_no: Some(member_no),
                ..Subject::default()
            };
            let after = serde_json::json!({ "failures": 0, "locked_until": null });
            ctx.audit(
                &actor.name,
                "member.unlock",
                &subject,
                Some(&before_json),
                Some(&after),
            )?;
            Ok(())
        })
        .await?;
    tracing::info!(member_no = %before.member_no, was_locked = before.locked_until.is_some(), "PIN lock lifted by an operator");
    Ok(Json(before))
}

/// Disputed visits waiting for an operator, oldest first.
async fn list_disputes(
    State(state): State<AppState>,
    _: AsViewer,
) -> Result<Json<Vec<AdminDispute>>, AppError> {
    let disputes = state
        .store
        .read(|conn| stored_checkins::open_disputes(conn, 1000))
        .await?;
    Ok(Json(disputes))
}

async fn resolve(
    state: &AppState,
    actor: &Actor,
    id: String,
    accept: bool,
    decision: DisputeDecision,
) -> Result<Checkin, AppError> {
    let id = CheckinId::new(id);
    let by = actor.name.clone();
    state
        .store
        .writer
        .write(move |ctx| {
            resolve_audited(
                ctx,
                &by,
                &id,
                accept,
                decision.reason,
                decision.override_rules,
            )
        })
        .await
}

/// Resolves one dispute and logs it, in the caller's transaction.
pub(super) fn resolve_audited(
    ctx: &mut WriteCtx<'_>,
    by: &str,
    id: &CheckinId,
    accept: bool,
    reason: Option<String>,
    override_rules: bool,
) -> Result<Checkin, AppError> {
    let checkins::Resolved {
        checkin,
        overridden,
    } = checkins::resolve_dispute(ctx, id, accept, reason.clone(), override_rules, by)?;
    let subject = Subject {
        member_no: members::load(ctx.tx, &checkin.member_id)?.map(|m| m.member_no),
        center_id: Some(checkin.center_id.clone()),
        target: Some(checkin.id.to_string()),
    };
    ctx.audit(
        by,
        if accept {
            "dispute.accept"
        } else {
            "dispute.reject"
        },
        &subject,
        Some(&serde_json::json!({ "status": "disputed" })),
        Some(&serde_json::json!({
            "status": checkin.status.as_str(),
            "reason": reason,
            "overridden_rule": overridden.map(|r| r.code()),
        })),
    )?;
    Ok(checkin)
}

/// Accepting needs no body; a reason is welcome.
async fn accept_dispute(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(id): Path<String>,
    body: axum::body::Bytes,
) -> Result<Json<Checkin>, AppError> {
    let decision = if body.iter().all(u8::is_ascii_whitespace) {
        DisputeDecision::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| AppError::bad_request("invalid_body", format!("invalid JSON: {e}")))?
    };
    Ok(Json(resolve(&state, &actor, id, true, decision).await?))
}

async fn reject_dispute(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(id): Path<String>,
    ApiJson(decision): ApiJson<DisputeDecision>,
) -> Result<Json<Checkin>, AppError> {
    Ok(Json(resolve(&state, &actor, id, false, decision).await?))
}

async fn list_notices(
    State(state): State<AppState>,
    _: AsViewer,
) -> Result<Json<Vec<Notice>>, AppError> {
    let notices = state
        .store
        .read(|conn| notices::active(conn, Utc::now(), notices::Audience::Operators))
        .await?;
    Ok(Json(notices))
}

/// Appends a notice event to its centers' logs (every center's when `only` is empty), so
/// their desks hear it now or on resume.
fn broadcast_notice(
    ctx: &mut WriteCtx<'_>,
    notice: &Notice,
    only: &[CenterId],
) -> Result<(), AppError> {
    let payload = EventPayload::Notice(notice.clone());
    for center in centers::ids(ctx.tx)? {
        if only.is_empty() || only.contains(&center) {
            ctx.append_event(&center, &payload)?;
        }
    }
    Ok(())
}

async fn post_notice(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    ApiJson(new): ApiJson<NewNotice>,
) -> Result<(StatusCode, Json<Notice>), AppError> {
    Ok((
        StatusCode::CREATED,
        Json(publish_notice(&state, &actor, new).await?),
    ))
}

/// Posts a notice (to all centers or some) and opens its incident.
pub(super) async fn publish_notice(
    state: &AppState,
    actor: &Actor,
    new: NewNotice,
) -> Result<Notice, AppError> {
    if new.text_ko.trim().is_empty() || new.text_en.trim().is_empty() {
        return Err(AppError::bad_request(
            "invalid_notice",
            "a notice needs Korean and English text",
        ));
    }
    if new.text_ko.chars().count() > 1000 || new.text_en.chars().count() > 1000 {
        return Err(AppError::bad_request(
            "invalid_notice",
            "a notice is at most 1000 characters",
        ));
    }
    if new.center_ids.len() > 10_000 {
        return Err(AppError::bad_request("invalid_notice", "too many centers"));
    }
    let by = actor.name.clone();
    state
        .store
        .writer
        .write(move |ctx| -> Result<Notice, AppError> {
            for center in &new.center_ids {
                if centers::load(ctx.tx, center)?.is_none() {
                    return Err(AppError::not_found(
                        "unknown_center",
                        format!("no center {center}"),
                    ));
                }
            }
            let notice = Notice {
                id: NoticeId::generate(),
                severity: new.severity,
                text_ko: new.text_ko.trim().to_owned(),
                text_en: new.text_en.trim().to_owned(),
                starts_at: ctx.now,
                ends_at: new.ends_at,
                cleared: false,
            };
            notices::insert(ctx.tx, &notice, &new.center_ids)?;
            broadcast_notice(ctx, &notice, &new.center_ids)?;
            let subject = Subject {
                target: Some(notice.id.to_string()),
                ..Subject::default()
            };
            let after = serde_json::json!({ "notice": notice, "center_ids": new.center_ids });
            ctx.audit(&by, "notice.post", &subject, None, Some(&after))?;
            incidents::open(
                ctx.tx,
                IncidentKind::Notice,
                &notice_key(&notice.id),
                &format!("{} / {}", notice.text_ko, notice.text_en),
                notice.starts_at,
                notice.ends_at,
            )?;
            Ok(notice)
        })
        .await
}

async fn clear_notice(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(id): Path<String>,
) -> Result<StatusCode, AppError> {
    let id = NoticeId::new(id);
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let (mut notice, only) = notices::load(ctx.tx, &id)?
                .ok_or_else(|| AppError::not_found("unknown_notice", "no such notice"))?;
            if notice.cleared {
                return Ok(());
            }
            notices::clear(ctx.tx, &id, ctx.now)?;
            notice.cleared = true;
            incidents::close(ctx.tx, &notice_key(&id), ctx.now)?;
            let subject = Subject {
                target: Some(id.to_string()),
                ..Subject::default()
            };
            ctx.audit(
                &actor.name,
                "notice.clear",
                &subject,
                Some(&serde_json::json!({ "cleared": false })),
                Some(&serde_json::json!({ "cleared": true })),
            )?;
            broadcast_notice(ctx, &notice, &only)
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

fn notice_key(id: &NoticeId) -> String {
    format!("notice:{id}")
}

#[derive(serde::Deserialize)]
struct IncidentQuery {
    #[serde(default = "default_incident_limit")]
    limit: u32,
}

fn default_incident_limit() -> u32 {
    100
}

/// The incident log, newest first.
async fn list_incidents(
    State(state): State<AppState>,
    _: AsViewer,
    axum::extract::Query(query): axum::extract::Query<IncidentQuery>,
) -> Result<Json<Vec<Incident>>, AppError> {
    let limit = query.limit.clamp(1, 1000);
    let log = state
        .store
        .read(move |conn| incidents::list(conn, limit))
        .await?;
    Ok(Json(log))
}

/// An operator's cause, action and follow-up for an incident.
async fn annotate_incident(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(id): Path<String>,
    ApiJson(notes): ApiJson<IncidentNotes>,
) -> Result<Json<Incident>, AppError> {
    let fields = [&notes.cause, &notes.action, &notes.follow_up];
    if fields.iter().all(|f| f.is_none()) {
        return Err(AppError::bad_request(
            "invalid_body",
            "바꿀 항목(cause, action, follow_up)이 없습니다 / nothing to change: send cause, action or follow_up",
        ));
    }
    if fields.iter().any(|f| {
        f.as_ref()
            .is_some_and(|t| t.chars().count() > incidents::MAX_NOTE_CHARS)
    }) {
        return Err(AppError::bad_request(
            "invalid_notes",
            format!(
                "each note is at most {} characters",
                incidents::MAX_NOTE_CHARS
            ),
        ));
    }
    let incident = state
        .store
        .writer
        .write(move |ctx| -> Result<Incident, AppError> {
            let before = incidents::load(ctx.tx, &id)?
                .ok_or_else(|| AppError::not_found("unknown_incident", "no such incident"))?;
            let after = incidents::annotate(ctx.tx, &id, &notes)?
                .ok_or_else(|| AppError::not_found("unknown_incident", "no such incident"))?;
            let notes_of = |i: &Incident| {
                serde_json::json!({ "cause": i.cause, "action": i.action, "follow_up": i.follow_up })
            };
            let subject = Subject {
                target: Some(id.clone()),
                ..Subject::default()
            };
            ctx.audit(
                &actor.name,
                "incident.annotate",
                &subject,
                Some(&notes_of(&before)),
                Some(&notes_of(&after)),
            )?;
            Ok(after)
        })
        .await?;
    Ok(Json(incident))
}
