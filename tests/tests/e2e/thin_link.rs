//! Sync over a thin link in network namespaces: a commune node in its own
//! namespace reaches the province over a veth pair shaped to 64 kbit/s
//! (`tc tbf`); the link goes down mid-transfer, long enough for the
//! connection to die, and the transfer resumes where it stopped.

use std::time::Duration;

use motcua_tests::netns::Netns;
use motcua_tests::{Node, dossier_request, enroll_as, eventually, init_province, node_id};

fn peer_row(node: &Node, id: &str) -> serde_json::Value {
    let peers = node.get("/api/v1/peers").body;
    peers.as_array().unwrap().iter().find(|p| p["node_id"] == id).cloned().unwrap_or_default()
}

#[test]
fn sync_completes_over_a_64_kbit_link_and_resumes_after_it_drops() {
    const N: u32 = 400;
    // Even tags here, odd ones in file_sync.rs: their subnets never meet.
    let tag = std::process::id() % 5_000 * 2;
    let net = Netns::shaped(tag, "64kbit");
    let subnet = 100 + (tag % 100);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    init_province(&root, "56");
    let tinh_dir = dir.path().join("tinh");
    enroll_as(&root, "province", "56", "000.00.00.H56", &tinh_dir, &[]);
    let xa_dir = dir.path().join("xa");
    enroll_as(&root, "commune", "26734", "000.21.45.H56", &xa_dir, &[]);
    let province_id = node_id(&tinh_dir);

    // The commune works alone first: its dossiers wait to be sent.
    let xa = Node::start_in(
        &net.name,
        &xa_dir,
        &format!("10.{subnet}.2.2"),
        &format!("10.{subnet}.1.2:0"),
        &[format!("{province_id}@10.{subnet}.1.1:7399")],
    );
    for n in 1..=N {
        assert_eq!(xa.receive(&dossier_request("2.000720", n)).status, 201);
    }
    let tinh = Node::start_sync_on(&tinh_dir, &format!("10.{subnet}.1.1:7399"));
    // Part of the transfer arrives; then the link drops for longer than the
    // connection's idle timeout.
    eventually(120, "the first dossiers at the province", || (tinh.total_dossiers() > 0).then_some(()));
    net.set_link(false);
    let stored = tinh.total_dossiers();
    assert!(stored < N as u64, "the link must drop mid-transfer ({stored} of {N} arrived already)");
    eventually(30, "the commune notices the lost link", || {
        (peer_row(&xa, &province_id)["connected"] == false).then_some(())
    });
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(tinh.total_dossiers(), stored, "nothing arrives while the link is down");
    net.set_link(true);
    eventually(240, "every dossier at the province", || (tinh.total_dossiers() == N as u64).then_some(()));
    // Resumed, not restarted: what the province had stored was not sent
    // again, only what had not arrived.
    let sent = eventually(30, "the commune's counters settle", || {
        let row = peer_row(&xa, &province_id);
        (row["docs_pending"] == 0).then(|| row["docs_sent"].as_u64().unwrap())
    });
    assert!(
        sent <= 2 * N as u64 - stored,
        "{sent} documents sent for {N}, {stored} of which had arrived before the drop"
    );
}
