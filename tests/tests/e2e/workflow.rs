//! Every transition the state table does not allow is refused with 409
//! through the API, and leaves the dossier as it was.

use motcua_tests::{Node, dossier_request};
use serde_json::{Value, json};

/// Every action with every parameter it may need, so that only the state
/// decides.
fn probe(action: &str) -> Value {
    json!({
        "action": action,
        "to_unit": "000.00.12.H99",
        "reason": "Lý do thử",
        "missing": ["Giấy tờ thử"],
        "result": "Kết quả thử",
        "new_due_at": "2099-12-30",
        "deadline": "2099-12-29",
    })
}

const ACTIONS: [&str; 19] = [
    "accept",
    "refuse",
    "start_processing",
    "transfer",
    "request_supplement",
    "supplement_received",
    "request_financial_obligation",
    "financial_obligation_fulfilled",
    "processed",
    "return_result",
    "request_withdrawal",
    "stop",
    "reappoint",
    "return_to_previous",
    "recall",
    "reset_appointment",
    "revoke_result",
    "draft_supplement",
    "approve_supplement",
];

/// Brings a new dossier to a state through allowed actions.
fn dossier_in_state(node: &Node, state: u8, n: u32) -> String {
    let mut req = dossier_request("2.000720", n);
    if matches!(state, 1 | 3) {
        req["channel"] = json!("online");
    }
    let created = node.receive(&req);
    assert_eq!(created.status, 201, "{created:?}");
    let code = created.body["code"].as_str().unwrap().to_string();
    let steps: &[&str] = match state {
        1 | 2 => &[],
        3 => &["refuse"],
        4 => &["start_processing"],
        5 => &["request_supplement"],
        6 => &["start_processing", "request_financial_obligation"],
        7 => &["request_withdrawal"],
        8 => &["start_processing", "stop"],
        9 => &["start_processing", "processed"],
        10 => &["start_processing", "processed", "return_result"],
        _ => unreachable!(),
    };
    for step in steps {
        let a = node.act(&code, &probe(step));
        assert_eq!(a.status, 200, "{step} towards state {state}: {a:?}");
    }
    let d = node.get(&format!("/api/v1/dossiers/{code}")).body;
    assert_eq!(d["state"], state);
    code
}

#[test]
fn every_transition_outside_the_state_table_is_refused() {
    // (state, actions allowed from it) for a procedure that is not same-day,
    // to the admin (who alone may correct: reset_appointment, revoke_result).
    let allowed: [(u8, &[&str]); 10] = [
        (1, &["accept", "refuse", "request_supplement", "request_withdrawal"]),
        (
            2,
            &[
                "start_processing",
                "transfer",
                "request_supplement",
                "request_withdrawal",
                "reappoint",
                "reset_appointment",
            ],
        ),
        (3, &[]),
        (
            4,
            &[
                "transfer",
                // The desk issues a supplement request from 4 only once the
                // processing unit's leader approved its draft.
                "draft_supplement",
                "request_financial_obligation",
                "processed",
                "request_withdrawal",
                "stop",
                "reappoint",
                "reset_appointment",
            ],
        ),
        // Refusal from 5 needs a passed supplement deadline; none was set.
        (5, &["supplement_received", "request_withdrawal", "reappoint", "reset_appointment"]),
        (6, &["financial_obligation_fulfilled", "request_withdrawal", "reappoint", "reset_appointment"]),
        (7, &["stop", "reset_appointment"]),
        (8, &[]),
        (9, &["return_result", "reset_appointment"]),
        (10, &["revoke_result"]),
    ];
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let mut refused = 0;
    for (i, (state, ok)) in allowed.iter().enumerate() {
        let code = dossier_in_state(&node, *state, i as u32);
        let before = node.get(&format!("/api/v1/dossiers/{code}")).body;
        for action in ACTIONS.iter().filter(|a| !ok.contains(a)) {
            let a = node.act(&code, &probe(action));
            assert_eq!(a.status, 409, "{action} from state {state} must be refused: {a:?}");
            assert_eq!(a.body["error"]["code"], "invalid_state");
            assert!(!a.body["error"]["message"].as_str().unwrap().is_empty());
            refused += 1;
        }
        let after = node.get(&format!("/api/v1/dossiers/{code}")).body;
        assert_eq!(before["history"], after["history"], "refused actions leave no trace");
        assert_eq!(after["state"], *state);
    }
    // Nothing was handed over by another unit: no return, no recall.
    assert_eq!(refused, 19 * 10 - 4 - 6 - 8 - 4 - 4 - 2 - 2 - 1);
    // 'receive' is not an action at all.
    let code = dossier_in_state(&node, 2, 99);
    assert_eq!(node.act(&code, &json!({"action": "receive"})).status, 422);
}

#[test]
fn a_transferred_dossier_is_processed_only_by_the_agency_holding_it() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let code = dossier_in_state(&node, 4, 1);
    let a = node.act(&code, &json!({"action": "transfer", "to_unit": "000.00.12.H99"}));
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["holder_unit"], "000.00.12.H99");
    let a = node.act(&code, &json!({"action": "processed", "result": "x"}));
    assert_eq!(a.status, 403, "the commune does not hold it any more: {a:?}");
    assert!(a.body["error"]["message"].as_str().unwrap().contains("000.00.12.H99"));
}

#[test]
fn reappointment_happens_once() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let code = dossier_in_state(&node, 4, 1);
    let a =
        node.act(&code, &json!({"action": "reappoint", "new_due_at": "2099-12-30", "reason": "Chờ xác minh thực địa"}));
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.body["reappointed"], true);
    assert!(a.body["due_at"].as_str().unwrap().starts_with("2099-12-30T17:00:00+07:00"));
    let a = node.act(&code, &json!({"action": "reappoint", "new_due_at": "2099-12-31", "reason": "lần hai"}));
    assert_eq!(a.status, 409, "{a:?}");
    let a = node.act(
        &dossier_in_state(&node, 4, 2),
        &json!({"action": "reappoint", "new_due_at": "2099-12-27", "reason": "Chủ nhật"}),
    );
    assert_eq!(a.status, 422, "a Sunday is no appointment: {a:?}");
}

#[test]
fn each_hand_off_records_the_workflow_step_it_starts_with_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    // A building permit (1.009994): three steps of 1, 12 and 2 working days.
    let created = node.receive(&dossier_request("1.009994", 1));
    assert_eq!(created.status, 201, "{created:?}");
    let code = created.body["code"].as_str().unwrap().to_string();
    let d = node.get(&format!("/api/v1/dossiers/{code}")).body;
    let names: Vec<&str> = d["case_steps"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["Tiếp nhận, kiểm tra hồ sơ", "Thẩm định, kiểm tra thực địa", "Ký duyệt"]);
    assert_eq!(d["next_step"], 1);
    assert_eq!(d["steps"], json!([]));
    // A step out of range, or on an action that starts none, is refused and
    // records nothing.
    for (body, why) in [
        (json!({"action": "start_processing", "step": 0}), "step 0"),
        (json!({"action": "start_processing", "step": 4}), "step 4 of 3"),
        (json!({"action": "request_withdrawal", "step": 1}), "a withdrawal starts no step"),
    ] {
        let a = node.act(&code, &body);
        assert_eq!(a.status, 422, "{why}: {a:?}");
        assert_eq!(a.body["error"]["field"], "step", "{why}: {a:?}");
    }
    assert_eq!(node.get(&format!("/api/v1/dossiers/{code}")).body["history"], d["history"]);
    // By default the first hand-off starts step 1.
    let a = node.act(&code, &json!({"action": "start_processing"}));
    assert_eq!(a.status, 200, "{a:?}");
    let first = &a.body["steps"][0];
    assert_eq!((first["number"].as_u64(), first["time_limit"].as_u64()), (Some(1), Some(1)));
    assert_eq!(first["time_unit"], "working_days");
    assert_eq!(first["unit"], a.body["receiving_unit"]);
    assert_eq!(first["unit_name"], "Xã Thử Nghiệm (demo)", "the unit's name as the node knows it");
    assert_eq!(
        (first["ended_at"].clone(), first["result"].clone(), first["overdue"].clone()),
        (Value::Null, Value::Null, json!(false))
    );
    assert!(first["deadline"].as_str().unwrap() > first["started_at"].as_str().unwrap());
    assert_eq!(a.body["history"].as_array().unwrap().last().unwrap()["step"], 1);
    assert_eq!(a.body["next_step"], 2);
    // The officer may name the step: the transfer starts step 3 at the
    // agency and ends step 1 within its deadline.
    let a = node.act(&code, &json!({"action": "transfer", "to_unit": "000.00.12.H99", "step": 3}));
    assert_eq!(a.status, 200, "{a:?}");
    let steps = a.body["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 2);
    assert_eq!(steps[0]["ended_at"], steps[1]["started_at"]);
    // Judged by local date: the step ended today, and its deadline (one
    // working day on) falls on a later date, or today itself when the
    // hand-off came before the day's working hours.
    let (ended, due) = (&steps[0]["ended_at"].as_str().unwrap()[..10], &steps[0]["deadline"].as_str().unwrap()[..10]);
    assert!(due >= ended, "{steps:?}");
    assert_eq!(steps[0]["result"], if due > ended { "early" } else { "on_time" });
    assert_eq!((steps[1]["number"].as_u64(), steps[1]["unit"].as_str()), (Some(3), Some("000.00.12.H99")));
    assert_eq!(steps[1]["name"], "Ký duyệt");
    assert_eq!((steps[0]["received_by"].as_str(), steps[1]["received_by"].as_str()), (Some("admin"), None));
    assert!(steps[1]["deadline"].as_str().unwrap() > steps[0]["deadline"].as_str().unwrap());
    assert_eq!(a.body["next_step"], 3, "past the last step the default stays on it");
    // A case without steps records none, and naming one is refused.
    let plain = node.receive(&dossier_request("2.000720", 2)).body["code"].as_str().unwrap().to_string();
    let a = node.act(&plain, &json!({"action": "start_processing", "step": 1}));
    assert_eq!((a.status, a.body["error"]["field"].as_str()), (422, Some("step")), "{a:?}");
    let a = node.act(&plain, &json!({"action": "start_processing"}));
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!((a.body["steps"].clone(), a.body["next_step"].clone()), (json!([]), Value::Null));
    // A new catalog without the permit's steps changes nothing for a
    // dossier already received: it keeps the steps it was received under.
    let csv = "procedure_code,provincial_code,procedure_name,level,field,agency,online_level,legal_basis,case_code,case_name,processing_time,unit,same_day,no_appointment,fee_vnd,fee_collected,documents\n\
               1.009994,,Cấp giấy phép xây dựng,commune,Xây dựng,UBND xã,partial,,a,Nhà ở,15,working_days,false,false,,,Đơn|1|0\n";
    assert_eq!(node.post_raw("/api/v1/catalog?version=H99-9", "text/csv", csv.as_bytes()).status, 200);
    let d = node.get(&format!("/api/v1/dossiers/{code}")).body;
    assert_eq!(d["case_steps"].as_array().unwrap().len(), 3, "{d}");
}

#[test]
fn a_transfer_is_recalled_until_the_receiver_acts_and_goes_back_only_to_the_unit_that_sent_it() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let code = dossier_in_state(&node, 4, 1);
    let a = node.act(&code, &json!({"action": "transfer", "to_unit": "000.00.12.H99"}));
    assert_eq!(a.status, 200, "{a:?}");
    assert!(a.body["allowed_actions"].as_array().unwrap().iter().any(|x| x == "recall"), "{a:?}");
    // The commune does not hold it: it cannot send it back, only recall it.
    let a = node.act(&code, &json!({"action": "return_to_previous", "reason": "x"}));
    assert_eq!(a.status, 403, "{a:?}");
    let a = node.act(&code, &json!({"action": "recall", "reason": "Chuyển nhầm đơn vị"}));
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!((a.body["holder_unit"].as_str(), a.body["state"].as_u64()), (Some("99001"), Some(4)));
    assert_eq!(a.body["history"].as_array().unwrap().last().unwrap()["reason"], "Chuyển nhầm đơn vị");
    // Taken back, it was handed over by nobody: no second recall, no return.
    let a = node.act(&code, &json!({"action": "recall"}));
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (409, Some("invalid_state")), "{a:?}");
    let a = node.act(&code, &json!({"action": "return_to_previous", "reason": "x"}));
    assert_eq!((a.status, a.body["error"]["code"].as_str()), (409, Some("invalid_state")), "{a:?}");
    let d = node.get(&format!("/api/v1/dossiers/{code}")).body;
    assert!(!d["allowed_actions"].as_array().unwrap().iter().any(|x| x == "recall" || x == "return_to_previous"));
}

#[test]
fn an_admin_corrects_an_appointment_and_revokes_a_return_recorded_in_error_and_both_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let node = Node::start_logged_in(dir.path());
    let receptionist = node.officer("tiepnhan", &["receptionist", "leader"]);
    let code = dossier_in_state(&node, 4, 1);
    let correct = json!({"action": "reset_appointment", "new_due_at": "2099-01-05", "reason": "Nhập sai ngày hẹn"});
    let path = format!("/api/v1/dossiers/{code}/actions");
    let a = node.post_as(Some(&receptionist), &path, &correct);
    assert_eq!(a.status, 403, "corrections are the admin's: {a:?}");
    assert!(a.body["error"]["message"].as_str().unwrap().contains("only an admin"), "{a:?}");
    // Without a reason, or on a day off, or before receipt: refused.
    for (body, field) in [
        (json!({"action": "reset_appointment", "new_due_at": "2099-01-05"}), "reason"),
        (json!({"action": "reset_appointment", "new_due_at": "2099-01-04", "reason": "x"}), "new_due_at"),
        (json!({"action": "reset_appointment", "new_due_at": "2001-01-05", "reason": "x"}), "new_due_at"),
    ] {
        let a = node.act(&code, &body);
        assert_eq!((a.status, a.body["error"]["field"].as_str()), (422, Some(field)), "{body}: {a:?}");
    }
    let a = node.act(&code, &correct);
    assert_eq!(a.status, 200, "{a:?}");
    assert!(a.body["due_at"].as_str().unwrap().starts_with("2099-01-05"));
    assert_eq!(a.body["reappointed"], false, "a correction is not the one re-appointment");
    // A second correction is allowed.
    let a = node.act(&code, &json!({"action": "reset_appointment", "new_due_at": "2098-12-31", "reason": "Sửa lại"}));
    assert!(a.body["due_at"].as_str().unwrap().starts_with("2098-12-31"), "{a:?}");
    // A return recorded in error is revoked: the result is ready again.
    for step in [json!({"action": "processed", "result": "Giấy phép"}), json!({"action": "return_result"})] {
        assert_eq!(node.act(&code, &step).status, 200);
    }
    let a = node.act(&code, &json!({"action": "revoke_result"}));
    assert_eq!((a.status, a.body["error"]["field"].as_str()), (422, Some("reason")), "{a:?}");
    let a = node.act(&code, &json!({"action": "revoke_result", "reason": "Công dân chưa nhận kết quả"}));
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!((a.body["state"].as_u64(), a.body["returned_at"].clone()), (Some(9), Value::Null));
    assert_eq!(a.body["result"], "Giấy phép", "the result itself stands");
    assert!(a.body["allowed_actions"].as_array().unwrap().iter().any(|x| x == "return_result"));
    let audit = node.get("/api/v1/audit").body;
    let actions: Vec<&str> = audit.as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert_eq!(actions.iter().filter(|a| **a == "reset_appointment").count(), 2, "{actions:?}");
    assert!(actions.contains(&"revoke_result"), "{actions:?}");
}
