//! The desk in a browser (`/desk/`): static files like the console and the member app, no
//! build step. An installable PWA whose service worker keeps it on the tablet or PC, so it
//! reloads and goes on checking members in with the server down. Its scripts are ES modules;
//! `rules.js` is the policy and pass checks that a test holds to the Rust ones
//! (shared/conformance/vectors.json).

use axum::Router;
use axum::http::header;
use axum::response::{IntoResponse, Redirect};
use axum::routing::get;

use crate::state::AppState;

const INDEX: &str = include_str!("../../web/desk/index.html");
const STYLE: &str = include_str!("../../web/desk/desk.css");
const SERVICE_WORKER: &str = include_str!("../../web/desk/sw.js");
const MANIFEST: &str = include_str!("../../web/desk/manifest.webmanifest");
const SCRIPTS: [(&str, &str); 8] = [
    ("desk.js", include_str!("../../web/desk/desk.js")),
    ("presence.js", include_str!("../../web/desk/presence.js")),
    ("kiosk.js", include_str!("../../web/desk/kiosk.js")),
    ("rules.js", include_str!("../../web/desk/rules.js")),
    ("store.js", include_str!("../../web/desk/store.js")),
    ("link.js", include_str!("../../web/desk/link.js")),
    ("board.js", include_str!("../../web/desk/board.js")),
    // jsQR 1.4.0 (Apache-2.0, licence in jsqr.LICENSE): the camera's QR decoder where the
    // browser has no BarcodeDetector (desktop Chrome on Windows and Linux, Firefox).
    ("jsqr.js", include_str!("../../web/desk/jsqr.js")),
];
const JSQR_LICENSE: &str = include_str!("../../web/desk/jsqr.LICENSE");

/// The page runs only its own scripts, talks only to its own server (its WebSocket included),
/// shows photos it fetched with the desk's token (blob URLs) and the camera (a media stream),
/// and is never framed.
const CSP: &str = "default-src 'self'; img-src 'self' blob: data:; media-src 'self' blob: mediastream:; \
     connect-src 'self'; worker-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

pub fn routes() -> Router<AppState> {
    let mut router = Router::new()
        // The service worker's scope is /desk/: the page must live inside it.
        .route("/desk", get(|| async { Redirect::permanent("/desk/") }))
        .route("/desk/", get(page))
        .route(
            "/desk/desk.css",
            get(|| file(STYLE, "text/css; charset=utf-8")),
        )
        .route(
            "/desk/sw.js",
            get(|| file(SERVICE_WORKER, "text/javascript; charset=utf-8")),
        )
        .route(
            "/desk/manifest.webmanifest",
            get(|| file(MANIFEST, "application/manifest+json")),
        )
        .route(
            "/desk/jsqr.LICENSE",
            get(|| file(JSQR_LICENSE, "text/plain; charset=utf-8")),
        );
    for (name, body) in SCRIPTS {
        router = router.route(
            &format!("/desk/{name}"),
            get(move || file(body, "text/javascript; charset=utf-8")),
        );
    }
    router
}

async fn page() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_FRAME_OPTIONS, "DENY"),
        ],
        INDEX,
    )
}

/// Small files, changed with each release: always revalidated (the service worker keeps
/// them for offline).
async fn file(body: &'static str, content_type: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}
