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

#[test]
fn a_dossier_offers_each_officer_only_the_actions_the_rules_allow() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let d = node.receive(&dossier_request("2.000720", 1)).body;
    let code = d["code"].as_str().unwrap().to_string();
    let allowed = |token: Option<&str>| -> Vec<String> {
        let d = node.get_as(token, &format!("/api/v1/dossiers/{code}")).body;
        d["allowed_actions"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().to_string()).collect()
    };
    let receptionist = node.officer("tiepnhan", &["receptionist"]);
    let specialist = node.officer("chuyenvien", &["specialist"]);
    let r = allowed(Some(&receptionist));
    assert!(r.contains(&"transfer".to_string()) && !r.contains(&"start_processing".to_string()), "{r:?}");
    let s = allowed(Some(&specialist));
    assert!(s.contains(&"start_processing".to_string()) && !s.contains(&"return_result".to_string()), "{s:?}");
    // Each action offered is one the node then takes.
    assert_eq!(node.act(&code, &json!({"action": "start_processing"})).status, 200);
    assert!(!allowed(None).contains(&"start_processing".to_string()), "not twice");
}

#[test]
fn tracking_shows_state_and_appointment_for_the_right_suffix_only() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let d = node.receive(&dossier_request("2.000720", 7)).body;
    let code = d["code"].as_str().unwrap().to_string();
    let id = d["applicant"]["id_number"].as_str().unwrap().to_string();
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
    let d = node.receive(&dossier_request("2.000720", 8)).body;
    let code = d["code"].as_str().unwrap().to_string();
    let id = d["applicant"]["id_number"].as_str().unwrap().to_string();
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
    for n in 0..3 {
        assert_eq!(node.receive(&dossier_request("2.000720", n)).status, 201);
    }
    let today = chrono::Utc::now().with_timezone(&chrono::FixedOffset::east_opt(7 * 3600).unwrap()).format("%Y-%m-%d");
    assert_eq!(node.get(&format!("/api/v1/dossiers?received_from={today}")).total, Some(3));
    assert_eq!(node.get("/api/v1/dossiers?received_from=2999-01-01").total, Some(0));
    let bad = node.get("/api/v1/dossiers?received_from=01/12/2026");
    assert_eq!((bad.status, bad.body["error"]["field"].as_str()), (422, Some("received_from")), "{bad:?}");
    assert_eq!(node.get("/api/v1/dossiers?due_soon=maybe").status, 422);
    // Business household registration takes 3 working days: not within two
    // calendar days of now unless a weekend or holiday is near, so compare
    // with the deadlines themselves.
    let rows = node.get("/api/v1/dossiers?due_soon=true");
    assert_eq!(rows.status, 200);
    let soon = chrono::Utc::now().timestamp_millis() + 2 * 24 * 3600 * 1000;
    let all = node.get("/api/v1/dossiers").body;
    let expected = all
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| {
            chrono::DateTime::parse_from_rfc3339(d["due_at"].as_str().unwrap()).unwrap().timestamp_millis() < soon
        })
        .count();
    assert_eq!(rows.total, Some(expected as u64));
}
