//! A node killed with SIGKILL while receiving dossiers and recording
//! actions loses none that it acknowledged, never reuses a code, and opens
//! cleanly.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use motcua_tests::{Node, dossier_request};

#[test]
fn every_acknowledged_dossier_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut acknowledged: BTreeSet<String> = BTreeSet::new();
    // Dossiers whose start of processing was acknowledged too.
    let mut acted: BTreeSet<String> = BTreeSet::new();
    for round in 0..3u32 {
        let mut node = Node::start_logged_in(dir.path());
        let acked = Arc::new(Mutex::new(Vec::<String>::new()));
        let acked_actions = Arc::new(Mutex::new(Vec::<String>::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..3u32)
            .map(|w| {
                let (acked, acked_actions, stop) = (acked.clone(), acked_actions.clone(), stop.clone());
                let mut handle = Node::detached(&node.dir, node.port);
                handle.token = node.token.clone();
                std::thread::spawn(move || {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        n += 1;
                        // 201 is the acknowledgement; a request cut by the
                        // kill promises nothing.
                        let code =
                            match handle.try_receive(&dossier_request("2.000720", round * 100_000 + w * 10_000 + n)) {
                                Some(a) if a.status == 201 => a.body["code"].as_str().unwrap().to_string(),
                                Some(a) => panic!("reception refused: {a:?}"),
                                None => break,
                            };
                        acked.lock().unwrap().push(code.clone());
                        // Every other dossier also gets an action, acknowledged by 200.
                        if n % 2 == 0 {
                            match handle.try_act(&code, &serde_json::json!({"action": "start_processing"})) {
                                Some(a) if a.status == 200 => acked_actions.lock().unwrap().push(code),
                                Some(a) => panic!("action refused: {a:?}"),
                                None => break,
                            }
                        }
                    }
                })
            })
            .collect();
        // Kill once enough have been acknowledged, while writers are busy.
        while acked.lock().unwrap().len() < 20 + round as usize * 7 {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        node.kill_hard();
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().ok();
        }
        let got = acked.lock().unwrap().clone();
        for code in &got {
            assert!(acknowledged.insert(code.clone()), "code {code} was issued twice");
        }
        acted.extend(acked_actions.lock().unwrap().iter().cloned());
    }
    let node = Node::start_logged_in(dir.path());
    for code in &acknowledged {
        let a = node.get(&format!("/api/v1/dossiers/{code}"));
        assert_eq!(a.status, 200, "acknowledged dossier {code} is lost");
        // Its last acknowledged action survived too (state 4: in process);
        // an action the kill cut off may or may not have been stored.
        if acted.contains(code) {
            assert_eq!(a.body["state"], 4, "the acknowledged action on {code} is lost");
        } else {
            assert!(a.body["state"] == 2 || a.body["state"] == 4, "{code}: {}", a.body["state"]);
        }
    }
    assert!(!acted.is_empty(), "some actions were acknowledged before each kill");
    let total = node.total_dossiers();
    assert!(total >= acknowledged.len() as u64);
    let all = node.get("/api/v1/dossiers?limit=500").body;
    let codes: BTreeSet<&str> = all.as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert_eq!(codes.len() as u64, total, "every stored dossier has its own code");
    let fresh = node.receive(&dossier_request("2.000720", 999_999));
    assert_eq!(fresh.status, 201);
    assert!(!codes.contains(fresh.body["code"].as_str().unwrap()), "a new code after the crashes");
}

/// Lists, searches, queues, the duplicate lookup, the logbook and an
/// export are audited before they are answered: every line survives a
/// SIGKILL right after the answers, and none names the applicant searched
/// for or their identity number.
#[test]
fn every_answered_bulk_read_is_audited_before_a_sigkill_and_names_no_applicant() {
    use std::os::unix::fs::PermissionsExt;
    use std::process::Command;

    use motcua_tests::binary;

    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("node");
    let mut node = Node::start_logged_in(&data);
    let officer = node.officer("tiepnhan", &["receptionist"]);
    let request = dossier_request("2.000720", 42);
    let (name, id_number) =
        (request["applicant"]["name"].as_str().unwrap(), request["applicant"]["id_number"].as_str().unwrap());
    let received = node.receive(&request);
    assert_eq!(received.status, 201, "{received:?}");
    let code = received.body["code"].as_str().unwrap().to_string();
    let today = &received.body["received_at"].as_str().unwrap()[..10];
    let name_query = "nguoi thu mau 42";
    // (request, rows it answers, the audit line's action and text)
    let reads = [
        (
            "/api/v1/dossiers?state=2&limit=10".to_string(),
            1,
            "list",
            "state=2 offset=0 limit=10: 1 of 1 rows".to_string(),
        ),
        (format!("/api/v1/dossiers?q={id_number}"), 1, "search", "by id number offset=0 limit=50: 1 of 1 rows".into()),
        (
            format!("/api/v1/dossiers?q={}", name_query.replace(' ', "+")),
            1,
            "search",
            "by name offset=0 limit=50: 1 of 1 rows".into(),
        ),
        (format!("/api/v1/dossiers?q={code}"), 1, "search", format!("by code {code} offset=0 limit=50: 1 of 1 rows")),
        (
            "/api/v1/dossiers?due_soon=true&unit=99001".into(),
            0,
            "list",
            "unit=99001 due_soon offset=0 limit=50: 0 of 0 rows".into(),
        ),
        ("/api/v1/dossiers?overdue=true".into(), 0, "list", "overdue offset=0 limit=50: 0 of 0 rows".into()),
        (
            format!("/api/v1/duplicates?procedure_code=2.000720&id_number={id_number}"),
            1,
            "duplicates",
            "by id number, procedure 2.000720: 1 rows".into(),
        ),
        (
            format!("/api/v1/logbook?from={today}&to={today}"),
            1,
            "logbook",
            format!("unit=99001 {today}..{today}: 1 rows"),
        ),
    ];
    for (path, rows, _, _) in &reads {
        let a = node.get_as(Some(&officer), path);
        assert_eq!((a.status, a.body.as_array().map(Vec::len)), (200, Some(*rows)), "{path}: {a:?}");
    }
    node.kill_hard();
    let export = dir.path().join("node.export");
    let out = Command::new(binary("motcua"))
        .args(["export", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&export)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::metadata(&export).unwrap().permissions().mode() & 0o777, 0o600, "the export is owner-only");
    let out = Command::new(binary("motcua")).args(["audit", "verify", "--data"]).arg(&data).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let node = Node::start_logged_in(&data);
    let audit = node.get("/api/v1/audit").body;
    let lines = audit.as_array().unwrap();
    for (path, _, action, what) in &reads {
        assert!(
            lines.iter().any(|l| l["officer"] == "tiepnhan" && l["action"] == *action && l["dossier"] == what.as_str()),
            "{path}: no line '{action} {what}' in {audit:#}"
        );
    }
    let exported =
        lines.iter().find(|l| l["action"] == "export").unwrap_or_else(|| panic!("no export line: {audit:#}"));
    assert_eq!(exported["dossier"], format!("to {}: 1 dossiers", export.display()));
    assert!(exported["officer"].as_str().unwrap().starts_with("os user"), "{exported}");
    let text = audit.to_string().to_lowercase();
    for personal in [name.to_lowercase().as_str(), name_query, id_number, "mau 42"] {
        assert!(!text.contains(personal), "the audit log names '{personal}': {audit:#}");
    }
}
