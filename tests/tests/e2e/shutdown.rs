//! A syncing node stops cleanly on SIGTERM: every task its network
//! started ends before the runtime does, whether it was dialing a peer
//! that does not answer, connected to one, or in the middle of taking its
//! dossiers (a session step running on a thread of its own).

use std::path::Path;
use std::process::Command;

use motcua_tests::{
    ADMIN_PASSWORD, Node, Province, binary, dossier_request, eventually, free_port, free_udp_port, node_id,
};

/// The peer's row on `node`'s peer board.
fn peer(node: &Node, id: &str) -> serde_json::Value {
    let peers = node.get("/api/v1/peers").body;
    peers.as_array().unwrap().iter().find(|p| p["node_id"] == id).cloned().unwrap_or_default()
}

/// Stops `node` with SIGTERM and checks that it exited with success and
/// that nothing panicked on the way.
fn stops_cleanly(mut node: Node, stderr: &Path) {
    assert_eq!(node.stop(), Some(0), "exit status; stderr:\n{}", std::fs::read_to_string(stderr).unwrap());
    let log = std::fs::read_to_string(stderr).unwrap();
    assert!(!log.contains("panicked"), "a panic on shutdown:\n{log}");
    assert!(log.contains("motcua node stopped"), "the node went through its shutdown:\n{log}");
}

#[test]
fn a_syncing_node_stops_cleanly_on_sigterm_while_dialing_and_while_connected() {
    let p = Province::new();
    let xa = p.enroll_commune("26734", "000.21.40.H56");
    let logs = tempfile::tempdir().unwrap();
    let tinh_id = p.peer.split('@').next().unwrap().to_string();

    // The province is down: the commune keeps dialing it.
    let stderr = logs.path().join("dialing.log");
    let commune = Node::start_with_log(&xa, "127.0.0.1:0", &[&p.peer], &stderr);
    eventually(60, "a dial to the province failing", || peer(&commune, &tinh_id)["last_error"].as_str().map(drop));
    stops_cleanly(commune, &stderr);

    // Both up and connected: sessions, readers and writers are running.
    let tinh_log = logs.path().join("tinh.log");
    let tinh = Node::start_with_log(&p.tinh, &format!("127.0.0.1:{}", p.port), &[], &tinh_log);
    let stderr = logs.path().join("connected.log");
    let commune = Node::start_with_log(&xa, "127.0.0.1:0", &[&p.peer], &stderr);
    eventually(60, "the commune connected to the province", || {
        peer(&commune, &tinh_id)["connected"].as_bool().filter(|c| *c)
    });
    stops_cleanly(commune, &stderr);
    stops_cleanly(tinh, &tinh_log);
}

/// Dossiers the sender holds: enough that the taker is still storing them
/// when it is stopped (a taker stores what it received on its way out),
/// and below the daily allowance the taker grants the sender's new
/// dossiers (`DOSSIERS_PER_NODE_PER_DAY`, 2,000).
const DOSSIERS: u64 = 1_500;

#[test]
fn a_syncing_node_stops_cleanly_on_sigterm_in_the_middle_of_a_transfer() {
    let p = Province::new();
    let sender = p.enroll("commune", "26734", "000.21.40.H56", "xa-a");
    let taker = p.enroll("commune", "26734", "000.21.40.H56", "xa-b");
    let logs = tempfile::tempdir().unwrap();
    let port = free_udp_port();
    let sender_log = logs.path().join("sender.log");
    let a = Node::start_with_log(&sender, &format!("127.0.0.1:{port}"), &[], &sender_log);
    for n in 0..DOSSIERS {
        let r = a.receive(&dossier_request("2.000720", n as u32));
        assert_eq!(r.status, 201, "{r:?}");
    }
    let peer = format!("{}@127.0.0.1:{port}", node_id(&sender));
    // Stopped as soon as it has taken some.
    let stderr = logs.path().join("taker.log");
    let b = Node::start_with_log(&taker, "127.0.0.1:0", &[&peer], &stderr);
    eventually(60, "the taker taking dossiers", || Some(b.total_dossiers()).filter(|n| *n > 0));
    stops_cleanly(b, &stderr);
    stops_cleanly(a, &sender_log);
}

#[test]
fn more_sync_peers_than_a_node_dials_are_refused_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let peers: Vec<String> = (0..=motcua::net::PEERS_MAX).map(|n| format!("{n:064x}@127.0.0.1:9")).collect();
    let mut cmd = Command::new(binary("motcua"));
    cmd.args(["serve", "--data"]).arg(dir.path().join("node")).args(["--http", &format!("127.0.0.1:{}", free_port())]);
    for p in &peers {
        cmd.args(["--peer", p]);
    }
    let out = cmd.env("MOTCUA_ADMIN_PASSWORD", ADMIN_PASSWORD).env("MOTCUA_LOG", "warn").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.trim(), "motcua: error: 513 sync peers configured; a node dials at most 512");
}
