//! The member web app: three static files compiled into the binary, no build step.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use super::AppState;

const INDEX: &str = include_str!("../../web/index.html");
const SCRIPT: &str = include_str!("../../web/app.js");
const STYLE: &str = include_str!("../../web/app.css");
// Only phones without a Korean system font download these (they come last in the CSS stack).
const FONT_REGULAR: &[u8] = include_bytes!("../../../assets/fonts/Pretendard-Regular.woff2");
const FONT_BOLD: &[u8] = include_bytes!("../../../assets/fonts/Pretendard-Bold.woff2");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        // A center's QR code opens the app with that center chosen.
        .route("/c/{center_id}", get(index))
        .route("/app.js", get(script))
        .route("/app.css", get(style))
        .route(
            "/fonts/Pretendard-Regular.woff2",
            get(|| font(FONT_REGULAR)),
        )
        .route("/fonts/Pretendard-Bold.woff2", get(|| font(FONT_BOLD)))
}

async fn font(bytes: &'static [u8]) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "font/woff2"),
            // The file name changes if the font ever does.
            (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
        ],
        bytes,
    )
}

/// Small files, changed with each release: always revalidate.
const NO_CACHE: (header::HeaderName, &str) = (header::CACHE_CONTROL, "no-cache");

async fn index() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8"), NO_CACHE],
        INDEX,
    )
}

async fn script() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            NO_CACHE,
        ],
        SCRIPT,
    )
}

async fn style() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), NO_CACHE],
        STYLE,
    )
}
