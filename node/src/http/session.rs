//! Officers' sessions (phiên đăng nhập): login, the current session, logout.

use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct LoginRequest {
    username: String,
    password: String,
}

/// A refusal by the limits of what can be guessed, in the API's shape:
/// `what` names the attempts, `locked` says why the target is locked.
pub(super) fn limited(r: crate::http::limits::Refused, what: &str, locked: &str) -> ApiError {
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
pub(super) fn same_site(headers: &HeaderMap) -> Result<(), ApiError> {
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
pub(super) fn load_account(state: &AppState, username: &str) -> Result<Option<Account>, ApiError> {
    Ok(state.desk.account(username)?)
}

pub(super) async fn login(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Body(req): Body<LoginRequest>,
) -> Result<Response, ApiError> {
    same_site(&headers)?;
    let now = now_ms();
    use crate::http::limits::Guess;
    let st = state.clone();
    let username = req.username.clone();
    let account = blocking(move || load_account(&st, &username)).await?;
    // A device this officer logged in from before, with the password in
    // force then, is not held back by the lock that failures from
    // everywhere put on the account.
    let secret = state.desk.identity().secret_bytes();
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
                let disabled = st.desk.store().is_disabled(&a.username)?;
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
            let how = if exists { Guess::Wrong } else { Guess::Unknown };
            state.logins.finish(attempt, how, now_ms());
            state.metrics.logins_failed.fetch_add(1, Ordering::Relaxed);
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "bad_credentials", "wrong username or password"));
        }
        // The attempt, dropped unfinished, counts as failed.
        Err(e) => return Err(e),
    };
    state.logins.finish(attempt, Guess::Found, now_ms());
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
pub(super) async fn current_session(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, ApiError> {
    // A read: no CSRF check, so the session's own lookup is the check.
    let token = bearer(&headers).or_else(|| cookie(&state, &headers)).ok_or_else(ApiError::unauthorized)?;
    let session = state.sessions.touch(&token, now_ms()).ok_or_else(ApiError::unauthorized)?;
    let st = state.clone();
    let username = session.username.clone();
    let account = blocking(move || Ok(st.desk.account(&username)?)).await?;
    let c = &state.desk.config();
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
pub(super) fn dummy_hash() -> &'static str {
    static HASH: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HASH.get_or_init(|| accounts::hash_password(&accounts::random_token()))
}

pub(super) async fn logout(
    State(state): State<AppState>,
    _: Officer,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if let Some(t) = bearer(&headers).or_else(|| cookie(&state, &headers)) {
        state.sessions.remove(&t);
    }
    let mut res = StatusCode::NO_CONTENT.into_response();
    let expired = format!("{}=; {}; Path=/; Max-Age=0", state.session_cookie(), state.cookie_attributes());
    res.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&expired).expect("ascii"));
    Ok(res)
}
