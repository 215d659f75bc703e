//! The HTTP surface the web UI adds: the session of a reloaded page, the
//! actions a dossier offers an officer, the citizen tracking lookup and its
//! limits, the receipt's QR code and the queues' filters.

use motcua_tests::{Node, dossier_request};
use serde_json::json;

#[test]
fn a_session_cookie_reads_back_its_officer_and_csrf_token() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let me = node.get("/api/v1/session");
    assert_eq!(me.status, 200, "{me:?}");
    assert_eq!(me.body["username"], "admin");
    assert_eq!(me.body["unit"], "99001");
    assert!(me.body["csrf_token"].as_str().is_some_and(|c| c.len() == 64), "{me:?}");
    assert_eq!(node.get_as(Some("not-a-session"), "/api/v1/session").status, 401);
}

/// Every officer action with the values its form sends.
const ACTIONS: [(&str, &str); 20] = [
    ("accept", "{}"),
    ("refuse", r#"{"reason": "Hồ sơ không thuộc thẩm quyền"}"#),
    ("start_processing", "{}"),
    ("transfer", r#"{"to_unit": "000.00.12.H99"}"#),
    ("request_supplement", r#"{"reason": "Thiếu giấy tờ", "missing": ["Bản sao giấy tờ"], "deadline": "2099-01-05"}"#),
    ("supplement_received", "{}"),
    ("request_financial_obligation", "{}"),
    ("financial_obligation_fulfilled", "{}"),
    ("processed", r#"{"result": "Kết quả thử"}"#),
    ("return_result", "{}"),
    ("request_withdrawal", "{}"),
    ("stop", "{}"),
    ("reappoint", r#"{"new_due_at": "2099-01-05", "reason": "Cần xác minh thêm"}"#),
    ("return_to_previous", r#"{"reason": "Kết quả chưa đúng"}"#),
    ("recall", "{}"),
    ("reset_appointment", r#"{"new_due_at": "2099-01-05", "reason": "Nhập sai ngày hẹn"}"#),
    ("revoke_result", r#"{"reason": "Ghi nhận trả nhầm"}"#),
    ("resolve_conflict", r#"{"event_index": 0, "reason": "Đã đối chiếu"}"#),
    ("draft_supplement", r#"{"reason": "Thiếu giấy tờ", "missing": ["Bản sao giấy tờ"]}"#),
    ("approve_supplement", "{}"),
];

#[test]
fn a_dossier_offers_each_officer_exactly_the_actions_the_node_then_takes() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let receptionist = node.officer("tiepnhan", &["receptionist"]);
    let specialist = node.officer("chuyenvien", &["specialist"]);
    let mut n = 0;
    for (who, token) in [("receptionist", &receptionist), ("specialist", &specialist)] {
        for (action, values) in ACTIONS {
            // A fresh accepted dossier for each action, so one taken does
            // not change what the next is tried on.
            n += 1;
            let code = node.receive(&dossier_request("2.000720", n)).body["code"].as_str().unwrap().to_string();
            let d = node.get_as(Some(token), &format!("/api/v1/dossiers/{code}")).body;
            let offered = d["allowed_actions"].as_array().unwrap().iter().any(|a| a == action);
            let mut body: serde_json::Value = serde_json::from_str(values).unwrap();
            body["action"] = json!(action);
            let a = node.post_as(Some(token), &format!("/api/v1/dossiers/{code}/actions"), &body);
            if offered {
                assert_eq!(a.status, 200, "{who} was offered {action} but the node refused it: {a:?}");
            } else {
                assert!(matches!(a.status, 403 | 409), "{who} was not offered {action}, yet the node answered {a:?}");
            }
        }
    }
}

/// Receives dossier `n`: its view, its code and the applicant's ID number.
fn received_for_tracking(node: &Node, n: u32) -> (serde_json::Value, String, String) {
    let d = node.receive(&dossier_request("2.000720", n)).body;
    let code = d["code"].as_str().unwrap().to_string();
    let id = d["applicant"]["id_number"].as_str().unwrap().to_string();
    (d, code, id)
}

#[test]
fn tracking_shows_state_and_appointment_for_the_right_suffix_only() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let (d, code, id) = received_for_tracking(&node, 7);
    let last4 = &id[id.len() - 4..];
    let ok = node.get_as(Some(""), &format!("/api/v1/track?code={code}&id_last4={last4}"));
    assert_eq!(ok.status, 200, "no login needed: {ok:?}");
    assert_eq!(ok.body["state"], 2);
    assert_eq!(ok.body["due_at"], d["due_at"]);
    assert!(ok.body["collect_at"].as_str().unwrap().contains("Một cửa"));
    let text = ok.body.to_string();
    assert!(!text.contains(&id) && !text.contains("Người Thử Mẫu"), "nothing personal: {text}");

    let wrong = node.get_as(Some(""), &format!("/api/v1/track?code={code}&id_last4=0000"));
    let unknown = node.get_as(Some(""), "/api/v1/track?code=000.00.01.H99-990101-0001&id_last4=0000");
    assert_eq!((wrong.status, unknown.status), (404, 404));
    assert_eq!(
        wrong.body["error"]["message"], unknown.body["error"]["message"],
        "a wrong suffix reads as an unknown code"
    );
    assert_eq!(node.get_as(Some(""), &format!("/api/v1/track?code={code}&id_last4=12a4")).status, 422);
    assert_eq!(node.get_as(Some(""), &format!("/api/v1/track?code=bogus&id_last4={last4}")).status, 422);
    assert_eq!(node.get_as(Some(""), &format!("/api/v1/track?code={code}")).status, 400);
}

#[test]
fn tracking_locks_a_code_after_wrong_suffixes_and_limits_each_client() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let (_, code, id) = received_for_tracking(&node, 8);
    let track = |suffix: &str| node.get_as(Some(""), &format!("/api/v1/track?code={code}&id_last4={suffix}"));
    for wrong in ["0001", "0002", "0003", "0004", "0005"] {
        assert_eq!(track(wrong).status, 404);
    }
    let locked = track(&id[id.len() - 4..]);
    assert_eq!((locked.status, locked.body["error"]["code"].as_str()), (429, Some("too_many_attempts")), "{locked:?}");
    // The client's own limit: 30 lookups a minute in all; the five wrong
    // ones above count, the refused one does not.
    let other = node.receive(&dossier_request("2.000720", 9)).body;
    let other_code = other["code"].as_str().unwrap();
    let other_id = other["applicant"]["id_number"].as_str().unwrap();
    let path = format!("/api/v1/track?code={other_code}&id_last4={}", &other_id[other_id.len() - 4..]);
    let statuses: Vec<u16> = (0..30).map(|_| node.get_as(Some(""), &path).status).collect();
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 25, "{statuses:?}");
    assert_eq!(*statuses.last().unwrap(), 429);
    assert_eq!(node.get("/healthz").status, 200, "the node stays up");
}

#[test]
fn the_receipt_qr_code_is_an_svg_of_a_stored_dossier_only() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let code = node.receive(&dossier_request("2.000720", 3)).body["code"].as_str().unwrap().to_string();
    let qr = node.get(&format!("/api/v1/dossiers/{code}/qr.svg"));
    assert_eq!(qr.status, 200);
    assert!(qr.body.as_str().is_some_and(|s| s.contains("<svg") && s.contains("<path")), "{qr:?}");
    assert_eq!(node.get("/api/v1/dossiers/000.00.01.H99-990101-0001/qr.svg").status, 404);
    assert_eq!(node.get("/api/v1/dossiers/not-a-code/qr.svg").status, 404);
    assert_eq!(node.get_as(Some("nobody"), &format!("/api/v1/dossiers/{code}/qr.svg")).status, 401);
}

#[test]
fn queues_list_todays_dossiers_and_those_coming_due() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    // Copy certification is same-day (due by the next working day's end at
    // the latest); business household registration takes 3 working days.
    let mut due = Vec::new();
    for (n, procedure) in [(0, "2.000815"), (1, "2.000815"), (2, "2.000720")] {
        let d = node.receive(&dossier_request(procedure, n)).body;
        let at = chrono::DateTime::parse_from_rfc3339(d["due_at"].as_str().unwrap()).unwrap().timestamp_millis();
        due.push((d["code"].as_str().unwrap().to_string(), at));
    }
    let today = chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap()).format("%Y-%m-%d");
    assert_eq!(node.get(&format!("/api/v1/dossiers?received_from={today}")).total, Some(3));
    assert_eq!(node.get("/api/v1/dossiers?received_from=2999-01-01").total, Some(0));
    let bad = node.get("/api/v1/dossiers?received_from=01/12/2026");
    assert_eq!((bad.status, bad.body["error"]["field"].as_str()), (422, Some("received_from")), "{bad:?}");
    assert_eq!(node.get("/api/v1/dossiers?due_soon=maybe").status, 422);
    assert_eq!(node.get("/api/v1/dossiers?conflicts=perhaps").status, 422);
    let soon = chrono::Utc::now().timestamp_millis() + 2 * 24 * 3600 * 1000;
    let mut expected: Vec<String> = due.iter().filter(|(_, at)| *at < soon).map(|(c, _)| c.clone()).collect();
    let due_soon = || {
        let rows = node.get("/api/v1/dossiers?due_soon=true").body;
        let mut codes: Vec<String> =
            rows.as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap().to_string()).collect();
        codes.sort();
        codes
    };
    expected.sort();
    assert_eq!(due_soon(), expected, "exactly the dossiers due within two days");
    // A dossier whose result is ready is not coming due any more, whether
    // or not it was before.
    let (ready, _) = &due[0];
    assert_eq!(node.act(ready, &json!({"action": "processed", "result": "Bản sao đã chứng thực"})).status, 200);
    expected.retain(|c| c != ready);
    assert_eq!(due_soon(), expected);
}

#[test]
fn the_logbook_lists_a_period_s_dossiers_in_order_of_receipt_with_sets_address_phone_and_officer() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    // The number of sets is recorded at reception, 1 to 99 (1 by default).
    for (sets, why) in [(json!(0), "no sets"), (json!(100), "too many"), (json!("two"), "not a number")] {
        let mut req = dossier_request("2.000720", 9);
        req["sets"] = sets;
        let a = node.receive(&req);
        assert_eq!(a.status, 422, "{why}: {a:?}");
    }
    assert_eq!(node.total_dossiers(), 0, "refused receptions store nothing");
    let mut codes = Vec::new();
    for (n, sets) in [(1, None), (2, Some(2)), (3, Some(3))] {
        let mut req = dossier_request("2.000720", n);
        if let Some(s) = sets {
            req["sets"] = json!(s);
        }
        let a = node.receive(&req);
        assert_eq!(a.status, 201, "{a:?}");
        assert_eq!(a.body["sets"], sets.unwrap_or(1));
        codes.push(a.body["code"].as_str().unwrap().to_string());
    }
    let received =
        node.get(&format!("/api/v1/dossiers/{}", codes[0])).body["received_at"].as_str().unwrap().to_string();
    let day = &received[..10];
    // From the day of the first receipt to today (the default end).
    let book = node.get(&format!("/api/v1/logbook?from={day}"));
    assert_eq!(book.status, 200, "{book:?}");
    let rows = book.body.as_array().unwrap();
    let listed: Vec<&str> = rows.iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(listed, codes.iter().map(String::as_str).collect::<Vec<_>>(), "in order of receipt");
    assert_eq!(rows[1]["sets"], 2);
    assert_eq!(rows[0]["applicant"]["name"], "Người Thử Mẫu 1");
    assert_eq!(rows[0]["applicant"]["address"], "Thôn Thử Nghiệm");
    assert_eq!(rows[0]["applicant"]["phone"], "0900000000");
    assert_eq!(rows[0]["receiving_unit"], "99001");
    assert_eq!(rows[0]["received_by"], "admin");
    assert!(rows[0]["due_at"].is_string() && rows[0]["returned_at"].is_null());
    // By default the book is today's, in the province's time (UTC+7).
    let today_book = node.get("/api/v1/logbook").body;
    let local_today = (chrono::Utc::now() + chrono::Duration::hours(7)).format("%Y-%m-%d").to_string();
    let received_today: Vec<&serde_json::Value> =
        rows.iter().filter(|r| r["received_at"].as_str().unwrap().starts_with(&local_today)).collect();
    assert_eq!(today_book.as_array().unwrap().iter().collect::<Vec<_>>(), received_today);
    assert_eq!(node.get("/api/v1/logbook?from=2001-01-01&to=2001-01-31").body, json!([]));
    for (q, field) in [("from=2001-02-30", "from"), ("from=2001-02-02&to=2001-02-01", "from"), ("to=yesterday", "to")] {
        let a = node.get(&format!("/api/v1/logbook?{q}"));
        assert_eq!((a.status, a.body["error"]["field"].as_str()), (422, Some(field)), "{q}: {a:?}");
    }
    let a = node.get("/api/v1/logbook?unit=000.00.12.H99");
    assert_eq!(a.status, 403, "a commune keeps only its own book: {a:?}");
    let specialist = node.officer("chuyenvien", &["specialist"]);
    let a = node.get_as(Some(&specialist), "/api/v1/logbook");
    assert_eq!(a.status, 403, "addresses and phones are the desk's and leaders': {a:?}");
    // An open start: everything up to the end date.
    let last_day = &rows[2]["received_at"].as_str().unwrap()[..10];
    assert_eq!(node.get(&format!("/api/v1/logbook?to={last_day}")).body.as_array().unwrap().len(), 3);
    // The book's audit line is committed before the book is answered.
    let audit = node.get("/api/v1/audit").body;
    assert!(audit.as_array().unwrap().iter().any(|e| e["action"] == "logbook"), "the book's read is audited: {audit}");
}
