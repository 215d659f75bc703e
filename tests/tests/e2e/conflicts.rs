//! A conflict made by two nodes acting apart, and its resolution: real
//! `motcua serve` processes syncing over iroh on loopback through the
//! province.

use motcua_tests::{Node, Province, dossier_request, eventually};
use serde_json::{Value, json};

const COMMUNE: &str = "26734";
const AGENCY: &str = "000.00.12.H56";

fn dossier(node: &Node, code: &str) -> Value {
    let a = node.get(&format!("/api/v1/dossiers/{code}"));
    assert_eq!(a.status, 200, "{a:?}");
    a.body
}

fn last_action(d: &Value) -> String {
    d["history"].as_array().unwrap().last().unwrap()["action"].as_str().unwrap().to_string()
}

fn conflicts(d: &Value) -> Vec<u64> {
    d["conflicts"].as_array().unwrap().iter().map(|c| c["event_index"].as_u64().unwrap()).collect()
}

fn offers(d: &Value, action: &str) -> bool {
    d["allowed_actions"].as_array().unwrap().iter().any(|a| a == action)
}

#[test]
fn a_conflict_resolved_at_one_node_is_gone_on_both_after_sync() {
    let p = Province::new();
    let a_dir = p.enroll("commune", COMMUNE, "000.21.45.H56", "xa-a");
    let agency_dir = p.enroll("agency", AGENCY, AGENCY, "so");
    let mut tinh = p.start();
    let a = p.start_member(&a_dir);
    let agency = p.start_member(&agency_dir);
    let d = a.receive(&dossier_request("2.000720", 1));
    assert_eq!(d.status, 201, "{d:?}");
    let code = d.body["code"].as_str().unwrap().to_string();
    let t = a.act(&code, &json!({"action": "transfer", "to_unit": AGENCY}));
    assert_eq!(t.status, 200, "{t:?}");
    eventually(60, "the agency holds the transfer", || {
        let r = agency.get(&format!("/api/v1/dossiers/{code}"));
        (r.status == 200 && last_action(&r.body) == "transfer").then_some(())
    });
    assert!(!offers(&dossier(&a, &code), "resolve_conflict"), "no conflict, nothing to resolve");

    // Apart, the commune recalls the dossier and the agency, cut off,
    // records its result: whichever sorts second cannot be applied.
    assert_eq!(tinh.stop(), Some(0));
    let r = a.act(&code, &json!({"action": "recall", "reason": "Chuyển nhầm đơn vị"}));
    assert_eq!(r.status, 200, "{r:?}");
    let r = agency.act(&code, &json!({"action": "processed", "result": "Giấy chứng nhận thử"}));
    assert_eq!(r.status, 200, "{r:?}");
    let _tinh = p.start();
    let on_a = eventually(90, "the conflict at the commune", || {
        let d = dossier(&a, &code);
        (d["history"].as_array().unwrap().len() + conflicts(&d).len() == 4).then_some(d)
    });
    let on_agency = eventually(90, "the conflict at the agency", || {
        let d = dossier(&agency, &code);
        (d["history"].as_array().unwrap().len() + conflicts(&d).len() == 4).then_some(d)
    });
    assert_eq!(conflicts(&on_a), [3], "{on_a}");
    assert_eq!(conflicts(&on_agency), [3], "{on_agency}");
    assert_eq!(on_a["holder_unit"], on_agency["holder_unit"]);

    // A leader of the unit holding it resolves it, at that unit's node.
    let (holder, other) = if on_a["holder_unit"] == COMMUNE { (&a, &agency) } else { (&agency, &a) };
    let leader = holder.officer("lanh-dao", &["leader"]);
    let specialist = holder.officer("chuyen-vien", &["specialist"]);
    let path = format!("/api/v1/dossiers/{code}/actions");
    let as_leader = |body: Value| holder.post_as(Some(&leader), &path, &body);
    assert!(offers(&holder.get_as(Some(&leader), &format!("/api/v1/dossiers/{code}")).body, "resolve_conflict"));
    assert!(!offers(&holder.get_as(Some(&specialist), &format!("/api/v1/dossiers/{code}")).body, "resolve_conflict"));
    let reason = "Hai đơn vị đã thống nhất qua điện thoại";
    let r = holder.post_as(
        Some(&specialist),
        &path,
        &json!({"action": "resolve_conflict", "event_index": 3, "reason": reason}),
    );
    assert_eq!(r.status, 403, "{r:?}");
    for (body, field) in [
        (json!({"action": "resolve_conflict", "event_index": 2, "reason": reason}), "event_index"),
        (json!({"action": "resolve_conflict", "event_index": 99, "reason": reason}), "event_index"),
        (json!({"action": "resolve_conflict", "reason": reason}), "event_index"),
        (json!({"action": "resolve_conflict", "event_index": 3}), "reason"),
        (json!({"action": "resolve_conflict", "event_index": 3, "reason": "  "}), "reason"),
    ] {
        let r = as_leader(body.clone());
        assert_eq!((r.status, r.body["error"]["field"].as_str()), (422, Some(field)), "{body}: {r:?}");
    }
    assert_eq!(conflicts(&dossier(holder, &code)), [3], "refused requests change nothing");
    let r = as_leader(json!({"action": "resolve_conflict", "event_index": 3, "reason": reason}));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(conflicts(&r.body), Vec::<u64>::new(), "{r:?}");
    assert!(!offers(&r.body, "resolve_conflict"));
    assert_eq!(last_action(&r.body), "resolve_conflict");
    assert_eq!(r.body["state"], on_a["state"], "a resolution changes no state");

    // Once synced, it is gone at the other node too.
    eventually(90, "the resolution reaching the other node", || {
        let d = dossier(other, &code);
        (last_action(&d) == "resolve_conflict").then_some(d)
    });
    assert_eq!(conflicts(&dossier(other, &code)), Vec::<u64>::new());
    assert_eq!(conflicts(&dossier(holder, &code)), Vec::<u64>::new());
}
