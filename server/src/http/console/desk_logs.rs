//! Operators ask a desk for its recent log: the request is audited and passed to the desk
//! (at once when it is connected to this node, otherwise when it next reports its health);
//! the desk uploads its last [`MAX_LOG_BYTES`], redacted, which support reads here.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use gymgate_shared::DeskId;
use gymgate_shared::api::AdminDeskLog;
use gymgate_shared::protocol::MAX_LOG_BYTES;

use crate::error::AppError;
use crate::extract::{AsSupport, AsViewer};
use crate::hub::DeskNote;
use crate::state::AppState;
use crate::store::audit::Subject;
use crate::store::{desk_logs, desks};

#[derive(serde::Serialize)]
pub(super) struct Requested {
    request_id: String,
    /// The desk was connected here and has been asked; otherwise it is asked when it next
    /// reports (within ~5 minutes when it is connected to another node).
    delivered: bool,
    max_bytes: u64,
}

pub(super) async fn request_log(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(id): Path<String>,
) -> Result<(StatusCode, Json<Requested>), AppError> {
    let desk_id = DeskId::new(id);
    let target = desk_id.clone();
    let request_id = state
        .store
        .writer
        .write(move |ctx| -> Result<String, AppError> {
            let Some((center_id, name, revoked)) = desks::find(ctx.tx, &target)? else {
                return Err(AppError::not_found("unknown_desk", "no such desk"));
            };
            if revoked {
                return Err(AppError::conflict(
                    "desk_revoked",
                    "이 데스크는 연결이 해제되어 로그를 보낼 수 없습니다 / this desk was unpaired and cannot send its log",
                ));
            }
            let request_id = desk_logs::request(ctx.tx, &target, &actor.name, ctx.now)?;
            let subject = Subject {
                center_id: Some(center_id),
                target: Some(format!("desk:{target}")),
                ..Subject::default()
            };
            ctx.audit(
                &actor.name,
                "desk.log_request",
                &subject,
                None,
                Some(&serde_json::json!({ "request_id": request_id, "desk": name })),
            )?;
            Ok(request_id)
        })
        .await?;
    let delivered = state.hub.tell_desk(
        &desk_id,
        DeskNote::SendLog {
            request_id: request_id.clone(),
        },
    );
    Ok((
        StatusCode::ACCEPTED,
        Json(Requested {
            request_id,
            delivered,
            max_bytes: MAX_LOG_BYTES,
        }),
    ))
}

pub(super) async fn list_logs(
    State(state): State<AppState>,
    _: AsViewer,
    Path(id): Path<String>,
) -> Result<Json<Vec<AdminDeskLog>>, AppError> {
    let desk_id = DeskId::new(id);
    Ok(Json(
        state
            .store
            .read(move |conn| desk_logs::list(conn, &desk_id))
            .await?,
    ))
}

/// The uploaded text; each reading is audited (it is the desk's own record of its day).
pub(super) async fn read_log(
    State(state): State<AppState>,
    AsSupport(actor): AsSupport,
    Path(request_id): Path<String>,
) -> Result<Response, AppError> {
    let wanted = request_id.clone();
    let (desk_id, text) = state
        .store
        .read(move |conn| desk_logs::text(conn, &wanted))
        .await?
        .ok_or_else(|| {
            AppError::not_found(
                "unknown_log",
                "이 로그는 없거나 아직 올라오지 않았습니다 / no such log, or not uploaded yet",
            )
        })?;
    let bytes = text.len();
    state
        .store
        .writer
        .write(move |ctx| -> Result<(), AppError> {
            let subject = Subject {
                target: Some(format!("desk:{desk_id}")),
                ..Subject::default()
            };
            ctx.audit(
                &actor.name,
                "desk.log_read",
                &subject,
                None,
                Some(&serde_json::json!({ "request_id": request_id, "bytes": bytes })),
            )?;
            Ok(())
        })
        .await?;
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response())
}
