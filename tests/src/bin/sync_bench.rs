//! The sync benchmark of `shared/bench/WORKLOAD.md`: two real `motcua serve`
//! processes on 127.0.0.1 over iroh.
//!
//! ```text
//! cargo build --release --bins && ./target/release/sync-bench [--sizes 1000,10000] [--runs 3]
//! ```
//!
//! A and B are two enrolled nodes of one commune unit (so that both may
//! record steps on its dossiers). Each dossier is received and then updated
//! four times (start processing, financial obligation requested and
//! fulfilled, processed): five signed Automerge changes. The dossiers are
//! written straight into A's store before A starts, through the same
//! admission path sync uses.
//!
//! - S1: A holds N dossiers, B none. Time from B's start until both
//!   fingerprints (`GET /api/v1/sync/state`) are equal.
//! - S3: both equal; restart B. Time until B reports the peer caught up.
//! - S3 by another path: a third node C of the unit takes every dossier
//!   from B, never from A; then C dials A. The two hold the same documents
//!   but share no per-peer checkpoint: reconciliation alone finds them
//!   equal.
//! - S2 (N = 10,000; ×10 at 100,000): while apart, A receives N/10 new
//!   dossiers and returns the result of N/5, B returns N/20 others; start
//!   both. Time until the fingerprints are equal.
//!
//! Bytes are frame bytes (what the sync protocol writes) and UDP bytes
//! (QUIC with its handshake), both directions, from B's peer counters.
//! Peak memory is VmHWM of each process; CPU is user + system seconds
//! (A's during the measure, B's from its start). Prints a Markdown table.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use motcua_desk::desk::Desk;
use motcua_domain::calendar::DAY_MS;
use motcua_domain::dossier;
use motcua_domain::workflow::Action;
use motcua_sim::workload::Workload;
use motcua_tests::bench_dossiers::{AGENCY_ID, T0, UNIT, code, event, five_changes};
use motcua_tests::{Node, enroll_as, free_udp_port, init_province, node_id};
use rand::SeedableRng;
use rand::rngs::StdRng;

/// Transfers (S1, S2) are polled every 50 ms: a poll reads both nodes'
/// peer lists, and the fingerprints (each a scan of a whole index) only
/// once both sides have nothing left to send. Polling every 10 ms cost
/// the receiver about 0.3 CPU seconds more over S1 at 10,000 and made
/// the transfer slower than the finer granularity gained.
const EQUAL_POLL: Duration = Duration::from_millis(50);
/// An idle reconnect (S3) is polled every 10 ms: it takes tens of ms.
const QUICK_POLL: Duration = Duration::from_millis(10);

struct Args {
    sizes: Vec<usize>,
    runs: usize,
    /// Keep the two nodes in this directory; when they are already there
    /// (a run with `--keep` before), measure S3 only.
    keep: Option<PathBuf>,
}

fn args() -> anyhow::Result<Args> {
    let mut a = Args { sizes: vec![1_000, 10_000], runs: 3, keep: None };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--sizes" => {
                a.sizes = it.next().context("--sizes N,N")?.split(',').map(str::parse).collect::<Result<_, _>>()?
            }
            "--runs" => a.runs = it.next().context("--runs N")?.parse()?,
            "--keep" => a.keep = Some(it.next().context("--keep DIR")?.into()),
            "--help" | "-h" => {
                println!(
                    "sync-bench [--sizes N,N,...] [--runs R] [--keep DIR]\n\n\
                     Runs S1, S2 and S3 of shared/bench/WORKLOAD.md between two real motcua processes\n\
                     (defaults: --sizes 1000,10000 --runs 3) and prints a Markdown table.\n\
                     --keep DIR keeps the two nodes there; run again with it to measure S3 only."
                );
                std::process::exit(0);
            }
            other => bail!("unknown flag {other} (see --help)"),
        }
    }
    Ok(a)
}

/// Commits `doc` (made by this node) through the admission path.
fn store(desk: &Arc<Desk>, w: &mut motcua_store::Write, doc: &automerge::Automerge) -> anyhow::Result<()> {
    let record = dossier::read(doc)?;
    let head = doc.get_heads()[0].0;
    let sig = (head, desk.identity().attest(&head));
    desk.put_admitted(w, doc, &record, &[sig]).map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

/// Writes dossiers `from..from+count` (five changes each) into a stopped
/// node's store.
fn populate(dir: &Path, from: usize, count: usize) -> anyhow::Result<()> {
    let desk = motcua_desk::open::open_desk(dir)?;
    let mut rng = StdRng::seed_from_u64(42 + from as u64);
    let work: Vec<_> = Workload::new(42 + from as u64).take(count).collect();
    for chunk in (0..count).collect::<Vec<_>>().chunks(1000) {
        let mut docs = Vec::new();
        for &i in chunk {
            let n = from + i;
            docs.push(five_changes(desk.identity(), n, &work[i], &mut rng)?);
        }
        let d = desk.clone();
        desk.committer()
            .run(move |w| {
                for doc in &docs {
                    store(&d, w, doc)?;
                }
                Ok::<(), anyhow::Error>(())
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    desk.committer().flush().map_err(|e| anyhow::anyhow!(e))?;
    Ok(())
}

/// Appends `return_result` to the dossiers with codes numbered in `range`.
fn return_results(dir: &Path, range: std::ops::Range<usize>) -> anyhow::Result<()> {
    let desk = motcua_desk::open::open_desk(dir)?;
    let codes: Vec<String> = range.map(code).collect();
    for chunk in codes.chunks(1000) {
        let d = desk.clone();
        let chunk = chunk.to_vec();
        desk.committer()
            .run(move |w| {
                for code in &chunk {
                    let id = w.id_by_code(code)?.context("code not found")?;
                    let bytes = w.load_doc(&id)?.context("doc")?;
                    let mut doc = automerge::Automerge::load(&bytes)?.with_actor(d.identity().actor());
                    dossier::append_event(&mut doc, &event(d.identity(), Action::ReturnResult, T0 + 10 * DAY_MS))?;
                    store(&d, w, &doc)?;
                }
                Ok::<(), anyhow::Error>(())
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    desk.committer().flush().map_err(|e| anyhow::anyhow!(e))?;
    Ok(())
}

fn peak_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// CPU seconds (user and system) a process has used so far.
fn cpu_secs(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of stat; here 11 and 12.
    (ticks(11) + ticks(12)) as f64 / 100.0
}

fn written(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    io.lines().find_map(|l| l.strip_prefix("wchar: ")).and_then(|v| v.trim().parse().ok()).unwrap_or(0)
}

fn fingerprint(node: &Node) -> (u64, String) {
    let s = node.get("/api/v1/sync/state").body;
    (s["documents"].as_u64().unwrap_or(0), s["digest"].as_str().unwrap_or("").to_string())
}

#[derive(Default, Clone, Copy)]
struct Measure {
    secs: f64,
    frame_bytes: u64,
    udp_bytes: u64,
    peak_a_mib: f64,
    peak_b_mib: f64,
    /// Documents each side sent the other (a document goes again when it
    /// changed, or was in flight when a round found it missing).
    docs_sent: (u64, u64),
    /// Bytes B's process wrote (`wchar` of /proc/PID/io: the store's
    /// writes before the page cache).
    b_written: u64,
    /// B's own count, from dialing A until B had caught A up (S3: the
    /// reconnect itself, without B's process start).
    reconnect_ms: u64,
    /// CPU seconds each process used during the measure (B's from its
    /// start).
    cpu: (f64, f64),
}

/// B's counters for its peer A: (frame bytes both ways, UDP bytes both ways).
fn bytes(b: &Node, a_id: &str) -> (u64, u64) {
    let peers = b.get("/api/v1/peers").body;
    let Some(row) = peers.as_array().and_then(|r| r.iter().find(|p| p["node_id"] == a_id)) else { return (0, 0) };
    let n = |k: &str| row[k].as_u64().unwrap_or(0);
    (n("bytes_sent") + n("bytes_received"), n("udp_bytes_sent") + n("udp_bytes_received"))
}

/// A number in `node`'s row for peer `peer` of `/api/v1/peers` (0 if absent).
fn peer_number(node: &Node, peer: &str, key: &str) -> u64 {
    let peers = node.get("/api/v1/peers").body;
    peers.as_array().and_then(|r| r.iter().find(|p| p["node_id"] == peer)).and_then(|p| p[key].as_u64()).unwrap_or(0)
}

struct Pair {
    _tmp: Option<tempfile::TempDir>,
    /// The nodes were kept from an earlier run.
    reused: bool,
    a: PathBuf,
    b: PathBuf,
    c: PathBuf,
    a_port: u16,
}

impl Pair {
    fn new(keep: Option<&Path>) -> anyhow::Result<Pair> {
        let tmp = match keep {
            Some(_) => None,
            None => Some(tempfile::tempdir()?),
        };
        let dir = keep.map_or_else(|| tmp.as_ref().expect("temporary").path().to_path_buf(), Path::to_path_buf);
        let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
        let reused = a.exists() && b.exists();
        if !reused {
            std::fs::create_dir_all(&dir)?;
            let root = dir.join("root");
            init_province(&root, "56");
            enroll_as(&root, "commune", UNIT, AGENCY_ID, &a, &[]);
            enroll_as(&root, "commune", UNIT, AGENCY_ID, &b, &[]);
            enroll_as(&root, "commune", UNIT, AGENCY_ID, &c, &[]);
        }
        Ok(Pair { _tmp: tmp, reused, a, b, c, a_port: free_udp_port() })
    }

    fn start_a(&self) -> Node {
        Node::start_sync(&self.a, self.a_port, &[])
    }

    fn start_b(&self) -> Node {
        self.start_dialing_a(&self.b)
    }

    /// Starts the node in `dir` with A as its peer.
    fn start_dialing_a(&self, dir: &Path) -> Node {
        let peer = format!("{}@127.0.0.1:{}", node_id(&self.a), self.a_port);
        Node::start_sync(dir, 0, &[peer])
    }

    /// Starts B against a running A and waits until `done`, polling every
    /// `poll`; B is stopped cleanly afterwards (SIGTERM), as a node that
    /// goes offline and comes back is.
    fn measure(&self, a: &Node, poll: Duration, done: impl Fn(&Node) -> bool) -> Measure {
        self.measure_from(&self.b, a, poll, done)
    }

    /// Lets C take every dossier from B (B listening, C dialing only B),
    /// so that C and A hold the same documents without ever having met.
    fn fill_c_through_b(&self) {
        let b_port = free_udp_port();
        let mut b = Node::start_sync(&self.b, b_port, &[]);
        let mut c = Node::start_sync(&self.c, 0, &[format!("{}@127.0.0.1:{b_port}", node_id(&self.b))]);
        let deadline = Instant::now() + Duration::from_secs(3600);
        while !equal(&b)(&c) {
            assert!(Instant::now() < deadline, "C did not catch up with B within an hour");
            std::thread::sleep(EQUAL_POLL);
        }
        c.stop();
        b.stop();
    }

    /// [`Pair::measure`] for the node in `dir` dialing A.
    fn measure_from(&self, dir: &Path, a: &Node, poll: Duration, done: impl Fn(&Node) -> bool) -> Measure {
        let t = Instant::now();
        let a_cpu = cpu_secs(a.pid());
        // A's counters for this node's id run on from its earlier connections.
        let a_sent = peer_number(a, &node_id(dir), "docs_sent");
        let mut b = self.start_dialing_a(dir);
        let deadline = t + Duration::from_secs(3600);
        while !done(&b) {
            assert!(Instant::now() < deadline, "no convergence within an hour");
            std::thread::sleep(poll);
        }
        let secs = t.elapsed().as_secs_f64();
        let cpu = (cpu_secs(a.pid()) - a_cpu, cpu_secs(b.pid()));
        std::thread::sleep(Duration::from_millis(200));
        let (frame_bytes, udp_bytes) = bytes(&b, &node_id(&self.a));
        let docs_sent = (
            peer_number(a, &node_id(dir), "docs_sent").saturating_sub(a_sent),
            peer_number(&b, &node_id(&self.a), "docs_sent"),
        );
        let m = Measure {
            secs,
            frame_bytes,
            udp_bytes,
            peak_a_mib: peak_kib(a.pid()) as f64 / 1024.0,
            peak_b_mib: peak_kib(b.pid()) as f64 / 1024.0,
            docs_sent,
            b_written: written(b.pid()),
            reconnect_ms: peer_number(&b, &node_id(&self.a), "caught_up_after_ms"),
            cpu,
        };
        b.stop();
        m
    }
}

/// Whether a node has a connected peer to which it has nothing left to send.
fn idle(node: &Node) -> bool {
    let peers = node.get("/api/v1/peers").body;
    peers.as_array().is_some_and(|r| r.iter().any(|p| p["connected"] == true && p["docs_pending"] == 0))
}

/// Both fingerprints equal — read only once both sessions are idle (a
/// cheap check), since reading a fingerprint scans the whole index and
/// would take CPU from the transfer being measured.
fn equal(a: &Node) -> impl Fn(&Node) -> bool + '_ {
    move |b| {
        if !idle(b) || !idle(a) {
            return false;
        }
        let fa = fingerprint(a);
        fa.0 > 0 && fingerprint(b) == fa
    }
}

fn caught_up(a_id: String) -> impl Fn(&Node) -> bool {
    move |b| {
        let peers = b.get("/api/v1/peers").body;
        peers.as_array().is_some_and(|r| {
            r.iter().any(|p| p["node_id"] == a_id.as_str() && p["connected"] == true && p["last_sync_at"].is_string())
        })
    }
}

fn median(mut v: Vec<Measure>) -> (Measure, Measure, Measure) {
    v.sort_by(|x, y| x.secs.total_cmp(&y.secs));
    let min = v[0];
    let max = v[v.len() - 1];
    (v[v.len() / 2], min, max)
}

fn row(name: &str, n: usize, runs: Vec<Measure>) {
    let (m, lo, hi) = median(runs);
    println!(
        "| {name} | {n} | {:.2} ({:.2}–{:.2}) | {} | {:.0} | {:.0} | {:.0} | {:.0} | {} / {} | {:.0} | {:.2} / {:.2} |",
        m.secs,
        lo.secs,
        hi.secs,
        m.reconnect_ms,
        m.frame_bytes as f64 / 1024.0,
        m.udp_bytes as f64 / 1024.0,
        m.peak_a_mib,
        m.peak_b_mib,
        m.docs_sent.0,
        m.docs_sent.1,
        m.b_written as f64 / (1 << 20) as f64,
        m.cpu.0,
        m.cpu.1
    );
}

/// Runs a store-writing step in a child process, so that each step opens
/// and closes the store on its own.
fn step(what: &str, dir: &Path, from: usize, to: usize) -> anyhow::Result<()> {
    let exe = std::env::current_exe()?;
    let status =
        std::process::Command::new(exe).arg(what).arg(dir).arg(from.to_string()).arg(to.to_string()).status()?;
    if !status.success() {
        bail!("{what} {} failed", dir.display());
    }
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let raw: Vec<String> = std::env::args().collect();
    if raw.len() == 5 && (raw[1] == "populate" || raw[1] == "return") {
        let (dir, from, to) = (PathBuf::from(&raw[2]), raw[3].parse::<usize>()?, raw[4].parse::<usize>()?);
        return if raw[1] == "populate" { populate(&dir, from, to - from) } else { return_results(&dir, from..to) };
    }
    let args = args()?;
    println!(
        "| scenario | N | wall s, median (min–max) | B dial → caught up ms | frame KiB | UDP KiB | A peak MiB | B peak MiB | docs sent A→B / B→A | B wrote MiB | CPU s A / B |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for &n in &args.sizes {
        let (mut s1, mut s3, mut s2, mut s3_path) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for _ in 0..args.runs {
            let pair = Pair::new(args.keep.as_deref())?;
            if pair.reused {
                let a = pair.start_a();
                s3.push(pair.measure(&a, QUICK_POLL, caught_up(node_id(&pair.a))));
                continue;
            }
            step("populate", &pair.a, 0, n)?;
            let mut a = pair.start_a();
            // S1: initial replication.
            s1.push(pair.measure(&a, EQUAL_POLL, equal(&a)));
            // S3: idle reconnect (B restarted; both hold the same).
            s3.push(pair.measure(&a, QUICK_POLL, caught_up(node_id(&pair.a))));
            // S3 by another path: C filled through B, then C dials A.
            if args.keep.is_none() {
                a.stop();
                pair.fill_c_through_b();
                a = pair.start_a();
                s3_path.push(pair.measure_from(&pair.c, &a, QUICK_POLL, caught_up(node_id(&pair.a))));
                let mut c = Node::start_sync(&pair.c, 0, &[]);
                if fingerprint(&c) != fingerprint(&a) {
                    bail!("C is not equal to A");
                }
                c.stop();
            }
            // Check: still equal.
            let mut b = pair.start_b();
            std::thread::sleep(Duration::from_millis(500));
            if fingerprint(&b) != fingerprint(&a) {
                bail!("S3 left the nodes different");
            }
            b.stop();
            a.stop();
            // S2: catch-up after an outage (at 10,000 and up).
            if n >= 10_000 && args.keep.is_none() {
                let scale = n / 10_000;
                let (new, a_updates, b_updates) = (1_000 * scale, 2_000 * scale, 500 * scale);
                step("populate", &pair.a, n, n + new)?;
                step("return", &pair.a, 0, a_updates)?;
                step("return", &pair.b, n / 2, n / 2 + b_updates)?;
                let a = pair.start_a();
                let m = pair.measure(&a, EQUAL_POLL, equal(&a));
                s2.push(m);
            }
        }
        if !s1.is_empty() {
            row("S1 initial replication", n, s1);
        }
        if !s2.is_empty() {
            row("S2 catch-up after outage", n, s2);
        }
        row("S3 idle reconnect", n, s3);
        if !s3_path.is_empty() {
            row("S3 idle reconnect, equal by another path", n, s3_path);
        }
    }
    Ok(())
}
