//! The HTTP API (CONTRACT.md) and the web UI's static files.
//!
//! Every `/api/v1` route except login needs a session: `Authorization:
//! Bearer TOKEN`, or the session cookie plus an `X-CSRF-Token` header on
//! requests that change something. Errors have one shape:
//! `{"error": {"code", "message", "field"}}`.

pub mod admin;
pub mod attachments;
pub mod auth;
pub mod documents;
pub mod dossiers;
pub mod fleet;
pub mod guidance;
pub mod ii06a;
pub mod limits;
pub mod reports;
pub mod session;
pub mod tls;
pub mod web;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, FromRequest, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use motcua_domain::catalog::{self, ImportError};
use motcua_domain::stats::{self, Period};
use motcua_domain::workflow::Role;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use motcua_sync::cert::{DocumentKind, SignedProvinceDocument};

use motcua_desk::accounts::{self, Account, LoginSessions};
use motcua_desk::act::ActionRequest;
use motcua_desk::admin::AdminError;
use motcua_desk::desk::{Desk, DeskError};
use motcua_desk::now_ms;
use motcua_desk::receive::NewDossierRequest;

use auth::{Admin, Officer, Passive, require_role};
use motcua_store::{ListQuery, StoreError};

/// Bound on a request body (a catalog import may be larger, see below).
pub const BODY_BYTES_MAX: usize = 256 * 1024;
pub const SESSION_COOKIE: &str = "motcua_session";
/// The session cookie under TLS. `__Host-` makes browsers keep it only if
/// set `Secure`, with `Path=/` and no `Domain`, by this very origin: another
/// host on the LAN, or a plain-HTTP page, cannot plant or replace it.
pub const SESSION_COOKIE_TLS: &str = "__Host-motcua_session";

#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub dossiers_received: AtomicU64,
    pub actions_recorded: AtomicU64,
    pub client_errors: AtomicU64,
    pub server_errors: AtomicU64,
    pub logins_failed: AtomicU64,
}

#[derive(Clone)]
pub struct AppState {
    pub desk: Arc<Desk>,
    /// The bytes of the dossiers' files.
    pub blobs: crate::blobs::Blobs,
    pub sessions: Arc<LoginSessions>,
    pub metrics: Arc<Metrics>,
    pub peers: Arc<crate::net::PeerBoard>,
    pub track: Arc<crate::http::limits::GuessLimits>,
    /// Failed logins, per address and username ([`crate::http::limits::LOGIN`]).
    pub logins: Arc<crate::http::limits::GuessLimits>,
    /// Served over HTTPS: cookies are `Secure` under their TLS names, and
    /// only those names are read.
    pub tls: bool,
}

impl AppState {
    fn session_cookie(&self) -> &'static str {
        if self.tls { SESSION_COOKIE_TLS } else { SESSION_COOKIE }
    }

    fn device_cookie(&self) -> &'static str {
        if self.tls { accounts::DEVICE_COOKIE_TLS } else { accounts::DEVICE_COOKIE }
    }

    /// The attributes every cookie this node sets carries.
    fn cookie_attributes(&self) -> &'static str {
        if self.tls { "HttpOnly; Secure; SameSite=Strict" } else { "HttpOnly; SameSite=Strict" }
    }
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    field: Option<String>,
    details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), field: None, details: None }
    }
    fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    fn unauthorized() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "no_session", "log in first: no valid session")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let Some(f) = self.field {
            error["field"] = json!(f);
        }
        if let Some(d) = self.details {
            error["details"] = d;
        }
        (self.status, Json(json!({ "error": error }))).into_response()
    }
}

impl From<DeskError> for ApiError {
    fn from(e: DeskError) -> Self {
        match e {
            DeskError::NotFound(m) => ApiError::new(StatusCode::NOT_FOUND, "not_found", m),
            DeskError::Forbidden(m) => ApiError::new(StatusCode::FORBIDDEN, "forbidden", m),
            DeskError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "invalid_state", m),
            DeskError::Invalid { field, message } => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", message).field(field)
            }
            DeskError::TooLarge(m) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", m),
            DeskError::Calendar(e) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_deadline", e.to_string())
            }
            DeskError::Store(e) => e.into(),
            DeskError::Unavailable(m) => {
                tracing::error!(error = %m, "store failure");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "store_error", m)
            }
            DeskError::Document(e) => {
                tracing::error!(error = %e, "dossier document unreadable");
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "corrupt_document", e.to_string())
            }
        }
    }
}

impl From<AdminError> for ApiError {
    fn from(e: AdminError) -> Self {
        match e {
            AdminError::Stale { .. } => ApiError::new(StatusCode::CONFLICT, "stale_document", e.to_string()),
            AdminError::AccountExists(_) => {
                ApiError::new(StatusCode::CONFLICT, "exists", e.to_string()).field("username")
            }
            AdminError::NoAccount(_) => ApiError::new(StatusCode::NOT_FOUND, "not_found", e.to_string()),
            AdminError::WrongCurrentPassword => {
                ApiError::new(StatusCode::FORBIDDEN, "bad_credentials", e.to_string()).field("current_password")
            }
            AdminError::Desk(e) => e.into(),
        }
    }
}

impl From<motcua_desk::passwords::PasswordRefusal> for ApiError {
    fn from(r: motcua_desk::passwords::PasswordRefusal) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, r.code(), r.to_string()).field("password")
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        tracing::error!(error = %e, "store failure");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "store_error",
            format!("the store failed: {e}; nothing was saved"),
        )
    }
}

/// A body that could not be read: too large (413) or cut off (400).
fn body_rejection(r: axum::extract::rejection::BytesRejection, limit: usize) -> ApiError {
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", format!("the body is larger than {limit} bytes"))
    } else {
        ApiError::new(StatusCode::BAD_REQUEST, "unreadable_body", r.body_text())
    }
}

/// A JSON body with the API's error shape for every way it can be wrong.
pub struct Body<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiError;
    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(|r| body_rejection(r, BODY_BYTES_MAX))?;
        parse_json(&bytes).map(Body)
    }
}

/// Query parameters, or 400 with the API's error shape. Taken as a
/// `Result` by the handlers so that the login is checked first.
type QueryParams<T> = Result<Query<T>, axum::extract::rejection::QueryRejection>;

fn query<T>(params: QueryParams<T>) -> Result<T, ApiError> {
    params.map(|Query(p)| p).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_query", e.body_text()))
}

/// A path segment (a dossier code, a username), or 400 with the API's
/// error shape (a segment that is not UTF-8 after percent-decoding).
type PathParam = Result<Path<String>, axum::extract::rejection::PathRejection>;

fn path(param: PathParam) -> Result<String, ApiError> {
    param.map(|Path(p)| p).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "bad_path", e.body_text()))
}

fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", e.to_string()),
            _ => ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("the body is not valid JSON: {e}")),
        }
    })
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    v.strip_prefix("Bearer ").map(|t| t.trim().to_string())
}

fn cookie(state: &AppState, headers: &HeaderMap) -> Option<String> {
    named_cookie(headers, state.session_cookie())
}

fn named_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    for v in headers.get_all(header::COOKIE) {
        for part in v.to_str().ok()?.split(';') {
            if let Some(t) = part.trim().strip_prefix(name).and_then(|rest| rest.strip_prefix('=')) {
                return Some(t.to_string());
            }
        }
    }
    None
}

pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .route("/session", post(session::login).get(session::current_session).delete(session::logout))
        .route("/procedures", get(documents::procedures))
        .route("/catalog", post(documents::import_catalog).layer(DefaultBodyLimit::max(catalog::IMPORT_BYTES_MAX)))
        .route("/calendar", get(documents::get_calendar).post(documents::import_calendar))
        .route("/revocations", get(documents::get_revocations).post(documents::import_revocations))
        .route("/dossiers", post(dossiers::create_dossier).get(dossiers::list_dossiers))
        .route("/dossiers/{code}", get(dossiers::get_dossier))
        .route("/dossiers/{code}/actions", post(dossiers::act))
        .route("/dossiers/{code}/qr.svg", get(dossiers::dossier_qr))
        // The upload counts its bytes against the file limits itself.
        .route(
            "/dossiers/{code}/attachments",
            post(attachments::upload).get(attachments::list).layer(DefaultBodyLimit::disable()),
        )
        .route("/dossiers/{code}/attachments/{hash}", get(attachments::download))
        .route("/duplicates", get(dossiers::duplicates))
        .route("/guidance", post(guidance::create).get(guidance::list))
        .route("/guidance/{number}", get(guidance::get_one))
        .route("/track", get(dossiers::track))
        .route("/rate", post(dossiers::rate))
        .route("/stats", get(reports::stats_route))
        .route("/stats/units", get(reports::stats_by_unit))
        .route("/stats/fields", get(ii06a::by_field))
        .route("/stats/ii06a.xlsx", get(ii06a::xlsx))
        .route("/logbook", get(reports::logbook))
        .route("/fleet", get(fleet::fleet))
        .route("/peers", get(fleet::peers))
        .route("/sync/state", get(fleet::sync_state))
        .route("/accounts", get(admin::list_accounts).post(admin::create_account))
        .route("/accounts/{username}/disable", post(admin::disable_account))
        .route("/accounts/{username}/enable", post(admin::enable_account))
        .route("/accounts/{username}/password", post(admin::set_password))
        .route("/audit", get(admin::audit_log))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "no_route", "no such API route") })
        .method_not_allowed_fallback(|method: Method| async move {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                format!("this API route does not take {method}"),
            )
        });
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .nest("/api/v1", api.layer(axum::middleware::map_response(api_headers)))
        .merge(crate::http::web::routes())
        .layer(DefaultBodyLimit::max(BODY_BYTES_MAX))
        .layer(axum::middleware::from_fn_with_state(state.clone(), count_requests))
        .with_state(state)
}

/// API answers hold citizens' personal data: no cache keeps them, and no
/// browser reads them as anything but what they say they are.
async fn api_headers(mut res: Response) -> Response {
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'"));
    res
}

async fn count_requests(State(state): State<AppState>, req: Request, next: axum::middleware::Next) -> Response {
    state.metrics.requests.fetch_add(1, Ordering::Relaxed);
    let res = next.run(req).await;
    if res.status().is_server_error() {
        state.metrics.server_errors.fetch_add(1, Ordering::Relaxed);
    } else if res.status().is_client_error() {
        state.metrics.client_errors.fetch_add(1, Ordering::Relaxed);
    }
    res
}

async fn healthz(State(state): State<AppState>) -> Json<serde_json::Value> {
    let c = &state.desk.config();
    Json(json!({
        "status": "ok",
        "node_id": state.desk.identity().node_id(),
        "unit": c.unit,
        "unit_name": c.unit_name,
        "role": c.role.as_str(),
        "demo": c.demo,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

pub use motcua_desk::desk::DUE_SOON_MS;

async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let st = state.clone();
    let by_state = blocking(move || Ok(st.desk.store().count_by_state()?)).await?;
    let m = &state.metrics;
    let counters = [
        ("motcua_http_requests_total", "HTTP requests served.", &m.requests),
        ("motcua_http_client_errors_total", "HTTP 4xx answers.", &m.client_errors),
        ("motcua_http_server_errors_total", "HTTP 5xx answers.", &m.server_errors),
        ("motcua_dossiers_received_total", "Dossiers received since start.", &m.dossiers_received),
        ("motcua_actions_recorded_total", "Dossier actions recorded since start.", &m.actions_recorded),
        ("motcua_logins_failed_total", "Failed logins since start.", &m.logins_failed),
    ];
    let mut out = String::new();
    for (name, help, v) in counters {
        let v = v.load(Ordering::Relaxed);
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}\n"));
    }
    out.push_str("# HELP motcua_dossiers Dossiers held, by national status code.\n# TYPE motcua_dossiers gauge\n");
    for (s, n) in by_state {
        out.push_str(&format!("motcua_dossiers{{state=\"{s}\"}} {n}\n"));
    }
    let peers = state.peers.snapshot();
    let now = now_ms();
    type PeerFigure<'a> = &'a dyn Fn(&crate::net::PeerStatus) -> Option<u64>;
    let figures: [(&str, &str, &str, PeerFigure); 3] = [
        ("motcua_peer_file_bytes_pending", "gauge", "Bytes of files this node wants from the peer and lacks.", &|p| {
            Some(p.file_bytes_pending)
        }),
        ("motcua_peer_file_oldest_waiting_seconds", "gauge", "How long the oldest of those files has waited.", &|p| {
            p.file_oldest_waiting_at.filter(|_| p.file_bytes_pending > 0).map(|t| ((now - t).max(0) / 1000) as u64)
        }),
        ("motcua_peer_file_bytes_received_total", "counter", "Verified file bytes received from the peer.", &|p| {
            Some(p.file_bytes_received)
        }),
    ];
    for (name, kind, help, value) in figures {
        out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} {kind}\n"));
        for p in &peers {
            if let Some(v) = value(p) {
                out.push_str(&format!("{name}{{peer=\"{}\"}} {v}\n", p.node_id));
            }
        }
    }
    let blobs = state.blobs.clone();
    if let Ok(Ok(disk)) = tokio::task::spawn_blocking(move || blobs.disk()).await {
        for (name, help, v) in [
            ("motcua_attachments_bytes", "Bytes the attachments take on disk.", disk.used_bytes),
            ("motcua_attachments_free_bytes", "Bytes free for new attachments.", disk.free_bytes),
        ] {
            out.push_str(&format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n"));
        }
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
