//! A supplement request after receipt goes through the one-stop desk
//! (Nghị định 61/2018/NĐ-CP art. 19, as amended by Nghị định
//! 107/2021/NĐ-CP): the agency processing a transferred dossier drafts it,
//! its leader approves, the commune's desk issues form 02. Real nodes
//! syncing through the province on loopback.

use motcua_tests::{Node, Province, dossier_request, eventually};
use serde_json::{Value, json};

const COMMUNE: &str = "26734";
const AGENCY: &str = "000.00.12.H56";

fn last_action(node: &Node, code: &str) -> String {
    let d = node.get(&format!("/api/v1/dossiers/{code}")).body;
    d["history"].as_array().and_then(|h| h.last()).map_or(String::new(), |e| e["action"].as_str().unwrap().to_string())
}

fn offers(node: &Node, token: &str, code: &str, action: &str) -> bool {
    let d = node.get_as(Some(token), &format!("/api/v1/dossiers/{code}")).body;
    d["allowed_actions"].as_array().unwrap().iter().any(|a| a == action)
}

#[test]
fn an_agency_drafts_a_supplement_its_leader_approves_and_the_desk_issues_it() {
    let p = Province::new();
    let a_dir = p.enroll("commune", COMMUNE, "000.21.45.H56", "xa-a");
    let agency_dir = p.enroll("agency", AGENCY, AGENCY, "so");
    let _tinh = p.start();
    let commune = p.start_member(&a_dir);
    let agency = p.start_member(&agency_dir);
    let d = commune.receive(&dossier_request("1.009994", 1));
    assert_eq!(d.status, 201, "{d:?}");
    let code = d.body["code"].as_str().unwrap().to_string();
    assert_eq!(commune.act(&code, &json!({"action": "transfer", "to_unit": AGENCY})).status, 200);
    eventually(60, "the agency holds the transfer", || (last_action(&agency, &code) == "transfer").then_some(()));

    let path = format!("/api/v1/dossiers/{code}/actions");
    let specialist = agency.officer("chuyen-vien", &["specialist"]);
    let leader = agency.officer("lanh-dao", &["leader"]);
    // The agency may not ask the citizen itself.
    let missing = json!(["Bản vẽ hiện trạng công trình", "Bản sao giấy chứng nhận quyền sử dụng đất"]);
    let direct =
        json!({"action": "request_supplement", "reason": "Thiếu bản vẽ", "missing": missing, "deadline": "2099-01-05"});
    assert!(!offers(&agency, &specialist, &code, "request_supplement"));
    let r = agency.post_as(Some(&specialist), &path, &direct);
    assert_eq!(r.status, 403, "{r:?}");
    let r = agency.post_as(Some(&leader), &path, &direct);
    assert!(matches!(r.status, 403 | 409), "{r:?}");
    // Bad drafts change nothing.
    for (body, field) in [
        (json!({"action": "draft_supplement", "reason": "Thiếu bản vẽ"}), "missing"),
        (json!({"action": "draft_supplement", "missing": missing}), "reason"),
        (
            json!({"action": "draft_supplement", "reason": "x", "missing": missing, "deadline": "2099-01-05"}),
            "deadline",
        ),
    ] {
        let r = agency.post_as(Some(&specialist), &path, &body);
        assert_eq!((r.status, r.body["error"]["field"].as_str()), (422, Some(field)), "{body}: {r:?}");
    }
    assert_eq!(last_action(&agency, &code), "transfer");
    // Nothing to approve yet; the specialist drafts, only the leader approves.
    let approve = json!({"action": "approve_supplement"});
    assert_eq!(agency.post_as(Some(&leader), &path, &approve).status, 409);
    let draft = json!({"action": "draft_supplement", "reason": "Thiếu bản vẽ hiện trạng", "missing": missing});
    let r = agency.post_as(Some(&specialist), &path, &draft);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!((r.body["state"].as_u64(), &r.body["supplement_draft"]["approved"]), (Some(4), &json!(false)), "{r:?}");
    assert_eq!(agency.post_as(Some(&specialist), &path, &approve).status, 403);
    // The leader approves the draft shown: one that is not the draft
    // waiting (a stale page) is refused.
    let stale = agency.post_as(Some(&leader), &path, &json!({"action": "approve_supplement", "event_index": 0}));
    assert_eq!(stale.status, 409, "{stale:?}");
    let shown =
        agency.get_as(Some(&leader), &format!("/api/v1/dossiers/{code}")).body["supplement_draft"]["event_index"]
            .clone();
    let r = agency.post_as(Some(&leader), &path, &json!({"action": "approve_supplement", "event_index": shown}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["supplement_draft"]["approved"], true);

    // The commune's desk sees the approved draft and issues form 02 from it.
    let receptionist = commune.officer("tiep-nhan", &["receptionist"]);
    let d: Value = eventually(60, "the approval reaches the commune", || {
        let d = commune.get_as(Some(&receptionist), &format!("/api/v1/dossiers/{code}")).body;
        (d["supplement_draft"]["approved"] == true).then_some(d)
    });
    assert_eq!(d["supplement_draft"]["missing"], missing, "{d}");
    assert!(d["allowed_actions"].as_array().unwrap().iter().any(|a| a == "request_supplement"), "{d}");
    // The desk issues the draft as approved, not another text.
    let changed = json!({"action": "request_supplement", "deadline": "2099-01-05", "missing": ["Giấy tờ khác"]});
    let r = commune.post_as(Some(&receptionist), &path, &changed);
    assert_eq!((r.status, r.body["error"]["field"].as_str()), (422, Some("missing")), "{r:?}");
    let issue = json!({"action": "request_supplement", "deadline": "2099-01-05", "reason": "Thiếu bản vẽ hiện trạng"});
    let r = commune.post_as(Some(&receptionist), &path, &issue);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["state"], 5);
    assert_eq!(r.body["supplement_draft"], Value::Null, "issued, the draft is gone");
    let issued = r.body["history"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((issued["action"].as_str(), issued["unit"].as_str()), (Some("request_supplement"), Some(COMMUNE)));
    assert_eq!(issued["missing"], missing, "form 02 lists what the agency drafted");
    assert_eq!(issued["reason"], "Thiếu bản vẽ hiện trạng");
    eventually(60, "the agency sees the request issued", || {
        (last_action(&agency, &code) == "request_supplement").then_some(())
    });
}
