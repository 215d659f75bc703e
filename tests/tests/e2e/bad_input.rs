//! Bad input gets a precise error in the documented shape, and nothing is
//! stored.

use motcua_tests::{Node, dossier_request};
use serde_json::json;

#[test]
fn bad_reception_requests_are_refused_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let mut bad_id = dossier_request("2.000720", 1);
    bad_id["applicant"]["id_number"] = json!("12345");
    let mut letters_id = dossier_request("2.000720", 1);
    letters_id["applicant"]["id_number"] = json!("00000000000A");
    let mut no_name = dossier_request("2.000720", 1);
    no_name["applicant"]["name"] = json!("  ");
    let mut bad_channel = dossier_request("2.000720", 1);
    bad_channel["channel"] = json!("fax");
    let mut bad_case = dossier_request("1.012753", 1);
    bad_case["case_code"] = json!("khong-co");
    let mut bad_phone = dossier_request("2.000720", 1);
    bad_phone["applicant"]["phone"] = json!("call me");
    let mut extra = dossier_request("2.000720", 1);
    extra["status"] = json!(10);
    let mut zero_docs = dossier_request("2.000720", 1);
    zero_docs["documents"] = json!([{"name": "Đơn", "original": 0, "copies": 0}]);
    let mut countless_docs = dossier_request("2.000720", 1);
    countless_docs["documents"] = json!([{"name": "Đơn", "original": 4_294_967_295u32, "copies": 1}]);
    #[rustfmt::skip]
    let cases = [
        ("unknown procedure", dossier_request("9.999999", 1), 422, "invalid_value", Some("procedure_code")),
        ("short id number", bad_id, 422, "invalid_value", Some("applicant.id_number")),
        ("id number with a letter", letters_id, 422, "invalid_value", Some("applicant.id_number")),
        ("empty name", no_name, 422, "invalid_value", Some("applicant.name")),
        ("unknown channel", bad_channel, 422, "invalid_value", Some("channel")),
        ("unknown case", bad_case, 422, "invalid_value", Some("case_code")),
        ("bad phone", bad_phone, 422, "invalid_value", Some("applicant.phone")),
        ("unknown field", extra, 422, "invalid_value", None),
        ("document without copies", zero_docs, 422, "invalid_value", Some("documents[0]")),
        ("document with countless originals", countless_docs, 422, "invalid_value", Some("documents[0]")),
        ("missing applicant", json!({"procedure_code": "2.000720", "channel": "direct"}), 422, "invalid_value", None),
        ("wrong type", json!({"procedure_code": 2, "applicant": {}, "channel": "direct"}), 422, "invalid_value", None),
    ];
    for (name, body, status, code, field) in cases {
        let a = node.receive(&body);
        assert_eq!(a.status, status, "{name}: {a:?}");
        assert_eq!(a.body["error"]["code"], code, "{name}: {a:?}");
        assert!(!a.body["error"]["message"].as_str().unwrap().is_empty(), "{name}");
        if let Some(f) = field {
            assert_eq!(a.body["error"]["field"], f, "{name}: {a:?}");
        }
    }
    let a = node.post_raw("/api/v1/dossiers", "application/json", b"{\"procedure_code\": ");
    assert_eq!((a.status, &a.body["error"]["code"]), (400, &json!("malformed_json")), "{a:?}");
    let a = node.post_raw("/api/v1/dossiers", "application/json", b"\xff\xfe");
    assert_eq!(a.status, 400, "{a:?}");
    let mut huge = dossier_request("2.000720", 1);
    huge["applicant"]["address"] = json!("x".repeat(300 * 1024));
    let a = node.receive(&huge);
    assert_eq!((a.status, &a.body["error"]["code"]), (413, &json!("body_too_large")), "{a:?}");
    assert_eq!(node.total_dossiers(), 0, "nothing was stored");
    // The node is still up and takes a good dossier.
    assert_eq!(node.receive(&dossier_request("2.000720", 1)).status, 201);
    assert_eq!(node.total_dossiers(), 1);
}

#[test]
fn bad_action_requests_are_refused_and_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let code = node.receive(&dossier_request("2.000720", 1)).body["code"].as_str().unwrap().to_string();
    let before = node.get(&format!("/api/v1/dossiers/{code}")).body;
    node.act(&code, &json!({"action": "start_processing"}));
    #[rustfmt::skip]
    let cases = [
        ("unknown action", json!({"action": "approve_everything"}), 422),
        ("processed without result", json!({"action": "processed"}), 422),
        ("supplement without missing items", json!({"action": "request_supplement", "reason": "thiếu"}), 422),
        ("supplement without a deadline", json!({"action": "request_supplement", "reason": "thiếu", "missing": "x"}), 422),
        ("supplement deadline in the past", json!({"action": "request_supplement", "reason": "thiếu", "missing": "x", "deadline": "2001-01-01"}), 422),
        ("transfer without unit", json!({"action": "transfer"}), 422),
        ("transfer to a bad unit", json!({"action": "transfer", "to_unit": "phòng A"}), 422),
        ("reappoint with a bad date", json!({"action": "reappoint", "new_due_at": "mai", "reason": "x"}), 422),
        ("reappoint earlier", json!({"action": "reappoint", "new_due_at": "2001-01-02", "reason": "x"}), 422),
        ("reappoint beyond the year 2999", json!({"action": "reappoint", "new_due_at": "3500-01-01", "reason": "x"}), 422),
        ("supplement deadline far away", json!({"action": "request_supplement", "reason": "thiếu", "missing": "x", "deadline": "9999-12-31T08:00:00Z"}), 422),
        ("action of wrong type", json!({"action": 5}), 422),
    ];
    // The desk asks for a supplement directly while the dossier is still at
    // reception (2); from 4 only after a draft was approved.
    let at_desk = node.receive(&dossier_request("2.000720", 2)).body["code"].as_str().unwrap().to_string();
    let draft = json!({"action": "draft_supplement", "reason": "thiếu"});
    let a = node.act(&code, &draft);
    assert_eq!((a.status, a.body["error"]["field"].as_str()), (422, Some("missing")), "{a:?}");
    for (name, body, status) in cases {
        let on = if body["action"] == "request_supplement" { &at_desk } else { &code };
        let a = node.act(on, &body);
        assert_eq!(a.status, status, "{name}: {a:?}");
        assert!(a.body["error"]["code"].is_string(), "{name}: {a:?}");
    }
    let a = node.act("000.00.01.H99-991231-9999", &json!({"action": "start_processing"}));
    assert_eq!((a.status, &a.body["error"]["code"]), (404, &json!("not_found")));
    assert_eq!(node.get("/api/v1/dossiers/not-a-code").status, 404);
    assert_eq!(node.get("/api/v1/nothing-here").status, 404);
    let untouched = node.get(&format!("/api/v1/dossiers/{at_desk}")).body;
    assert_eq!((untouched["state"].as_u64(), untouched["history"].as_array().unwrap().len()), (Some(2), 1));
    let after = node.get(&format!("/api/v1/dossiers/{code}")).body;
    assert_eq!(after["state"], 4);
    assert_eq!(after["history"].as_array().unwrap().len(), before["history"].as_array().unwrap().len() + 1);
}

#[test]
fn bad_query_parameters_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    for path in [
        "/api/v1/dossiers?state=11",
        "/api/v1/dossiers?state=x",
        "/api/v1/dossiers?limit=0",
        "/api/v1/dossiers?limit=100000",
        "/api/v1/dossiers?overdue=maybe",
        "/api/v1/stats?from=2025-13-01",
        "/api/v1/stats?from=2025-12-01&to=2025-11-01",
    ] {
        let a = node.get(path);
        assert_eq!(a.status, 422, "{path}: {a:?}");
        assert_eq!(a.body["error"]["code"], "invalid_value", "{path}");
    }
    // Every refusal of the API comes in its error shape: a path segment
    // that is not UTF-8, a repeated parameter, a method a route lacks.
    let a = node.get("/api/v1/dossiers/%FF");
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (400, Some("bad_path")), "{a:?}");
    let a = node.post_raw("/api/v1/accounts/%C3%28/disable", "application/json", b"{}");
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (400, Some("bad_path")), "{a:?}");
    let a = node.post_raw("/api/v1/catalog?version=a&version=b", "application/json", b"{}");
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (400, Some("bad_query")), "{a:?}");
    let a = node.post("/api/v1/stats", &json!({}));
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (405, Some("method_not_allowed")), "{a:?}");
    let a = node.get("/api/v1/stats?unit=12345");
    assert_eq!(a.status, 403, "a commune reports only on itself: {a:?}");
    let a = node.get("/api/v1/stats?unit=99001&from=2025-01-01&to=2099-12-31");
    assert_eq!(a.status, 200, "{a:?}");
}

#[test]
fn bad_calendars_are_refused_and_the_node_keeps_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let held = node.get("/api/v1/calendar").body["version"].clone();
    let calendar = |offset: i64| {
        json!({
            "version": "lich-thu", "utc_offset_minutes": offset, "windows": ["07:00-11:30", "13:30-17:00"],
            "holidays": [], "make_up_days": []
        })
        .to_string()
    };
    for (name, body, status, code) in [
        ("an offset beyond a day", calendar(1440).into_bytes(), 422, "invalid_calendar"),
        ("an offset no place uses", calendar(-900).into_bytes(), 422, "invalid_calendar"),
        ("not JSON", b"{\"version\": ".to_vec(), 422, "invalid_calendar"),
        ("not UTF-8", b"{\"version\": \"\xff\"}".to_vec(), 400, "malformed_json"),
    ] {
        let a = node.post_raw("/api/v1/calendar", "application/json", &body);
        assert_eq!((a.status, a.body["error"]["code"].as_str()), (status, Some(code)), "{name}: {a:?}");
    }
    assert_eq!(node.get("/api/v1/calendar").body["version"], held, "the calendar held is kept");
    // Appointments still render: the node took none of them.
    let a = node.receive(&dossier_request("2.000720", 1));
    assert_eq!(a.status, 201, "{a:?}");
    assert!(a.body["due_at"].as_str().is_some_and(|d| d.ends_with("+07:00")), "{a:?}");
    assert_eq!(node.post_raw("/api/v1/calendar", "application/json", calendar(420).as_bytes()).status, 200);
}

#[test]
fn bad_account_requests_are_refused_and_create_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let held = node.get("/api/v1/accounts").body;
    let account = |username: &str, password: &str, roles: serde_json::Value| json!({"username": username, "password": password, "full_name": "Cán bộ Thử", "roles": roles});
    let mut long_name = account("canbo.thu", "mat-khau-can-bo-thu", json!(["receptionist"]));
    long_name["full_name"] = json!("A".repeat(201));
    #[rustfmt::skip]
    let cases = [
        ("short username", account("ab", "mat-khau-can-bo-thu", json!(["receptionist"])), 422, "invalid_value", Some("username")),
        ("upper-case username", account("CanBo", "mat-khau-can-bo-thu", json!(["receptionist"])), 422, "invalid_value", Some("username")),
        ("short password", account("canbo.thu", "ngan", json!(["receptionist"])), 422, "password_too_short", Some("password")),
        ("14 characters", account("canbo.thu", "mat-khau-ngan1", json!(["receptionist"])), 422, "password_too_short", Some("password")),
        ("overlong password", account("canbo.thu", &"x".repeat(257), json!(["receptionist"])), 422, "password_too_long", Some("password")),
        ("common password in capitals", account("canbo.thu", "QwertyUIOP12345", json!(["receptionist"])), 422, "password_common", Some("password")),
        ("common word with digits added", account("canbo.thu", "Matkhau@123456789", json!(["receptionist"])), 422, "password_common", Some("password")),
        ("the username", account("canbo.thu", "CanBo.Thu-2026-2027", json!(["receptionist"])), 422, "password_common", Some("password")),
        ("unknown role", account("canbo.thu", "mat-khau-can-bo-thu", json!(["boss"])), 422, "invalid_value", Some("roles")),
        ("no role", account("canbo.thu", "mat-khau-can-bo-thu", json!([])), 422, "invalid_value", Some("roles")),
        ("overlong full name", long_name, 422, "invalid_value", Some("full_name")),
        ("an account that exists", account("admin", "mat-khau-can-bo-thu", json!(["admin"])), 409, "exists", None),
        ("no username", json!({"password": "mat-khau-can-bo-thu", "roles": ["admin"]}), 422, "invalid_value", None),
    ];
    for (name, body, status, code, field) in cases {
        let a = node.post("/api/v1/accounts", &body);
        assert_eq!((a.status, a.body["error"]["code"].as_str()), (status, Some(code)), "{name}: {a:?}");
        if let Some(f) = field {
            assert_eq!(a.body["error"]["field"], f, "{name}: {a:?}");
        }
    }
    assert_eq!(node.get("/api/v1/accounts").body, held, "no account was created or changed");
    let a = node.post("/api/v1/accounts", &account("canbo.thu", "mat-khau-can-bo-thu", json!(["receptionist"])));
    assert_eq!(a.status, 201, "{a:?}");
}
