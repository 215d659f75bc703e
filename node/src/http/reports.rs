//! Reports: statistics (thống kê) by period and unit, and the logbook
//! (sổ theo dõi hồ sơ).

use super::*;

#[derive(Deserialize)]
pub(super) struct StatsParams {
    pub(super) from: Option<String>,
    pub(super) to: Option<String>,
    pub(super) unit: Option<String>,
}

/// The statistics of each unit this node holds dossiers of (a province:
/// every commune and agency; others: their own unit), in one pass.
pub(super) async fn stats_by_unit(
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
    let config = &state.desk.config();
    let (own, province) = (config.unit.clone(), config.role == motcua_desk::config::NodeRole::Province);
    let reports = blocking(move || {
        let now = now_ms();
        let calendar = st.desk.calendar();
        let mut by_unit: std::collections::BTreeMap<String, stats::Report> = Default::default();
        st.desk.store().for_each_summary(|s| {
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

/// An optional local date parameter `YYYY-MM-DD`.
pub(super) fn local_date(name: &str, v: Option<&str>) -> Result<Option<chrono::NaiveDate>, ApiError> {
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

pub(super) fn period_of(p: &StatsParams) -> Result<Period, ApiError> {
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
/// A report's period and unit, from its query (`from`, `to`, `unit`).
pub(super) fn report_scope(
    state: &AppState,
    params: QueryParams<StatsParams>,
) -> Result<(Period, Option<String>), ApiError> {
    let p = query(params)?;
    Ok((period_of(&p)?, report_unit(state, p.unit)?))
}

pub(super) fn report_unit(state: &AppState, unit: Option<String>) -> Result<Option<String>, ApiError> {
    let unit = unit.filter(|u| !u.trim().is_empty());
    let config = &state.desk.config();
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

/// The dossier logbook (sổ theo dõi hồ sơ, form 07) of the dossiers a unit
/// received from `from` to `to` (local dates, both included; an end left
/// out is open, and with neither the book is today's), in order of receipt:
/// this node's unit unless the provincial node names another.
pub(super) async fn logbook(
    State(state): State<AppState>,
    Officer(officer): Officer,
    params: QueryParams<StatsParams>,
) -> Result<Response, ApiError> {
    let p = query(params)?;
    let period = period_of(&p)?;
    let unit = report_unit(&state, p.unit)?.unwrap_or_else(|| state.desk.config().unit.clone());
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

pub(super) async fn stats_route(
    State(state): State<AppState>,
    _: Officer,
    params: QueryParams<StatsParams>,
) -> Result<Response, ApiError> {
    let (period, unit) = report_scope(&state, params)?;
    let st = state.clone();
    let report = blocking(move || {
        let calendar = st.desk.calendar();
        let mut report = stats::Report::new(period, now_ms(), &calendar);
        st.desk.store().for_each_summary(|s| {
            if unit.as_ref().is_none_or(|u| &s.receiving_unit == u) {
                report.add(&s);
            }
        })?;
        Ok(report.finish())
    })
    .await?;
    Ok(Json(report).into_response())
}
