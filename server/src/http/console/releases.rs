//! Desk releases and rollouts for operators: upload a signed manifest and its installer
//! (signed where the release key is; the server only checks the signature against the
//! release keys it was given), roll it out to canary centers then a share of desks, pause,
//! resume, halt; see the fleet by version and the desks whose update failed.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use gymgate_shared::CenterId;
use gymgate_shared::release::SignedManifest;

use crate::error::AppError;
use crate::extract::{ApiJson, AsAdmin, AsViewer};
use crate::hub::DeskNote;
use crate::releases::RolloutState;
use crate::state::AppState;
use crate::store::audit::Subject;
use crate::store::releases::{self, ReleaseRow, RolloutRow};
use crate::store::{centers, desks};

/// The largest installer taken (the desk's is ~10–30 MB).
pub const MAX_INSTALLER_BYTES: usize = 256 * 1024 * 1024;

#[derive(serde::Serialize)]
pub(super) struct Overview {
    releases: Vec<ReleaseRow>,
    rollouts: Vec<RolloutView>,
    /// Paired desks by the version they last said they run.
    fleet: Vec<VersionCount>,
    /// Desks whose last health report says an update failed.
    failures: Vec<UpdateFailure>,
}

#[derive(serde::Serialize)]
struct RolloutView {
    #[serde(flatten)]
    rollout: RolloutRow,
    /// Paired desks that run this version now.
    desks_on_it: u64,
}

#[derive(serde::Serialize)]
struct VersionCount {
    version: String,
    desks: u64,
}

#[derive(serde::Serialize)]
struct UpdateFailure {
    desk_id: String,
    center_id: CenterId,
    name: String,
    update: String,
}

pub(super) async fn overview(
    State(state): State<AppState>,
    _: AsViewer,
) -> Result<Json<Overview>, AppError> {
    let (releases, rollouts, desks) = state
        .store
        .read(|conn| {
            Ok((
                releases::list(conn)?,
                releases::rollouts(conn)?,
                desks::list(conn)?,
            ))
        })
        .await?;
    let mut fleet: std::collections::BTreeMap<String, u64> = Default::default();
    let mut failures = Vec::new();
    for desk in desks.iter().filter(|d| !d.revoked) {
        let version = desk.app_version.clone().unwrap_or_else(|| "?".into());
        *fleet.entry(version).or_default() += 1;
        let update = desk
            .health
            .as_ref()
            .and_then(|(json, _)| serde_json::from_str::<crate::desk::health::Stored>(json).ok())
            .and_then(|stored| stored.health.update);
        if let Some(update) = update.filter(|u| u.starts_with("failed")) {
            failures.push(UpdateFailure {
                desk_id: desk.id.to_string(),
                center_id: desk.center_id.clone(),
                name: desk.name.clone(),
                update,
            });
        }
    }
    let rollouts = rollouts
        .into_iter()
        .map(|rollout| RolloutView {
            desks_on_it: fleet.get(&rollout.version).copied().unwrap_or(0),
            rollout,
        })
        .collect();
    Ok(Json(Overview {
        releases,
        rollouts,
        fleet: fleet
            .into_iter()
            .map(|(version, desks)| VersionCount { version, desks })
            .collect(),
        failures,
    }))
}

pub(super) async fn put_manifest(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    Path(version): Path<String>,
    ApiJson(signed): ApiJson<SignedManifest>,
) -> Result<StatusCode, AppError> {
    if state.config.release_keys.is_empty() {
        return Err(AppError::conflict(
            "no_release_keys",
            "이 서버에는 릴리스 공개 키가 설정되어 있지 않습니다 (--release-keys) / this server has no release keys (--release-keys)",
        ));
    }
    let manifest = signed.verify(&state.config.release_keys).map_err(|error| {
        AppError::bad_request(
            error.code(),
            format!("릴리스 서명을 확인할 수 없습니다 / the release is refused: {error}"),
        )
    })?;
    if manifest.version != version {
        return Err(AppError::bad_request(
            "version_mismatch",
            format!("the manifest is for {}, not {version}", manifest.version),
        ));
    }
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            if !releases::put_manifest(ctx.tx, &signed, &manifest, &actor.name, ctx.now)? {
                return Err(AppError::conflict(
                    "release_exists",
                    "this version was uploaded whole already; sign a new version",
                ));
            }
            ctx.audit(
                &actor.name,
                "release.manifest",
                &Subject {
                    target: Some(format!("release:{}", manifest.version)),
                    ..Subject::default()
                },
                None,
                Some(&serde_json::json!({
                    "version": manifest.version, "sha256": manifest.sha256,
                    "size": manifest.size, "key_id": signed.key_id,
                })),
            )?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::CREATED)
}

pub(super) async fn put_installer(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    Path(version): Path<String>,
    body: Bytes,
) -> Result<StatusCode, AppError> {
    let wanted = version.clone();
    let signed = state
        .store
        .read(move |conn| releases::signed(conn, &wanted))
        .await?
        .ok_or_else(|| {
            AppError::not_found("unknown_release", "upload the signed manifest first")
        })?;
    let manifest = signed
        .verify(&state.config.release_keys)
        .map_err(|error| AppError::bad_request(error.code(), error.to_string()))?;
    let checked = body.clone();
    tokio::task::spawn_blocking(move || manifest.matches(&checked))
        .await
        .map_err(|e| AppError::Internal(e.to_string()))?
        .map_err(|error| {
            AppError::bad_request(
                error.code(),
                "설치 파일의 크기나 SHA-256이 서명된 매니페스트와 다릅니다 / the installer's size or SHA-256 differs from the signed manifest",
            )
        })?;
    let size = body.len();
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            releases::put_installer(ctx.tx, &version, &body)?;
            ctx.audit(
                &actor.name,
                "release.installer",
                &Subject {
                    target: Some(format!("release:{version}")),
                    ..Subject::default()
                },
                None,
                Some(&serde_json::json!({ "version": version, "size": size })),
            )?;
            Ok(())
        })
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RolloutPlan {
    #[serde(default)]
    canary_centers: Vec<CenterId>,
    #[serde(default)]
    percent: u8,
    /// Daily Korean hours in which its desks may install (`"02:00-05:00"`); `""` clears them,
    /// absent keeps what the rollout had (widening it does not lose them).
    #[serde(default)]
    quiet_hours: Option<String>,
}

/// Starts a rollout or widens it (canary centers, percentage); it is active afterwards
/// unless it was halted.
pub(super) async fn put_rollout(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    Path(version): Path<String>,
    ApiJson(plan): ApiJson<RolloutPlan>,
) -> Result<Json<RolloutRow>, AppError> {
    if plan.percent > 100 {
        return Err(AppError::bad_request(
            "invalid_percent",
            "percent is 0 to 100",
        ));
    }
    let quiet_hours = match plan.quiet_hours.as_deref().map(str::trim) {
        None => None,
        Some("") => Some(None),
        Some(text) => Some(Some(gymgate_shared::hours::OpeningHours::parse_window(text).ok_or_else(
            || {
                AppError::bad_request(
                    "invalid_quiet_hours",
                    "설치 시간은 \"02:00-05:00\"처럼 시작과 끝을 적어 주세요 (하루 종일은 비워 두세요) / quiet hours look like \"02:00-05:00\" (leave empty for any time)",
                )
            },
        )?)),
    };
    let row = state
        .store
        .writer
        .write(move |ctx| -> Result<RolloutRow, AppError> {
            let ready = releases::list(ctx.tx)?
                .into_iter()
                .any(|r| r.version == version && r.ready);
            if !ready {
                return Err(AppError::conflict(
                    "release_not_ready",
                    "이 버전의 서명된 매니페스트와 설치 파일을 먼저 올려 주세요 / upload this version's signed manifest and installer first",
                ));
            }
            for center in &plan.canary_centers {
                if centers::load(ctx.tx, center)?.is_none() {
                    return Err(AppError::bad_request(
                        "unknown_center",
                        format!("no center {center}"),
                    ));
                }
            }
            let before = releases::rollout(ctx.tx, &version)?;
            if before.as_ref().is_some_and(|r| r.state == RolloutState::Halted.as_str()) {
                return Err(AppError::conflict(
                    "rollout_halted",
                    "중단된 배포는 다시 시작할 수 없습니다; 새 버전을 서명해 주세요 / a halted rollout cannot restart; sign a new version",
                ));
            }
            let row = RolloutRow {
                version: version.clone(),
                canary_centers: plan.canary_centers,
                percent: plan.percent,
                quiet_hours: quiet_hours
                    .unwrap_or_else(|| before.as_ref().and_then(|b| b.quiet_hours)),
                state: RolloutState::Active.as_str().into(),
                reason: None,
                started_by: before
                    .as_ref()
                    .map_or_else(|| actor.name.clone(), |b| b.started_by.clone()),
                started_at: before.as_ref().map_or(ctx.now, |b| b.started_at),
                updated_at: ctx.now,
            };
            releases::put_rollout(ctx.tx, &row)?;
            audit_rollout(ctx, &actor.name, "rollout.set", before.as_ref(), &row)?;
            Ok(row)
        })
        .await?;
    tell_desks(&state).await;
    Ok(Json(row))
}

/// Every connected desk hears of the rollouts as they are now (read once for all).
async fn tell_desks(state: &AppState) {
    match state.store.read(releases::offers).await {
        Ok(rollouts) => state
            .hub
            .tell_every_desk(DeskNote::Releases(std::sync::Arc::new(rollouts))),
        // Desks find it at their next periodic look.
        Err(error) => tracing::warn!(%error, "cannot read the rollouts to tell the desks"),
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct StateChange {
    #[serde(default)]
    reason: Option<String>,
}

pub(super) async fn pause(
    state: State<AppState>,
    actor: AsAdmin,
    version: Path<String>,
    body: Bytes,
) -> Result<Json<RolloutRow>, AppError> {
    change_state(state, actor, version, body, RolloutState::Paused).await
}

pub(super) async fn resume(
    state: State<AppState>,
    actor: AsAdmin,
    version: Path<String>,
    body: Bytes,
) -> Result<Json<RolloutRow>, AppError> {
    change_state(state, actor, version, body, RolloutState::Active).await
}

pub(super) async fn halt(
    state: State<AppState>,
    actor: AsAdmin,
    version: Path<String>,
    body: Bytes,
) -> Result<Json<RolloutRow>, AppError> {
    change_state(state, actor, version, body, RolloutState::Halted).await
}

async fn change_state(
    State(state): State<AppState>,
    AsAdmin(actor): AsAdmin,
    Path(version): Path<String>,
    body: Bytes,
    to: RolloutState,
) -> Result<Json<RolloutRow>, AppError> {
    // The body is optional: `{"reason": "…"}` or nothing.
    let change: StateChange = if body.iter().all(u8::is_ascii_whitespace) {
        StateChange::default()
    } else {
        serde_json::from_slice(&body).map_err(|_| {
            AppError::bad_request("invalid_body", "the body is {\"reason\": \"…\"} or empty")
        })?
    };
    let reason = change
        .reason
        .map(|r| r.trim().chars().take(500).collect::<String>())
        .filter(|r| !r.is_empty());
    let row = set_state(&state, &actor.name, &version, to, reason).await?;
    Ok(Json(row))
}

/// Moves a rollout to `to` (audited) and tells the desks; also how the server halts a
/// rollout by itself.
pub(crate) async fn set_state(
    state: &AppState,
    actor: &str,
    version: &str,
    to: RolloutState,
    reason: Option<String>,
) -> Result<RolloutRow, AppError> {
    let (actor, version) = (actor.to_owned(), version.to_owned());
    let row = state
        .store
        .writer
        .write(move |ctx| -> Result<RolloutRow, AppError> {
            let Some(before) = releases::rollout(ctx.tx, &version)? else {
                return Err(AppError::not_found(
                    "unknown_rollout",
                    "no rollout of this version",
                ));
            };
            if before.state == RolloutState::Halted.as_str() && to != RolloutState::Halted {
                return Err(AppError::conflict(
                    "rollout_halted",
                    "중단된 배포는 다시 시작할 수 없습니다 / a halted rollout cannot restart",
                ));
            }
            let mut row = before.clone();
            row.state = to.as_str().into();
            row.reason = reason;
            row.updated_at = ctx.now;
            releases::put_rollout(ctx.tx, &row)?;
            let action = format!("rollout.{}", to.as_str());
            audit_rollout(ctx, &actor, &action, Some(&before), &row)?;
            Ok(row)
        })
        .await?;
    tell_desks(state).await;
    tracing::info!(version = %row.version, state = %row.state, "rollout changed");
    Ok(row)
}

fn audit_rollout(
    ctx: &mut crate::store::WriteCtx<'_>,
    actor: &str,
    action: &str,
    before: Option<&RolloutRow>,
    after: &RolloutRow,
) -> Result<(), AppError> {
    let json = |r: &RolloutRow| {
        serde_json::json!({
            "state": r.state, "percent": r.percent, "canary_centers": r.canary_centers,
            "reason": r.reason, "quiet_hours": r.quiet_hours.map(|h| h.to_string()),
        })
    };
    ctx.audit(
        actor,
        action,
        &Subject {
            target: Some(format!("release:{}", after.version)),
            ..Subject::default()
        },
        before.map(json).as_ref(),
        Some(&json(after)),
    )?;
    Ok(())
}
