//! Benchmark of durable reception and of list/search at scale, through a
//! real `motcua serve` process over HTTP on loopback.
//!
//! ```text
//! cargo build --release --bins && ./target/release/reception-bench [--sizes 10000,100000] [--clients 4]
//! ```
//!
//! Prints a Markdown report: reception latency (p50/p99) and throughput,
//! list/search latency at each size, and the node's resident memory.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use motcua_sim::workload::Workload;
use motcua_tests::Node;

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Receives `count` dossiers from `clients` threads; returns every latency.
fn receive(
    node: &Node,
    workload: &mut Workload,
    count: usize,
    clients: usize,
) -> anyhow::Result<(Vec<Duration>, Duration)> {
    let requests: Vec<_> = workload.take(count).map(|r| serde_json::to_value(r).expect("json")).collect();
    let chunks: Vec<Vec<serde_json::Value>> =
        requests.chunks(count.div_ceil(clients).max(1)).map(|c| c.to_vec()).collect();
    let started = Instant::now();
    let results: Vec<anyhow::Result<Vec<Duration>>> = std::thread::scope(|s| {
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                let mut handle = Node::detached(&node.dir, node.port);
                handle.token = node.token.clone();
                s.spawn(move || {
                    let mut lat = Vec::with_capacity(chunk.len());
                    for body in chunk {
                        let t = Instant::now();
                        let a = handle.receive(&body);
                        lat.push(t.elapsed());
                        if a.status != 201 {
                            bail!("reception failed: {a:?}");
                        }
                    }
                    Ok(lat)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("client thread")).collect()
    });
    let wall = started.elapsed();
    let mut all = Vec::with_capacity(count);
    for r in results {
        all.extend(r?);
    }
    all.sort();
    Ok((all, wall))
}

fn time_get(node: &Node, path: &str, runs: usize) -> anyhow::Result<(Duration, Duration, u64)> {
    let mut lat = Vec::with_capacity(runs);
    let mut total = 0;
    for _ in 0..runs {
        let t = Instant::now();
        let a = node.get(path);
        lat.push(t.elapsed());
        if a.status != 200 {
            bail!("GET {path} failed: {a:?}");
        }
        total = a.total.unwrap_or(0);
    }
    lat.sort();
    Ok((percentile(&lat, 0.5), percentile(&lat, 0.99), total))
}

fn main() -> anyhow::Result<()> {
    let mut sizes = vec![10_000usize, 100_000];
    let mut clients = 4usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--sizes" => {
                sizes = args
                    .next()
                    .context("--sizes needs a value")?
                    .split(',')
                    .map(|s| s.parse())
                    .collect::<Result<_, _>>()
                    .context("--sizes is a comma-separated list of counts")?
            }
            "--clients" => clients = args.next().context("--clients needs a value")?.parse()?,
            other => bail!("unknown argument {other}; usage: reception-bench [--sizes 10000,100000] [--clients 4]"),
        }
    }
    let dir = tempfile::tempdir()?;
    let node = Node::start_logged_in(dir.path());
    let pid = node.pid();
    let mut workload = Workload::new(42);
    println!("# motcua reception benchmark\n");
    println!("Workload: seed 42 (motcua-sim), mix of the sample catalog's procedures, synthetic applicants.\n");

    // Durable reception, one client: the latency an officer at the desk sees.
    let (lat, wall) = receive(&node, &mut workload, 1_000, 1)?;
    println!("## Durable reception (POST /api/v1/dossiers, each committed with fsync before the answer)\n");
    println!("| clients | dossiers | p50 ms | p99 ms | max ms | dossiers/s |");
    println!("|---|---|---|---|---|---|");
    println!(
        "| 1 | {} | {} | {} | {} | {:.0} |",
        lat.len(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap()),
        lat.len() as f64 / wall.as_secs_f64()
    );
    let (lat, wall) = receive(&node, &mut workload, 2_000, clients)?;
    println!(
        "| {clients} | {} | {} | {} | {} | {:.0} |\n",
        lat.len(),
        ms(percentile(&lat, 0.5)),
        ms(percentile(&lat, 0.99)),
        ms(*lat.last().unwrap()),
        lat.len() as f64 / wall.as_secs_f64()
    );

    println!("## List and search\n");
    println!("| dossiers held | query | p50 ms | p99 ms | matches |");
    println!("|---|---|---|---|---|");
    let mut held = 3_000usize;
    let mut memory = Vec::new();
    for size in sizes {
        if size > held {
            let started = Instant::now();
            receive(&node, &mut workload, size - held, clients)?;
            eprintln!("filled to {size} in {:.0} s", started.elapsed().as_secs_f64());
            held = size;
        }
        let sample = Workload::new(42).nth(17).expect("workload is endless");
        let code =
            node.get("/api/v1/dossiers?limit=1&offset=500").body[0]["code"].as_str().unwrap_or_default().to_string();
        let queries = [
            ("newest 50", "/api/v1/dossiers?limit=50".to_string()),
            ("state=2, newest 50", "/api/v1/dossiers?state=2&limit=50".to_string()),
            ("overdue", "/api/v1/dossiers?overdue=true&limit=50".to_string()),
            ("page 100 (offset 5000)", "/api/v1/dossiers?limit=50&offset=5000".to_string()),
            ("q = dossier code", format!("/api/v1/dossiers?q={code}")),
            ("q = id number", format!("/api/v1/dossiers?q={}", sample.applicant.id_number)),
            ("q = given name, no accents (\"thao\")", "/api/v1/dossiers?q=thao&limit=50".to_string()),
            ("q = full name, no accents", "/api/v1/dossiers?q=tran%20thi%20thao&limit=50".to_string()),
        ];
        for (name, path) in queries {
            let (p50, p99, total) = time_get(&node, &path, 100)?;
            println!("| {size} | {name} | {} | {} | {total} |", ms(p50), ms(p99));
        }
        let (p50, p99, _) = time_get(&node, "/api/v1/stats", 10)?;
        println!("| {size} | stats (all time, full scan) | {} | {} | — |", ms(p50), ms(p99));
        memory.push((size, rss_kib(pid)));
    }
    println!("\n## Node memory\n");
    println!("| dossiers held | RSS MiB | peak RSS MiB |");
    println!("|---|---|---|");
    for (size, (rss, hwm)) in memory {
        println!("| {size} | {:.1} | {:.1} |", rss as f64 / 1024.0, hwm as f64 / 1024.0);
    }
    let db = dir.path().join("motcua.redb");
    let bytes = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0);
    println!("\nStore file: {:.1} MiB.", bytes as f64 / 1024.0 / 1024.0);
    Ok(())
}
