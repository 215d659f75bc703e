//! The province's documents a node takes in: the catalog of procedures
//! (danh mục thủ tục), the working calendar and the revocation list.

use super::*;

pub(super) async fn procedures(State(state): State<AppState>, _: Officer) -> Result<Response, ApiError> {
    let catalog = state.desk.catalog();
    let mut res = Json(&catalog.procedures).into_response();
    res.headers_mut()
        .insert("x-catalog-version", HeaderValue::from_str(&catalog.version).unwrap_or(HeaderValue::from_static("")));
    Ok(res)
}

#[derive(Deserialize)]
pub(super) struct ImportQuery {
    version: Option<String>,
}

pub(super) async fn import_catalog(
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
    let n = imported.procedures.len();
    let version = imported.version.clone();
    blocking(move || Ok(st.desk.import_catalog(&officer, imported, sequence)?)).await?;
    tracing::info!(version = %version, procedures = n, "catalog imported");
    Ok(Json(json!({"version": version, "procedures": n})))
}

/// A province-wide document as it reached the API.
pub(super) enum Incoming {
    Signed { body: String, label: String, sequence: u64 },
    Unsigned,
}

/// An enrolled node takes province-wide documents only signed by its
/// province's root; a demo node, which belongs to no province, takes them
/// unsigned.
pub(super) fn incoming_document(
    state: &AppState,
    bytes: &[u8],
    is_csv: bool,
    kind: DocumentKind,
) -> Result<Incoming, ApiError> {
    let signed = if is_csv { None } else { serde_json::from_slice::<SignedProvinceDocument>(bytes).ok() };
    match (signed, state.desk.province()) {
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

pub(super) async fn import_calendar(
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
    blocking(move || Ok(st.desk.import_calendar(&officer, text, calendar, sequence)?)).await?;
    tracing::info!(version = %version, "calendar imported");
    Ok(Json(json!({"version": version})))
}

/// Installs the province's newer signed revocation list: certificates on
/// it are no longer trusted for anything that enters this node.
pub(super) async fn import_revocations(
    State(state): State<AppState>,
    Admin(officer): Admin,
    body: Result<Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let body = body.map_err(|r| body_rejection(r, BODY_BYTES_MAX))?;
    let signed: SignedProvinceDocument = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(StatusCode::BAD_REQUEST, "malformed_json", format!("not a signed revocation list: {e}"))
    })?;
    let mut next = state.desk.with_trust(|t| t.cloned()).ok_or_else(|| {
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
    blocking(move || Ok(st.desk.install_revocations(&officer, body.to_vec(), &signed, sequence)?)).await?;
    tracing::info!(sequence, revoked, "revocation list installed");
    Ok(Json(json!({"sequence": sequence, "revoked": revoked})))
}

pub(super) async fn get_revocations(State(state): State<AppState>, _: Officer) -> Result<Response, ApiError> {
    let (list, sequence) = state.desk.with_trust(|trust| match trust {
        Some(t) => {
            let (l, s) = t.revocations();
            (l.revoked.clone(), s)
        }
        None => (Vec::new(), 0),
    });
    let o = state.desk.offset();
    let revoked: Vec<_> = list
        .iter()
        .map(|r| json!({"serial": r.serial, "reason": r.reason, "revoked_at": motcua_desk::desk::rfc3339(r.at_ms, o)}))
        .collect();
    Ok(Json(json!({"sequence": sequence, "revoked": revoked})).into_response())
}

pub(super) async fn get_calendar(State(state): State<AppState>, _: Officer) -> Result<Response, ApiError> {
    let c = state.desk.calendar();
    let holidays: Vec<_> = c.holidays().map(|(d, n)| json!({"date": d.to_string(), "name": n})).collect();
    let make_up: Vec<_> = c.make_up_days().map(|(d, n)| json!({"date": d.to_string(), "name": n})).collect();
    Ok(Json(json!({"version": c.version(), "holidays": holidays, "make_up_days": make_up})).into_response())
}

pub(super) fn parse_catalog(is_csv: bool, body: &[u8], version: &str) -> Result<catalog::Catalog, ApiError> {
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
