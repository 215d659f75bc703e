//! Officer accounts (tài khoản cán bộ) and the audit log, for the
//! administrator.

use super::session::limited;
use super::*;

#[derive(Serialize)]
pub(super) struct AccountView {
    username: String,
    full_name: String,
    roles: Vec<Role>,
    disabled: bool,
}

pub(super) async fn list_accounts(State(state): State<AppState>, _: Admin) -> Result<Response, ApiError> {
    let st = state.clone();
    let rows = blocking(move || {
        let mut out = Vec::new();
        for b in st.desk.store().accounts()? {
            let a = Account::decode(&b)?;
            let disabled = st.desk.store().is_disabled(&a.username)?;
            out.push(AccountView { username: a.username, full_name: a.full_name, roles: a.roles, disabled });
        }
        Ok(out)
    })
    .await?;
    Ok(Json(rows).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewAccount {
    username: String,
    password: String,
    #[serde(default)]
    full_name: String,
    roles: Vec<String>,
}

pub(super) async fn create_account(
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
        let new = motcua_desk::admin::NewAccount {
            username: req.username,
            full_name: req.full_name,
            roles,
            password: req.password,
        };
        let account = st.desk.create_account(&officer, new)?;
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

pub(super) async fn disable_account(
    State(state): State<AppState>,
    Admin(officer): Admin,
    username: PathParam,
) -> Result<Response, ApiError> {
    set_account_disabled(state, officer, username, true).await
}

pub(super) async fn enable_account(
    State(state): State<AppState>,
    Admin(officer): Admin,
    username: PathParam,
) -> Result<Response, ApiError> {
    set_account_disabled(state, officer, username, false).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewPassword {
    /// Needed when officers change their own password.
    #[serde(default)]
    current_password: Option<String>,
    password: String,
}

/// Sets an account's password: an admin for any account (a forgotten
/// password), an officer for their own with the current one. Every session
/// of the account ends, and the devices it logged in from are forgotten
/// (their tokens name the old password).
pub(super) async fn set_password(
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
    let actor = officer.clone();
    let written = blocking(move || {
        // One's own change needs the current password (none given is wrong).
        let current = own.then(|| req.current_password.unwrap_or_default());
        match st.desk.set_password(&actor, &name, current, &req.password) {
            Ok(()) => Ok(true),
            Err(AdminError::WrongCurrentPassword) => Ok(false),
            Err(e) => Err(e.into()),
        }
    })
    .await;
    if let (Some(attempt), Ok(right)) = (attempt, &written) {
        let how = if *right { crate::http::limits::Guess::Found } else { crate::http::limits::Guess::Wrong };
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
pub(super) async fn set_account_disabled(
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
    blocking(move || Ok(st.desk.set_account_disabled(&officer, &name, disable)?)).await?;
    let ended = if disable { state.sessions.end_user(&username) } else { 0 };
    Ok(Json(json!({"username": username, "disabled": disable, "sessions_ended": ended})).into_response())
}

pub(super) async fn audit_log(State(state): State<AppState>, _: Admin) -> Result<Response, ApiError> {
    let st = state.clone();
    let offset = state.desk.offset();
    let rows = blocking(move || {
        let mut out = Vec::new();
        for e in st.desk.store().audit_tail(200)? {
            out.push(json!({"at": motcua_desk::desk::rfc3339(e.at, offset), "officer": e.officer, "action": e.action, "dossier": e.dossier}));
        }
        Ok(out)
    })
    .await?;
    Ok(Json(rows).into_response())
}
