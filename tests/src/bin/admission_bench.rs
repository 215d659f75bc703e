//! What admitting one benchmark dossier costs, step by step, on one core:
//! the receiving side's work per whole document in sync (S1).
//!
//! ```text
//! cargo build --release --bins && ./target/release/admission-bench [--docs 2000]
//! ```

use std::time::Instant;

use anyhow::Context;
use automerge::{Automerge, LoadOptions, VerificationMode};
use ed25519_dalek::SigningKey;
use motcua_desk::identity::Identity;
use motcua_domain::authority::{check_additions, latest_changes};
use motcua_domain::dossier;
use motcua_domain::fold::fold;
use motcua_sim::workload::Workload;
use motcua_sync::attest::{self, Attestation};
use motcua_sync::cert::{NodeRole, ProvinceRecord};
use motcua_sync::verify::{Trust, verify_document};
use motcua_tests::bench_dossiers::{AGENCY_ID, T0, UNIT, five_changes};
use rand::SeedableRng;
use rand::rngs::StdRng;

fn time<T>(what: &str, n: usize, mut f: impl FnMut(usize) -> T) -> Vec<T> {
    let t = Instant::now();
    let out: Vec<T> = (0..n).map(&mut f).collect();
    println!("| {what} | {:.1} |", t.elapsed().as_secs_f64() * 1e6 / n as f64);
    out
}

fn main() -> anyhow::Result<()> {
    let mut n = 2_000;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--docs" => n = args.next().context("--docs N")?.parse()?,
            other => anyhow::bail!("unknown flag {other}"),
        }
    }
    let root = SigningKey::from_bytes(&[7; 32]);
    let key = SigningKey::from_bytes(&[9; 32]);
    let node = Identity::from_key(key.clone());
    let record = ProvinceRecord {
        code: "56".into(),
        name: "Tỉnh Thử".into(),
        public_key: hex::encode(root.verifying_key().to_bytes()),
        daily_dossiers_per_node: None,
    };
    let mut trust = Trust::new(&record).context("root key")?;
    let cert = motcua_sync::fixtures::certificate(&root, &key, UNIT, AGENCY_ID, NodeRole::Commune, 1, i64::MAX);
    trust.admit(&cert, None)?;

    let mut rng = StdRng::seed_from_u64(42);
    let work: Vec<_> = Workload::new(42).take(n).collect();
    let docs: Vec<Automerge> = (0..n).map(|i| five_changes(&node, i, &work[i], &mut rng)).collect::<Result<_, _>>()?;
    let sigs: Vec<([u8; 32], Attestation)> = docs
        .iter()
        .map(|d| {
            let h = d.get_heads()[0].0;
            (h, node.attest(&h))
        })
        .collect();

    println!("| step ({n} dossiers) | µs per dossier |");
    println!("|---|---|");
    let bytes = time("save_nocompress", n, |i| docs[i].save_nocompress());
    let size: usize = bytes.iter().map(Vec::len).sum();
    println!("| (bytes per dossier: {}) | |", size / n);
    let loaded = time("Automerge::load", n, |i| Automerge::load(&bytes[i]).unwrap());
    time("load, heads not verified", n, |i| {
        Automerge::load_with_options(&bytes[i], LoadOptions::new().verification_mode(VerificationMode::DontCheck))
            .unwrap()
    });
    time("get_heads", n, |i| loaded[i].get_heads());
    time("get_changes_meta", n, |i| loaded[i].get_changes_meta(&[]).len());
    time("get_changes", n, |i| loaded[i].get_changes(&[]).len());
    time("get_changes + decode", n, |i| {
        loaded[i].get_changes(&[]).iter().map(|c| c.decode().operations.len()).sum::<usize>()
    });
    time("latest_changes", n, |i| latest_changes(&loaded[i], &[]));
    let records = time("dossier::read", n, |i| dossier::read(&loaded[i]).unwrap());
    time("fold", n, |i| fold(&records[i], 420));
    time("check_additions", n, |i| check_additions(&loaded[i], &[], 420).unwrap());
    time("attest::verify", n, |i| attest::verify(&sigs[i].1, &sigs[i].0).unwrap());
    time("verify_document", n, |i| {
        let (h, a) = sigs[i];
        verify_document(&trust, &loaded[i], &[], |x| (x == &h).then_some(a), 420).unwrap()
    });
    time("hydrate", n, |i| loaded[i].hydrate(None));
    let changes: Vec<Vec<Vec<u8>>> =
        loaded.iter().map(|d| d.get_changes(&[]).iter().map(|c| c.raw_bytes().to_vec()).collect()).collect();
    println!("| (change bytes per dossier: {}) | |", changes.iter().flatten().map(Vec::len).sum::<usize>() / n);
    let parsed = time("Change::from_bytes", n, |i| {
        changes[i].iter().map(|b| automerge::Change::from_bytes(b.clone()).unwrap()).collect::<Vec<_>>()
    });
    time("decode parsed", n, |i| parsed[i].iter().map(|c| c.decode().operations.len()).sum::<usize>());
    time("apply_changes", n, |i| {
        let mut d = Automerge::new();
        d.apply_changes(parsed[i].clone()).unwrap();
        d
    });
    let inc: Vec<Vec<u8>> = changes.iter().map(|cs| cs.concat()).collect();
    time("load_incremental of changes", n, |i| {
        let mut d = Automerge::new();
        d.load_incremental(&inc[i]).unwrap();
        d
    });
    time("Automerge::load of changes", n, |i| Automerge::load(&inc[i]).unwrap());
    // Storing: what the writer does per dossier, in transactions of 27
    // dossiers (one 64 KiB batch) committed durably, on a real redb file.
    let dir = tempfile::tempdir()?;
    let summaries = time("fold + summary", n, |i| {
        let f = fold(&records[i], 420);
        motcua_domain::stats::DossierSummary::new(&records[i], &f)
    });
    let entries =
        time("sync entry", n, |i| motcua_desk::entry::sync_entry(&loaded[i], &records[i], &summaries[i], Vec::new()));
    let store_all = |name: &str, durable: bool| -> anyhow::Result<()> {
        let store =
            motcua_store::Store::open(&dir.path().join(name), motcua_store::ApplicantKey::from_node_secret(&[0; 32]))?;
        let t = Instant::now();
        for chunk in (0..n).collect::<Vec<_>>().chunks(27) {
            let w = store.begin()?;
            {
                let mut t = w.dossier_tables()?;
                for &i in chunk {
                    t.put_attestation(&sigs[i].0, &sigs[i].1)?;
                    t.put_dossier(&bytes[i], &summaries[i], &entries[i])?;
                }
            }
            if durable { w.commit_durable()? } else { w.commit_lazy()? }
        }
        let how = if durable { "per durable commit" } else { "per commit without fsync" };
        println!("| store, 27 {how} | {:.1} |", t.elapsed().as_secs_f64() * 1e6 / n as f64);
        Ok(())
    };
    store_all("durable.redb", true)?;
    store_all("lazy.redb", false)?;
    // A delta (catch-up, S2): one more event on a dossier the receiver holds.
    let updated: Vec<Automerge> = loaded
        .iter()
        .map(|d| {
            let mut u = d.fork().with_actor(node.actor());
            let e = motcua_tests::bench_dossiers::event(
                &node,
                motcua_domain::workflow::Action::ReturnResult,
                T0 + 30 * 86_400_000,
            );
            dossier::append_event(&mut u, &e).unwrap();
            u
        })
        .collect();
    let deltas: Vec<Vec<u8>> = (0..n).map(|i| updated[i].save_after(&loaded[i].get_heads())).collect();
    println!("| (delta bytes per dossier: {}) | |", deltas.iter().map(Vec::len).sum::<usize>() / n);
    let applied = time("delta: load stored + load_incremental", n, |i| {
        let mut d = Automerge::load(&bytes[i]).unwrap();
        d.load_incremental(&deltas[i]).unwrap();
        d
    });
    time("delta: one load of stored bytes and delta together", n, |i| {
        Automerge::load(&[bytes[i].as_slice(), deltas[i].as_slice()].concat()).unwrap()
    });
    time("delta: load_incremental alone", n, |i| {
        let mut d = loaded[i].clone();
        d.load_incremental(&deltas[i]).unwrap()
    });
    time("delta: check_additions since known heads", n, |i| {
        check_additions(&applied[i], &loaded[i].get_heads(), 420).unwrap()
    });
    time("Automerge clone", n, |i| loaded[i].clone());
    time("save_nocompress of loaded", n, |i| loaded[i].save_nocompress());
    Ok(())
}
