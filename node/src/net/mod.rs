//! The iroh driver of the sync core: one QUIC connection per peer pair
//! (ALPN `motcua/sync/1`), relays and public discovery off, peers dialed by
//! node id and direct address. Each connection carries one bidirectional
//! stream of length-prefixed frames; a reader task, a writer task and the
//! session loop between them. The session loop never waits on the network:
//! its messages go to the writer through a queue, whose size the session's
//! window of documents in flight bounds.
//!
//! A node keeps dialing its configured peers for as long as it runs, as
//! [`motcua_sync::redial`] says when, and accepts any peer whose
//! certificate the handshake admits. Two connections between the same pair
//! (both dialed at once) are settled by the same module's rule.

pub mod replica;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::anyhow;
use iroh::endpoint::{Connection, QuicTransportConfig, RecvStream, SendStream, VarInt, presets};
use iroh::{Endpoint, EndpointAddr, PublicKey, RelayMode, SecretKey};
use motcua_store::committer::Commit;
use motcua_sync::redial::{self, Redial, Survivor};
use motcua_sync::session::{CommitId, Local, Session, SessionError};
use motcua_sync::wire::{
    ALPN, FRAME_BYTES_MAX, HELLO_FRAME_BYTES_MAX, Message, decode_message, encode_frame, frame_len_within,
};
use serde::Serialize;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use motcua_desk::desk::Desk;
use motcua_desk::now_ms;
use replica::NodeReplica;

/// A peer named on the command line or in the configuration.
#[derive(Debug, Clone, Serialize)]
pub struct PeerSpec {
    pub node_id: String,
    pub addr: String,
}
/// Idle timeout of a connection: a peer that vanished is noticed after
/// about this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(8);
const KEEP_ALIVE: Duration = Duration::from_secs(2);
/// A dial that gets no answer is given up after this long.
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a dial loop looks whether the connection its peer dialed
/// has ended.
const CONNECTED_POLL: Duration = Duration::from_millis(redial::BACKOFF_FIRST_MS as u64);
/// Incoming connections at once, admitted or not. A province serves a few
/// hundred communes and agencies; each admitted node keeps one connection
/// (a second one replaces the first).
const CONNECTIONS_MAX: usize = 512;
/// Configured peers a node dials: as many as it accepts.
pub const PEERS_MAX: usize = CONNECTIONS_MAX;
/// Tasks of one connection: the one that runs it (for a dialed connection,
/// its peer's dial loop), its reader and its writer.
const TASKS_PER_CONNECTION: usize = 3;
/// Tasks the network tracks at once: the accept loop, and per configured
/// peer and per incoming connection, those of a connection.
const TASKS_MAX: usize = 1 + (PEERS_MAX + CONNECTIONS_MAX) * TASKS_PER_CONNECTION;
/// How long a stopping node waits for its network's tasks once its
/// endpoint is closed (every connection then ends at once; a session
/// finishes the step it is in, its writer gets 2 s to drain).
const SHUTDOWN_WAIT: Duration = Duration::from_secs(15);
/// Incoming connections whose peer has not yet been admitted. Until its
/// certificate is, a peer gets no more of this node than its first frame
/// ([`HELLO_FRAME_BYTES_MAX`]) and QUIC's stream window.
const HANDSHAKES_MAX: usize = 32;
/// Connections not yet admitted from one address (communes behind one
/// provincial NAT reconnect together after an outage).
const ADDRESS_HANDSHAKES_MAX: usize = 16;
/// A peer that sends no admissible hello within this long is dropped.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);
/// Refusals of a peer's documents logged at WARN per connection; the rest
/// at debug (a peer sending junk cannot fill the log).
const REFUSALS_WARNED_MAX: u32 = 100;
/// Messages read ahead of the session loop.
const READ_AHEAD: usize = 16;
/// Acknowledgements queued for a peer (and messages the session holds
/// back until their commit) beyond which this node stops reading from it
/// until they drain: a peer that sends but never reads cannot grow the
/// queue of answers without bound. An honest peer never gets near it:
/// it stops sending with `DOCS_IN_FLIGHT_MAX` documents unacknowledged,
/// and each acknowledgement answers at least one.
const WRITE_BEHIND: usize = 2 * motcua_sync::wire::DOCS_IN_FLIGHT_MAX;

/// Acknowledgements queued for the writer task, and a wake-up as they
/// drain or as the writer stops.
#[derive(Default)]
struct Backlog {
    queued: std::sync::atomic::AtomicUsize,
    closed: std::sync::atomic::AtomicBool,
    drained: tokio::sync::Notify,
}

impl Backlog {
    /// Full, with `held` more messages the session holds back.
    fn full(&self, held: usize) -> bool {
        self.queued.load(std::sync::atomic::Ordering::Acquire) + held >= WRITE_BEHIND
    }
    fn counts(m: &Message) -> bool {
        matches!(m, Message::Applied(_))
    }
    fn closed(&self) -> bool {
        self.closed.load(std::sync::atomic::Ordering::Acquire)
    }
}

/// Why a sync connection ended: the session's reason, or the driver's.
/// Its text is what `/api/v1/peers` shows as the peer's `last_error`.
#[derive(Debug, thiserror::Error)]
pub enum End {
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("the peer sent no admissible hello in time")]
    HelloTimeout,
    #[error("no stream opened before the hello timeout")]
    NoStreamInTime,
    #[error("no stream: {0}")]
    NoStream(String),
    #[error("connection lost: {0}")]
    ConnectionLost(String),
    /// The node's writer stopped: the node is shutting down.
    #[error("this node is shutting down")]
    Shutdown,
    /// A call into the session panicked (a bug, or peer input that breaks
    /// a library).
    #[error("this node failed unexpectedly while handling the session")]
    Panicked,
}

impl End {
    /// The peer is told why (`Message::Refused`), unless it closed.
    fn tell_peer(&self) -> bool {
        !matches!(self, End::Session(e) if e.by_peer())
    }
}

/// What the node shows of each peer (`GET /api/v1/peers`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct PeerStatus {
    pub node_id: String,
    pub addr: Option<String>,
    pub unit: Option<String>,
    pub role: Option<String>,
    pub connected: bool,
    pub last_sync_at: Option<i64>,
    /// How long the current (or last) connection took from its dial (or
    /// accept) until this node had caught the peer up, in milliseconds.
    pub caught_up_after_ms: Option<i64>,
    pub docs_pending: u64,
    /// Documents sent to this peer, over all connections.
    pub docs_sent: u64,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    /// Bytes in UDP datagrams (QUIC and its handshake included), over all
    /// connections.
    pub udp_bytes_sent: u64,
    pub udp_bytes_received: u64,
    pub last_error: Option<String>,
    /// Documents from this peer that this node refused, over all
    /// connections, and why the last one was.
    pub docs_refused_from_peer: u64,
    /// Documents of this node's that the peer refused, and why the last.
    pub docs_refused_by_peer: u64,
    pub last_refusal: Option<String>,
}

/// The peers a node knows: configured ones and any that connected.
#[derive(Default)]
pub struct PeerBoard {
    peers: Mutex<BTreeMap<String, PeerStatus>>,
}

impl PeerBoard {
    pub fn with_configured(specs: &[PeerSpec]) -> PeerBoard {
        let board = PeerBoard::default();
        for s in specs {
            board.update(&s.node_id, |p| p.addr = Some(s.addr.clone()));
        }
        board
    }

    pub fn update(&self, node_id: &str, f: impl FnOnce(&mut PeerStatus)) {
        let mut peers = self.peers.lock().expect("peer board lock");
        let p = peers
            .entry(node_id.to_string())
            .or_insert_with(|| PeerStatus { node_id: node_id.to_string(), ..PeerStatus::default() });
        f(p);
    }

    pub fn snapshot(&self) -> Vec<PeerStatus> {
        self.peers.lock().expect("peer board lock").values().cloned().collect()
    }
}

struct Active {
    serial: u64,
    dialed_by_me: bool,
    conn: Connection,
}

pub struct Network {
    desk: Arc<Desk>,
    endpoint: Endpoint,
    local: Local,
    board: Arc<PeerBoard>,
    active: Mutex<HashMap<[u8; 32], Active>>,
    serials: AtomicU64,
    /// Permits for incoming connections ([`CONNECTIONS_MAX`]) and for
    /// those not yet admitted ([`HANDSHAKES_MAX`]).
    connections: Arc<tokio::sync::Semaphore>,
    handshakes: Arc<tokio::sync::Semaphore>,
    /// Per address, its connections not yet admitted.
    handshaking: Arc<Mutex<HashMap<std::net::IpAddr, usize>>>,
    /// Connections refused over a cap, since start.
    refusals: AtomicU64,
    /// The count of the store's durable changes, as the writer reports
    /// them: sessions wake on it to offer what changed.
    changes: Arc<tokio::sync::watch::Sender<u64>>,
    /// Every task the network starts, awaited when the node stops, so
    /// that none is polled while the runtime shuts down.
    tasks: TaskTracker,
    /// Cancelled when the node stops: loops stop dialing and accepting.
    stop: CancellationToken,
}

/// Starts sync on an enrolled node: binds the endpoint, accepts peers and
/// dials the configured ones. Returns `None` on a demo node, which belongs
/// to no province and syncs with nobody.
pub async fn start(
    desk: Arc<Desk>,
    bind: SocketAddr,
    peers: Vec<PeerSpec>,
    board: Arc<PeerBoard>,
) -> anyhow::Result<Option<Arc<Network>>> {
    if peers.len() > PEERS_MAX {
        return Err(anyhow!("{} sync peers configured; a node dials at most {PEERS_MAX}", peers.len()));
    }
    if NodeReplica::new(desk.clone()).is_none() {
        tracing::info!("demo node: sync is off");
        return Ok(None);
    }
    let me = desk.identity().public_key_bytes();
    let certificate =
        desk.store().certificate(&me)?.ok_or_else(|| anyhow!("the node's own certificate is not in its store"))?;
    let local = Local {
        key: me,
        unit: desk.config().unit.clone(),
        role: desk.config().role,
        certificate,
        utc_offset_minutes: desk.offset(),
    };
    let transport = QuicTransportConfig::builder()
        .max_idle_timeout(Some(IDLE_TIMEOUT.try_into().expect("idle timeout in range")))
        .keep_alive_interval(KEEP_ALIVE)
        // QUIC's guaranteed 1,200-byte datagrams: path-MTU probes would cost
        // about 11 KB per connection (1.4 s of a 64 kbit/s link), larger
        // datagrams save 0.25 % on bulk transfers.
        .mtu_discovery_config(None)
        // One stream carries a connection; a peer may open no other, so
        // QUIC buffers no more for it than one stream's window.
        .max_concurrent_bidi_streams(VarInt::from_u32(1))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .datagram_receive_buffer_size(None)
        .build();
    let endpoint = Endpoint::builder(presets::Minimal)
        .secret_key(SecretKey::from_bytes(&desk.identity().secret_bytes()))
        .relay_mode(RelayMode::Disabled)
        .clear_address_lookup()
        .transport_config(transport)
        .alpns(vec![ALPN.to_vec()])
        .bind_addr(bind)
        .map_err(|e| anyhow!("cannot use sync address {bind}: {e}"))?
        .bind()
        .await
        .map_err(|e| anyhow!("cannot listen for sync on {bind}: {e}"))?;
    let changes = Arc::new(tokio::sync::watch::Sender::new(desk.committer().changes()));
    let observed = changes.clone();
    desk.committer().on_change(move |n| {
        observed.send_replace(n);
    });
    let net = Arc::new(Network {
        changes,
        desk,
        endpoint,
        local,
        board,
        active: Mutex::new(HashMap::new()),
        serials: AtomicU64::new(0),
        connections: Arc::new(tokio::sync::Semaphore::new(CONNECTIONS_MAX)),
        handshakes: Arc::new(tokio::sync::Semaphore::new(HANDSHAKES_MAX)),
        handshaking: Arc::new(Mutex::new(HashMap::new())),
        refusals: AtomicU64::new(0),
        tasks: TaskTracker::new(),
        stop: CancellationToken::new(),
    });
    net.tasks.spawn(accept_loop(net.clone()));
    for p in peers {
        net.tasks.spawn(dial_loop(net.clone(), p));
    }
    Ok(Some(net))
}

impl Network {
    pub fn bound(&self) -> Vec<SocketAddr> {
        self.endpoint.bound_sockets()
    }

    /// Stops the network: no more dials or accepts, every connection
    /// closed, and every task it started ended (or, past
    /// [`SHUTDOWN_WAIT`], given up on with a warning).
    pub async fn shutdown(&self) {
        self.stop.cancel();
        self.tasks.close();
        self.endpoint.close().await;
        if tokio::time::timeout(SHUTDOWN_WAIT, self.tasks.wait()).await.is_err() {
            tracing::warn!(tasks = self.tasks.len(), "sync tasks still running as the node stops");
        }
    }

    fn connected(&self, key: &[u8; 32]) -> bool {
        self.active.lock().expect("active lock").contains_key(key)
    }

    /// Registers a connection; settles a duplicate by
    /// [`redial::duplicate_survivor`].
    fn register(&self, remote: [u8; 32], dialed_by_me: bool, conn: &Connection) -> Option<u64> {
        let serial = self.serials.fetch_add(1, Ordering::Relaxed);
        let mut active = self.active.lock().expect("active lock");
        if let Some(old) = active.get(&remote) {
            match redial::duplicate_survivor(&self.local.key, &remote, old.dialed_by_me, dialed_by_me) {
                Survivor::Held => {
                    conn.close(VarInt::from_u32(2), b"already connected");
                    return None;
                }
                Survivor::New => old.conn.close(VarInt::from_u32(2), b"replaced by a newer connection"),
            }
        }
        active.insert(remote, Active { serial, dialed_by_me, conn: conn.clone() });
        Some(serial)
    }

    fn unregister(&self, remote: &[u8; 32], serial: u64) {
        let mut active = self.active.lock().expect("active lock");
        if active.get(remote).is_some_and(|a| a.serial == serial) {
            active.remove(remote);
        }
    }
}

async fn accept_loop(net: Arc<Network>) {
    while let Some(Some(incoming)) = net.stop.run_until_cancelled(net.endpoint.accept()).await {
        // Over a cap the connection is refused before its handshake: a
        // flood of connections costs this node nothing but the refusals.
        let address = match incoming.remote_addr() {
            iroh::endpoint::IncomingAddr::Ip(a) => Some(a.ip()),
            _ => None,
        };
        // A stateless retry first: an address that cannot answer it (a
        // spoofed one) never takes a connection slot.
        if !incoming.remote_addr_validated() {
            if let Err(e) = incoming.retry() {
                tracing::debug!(error = %e, "retry refused");
            }
            continue;
        }
        let permit = net.connections.clone().try_acquire_owned();
        let (Ok(connection), true) = (permit, net.tasks.len() + TASKS_PER_CONNECTION <= TASKS_MAX) else {
            net.refused(address);
            incoming.refuse();
            continue;
        };
        let net = net.clone();
        net.tasks.clone().spawn(async move {
            let _connection = connection;
            let started_ms = now_ms();
            let conn = match incoming.accept() {
                Ok(accepting) => {
                    match net.stop.run_until_cancelled(tokio::time::timeout(HELLO_TIMEOUT, accepting)).await {
                        None => return,
                        Some(Ok(Ok(c))) => c,
                        Some(Ok(Err(e))) => {
                            tracing::debug!(error = %e, "incoming connection failed");
                            return;
                        }
                        Some(Err(_)) => {
                            tracing::debug!("incoming connection's handshake timed out");
                            return;
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "incoming connection refused");
                    return;
                }
            };
            // A node this one already trusts is not held back by strangers
            // filling the handshake slots, from its own address or any; a
            // stranger needs one of them, and one of its address's, until
            // its certificate is admitted.
            let remote: [u8; 32] = *conn.remote_id().as_bytes();
            let known = net.desk.with_trust(|t| t.is_some_and(|t| t.node(&remote).is_ok()));
            let handshake = if known {
                None
            } else {
                let permit = net.handshakes.clone().try_acquire_owned().ok();
                let (Some(permit), Some(slot)) = (permit, net.address_slot(address)) else {
                    net.refused(address);
                    conn.close(VarInt::from_u32(4), b"too many handshakes");
                    return;
                };
                Some(Handshake { _permit: permit, _slot: slot })
            };
            if let Err(e) = run_connection(&net, conn, false, started_ms, handshake).await {
                tracing::info!(error = %e, "sync connection ended");
            }
        });
    }
}

/// What a connection from a peer not yet admitted holds: one of the
/// [`HANDSHAKES_MAX`] slots, and one of its address's.
struct Handshake {
    _permit: tokio::sync::OwnedSemaphorePermit,
    _slot: AddressSlot,
}

/// One of an address's [`ADDRESS_HANDSHAKES_MAX`] connections not yet
/// admitted; given back when dropped.
struct AddressSlot {
    address: Option<std::net::IpAddr>,
    counts: Arc<Mutex<HashMap<std::net::IpAddr, usize>>>,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let Some(a) = self.address else { return };
        let mut counts = self.counts.lock().expect("address counts lock");
        if let Some(n) = counts.get_mut(&a) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&a);
            }
        }
    }
}

impl Network {
    /// A slot for one more connection from `address` not yet admitted,
    /// unless it holds [`ADDRESS_HANDSHAKES_MAX`] already.
    fn address_slot(&self, address: Option<std::net::IpAddr>) -> Option<AddressSlot> {
        if let Some(a) = address {
            let mut counts = self.handshaking.lock().expect("address counts lock");
            let n = counts.entry(a).or_default();
            if *n >= ADDRESS_HANDSHAKES_MAX {
                return None;
            }
            *n += 1;
        }
        Some(AddressSlot { address, counts: self.handshaking.clone() })
    }

    /// Counts a refused connection; a flood is logged once in a while,
    /// not once per connection.
    fn refused(&self, address: Option<std::net::IpAddr>) {
        let n = self.refusals.fetch_add(1, Ordering::Relaxed) + 1;
        if n.is_power_of_two() {
            tracing::warn!(remote = ?address, refused_so_far = n, "too many incoming sync connections: refusing some");
        }
    }
}

async fn dial_loop(net: Arc<Network>, peer: PeerSpec) {
    let Some(key) = hex::decode(&peer.node_id).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()) else { return };
    let Ok(public) = PublicKey::from_bytes(&key) else {
        tracing::warn!(peer = %peer.node_id, "configured peer id is not a valid key");
        return;
    };
    let mut redial = Redial::new();
    loop {
        // Connected by the peer's dial: looked at again soon, so that this
        // node redials promptly once that connection ends.
        if net.connected(&key) {
            if net.stop.run_until_cancelled(tokio::time::sleep(CONNECTED_POLL)).await.is_none() {
                return;
            }
            continue;
        }
        let started_ms = now_ms();
        // A connection made is run to its end: the endpoint's close ends it.
        let Some(outcome) = net.stop.run_until_cancelled(dial(&net, public, &peer.addr)).await else { return };
        let now = now_ms();
        let next = match outcome {
            Ok(conn) => {
                redial.connected(now);
                if let Err(e) = run_connection(&net, conn, true, started_ms, None).await {
                    tracing::info!(peer = %peer.node_id, error = %e, "sync connection ended");
                    net.board.update(&peer.node_id, |p| p.last_error = Some(e.to_string()));
                }
                let now = now_ms();
                redial.disconnected(now, rand::random()) - now
            }
            Err(e) => {
                tracing::debug!(peer = %peer.node_id, error = %e, "peer unreachable");
                net.board.update(&peer.node_id, |p| p.last_error = Some(e));
                redial.failed(now, rand::random()) - now
            }
        };
        let wait = Duration::from_millis(next.max(0) as u64);
        if net.stop.run_until_cancelled(tokio::time::sleep(wait)).await.is_none() {
            return;
        }
    }
}

async fn dial(net: &Network, public: PublicKey, addr: &str) -> Result<Connection, String> {
    let resolved = tokio::net::lookup_host(addr)
        .await
        .map_err(|e| format!("cannot resolve {addr}: {e}"))?
        .next()
        .ok_or_else(|| format!("{addr} resolves to no address"))?;
    let target = EndpointAddr::new(public).with_ip_addr(resolved);
    match tokio::time::timeout(DIAL_TIMEOUT, net.endpoint.connect(target, ALPN)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(format!("cannot connect to {addr}: {e}")),
        Err(_) => Err(format!("no answer from {addr}")),
    }
}

/// Runs one call into a session. A panic in it (a bug, or peer input that
/// breaks a library) ends this connection ([`End::Panicked`]), like any
/// other failed call, instead of the task that would unregister the peer
/// and dial it again.
fn guarded(call: impl FnOnce() -> Result<(), SessionError>) -> Result<(), End> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(call)) {
        Ok(r) => r.map_err(End::from),
        Err(panic) => {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            tracing::error!(panic = %what, "a sync session call panicked; the connection ends");
            Err(End::Panicked)
        }
    }
}

/// The outcome of a commit the session waits on (`None`: one the replica
/// does not know).
async fn wait_commit(commit: Option<Commit>) -> Result<(), String> {
    match commit {
        Some(c) => c.wait().await,
        None => Err("the replica has no such commit".into()),
    }
}

/// Runs one connection until it ends. Errors are the reason it ended.
/// `handshake` is what an incoming connection from a stranger holds until
/// its peer is admitted.
async fn run_connection(
    net: &Arc<Network>,
    conn: Connection,
    dialer: bool,
    started_ms: i64,
    handshake: Option<Handshake>,
) -> Result<(), End> {
    let remote: [u8; 32] = *conn.remote_id().as_bytes();
    let node_id = hex::encode(remote);
    let Some(serial) = net.register(remote, dialer, &conn) else {
        return Ok(());
    };
    let result = session_loop(net, &conn, remote, &node_id, dialer, started_ms, handshake).await;
    net.unregister(&remote, serial);
    net.board.update(&node_id, |p| {
        p.connected = false;
        if let Err(e) = &result {
            p.last_error = Some(e.to_string());
        }
    });
    conn.close(VarInt::from_u32(0), b"done");
    result
}

async fn session_loop(
    net: &Arc<Network>,
    conn: &Connection,
    remote: [u8; 32],
    node_id: &str,
    dialer: bool,
    started_ms: i64,
    mut handshake: Option<Handshake>,
) -> Result<(), End> {
    let hello_by = tokio::time::Instant::now() + HELLO_TIMEOUT;
    let stream =
        tokio::time::timeout_at(hello_by, async { if dialer { conn.open_bi().await } else { conn.accept_bi().await } })
            .await;
    let (send, recv) = stream.map_err(|_| End::NoStreamInTime)?.map_err(|e| End::NoStream(e.to_string()))?;
    let mut replica = NodeReplica::new(net.desk.clone()).expect("enrolled node");
    let mut session = Session::new(net.local.clone(), remote, dialer);
    let (out_tx, out_rx) = mpsc::unbounded_channel::<Message>();
    // The session holds back what follows a batch of documents (its
    // acknowledgement first) until the batch is durable: each commit it
    // waits on is awaited here, oldest first (the single writer commits
    // in order), and the outcome handed back to it. `None`: a commit the
    // replica does not know, which fails.
    let mut watched: VecDeque<(CommitId, Option<Commit>)> = VecDeque::new();
    let (in_tx, mut in_rx) = mpsc::channel::<Result<Message, End>>(READ_AHEAD);
    let backlog = Arc::new(Backlog::default());
    let writer = net.tasks.spawn(write_frames(send, out_rx, backlog.clone(), net.board.clone(), node_id.to_string()));
    // The reader takes one frame, of at most a hello's size, until the
    // session has admitted the peer.
    let (admitted_tx, admitted_rx) = tokio::sync::watch::channel(false);
    let reader = net.tasks.spawn(read_frames(recv, in_tx, admitted_rx, net.board.clone(), node_id.to_string()));
    let mut changes = net.changes.subscribe();
    // Durable writes by others (the desk, other connections) are changes
    // the peer may want; this connection's own (what the peer sent) are not.
    let mut foreign_seen = *changes.borrow_and_update();
    session.start(&replica);
    let forward =
        |session: &mut Session, replica: &mut NodeReplica, watched: &mut VecDeque<(CommitId, Option<Commit>)>| {
            for m in session.take_outgoing() {
                if Backlog::counts(&m) {
                    backlog.queued.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
                }
                out_tx.send(m).ok();
            }
            for id in session.awaiting_commits() {
                if !watched.iter().any(|(w, _)| *w == id) {
                    watched.push_back((id, replica.commit(id)));
                }
            }
        };
    forward(&mut session, &mut replica, &mut watched);
    let mut docs_reported = 0;
    let mut refusals_warned = 0;
    let mut caught_up_reported = false;
    let mut udp_reported = (0, 0);
    let result = loop {
        let admitting = session.peer().is_none();
        let oldest = watched.front().cloned();
        let full = backlog.full(session.held_back());
        let outcome = tokio::select! {
            _ = tokio::time::sleep_until(hello_by), if admitting => {
                break Err(End::HelloTimeout);
            }
            // While the peer does not take what is queued for it, what it
            // sends waits (and flow control holds it back).
            _ = backlog.drained.notified(), if full => {
                if backlog.closed() {
                    break Err(End::ConnectionLost("the peer took nothing more".into()));
                }
                Ok(())
            }
            result = wait_commit(oldest.clone().and_then(|(_, c)| c)), if oldest.is_some() => {
                let (id, _) = watched.pop_front().expect("the oldest commit awaited");
                match result {
                    Ok(()) => {
                        session.committed(id);
                        Ok(())
                    }
                    Err(e) => {
                        // Nothing of the batch is acknowledged; the peer
                        // sends it again.
                        tracing::warn!(peer = %node_id, error = %e, "received documents were not stored");
                        session.commit_failed(id, e).map_err(End::from)
                    }
                }
            }
            incoming = in_rx.recv(), if !full => match incoming {
                Some(Ok(message)) => {
                    tokio::task::block_in_place(|| guarded(|| session.handle(&mut replica, message, now_ms())))
                }
                Some(Err(e)) => Err(e),
                None => break Ok(()),
            },
            changed = changes.changed() => {
                if changed.is_err() {
                    break Err(End::Shutdown);
                }
                let foreign = changes.borrow_and_update().saturating_sub(replica.own_writes());
                if foreign > foreign_seen {
                    foreign_seen = foreign;
                    tokio::task::block_in_place(|| guarded(|| session.local_changed(&mut replica)))
                } else {
                    Ok(())
                }
            }
        };
        forward(&mut session, &mut replica, &mut watched);
        report_refusals(net, &mut session, node_id, &mut refusals_warned);
        if admitting && session.peer().is_some() {
            handshake.take();
            admitted_tx.send_replace(true);
        }
        if let Err(e) = outcome {
            // Tell the peer why (unless it was the one that closed).
            if e.tell_peer() {
                out_tx.send(Message::Refused(e.to_string())).ok();
            }
            break Err(e);
        }
        let pending = session.docs_pending() as u64;
        let idle = session.is_idle();
        let caught_up_now = session.caught_up_once() && !caught_up_reported;
        caught_up_reported |= caught_up_now;
        let sent = session.progress().docs_sent - docs_reported;
        docs_reported += sent;
        let stats = conn.stats();
        let udp = (stats.udp_tx.bytes - udp_reported.0, stats.udp_rx.bytes - udp_reported.1);
        udp_reported = (stats.udp_tx.bytes, stats.udp_rx.bytes);
        if let Some(peer) = session.peer() {
            let (unit, role) = (peer.unit.clone(), peer.role.as_str().to_string());
            net.board.update(node_id, |p| {
                if !p.connected {
                    tracing::info!(peer = %node_id, unit = %unit, role = %role, "peer connected");
                }
                p.connected = true;
                p.unit = Some(unit);
                p.role = Some(role);
                p.docs_pending = pending;
                p.docs_sent += sent;
                p.udp_bytes_sent += udp.0;
                p.udp_bytes_received += udp.1;
                p.last_error = None;
                if idle {
                    p.last_sync_at = Some(now_ms());
                }
                if caught_up_now {
                    p.caught_up_after_ms = Some(now_ms() - started_ms);
                }
            });
        }
    };
    drop(out_tx);
    // Let the writer deliver what is queued (a refusal above all) before
    // the connection is closed.
    let _ = tokio::time::timeout(Duration::from_secs(2), writer).await;
    reader.abort();
    result
}

/// Logs and shows what the session refused, or saw refused, since the
/// last call, and keeps what it proved: forks, durably (the trust already
/// quarantines the actor); a peer's refusal of this node's version of a
/// dossier, so that the dossier page can say why it is not at the
/// province. Dossiers are named by id: no citizen's data in a log line.
fn report_refusals(net: &Network, session: &mut Session, node_id: &str, warned: &mut u32) {
    let refusals = session.take_refusals();
    let forks = session.take_forks();
    if refusals.is_empty() && forks.is_empty() {
        return;
    }
    let now = now_ms();
    let Some(peer) = session.peer().map(|p| p.key) else { return };
    let mut by_peer = Vec::new();
    for r in &refusals {
        let dossier = hex::encode(r.id);
        if r.by_peer {
            tracing::info!(peer = %node_id, %dossier, reason = %r.reason, "the peer refused this node's version of a dossier");
            by_peer.push((r.id, Some(r.reason.clone())));
        } else if *warned < REFUSALS_WARNED_MAX {
            *warned += 1;
            tracing::warn!(peer = %node_id, %dossier, reason = %r.reason, "refused a dossier from the peer");
            if *warned == REFUSALS_WARNED_MAX {
                tracing::warn!(peer = %node_id, "further refusals on this connection are logged at debug level");
            }
        } else {
            tracing::debug!(peer = %node_id, %dossier, reason = %r.reason, "refused a dossier from the peer");
        }
    }
    net.board.update(node_id, |p| {
        for r in &refusals {
            if r.by_peer {
                p.docs_refused_by_peer += 1;
            } else {
                p.docs_refused_from_peer += 1;
            }
        }
        p.last_refusal = refusals.last().map(|r| r.reason.clone()).or(p.last_refusal.take());
    });
    if !by_peer.is_empty() {
        net.desk.committer().submit_lazy(move |w| w.put_peer_refusals(&peer, &by_peer, now));
    }
    for (id, fork) in forks {
        tracing::warn!(
            node = %hex::encode(fork.node_key),
            dossier = %hex::encode(id),
            seq = fork.seq,
            peer = %node_id,
            "fork: a node signed two different changes with one sequence number; its later changes in the dossier are quarantined"
        );
        let record = motcua_store::ForkRecord {
            node_key: fork.node_key,
            seq: fork.seq,
            held: fork.held,
            other: fork.other,
            peer,
            at: now,
        };
        let committed = tokio::task::block_in_place(|| {
            net.desk.committer().record(move |w| w.put_fork(&id, &fork.node_key, &record))
        });
        if let Err(e) = committed {
            tracing::error!(error = %e, "a proven fork could not be stored; it stays quarantined until this node stops");
        }
    }
}

async fn write_frames(
    send: SendStream,
    out: mpsc::UnboundedReceiver<Message>,
    backlog: Arc<Backlog>,
    board: Arc<PeerBoard>,
    node_id: String,
) {
    write_all_frames(send, out, &backlog, board, node_id).await;
    // However it ended, a session waiting for the queue to drain learns.
    backlog.closed.store(true, std::sync::atomic::Ordering::Release);
    backlog.drained.notify_one();
}

async fn write_all_frames(
    mut send: SendStream,
    mut out: mpsc::UnboundedReceiver<Message>,
    backlog: &Backlog,
    board: Arc<PeerBoard>,
    node_id: String,
) {
    while let Some(m) = out.recv().await {
        let frame = encode_frame(&m);
        if send.write_all(&frame).await.is_err() {
            return;
        }
        if Backlog::counts(&m) {
            backlog.queued.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
            backlog.drained.notify_one();
        }
        board.update(&node_id, |p| p.bytes_sent += frame.len() as u64);
    }
    send.finish().ok();
    let _ = send.stopped().await;
}

async fn read_frames(
    mut recv: RecvStream,
    tx: mpsc::Sender<Result<Message, End>>,
    mut admitted: tokio::sync::watch::Receiver<bool>,
    board: Arc<PeerBoard>,
    node_id: String,
) {
    let mut first = true;
    loop {
        // After the hello, nothing more is read until the peer is admitted
        // (a refused peer's connection ends without it).
        if !first && admitted.wait_for(|a| *a).await.is_err() {
            return;
        }
        let max = if first { HELLO_FRAME_BYTES_MAX } else { FRAME_BYTES_MAX };
        first = false;
        let mut header = [0u8; 4];
        if let Err(e) = recv.read_exact(&mut header).await {
            use iroh::endpoint::ReadExactError;
            let end = matches!(e, ReadExactError::FinishedEarly(0));
            if !end {
                tx.send(Err(End::ConnectionLost(e.to_string()))).await.ok();
            }
            return;
        }
        let n = match frame_len_within(header, max) {
            Ok(n) => n,
            Err(e) => {
                tx.send(Err(SessionError::from(e).into())).await.ok();
                return;
            }
        };
        let mut body = vec![0u8; n];
        if let Err(e) = recv.read_exact(&mut body).await {
            tx.send(Err(End::ConnectionLost(e.to_string()))).await.ok();
            return;
        }
        board.update(&node_id, |p| p.bytes_received += 4 + n as u64);
        let message = decode_message(&body).map_err(|e| SessionError::from(e).into());
        let stop = message.is_err();
        if tx.send(message).await.is_err() || stop {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use motcua_sync::session::SessionError;

    use super::{End, guarded};

    #[test]
    fn a_panicking_session_call_becomes_the_reason_the_connection_ends() {
        assert!(guarded(|| Ok(())).is_ok());
        let r = guarded(|| Err(SessionError::Protocol("a second hello".into())));
        assert_eq!(r.unwrap_err().to_string(), "protocol violation: a second hello");
        let r = guarded(|| -> Result<(), SessionError> { panic!("date out of range") });
        let e = r.unwrap_err();
        assert!(matches!(e, End::Panicked));
        assert_eq!(e.to_string(), "this node failed unexpectedly while handling the session");
    }

    #[test]
    fn the_peer_is_told_why_unless_it_closed() {
        assert!(!End::Session(SessionError::PeerClosed("bye".into())).tell_peer());
        assert!(End::Session(SessionError::Protocol("x".into())).tell_peer());
        assert!(End::HelloTimeout.tell_peer());
        let closed = End::Session(SessionError::PeerClosed("peer refused: revoked".into()));
        assert_eq!(closed.to_string(), "the peer closed the connection: peer refused: revoked");
    }
}
