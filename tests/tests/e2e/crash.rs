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
