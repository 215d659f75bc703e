//! The HTTP API (CONTRACT.md) and the web UI's static files.
//!
//! Every `/api/v1` route except login needs a session: `Authorization:
//! Bearer TOKEN`, or the session cookie plus an `X-CSRF-Token` header on
//! requests that change something. Errors have one shape:
//! `{"error": {"code", "message", "field"}}`.

pub mod auth;
pub mod limits;
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

use motcua_desk::accounts::{self, Account, Sessions};
use motcua_desk::desk::{ActionRequest, Desk, DeskError, NewDossierRequest};
use motcua_desk::now_ms;

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
    pub sessions: Arc<Sessions>,
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
        .route("/session", post(login).get(current_session).delete(logout))
        .route("/procedures", get(procedures))
        .route("/catalog", post(import_catalog).layer(DefaultBodyLimit::max(catalog::IMPORT_BYTES_MAX)))
        .route("/calendar", get(get_calendar).post(import_calendar))
        .route("/revocations", get(get_revocations).post(import_revocations))
        .route("/dossiers", post(create_dossier).get(list_dossiers))
        .route("/dossiers/{code}", get(get_dossier))
        .route("/dossiers/{code}/actions", post(act))
        .route("/dossiers/{code}/qr.svg", get(dossier_qr))
        .route("/duplicates", get(duplicates))
        .route("/track", get(track))
        .route("/stats", get(stats_route))
        .route("/stats/units", get(stats_by_unit))
        .route("/logbook", get(logbook))
        .route("/fleet", get(fleet))
        .route("/peers", get(peers))
        .route("/sync/state", get(sync_state))
        .route("/accounts", get(list_accounts).post(create_account))
        .route("/accounts/{username}/disable", post(disable_account))
        .route("/accounts/{username}/enable", post(enable_account))
        .route("/accounts/{username}/password", post(set_password))
        .route("/audit", get(audit_log))
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
    let c = &state.desk.config;
    Json(json!({
        "status": "ok",
        "node_id": state.desk.identity.node_id(),
        "unit": c.unit,
        "unit_name": c.unit_name,
        "role": c.role.as_str(),
        "demo": c.demo,
        "version": env!("CARGO_PKG_VERSION"),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    username: String,
    password: String,
}

/// A refusal by the limits of what can be guessed, in the API's shape:
/// `what` names the attempts, `locked` says why the target is locked.
fn limited(r: crate::http::limits::Refused, what: &str, locked: &str) -> ApiError {
    use crate::http::limits::Refused;
    let (code, message) = match r {
        Refused::TooManyRequests { retry_ms } => {
            ("too_many_requests", format!("too many {what}; try again in {} s", (retry_ms / 1000).max(1)))
        }
        Refused::Locked { retry_ms } => {
            ("too_many_attempts", format!("{locked}; try again in {} min", (retry_ms / 60_000).max(1)))
        }
        Refused::Busy => ("busy", format!("too many {what} at once; try again in a minute")),
    };
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, code, message)
}

/// Refuses a login posted from another site's page (login CSRF: a forged
/// form would log the officer's browser into the forger's account). A
/// browser names the page's origin; API clients such as curl send none.
fn same_site(headers: &HeaderMap) -> Result<(), ApiError> {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // A browser that names how the page relates to the node is believed
    // (a proxy may rewrite Host); an older one is judged by its Origin.
    let cross = match (text("sec-fetch-site"), text("origin"), text("host")) {
        (Some(site), ..) => site != "same-origin" && site != "none",
        (None, Some(origin), Some(host)) => origin.split_once("://").map(|(_, authority)| authority) != Some(host),
        (None, Some(_), None) => true,
        (None, None, _) => false,
    };
    if cross {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "cross_site", "a login from another site's page is refused"));
    }
    Ok(())
}

/// The stored account of `username`, if any.
fn load_account(state: &AppState, username: &str) -> Result<Option<Account>, ApiError> {
    match state.desk.store.account(username)? {
        Some(b) => Ok(Some(postcard::from_bytes::<Account>(&b).map_err(|e| StoreError::Corrupt(e.to_string()))?)),
        None => Ok(None),
    }
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Body(req): Body<LoginRequest>,
) -> Result<Response, ApiError> {
    same_site(&headers)?;
    let now = now_ms();
    use crate::http::limits::Outcome;
    let st = state.clone();
    let username = req.username.clone();
    let account = blocking(move || load_account(&st, &username)).await?;
    // A device this officer logged in from before, with the password in
    // force then, is not held back by the lock that failures from
    // everywhere put on the account.
    let secret = state.desk.identity.secret_bytes();
    let known = match (named_cookie(&headers, state.device_cookie()), &account) {
        (Some(t), Some(a)) => accounts::device_vouches(&secret, &t, a, now),
        _ => None,
    };
    let attempt = match known {
        Some(device) => {
            state.logins.admit_known(client.ip(), crate::http::limits::Client::device(device), &req.username, now)
        }
        None => state.logins.admit(client.ip(), &req.username, now),
    }
    .map_err(|r| limited(r, "logins", "too many failed logins for this account"))?;
    let st = state.clone();
    let verified = blocking(move || {
        // Hash even for unknown users, so timing does not reveal which exist.
        let hash = account.as_ref().map_or(dummy_hash(), |a| a.password_hash.as_str());
        let ok = accounts::verify_password(&req.password, hash);
        let exists = account.is_some();
        match account.filter(|_| ok) {
            Some(a) => {
                let disabled = st.desk.store.is_disabled(&a.username)?;
                Ok(Ok((a, disabled)))
            }
            None => Ok(Err(exists)),
        }
    })
    .await;
    let (account, disabled) = match verified {
        Ok(Ok(found)) => found,
        Ok(Err(exists)) => {
            // An unknown username counts against the address's minute
            // only: it keeps no counter that junk names could crowd out.
            let how = if exists { Outcome::Wrong } else { Outcome::Unknown };
            state.logins.finish(attempt, how, now_ms());
            state.metrics.logins_failed.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "bad_credentials", "wrong username or password"));
        }
        // The attempt, dropped unfinished, counts as failed.
        Err(e) => return Err(e),
    };
    state.logins.finish(attempt, Outcome::Found, now_ms());
    if disabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "account_disabled",
            "this account is disabled; ask the administrator",
        ));
    }
    let (token, session) = state.sessions.create(&account, now);
    tracing::info!(officer = %account.username, "officer logged in");
    let body = json!({
        "token": token,
        "csrf_token": session.csrf,
        "username": account.username,
        "full_name": account.full_name,
        "roles": account.roles,
    });
    let attributes = state.cookie_attributes();
    let cookie = format!("{}={token}; {attributes}; Path=/", state.session_cookie());
    let device = format!(
        "{}={}; {attributes}; Path=/api/v1/session; Max-Age={}",
        state.device_cookie(),
        accounts::device_token(&secret, &account, now),
        accounts::DEVICE_TTL_MS / 1000
    );
    let mut res = Json(body).into_response();
    res.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).expect("token is hex"));
    res.headers_mut().append(header::SET_COOKIE, HeaderValue::from_str(&device).expect("hex and digits"));
    Ok(res)
}

/// The officer of this session, with its CSRF token, so that a page
/// reloaded with the session cookie carries on where it was.
async fn current_session(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    // A read: no CSRF check, so the session's own lookup is the check.
    let token = bearer(&headers).or_else(|| cookie(&state, &headers)).ok_or_else(ApiError::unauthorized)?;
    let session = state.sessions.touch(&token, now_ms()).ok_or_else(ApiError::unauthorized)?;
    let st = state.clone();
    let username = session.username.clone();
    let account = blocking(move || {
        Ok(match st.desk.store.account(&username)? {
            Some(b) => Some(postcard::from_bytes::<Account>(&b).map_err(|e| StoreError::Corrupt(e.to_string()))?),
            None => None,
        })
    })
    .await?;
    let c = &state.desk.config;
    Ok(Json(json!({
        "username": session.username,
        "full_name": account.map(|a| a.full_name).unwrap_or_default(),
        "roles": session.roles,
        "csrf_token": session.csrf,
        "unit": c.unit,
        "unit_name": c.unit_name,
        "node_role": c.role.as_str(),
    }))
    .into_response())
}

/// An argon2 hash of a random password, verified against on unknown users.
fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| accounts::hash_password(&accounts::random_token()))
}

async fn logout(State(state): State<AppState>, _: Officer, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(t) = bearer(&headers).or_else(|| cookie(&state, &headers)) {
        state.sessions.remove(&t);
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    let expired = format!("{}=; {}; Path=/; Max-Age=0", state.session_cookie(), state.cookie_attributes());
    res.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&expired).expect("ascii"));
    Ok(res)
}

async fn procedures(State(state): State<AppState>, _: Officer) -> Result<Response, ApiError> {
    let catalog = state.desk.catalog();
    let mut res = Json(&catalog.procedures).into_response();
    res.headers_mut()
        .insert("x-catalog-version", HeaderValue::from_str(&catalog.version).unwrap_or(HeaderValue::from_static("")));
    Ok(res)
}

#[derive(Deserialize)]
struct ImportQuery {
    version: Option<String>,
}

async fn import_catalog(
    State(state): State<AppState>,
    Admin(officer): Admin,
    headers: HeaderMap,
    params: QueryParams<ImportQuery>,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let q = query(params)?;
    let body = body.map_err(|r| body_rejection(r, catalog::IMPORT_BYTES_MAX))?;
    let is_csv =
        headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).is_some_and(|ct| ct.starts_with("text/csv"));
    let (imported, sequence) = match incoming_document(&state, &body, is_csv, DocumentKind::Catalog)? {
        Incoming::Signed { body, label, sequence } => (parse_catalog(false, body.as_bytes(), &label)?, Some(sequence)),
        Incoming::Unsigned => {
            let version = q.version.unwrap_or_else(|| format!("import-{}", now_ms()));
            (parse_catalog(is_csv, &body, &version)?, None)
        }
    };
    let st = state.clone();
    let username = officer.username.clone();
    let n = imported.procedures.len();
    let version = imported.version.clone();
    blocking(move || {
        let bytes = serde_json::to_vec(&imported).expect("catalog serializes");
        let mut w = st.desk.store.begin()?;
        advance_sequence(&mut w, DocumentKind::Catalog, sequence)?;
        w.put_meta("catalog", &bytes)?;
        motcua_desk::desk::audit(&mut w, now_ms(), &username, "import_catalog", &imported.version)?;
        w.commit_durable()?;
        *st.desk.catalog.write().expect("catalog lock") = Arc::new(imported);
        Ok(())
    })
    .await?;
    tracing::info!(version = %version, procedures = n, "catalog imported");
    Ok(Json(json!({"version": version, "procedures": n})))
}

/// A province-wide document as it reached the API.
enum Incoming {
    Signed { body: String, label: String, sequence: u64 },
    Unsigned,
}

/// An enrolled node takes province-wide documents only signed by its
/// province's root; a demo node, which belongs to no province, takes them
/// unsigned.
fn incoming_document(state: &AppState, bytes: &[u8], is_csv: bool, kind: DocumentKind) -> Result<Incoming, ApiError> {
    let signed = if is_csv { None } else { serde_json::from_slice::<SignedProvinceDocument>(bytes).ok() };
    match (signed, &state.desk.province) {
        (Some(doc), Some(province)) => {
            let root = province.verifying_key().ok_or_else(|| {
                ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "bad_bundle", "province key unreadable")
            })?;
            let d = doc.verify(&root, &province.code, kind).map_err(|e| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "bad_signature",
                    format!("{} refused: {e}", kind.as_str()),
                )
            })?;
            Ok(Incoming::Signed { body: d.body.clone(), label: d.label.clone(), sequence: d.sequence })
        }
        (Some(_), None) => Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "no_province",
            format!("this demo node belongs to no province; send the {} itself", kind.as_str()),
        )),
        (None, Some(_)) => {
            // A truncated or garbled upload is told as such, not as unsigned.
            if !is_csv && let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                return Err(ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "malformed_json",
                    format!("the {} is not valid JSON: {e}", kind.as_str()),
                ));
            }
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "unsigned_document",
                format!(
                    "an enrolled node accepts only a {0} signed by its province (motcua-provision publish-{0})",
                    kind.as_str()
                ),
            ))
        }
        (None, None) => Ok(Incoming::Unsigned),
    }
}

/// Records the sequence of a signed document, refusing one that is not
/// newer than what the node holds (a replay).
fn advance_sequence(w: &mut motcua_store::Write, kind: DocumentKind, sequence: Option<u64>) -> Result<(), ApiError> {
    let Some(seq) = sequence else { return Ok(()) };
    let key = format!("{}_sequence", kind.as_str());
    let held = w.get_meta(&key)?.and_then(|b| b.try_into().ok()).map(u64::from_le_bytes).unwrap_or(0);
    if seq <= held {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "stale_document",
            format!("this node holds {} sequence {held}; sequence {seq} is not newer", kind.as_str()),
        ));
    }
    w.put_meta(&key, &seq.to_le_bytes())?;
    Ok(())
}

async fn import_calendar(
    State(state): State<AppState>,
    Admin(officer): Admin,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = body.map_err(|r| body_rejection(r, BODY_BYTES_MAX))?;
    let (text, sequence) = match incoming_document(&state, &body, false, DocumentKind::Calendar)? {
        Incoming::Signed { body, sequence, .. } => (body, Some(sequence)),
        Incoming::Unsigned => (
            String::from_utf8(body.to_vec()).map_err(|_| {
                ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", "the calendar is not UTF-8 text")
            })?,
            None,
        ),
    };
    let calendar = motcua_domain::calendar::WorkingCalendar::from_json(&text)
        .map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_calendar", e.to_string()))?;
    let version = calendar.version().to_string();
    let st = state.clone();
    blocking(move || {
        let mut w = st.desk.store.begin()?;
        advance_sequence(&mut w, DocumentKind::Calendar, sequence)?;
        w.put_meta("calendar", text.as_bytes())?;
        motcua_desk::desk::audit(&mut w, now_ms(), &officer.username, "import_calendar", calendar.version())?;
        w.commit_durable()?;
        *st.desk.calendar.write().expect("calendar lock") = Arc::new(calendar);
        Ok(())
    })
    .await?;
    tracing::info!(version = %version, "calendar imported");
    Ok(Json(json!({"version": version})))
}

/// Installs the province's newer signed revocation list: certificates on
/// it are no longer trusted for anything that enters this node.
async fn import_revocations(
    State(state): State<AppState>,
    Admin(officer): Admin,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = body.map_err(|r| body_rejection(r, BODY_BYTES_MAX))?;
    let signed: SignedProvinceDocument = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("not a signed revocation list: {e}"))
    })?;
    let mut next = state.desk.trust.read().expect("trust lock").clone().ok_or_else(|| {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "no_province", "this demo node belongs to no province")
    })?;
    let sequence = next.set_revocations(&signed).map_err(|e| match e {
        motcua_sync::verify::Rejection::StaleRevocations { .. } => {
            ApiError::new(StatusCode::CONFLICT, "stale_document", e.to_string())
        }
        motcua_sync::verify::Rejection::MalformedRevocations(_) => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_revocations", e.to_string())
        }
        _ => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "bad_signature", format!("revocations refused: {e}")),
    })?;
    let revoked = next.revocations().0.revoked.len();
    let st = state.clone();
    blocking(move || {
        let mut w = st.desk.store.begin()?;
        advance_sequence(&mut w, DocumentKind::Revocations, Some(sequence))?;
        w.put_meta(motcua_desk::open::REVOCATIONS_META, &body)?;
        motcua_desk::desk::audit(&mut w, now_ms(), &officer.username, "import_revocations", &sequence.to_string())?;
        w.commit_durable()?;
        // Applied to the trust set as it is now, not to the copy checked
        // above: certificates that sessions admitted meanwhile stay, and a
        // list at least as new installed meanwhile (by a peer) is kept.
        if let Some(t) = st.desk.trust.write().expect("trust lock").as_mut() {
            let _ = t.set_revocations(&signed);
        }
        Ok(())
    })
    .await?;
    tracing::info!(sequence, revoked, "revocation list installed");
    Ok(Json(json!({"sequence": sequence, "revoked": revoked})))
}

async fn get_revocations(State(state): State<AppState>, _: Officer) -> Result<Response, ApiError> {
    let guard = state.desk.trust.read().expect("trust lock");
    let (list, sequence) = match guard.as_ref() {
        Some(t) => {
            let (l, s) = t.revocations();
            (l.revoked.clone(), s)
        }
        None => (Vec::new(), 0),
    };
    let o = state.desk.offset();
    let revoked: Vec<_> = list
        .iter()
        .map(|r| json!({"serial": r.serial, "reason": r.reason, "revoked_at": motcua_desk::desk::rfc3339(r.at_ms, o)}))
        .collect();
    Ok(Json(json!({"sequence": sequence, "revoked": revoked})).into_response())
}

async fn get_calendar(State(state): State<AppState>, _: Officer) -> Result<Response, ApiError> {
    let c = state.desk.calendar();
    let holidays: Vec<_> = c.holidays().map(|(d, n)| json!({"date": d.to_string(), "name": n})).collect();
    let make_up: Vec<_> = c.make_up_days().map(|(d, n)| json!({"date": d.to_string(), "name": n})).collect();
    Ok(Json(json!({"version": c.version(), "holidays": holidays, "make_up_days": make_up})).into_response())
}

fn parse_catalog(is_csv: bool, body: &[u8], version: &str) -> Result<catalog::Catalog, ApiError> {
    let parsed = if is_csv { catalog::import_csv(body, version) } else { catalog::import_json(body, version) };
    parsed.map_err(|e| match e {
        ImportError::TooLarge(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", e.to_string()),
        ImportError::Unreadable(m) => ApiError::new(StatusCode::BAD_REQUEST, "malformed_catalog", m),
        ImportError::Rows(rows) => {
            let mut err = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_catalog",
                format!("the catalog has {} error(s); nothing was imported", rows.len()),
            );
            err.details = Some(json!(rows));
            err
        }
    })
}

async fn create_dossier(
    State(state): State<AppState>,
    Officer(officer): Officer,
    body: Result<Body<NewDossierRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let Body(req) = body?;
    let st = state.clone();
    let view = blocking(move || Ok(st.desk.receive(&officer, req, now_ms())?)).await?;
    state.metrics.dossiers_received.fetch_add(1, Ordering::Relaxed);
    let mut res = (StatusCode::CREATED, Json(&view)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1/dossiers/{}", view.code)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(res)
}

async fn get_dossier(
    State(state): State<AppState>,
    Officer(officer): Officer,
    code: PathParam,
) -> Result<Response, ApiError> {
    let code = path(code)?;
    check_code(&code)?;
    let st = state.clone();
    let view = blocking(move || Ok(st.desk.get(&officer, &code, now_ms())?)).await?;
    Ok(Json(view).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TrackQuery {
    code: String,
    id_last4: String,
}

/// The citizen tracking lookup: no login, rate-limited per client address
/// and per dossier code (`limits`).
async fn track(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    params: QueryParams<TrackQuery>,
) -> Result<Response, ApiError> {
    let q = query(params)?;
    // Agency identifiers are upper case; a citizen may type them in lower.
    let (code, last4) = (q.code.trim().to_uppercase(), q.id_last4.trim().to_string());
    if !motcua_domain::codes::is_dossier_code(&code) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            format!("'{code}' is not a dossier code"),
        )
        .field("code"));
    }
    if last4.len() != 4 || !last4.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", "id_last4 must be 4 digits")
            .field("id_last4"));
    }
    let now = now_ms();
    let attempt = state
        .track
        .admit(client.ip(), &code, now)
        .map_err(|r| limited(r, "lookups", "too many wrong id numbers for this code"))?;
    let st = state.clone();
    let c = code.clone();
    let looked = blocking(move || Ok(st.desk.track(&c, &last4, now)?)).await;
    use crate::http::limits::Outcome;
    let (outcome, answer) = match looked {
        Ok(Ok(view)) => (Outcome::Found, Ok(Json(view).into_response())),
        Ok(Err(miss)) => (
            if miss == motcua_desk::desk::TrackMiss::WrongSuffix { Outcome::Wrong } else { Outcome::Unknown },
            Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no dossier with this code and id number")),
        ),
        Err(e) => (Outcome::Failed, Err(e)),
    };
    state.track.finish(attempt, outcome, now_ms());
    answer
}

/// The QR code of a dossier code, as SVG, for the printed receipt (form 1).
async fn dossier_qr(State(state): State<AppState>, _: Officer, code: PathParam) -> Result<Response, ApiError> {
    let code = path(code)?;
    check_code(&code)?;
    let st = state.clone();
    let c = code.clone();
    if blocking(move || Ok(st.desk.store.id_by_code(&c)?)).await?.is_none() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no dossier {code}")));
    }
    let qr = qrcode::QrCode::with_error_correction_level(code.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let svg = qr.render::<qrcode::render::svg::Color<'_>>().min_dimensions(160, 160).build();
    Ok(([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "private, max-age=86400")], svg)
        .into_response())
}

fn check_code(code: &str) -> Result<(), ApiError> {
    if motcua_domain::codes::is_dossier_code(code) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("'{code}' is not a dossier code")))
    }
}

async fn act(
    State(state): State<AppState>,
    Officer(officer): Officer,
    code: PathParam,
    body: Result<Body<ActionRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let code = path(code)?;
    let Body(req) = body?;
    check_code(&code)?;
    let st = state.clone();
    let view = blocking(move || Ok(st.desk.act(&officer, &code, req, now_ms())?)).await?;
    state.metrics.actions_recorded.fetch_add(1, Ordering::Relaxed);
    Ok(Json(view).into_response())
}

pub use motcua_desk::desk::DUE_SOON_MS;

#[derive(Deserialize)]
struct ListParams {
    state: Option<String>,
    q: Option<String>,
    overdue: Option<String>,
    /// Local date `YYYY-MM-DD`: received on or after it.
    received_from: Option<String>,
    /// `true`: open dossiers due from the start of today to
    /// [`DUE_SOON_MS`] from now.
    due_soon: Option<String>,
    /// `true`: dossiers with conflicts to resolve.
    conflicts: Option<String>,
    limit: Option<String>,
    offset: Option<String>,
    unit: Option<String>,
}

fn parse_param<T: std::str::FromStr>(name: &str, v: Option<&str>) -> Result<Option<T>, ApiError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", format!("'{s}' is not a valid {name}"))
                .field(name)
        }),
    }
}

async fn list_dossiers(
    State(state): State<AppState>,
    Officer(officer): Officer,
    params: QueryParams<ListParams>,
) -> Result<Response, ApiError> {
    let p = query(params)?;
    let st_code: Option<u8> = parse_param("state", p.state.as_deref())?;
    if st_code.is_some_and(|s| !(1..=10).contains(&s)) {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            "state is a national status code 1-10",
        )
        .field("state"));
    }
    let overdue: Option<bool> = parse_param("overdue", p.overdue.as_deref())?;
    let limit: usize = parse_param("limit", p.limit.as_deref())?.unwrap_or(50);
    if limit == 0 || limit > motcua_store::LIST_LIMIT_MAX {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            format!("limit is 1 to {}", motcua_store::LIST_LIMIT_MAX),
        )
        .field("limit"));
    }
    let offset: usize = parse_param("offset", p.offset.as_deref())?.unwrap_or(0);
    let now = now_ms();
    if p.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", "q is at most 200 characters").field("q")
        );
    }
    let received_from =
        local_date("received_from", p.received_from.as_deref())?.map(|d| state.desk.calendar().instant(d, 0));
    let due_soon: Option<bool> = parse_param("due_soon", p.due_soon.as_deref())?;
    let conflicts: Option<bool> = parse_param("conflicts", p.conflicts.as_deref())?;
    let query = ListQuery {
        state: st_code,
        q: p.q,
        overdue_at: overdue.filter(|o| *o).map(|_| (now, state.desk.offset())),
        received_from,
        due_between: due_soon.filter(|d| *d).map(|_| state.desk.due_soon_window(now)),
        conflicts: conflicts.unwrap_or(false),
        unit: p.unit.filter(|u| !u.trim().is_empty()),
        limit,
        offset,
    };
    let st = state.clone();
    let (rows, total) = blocking(move || Ok(st.desk.list(&officer, &query, now)?)).await?;
    let views: Vec<_> = rows.iter().map(|s| state.desk.summary_view(s, now)).collect();
    let mut res = Json(views).into_response();
    res.headers_mut().insert("x-total-count", HeaderValue::from(total));
    Ok(res)
}

#[derive(Deserialize)]
struct DuplicateParams {
    procedure_code: String,
    id_number: String,
}

async fn duplicates(
    State(state): State<AppState>,
    Officer(officer): Officer,
    params: QueryParams<DuplicateParams>,
) -> Result<Response, ApiError> {
    let p = query(params)?;
    let st = state.clone();
    let now = now_ms();
    let rows =
        blocking(move || Ok(st.desk.duplicates(&officer, p.id_number.trim(), p.procedure_code.trim(), now)?)).await?;
    let views: Vec<_> = rows.iter().map(|s| state.desk.summary_view(s, now)).collect();
    Ok(Json(views).into_response())
}

#[derive(Deserialize)]
struct StatsParams {
    from: Option<String>,
    to: Option<String>,
    unit: Option<String>,
}

/// The statistics of each unit this node holds dossiers of (a province:
/// every commune and agency; others: their own unit), in one pass.
async fn stats_by_unit(
    State(state): State<AppState>,
    _: Officer,
    params: QueryParams<StatsParams>,
) -> Result<Response, ApiError> {
    let p = query(params)?;
    if p.unit.as_deref().is_some_and(|u| !u.trim().is_empty()) {
        return Err(
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", "stats/units takes no unit").field("unit")
        );
    }
    let period = period_of(&p)?;
    let st = state.clone();
    let config = &state.desk.config;
    let (own, province) = (config.unit.clone(), config.role == motcua_desk::config::NodeRole::Province);
    let reports = blocking(move || {
        let now = now_ms();
        let calendar = st.desk.calendar();
        let mut by_unit: std::collections::BTreeMap<String, stats::Report> = Default::default();
        st.desk.store.for_each_summary(|s| {
            if province || s.receiving_unit == own {
                by_unit
                    .entry(s.receiving_unit.clone())
                    .or_insert_with(|| stats::Report::new(period, now, &calendar))
                    .add(&s);
            }
        })?;
        Ok(by_unit.into_iter().map(|(u, r)| (u, r.finish())).collect::<Vec<_>>())
    })
    .await?;
    let rows: Vec<serde_json::Value> = reports
        .into_iter()
        .map(|(unit, report)| {
            let mut v = serde_json::to_value(report).unwrap_or_default();
            v["unit_name"] = json!(state.desk.unit_name(&unit));
            v["unit"] = json!(unit);
            v
        })
        .collect();
    Ok(Json(rows).into_response())
}

/// The fleet view (một cửa toàn tỉnh): each other node this node knows,
/// with its link and the dossiers of its unit at risk of missing their
/// deadline (overdue, or due within [`DUE_SOON_MS`], result not ready).
async fn fleet(State(state): State<AppState>, _: Officer) -> Result<Response, ApiError> {
    let now = now_ms();
    let o = state.desk.offset();
    let own_key = state.desk.identity.node_id().to_string();
    // Nodes from the trust set, then any peer on the board it lacks.
    let mut rows: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    let province = state.desk.config.role == motcua_desk::config::NodeRole::Province;
    if let Some(trust) = state.desk.trust.read().expect("trust lock").as_ref().filter(|_| province) {
        for n in trust.nodes().filter(|n| n.node_key != own_key) {
            rows.insert(
                n.node_key.clone(),
                json!({"node_id": n.node_key, "unit": n.unit, "unit_name": n.unit_name, "role": n.role.as_str(),
                       "connected": false, "last_sync_at": null, "docs_pending": 0}),
            );
        }
    }
    for p in state.peers.snapshot() {
        let row = rows.entry(p.node_id.clone()).or_insert_with(
            || json!({"node_id": p.node_id, "unit": p.unit, "unit_name": null, "role": p.role, "docs_pending": 0}),
        );
        if row["unit_name"].is_null()
            && let Some(u) = &p.unit
        {
            row["unit_name"] = json!(state.desk.unit_name(u));
        }
        row["connected"] = json!(p.connected);
        row["last_sync_at"] = json!(p.last_sync_at.map(|t| motcua_desk::desk::rfc3339(t, o)));
        row["docs_pending"] = json!(p.docs_pending);
        // What this node has not heard from a peer since its last sync.
        row["unsynced_since"] =
            json!(if p.connected { None } else { p.last_sync_at.map(|t| motcua_desk::desk::rfc3339(t, o)) });
    }
    // A node that signed two different changes with one sequence number
    // (a stolen key, a disk restored from an old copy): an alert for the
    // province, however the node is connected.
    for (_, _, f) in state.desk.store.forks()? {
        let key = hex::encode(f.node_key);
        let row = rows.entry(key.clone()).or_insert_with(|| {
            json!({"node_id": key, "unit": null, "unit_name": null, "role": null, "connected": false,
                   "last_sync_at": null, "docs_pending": 0})
        });
        row["forks"] = json!(row["forks"].as_u64().unwrap_or(0) + 1);
    }
    let st = state.clone();
    let risky = blocking(move || Ok(st.desk.store.at_risk(now + DUE_SOON_MS)?)).await?;
    let mut by_unit: std::collections::HashMap<&str, Vec<&stats::DossierSummary>> = Default::default();
    for s in &risky {
        by_unit.entry(s.receiving_unit.as_str()).or_default().push(s);
        if s.holder_unit != s.receiving_unit {
            by_unit.entry(s.holder_unit.as_str()).or_default().push(s);
        }
    }
    let out: Vec<serde_json::Value> = rows
        .into_values()
        .map(|mut row| {
            let list = row["unit"].as_str().and_then(|u| by_unit.get(u)).cloned().unwrap_or_default();
            row["at_risk"] = json!(list.len());
            row["at_risk_codes"] =
                json!(list.iter().take(FLEET_CODES_MAX).map(|s| s.code.as_str()).collect::<Vec<_>>());
            row
        })
        .collect();
    Ok(Json(out).into_response())
}

/// Dossier codes listed per node in the fleet view (the count is complete).
const FLEET_CODES_MAX: usize = 20;

/// An optional local date parameter `YYYY-MM-DD`.
fn local_date(name: &str, v: Option<&str>) -> Result<Option<chrono::NaiveDate>, ApiError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map(Some).map_err(|_| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_value",
                format!("{name} '{s}' is not a YYYY-MM-DD date"),
            )
            .field(name)
        }),
    }
}

fn period_of(p: &StatsParams) -> Result<Period, ApiError> {
    let period = Period { from: local_date("from", p.from.as_deref())?, to: local_date("to", p.to.as_deref())? };
    if let (Some(f), Some(t)) = (period.from, period.to)
        && f > t
    {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", "from is after to").field("from"));
    }
    Ok(period)
}

/// The unit a report names: any on the provincial node, only its own on
/// the others.
fn report_unit(state: &AppState, unit: Option<String>) -> Result<Option<String>, ApiError> {
    let unit = unit.filter(|u| !u.trim().is_empty());
    let config = &state.desk.config;
    if let Some(u) = &unit
        && config.role != motcua_desk::config::NodeRole::Province
        && *u != config.unit
    {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "outside_scope",
            format!("this node reports only on its own unit {}", config.unit),
        )
        .field("unit"));
    }
    Ok(unit)
}

/// The dossier logbook (sổ theo dõi hồ sơ, form 6) of the dossiers a unit
/// received from `from` to `to` (local dates, both included; an end left
/// out is open, and with neither the book is today's), in order of receipt:
/// this node's unit unless the provincial node names another.
async fn logbook(
    State(state): State<AppState>,
    Officer(officer): Officer,
    params: QueryParams<StatsParams>,
) -> Result<Response, ApiError> {
    let p = query(params)?;
    let period = period_of(&p)?;
    let unit = report_unit(&state, p.unit)?.unwrap_or_else(|| state.desk.config.unit.clone());
    let now = now_ms();
    let today = state.desk.calendar().local_date(now);
    // Like the statistics, an open end is open; with neither end, today.
    let first = chrono::NaiveDate::from_ymd_opt(1900, 1, 1).expect("a date");
    let (from, to) = match (period.from, period.to) {
        (Some(f), Some(t)) => (f, t),
        (Some(f), None) => (f, today.max(f)),
        (None, Some(t)) => (first, t),
        (None, None) => (today, today),
    };
    let st = state.clone();
    let rows = blocking(move || Ok(st.desk.logbook(&officer, (from, to), &unit, now)?)).await?;
    Ok(Json(rows).into_response())
}

async fn stats_route(
    State(state): State<AppState>,
    _: Officer,
    params: QueryParams<StatsParams>,
) -> Result<Response, ApiError> {
    let p = query(params)?;
    let period = period_of(&p)?;
    let unit = report_unit(&state, p.unit)?;
    let st = state.clone();
    let report = blocking(move || {
        let calendar = st.desk.calendar();
        let mut report = stats::Report::new(period, now_ms(), &calendar);
        st.desk.store.for_each_summary(|s| {
            if unit.as_ref().is_none_or(|u| &s.receiving_unit == u) {
                report.add(&s);
            }
        })?;
        Ok(report.finish())
    })
    .await?;
    Ok(Json(report).into_response())
}

/// A fingerprint of every document this node holds (count and a digest
/// over each id and heads digest): two nodes holding the same changes of the
/// same documents show the same fingerprint.
async fn sync_state(State(state): State<AppState>, _: Officer) -> Result<Response, ApiError> {
    let st = state.clone();
    let (documents, digest) = blocking(move || {
        let entries = st.desk.store.sync_offers(|_| true)?;
        let mut h = blake3::Hasher::new();
        for (id, digest, _) in &entries {
            h.update(id);
            h.update(digest);
        }
        Ok::<_, ApiError>((entries.len(), h.finalize().to_hex().to_string()))
    })
    .await?;
    Ok(Json(json!({"documents": documents, "digest": digest})).into_response())
}

async fn peers(State(state): State<AppState>, _: Passive) -> Result<Response, ApiError> {
    // The page polls this every few seconds: not the officer's activity.
    let o = state.desk.offset();
    let forks = state.desk.store.forks()?;
    let (day, limit) = state.desk.allowance_day(now_ms());
    let over = state.desk.allowance.over(day, limit);
    // A node that forked, or went over its daily allowance, is shown among
    // the peers, connected or not.
    for key in forks.iter().map(|(_, _, f)| f.node_key).chain(over.iter().map(|o| o.node)) {
        state.peers.update(&hex::encode(key), |_| {});
    }
    let rows: Vec<_> = state
        .peers
        .snapshot()
        .into_iter()
        .map(|p| {
            let forked: Vec<_> = forks
                .iter()
                .filter(|(_, _, f)| hex::encode(f.node_key) == p.node_id)
                .map(|(id, _, f)| {
                    json!({
                        "dossier_id": hex::encode(id),
                        "dossier_code": state.desk.store.summary(id).ok().flatten().map(|s| s.code),
                        "seq": f.seq,
                        "from_peer": hex::encode(f.peer),
                        "detected_at": motcua_desk::desk::rfc3339(f.at, o),
                    })
                })
                .collect();
            json!({
                "node_id": p.node_id,
                "addr": p.addr,
                "unit": p.unit,
                "role": p.role,
                "connected": p.connected,
                "last_sync_at": p.last_sync_at.map(|t| motcua_desk::desk::rfc3339(t, o)),
                "caught_up_after_ms": p.caught_up_after_ms,
                "docs_pending": p.docs_pending,
                "docs_sent": p.docs_sent,
                "bytes_sent": p.bytes_sent,
                "bytes_received": p.bytes_received,
                "udp_bytes_sent": p.udp_bytes_sent,
                "udp_bytes_received": p.udp_bytes_received,
                "last_error": p.last_error,
                "docs_refused_from_peer": p.docs_refused_from_peer,
                "docs_refused_by_peer": p.docs_refused_by_peer,
                "last_refusal": p.last_refusal,
                "forks": forked,
                "over_daily_allowance": over
                    .iter()
                    .find(|o| hex::encode(o.node) == p.node_id)
                    .map(|o| json!({"count": o.count, "limit": o.limit})),
            })
        })
        .collect();
    Ok(Json(rows).into_response())
}

#[derive(Serialize)]
struct AccountView {
    username: String,
    full_name: String,
    roles: Vec<Role>,
    disabled: bool,
}

async fn list_accounts(State(state): State<AppState>, _: Admin) -> Result<Response, ApiError> {
    let st = state.clone();
    let rows = blocking(move || {
        let mut out = Vec::new();
        for b in st.desk.store.accounts()? {
            let a: Account = postcard::from_bytes(&b).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let disabled = st.desk.store.is_disabled(&a.username)?;
            out.push(AccountView { username: a.username, full_name: a.full_name, roles: a.roles, disabled });
        }
        Ok(out)
    })
    .await?;
    Ok(Json(rows).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewAccount {
    username: String,
    password: String,
    #[serde(default)]
    full_name: String,
    roles: Vec<String>,
}

async fn create_account(
    State(state): State<AppState>,
    Admin(officer): Admin,
    body: Result<Body<NewAccount>, ApiError>,
) -> Result<Response, ApiError> {
    let Body(req) = body?;
    let bad = |field: &str, m: &str| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", m).field(field);
    let name_ok = (3..=32).contains(&req.username.len())
        && req
            .username
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'_' || b == b'-');
    if !name_ok {
        return Err(bad("username", "a username is 3 to 32 of a-z, 0-9, '.', '_' or '-'"));
    }
    motcua_desk::passwords::check_new_password(&req.password, &req.username)?;
    let full_name = motcua_desk::desk::check_text("full_name", &req.full_name, motcua_desk::desk::NAME_LEN_MAX, false)?;
    let mut roles = Vec::new();
    for r in &req.roles {
        roles.push(Role::parse(r).ok_or_else(|| bad("roles", "roles are admin, receptionist, specialist or leader"))?);
    }
    if roles.is_empty() {
        return Err(bad("roles", "an account needs at least one role"));
    }
    roles.sort();
    roles.dedup();
    let st = state.clone();
    let view = blocking(move || {
        let account = Account {
            username: req.username.clone(),
            full_name,
            roles,
            password_hash: accounts::hash_password(&req.password),
            created_at: now_ms(),
        };
        let mut w = st.desk.store.begin()?;
        if w.account_exists(&account.username)? {
            return Err(ApiError::new(StatusCode::CONFLICT, "exists", format!("account {} exists", account.username))
                .field("username"));
        }
        w.put_account(&account.username, &postcard::to_allocvec(&account).expect("in memory"))?;
        motcua_desk::desk::audit(&mut w, now_ms(), &officer.username, "create_account", &account.username)?;
        w.commit_durable()?;
        Ok(AccountView {
            username: account.username,
            full_name: account.full_name,
            roles: account.roles,
            disabled: false,
        })
    })
    .await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn disable_account(
    State(state): State<AppState>,
    Admin(officer): Admin,
    username: PathParam,
) -> Result<Response, ApiError> {
    set_account_disabled(state, officer, username, true).await
}

async fn enable_account(
    State(state): State<AppState>,
    Admin(officer): Admin,
    username: PathParam,
) -> Result<Response, ApiError> {
    set_account_disabled(state, officer, username, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPassword {
    /// Needed when officers change their own password.
    #[serde(default)]
    current_password: Option<String>,
    password: String,
}

/// Sets an account's password: an admin for any account (a forgotten
/// password), an officer for their own with the current one. Every session
/// of the account ends, and the devices it logged in from are forgotten
/// (their tokens name the old password).
async fn set_password(
    State(state): State<AppState>,
    Officer(officer): Officer,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    username: PathParam,
    body: Result<Body<NewPassword>, ApiError>,
) -> Result<Response, ApiError> {
    let username = path(username)?;
    let own = officer.username == username;
    if !own {
        require_role(&officer, Role::Admin)?;
    }
    let Body(req) = body?;
    motcua_desk::passwords::check_new_password(&req.password, &username)?;
    // The current password is a guess like a login's, and counted as one.
    let attempt = if own {
        Some(
            state
                .logins
                .admit(client.ip(), &username, now_ms())
                .map_err(|r| limited(r, "logins", "too many failed logins for this account"))?,
        )
    } else {
        None
    };
    // One write: the current password is checked in the transaction that
    // stores the new one.
    let st = state.clone();
    let name = username.clone();
    let actor = officer.username.clone();
    let written = blocking(move || {
        let Some(mut account) = load_account(&st, &name)? else {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no account {name}")));
        };
        let current = req.current_password.as_deref();
        if own && !current.is_some_and(|p| accounts::verify_password(p, &account.password_hash)) {
            return Ok(false);
        }
        account.password_hash = accounts::hash_password(&req.password);
        let mut w = st.desk.store.begin()?;
        w.put_account(&name, &postcard::to_allocvec(&account).expect("in memory"))?;
        motcua_desk::desk::audit(&mut w, now_ms(), &actor, "set_password", &name)?;
        w.commit_durable()?;
        Ok(true)
    })
    .await;
    if let (Some(attempt), Ok(right)) = (attempt, &written) {
        let how = if *right { crate::http::limits::Outcome::Found } else { crate::http::limits::Outcome::Wrong };
        state.logins.finish(attempt, how, now_ms());
    }
    if !written? {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "bad_credentials",
            "changing your own password needs the current one (current_password)",
        )
        .field("current_password"));
    }
    let ended = state.sessions.end_user(&username);
    Ok(Json(json!({"username": username, "sessions_ended": ended})).into_response())
}

/// Disabling an account ends its sessions at once; re-enabling lets it log
/// in again. An admin cannot disable itself.
async fn set_account_disabled(
    state: AppState,
    officer: motcua_desk::desk::Officer,
    username: PathParam,
    disable: bool,
) -> Result<Response, ApiError> {
    let username = path(username)?;
    if disable && username == officer.username {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "self_disable",
            "an administrator cannot disable their own account",
        ));
    }
    let st = state.clone();
    let name = username.clone();
    blocking(move || {
        if st.desk.store.account(&name)?.is_none() {
            return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no account {name}")));
        }
        let mut w = st.desk.store.begin()?;
        w.set_disabled(&name, disable.then(now_ms))?;
        let action = if disable { "disable_account" } else { "enable_account" };
        motcua_desk::desk::audit(&mut w, now_ms(), &officer.username, action, &name)?;
        w.commit_durable()?;
        Ok(())
    })
    .await?;
    let ended = if disable { state.sessions.end_user(&username) } else { 0 };
    Ok(Json(json!({"username": username, "disabled": disable, "sessions_ended": ended})).into_response())
}

async fn audit_log(State(state): State<AppState>, _: Admin) -> Result<Response, ApiError> {
    let st = state.clone();
    let offset = state.desk.offset();
    let rows = blocking(move || {
        let mut out = Vec::new();
        for e in st.desk.store.audit_tail(200)? {
            out.push(json!({"at": motcua_desk::desk::rfc3339(e.at, offset), "officer": e.officer, "action": e.action, "dossier": e.dossier}));
        }
        Ok(out)
    })
    .await?;
    Ok(Json(rows).into_response())
}

async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let st = state.clone();
    let by_state = blocking(move || Ok(st.desk.store.count_by_state()?)).await?;
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
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
