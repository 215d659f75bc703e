//! Report II.06a (Thông tư 01/2020/TT-VPCP, biểu số II.06a/VPCP/KSTT) by
//! field: the JSON rows and the spreadsheet export, opened and read back
//! cell by cell.

use std::io::Cursor;

use calamine::{Data, Reader, Xlsx};
use motcua_tests::{Node, dossier_request};
use serde_json::json;

/// The text or number in a cell, as text ("" when empty).
fn cell(range: &calamine::Range<Data>, row: u32, col: u32) -> String {
    match range.get_value((row, col)) {
        Some(Data::String(s)) => s.clone(),
        Some(Data::Float(f)) => format!("{f}"),
        Some(Data::Int(i)) => format!("{i}"),
        Some(Data::Empty) | None => String::new(),
        Some(other) => format!("{other:?}"),
    }
}

#[test]
fn report_ii06a_by_field_as_json_and_as_a_spreadsheet() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    // Two civil-status dossiers (one online), one business household.
    let mut online = dossier_request("1.001193", 1);
    online["channel"] = json!("online");
    let birth_online = node.receive(&online);
    let birth_direct = node.receive(&dossier_request("1.001193", 2));
    let household = node.receive(&dossier_request("2.000720", 3));
    for a in [&birth_online, &birth_direct, &household] {
        assert_eq!(a.status, 201, "{a:?}");
    }
    let code = |a: &motcua_tests::Answer| a.body["code"].as_str().unwrap().to_string();
    // An online submission is received (state 2) when the desk accepts it.
    assert_eq!(node.act(&code(&birth_online), &json!({"action": "accept"})).status, 200);
    // Birth registration is a same-day procedure: both are resolved on the
    // day of their appointment (on time); the online one is not collected
    // yet, the direct one is handed over.
    for c in [code(&birth_online), code(&birth_direct)] {
        let s = node.act(&c, &json!({"action": "start_processing"}));
        assert_eq!(s.status, 200, "{s:?}");
        let done = node.act(&c, &json!({"action": "processed", "result": "Trích lục khai sinh"}));
        assert_eq!(done.status, 200, "{done:?}");
    }
    assert_eq!(node.act(&code(&birth_direct), &json!({"action": "return_result"})).status, 200);

    let fields = node.get("/api/v1/stats/fields");
    assert_eq!(fields.status, 200, "{fields:?}");
    let rows = fields.body["rows"].as_array().unwrap().clone();
    let names: Vec<&str> = rows.iter().map(|r| r["field"].as_str().unwrap()).collect();
    assert_eq!(names, ["Hộ tịch", "Thành lập và hoạt động của hộ kinh doanh"], "{rows:?}");
    assert_eq!(rows[0]["received"], 2);
    assert_eq!(rows[0]["received_detail"]["online"], 1);
    assert_eq!(rows[0]["processed"], json!({"early": 0, "on_time": 2, "late": 0}));
    assert_eq!(rows[0]["uncollected"], 1);
    assert_eq!(rows[1]["received"], 1);
    assert_eq!(rows[1]["in_process"]["within_deadline"], 1);
    assert_eq!(fields.body["total"]["received"], 3);

    // The same figures in the spreadsheet, in the form's columns.
    let (status, ct, bytes) = node.get_bytes("/api/v1/stats/ii06a.xlsx?from=2000-01-01&to=2099-12-31");
    assert_eq!(status, 200);
    assert_eq!(ct, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).expect("a valid xlsx");
    assert_eq!(book.sheet_names(), ["II.06a"]);
    let sheet = book.worksheet_range("II.06a").unwrap();
    assert_eq!(cell(&sheet, 0, 0), "Biểu số II.06a/VPCP/KSTT");
    assert!(cell(&sheet, 1, 0).starts_with("TÌNH HÌNH, KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH"));
    assert_eq!(cell(&sheet, 2, 0), "Kỳ báo cáo: từ ngày 01/01/2000 đến ngày 31/12/2099");
    assert_eq!(cell(&sheet, 5, 1), "Lĩnh vực giải quyết");
    assert_eq!(cell(&sheet, 5, 7), "Trả trước hạn");
    assert_eq!(cell(&sheet, 6, 2), "(3)");
    let row = |r: u32| (0..15).map(|c| cell(&sheet, r, c)).collect::<Vec<_>>();
    // STT, field, received total/online/direct/carried over, resolved
    // total/early/on time/late, in process total/within/overdue,
    // uncollected, refused-withdrawn-stopped.
    assert_eq!(row(7), ["1", "Hộ tịch", "2", "1", "1", "0", "2", "0", "2", "0", "0", "0", "0", "1", "0"]);
    assert_eq!(
        row(8),
        [
            "2",
            "Thành lập và hoạt động của hộ kinh doanh",
            "1",
            "0",
            "1",
            "0",
            "0",
            "0",
            "0",
            "0",
            "1",
            "1",
            "0",
            "0",
            "0"
        ]
    );
    assert_eq!(row(9), ["", "Tổng cộng", "3", "1", "2", "0", "2", "0", "2", "0", "1", "1", "0", "1", "0"]);
    assert_eq!(cell(&sheet, 10, 1), "", "nothing after the total");

    // A period that has nothing: only the total row, all zeros.
    let (status, _, bytes) = node.get_bytes("/api/v1/stats/ii06a.xlsx?from=2001-01-01&to=2001-12-31");
    assert_eq!(status, 200);
    let mut book: Xlsx<_> = Xlsx::new(Cursor::new(bytes)).unwrap();
    let sheet = book.worksheet_range("II.06a").unwrap();
    assert_eq!(cell(&sheet, 7, 1), "Tổng cộng");
    assert_eq!(cell(&sheet, 7, 2), "0");
    // A bad period is refused as on the other statistics routes.
    assert_eq!(node.get("/api/v1/stats/ii06a.xlsx?from=2025-13-01").status, 422);
    let other = node.get("/api/v1/stats/fields?unit=12345");
    assert_eq!(other.status, 403, "a commune reports only on itself: {other:?}");
}
