//! A desk's answer to an operator's log request (`PUT /api/v1/desk/logs/{request_id}`): only
//! for a request made for this desk, once, at most [`MAX_LOG_BYTES`], redacted again here
//! whatever the desk did, and audited.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use gymgate_shared::protocol::MAX_LOG_BYTES;

use crate::error::AppError;
use crate::extract::DeskAuth;
use crate::state::AppState;
use crate::store::audit::Subject;
use crate::store::desk_logs::{self, Upload};

/// The body limit of the route: the log and room for a multi-byte character cut at its end.
pub const MAX_UPLOAD_BYTES: usize = MAX_LOG_BYTES as usize + 4096;

pub async fn upload(
    State(state): State<AppState>,
    desk: DeskAuth,
    Path(request_id): Path<String>,
    body: Bytes,
) -> Result<StatusCode, AppError> {
    if body.len() > MAX_UPLOAD_BYTES {
        return Err(AppError::bad_request(
            "log_too_large",
            format!("a desk log is at most {MAX_LOG_BYTES} bytes"),
        ));
    }
    // A log cut by a desk of another make may end inside a character: keep what reads.
    let text = String::from_utf8_lossy(&body);
    let text = gymgate_shared::redact::log_tail(&text, MAX_LOG_BYTES as usize);
    let bytes = text.len();
    let (desk_id, center_id) = (desk.desk_id.clone(), desk.center_id.clone());
    let outcome = state
        .store
        .writer
        .write(move |ctx| -> Result<Upload, AppError> {
            let outcome = desk_logs::upload(ctx.tx, &request_id, &desk_id, &text, Utc::now())?;
            if outcome == Upload::Stored {
                let subject = Subject {
                    center_id: Some(center_id),
                    target: Some(format!("desk:{desk_id}")),
                    ..Subject::default()
                };
                ctx.audit(
                    &format!("desk:{desk_id}"),
                    "desk.log_upload",
                    &subject,
                    None,
                    Some(&serde_json::json!({ "request_id": request_id, "bytes": bytes })),
                )?;
            }
            Ok(outcome)
        })
        .await?;
    match outcome {
        Upload::Stored => {
            tracing::info!(desk_id = %desk.desk_id, bytes, "desk log uploaded");
            Ok(StatusCode::NO_CONTENT)
        }
        Upload::AlreadyUploaded => Err(AppError::conflict(
            "log_already_uploaded",
            "this log request was answered already",
        )),
        Upload::Unknown => Err(AppError::not_found(
            "unknown_log_request",
            "no such log request for this desk",
        )),
    }
}
