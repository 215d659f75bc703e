//! Sync over a thin link in network namespaces: a commune node in its own
//! namespace reaches the province over a veth pair shaped to 64 kbit/s
//! (`tc tbf`); the link goes down mid-transfer, long enough for the
//! connection to die, and the transfer resumes where it stopped.

use std::process::Command;
use std::time::Duration;

use motcua_tests::{Node, dossier_request, enroll_as, eventually, init_province, node_id};

fn sh(args: &[&str]) {
    let out = Command::new(args[0]).args(&args[1..]).output().expect("run ip/tc");
    assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A namespace with two veth links to the root namespace: `sync` (shaped)
/// and `ctl` (the test's HTTP, unshaped). Removed on drop.
pub struct Netns {
    pub name: String,
    sync_root: String,
    sync_ns: String,
}

impl Netns {
    fn new(tag: u32) -> Netns {
        Netns::shaped(tag, "64kbit")
    }

    /// With the sync link shaped to `rate` each way (`tc tbf`).
    pub fn shaped(tag: u32, rate: &str) -> Netns {
        let name = format!("mc{tag}");
        let (sync_root, sync_ns) = (format!("ms{tag}a"), format!("ms{tag}b"));
        let (ctl_root, ctl_ns) = (format!("mk{tag}a"), format!("mk{tag}b"));
        let subnet = 100 + (tag % 100);
        sh(&["ip", "netns", "add", &name]);
        let ns = Netns { name: name.clone(), sync_root: sync_root.clone(), sync_ns: sync_ns.clone() };
        for (root, inner, net) in [(&sync_root, &sync_ns, 1), (&ctl_root, &ctl_ns, 2)] {
            sh(&["ip", "link", "add", root, "type", "veth", "peer", "name", inner]);
            sh(&["ip", "link", "set", inner, "netns", &name]);
            sh(&["ip", "addr", "add", &format!("10.{subnet}.{net}.1/24"), "dev", root]);
            sh(&["ip", "link", "set", root, "up"]);
            sh(&["ip", "netns", "exec", &name, "ip", "addr", "add", &format!("10.{subnet}.{net}.2/24"), "dev", inner]);
            sh(&["ip", "netns", "exec", &name, "ip", "link", "set", inner, "up"]);
        }
        sh(&["ip", "netns", "exec", &name, "ip", "link", "set", "lo", "up"]);
        sh(&["tc", "qdisc", "add", "dev", &sync_root, "root", "tbf", "rate", rate, "burst", "4kb", "latency", "500ms"]);
        sh(&[
            "ip", "netns", "exec", &name, "tc", "qdisc", "add", "dev", &sync_ns, "root", "tbf", "rate", rate, "burst",
            "4kb", "latency", "500ms",
        ]);
        ns
    }

    /// Bytes the namespace has sent on the sync link (its egress qdisc's
    /// count: every packet, headers included).
    pub fn bytes_sent(&self) -> u64 {
        let out = Command::new("ip")
            .args(["netns", "exec", &self.name, "tc", "-s", "qdisc", "show", "dev", &self.sync_ns])
            .output()
            .expect("run tc");
        let text = String::from_utf8_lossy(&out.stdout);
        let sent = text.split("Sent ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse().ok());
        sent.unwrap_or_else(|| panic!("no byte count in {text}"))
    }

    pub fn set_link(&self, up: bool) {
        sh(&["ip", "link", "set", &self.sync_root, if up { "up" } else { "down" }]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        Command::new("ip").args(["netns", "del", &self.name]).status().ok();
        Command::new("ip").args(["link", "del", &self.sync_root]).status().ok();
    }
}

fn peer_row(node: &Node, id: &str) -> serde_json::Value {
    let peers = node.get("/api/v1/peers").body;
    peers.as_array().unwrap().iter().find(|p| p["node_id"] == id).cloned().unwrap_or_default()
}

#[test]
fn sync_completes_over_a_64_kbit_link_and_resumes_after_it_drops() {
    const N: u32 = 400;
    let tag = std::process::id() % 10_000;
    let net = Netns::new(tag);
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
