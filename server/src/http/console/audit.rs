//! The audit log, filtered by member or center.

use axum::Json;
use axum::extract::{Query, State};
use gymgate_shared::api::AuditEntry;

use crate::error::AppError;
use crate::extract::AsViewer;
use crate::state::AppState;
use crate::store::audit::{self};

#[derive(serde::Deserialize)]
pub(super) struct AuditQuery {
    member_no: Option<String>,
    center_id: Option<String>,
    limit: Option<u32>,
}

pub(super) async fn audit_log(
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
