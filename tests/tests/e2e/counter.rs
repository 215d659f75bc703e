//! Counter work before receipt (hướng dẫn, từ chối tiếp nhận: forms 02
//! and 03, no dossier received) and the end of an accepted dossier that
//! cannot go on: stopped (8) with form 05, never "not accepted" (3).

use motcua_tests::{Node, dossier_request};
use serde_json::{Value, json};

fn stats(node: &Node) -> Value {
    let a = node.get("/api/v1/stats");
    assert_eq!(a.status, 200, "{a:?}");
    a.body
}

/// An accepted dossier waiting for a supplement whose deadline passed is
/// not refused (state 3 is for dossiers never accepted) but stopped, with
/// the reason and legal basis that form 05 prints; an online one never
/// accepted is still refused.
#[test]
fn an_accepted_dossier_past_its_supplement_deadline_is_stopped_not_refused() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let deadline = || (chrono::Utc::now() + chrono::Duration::seconds(2)).to_rfc3339();
    let supplement = || json!({"action": "request_supplement", "reason": "Thiếu giấy tờ", "missing": ["Bản sao giấy tờ thử"], "deadline": deadline()});
    let before = stats(&node);
    let accepted = node.receive(&dossier_request("2.000720", 31)).body["code"].as_str().unwrap().to_string();
    let a = node.act(&accepted, &supplement());
    assert_eq!(a.body["state"], 5, "{a:?}");
    let mut online_req = dossier_request("2.000720", 32);
    online_req["channel"] = json!("online");
    let online = node.receive(&online_req).body["code"].as_str().unwrap().to_string();
    assert_eq!(node.act(&online, &supplement()).body["state"], 5);
    // Waiting for a supplement before the desk accepted it, the online
    // submission is not received (DOMAIN.md "Statistics").
    let waiting = stats(&node)["received"].as_u64().unwrap();
    assert_eq!(waiting, before["received"].as_u64().unwrap() + 1, "only the accepted one was received");
    let stop = json!({
        "action": "stop",
        "reason": "Quá hạn bổ sung hồ sơ mà người nộp không bổ sung",
        "legal_basis": "Điều 19 Nghị định 61/2018/NĐ-CP (sửa đổi bởi Nghị định 107/2021/NĐ-CP)",
    });
    // Before the deadline neither ends.
    let early = node.act(&accepted, &stop);
    assert_eq!(early.status, 409, "{early:?}");
    std::thread::sleep(std::time::Duration::from_millis(2_500));
    let refused = node.act(&accepted, &json!({"action": "refuse", "reason": "Quá hạn bổ sung"}));
    assert_eq!(refused.status, 409, "{refused:?}");
    assert_eq!(refused.body["error"]["code"], "invalid_state");
    assert!(refused.body["error"]["message"].as_str().unwrap().contains("stops it (8)"), "{refused:?}");
    let d = node.get(&format!("/api/v1/dossiers/{accepted}")).body;
    assert_eq!(d["state"], 5, "the refused refusal left no trace");
    let offered: Vec<&str> = d["allowed_actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap()).collect();
    assert!(offered.contains(&"stop") && !offered.contains(&"refuse"), "{offered:?}");
    // A legal basis belongs to a stop only.
    let stray = node.act(&accepted, &json!({"action": "supplement_received", "legal_basis": "x"}));
    assert_eq!((stray.status, stray.body["error"]["field"].as_str()), (422, Some("legal_basis")), "{stray:?}");
    let stopped = node.act(&accepted, &stop);
    assert_eq!(stopped.status, 200, "{stopped:?}");
    assert_eq!(stopped.body["state"], 8);
    let last = stopped.body["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "stop");
    assert_eq!(last["reason"], stop["reason"]);
    assert_eq!(last["legal_basis"], stop["legal_basis"]);
    // The online dossier, never accepted: refused (3), not stopped.
    let not_stopped = node.act(&online, &stop);
    assert_eq!(not_stopped.status, 409, "{not_stopped:?}");
    assert!(not_stopped.body["error"]["message"].as_str().unwrap().contains("never accepted"));
    let r = node.act(&online, &json!({"action": "refuse", "reason": "Quá hạn bổ sung"}));
    assert_eq!(r.body["state"], 3, "{r:?}");
    let after = stats(&node);
    assert_eq!(after["stopped"], before["stopped"].as_u64().unwrap() + 1);
    assert_eq!(after["refused"], before["refused"].as_u64().unwrap() + 1);
    let received = before["received"].as_u64().unwrap();
    assert_eq!(after["received"], received + 1, "the stopped dossier was received, the refused one never was");
}

fn guidance_request(kind: &str, n: u32) -> Value {
    let mut g = json!({
        "kind": kind,
        "procedure_code": "2.000720",
        "applicant": {
            "name": format!("Người Thử Hướng Dẫn {n}"),
            "id_number": format!("{:012}", 900_000_100 + n as u64),
            "phone": "0900000001",
            "address": "Thôn Thử Nghiệm",
            "email": "nguoi.thu@example.invalid"
        },
        "note": "Ghi chú thử",
    });
    if kind == "supplement" {
        g["missing"] = json!([{"name": "Bản sao giấy khai sinh thử", "count": 2}, {"name": "Tờ khai thử", "count": 1}]);
        g["reasons"] = json!(["Hồ sơ chưa đủ thành phần"]);
        g["contact_phone"] = json!("0900000002");
    } else {
        g["reasons"] = json!(["Thủ tục không thuộc thẩm quyền của xã", "Người nộp không đủ điều kiện"]);
    }
    g
}

/// A walk-in guided to complete the dossier (form 02), and one refused at
/// the counter (form 03): each leaves a guidance record the desk finds by
/// identity number, name or number, and no dossier received.
#[test]
fn counter_guidance_and_refusal_leave_a_record_and_no_received_dossier() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    node.receive(&dossier_request("2.000720", 1));
    let (dossiers, received) = (node.total_dossiers(), stats(&node)["received"].clone());
    let mut numbers = Vec::new();
    for (n, kind) in [(1, "supplement"), (2, "refusal")] {
        let req = guidance_request(kind, n);
        let a = node.post("/api/v1/guidance", &req);
        assert_eq!(a.status, 201, "{a:?}");
        let number = a.body["number"].as_str().unwrap().to_string();
        assert!(number.starts_with("000.00.01.H99-HD20"), "{number}");
        assert!(!motcua_domain::codes::is_dossier_code(&number), "a guidance number is not a dossier code");
        assert_eq!(a.body["kind"], kind);
        for k in ["name", "id_number", "phone", "address", "email"] {
            assert_eq!(a.body["applicant"][k], req["applicant"][k], "{k}");
        }
        assert_eq!(a.body["applicant"]["kind"], "citizen");
        assert_eq!(a.body["reasons"], req["reasons"]);
        assert_eq!(a.body["procedure_name"].as_str().map(|s| !s.is_empty()), Some(true));
        assert_eq!(a.body["officer"], "admin");
        if kind == "supplement" {
            assert_eq!(a.body["missing"], req["missing"]);
            assert_eq!(a.body["contact_phone"], "0900000002");
        } else {
            assert_eq!(a.body["missing"], json!([]));
        }
        assert!(a.body.get("code").is_none() && a.body.get("state").is_none(), "nothing received: {a:?}");
        numbers.push(number);
    }
    assert_ne!(numbers[0], numbers[1]);
    assert_eq!(node.total_dossiers(), dossiers, "no dossier was created");
    assert_eq!(stats(&node)["received"], received, "nothing counted as received");
    let found = |q: &str| -> Vec<String> {
        let a = node.get(&format!("/api/v1/guidance?q={}", urlencode(q)));
        assert_eq!(a.status, 200, "{a:?}");
        a.body.as_array().unwrap().iter().map(|g| g["number"].as_str().unwrap().to_string()).collect()
    };
    assert_eq!(found("900000101"), Vec::<String>::new(), "an id number matches whole");
    assert_eq!(found("000900000101"), [numbers[0].clone()]);
    assert_eq!(found("nguoi thu huong dan 2"), [numbers[1].clone()], "accents optional");
    assert_eq!(found("Người Thử Hướng"), [numbers[1].clone(), numbers[0].clone()], "newest first");
    assert_eq!(found(""), [numbers[1].clone(), numbers[0].clone()], "the recent ones");
    assert_eq!(found(&numbers[0]), [numbers[0].clone()]);
    let one = node.get(&format!("/api/v1/guidance/{}", numbers[1]));
    assert_eq!(one.status, 200, "{one:?}");
    assert_eq!(one.body["kind"], "refusal");
    assert_eq!(node.get("/api/v1/guidance/000.00.01.H99-HD2000-00009").status, 404);
    // Not a dossier either.
    assert_eq!(node.get(&format!("/api/v1/dossiers?q={}", "000900000101")).total, Some(0));
    // Audited: the records given and read, never the searched name or number.
    let audit = node.get("/api/v1/audit").body;
    let lines: Vec<(String, String)> = audit
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["action"].as_str().unwrap().to_string(), l["dossier"].as_str().unwrap().to_string()))
        .collect();
    assert!(lines.contains(&("guidance_supplement".into(), numbers[0].clone())), "{lines:?}");
    assert!(lines.contains(&("guidance_refusal".into(), numbers[1].clone())), "{lines:?}");
    assert!(lines.contains(&("guidance_read".into(), numbers[1].clone())), "{lines:?}");
    assert!(lines.contains(&("guidance_search".into(), "by name limit=50: 2 rows".into())), "{lines:?}");
    assert!(!audit.to_string().contains("000900000101") && !audit.to_string().contains("Hướng Dẫn"));
    // A specialist does not work the counter.
    let specialist = node.officer("chuyenvien", &["specialist"]);
    let a = node.post_as(Some(&specialist), "/api/v1/guidance", &guidance_request("supplement", 3));
    assert_eq!(a.status, 403, "{a:?}");
    assert_eq!(node.get_as(Some(&specialist), "/api/v1/guidance").status, 403);
    let receptionist = node.officer("tiepnhan", &["receptionist"]);
    let a = node.post_as(Some(&receptionist), "/api/v1/guidance", &guidance_request("supplement", 4));
    assert_eq!(a.status, 201, "{a:?}");
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }
        })
        .collect()
}

/// Each bad value is a 422 naming its field, and nothing is stored.
#[test]
fn bad_guidance_is_refused_with_its_field_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let set = |kind: &str, path: &[&str], value: Value| {
        let mut g = guidance_request(kind, 9);
        let mut at = &mut g;
        for p in &path[..path.len() - 1] {
            at = if let Ok(i) = p.parse::<usize>() { &mut at[i] } else { &mut at[*p] };
        }
        let last = path[path.len() - 1];
        if value.is_null() {
            at.as_object_mut().unwrap().remove(last);
        } else {
            at[last] = value;
        }
        g
    };
    let cases: Vec<(Value, &str)> = vec![
        (set("supplement", &["kind"], json!("advice")), "kind"),
        (set("supplement", &["procedure_code"], json!("9.999999")), "procedure_code"),
        (set("supplement", &["applicant", "name"], json!("  ")), "applicant.name"),
        (set("supplement", &["applicant", "id_number"], json!("12345")), "applicant.id_number"),
        (set("refusal", &["applicant", "id_number"], json!("90000000A001")), "applicant.id_number"),
        (
            {
                let mut g = guidance_request("refusal", 9);
                g["applicant"]["kind"] = json!("organization");
                g["applicant"]["id_number"] = json!("900000000");
                g
            },
            "applicant.id_number",
        ),
        (set("supplement", &["applicant", "phone"], json!("09")), "applicant.phone"),
        (set("supplement", &["applicant", "email"], json!("khong-phai-thu")), "applicant.email"),
        (set("supplement", &["missing"], json!([])), "missing"),
        (set("supplement", &["missing"], Value::Null), "missing"),
        (set("supplement", &["missing", "0", "count"], json!(0)), "missing[0].count"),
        (set("supplement", &["missing", "1", "count"], json!(101)), "missing[1].count"),
        (set("supplement", &["missing", "0", "name"], json!("")), "missing[0].name"),
        (set("supplement", &["contact_phone"], json!("abc")), "contact_phone"),
        (set("supplement", &["note"], json!("x".repeat(2_001))), "note"),
        (set("refusal", &["reasons"], json!([])), "reasons"),
        (set("refusal", &["reasons"], json!(["Lý do", " "])), "reasons[1]"),
        (set("refusal", &["missing"], json!([{"name": "Giấy thử", "count": 1}])), "missing"),
        (set("refusal", &["reasons"], json!(vec!["Lý do"; 51])), "reasons"),
    ];
    for (body, field) in cases {
        let a = node.post("/api/v1/guidance", &body);
        assert_eq!(a.status, 422, "{field}: {a:?}");
        assert_eq!(a.body["error"]["field"], field, "{a:?}");
        assert!(!a.body["error"]["message"].as_str().unwrap().is_empty());
    }
    let unknown = node.post("/api/v1/guidance", &set("supplement", &["deadline"], json!("2099-01-01")));
    assert!(matches!(unknown.status, 400 | 422), "an unknown field is refused: {unknown:?}");
    let a = node.get("/api/v1/guidance?limit=0");
    assert_eq!((a.status, a.body["error"]["field"].as_str()), (422, Some("limit")), "{a:?}");
    let a = node.get("/api/v1/guidance");
    assert_eq!(a.body, json!([]), "nothing was stored");
    assert_eq!(node.total_dossiers(), 0);
}
