//! Guidance records (hồ sơ hướng dẫn): forms 02 and 03 given at the
//! counter before receipt, kept on this node (`motcua_desk::guidance`).

use motcua_desk::guidance::{GUIDANCE_LIST_MAX, GuidanceRequest};

use super::dossiers::parse_param;
use super::*;

/// `POST /api/v1/guidance` → 201 with the record and its `Location`.
pub(super) async fn create(
    State(state): State<AppState>,
    Officer(officer): Officer,
    body: Result<Body<GuidanceRequest>, ApiError>,
) -> Result<Response, ApiError> {
    let Body(req) = body?;
    let st = state.clone();
    let view = blocking(move || Ok(st.desk.give_guidance(&officer, req, now_ms())?)).await?;
    let mut res = (StatusCode::CREATED, Json(&view)).into_response();
    if let Ok(loc) = HeaderValue::from_str(&format!("/api/v1/guidance/{}", view.number)) {
        res.headers_mut().insert(header::LOCATION, loc);
    }
    Ok(res)
}

#[derive(Deserialize)]
pub(super) struct ListParams {
    q: Option<String>,
    limit: Option<String>,
}

/// `GET /api/v1/guidance?q=&limit=`: newest first.
pub(super) async fn list(
    State(state): State<AppState>,
    Officer(officer): Officer,
    params: QueryParams<ListParams>,
) -> Result<Response, ApiError> {
    let p = query(params)?;
    let limit: usize = parse_param("limit", p.limit.as_deref())?.unwrap_or(50);
    if limit == 0 || limit > GUIDANCE_LIST_MAX {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_value",
            format!("limit is 1 to {GUIDANCE_LIST_MAX}"),
        )
        .field("limit"));
    }
    if p.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_value", "q is at most 200 characters").field("q")
        );
    }
    let st = state.clone();
    let rows = blocking(move || Ok(st.desk.guidance_list(&officer, p.q.as_deref(), limit, now_ms())?)).await?;
    Ok(Json(rows).into_response())
}

/// `GET /api/v1/guidance/{number}`.
pub(super) async fn get_one(
    State(state): State<AppState>,
    Officer(officer): Officer,
    number: PathParam,
) -> Result<Response, ApiError> {
    let number = path(number)?;
    if number.len() > 64 {
        return Err(ApiError::new(StatusCode::NOT_FOUND, "not_found", "not a guidance number"));
    }
    let st = state.clone();
    let view = blocking(move || Ok(st.desk.guidance(&officer, &number, now_ms())?)).await?;
    Ok(Json(view).into_response())
}
