//! Dossiers' files between real nodes over iroh on loopback: a scan
//! attached at commune A reaches the province, and after a transfer the
//! agency, byte for byte; commune B, with no part in the dossier, never
//! gets it, and asking the province for it over sync gets nothing.

use std::sync::Arc;

use motcua_tests::{Node, Province, dossier_request, eventually, node_id};
use serde_json::{Value, json};

use crate::attachments::pdf;

const AGENCY: &str = "000.00.12.H56";

fn files(node: &Node, code: &str) -> Option<Value> {
    let a = node.get(&format!("/api/v1/dossiers/{code}/attachments"));
    (a.status == 200).then_some(a.body)
}

/// Waits until `node` holds the file whole, and returns its bytes.
fn arrived(node: &Node, code: &str, hash: &str) -> Vec<u8> {
    eventually(120, &format!("file {} at {}", &hash[..8], node.dir.display()), || {
        let list = files(node, code)?;
        list.as_array()?.iter().find(|f| f["hash"] == hash && f["held"] == true)?;
        Some(())
    });
    let (status, ct, body) = node.get_bytes(&format!("/api/v1/dossiers/{code}/attachments/{hash}"));
    assert_eq!((status, ct.as_str()), (200, "application/pdf"));
    body
}

fn data_file(node_dir: &std::path::Path, hash: &str) -> std::path::PathBuf {
    node_dir.join("attachments").join("data").join(format!("{hash}.data"))
}

#[test]
fn a_scan_reaches_the_province_and_the_agency_and_never_another_commune() {
    let p = Province::new();
    let a_dir = p.enroll("commune", "26734", "000.21.45.H56", "xa-a");
    let b_dir = p.enroll("commune", "26735", "000.21.46.H56", "xa-b");
    let agency_dir = p.enroll("agency", AGENCY, AGENCY, "so");
    let tinh = p.start();
    let a = p.start_member(&a_dir);
    let mut b = p.start_member(&b_dir);
    let agency = p.start_member(&agency_dir);

    let code = a.receive(&dossier_request("2.000720", 1)).body["code"].as_str().unwrap().to_string();
    let scan = pdf(5 * 1024 * 1024, 11);
    let up = a.attach(&code, "name=ban-ve.pdf&line=1", "application/pdf", &scan, false);
    assert_eq!(up.status, 201, "{up:?}");
    let hash = up.body["hash"].as_str().unwrap().to_string();

    assert!(arrived(&tinh, &code, &hash) == scan, "the province holds it byte for byte");
    let row = tinh.get("/api/v1/peers").body;
    let from_a = row.as_array().unwrap().iter().find(|r| r["node_id"] == node_id(&a_dir)).unwrap().clone();
    let got = from_a["file_bytes_received"].as_u64().unwrap();
    assert!(got >= scan.len() as u64 && got < scan.len() as u64 * 11 / 10, "bytes for the file: {from_a}");
    assert_eq!(from_a["file_bytes_pending"], 0, "{from_a}");
    let m = tinh.get("/metrics").body;
    let line = format!("motcua_peer_file_bytes_received_total{{peer=\"{}\"}} {got}", node_id(&a_dir));
    assert!(m.as_str().unwrap().lines().any(|l| l == line), "{line} in {m}");
    // Commune A learns the province holds it.
    assert_eq!(files(&tinh, &code).unwrap()[0]["at_province"], true);
    eventually(90, "A learns its scan is at the province", || {
        (files(&a, &code)?[0]["at_province"] == true).then_some(())
    });

    // Transferred to the agency: the file follows the dossier.
    let t = a.act(&code, &json!({"action": "transfer", "to_unit": AGENCY}));
    assert_eq!(t.status, 200, "{t:?}");
    assert!(arrived(&agency, &code, &hash) == scan, "the agency holds it byte for byte");

    // The agency's electronic result comes back to the commune, signed by
    // hash with the processed event.
    let result = pdf(300_000, 21);
    let r = agency.attach(&code, "name=giay-phep.pdf&kind=result", "application/pdf", &result, false);
    assert_eq!(r.status, 201, "{r:?}");
    let result_hash = r.body["hash"].as_str().unwrap().to_string();
    let done =
        agency.act(&code, &json!({"action": "processed", "result": "Giấy phép số 01", "result_file": result_hash}));
    assert_eq!(done.status, 200, "{done:?}");
    assert!(arrived(&a, &code, &result_hash) == result, "the commune holds the result byte for byte");
    let d = a.get(&format!("/api/v1/dossiers/{code}")).body;
    assert_eq!(d["result_file"], result_hash, "and the signed event names it");

    // Commune B has no part in the dossier: not its dossier, not its file.
    assert_eq!(b.get(&format!("/api/v1/dossiers/{code}/attachments")).status, 404);
    assert_eq!(b.get_bytes(&format!("/api/v1/dossiers/{code}/attachments/{hash}")).0, 404);
    assert!(!data_file(&b_dir, &hash).exists());

    // B's own key asks the province for the file over sync, as a stolen
    // node would: refused like an unknown hash, and nothing is stored.
    // B even signs A's hash into a dossier of its own first: a reference
    // made by the asker's own unit opens no file it did not give.
    let b_code = b.receive(&dossier_request("2.000720", 2)).body["code"].as_str().unwrap().to_string();
    assert_eq!(b.stop(), Some(0));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let desk = motcua_desk::open::open_desk(&b_dir).unwrap();
        let mut forged = [0u8; 32];
        hex::decode_to_slice(&hash, &mut forged).unwrap();
        let officer =
            motcua_desk::desk::Officer { username: "admin".into(), roles: motcua_domain::workflow::Role::ALL.to_vec() };
        let req = motcua_desk::attach::AttachRequest {
            name: "copy.pdf".into(),
            kind: motcua_domain::attachment::Kind::Component,
            line: None,
        };
        let held = motcua_desk::attach::HeldFile {
            hash: forged,
            size: scan.len() as u64,
            media_type: motcua_domain::attachment::MediaType::Pdf,
        };
        desk.attach(&officer, &b_code, req, held, motcua_desk::now_ms()).unwrap();
        let blobs = motcua::blobs::Blobs::open(&b_dir, desk.clone()).await.unwrap();
        let peer = motcua::serve::parse_peer(&p.peer).unwrap();
        let board = Arc::new(motcua::net::PeerBoard::with_configured(std::slice::from_ref(&peer)));
        let net =
            motcua::net::start(desk, Some(blobs.clone()), "127.0.0.1:0".parse().unwrap(), vec![peer], board.clone())
                .await
                .unwrap()
                .expect("an enrolled node syncs");
        let province: [u8; 32] = hex::decode(node_id(&p.tinh)).unwrap().try_into().unwrap();
        let mut wanted = [0u8; 32];
        hex::decode_to_slice(&hash, &mut wanted).unwrap();
        let unknown = [7u8; 32];
        // The forged reference has reached the province.
        let province_sees = || {
            let list = tinh.get(&format!("/api/v1/dossiers/{b_code}/attachments")).body;
            list.as_array().is_some_and(|l| l.iter().any(|f| f["hash"] == hash))
        };
        for _ in 0..300 {
            if province_sees() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        assert!(province_sees(), "B's dossier with the forged reference at the province");
        let mut answers = Vec::new();
        for h in [wanted, unknown] {
            let answer = loop {
                match net.fetch_piece_from(&province, h).await {
                    Err(e) if e.to_string().contains("not connected") => {
                        tokio::time::sleep(std::time::Duration::from_millis(100)).await
                    }
                    other => break other,
                }
            };
            let refused = answer.expect_err("refused");
            answers.push(refused.to_string());
            assert_eq!(blobs.bytes_held(h).await, 0, "nothing of it is stored");
        }
        assert_eq!(answers[0], answers[1].replace(&hex::encode(unknown), &hash), "out of scope looks unknown");
        net.shutdown().await;
        blobs.shutdown().await;
    });
    assert!(!data_file(&b_dir, &hash).exists());
}

/// Verified bytes of a file `node` holds (0 while it does not know the
/// dossier yet).
fn held_bytes(node: &Node, code: &str, hash: &str) -> u64 {
    let Some(list) = files(node, code) else { return 0 };
    let Some(f) = list.as_array().and_then(|l| l.iter().find(|f| f["hash"] == hash).cloned()) else { return 0 };
    f["held_bytes"].as_u64().unwrap_or(0)
}

/// Records `start_processing` on each dossier at `at` and times it until
/// `to` shows it; the delays, sorted.
fn timed_actions(at: &Node, to: &Node, codes: &[String]) -> Vec<std::time::Duration> {
    let mut delays = Vec::new();
    for c in codes {
        let t = std::time::Instant::now();
        assert_eq!(at.act(c, &json!({"action": "start_processing"})).status, 200);
        eventually(60, "the action at the province", || {
            let d = to.get(&format!("/api/v1/dossiers/{c}")).body;
            (d["state"] == 4).then_some(())
        });
        delays.push(t.elapsed());
    }
    delays.sort();
    delays
}

/// Over a 256 kbit/s link: while a 5 MB scan moves from the commune to the
/// province, workflow actions still arrive (their delays are printed for
/// BENCHMARKS.md); the link is cut at about half and the province is
/// SIGKILLed later on: the scan completes byte for byte from what had
/// arrived, and the commune sends less than 1.1 times its size in all.
#[test]
fn a_scan_crosses_a_thin_link_behind_the_workflow_and_survives_a_cut_and_a_kill() {
    use std::time::Duration;
    // Odd tags here, even ones in thin_link.rs: their subnets never meet.
    let tag = std::process::id() % 5_000 * 2 + 1;
    let link = motcua_tests::netns::Netns::shaped(tag, "256kbit");
    let subnet = 100 + (tag % 100);
    let p = Province::new();
    let xa_dir = p.enroll("commune", "26734", "000.21.45.H56", "xa");
    let tinh_sync = format!("10.{subnet}.1.1:7398");
    let province_id = node_id(&p.tinh);
    let mut tinh = Node::start_sync_on(&p.tinh, &tinh_sync);
    let xa = Node::start_in(
        &link.name,
        &xa_dir,
        &format!("10.{subnet}.2.2"),
        &format!("10.{subnet}.1.2:0"),
        &[format!("{province_id}@{tinh_sync}")],
    );
    let codes: Vec<String> = (1..=31)
        .map(|n| xa.receive(&dossier_request("2.000720", n)).body["code"].as_str().unwrap().to_string())
        .collect();
    for c in &codes {
        eventually(120, "the dossiers at the province", || {
            (tinh.get(&format!("/api/v1/dossiers/{c}")).status == 200).then_some(())
        });
    }
    // The same actions with the link otherwise idle, for comparison; and
    // what they cost on the wire, to tell the scan's bytes from theirs.
    let idle_start = link.bytes_sent();
    let idle_delays = timed_actions(&xa, &tinh, &codes[21..]);
    let per_action = (link.bytes_sent() - idle_start) / idle_delays.len() as u64;
    let before = link.bytes_sent();
    let scan = pdf(5 * 1024 * 1024, 12);
    let code = &codes[0];
    let up = xa.attach(code, "name=so-do.pdf&line=1", "application/pdf", &scan, false);
    assert_eq!(up.status, 201, "{up:?}");
    let hash = up.body["hash"].as_str().unwrap().to_string();
    let size = scan.len() as u64;

    // Twenty actions while the scan is in flight, each timed to its arrival.
    eventually(60, "the scan under way", || (held_bytes(&tinh, code, &hash) > 0).then_some(()));
    let delays = timed_actions(&xa, &tinh, &codes[1..21]);
    assert!(held_bytes(&tinh, code, &hash) < size, "the actions overtook the scan");
    for (what, d) in [("an idle link", &idle_delays), ("a saturating transfer", &delays)] {
        println!(
            "workflow actions over {what} at 256 kbit/s: p50 {:?}, p95 {:?}, max {:?}",
            d[d.len() / 2],
            d[(d.len() * 95).div_ceil(100) - 1],
            d[d.len() - 1]
        );
    }

    // Cut at about half, for longer than the idle timeout.
    eventually(240, "half the scan at the province", || (held_bytes(&tinh, code, &hash) >= size / 2).then_some(()));
    link.set_link(false);
    let at_cut = held_bytes(&tinh, code, &hash);
    assert!(at_cut < size, "cut mid-transfer");
    std::thread::sleep(Duration::from_secs(12));
    link.set_link(true);

    // Later the province is killed; what it had verified stays.
    eventually(240, "three quarters at the province", || {
        (held_bytes(&tinh, code, &hash) >= size * 3 / 4).then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    let at_kill = held_bytes(&tinh, code, &hash);
    tinh.kill_hard();
    let tinh = Node::start_sync_on(&p.tinh, &tinh_sync);
    let kept = held_bytes(&tinh, code, &hash);
    assert!(
        kept > at_cut && kept <= at_kill + motcua::net::PIECE_BYTES,
        "a partial file survives SIGKILL: {kept} of {at_kill} kept"
    );
    assert!(arrived(&tinh, code, &hash) == scan, "the scan completes byte for byte");
    let all = link.bytes_sent() - before;
    let sent = all - per_action * delays.len() as u64;
    println!(
        "the commune sent {all} bytes, {sent} for a {size}-byte scan ({:.3}x) and {per_action} per action",
        sent as f64 / size as f64
    );
    assert!(sent < size * 11 / 10, "{sent} bytes on the wire for {size}");
}

/// A chunk corrupted in the sender's store is never taken: the receiver
/// keeps what it verified before it, stops there, and once the sender's
/// file is whole again fetches the rest, not the whole file again.
#[test]
fn a_corrupted_chunk_is_refused_and_fetched_again() {
    use std::os::unix::fs::FileExt;
    let p = Province::new();
    let a_dir = p.enroll("commune", "26734", "000.21.45.H56", "xa-a");
    let a = p.start_member(&a_dir);
    let code = a.receive(&dossier_request("2.000720", 1)).body["code"].as_str().unwrap().to_string();
    let scan = pdf(5 * 1024 * 1024, 13);
    let up = a.attach(&code, "name=scan.pdf&line=1", "application/pdf", &scan, false);
    assert_eq!(up.status, 201, "{up:?}");
    let hash = up.body["hash"].as_str().unwrap().to_string();
    let size = scan.len() as u64;
    // One byte at 70 % flipped on A's disk before the province asks.
    let at = scan.len() * 7 / 10;
    let file = std::fs::OpenOptions::new().write(true).open(data_file(&a_dir, &hash)).unwrap();
    file.write_at(&[scan[at] ^ 0xff], at as u64).unwrap();
    file.sync_all().unwrap();

    let tinh = p.start();
    eventually(60, "the file's start at the province", || (held_bytes(&tinh, &code, &hash) > 0).then_some(()));
    std::thread::sleep(std::time::Duration::from_secs(3));
    let stuck = held_bytes(&tinh, &code, &hash);
    // Verified: what precedes the corrupt chunk, and the file's last chunk
    // (asked for first, it proves the size).
    let last = size - (size - 1) / 1024 * 1024;
    assert!(
        stuck > 0 && stuck <= at as u64 + last,
        "nothing from the corrupt chunk on is taken: {stuck} bytes of {size}"
    );
    std::thread::sleep(std::time::Duration::from_secs(1));
    assert_eq!(held_bytes(&tinh, &code, &hash), stuck, "and no more arrives while it is corrupt");

    file.write_at(&[scan[at]], at as u64).unwrap();
    file.sync_all().unwrap();
    assert!(arrived(&tinh, &code, &hash) == scan, "byte for byte once the sender's copy is whole");
    let rows = tinh.get("/api/v1/peers").body;
    let from_a = rows.as_array().unwrap().iter().find(|r| r["node_id"] == node_id(&a_dir)).unwrap().clone();
    let got = from_a["file_bytes_received"].as_u64().unwrap();
    assert!(got < size + size / 10, "the rest was fetched, not the whole file again: {got} bytes");
}
