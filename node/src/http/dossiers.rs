//! Dossiers (hồ sơ): receiving, reading, acting on, listing and finding
//! duplicates; and the citizens' public tracking lookup (tra cứu).

use super::reports::local_date;
use super::session::limited;
use super::*;

pub(super) async fn create_dossier(
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

pub(super) async fn get_dossier(
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
pub(super) struct TrackQuery {
    code: String,
    id_last4: String,
}

/// The citizen tracking lookup: no login, rate-limited per client address
/// and per dossier code (`limits`).
pub(super) async fn track(
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
    use crate::http::limits::Guess;
    let (outcome, answer) = match looked {
        Ok(Ok(view)) => (Guess::Found, Ok(Json(view).into_response())),
        Ok(Err(miss)) => (
            if miss == motcua_desk::read::TrackMiss::WrongSuffix { Guess::Wrong } else { Guess::Unknown },
            Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no dossier with this code and id number")),
        ),
        Err(e) => (Guess::Failed, Err(e)),
    };
    state.track.finish(attempt, outcome, now_ms());
    answer
}

/// `POST /api/v1/rate`: the citizen's rating at return, on the rating
/// page (no login; the dossier code and the last four digits of the ID
/// number, under the tracking lookup's limits) → 201.
pub(super) async fn rate(
    State(state): State<AppState>,
    ConnectInfo(client): ConnectInfo<std::net::SocketAddr>,
    body: Result<Body<motcua_desk::rate::RatingRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let Body(mut req) = body?;
    req.code = req.code.trim().to_uppercase();
    req.id_last4 = req.id_last4.trim().to_string();
    if !motcua_domain::codes::is_dossier_code(&req.code) {
        return Err(
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", "not a dossier code").field("code")
        );
    }
    if req.id_last4.len() != 4 || !req.id_last4.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", "id_last4 must be 4 digits")
            .field("id_last4"));
    }
    // A malformed rating is refused before the lookup, so it is never
    // counted as a guess, neither found nor wrong.
    req.check()?;
    let now = now_ms();
    let attempt = state
        .track
        .admit(client.ip(), &req.code, now)
        .map_err(|r| limited(r, "lookups", "too many wrong id numbers for this code"))?;
    let st = state.clone();
    let rated = blocking(move || Ok(st.desk.rate(req, now)?)).await;
    use crate::http::limits::Guess;
    let (outcome, answer) = match rated {
        Ok(Ok(())) => (Guess::Found, Ok((StatusCode::CREATED, Json(json!({"rated": true}))).into_response())),
        Ok(Err(motcua_desk::rate::RateMiss::NotFound(miss))) => (
            if miss == motcua_desk::read::TrackMiss::WrongSuffix { Guess::Wrong } else { Guess::Unknown },
            Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "no dossier with this code and id number")),
        ),
        // The request was checked above: a refusal now (not returned yet,
        // already rated) came after the suffix matched.
        Err(e) if !matches!(e.status, StatusCode::INTERNAL_SERVER_ERROR) => (Guess::Found, Err(e)),
        Err(e) => (Guess::Failed, Err(e)),
    };
    state.track.finish(attempt, outcome, now_ms());
    answer
}

/// The QR code of a dossier code, as SVG, for the printed receipt (form 1).
pub(super) async fn dossier_qr(
    State(state): State<AppState>,
    _: Officer,
    code: PathParam,
) -> Result<Response, ApiError> {
    let code = path(code)?;
    check_code(&code)?;
    let st = state.clone();
    let c = code.clone();
    if blocking(move || Ok(st.desk.store().id_by_code(&c)?)).await?.is_none() {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("no dossier {code}")));
    }
    let qr = qrcode::QrCode::with_error_correction_level(code.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", e.to_string()))?;
    let svg = qr.render::<qrcode::render::svg::Color<'_>>().min_dimensions(160, 160).build();
    Ok(([(header::CONTENT_TYPE, "image/svg+xml"), (header::CACHE_CONTROL, "private, max-age=86400")], svg)
        .into_response())
}

pub(super) fn check_code(code: &str) -> Result<(), ApiError> {
    if motcua_domain::codes::is_dossier_code(code) {
        Ok(())
    } else {
        Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", format!("'{code}' is not a dossier code")))
    }
}

pub(super) async fn act(
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

#[derive(Deserialize)]
pub(super) struct ListParams {
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

pub(super) fn parse_param<T: std::str::FromStr>(name: &str, v: Option<&str>) -> Result<Option<T>, ApiError> {
    match v.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(s) => s.parse().map(Some).map_err(|_| {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", format!("'{s}' is not a valid {name}"))
                .field(name)
        }),
    }
}

pub(super) async fn list_dossiers(
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
pub(super) struct DuplicateParams {
    procedure_code: String,
    id_number: String,
}

pub(super) async fn duplicates(
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
