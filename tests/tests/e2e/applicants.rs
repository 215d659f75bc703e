//! Applicants that are organizations, and the person who submits for them
//! (CONTRACT.md "Applicants that are organizations, and representatives";
//! form 01 of Thông tư 03/2025/TT-VPCP).

use motcua_tests::Node;
use serde_json::{Value, json};

fn organization_request() -> Value {
    json!({
        "procedure_code": "1.012753",
        "case_code": "to-chuc",
        "applicant": {
            "kind": "organization",
            "name": "Công ty Thử Mẫu 1",
            "id_number": "9000000001",
            "phone": "0900000001",
            "address": "Thôn Thử Nghiệm"
        },
        "representative": {"name": "Người Thử Mẫu 2", "id_number": "900000000002", "phone": "0900000002"},
        "documents": [
            {"name": "Đơn đăng ký", "original": 1, "copies": 0},
            {"name": "Giấy chứng nhận đăng ký doanh nghiệp", "original": 0, "copies": 1, "certified": 1}
        ],
        "collection": "post",
        "channel": "direct"
    })
}

#[test]
fn an_organization_with_a_representative_is_received_viewed_and_found() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let a = node.receive(&organization_request());
    assert_eq!(a.status, 201, "{a:?}");
    let code = a.body["code"].as_str().unwrap().to_string();

    let d = node.get(&format!("/api/v1/dossiers/{code}")).body;
    assert_eq!(d["applicant"]["kind"], "organization");
    assert_eq!(d["applicant"]["id_kind"], "tax_code");
    assert_eq!(d["applicant"]["name"], "Công ty Thử Mẫu 1");
    assert_eq!(d["applicant"]["id_number"], "9000000001");
    assert_eq!(d["representative"]["name"], "Người Thử Mẫu 2");
    assert_eq!(d["representative"]["id_number"], "900000000002");
    assert_eq!(d["representative"]["phone"], "0900000002");
    assert_eq!(d["applicant"]["representative"], d["representative"]);
    assert_eq!(d["collection"], "post");
    assert_eq!(d["documents"][1]["certified"], 1);
    assert_eq!((&d["documents"][1]["copies"], &d["documents"][1]["original"]), (&json!(1), &json!(0)));
    let year: u64 = d["received_at"].as_str().unwrap()[..4].parse().unwrap();
    assert_eq!(d["logbook"], json!({"volume": year, "number": 1}));

    // A citizen's dossier after it takes the next line of the year's book,
    // and reads as a citizen with a card, collected at the desk.
    let c = node.receive(&motcua_tests::dossier_request("2.000720", 3));
    assert_eq!(c.status, 201, "{c:?}");
    assert_eq!(c.body["logbook"]["number"], 2);
    assert_eq!((&c.body["applicant"]["kind"], &c.body["applicant"]["id_kind"]), (&json!("citizen"), &json!("cccd")));
    assert_eq!((&c.body["collection"], &c.body["representative"]), (&json!("desk"), &Value::Null));

    for q in ["9000000001", "cong%20ty%20thu"] {
        let found = node.get(&format!("/api/v1/dossiers?q={q}"));
        assert_eq!(found.status, 200, "{found:?}");
        let codes: Vec<&str> = found.body.as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
        assert_eq!(codes, [code.as_str()], "q={q}");
    }

    // The logbook (form 07) carries the line number.
    let day = &d["received_at"].as_str().unwrap()[..10];
    let book = node.get(&format!("/api/v1/logbook?from={day}&to={day}"));
    assert_eq!(book.status, 200, "{book:?}");
    assert_eq!(book.body[0]["logbook"]["number"], 1, "{book:?}");
}

#[test]
fn bad_applicants_are_refused_with_their_field_and_store_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let with = |path: &[&str], value: Value| {
        let mut r = organization_request();
        let mut at = &mut r;
        for p in &path[..path.len() - 1] {
            at = &mut at[*p];
        }
        at[path[path.len() - 1]] = value;
        r
    };
    #[rustfmt::skip]
    let cases = [
        ("tax code of 11 digits", with(&["applicant", "id_number"], json!("90000000011")), "applicant.id_number"),
        ("unknown kind", with(&["applicant", "kind"], json!("company")), "applicant.kind"),
        ("representative with a bad id", with(&["representative", "id_number"], json!("9000")), "representative.id_number"),
        ("representative without a name", with(&["representative", "name"], json!(" ")), "representative.name"),
        ("unknown collection", with(&["collection"], json!("home")), "collection"),
        ("a citizen with a tax code", with(&["applicant", "kind"], json!("citizen")), "applicant.id_number"),
    ];
    for (name, body, field) in cases {
        let a = node.receive(&body);
        assert_eq!(a.status, 422, "{name}: {a:?}");
        assert_eq!(a.body["error"]["code"], "invalid_value", "{name}: {a:?}");
        assert_eq!(a.body["error"]["field"], field, "{name}: {a:?}");
    }
    assert_eq!(node.total_dossiers(), 0, "nothing was stored");
    assert_eq!(node.receive(&organization_request()).status, 201);
    assert_eq!(node.total_dossiers(), 1);
}
