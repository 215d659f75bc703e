//! The sync network with real `motcua serve` processes over iroh on
//! loopback: a province node, two communes and an agency.

use motcua_tests::{Node, Province, dossier_request, enroll_as, eventually, init_province, node_id, provision};
use serde_json::{Value, json};

const AGENCY: &str = "000.00.12.H56";

fn dossier(node: &Node, code: &str) -> Option<Value> {
    let a = node.get(&format!("/api/v1/dossiers/{code}"));
    (a.status == 200).then_some(a.body)
}

fn last_action(d: &Value) -> String {
    d["history"].as_array().unwrap().last().unwrap()["action"].as_str().unwrap().to_string()
}

/// Waits until `node` holds dossier `code` with `action` as its last step.
fn wait_for(node: &Node, code: &str, action: &str) -> Value {
    eventually(60, &format!("{code} reaching '{action}'"), || dossier(node, code).filter(|d| last_action(d) == action))
}

fn peer_row(node: &Node, id: &str) -> Value {
    let peers = node.get("/api/v1/peers").body;
    peers.as_array().unwrap().iter().find(|p| p["node_id"] == id).cloned().unwrap_or(Value::Null)
}

#[test]
fn a_dossier_travels_commune_agency_commune_through_the_province_and_survives_a_cut() {
    let p = Province::new();
    let a_dir = p.enroll("commune", "26734", "000.21.45.H56", "xa-a");
    let b_dir = p.enroll("commune", "26735", "000.21.46.H56", "xa-b");
    let agency_dir = p.enroll("agency", AGENCY, AGENCY, "so");
    let mut tinh = p.start();
    let a = p.start_member(&a_dir);
    let b = p.start_member(&b_dir);
    let agency = p.start_member(&agency_dir);

    // Received at commune A, transferred to the agency.
    let d = a.receive(&dossier_request("2.000720", 1));
    assert_eq!(d.status, 201, "{d:?}");
    let code = d.body["code"].as_str().unwrap().to_string();
    let t = a.act(&code, &json!({"action": "transfer", "to_unit": AGENCY}));
    assert_eq!(t.status, 200, "{t:?}");
    // The agency receives it through the province and records the result.
    wait_for(&agency, &code, "transfer");
    let r = agency.act(&code, &json!({"action": "processed", "result": "Giấy chứng nhận số 01"}));
    assert_eq!(r.status, 200, "{r:?}");
    // Back at the commune, the result is returned to the citizen.
    wait_for(&a, &code, "processed");
    let r = a.act(&code, &json!({"action": "return_result"}));
    assert_eq!(r.status, 200, "{r:?}");
    let at_province = wait_for(&tinh, &code, "return_result");
    assert!(at_province["returned_at"].is_string());
    eventually(30, "A learns the dossier is safe at the province", || {
        dossier(&a, &code).filter(|d| d["replicated_to_province"] == true)
    });
    let province_id = node_id(&p.tinh);
    let row = peer_row(&a, &province_id);
    assert_eq!(row["connected"], true, "{row}");
    assert_eq!(row["unit"], "56");
    assert_eq!(row["role"], "province");
    assert!(row["bytes_sent"].as_u64().unwrap() > 0 && row["bytes_received"].as_u64().unwrap() > 0, "{row}");
    assert!(row["last_sync_at"].is_string(), "{row}");

    // The province goes away; commune A keeps receiving.
    assert_eq!(tinh.stop(), Some(0));
    let offline: Vec<String> = (2..=4)
        .map(|n| {
            let d = a.receive(&dossier_request("2.000720", n));
            assert_eq!(d.status, 201, "receiving works without the province: {d:?}");
            assert_eq!(d.body["replicated_to_province"], false);
            d.body["code"].as_str().unwrap().to_string()
        })
        .collect();
    eventually(30, "A sees the province disconnected", || {
        (peer_row(&a, &province_id)["connected"] == false).then_some(())
    });
    // It comes back: everything converges.
    let tinh = p.start();
    for code in &offline {
        wait_for(&tinh, code, "receive");
        eventually(30, "safe at the province", || dossier(&a, code).filter(|d| d["replicated_to_province"] == true));
    }
    assert_eq!(tinh.total_dossiers(), 4);
    // Commune B never holds commune A's dossiers; the agency only the one
    // transferred to it.
    eventually(30, "B connected", || (peer_row(&b, &province_id)["connected"] == true).then_some(()));
    assert_eq!(b.total_dossiers(), 0);
    assert!(dossier(&b, &code).is_none());
    assert_eq!(agency.total_dossiers(), 1);
}

#[test]
fn unknown_and_revoked_nodes_are_refused() {
    let p = Province::new();
    let tinh = p.start();
    // A node of another province root (same code, other key).
    let other_root = p.dir("other-root");
    init_province(&other_root, "56");
    let stranger_dir = p.dir("stranger");
    enroll_as(&other_root, "commune", "26734", "000.21.45.H56", &stranger_dir, &[]);
    let stranger = p.start_member(&stranger_dir);
    assert_eq!(stranger.receive(&dossier_request("2.000720", 1)).status, 201);
    let province_id = node_id(&p.tinh);
    let err = eventually(30, "the stranger is refused", || {
        peer_row(&stranger, &province_id)["last_error"].as_str().map(str::to_string)
    });
    assert!(err.contains("not signed by this province"), "{err}");

    // A commune whose certificate the province revoked.
    let b_dir = p.enroll("commune", "26735", "000.21.46.H56", "xa-b");
    let list = p.dir("revocations.json");
    let (c, _, e) = provision(&[
        "revoke",
        "--province",
        p.root.to_str().unwrap(),
        "--serial",
        &motcua_tests::serial(&b_dir),
        "--out",
        list.to_str().unwrap(),
    ]);
    assert_eq!(c, 0, "{e}");
    let installed = tinh.post_raw("/api/v1/revocations", "application/json", &std::fs::read(&list).unwrap());
    assert_eq!(installed.status, 200, "{installed:?}");
    let b = p.start_member(&b_dir);
    assert_eq!(b.receive(&dossier_request("2.000720", 2)).status, 201);
    let err = eventually(30, "the revoked commune is refused", || {
        peer_row(&b, &province_id)["last_error"].as_str().map(str::to_string)
    });
    assert!(err.contains("revoked"), "{err}");
    // Neither reached the province, which lists neither as connected.
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(tinh.total_dossiers(), 0);
    for row in tinh.get("/api/v1/peers").body.as_array().unwrap() {
        assert_eq!(row["connected"], false, "{row}");
    }
}

#[test]
fn a_wiped_commune_is_restored_from_the_province_and_continues_its_codes() {
    let p = Province::new();
    let a_dir = p.enroll("commune", "26734", "000.21.45.H56", "xa-a");
    let tinh = p.start();
    let mut codes = Vec::new();
    {
        let mut a = p.start_member(&a_dir);
        for n in 1..=5 {
            let d = a.receive(&dossier_request("2.000720", n));
            codes.push(d.body["code"].as_str().unwrap().to_string());
        }
        a.act(&codes[0], &json!({"action": "start_processing"}));
        for code in &codes {
            eventually(30, "safe at the province", || {
                dossier(&a, code).filter(|d| d["replicated_to_province"] == true)
            });
        }
        a.kill_hard();
    }
    // The disk is lost; the technician enrolls the unit again.
    std::fs::remove_dir_all(&a_dir).unwrap();
    enroll_as(&p.root, "commune", "26734", "000.21.45.H56", &a_dir, &["--restore"]);
    let a = p.start_member(&a_dir);
    // A citizen at the counter before the dossiers are back gets a code
    // that none of the lost node's can be (today's sequence starts high).
    let early = a.receive(&dossier_request("2.000720", 7));
    assert_eq!(early.status, 201, "{early:?}");
    let early = early.body["code"].as_str().unwrap().to_string();
    assert!(early.ends_with("-5000"), "{early}");
    for code in &codes {
        eventually(60, "restored", || dossier(&a, code));
    }
    assert_eq!(last_action(&dossier(&a, &codes[0]).unwrap()), "start_processing");
    let d = a.receive(&dossier_request("2.000720", 6));
    assert_eq!(d.status, 201, "{d:?}");
    let new_code = d.body["code"].as_str().unwrap().to_string();
    assert!(!codes.contains(&new_code) && new_code != early, "{new_code} was issued before");
    let seq = |c: &str| c.rsplit('-').next().unwrap().parse::<u32>().unwrap();
    assert!(codes.iter().all(|c| seq(c) < seq(&new_code)), "{new_code} continues after {codes:?}");
    let _ = tinh;
}

#[test]
fn a_sync_port_in_use_is_refused_with_one_line() {
    let p = Province::new();
    let busy = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let out = std::process::Command::new(motcua_tests::binary("motcua"))
        .args(["serve", "--data", p.tinh.to_str().unwrap()])
        .args(["--http", &format!("127.0.0.1:{}", motcua_tests::free_port()), "--sync", &format!("127.0.0.1:{port}")])
        .env("MOTCUA_ADMIN_PASSWORD", motcua_tests::ADMIN_PASSWORD)
        .env("MOTCUA_LOG", "warn")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("cannot listen for sync"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn the_province_reports_per_commune_and_shows_each_nodes_link_and_dossiers_at_risk() {
    let p = Province::new();
    let a_dir = p.enroll("commune", "26734", "000.21.45.H56", "xa-a");
    let b_dir = p.enroll("commune", "26735", "000.21.46.H56", "xa-b");
    let tinh = p.start();
    let a = p.start_member(&a_dir);
    let mut b = p.start_member(&b_dir);
    let mut codes = Vec::new();
    for (node, n, procedure) in [(&a, 1, "2.000815"), (&a, 2, "2.000720"), (&b, 3, "2.000815")] {
        let d = node.receive(&dossier_request(procedure, n));
        assert_eq!(d.status, 201, "{d:?}");
        codes.push((d.body["code"].as_str().unwrap().to_string(), d.body["due_at"].as_str().unwrap().to_string()));
    }
    for (code, _) in &codes {
        eventually(60, &format!("{code} at the province"), || dossier(&tinh, code));
    }
    // Statistics per unit, in one call.
    let units = tinh.get("/api/v1/stats/units").body;
    let row = |u: &str| units.as_array().unwrap().iter().find(|r| r["unit"] == u).cloned().unwrap_or(Value::Null);
    assert_eq!(row("26734")["received"], 2, "{units}");
    assert_eq!(row("26735")["received"], 1, "{units}");
    assert!(row("26734")["unit_name"].as_str().is_some_and(|n| !n.is_empty()), "{units}");
    let own = a.get("/api/v1/stats/units").body;
    assert_eq!(own.as_array().unwrap().len(), 1, "a commune reports only itself: {own}");
    assert_eq!(tinh.get("/api/v1/stats/units?unit=26734").status, 422);
    assert_eq!(tinh.get("/api/v1/stats/units?from=2026-13-01").status, 422);
    // The province prints any commune's logbook from what it holds.
    let first = &codes[0].0;
    let day = dossier(&tinh, first).expect("held")["received_at"].as_str().unwrap()[..10].to_string();
    let book = tinh.get(&format!("/api/v1/logbook?unit=26734&from={day}")).body;
    let listed: Vec<&str> = book.as_array().unwrap().iter().map(|r| r["code"].as_str().unwrap()).collect();
    assert_eq!(listed, [codes[0].0.as_str(), codes[1].0.as_str()], "commune A's two, not B's: {book}");

    // The fleet view: B goes offline; its row says since when.
    let soon = chrono::Utc::now().timestamp_millis() + 2 * 24 * 3600 * 1000;
    let at_risk = |range: std::ops::Range<usize>| {
        codes[range]
            .iter()
            .filter(|(_, due)| chrono::DateTime::parse_from_rfc3339(due).unwrap().timestamp_millis() < soon)
            .count()
    };
    b.stop();
    let fleet = eventually(60, "B shown offline", || {
        let f = tinh.get("/api/v1/fleet").body;
        let b_row = f.as_array()?.iter().find(|r| r["unit"] == "26735")?.clone();
        (b_row["connected"] == false && b_row["unsynced_since"].is_string()).then_some(f)
    });
    let frow = |u: &str| fleet.as_array().unwrap().iter().find(|r| r["unit"] == u).cloned().unwrap();
    assert_eq!(frow("26734")["connected"], true, "{fleet}");
    assert_eq!(frow("26734")["at_risk"], at_risk(0..2), "{fleet}");
    assert_eq!(frow("26735")["at_risk"], at_risk(2..3), "{fleet}");
    assert_eq!(frow("26735")["unit_name"].as_str().map(|n| !n.is_empty()), Some(true), "{fleet}");
}
