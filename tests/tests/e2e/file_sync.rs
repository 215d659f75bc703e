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

    // Transferred to the agency: the file follows the dossier.
    let t = a.act(&code, &json!({"action": "transfer", "to_unit": AGENCY}));
    assert_eq!(t.status, 200, "{t:?}");
    assert!(arrived(&agency, &code, &hash) == scan, "the agency holds it byte for byte");

    // Commune B has no part in the dossier: not its dossier, not its file.
    assert_eq!(b.get(&format!("/api/v1/dossiers/{code}/attachments")).status, 404);
    assert_eq!(b.get_bytes(&format!("/api/v1/dossiers/{code}/attachments/{hash}")).0, 404);
    assert!(!data_file(&b_dir, &hash).exists());

    // B's own key asks the province for the file over sync, as a stolen
    // node would: refused like an unknown hash, and nothing is stored.
    assert_eq!(b.stop(), Some(0));
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let desk = motcua_desk::open::open_desk(&b_dir).unwrap();
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
