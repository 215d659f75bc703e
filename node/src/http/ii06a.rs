//! Report form II.06a (Biểu số II.06a/VPCP/KSTT, Thông tư 01/2020/TT-VPCP:
//! "tình hình, kết quả giải quyết thủ tục hành chính tại cơ quan, đơn vị
//! trực tiếp giải quyết"): a unit's period, one row per field (lĩnh vực)
//! of the procedures, counted as the province counts
//! ([`motcua_domain::stats::Report`], DOMAIN.md "Statistics"); as JSON
//! and as a spreadsheet in the form's layout.

use motcua_domain::stats::{Period, Stats};
use rust_xlsxwriter::{Format, FormatAlign, FormatBorder, Workbook, XlsxError};

use super::reports::{StatsParams, report_scope};
use super::*;

/// A procedure no longer in the catalog is counted under this field.
pub const FIELD_UNKNOWN: &str = "Khác (thủ tục không còn trong danh mục)";

/// The rows of the report, in field order, and their total.
fn rows(state: &AppState, period: Period, unit: Option<String>) -> Result<(Vec<(String, Stats)>, Stats), ApiError> {
    let (catalog, calendar, now) = (state.desk.catalog(), state.desk.calendar(), now_ms());
    let mut by_field: std::collections::BTreeMap<String, stats::Report> = Default::default();
    let mut total = stats::Report::new(period, now, &calendar);
    state.desk.store().for_each_summary(|s| {
        if unit.as_ref().is_some_and(|u| &s.receiving_unit != u) {
            return;
        }
        let field = catalog.get(&s.procedure_code).map_or(FIELD_UNKNOWN.to_string(), |p| p.field.clone());
        by_field.entry(field).or_insert_with(|| stats::Report::new(period, now, &calendar)).add(&s);
        total.add(&s);
    })?;
    // A field with nothing to count in the period (its dossiers all lie
    // outside it) is not a row of the report.
    let rows = by_field.into_iter().map(|(f, r)| (f, r.finish())).filter(|(_, s)| figures(s).iter().any(|n| *n > 0));
    Ok((rows.collect(), total.finish()))
}

/// `GET /api/v1/stats/fields`: the report's rows by field, and the total.
pub(super) async fn by_field(
    State(state): State<AppState>,
    _: Officer,
    params: QueryParams<StatsParams>,
) -> Result<Response, ApiError> {
    let (period, unit) = report_scope(&state, params)?;
    let st = state.clone();
    let (rows, total) = blocking(move || rows(&st, period, unit)).await?;
    let rows: Vec<FieldRow> = rows.into_iter().map(|(field, stats)| FieldRow { field, stats }).collect();
    Ok(Json(json!({"rows": rows, "total": total})).into_response())
}

/// A row of the report as JSON: the field and its figures.
#[derive(Serialize)]
struct FieldRow {
    field: String,
    #[serde(flatten)]
    stats: Stats,
}

/// `GET /api/v1/stats/ii06a.xlsx`: the report as a spreadsheet.
pub(super) async fn xlsx(
    State(state): State<AppState>,
    _: Officer,
    params: QueryParams<StatsParams>,
) -> Result<Response, ApiError> {
    let (period, unit) = report_scope(&state, params)?;
    let unit_name = state.desk.unit_name(unit.as_deref().unwrap_or(&state.desk.config().unit));
    let st = state.clone();
    let (rows, total) = blocking(move || rows(&st, period, unit)).await?;
    let bytes = workbook(&unit_name, period, &rows, &total).map_err(|e| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "export_failed", format!("the spreadsheet failed: {e}"))
    })?;
    let name = format!(
        "II.06a_{}_{}.xlsx",
        period.from.map_or("dau".into(), |d| d.to_string()),
        period.to.map_or("nay".into(), |d| d.to_string())
    );
    Ok((
        [
            (header::CONTENT_TYPE, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet".to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")),
        ],
        bytes,
    )
        .into_response())
}

/// The form's column headings, left to right after STT and the field:
/// received (total, of which online, direct or by post, carried over),
/// resolved (total, early, on time, late), in process (total, within,
/// overdue); then motcua's extra columns: results not collected, refused,
/// withdrawn, stopped.
pub const COLUMNS: [&str; 15] = [
    "STT",
    "Lĩnh vực giải quyết",
    "Số hồ sơ nhận giải quyết: Tổng số",
    "Trong kỳ: Trực tuyến",
    "Trong kỳ: Trực tiếp, dịch vụ bưu chính",
    "Từ kỳ trước",
    "Số hồ sơ đã giải quyết: Tổng số",
    "Trả trước hạn",
    "Trả đúng hạn",
    "Trả quá hạn",
    "Số hồ sơ đang giải quyết: Tổng số",
    "Trong hạn",
    "Quá hạn",
    "Đã có kết quả, chưa trả",
    "Từ chối / Rút / Dừng",
];

/// A row's numbers, in [`COLUMNS`] order from the third.
pub fn figures(s: &Stats) -> [u64; 13] {
    let resolved = s.processed.early + s.processed.on_time + s.processed.late;
    let in_process = s.in_process.within_deadline + s.in_process.overdue;
    [
        s.received + s.received_detail.carried_over,
        s.received_detail.online,
        s.received_detail.direct_or_post,
        s.received_detail.carried_over,
        resolved,
        s.processed.early,
        s.processed.on_time,
        s.processed.late,
        in_process,
        s.in_process.within_deadline,
        s.in_process.overdue,
        s.uncollected,
        s.refused + s.withdrawn + s.stopped,
    ]
}

/// Title rows, then the headings (row 6), the column numbers (row 7), one
/// row per field and the total.
fn workbook(unit_name: &str, period: Period, rows: &[(String, Stats)], total: &Stats) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    sheet.set_name("II.06a")?;
    let bold = Format::new().set_bold();
    let title = Format::new().set_bold().set_align(FormatAlign::Center);
    let head = Format::new().set_bold().set_text_wrap().set_align(FormatAlign::Center).set_border(FormatBorder::Thin);
    let cell = Format::new().set_border(FormatBorder::Thin);
    let last = (COLUMNS.len() - 1) as u16;
    sheet.write_string_with_format(0, 0, "Biểu số II.06a/VPCP/KSTT", &bold)?;
    sheet.merge_range(
        1,
        0,
        1,
        last,
        "TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH TẠI CƠ QUAN, ĐƠN VỊ TRỰC TIẾP GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH",
        &title,
    )?;
    let date = |d: Option<chrono::NaiveDate>| d.map_or("…".to_string(), |d| d.format("%d/%m/%Y").to_string());
    sheet.merge_range(
        2,
        0,
        2,
        last,
        &format!("Kỳ báo cáo: từ ngày {} đến ngày {}", date(period.from), date(period.to)),
        &title,
    )?;
    sheet.write_string(3, 0, format!("Đơn vị báo cáo: {unit_name}"))?;
    sheet.write_string(4, 0, "Đơn vị tính: hồ sơ")?;
    for (c, h) in COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(5, c as u16, *h, &head)?;
        sheet.write_string_with_format(6, c as u16, format!("({})", c + 1), &head)?;
    }
    sheet.set_row_height(5, 60)?;
    sheet.set_column_width(1, 36)?;
    for c in 2..=last {
        sheet.set_column_width(c, 13)?;
    }
    let mut r = 7u32;
    for (i, (field, s)) in rows.iter().enumerate() {
        sheet.write_number_with_format(r, 0, (i + 1) as f64, &cell)?;
        sheet.write_string_with_format(r, 1, field, &cell)?;
        for (c, n) in figures(s).iter().enumerate() {
            sheet.write_number_with_format(r, c as u16 + 2, *n as f64, &cell)?;
        }
        r += 1;
    }
    let bold_cell = Format::new().set_bold().set_border(FormatBorder::Thin);
    sheet.write_string_with_format(r, 0, "", &bold_cell)?;
    sheet.write_string_with_format(r, 1, "Tổng cộng", &bold_cell)?;
    for (c, n) in figures(total).iter().enumerate() {
        sheet.write_number_with_format(r, c as u16 + 2, *n as f64, &bold_cell)?;
    }
    book.save_to_buffer()
}
