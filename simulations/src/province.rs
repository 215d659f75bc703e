//! A province in simulation: a province node, communes and an agency, each
//! a real sync [`Session`] over a [`MemoryReplica`], exchanging real wire
//! frames on a simulated network under a seeded virtual clock.
//!
//! The network carries each connection as an ordered, reliable stream, as
//! QUIC does: packet loss, duplication and reordering below it show to the
//! sessions as latency jitter, and a loss the transport cannot hide as a
//! connection reset. Links have latency and bandwidth; faults are scheduled
//! outages (a commune's link down for a while), connection resets, frames
//! corrupted in flight (a decoder's business to refuse), and node crashes
//! that lose what was saved lazily and every received batch whose commit
//! was not yet durable. A node's commits become durable in order, each a
//! seeded while after it started (the fsync), and only then does its
//! session acknowledge what they store. After the workload ends the network
//! heals and the run goes on until nothing moves; then the checkers run.
//!
//! Everything flows from the seed: one seed replays a run exactly.

use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use automerge::{ActorId, ReadDoc};
use ed25519_dalek::SigningKey;
use motcua_domain::dossier::{self, Channel, DossierId, Event, NewDossier};
use motcua_domain::fixtures::{T0, new_dossier};
use motcua_domain::fold::fold;
use motcua_domain::stats::DossierSummary;
use motcua_domain::workflow::{Action, Status};
use motcua_sync::cert::{NodeRole, ProvinceRecord};
use motcua_sync::fixtures::certificate;
use motcua_sync::memory::MemoryReplica;
use motcua_sync::redial::Redial;
use motcua_sync::routing;
use motcua_sync::session::{CommitId, Local, Replica, Session, SessionError};
use motcua_sync::verify::Trust;
use motcua_sync::wire::{FrameReader, encode_frame};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

pub const AGENCY: &str = "000.00.12.H56";
/// A dossier a simulated node might act on, as its fold sees it.
struct Candidate {
    id: [u8; 16],
    state: Status,
    holder: String,
    receiving: String,
    /// Transferred by this node, and the receiver has not acted since.
    recallable: bool,
    /// Handed over by some unit, so it can be sent back a step.
    can_return: bool,
}

const UTC_OFFSET: i32 = 420;
/// How many times a crash meant to hit a commit in flight waits for one
/// (a couple of seconds each) before it happens anyway.
const CRASH_WAITS: u16 = 1_000;
const MINUTE: i64 = 60_000;

/// What a run does.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub communes: usize,
    /// Dossiers each commune receives during the workload.
    pub dossiers_per_commune: usize,
    /// Virtual length of the workload, after which the network heals.
    pub workload_ms: i64,
    /// Chance that a frame is lost beyond what the transport hides (the
    /// connection resets).
    pub reset_per_frame: f64,
    /// Chance that a frame arrives corrupted.
    pub corrupt_per_frame: f64,
    /// Scheduled outages per commune link during the workload.
    pub outages_per_link: usize,
    /// Node crashes during the workload (any node).
    pub crashes: usize,
    /// A direct link between the first commune and the agency.
    pub direct_link: bool,
}

impl Config {
    /// The CI configuration: province, 5 communes, 1 agency, random faults.
    pub fn faulty(seed: u64) -> Config {
        Config {
            seed,
            communes: 5,
            dossiers_per_commune: 6,
            workload_ms: 4 * 60 * MINUTE,
            reset_per_frame: 0.01,
            corrupt_per_frame: 0.005,
            outages_per_link: 2,
            crashes: 2,
            direct_link: true,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunReport {
    pub seed: u64,
    pub dossiers: usize,
    pub local_changes: u64,
    pub frames: u64,
    pub bytes: u64,
    pub resets: u64,
    pub corrupted: u64,
    pub crashes: u64,
    /// Commits of received documents a crash undid before they were
    /// durable.
    pub lost_commits: u64,
    /// Virtual time from the heal until nothing moved.
    pub convergence_ms: i64,
    /// Dossiers returned to the citizen during the run.
    pub returned: usize,
    /// Recalls and returns to the previous step the converged dossiers
    /// hold, and events the fold lists as conflicts.
    pub recalls: usize,
    pub returns_to_previous: usize,
    pub conflicts: usize,
}

struct Node {
    replica: MemoryReplica,
    up: bool,
    /// Dossiers this node received (communes), for codes.
    issued: usize,
    /// A `Changed` wake-up is already scheduled.
    wake_pending: bool,
    /// Local changes made while this node had no connection: counted for
    /// the report only.
    local_changes: u64,
    /// The newest commit whose durability is scheduled, and when.
    durable_scheduled: Option<CommitId>,
    durable_at: i64,
}

struct Link {
    /// The dialing side (a member) and the accepting side.
    dialer: usize,
    acceptor: usize,
    latency_ms: i64,
    bytes_per_ms: i64,
    up: bool,
    conn: Option<u64>,
    /// When the dialer dials again, as the node's driver decides it.
    redial: Redial,
    dial_pending: bool,
}

struct Conn {
    link: usize,
    /// Sessions: [dialer side, acceptor side].
    sessions: [Session; 2],
    readers: [FrameReader; 2],
    /// Per direction (0: dialer → acceptor): when the sender's last frame
    /// finishes transmitting, and when it arrives.
    busy_until: [i64; 2],
    last_arrival: [i64; 2],
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum What {
    Deliver {
        conn: u64,
        to: usize,
        frame: Vec<u8>,
    },
    Reset {
        conn: u64,
    },
    Work {
        node: usize,
    },
    Wake {
        node: usize,
    },
    Dial {
        link: usize,
    },
    LinkDown {
        link: usize,
    },
    LinkUp {
        link: usize,
    },
    /// A crash; `waits` times it waits a little while the node has no
    /// commit in flight, so that crashes also hit received batches not
    /// yet durable.
    Crash {
        node: usize,
        waits: u16,
    },
    Restart {
        node: usize,
    },
    /// The node's commits up to this one are durable.
    Durable {
        node: usize,
        upto: CommitId,
    },
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Scheduled {
    at: std::cmp::Reverse<i64>,
    seq: std::cmp::Reverse<u64>,
    what: What,
}

pub struct Sim {
    cfg: Config,
    rng: StdRng,
    now: i64,
    seq: u64,
    queue: BinaryHeap<Scheduled>,
    nodes: Vec<Node>,
    links: Vec<Link>,
    conns: BTreeMap<u64, Conn>,
    next_conn: u64,
    healed: bool,
    /// When a frame last arrived.
    last_activity: i64,
    /// Every change a node committed locally: (dossier, change hash).
    ledger: BTreeSet<([u8; 16], [u8; 32])>,
    report: RunReport,
}

fn key(n: u8) -> SigningKey {
    SigningKey::from_bytes(&[n; 32])
}

fn hex_of(k: &SigningKey) -> String {
    hex::encode(k.verifying_key().to_bytes())
}

/// A check that failed, with the seed that replays it.
#[derive(Debug)]
pub struct Failure {
    pub seed: u64,
    pub what: String,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "seed {}: {} (replay: motcua-sim --seed {})", self.seed, self.what, self.seed)
    }
}

impl Sim {
    pub fn new(cfg: Config) -> Sim {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let root = key(200);
        let record = ProvinceRecord {
            code: "56".into(),
            name: "Tỉnh Mô Phỏng".into(),
            public_key: hex_of(&root),
            daily_dossiers_per_node: None,
        };
        let mut units: Vec<(String, NodeRole, String)> =
            vec![("56".into(), NodeRole::Province, "000.00.00.H56".into())];
        for i in 0..cfg.communes {
            units.push((format!("{:05}", 26_700 + i), NodeRole::Commune, format!("000.21.{:02}.H56", 40 + i)));
        }
        units.push((AGENCY.into(), NodeRole::Agency, AGENCY.into()));
        let nodes: Vec<Node> = units
            .iter()
            .enumerate()
            .map(|(i, (unit, role, agency_id))| {
                let k = key(i as u8 + 1);
                let signed = certificate(&root, &k, unit, agency_id, *role, i as u8 + 1, T0 + 365 * 24 * 60 * MINUTE);
                let mut trust = Trust::new(&record).expect("root key");
                trust.admit(&signed, None).expect("own certificate");
                let local = Local {
                    key: k.verifying_key().to_bytes(),
                    unit: unit.clone(),
                    role: *role,
                    certificate: serde_json::to_vec(&signed).expect("serializes"),
                    utc_offset_minutes: UTC_OFFSET,
                };
                let mut replica = MemoryReplica::new(local, k, trust);
                replica.defer_commits(true);
                Node {
                    replica,
                    up: true,
                    issued: 0,
                    wake_pending: false,
                    local_changes: 0,
                    durable_scheduled: None,
                    durable_at: 0,
                }
            })
            .collect();
        let agency = nodes.len() - 1;
        let mut links = Vec::new();
        let link = |dialer: usize, acceptor: usize, rng: &mut StdRng| Link {
            dialer,
            acceptor,
            latency_ms: rng.random_range(5..300),
            // 8 kB/s (a thin mountain link) to 1 MB/s.
            bytes_per_ms: rng.random_range(8..1000),
            up: true,
            conn: None,
            redial: Redial::new(),
            dial_pending: false,
        };
        for member in 1..nodes.len() {
            links.push(link(member, 0, &mut rng));
        }
        if cfg.direct_link && cfg.communes > 0 {
            links.push(link(1, agency, &mut rng));
        }
        let mut sim = Sim {
            report: RunReport { seed: cfg.seed, ..RunReport::default() },
            cfg,
            rng,
            now: 0,
            seq: 0,
            queue: BinaryHeap::new(),
            nodes,
            links,
            conns: BTreeMap::new(),
            next_conn: 1,
            healed: false,
            last_activity: 0,
            ledger: BTreeSet::new(),
        };
        sim.plan();
        sim
    }

    fn at(&mut self, at: i64, what: What) {
        self.seq += 1;
        self.queue.push(Scheduled { at: std::cmp::Reverse(at), seq: std::cmp::Reverse(self.seq), what });
    }

    /// Schedules the workload and the faults.
    fn plan(&mut self) {
        let end = self.cfg.workload_ms;
        for n in 1..self.nodes.len() {
            let first = self.rng.random_range(0..10 * MINUTE);
            self.at(first, What::Work { node: n });
        }
        for l in 0..self.links.len() {
            self.at(0, What::Dial { link: l });
            self.links[l].dial_pending = true;
            for _ in 0..self.cfg.outages_per_link {
                let from = self.rng.random_range(0..end);
                let length = self.rng.random_range(MINUTE..60 * MINUTE);
                self.at(from, What::LinkDown { link: l });
                self.at((from + length).min(end), What::LinkUp { link: l });
            }
        }
        for _ in 0..self.cfg.crashes {
            let node = self.rng.random_range(0..self.nodes.len());
            let when = self.rng.random_range(0..end);
            let waits = if self.rng.random_bool(0.5) { 0 } else { CRASH_WAITS };
            self.at(when, What::Crash { node, waits });
        }
    }

    /// Runs the workload, heals the network, runs until nothing moves and
    /// checks the invariants.
    pub fn run(mut self) -> Result<RunReport, Failure> {
        let limit = self.cfg.workload_ms + 24 * 60 * MINUTE;
        loop {
            let Some(s) = self.queue.pop() else {
                if self.healed {
                    break;
                }
                self.heal();
                continue;
            };
            let at = s.at.0;
            if !self.healed && at >= self.cfg.workload_ms {
                self.queue.push(s);
                self.heal();
                continue;
            }
            if at > limit {
                return Err(self.fail("still busy a day after the heal".into()));
            }
            self.now = self.now.max(at);
            self.event(s.what).map_err(|what| self.fail(what))?;
            self.schedule_durable();
            self.check_sessions()?;
        }
        self.report.convergence_ms = (self.last_activity - self.cfg.workload_ms).max(0);
        self.check()?;
        Ok(self.report)
    }

    /// Every live session's invariants ([`Session::check_invariants`]).
    fn check_sessions(&self) -> Result<(), Failure> {
        for (id, c) in &self.conns {
            for (side, s) in c.sessions.iter().enumerate() {
                if let Err(e) = s.check_invariants() {
                    let node = self.node_of(c, side);
                    return Err(self.fail(format!("t={} connection {id}, node {node}: {e}", self.now)));
                }
            }
        }
        Ok(())
    }

    fn fail(&self, what: String) -> Failure {
        Failure { seed: self.cfg.seed, what }
    }

    /// The end of the workload: every link and node comes back, and faults
    /// stop.
    fn heal(&mut self) {
        self.healed = true;
        self.now = self.now.max(self.cfg.workload_ms);
        for n in 0..self.nodes.len() {
            if !self.nodes[n].up {
                self.restart(n);
            }
        }
        // Every link reconnects afresh, as after a real outage.
        let open: Vec<u64> = self.conns.keys().copied().collect();
        for c in open {
            self.close(c);
        }
        for l in 0..self.links.len() {
            self.links[l].up = true;
            self.links[l].redial.reset();
            self.schedule_dial(l, 0);
        }
    }

    fn event(&mut self, what: What) -> Result<(), String> {
        match what {
            What::Deliver { conn, to, frame } => self.deliver(conn, to, frame),
            What::Reset { conn } => {
                self.report.resets += 1;
                self.close(conn);
                Ok(())
            }
            What::Work { node } => {
                if self.nodes[node].up && !self.healed {
                    self.work(node)?;
                }
                if !self.healed {
                    let next = self.now + self.rng.random_range(MINUTE..15 * MINUTE);
                    self.at(next, What::Work { node });
                }
                Ok(())
            }
            What::Wake { node } => {
                self.nodes[node].wake_pending = false;
                self.wake(node)
            }
            What::Dial { link } => {
                self.links[link].dial_pending = false;
                self.dial(link);
                Ok(())
            }
            What::LinkDown { link } => {
                if !self.healed {
                    self.links[link].up = false;
                    if let Some(c) = self.links[link].conn {
                        self.close(c);
                    }
                }
                Ok(())
            }
            What::LinkUp { link } => {
                self.links[link].up = true;
                Ok(())
            }
            What::Crash { node, waits } => {
                if !self.healed && self.nodes[node].up {
                    if waits > 0 && self.nodes[node].replica.commits_in_flight() == 0 {
                        let next = self.now + self.rng.random_range(1..2_000);
                        self.at(next, What::Crash { node, waits: waits - 1 });
                        return Ok(());
                    }
                    self.report.crashes += 1;
                    self.nodes[node].up = false;
                    self.report.lost_commits += self.nodes[node].replica.crash() as u64;
                    let conns: Vec<u64> = self.conns_of(node).into_iter().map(|(c, _)| c).collect();
                    for c in conns {
                        self.close(c);
                    }
                    let back = self.now + self.rng.random_range(MINUTE..20 * MINUTE);
                    self.at(back.min(self.cfg.workload_ms), What::Restart { node });
                }
                Ok(())
            }
            What::Restart { node } => {
                if !self.nodes[node].up {
                    self.restart(node);
                }
                Ok(())
            }
            What::Durable { node, upto } => self.durable(node, upto),
        }
    }

    /// Each commit a node started since the last scheduled one becomes
    /// durable a seeded while later, after the ones before it.
    fn schedule_durable(&mut self) {
        for node in 0..self.nodes.len() {
            let n = &self.nodes[node];
            let Some(last) = n.replica.last_commit() else { continue };
            if n.durable_scheduled.is_some_and(|d| d >= last) {
                continue;
            }
            let at = (self.now + self.rng.random_range(1..500)).max(n.durable_at);
            let n = &mut self.nodes[node];
            n.durable_scheduled = Some(last);
            n.durable_at = at;
            self.at(at, What::Durable { node, upto: last });
        }
    }

    /// A node's commits up to `upto` are durable: its sessions send what
    /// waited on them. (Commits a crash undid are no longer there.)
    fn durable(&mut self, node: usize, upto: CommitId) -> Result<(), String> {
        if !self.nodes[node].up {
            return Ok(());
        }
        self.nodes[node].replica.durable(upto);
        for (conn, side) in self.conns_of(node) {
            let c = self.conns.get_mut(&conn).expect("open");
            for id in c.sessions[side].awaiting_commits() {
                if id <= upto {
                    c.sessions[side].committed(id);
                }
            }
            self.flush(conn, side);
        }
        Ok(())
    }

    fn restart(&mut self, node: usize) {
        self.nodes[node].up = true;
        for l in 0..self.links.len() {
            if self.links[l].dialer == node || self.links[l].acceptor == node {
                self.schedule_dial(l, 0);
            }
        }
    }

    fn schedule_dial(&mut self, link: usize, after: i64) {
        if !self.links[link].dial_pending {
            self.links[link].dial_pending = true;
            self.at(self.now + after, What::Dial { link });
        }
    }

    fn dial(&mut self, l: usize) {
        let link = &self.links[l];
        if link.conn.is_some() {
            return;
        }
        if !link.up || !self.nodes[link.dialer].up || !self.nodes[link.acceptor].up {
            let next = self.links[l].redial.failed(self.now, self.rng.random());
            self.schedule_dial(l, next - self.now);
            return;
        }
        let (d, a) = (link.dialer, link.acceptor);
        let id = self.next_conn;
        self.next_conn += 1;
        let mut sd = Session::new(self.nodes[d].replica.local.clone(), self.nodes[a].replica.local.key, true);
        let mut sa = Session::new(self.nodes[a].replica.local.clone(), self.nodes[d].replica.local.key, false);
        sd.start(&self.nodes[d].replica);
        sa.start(&self.nodes[a].replica);
        self.conns.insert(
            id,
            Conn {
                link: l,
                sessions: [sd, sa],
                readers: [FrameReader::default(), FrameReader::default()],
                busy_until: [self.now; 2],
                last_arrival: [self.now; 2],
            },
        );
        self.links[l].conn = Some(id);
        self.links[l].redial.connected(self.now);
        self.flush(id, 0);
        self.flush(id, 1);
    }

    fn close(&mut self, conn: u64) {
        if let Some(c) = self.conns.remove(&conn) {
            let l = c.link;
            self.links[l].conn = None;
            let next = self.links[l].redial.disconnected(self.now, self.rng.random());
            self.schedule_dial(l, next - self.now);
        }
    }

    fn node_of(&self, conn: &Conn, side: usize) -> usize {
        let link = &self.links[conn.link];
        if side == 0 { link.dialer } else { link.acceptor }
    }

    /// Sends what `side` of `conn` has queued, frame by frame.
    fn flush(&mut self, conn: u64, side: usize) {
        let Some(c) = self.conns.get_mut(&conn) else { return };
        let outgoing = c.sessions[side].take_outgoing();
        let link = &self.links[c.link];
        let (latency, bw) = (link.latency_ms, link.bytes_per_ms);
        for m in outgoing {
            let mut frame = encode_frame(&m);
            self.report.frames += 1;
            self.report.bytes += frame.len() as u64;
            let c = self.conns.get_mut(&conn).expect("open");
            let depart = c.busy_until[side].max(self.now);
            c.busy_until[side] = depart + (frame.len() as i64 / bw).max(1);
            let jitter = self.rng.random_range(0..=latency / 4 + 1);
            let arrive = (c.busy_until[side] + latency + jitter).max(c.last_arrival[side]);
            c.last_arrival[side] = arrive;
            if !self.healed && self.rng.random_bool(self.cfg.reset_per_frame) {
                self.at(arrive, What::Reset { conn });
                return;
            }
            if !self.healed && self.rng.random_bool(self.cfg.corrupt_per_frame) {
                self.report.corrupted += 1;
                let i = self.rng.random_range(0..frame.len());
                frame[i] ^= self.rng.random_range(1..=255u8);
            }
            self.at(arrive, What::Deliver { conn, to: 1 - side, frame });
        }
    }

    fn deliver(&mut self, conn: u64, to: usize, frame: Vec<u8>) -> Result<(), String> {
        let Some(c) = self.conns.get_mut(&conn) else { return Ok(()) };
        c.readers[to].push(&frame);
        self.last_activity = self.now;
        let node = self.node_of(self.conns.get(&conn).expect("open"), to);
        loop {
            let c = self.conns.get_mut(&conn).expect("open");
            let message = match c.readers[to].next_message() {
                Ok(Some(m)) => m,
                Ok(None) => break,
                Err(_) => {
                    // A corrupted frame: the receiver closes the connection.
                    self.close(conn);
                    return Ok(());
                }
            };
            // Every stored change moves the change log.
            let before = self.nodes[node].replica.log_position().map_err(|e| e.to_string())?;
            let result = c.sessions[to].handle(&mut self.nodes[node].replica, message, T0 + self.now);
            if let Some(why) = c.sessions[to].progress().last_refusal.clone()
                && std::env::var("MOTCUA_SIM_TRACE").is_ok()
            {
                eprintln!("t={} node {node}: refusal: {why}", self.now);
            }
            self.flush(conn, to);
            if let Err(e) = result {
                // Refusals never happen between honest nodes unless a
                // frame was corrupted into something decodable.
                if self.report.corrupted == 0 && !matches!(e, SessionError::Storage(_) | SessionError::CommitFailed(_))
                {
                    return Err(format!("an honest session failed: {e}"));
                }
                self.close(conn);
                return Ok(());
            }
            if self.nodes[node].replica.log_position().map_err(|e| e.to_string())? != before {
                self.schedule_wake(node);
            }
        }
        Ok(())
    }

    fn schedule_wake(&mut self, node: usize) {
        if !self.nodes[node].wake_pending {
            self.nodes[node].wake_pending = true;
            self.at(self.now + 20, What::Wake { node });
        }
    }

    fn conns_of(&self, node: usize) -> Vec<(u64, usize)> {
        self.conns
            .iter()
            .filter_map(|(id, c)| {
                let link = &self.links[c.link];
                if link.dialer == node {
                    Some((*id, 0))
                } else if link.acceptor == node {
                    Some((*id, 1))
                } else {
                    None
                }
            })
            .collect()
    }

    /// The node has new changes: each of its sessions may start a round.
    fn wake(&mut self, node: usize) -> Result<(), String> {
        if !self.nodes[node].up {
            return Ok(());
        }
        for (conn, side) in self.conns_of(node) {
            let c = self.conns.get_mut(&conn).expect("open");
            c.sessions[side].local_changed(&mut self.nodes[node].replica).map_err(|e| e.to_string())?;
            self.flush(conn, side);
        }
        Ok(())
    }

    /// One desk action at a member node.
    fn work(&mut self, node: usize) -> Result<(), String> {
        let role = self.nodes[node].replica.local.role;
        let unit = self.nodes[node].replica.local.unit.clone();
        let at = T0 + self.now;
        // Act on a dossier this node holds, if any step is due.
        let mut candidates: Vec<Candidate> = Vec::new();
        for id in self.nodes[node].replica.ids().copied().collect::<Vec<_>>() {
            let doc = self.nodes[node].replica.doc(&id).expect("held");
            let record = dossier::read(doc).map_err(|e| e.to_string())?;
            let f = fold(&record, UTC_OFFSET);
            candidates.push(Candidate {
                id,
                state: f.state,
                recallable: f.handed_from.last().is_some_and(|h| h.unit == unit) && !f.holder_acted,
                can_return: !f.handed_from.is_empty(),
                holder: f.holder_unit,
                receiving: f.receiving_unit,
            });
        }
        let due: Vec<&Candidate> = candidates
            .iter()
            .filter(|c| match c.state {
                Status::Accepted => c.holder == unit,
                // A transfer of this node's, not yet taken up: it may recall it.
                Status::InProcess => c.holder == unit || (c.recallable && self.rng.random_bool(0.15)),
                Status::ResultReady => c.receiving == unit,
                _ => false,
            })
            .collect();
        let receive_more = role == NodeRole::Commune && self.nodes[node].issued < self.cfg.dossiers_per_commune;
        if !due.is_empty() && (!receive_more || self.rng.random_bool(0.5)) {
            let c = due[self.rng.random_range(0..due.len())];
            let (id, state) = (c.id, c.state);
            let mut e = Event { at, unit: unit.clone(), officer: "mo-phong".into(), ..Event::default() };
            match state {
                Status::Accepted if role == NodeRole::Commune && self.rng.random_bool(0.6) => {
                    e.action = Some(Action::Transfer);
                    e.to_unit = Some(AGENCY.into());
                }
                Status::Accepted => e.action = Some(Action::StartProcessing),
                Status::InProcess if c.holder != unit => e.action = Some(Action::Recall),
                // Now and then the holder sends it back a step, with a reason.
                Status::InProcess | Status::ResultReady if c.can_return && self.rng.random_bool(0.1) => {
                    e.action = Some(Action::ReturnToPrevious);
                    e.reason = Some("Trả lại bước trước (mô phỏng)".into());
                }
                Status::InProcess => {
                    e.action = Some(Action::Processed);
                    e.result = Some("Kết quả mô phỏng".into());
                }
                _ => e.action = Some(Action::ReturnResult),
            }
            return self.commit_event(node, id, e);
        }
        if receive_more {
            self.receive(node)?;
        }
        Ok(())
    }

    fn receive(&mut self, node: usize) -> Result<(), String> {
        let n = &mut self.nodes[node];
        n.issued += 1;
        let me = hex_of(n.replica.signing_key());
        let mut new: NewDossier = new_dossier(&me, Channel::Direct, false);
        let id: [u8; 16] = self.rng.random();
        new.id = DossierId(id);
        let agency_id = format!("000.21.{:02}.H56", 40 + node - 1);
        new.code = format!("{agency_id}-251117-{:04}", n.issued);
        new.reception.unit = n.replica.local.unit.clone();
        new.reception.agency_id = agency_id;
        new.reception.at = T0 + self.now;
        new.due_at = Some(T0 + self.now + self.rng.random_range(1..10) * 24 * 60 * MINUTE);
        let (doc, hash) = dossier::create(ActorId::from(n.replica.local.key), &new).map_err(|e| e.to_string())?;
        self.commit_local(node, id, doc, hash)
    }

    /// Stores a change this node made, durably as a desk action, and
    /// records it in the ledger the checkers read.
    fn commit_local(
        &mut self,
        node: usize,
        id: [u8; 16],
        doc: automerge::Automerge,
        hash: automerge::ChangeHash,
    ) -> Result<(), String> {
        let n = &mut self.nodes[node];
        n.replica.commit_local(doc).map_err(|e| e.to_string())?;
        n.local_changes += 1;
        self.report.local_changes += 1;
        self.ledger.insert((id, hash.0));
        self.schedule_wake(node);
        Ok(())
    }

    fn commit_event(&mut self, node: usize, id: [u8; 16], mut e: Event) -> Result<(), String> {
        let n = &mut self.nodes[node];
        e.node = hex_of(n.replica.signing_key());
        let mut doc = n.replica.doc(&id).expect("held").fork().with_actor(ActorId::from(n.replica.local.key));
        let hash = dossier::append_event(&mut doc, &e).map_err(|e| e.to_string())?;
        // As the desk: a step the rules refuse in this node's view is not
        // committed.
        let record = dossier::read(&doc).map_err(|e| e.to_string())?;
        let last = record.events.len() - 1;
        if let Some(c) = fold(&record, UTC_OFFSET).conflicts.iter().find(|c| c.event_index == last) {
            return Err(format!("the workload made a step the rules refuse: {}", c.reason));
        }
        self.commit_local(node, id, doc, hash)
    }

    /// The checkers.
    fn check(&mut self) -> Result<(), Failure> {
        let province = &self.nodes[0].replica;
        // Which nodes must hold each dossier: the province, and the nodes
        // of its participant units.
        let mut holders: BTreeMap<[u8; 16], Vec<usize>> = BTreeMap::new();
        for id in province.ids() {
            let record = dossier::read(province.doc(id).expect("held")).map_err(|e| self.fail(e.to_string()))?;
            let units = routing::units_of(&record.participants);
            let h = (0..self.nodes.len())
                .filter(|n| {
                    let l = &self.nodes[*n].replica.local;
                    routing::holds(l.role, &l.unit, &units)
                })
                .collect();
            holders.insert(*id, h);
        }
        self.report.dossiers = holders.len();
        // No acknowledged change lost: every change any node committed is
        // at the province and at every node that must hold its dossier.
        for (id, hash) in &self.ledger {
            let Some(h) = holders.get(id) else {
                return Err(self.fail(format!("dossier {} never reached the province", hex::encode(id))));
            };
            for n in h {
                let doc = self.nodes[*n].replica.doc(id);
                let present = doc.is_some_and(|d| d.get_change_by_hash(&automerge::ChangeHash(*hash)).is_some());
                if !present {
                    return Err(self.fail(format!(
                        "change {} of dossier {} is missing at node {n}",
                        hex::encode(&hash[..6]),
                        hex::encode(id)
                    )));
                }
            }
        }
        // Converged replicas identical: heads and derived state.
        for (id, h) in &holders {
            let mut seen: Option<(Vec<automerge::ChangeHash>, DossierSummary)> = None;
            for (k, n) in h.iter().enumerate() {
                let doc = self.nodes[*n].replica.doc(id).expect("checked above");
                let record = dossier::read(doc).map_err(|e| self.fail(e.to_string()))?;
                let folded = fold(&record, UTC_OFFSET);
                if k == 0 {
                    let count = |a| folded.history.iter().filter(|e| e.event.action == Some(a)).count();
                    self.report.recalls += count(Action::Recall);
                    self.report.returns_to_previous += count(Action::ReturnToPrevious);
                    self.report.conflicts += folded.conflicts.len();
                }
                let summary = DossierSummary::new(&record, &folded);
                let this = (doc.get_heads(), summary);
                match &seen {
                    None => seen = Some(this),
                    Some(first) if *first != this => {
                        return Err(self.fail(format!("node {n} differs on dossier {}", hex::encode(id))));
                    }
                    Some(_) => {}
                }
            }
            if seen.as_ref().is_some_and(|(_, s)| s.state == Status::Returned) {
                self.report.returned += 1;
            }
        }
        // No node holds a dossier it has no part in.
        for (n, node) in self.nodes.iter().enumerate() {
            for id in node.replica.ids() {
                if !holders.get(id).is_some_and(|h| h.contains(&n)) {
                    return Err(self.fail(format!("node {n} holds dossier {} it has no part in", hex::encode(id))));
                }
            }
        }
        // Every applied change verified: what a node holds is what it made
        // plus what passed verification.
        for (n, node) in self.nodes.iter().enumerate() {
            let held: u64 = node
                .replica
                .ids()
                .map(|id| node.replica.doc(id).expect("held").get_changes_meta(&[]).len() as u64)
                .sum();
            if held != node.local_changes + node.replica.verified_changes {
                return Err(self.fail(format!(
                    "node {n} holds {held} changes but made {} and verified {}",
                    node.local_changes, node.replica.verified_changes
                )));
            }
        }
        // Outboxes drained: every link connected and every session idle.
        for (l, link) in self.links.iter().enumerate() {
            let Some(c) = link.conn.and_then(|c| self.conns.get(&c)) else {
                return Err(self.fail(format!("link {l} is not connected after the heal")));
            };
            for s in &c.sessions {
                if !s.is_idle() || s.docs_pending() > 0 {
                    return Err(self.fail(format!("link {l} still has {} documents pending", s.docs_pending())));
                }
            }
        }
        Ok(())
    }
}

/// Runs one seed of the CI configuration.
pub fn run_seed(seed: u64) -> Result<RunReport, Failure> {
    Sim::new(Config::faulty(seed)).run()
}
