//! The member web app: static files compiled into the binary, no build step. It is an
//! installable PWA: a manifest, icons, and a service worker that keeps the app on the phone so
//! the offline pass opens with no network.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

const INDEX: &str = include_str!("../../web/index.html");
const SCRIPT: &str = include_str!("../../web/app.js");
const STYLE: &str = include_str!("../../web/app.css");
const SERVICE_WORKER: &str = include_str!("../../web/sw.js");
/// qrcode-generator 2.0.4 by Kazuhiko Arase (MIT; its notice is at the top of the file).
const QR: &str = include_str!("../../web/qrcode.js");
const MANIFEST: &str = include_str!("../../web/manifest.webmanifest");
const ICON_192: &[u8] = include_bytes!("../../web/icon-192.png");
const ICON_512: &[u8] = include_bytes!("../../web/icon-512.png");
const ICON_MASKABLE: &[u8] = include_bytes!("../../web/icon-maskable-512.png");
const FAVICON: &[u8] = include_bytes!("../../web/favicon.ico");
// Only phones without a Korean system font download these (they come last in the CSS stack):
// the common syllables (GymgateKR, ~190 KB), and the full fonts for a rare one.
const FONT_REGULAR: &[u8] = include_bytes!("../../../assets/fonts/Pretendard-Regular.woff2");
const FONT_BOLD: &[u8] = include_bytes!("../../../assets/fonts/Pretendard-Bold.woff2");
const COMMON_REGULAR: &[u8] = include_bytes!("../../../assets/fonts/GymgateKR-Regular.woff2");
const COMMON_BOLD: &[u8] = include_bytes!("../../../assets/fonts/GymgateKR-Bold.woff2");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        // A center's QR code opens the app with that center chosen.
        .route("/c/{center_id}", get(index))
        .route("/app.js", get(script))
        .route("/app.css", get(style))
        .route(
            "/sw.js",
            get(|| text(SERVICE_WORKER, "text/javascript; charset=utf-8")),
        )
        .route(
            "/qrcode.js",
            get(|| text(QR, "text/javascript; charset=utf-8")),
        )
        .route(
            "/manifest.webmanifest",
            get(|| text(MANIFEST, "application/manifest+json")),
        )
        .route("/icon-192.png", get(|| image(ICON_192, "image/png")))
        .route("/icon-512.png", get(|| image(ICON_512, "image/png")))
        .route(
            "/icon-maskable-512.png",
            get(|| image(ICON_MASKABLE, "image/png")),
        )
        .route("/favicon.ico", get(|| image(FAVICON, "image/x-icon")))
        .route(
            "/fonts/Pretendard-Regular.woff2",
            get(|| font(FONT_REGULAR)),
        )
        .route("/fonts/Pretendard-Bold.woff2", get(|| font(FONT_BOLD)))
        .route(
            "/fonts/GymgateKR-Regular.woff2",
            get(|| font(COMMON_REGULAR)),
        )
        .route("/fonts/GymgateKR-Bold.woff2", get(|| font(COMMON_BOLD)))
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

async fn text(body: &'static str, content_type: &'static str) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, content_type), NO_CACHE], body)
}

async fn image(body: &'static [u8], content_type: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=86400"),
        ],
        body,
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
