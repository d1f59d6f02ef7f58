//! The installer of a release, for desks (`GET /api/v1/desk/releases/{version}/installer`):
//! from memory once read, and from a byte offset (`Range: bytes=N-`) so a download cut by a
//! blip goes on where it stopped.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::AppError;
use crate::extract::DeskAuth;
use crate::state::AppState;
use crate::store::releases;

pub async fn installer(
    State(state): State<AppState>,
    _desk: DeskAuth,
    Path(version): Path<String>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let bytes = cached(&state, &version).await?;
    let total = bytes.len();
    let start = match headers.get(header::RANGE).and_then(|v| v.to_str().ok()) {
        None => None,
        Some(range) => Some(
            range
                .strip_prefix("bytes=")
                .and_then(|r| r.strip_suffix('-'))
                .and_then(|n| n.trim().parse::<usize>().ok())
                .filter(|&n| n < total)
                .ok_or_else(|| {
                    AppError::bad_request(
                        "invalid_range",
                        format!("ask for bytes=N- with N below {total}"),
                    )
                })?,
        ),
    };
    let etag = format!("\"{version}\"");
    Ok(match start {
        None => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (header::ACCEPT_RANGES, "bytes".to_owned()),
                (header::ETAG, etag),
            ],
            bytes,
        )
            .into_response(),
        Some(start) => (
            StatusCode::PARTIAL_CONTENT,
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (
                    header::CONTENT_RANGE,
                    format!("bytes {start}-{}/{total}", total - 1),
                ),
                (header::ETAG, etag),
            ],
            bytes.slice(start..),
        )
            .into_response(),
    })
}

/// The installer's bytes, read from the store once for every desk downloading it.
async fn cached(state: &AppState, version: &str) -> Result<Bytes, AppError> {
    if let Ok(cache) = state.installer.lock()
        && let Some((cached, bytes)) = cache.as_ref()
        && cached == version
    {
        return Ok(bytes.clone());
    }
    let wanted = version.to_owned();
    let bytes = state
        .store
        .read(move |conn| releases::installer(conn, &wanted))
        .await?
        .map(Bytes::from)
        .ok_or_else(|| AppError::not_found("unknown_release", "no installer of this version"))?;
    if let Ok(mut cache) = state.installer.lock() {
        *cache = Some((version.to_owned(), bytes.clone()));
    }
    Ok(bytes)
}
