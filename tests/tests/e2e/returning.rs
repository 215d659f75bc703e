//! The end of a dossier at the desk: the result recorded as a document,
//! returned by post with its waybill, and the citizen's rating at return
//! (Quyết định 766/QĐ-TTg), counted in the statistics with the visits the
//! citizen had to come back for.

use motcua_tests::{Node, dossier_request};
use serde_json::{Value, json};

fn received(node: &Node, n: u32) -> (String, String) {
    let d = node.receive(&dossier_request("1.009994", n));
    assert_eq!(d.status, 201, "{d:?}");
    let id = d.body["applicant"]["id_number"].as_str().unwrap().to_string();
    (d.body["code"].as_str().unwrap().to_string(), id[id.len() - 4..].to_string())
}

fn result_document() -> Value {
    json!({"type": "Giấy phép xây dựng", "number": "125/GPXD", "signer": "Người Ký Thử", "issuer": "UBND Xã Thử Nghiệm", "signed_on": "2026-12-01"})
}

#[test]
fn a_result_document_is_returned_by_post_and_rated_once_by_the_citizen() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let (code, last4) = received(&node, 1);
    assert_eq!(node.act(&code, &json!({"action": "start_processing"})).status, 200);
    // A result document with a field missing or malformed changes nothing.
    for (field, value, path) in [
        ("signer", json!(" "), "result_document.signer"),
        ("signed_on", json!("01/12/2026"), "result_document.signed_on"),
        ("number", json!("a\nb"), "result_document.number"),
    ] {
        let mut doc = result_document();
        doc[field] = value;
        let a = node.act(&code, &json!({"action": "processed", "result": "Giấy phép", "result_document": doc}));
        assert_eq!((a.status, a.body["error"]["field"].as_str()), (422, Some(path)), "{a:?}");
    }
    let a = node.act(&code, &json!({"action": "processed", "result": "Giấy phép", "result_document": {"type": "x"}}));
    assert!(matches!(a.status, 400 | 422), "{a:?}");
    let d = node.act(
        &code,
        &json!({"action": "processed", "result": "Giấy phép xây dựng", "result_document": result_document()}),
    );
    assert_eq!(d.status, 200, "{d:?}");
    assert_eq!(d.body["result_document"], result_document());

    // Rating before the return is refused; so is a return by post without
    // its waybill, or a waybill at the desk.
    let rate = |body: Value| node.post_as(Some(""), "/api/v1/rate", &body);
    let a = rate(json!({"code": code, "id_last4": last4, "rating": "satisfied"}));
    assert_eq!(a.status, 409, "{a:?}");
    for (body, field) in [
        (json!({"action": "return_result", "delivery": "post"}), "waybill"),
        (json!({"action": "return_result", "delivery": "post", "waybill": "EB 12"}), "waybill"),
        (json!({"action": "return_result", "waybill": "EB123456789VN"}), "waybill"),
        (json!({"action": "return_result", "delivery": "courier"}), "delivery"),
    ] {
        let a = node.act(&code, &body);
        assert_eq!((a.status, a.body["error"]["field"].as_str()), (422, Some(field)), "{body}: {a:?}");
    }
    let d = node.act(&code, &json!({"action": "return_result", "delivery": "post", "waybill": "EB123456789VN"}));
    assert_eq!(d.status, 200, "{d:?}");
    assert_eq!((d.body["delivery"].as_str(), d.body["waybill"].as_str()), (Some("post"), Some("EB123456789VN")));

    // The citizen rates it, with no login: bad ratings change nothing.
    for (body, status) in [
        (json!({"code": code, "id_last4": last4, "rating": "great"}), 422),
        (json!({"code": code, "id_last4": last4, "rating": "not_satisfied"}), 422),
        (
            json!({"code": code, "id_last4": last4, "rating": "not_satisfied", "reasons": ["Không có trong danh sách"]}),
            422,
        ),
        (json!({"code": code, "id_last4": last4, "rating": "satisfied", "reasons": ["Giải quyết chậm, trễ hẹn"]}), 422),
        (json!({"code": code, "id_last4": "0000", "rating": "satisfied"}), 404),
        (json!({"code": code, "rating": "satisfied"}), 422),
    ] {
        assert_eq!(rate(body.clone()).status, status, "{body}");
    }
    assert_eq!(node.get(&format!("/api/v1/dossiers/{code}")).body["rating"], Value::Null);
    let a = rate(json!({"code": code.to_lowercase(), "id_last4": last4, "rating": "not_satisfied",
        "reasons": ["Phải đi lại nhiều lần để bổ sung hồ sơ"], "comment": "Phải chờ lâu"}));
    assert_eq!(a.status, 201, "{a:?}");
    let d = node.get(&format!("/api/v1/dossiers/{code}")).body;
    assert_eq!(d["rating"]["rating"], "not_satisfied");
    let last = d["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["action"].as_str(), last["officer"].as_str()), (Some("rate_satisfaction"), Some("citizen")));
    assert_eq!(last["reason"], "Phải đi lại nhiều lần để bổ sung hồ sơ\nPhải chờ lâu");
    assert_eq!(d["state"], 10, "a rating changes no state");
    // Once per dossier.
    let again = rate(json!({"code": code, "id_last4": last4, "rating": "very_satisfied"}));
    assert_eq!(again.status, 409, "{again:?}");
    // Officers do not rate for the citizen through the actions route.
    assert_eq!(node.act(&code, &json!({"action": "rate_satisfaction"})).status, 422);
}

#[test]
fn ratings_and_visits_back_appear_in_the_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let mut codes = Vec::new();
    for n in 1..=3 {
        let (code, last4) = received(&node, n);
        if n == 3 {
            // The citizen is asked for a supplement once, and comes back.
            let a = node.act(&code, &json!({"action": "request_supplement", "reason": "Thiếu bản vẽ", "missing": ["Bản vẽ"], "deadline": "2099-01-05"}));
            assert_eq!(a.status, 200, "{a:?}");
            assert_eq!(node.act(&code, &json!({"action": "supplement_received"})).status, 200);
        }
        for step in [
            json!({"action": "start_processing"}),
            json!({"action": "processed", "result": "Giấy phép"}),
            json!({"action": "return_result"}),
        ] {
            assert_eq!(node.act(&code, &step).status, 200);
        }
        codes.push((code, last4));
    }
    for ((code, last4), rating) in codes.iter().zip(["very_satisfied", "satisfied"]) {
        let a = node.post_as(Some(""), "/api/v1/rate", &json!({"code": code, "id_last4": last4, "rating": rating}));
        assert_eq!(a.status, 201, "{a:?}");
    }
    let s = node.get("/api/v1/stats").body;
    assert_eq!(
        s["satisfaction"],
        json!({"very_satisfied": 1, "satisfied": 1, "not_satisfied": 0, "satisfied_share": 1.0}),
        "{s}"
    );
    assert_eq!(s["came_back"], json!({"returned": 3, "dossiers": 1, "visits": 1}), "{s}");
    // A period before any of it counts nothing.
    let old = node.get("/api/v1/stats?from=2001-01-01&to=2001-12-31").body;
    assert_eq!(old["satisfaction"]["very_satisfied"], 0);
    assert_eq!(old["satisfaction"]["satisfied_share"], Value::Null);
}

#[test]
fn a_malformed_rating_never_clears_the_count_of_wrong_id_suffixes() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let (code, last4) = received(&node, 1);
    let rate = |body: Value| node.post_as(Some(""), "/api/v1/rate", &body);
    for wrong in ["1111", "2222", "3333", "4444"] {
        assert_eq!(rate(json!({"code": code, "id_last4": wrong, "rating": "satisfied"})).status, 404);
    }
    // Refused before any lookup: neither a guess nor a success.
    assert_eq!(rate(json!({"code": code, "id_last4": last4, "rating": "great"})).status, 422);
    assert_eq!(rate(json!({"code": code, "id_last4": "5555", "rating": "satisfied"})).status, 404);
    let locked = node.get_as(Some(""), &format!("/api/v1/track?code={code}&id_last4={last4}"));
    assert_eq!((locked.status, locked.body["error"]["code"].as_str()), (429, Some("too_many_attempts")), "{locked:?}");
}
