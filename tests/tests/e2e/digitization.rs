//! Index 766's digitization figures (Quyết định 766/QĐ-TTg) and form 1's
//! digitized lines, from the files a node's dossiers record: the
//! statistics routes and the dossier that form 1 prints show them.

use std::path::Path;

use motcua_domain::attachment::{File, Kind, MediaType};
use motcua_domain::dossier::{self, Event};
use motcua_domain::workflow::Action;
use motcua_tests::{Node, dossier_request};
use serde_json::json;

/// Records, on the stopped node in `dir`, that it keeps `file` with the
/// dossier `code`: an attach event written and signed by that node and
/// stored as any write of its dossier is.
fn attach(dir: &Path, code: &str, file: File) {
    let desk = motcua_desk::open::open_desk(dir).unwrap();
    let id = desk.store().summary_by_code(code).unwrap().expect("the dossier").id;
    let bytes = desk.store().load_doc(&id).unwrap().unwrap();
    let mut doc = automerge::Automerge::load(&bytes).unwrap().with_actor(desk.identity().actor());
    let event = Event {
        action: Some(Action::Attach),
        at: motcua_desk::now_ms(),
        unit: desk.config().unit.clone(),
        node: desk.identity().node_id().to_string(),
        officer: "admin".into(),
        file: Some(file),
        ..Event::default()
    };
    let head = dossier::append_event(&mut doc, &event).unwrap().0;
    let record = dossier::read(&doc).unwrap();
    let signature = (head, desk.identity().attest(&head));
    let d = desk.clone();
    desk.committer().run(move |w| d.put_admitted(w, &doc, &record, &[signature])).unwrap();
    desk.committer().flush().unwrap();
}

fn scan(n: u8, kind: Kind, line: Option<u32>) -> File {
    File {
        hash: [n; 32],
        size: 350 * 1024,
        media_type: MediaType::Pdf,
        name: format!("Bản quét {n}.pdf"),
        kind,
        document_line: line,
    }
}

fn with_documents(n: u32, names: &[&str]) -> serde_json::Value {
    let mut req = dossier_request("2.000720", n);
    req["documents"] = names.iter().map(|name| json!({"name": name, "original": 1, "copies": 0})).collect();
    req
}

#[test]
fn statistics_and_form_1_show_what_was_digitized() {
    let dir = tempfile::tempdir().unwrap();
    let mut node = Node::start_logged_in(dir.path());
    let a = node.receive(&with_documents(1, &["Giấy đề nghị", "Bản sao căn cước"]));
    let b = node.receive(&with_documents(2, &["Giấy đề nghị"]));
    assert_eq!((a.status, b.status), (201, 201), "{a:?} {b:?}");
    let (a, b) = (a.body["code"].as_str().unwrap().to_string(), b.body["code"].as_str().unwrap().to_string());
    let before = node.get("/api/v1/stats").body;
    assert_eq!((&before["received_digitized"], &before["received_digitized_share"]), (&json!(0), &json!(0.0)));
    assert_eq!(before["results_digitized_share"], json!(null), "nothing processed yet");

    // A's first line is scanned at the desk, before it goes to processing.
    node.stop();
    attach(dir.path(), &a, scan(1, Kind::Component, Some(1)));
    let mut node = Node::start_logged_in(dir.path());
    for code in [&a, &b] {
        assert_eq!(node.act(code, &json!({"action": "start_processing"})).status, 200);
        let done = node.act(code, &json!({"action": "processed", "result": "Giấy chứng nhận thử"}));
        assert_eq!(done.status, 200, "{done:?}");
    }
    // A's result file is kept; B's line is scanned only after processing.
    node.stop();
    attach(dir.path(), &a, scan(2, Kind::Result, None));
    attach(dir.path(), &b, scan(3, Kind::Component, Some(1)));
    let node = Node::start_logged_in(dir.path());
    for code in [&a, &b] {
        assert_eq!(node.act(code, &json!({"action": "return_result"})).status, 200);
    }

    let s = node.get("/api/v1/stats");
    assert_eq!(s.status, 200, "{s:?}");
    let s = s.body;
    assert_eq!(s["received"], 2);
    assert_eq!((&s["received_digitized"], &s["received_digitized_share"]), (&json!(1), &json!(0.5)));
    assert_eq!(s["processed"], json!({"early": 2, "on_time": 0, "late": 0}));
    assert_eq!((&s["results_digitized"], &s["results_digitized_share"]), (&json!(1), &json!(0.5)));
    let units = node.get("/api/v1/stats/units").body;
    assert_eq!(units[0]["received_digitized_share"], 0.5, "{units}");
    assert_eq!(units[0]["results_digitized_share"], 0.5, "{units}");

    // Form 1 prints, per checklist line, whether a scan of it is kept.
    let lines = |code: &str| -> Vec<(String, bool)> {
        let d = node.get(&format!("/api/v1/dossiers/{code}")).body;
        d["documents"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| (x["name"].as_str().unwrap().to_string(), x["digitized"].as_bool().unwrap()))
            .collect()
    };
    assert_eq!(lines(&a), [("Giấy đề nghị".to_string(), true), ("Bản sao căn cước".to_string(), false)]);
    assert_eq!(lines(&b), [("Giấy đề nghị".to_string(), true)], "scanned late, but scanned");
}
