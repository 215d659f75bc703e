//! Who is asking: extractors that authorize a request by construction.
//!
//! A handler names the officer it needs in its arguments ([`Officer`],
//! [`Admin`], or [`Passive`] for a page's background poll); the extractor
//! checks the session and, for a cookie session on any method but GET or
//! HEAD, the session's CSRF token in `X-CSRF-Token`. The method is read
//! from the request itself, so no handler can forget the CSRF check or
//! name the wrong method. Extractors run before the body is read: a
//! request without a live session is refused before anything of it is
//! parsed.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode};
use motcua_desk::now_ms;
use motcua_domain::workflow::Role;

use super::{ApiError, AppState, bearer, cookie};

/// A signed-in officer; the request counts as the officer's activity (it
/// keeps the session from idling out).
pub struct Officer(pub motcua_desk::desk::Officer);

/// A signed-in officer with the admin role.
pub struct Admin(pub motcua_desk::desk::Officer);

/// A signed-in officer, for what a page polls in the background: the
/// session must be live, but the poll does not keep it so. Only for GET.
pub struct Passive(pub motcua_desk::desk::Officer);

impl FromRequestParts<AppState> for Officer {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(state, &parts.headers, &parts.method, true).map(Officer)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let officer = authenticate(state, &parts.headers, &parts.method, true)?;
        require_role(&officer, Role::Admin)?;
        Ok(Admin(officer))
    }
}

impl FromRequestParts<AppState> for Passive {
    type Rejection = ApiError;
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(state, &parts.headers, &parts.method, false).map(Passive)
    }
}

/// The officer of a request's session, or 401; with `activity`, the
/// request keeps the session alive. Cookie sessions must also carry the
/// session's CSRF token on anything but GET and HEAD.
fn authenticate(
    state: &AppState,
    headers: &HeaderMap,
    method: &Method,
    activity: bool,
) -> Result<motcua_desk::desk::Officer, ApiError> {
    let now = now_ms();
    let session = |token: &str| {
        if activity { state.sessions.touch(token, now) } else { state.sessions.peek(token, now) }
            .ok_or_else(ApiError::unauthorized)
    };
    let officer =
        |s: motcua_desk::accounts::LoginSession| motcua_desk::desk::Officer { username: s.username, roles: s.roles };
    if let Some(token) = bearer(headers) {
        return Ok(officer(session(&token)?));
    }
    let token = cookie(state, headers).ok_or_else(ApiError::unauthorized)?;
    let s = session(&token)?;
    if method != Method::GET && method != Method::HEAD {
        let sent = headers.get("x-csrf-token").and_then(|v| v.to_str().ok());
        if sent != Some(s.csrf.as_str()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf",
                "missing or wrong X-CSRF-Token header for a cookie session",
            ));
        }
    }
    Ok(officer(s))
}

/// Refuses an officer without `role` (an admin holds every role).
pub fn require_role(officer: &motcua_desk::desk::Officer, role: Role) -> Result<(), ApiError> {
    if officer.roles.contains(&Role::Admin) || officer.roles.contains(&role) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::FORBIDDEN, "forbidden", format!("this needs the role {}", role.as_str())))
    }
}
