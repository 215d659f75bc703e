//! The attachments benchmark (issue 16): real `motcua serve` processes, a
//! province node and a commune node.
//!
//! ```text
//! cargo build --release --bins && ./target/release/files-bench [--sizes 5,50] [--thin]
//! ```
//!
//! - Loopback, per file size (MB): the upload's time at the commune, then
//!   the time until the province holds the file whole and verified
//!   (MB/s), and both processes' peak memory (VmHWM): it must not grow
//!   with the file. A fresh pair of nodes per size.
//! - `--thin` (root: a network namespace, `tc tbf` 256 kbit/s each way):
//!   20 workflow actions timed from the commune's answer until the
//!   province shows them, first over the idle link, then while a 5 MB
//!   scan saturates it; the scan's time and the share of the link it
//!   used; the bytes the commune sent for it.

use std::time::{Duration, Instant};

use motcua_tests::netns::Netns;
use motcua_tests::{Node, Province, dossier_request, node_id};
use serde_json::json;

fn pdf(n: usize, seed: u64) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n".to_vec();
    let mut x = seed | 1;
    while out.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.push(x as u8);
    }
    out.truncate(n);
    out
}

fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn held(node: &Node, code: &str, hash: &str) -> (bool, u64) {
    let list = node.get(&format!("/api/v1/dossiers/{code}/attachments")).body;
    let f = list.as_array().and_then(|l| l.iter().find(|f| f["hash"] == hash).cloned()).unwrap_or_default();
    (f["held"] == true, f["held_bytes"].as_u64().unwrap_or(0))
}

fn wait_held(node: &Node, code: &str, hash: &str, poll: Duration) -> Duration {
    let t = Instant::now();
    while !held(node, code, hash).0 {
        assert!(t.elapsed() < Duration::from_secs(900), "the file never arrived");
        std::thread::sleep(poll);
    }
    t.elapsed()
}

fn loopback(mb: usize) {
    let p = Province::new();
    let xa_dir = p.enroll("commune", "26734", "000.21.45.H56", "xa");
    let tinh = p.start();
    let xa = p.start_member(&xa_dir);
    let code = xa.receive(&dossier_request("2.000720", 1)).body["code"].as_str().unwrap().to_string();
    let file = pdf(mb * 1024 * 1024, mb as u64);
    let (tinh_before, xa_before) = (vm_hwm_kib(tinh.pid()), vm_hwm_kib(xa.pid()));
    let t = Instant::now();
    let up = xa.attach(&code, "name=scan.pdf&line=1", "application/pdf", &file, false);
    let upload = t.elapsed();
    assert_eq!(up.status, 201, "{up:?}");
    let hash = up.body["hash"].as_str().unwrap().to_string();
    let transfer = wait_held(&tinh, &code, &hash, Duration::from_millis(20));
    let mbs = |d: Duration| file.len() as f64 / 1e6 / d.as_secs_f64();
    println!(
        "| {mb} | {:.2} | {:.1} | {:.2} | {:.1} | {} → {} | {} → {} |",
        upload.as_secs_f64(),
        mbs(upload),
        transfer.as_secs_f64(),
        mbs(transfer),
        xa_before / 1024,
        vm_hwm_kib(xa.pid()) / 1024,
        tinh_before / 1024,
        vm_hwm_kib(tinh.pid()) / 1024,
    );
}

fn timed_actions(at: &Node, to: &Node, codes: &[String]) -> Vec<Duration> {
    let mut delays = Vec::new();
    for c in codes {
        let t = Instant::now();
        assert_eq!(at.act(c, &json!({"action": "start_processing"})).status, 200);
        while to.get(&format!("/api/v1/dossiers/{c}")).body["state"] != 4 {
            assert!(t.elapsed() < Duration::from_secs(60), "an action never arrived");
            std::thread::sleep(Duration::from_millis(20));
        }
        delays.push(t.elapsed());
    }
    delays.sort();
    delays
}

fn thin() {
    let tag = std::process::id() % 5_000 * 2 + 1;
    let link = Netns::shaped(tag, "256kbit");
    let subnet = 100 + (tag % 100);
    let p = Province::new();
    let xa_dir = p.enroll("commune", "26734", "000.21.45.H56", "xa");
    let tinh_sync = format!("10.{subnet}.1.1:7397");
    let tinh = Node::start_sync_on(&p.tinh, &tinh_sync);
    let xa = Node::start_in(
        &link.name,
        &xa_dir,
        &format!("10.{subnet}.2.2"),
        &format!("10.{subnet}.1.2:0"),
        &[format!("{}@{tinh_sync}", node_id(&p.tinh))],
    );
    let codes: Vec<String> = (1..=41)
        .map(|n| xa.receive(&dossier_request("2.000720", n)).body["code"].as_str().unwrap().to_string())
        .collect();
    for c in &codes {
        while tinh.get(&format!("/api/v1/dossiers/{c}")).status != 200 {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let idle = timed_actions(&xa, &tinh, &codes[21..]);
    let file = pdf(5 * 1024 * 1024, 5);
    let before = link.bytes_sent();
    let t = Instant::now();
    let up = xa.attach(&codes[0], "name=scan.pdf&line=1", "application/pdf", &file, false);
    assert_eq!(up.status, 201, "{up:?}");
    let hash = up.body["hash"].as_str().unwrap().to_string();
    while held(&tinh, &codes[0], &hash).1 == 0 {
        std::thread::sleep(Duration::from_millis(50));
    }
    let busy = timed_actions(&xa, &tinh, &codes[1..21]);
    wait_held(&tinh, &codes[0], &hash, Duration::from_millis(200));
    let took = t.elapsed();
    let sent = link.bytes_sent() - before;
    let q = |d: &[Duration], p: usize| d[(d.len() * p).div_ceil(100) - 1].as_secs_f64();
    println!("| link | p50 s | p95 s | max s |\n|---|---|---|---|");
    for (what, d) in [("idle", &idle), ("5 MB scan in flight", &busy)] {
        println!("| {what} | {:.2} | {:.2} | {:.2} |", q(d, 50), q(d, 95), q(d, 100));
    }
    let share = file.len() as f64 * 8.0 / took.as_secs_f64() / 256_000.0;
    println!(
        "\n5 MB scan: {:.1} s at 256 kbit/s; payload {:.0} % of the link; the commune sent {sent} bytes during it ({:.3}× the file, 20 actions included)",
        took.as_secs_f64(),
        share * 100.0,
        sent as f64 / file.len() as f64
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sizes: Vec<usize> = args
        .iter()
        .position(|a| a == "--sizes")
        .and_then(|i| args.get(i + 1))
        .map(|s| s.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![5, 50]);
    println!("| MB | upload s | upload MB/s | to province s | MB/s | commune VmHWM MiB | province VmHWM MiB |");
    println!("|---|---|---|---|---|---|---|");
    for mb in sizes {
        loopback(mb);
    }
    if args.iter().any(|a| a == "--thin") {
        println!();
        thin();
    }
}
