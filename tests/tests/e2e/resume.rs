//! A transfer cut in the middle resumes: node B of a commune takes the
//! dossiers of node A of the same unit, is stopped (SIGKILL, or SIGTERM)
//! while it holds some, and started again on the same data directory. B
//! then ends up holding exactly what A holds.

use std::time::{Duration, Instant};

use motcua_tests::{Node, Province, dossier_request, eventually, free_udp_port};

/// Dossiers A holds: enough that B is still taking them when it is cut,
/// and below the daily allowance B grants A's new dossiers
/// (`DOSSIERS_PER_NODE_PER_DAY`, 2,000): past it B refuses the rest, by
/// design, and the transfer would stop there.
const DOSSIERS: u64 = 1_500;
/// Generous: a test checks that B gets there, not how fast.
const RESUME_SECS: u64 = 120;

/// What a node holds to sync: its number of documents and their digest.
fn fingerprint(node: &Node) -> (u64, String) {
    let s = node.get("/api/v1/sync/state").body;
    (s["documents"].as_u64().unwrap(), s["digest"].as_str().unwrap().to_string())
}

#[derive(Clone, Copy, Debug)]
enum Cut {
    /// SIGTERM: the node shuts down cleanly.
    Term,
    /// SIGKILL: nothing is flushed or closed.
    Kill,
}

fn signal(node: &Node, signal: i32) {
    // SAFETY: kill(2) on a child this test spawned and has not reaped.
    assert_eq!(unsafe { libc::kill(node.pid() as i32, signal) }, 0);
}

fn cut(node: &mut Node, how: Cut) {
    match how {
        Cut::Term => assert_eq!(node.stop(), Some(0), "a clean stop"),
        Cut::Kill => node.kill_hard(),
    }
}

/// A holds [`DOSSIERS`]; B dials A and starts taking them; B is cut `how`
/// while it holds some, and started again on its data directory. Both
/// must end up with equal fingerprints.
///
/// A sends the whole transfer at once (it fits the window of documents in
/// flight and QUIC's stream window), so B has received everything long
/// before it has stored it. For SIGKILL, B is frozen (SIGSTOP) the moment
/// it holds some, so that the cut lands in the middle of the transfer.
/// Under SIGTERM B stores what it had received on its way out, so that
/// variant checks that what it stored then is whole and that it syncs on.
fn resumes(how: Cut) {
    let p = Province::new();
    let sender = p.enroll("commune", "26734", "000.21.40.H56", "xa-a");
    let taker = p.enroll("commune", "26734", "000.21.40.H56", "xa-b");
    let logs = tempfile::tempdir().unwrap();
    let (a_log, b_log) = (logs.path().join("a.log"), logs.path().join("b.log"));
    let a_sync = format!("127.0.0.1:{}", free_udp_port());
    let a = Node::start_with_log(&sender, &a_sync, &[], &a_log);
    for n in 0..DOSSIERS {
        let r = a.receive(&dossier_request("2.000720", n as u32));
        assert_eq!(r.status, 201, "{r:?}");
    }
    let a_id = motcua_tests::node_id(&sender);
    let peer = format!("{a_id}@{a_sync}");
    let mut b = Node::start_with_log(&taker, "127.0.0.1:0", &[&peer], &b_log);
    eventually(60, "B taking dossiers", || Some(b.total_dossiers()).filter(|n| *n > 0));
    // A frozen B cannot drain what it has buffered: the cut lands in the
    // middle. A B stopped by SIGTERM ends its session step by step and so
    // stores whatever it had received first.
    let freeze = matches!(how, Cut::Kill);
    if freeze {
        signal(&b, libc::SIGSTOP);
    }
    cut(&mut b, how);
    // What B holds after the cut, read while it dials nobody.
    let mut alone = Node::start_with_log(&taker, "127.0.0.1:0", &[], &b_log);
    let held = alone.total_dossiers();
    assert_eq!(alone.stop(), Some(0));
    eprintln!("B cut ({how:?}) holding {held} of {DOSSIERS}");
    if freeze {
        assert!(held < DOSSIERS, "B held all {held} when it was cut: the test cut nothing");
    }
    let b = Node::start_with_log(&taker, "127.0.0.1:0", &[&peer], &b_log);
    let expected = fingerprint(&a);
    assert_eq!(expected.0, DOSSIERS, "A holds what it received");
    let deadline = Instant::now() + Duration::from_secs(RESUME_SECS);
    while fingerprint(&b) != expected {
        assert!(
            Instant::now() < deadline,
            "B never caught up after it was cut ({how:?}): B holds {:?}, A {:?}\n\
             A's peers: {}\nB's peers: {}\nA's log:\n{}\nB's log:\n{}",
            fingerprint(&b),
            expected,
            a.get("/api/v1/peers").body,
            b.get("/api/v1/peers").body,
            std::fs::read_to_string(&a_log).unwrap(),
            std::fs::read_to_string(&b_log).unwrap(),
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(b.total_dossiers(), DOSSIERS, "B lists every dossier it holds");
}

#[test]
fn sync_resumes_after_the_taker_is_killed_mid_transfer() {
    resumes(Cut::Kill);
}

#[test]
fn sync_resumes_after_the_taker_is_stopped_with_sigterm_mid_transfer() {
    resumes(Cut::Term);
}
