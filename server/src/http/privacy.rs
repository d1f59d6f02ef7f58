//! The member's own data (Korean PIPA): "내 데이터 내려받기", prepared as a job behind a link
//! valid 7 days, and the deletion of their account, confirmed with their PIN.

use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::Utc;
use gymgate_shared::MemberId;
use subtle::ConstantTimeEq;

use crate::auth::tokens;
use crate::error::AppError;
use crate::extract::{ApiJson, MemberAuth};
use crate::state::AppState;
use crate::store::{checkins as stored_checkins, exports, members, photos};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/me/exports", get(list).post(start))
        .route("/api/v1/exports/{id}", get(download))
        .route("/api/v1/me/delete", post(delete))
}

#[derive(serde::Serialize)]
struct Started {
    export: exports::Export,
    /// The link to the zip once it is ready: shown once, valid 7 days.
    download_url: String,
}

/// Starts preparing the member's data as a zip; answers at once with the link it will be at.
async fn start(
    State(state): State<AppState>,
    auth: MemberAuth,
) -> Result<(StatusCode, Json<Started>), AppError> {
    let member = auth.member_id;
    let id = uuid::Uuid::now_v7().to_string();
    let key = tokens::new_token();
    let key_hash = tokens::hash(&key);
    let now = Utc::now();
    let expires_at = now + chrono::Duration::days(crate::privacy::EXPORT_DAYS);
    let (job_id, owner) = (id.clone(), member.clone());
    let export = state
        .store
        .writer
        .write(move |ctx| -> Result<exports::Export, AppError> {
            let asked = exports::count_since(ctx.tx, &owner, now - chrono::Duration::days(1))?;
            if asked >= crate::privacy::EXPORTS_PER_DAY {
                return Err(AppError::Limited {
                    code: "exports_per_day",
                    message: "오늘은 더 만들 수 없습니다. 이미 만든 파일은 7일 동안 받을 수 있습니다 / no more downloads today; the ones made stay for 7 days".into(),
                });
            }
            exports::create(ctx.tx, &job_id, &owner, &key_hash, now, expires_at)?;
            Ok(exports::Export {
                id: job_id.clone(),
                status: "preparing".into(),
                created_at: now,
                expires_at,
                bytes: 0,
            })
        })
        .await?;
    tokio::spawn(prepare(state, member, id.clone()));
    Ok((
        StatusCode::ACCEPTED,
        Json(Started {
            export,
            download_url: format!("/api/v1/exports/{id}?key={key}"),
        }),
    ))
}

/// The job: reads the member's data by their id, zips it, stores it.
async fn prepare(state: AppState, member: MemberId, id: String) {
    let now = Utc::now();
    let read = state
        .store
        .read(move |conn| {
            let Some(own) = members::own_data(conn, &member)? else {
                return Ok(None);
            };
            let visits = stored_checkins::visits_of_member(conn, &member, u32::MAX)?
                .into_iter()
                .map(|v| crate::visits::member_view(v, now))
                .collect::<Vec<_>>();
            let statements = stored_checkins::statements_of_member(conn, &member)?;
            let photo = photos::get(conn, &member)?;
            Ok(Some((own, visits, statements, photo)))
        })
        .await;
    let zip = match read {
        // Compressing is CPU work: off the async threads.
        Ok(Some((own, visits, statements, photo))) => tokio::task::spawn_blocking(move || {
            crate::privacy::export_zip(&own, &visits, &statements, photo.as_deref())
                .inspect_err(|error| tracing::error!(%error, "a member's data export failed"))
                .ok()
        })
        .await
        .ok()
        .flatten(),
        Ok(None) => None,
        Err(error) => {
            tracing::error!(%error, "a member's data export could not read the store");
            None
        }
    };
    let result = state
        .store
        .writer
        .write(move |ctx| exports::finish(ctx.tx, &id, zip.as_deref()))
        .await;
    if let Err(error) = result {
        tracing::error!(%error, "a member's data export could not be stored");
    }
}

async fn list(
    State(state): State<AppState>,
    auth: MemberAuth,
) -> Result<Json<Vec<exports::Export>>, AppError> {
    let now = Utc::now();
    Ok(Json(
        state
            .store
            .read(move |conn| exports::of_member(conn, &auth.member_id, now))
            .await?,
    ))
}

#[derive(serde::Deserialize)]
struct KeyQuery {
    #[serde(default)]
    key: String,
}

/// The zip behind a link. The key in the link is the credential (a link opens in any
/// browser); a wrong key reads exactly like a missing export.
async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(query): Query<KeyQuery>,
) -> Result<impl IntoResponse, AppError> {
    let missing = || {
        AppError::not_found(
            "unknown_export",
            "내려받기 링크가 맞지 않습니다. 앱에서 다시 만들어 주세요 / this download link is not valid; make a new one in the app",
        )
    };
    if id.len() > 64 || query.key.len() > 128 {
        return Err(missing());
    }
    let found = state
        .store
        .read(move |conn| exports::download(conn, &id))
        .await?
        .ok_or_else(missing)?;
    if !bool::from(found.key_hash.ct_eq(&tokens::hash(&query.key))) {
        return Err(missing());
    }
    if found.expires_at <= Utc::now() {
        return Err(AppError::not_found(
            "export_expired",
            "7일이 지나 내려받기 링크가 끝났습니다. 앱에서 다시 만들어 주세요 / the link ended after 7 days; make a new one in the app",
        ));
    }
    let zip = found.zip.ok_or_else(|| {
        AppError::conflict(
            "export_not_ready",
            "아직 준비 중입니다. 잠시 후 다시 열어 주세요 / still being prepared; try again in a moment",
        )
    })?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"gymgate-my-data.zip\"".to_owned(),
            ),
            (header::CACHE_CONTROL, "no-store".to_owned()),
        ],
        zip,
    ))
}

#[derive(serde::Deserialize)]
struct DeleteRequest {
    pin: String,
}

/// The member deletes their account, confirming with their PIN.
async fn delete(
    State(state): State<AppState>,
    auth: MemberAuth,
    ApiJson(request): ApiJson<DeleteRequest>,
) -> Result<StatusCode, AppError> {
    if !state.tap_limiter.allow(&auth.member_id) {
        return Err(AppError::RateLimited);
    }
    let member = auth.member_id;
    let id = member.clone();
    let hash = state
        .store
        .read(move |conn| Ok(members::load(conn, &id)?.map(|m| m.pin_hash)))
        .await?
        .ok_or_else(|| AppError::unauthorized("invalid_token", "unknown member"))?;
    if !crate::auth::logins::plausible_pin(&request.pin)
        || !state.pins.verify(request.pin, hash).await?
    {
        return Err(AppError::forbidden(
            "wrong_pin",
            "PIN이 맞지 않습니다. 탈퇴하지 않았습니다 / the PIN is wrong; the account was not deleted",
        ));
    }
    let id = member.clone();
    state
        .store
        .writer
        .write(move |ctx| crate::privacy::delete_account(ctx, &id, "member"))
        .await?;
    state.end_member_sessions(&member);
    Ok(StatusCode::NO_CONTENT)
}
