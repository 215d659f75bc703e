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
