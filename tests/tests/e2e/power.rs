//! Durability through power loss, which a SIGKILL (crash.rs) cannot show:
//! the page cache survives a kill, not a power cut. In-process nodes (the
//! real desk, committer and store) run on a simulated disk
//! (`motcua_store::test_disk`) that keeps only what was synced when
//! the power goes. Officers receive dossiers and record actions from
//! several threads, so that group commit batches them; the power is cut at
//! a seeded disk operation; the store is opened again from the durable
//! bytes and must hold every acknowledged dossier and action, with
//! consistent indexes. The same run without fsync must lose some, and a
//! failing fsync must answer an error and save nothing.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use ed25519_dalek::SigningKey;
use motcua::http::{AppState, Metrics};
use motcua_desk::accounts::{Account, LoginSessions};
use motcua_desk::act::ActionRequest;
use motcua_desk::config::NodeConfig;
use motcua_desk::desk::{Desk, DeskError, DeskParts, Officer};
use motcua_desk::identity::Identity;
use motcua_desk::receive::NewDossierRequest;
use motcua_domain::calendar::WorkingCalendar;
use motcua_domain::catalog::Catalog;
use motcua_domain::workflow::Role;
use motcua_store::Store;
use motcua_store::test_disk::{Commits, TestDisk};
use motcua_tests::{Node, dossier_request};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// 2025-11-17 09:00 +07, a Monday: every round receives on this day, so
/// that a code reused after a power loss would show.
const MONDAY_0900: i64 = 1_763_344_800_000;
const NODE_KEY: [u8; 32] = [7; 32];
const WORKERS: u64 = 4;
/// Dossiers each worker receives in a round (each with up to two actions).
const DOSSIERS_PER_WORKER: u64 = 10;
const ROUNDS: u64 = 3;
const SEEDS: [u64; 5] = [1, 2, 3, 5, 8];

fn admin() -> Officer {
    Officer { username: "admin".into(), roles: vec![Role::Admin] }
}

/// A node's desk on `disk`: the node's key and configuration are files
/// that a power loss does not touch; only the store is on the disk.
fn desk_on(disk: TestDisk, commits: Commits) -> Arc<Desk> {
    let store = Arc::new(Store::open_on(disk, commits).expect("the store opens"));
    Arc::new(Desk::new(DeskParts {
        province: None,
        store,
        identity: Identity::from_key(SigningKey::from_bytes(&NODE_KEY)),
        config: NodeConfig::demo(),
        calendar: WorkingCalendar::builtin(),
        catalog: Catalog::sample(),
        trust: None,
    }))
}

fn request(n: u64) -> NewDossierRequest {
    serde_json::from_value(dossier_request("2.000720", n as u32)).unwrap()
}

/// The actions a worker may record on a dossier, in order, with the state
/// each leads to.
const PLAN: [(&str, u8); 2] = [("start_processing", 4), ("processed", 9)];

fn action(name: &str) -> ActionRequest {
    serde_json::from_value(serde_json::json!({"action": name, "result": "Đã giải quyết"})).unwrap()
}

/// What the officers were told of a dossier, and what may be stored
/// beyond it: the state of an action cut off before its answer.
#[derive(Debug, Clone, Copy)]
struct Told {
    state: u8,
    in_flight: Option<u8>,
}

/// What a workload left: every acknowledged dossier by code, and each
/// failure seen while the power was still on.
#[derive(Default)]
struct Acknowledged {
    dossiers: BTreeMap<String, Told>,
    failures_with_power_on: Vec<String>,
}

/// Officers on `WORKERS` threads receive dossiers and record actions until
/// each has done its share or its desk fails (the power went).
fn workload(desk: &Arc<Desk>, disk: &TestDisk, rng: &mut StdRng, next_number: &AtomicU64) -> Acknowledged {
    let acknowledged = Arc::new(Mutex::new(Acknowledged::default()));
    let clock = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            let (desk, disk, acknowledged, clock) = (desk.clone(), disk.clone(), acknowledged.clone(), clock.clone());
            let plans: Vec<(u64, usize)> = (0..DOSSIERS_PER_WORKER)
                .map(|_| (next_number.fetch_add(1, Ordering::Relaxed), rng.random_range(0..=PLAN.len())))
                .collect();
            std::thread::spawn(move || {
                let now = || MONDAY_0900 + clock.fetch_add(1, Ordering::Relaxed) as i64;
                let failed = |e: DeskError| {
                    if !disk.is_powered_off() {
                        acknowledged.lock().unwrap().failures_with_power_on.push(e.to_string());
                    }
                };
                for (n, actions) in plans {
                    let view = match desk.receive(&admin(), request(n), now()) {
                        Ok(v) => v,
                        Err(e) => return failed(e),
                    };
                    let code = view.code.clone();
                    let told = Told { state: view.state, in_flight: None };
                    let previous = acknowledged.lock().unwrap().dossiers.insert(code.clone(), told);
                    assert!(previous.is_none(), "code {code} was issued twice");
                    let set = |told: Told| {
                        acknowledged.lock().unwrap().dossiers.insert(code.clone(), told);
                    };
                    let mut acked = view.state;
                    for &(name, state) in &PLAN[..actions] {
                        set(Told { state: acked, in_flight: Some(state) });
                        match desk.act(&admin(), &code, action(name), now()) {
                            Ok(v) => {
                                assert_eq!(v.state, state, "{name} on {code}");
                                acked = state;
                                set(Told { state, in_flight: None });
                            }
                            Err(e) => return failed(e),
                        }
                    }
                }
            })
        })
        .collect();
    for w in workers {
        w.join().expect("a worker panicked");
    }
    Arc::try_unwrap(acknowledged).ok().expect("the workers are done").into_inner().unwrap()
}

/// What the store on a rebooted disk holds against what was acknowledged.
#[derive(Debug, Default)]
struct Check {
    /// Acknowledged dossiers or actions that are missing.
    lost: Vec<String>,
    /// Anything else wrong: an inconsistent store, a dossier in a state
    /// never asked for, a code stored twice.
    broken: Vec<String>,
}

/// Opens the store from the durable bytes and checks it against `told`
/// (every dossier acknowledged so far, updated with what is stored).
fn check_after_reboot(disk: &TestDisk, told: &mut BTreeMap<String, Told>) -> (Arc<Desk>, Check) {
    let mut check = Check::default();
    {
        let mut store = Store::open_on(disk.clone(), Commits::Durable).expect("the store opens after a power loss");
        if !store.check_integrity().expect("integrity check runs") {
            check.broken.push("redb's integrity check failed".into());
        }
        check.broken.extend(store.index_problems().expect("index check runs"));
    }
    let desk = desk_on(disk.clone(), Commits::Durable);
    let mut stored = Vec::new();
    desk.store().for_each_summary(|s| stored.push(s)).unwrap();
    for s in &stored {
        // Every stored dossier, acknowledged or not, reads whole, and each
        // of its changes has its attestation.
        match desk.get(&admin(), &s.code, MONDAY_0900) {
            Ok(v) if v.state == s.state.code() => {}
            Ok(v) => {
                check.broken.push(format!("{}: document in state {}, summary {}", s.code, v.state, s.state.code()))
            }
            Err(e) => check.broken.push(format!("{}: does not read: {e}", s.code)),
        }
        let doc = desk.store().load_doc(&s.id).unwrap().expect("index_problems found the document");
        for change in automerge::Automerge::load(&doc).unwrap().get_changes(&[]) {
            if desk.store().attestation(&change.hash().0).unwrap().is_none() {
                check.broken.push(format!("{}: a change without its attestation", s.code));
            }
        }
    }
    let states: BTreeMap<&str, u8> = stored.iter().map(|s| (s.code.as_str(), s.state.code())).collect();
    if states.len() != stored.len() {
        check.broken.push("a code is stored twice".into());
    }
    for (code, t) in told.iter_mut() {
        match states.get(code.as_str()).copied() {
            None => check.lost.push(format!("acknowledged dossier {code}")),
            Some(state) if state == t.state => t.in_flight = None,
            Some(state) if Some(state) == t.in_flight => *t = Told { state, in_flight: None },
            // States only move forward along the plan (2, 4, 9).
            Some(state) if state < t.state => {
                check.lost.push(format!("acknowledged state {} of {code} (stored: {state})", t.state));
                *t = Told { state, in_flight: None };
            }
            Some(state) => check.broken.push(format!("{code}: state {state} was never asked for")),
        }
    }
    (desk, check)
}

/// Disk operations of one round's workload without a cut: the range the
/// seeded cut points are drawn from.
fn operations_per_round() -> u64 {
    let disk = TestDisk::default();
    let desk = desk_on(disk.clone(), Commits::Durable);
    let before = disk.operations();
    let done = workload(&desk, &disk, &mut StdRng::seed_from_u64(0), &AtomicU64::new(1));
    assert!(done.failures_with_power_on.is_empty(), "{:?}", done.failures_with_power_on);
    disk.operations() - before
}

/// Runs `ROUNDS` rounds on one disk, cutting the power at a seeded
/// operation of each, and checks the store after each reboot.
fn run(seed: u64, commits: Commits, operations: u64) -> Check {
    let mut rng = StdRng::seed_from_u64(seed);
    let next_number = AtomicU64::new(seed * 100_000 + 1);
    let mut told: BTreeMap<String, Told> = BTreeMap::new();
    let mut disk = TestDisk::default();
    let mut all = Check::default();
    for round in 0..ROUNDS {
        let desk = desk_on(disk.clone(), commits);
        // Now and then past the end: a cut after the last answer.
        let cut = rng.random_range(1..=operations + operations / 8);
        disk.cut_power_after(cut);
        // Every other round or so the disk's cache has written some of
        // what was not synced yet.
        let keep_some = commits == Commits::Durable && rng.random_bool(0.5);
        if keep_some {
            disk.keep_some_unsynced(rng.random());
        }
        let done = workload(&desk, &disk, &mut rng, &next_number);
        disk.cut_power();
        drop(desk);
        for e in done.failures_with_power_on {
            all.broken.push(format!("seed {seed} round {round}: failed with the power on: {e}"));
        }
        for (code, t) in done.dossiers {
            assert!(told.insert(code.clone(), t).is_none(), "seed {seed}: code {code} was issued again");
        }
        disk = disk.reboot();
        let (desk, check) = check_after_reboot(&disk, &mut told);
        let at = format!("seed {seed} round {round} (cut at {cut}, keeping some unsynced: {keep_some})");
        all.lost.extend(check.lost.into_iter().map(|l| format!("{at}: {l}")));
        all.broken.extend(check.broken.into_iter().map(|b| format!("{at}: {b}")));
        // Lost ones are not looked for again: the counterpart run goes on.
        told.retain(|code, _| desk.store().id_by_code(code).unwrap().is_some());
        drop(desk);
        disk.cut_power();
        disk = disk.reboot();
        if commits == Commits::Unsynced {
            break;
        }
    }
    all
}

#[test]
fn every_acknowledged_dossier_and_action_survives_power_loss() {
    let operations = operations_per_round();
    for seed in SEEDS {
        let check = run(seed, Commits::Durable, operations);
        assert!(check.lost.is_empty() && check.broken.is_empty(), "seed {seed}: {check:#?}");
    }
}

/// The counterpart: the same run with commits that skip fsync loses
/// acknowledged dossiers, so the test above can fail.
#[test]
fn without_fsync_the_same_run_loses_acknowledged_dossiers() {
    let operations = operations_per_round();
    let check = run(SEEDS[0], Commits::Unsynced, operations);
    assert!(check.broken.is_empty(), "{check:#?}");
    assert!(check.lost.iter().any(|l| l.contains("acknowledged dossier")), "nothing was lost: {check:#?}");
}

/// A failing fsync at each of the next few syncs: the write in flight is
/// answered with an error and is not on the durable layer; what was
/// acknowledged before is.
#[test]
fn a_failed_fsync_answers_an_error_and_saves_nothing() {
    for failing in 1..=4 {
        let disk = TestDisk::default();
        let desk = desk_on(disk.clone(), Commits::Durable);
        let kept = desk.receive(&admin(), request(1), MONDAY_0900).unwrap();
        disk.fail_syncs_after(failing);
        let mut answered = vec![];
        let mut refused = None;
        for n in 2..10 {
            match desk.receive(&admin(), request(n), MONDAY_0900 + n as i64) {
                Ok(v) => answered.push(v.code),
                Err(e) => {
                    refused = Some(e);
                    break;
                }
            }
        }
        let refused = refused.expect("a write fails once its fsync does");
        // A sync fails at the commit (the batch is reported unsaved) or
        // inside the operation, where growing the file syncs its length
        // (the operation fails, and its batch with it); the API answers
        // both with 500 `store_error`.
        let store_failed = match &refused {
            DeskError::Unavailable(m) => m.contains("simulated fsync failure"),
            DeskError::Store(e) => e.to_string().contains("simulated fsync failure"),
            _ => false,
        };
        assert!(store_failed, "fsync failing at sync {failing}: {refused:?}");
        let durable = disk.durable_bytes();
        // The store takes no write after a failed fsync, so that nothing
        // written after it is reported saved either.
        assert!(desk.receive(&admin(), request(20), MONDAY_0900 + 20).is_err());
        assert!(desk.act(&admin(), &kept.code, action("start_processing"), MONDAY_0900 + 21).is_err());
        assert_eq!(disk.durable_bytes(), durable, "nothing more reached the durable layer");
        disk.cut_power();
        drop(desk);
        let disk = disk.reboot();
        let mut store = Store::open_on(disk.clone(), Commits::Durable).unwrap();
        assert!(store.check_integrity().unwrap());
        assert!(store.index_problems().unwrap().is_empty());
        let mut stored = Vec::new();
        store.for_each_summary(|s| stored.push((s.code, s.state.code()))).unwrap();
        let mut expected: Vec<(String, u8)> = std::iter::once(kept.code).chain(answered).map(|c| (c, 2)).collect();
        expected.sort();
        stored.sort();
        assert_eq!(stored, expected, "fsync failing at sync {failing}: exactly the acknowledged dossiers");
    }
}

/// Through HTTP: a dossier posted when an fsync fails (at each of the next
/// few syncs) gets a 500 in the API's error shape, no code, and is not
/// stored; those answered 201 before it are.
#[test]
fn a_failed_fsync_is_a_500_through_the_api() {
    for failing in 1..=4 {
        let disk = TestDisk::default();
        let desk = desk_on(disk.clone(), Commits::Durable);
        let sessions = Arc::new(LoginSessions::default());
        let account = Account {
            username: "admin".into(),
            full_name: "Quản trị".into(),
            roles: Role::ALL.to_vec(),
            password_hash: String::new(),
            created_at: MONDAY_0900,
        };
        let (token, _) = sessions.create(&account, motcua_desk::now_ms());
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let files = tempfile::tempdir().unwrap();
        let blobs = runtime.block_on(motcua::blobs::Blobs::open(files.path(), desk.clone())).unwrap();
        let state = AppState {
            desk: desk.clone(),
            blobs,
            sessions,
            metrics: Arc::new(Metrics::default()),
            peers: Arc::new(motcua::net::PeerBoard::with_configured(&[])),
            track: Arc::new(motcua::http::limits::GuessLimits::new(motcua::http::limits::TRACK)),
            logins: Arc::new(motcua::http::limits::GuessLimits::new(motcua::http::limits::LOGIN)),
            tls: false,
        };
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let app = motcua::http::router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = runtime.spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await
        });
        let mut node = Node::detached(std::path::Path::new("/nonexistent"), port);
        node.token = Some(token);

        let mut saved = vec![];
        let first = node.receive(&dossier_request("2.000720", 1));
        assert_eq!(first.status, 201, "{:?}", first.body);
        saved.push(first.body["code"].as_str().unwrap().to_string());
        disk.fail_syncs_after(failing);
        let failed = (2..10)
            .map(|n| node.receive(&dossier_request("2.000720", n)))
            .find(|a| {
                if a.status == 201 {
                    saved.push(a.body["code"].as_str().unwrap().to_string());
                }
                a.status != 201
            })
            .expect("a post fails once its fsync does");
        assert_eq!(failed.status, 500, "fsync failing at sync {failing}: {:?}", failed.body);
        assert_eq!(failed.body["error"]["code"], "store_error", "{:?}", failed.body);
        let message = failed.body["error"]["message"].as_str().unwrap();
        assert!(message.contains("simulated fsync failure"), "{:?}", failed.body);
        assert!(failed.body.get("code").is_none(), "no dossier code is handed out");

        stop.send(()).unwrap();
        runtime.block_on(server).unwrap().unwrap();
        drop(runtime);
        disk.cut_power();
        drop(desk);
        let store = Store::open_on(disk.reboot(), Commits::Durable).unwrap();
        let mut stored = Vec::new();
        store.for_each_summary(|s| stored.push(s.code)).unwrap();
        stored.sort();
        assert_eq!(stored, saved, "fsync failing at sync {failing}: exactly the dossiers answered 201");
    }
}
