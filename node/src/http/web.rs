//! The web UI's static files, compiled into the binary from `web-ui/` so a
//! node serves its pages with nothing else installed.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::http::AppState;

const INDEX_HTML: &str = include_str!("../../../web-ui/index.html");
const APP_JS: &str = include_str!("../../../web-ui/app.js");
const STYLE_CSS: &str = include_str!("../../../web-ui/style.css");
const I18N_JS: &str = include_str!("../../../web-ui/i18n.js");
const TRACK_HTML: &str = include_str!("../../../web-ui/track.html");
const TRACK_JS: &str = include_str!("../../../web-ui/track.js");
const RATE_HTML: &str = include_str!("../../../web-ui/rate.html");
const RATE_JS: &str = include_str!("../../../web-ui/rate.js");

fn page(body: &'static str, content_type: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
            ),
            (header::REFERRER_POLICY, "no-referrer"),
            // Revalidated on each load, so that an upgraded node's page is
            // never mixed with a cached script of the one before.
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { page(INDEX_HTML, "text/html; charset=utf-8") }))
        .route("/app.js", get(|| async { page(APP_JS, "text/javascript; charset=utf-8") }))
        .route("/style.css", get(|| async { page(STYLE_CSS, "text/css; charset=utf-8") }))
        .route("/i18n.js", get(|| async { page(I18N_JS, "text/javascript; charset=utf-8") }))
        .route("/track", get(|| async { page(TRACK_HTML, "text/html; charset=utf-8") }))
        .route("/track.js", get(|| async { page(TRACK_JS, "text/javascript; charset=utf-8") }))
        .route("/rate", get(|| async { page(RATE_HTML, "text/html; charset=utf-8") }))
        .route("/rate.js", get(|| async { page(RATE_JS, "text/javascript; charset=utf-8") }))
}
