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

mod accept;
mod connection;
mod dial;
mod files;
pub use files::PIECE_BYTES;
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

use accept::accept_loop;
use dial::dial_loop;
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
/// its peer's dial loop), its reader, its writer, its file exchange, and
/// the file requests it serves.
const TASKS_PER_CONNECTION: usize = 4 + files::FILE_STREAMS_MAX as usize;
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
    /// Bytes of files this node wants from the peer and does not hold yet.
    pub file_bytes_pending: u64,
    /// When the oldest of those files was attached.
    pub file_oldest_waiting_at: Option<i64>,
    /// Verified file bytes received from the peer.
    pub file_bytes_received: u64,
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
    /// The dossiers' files; none on a node without them (a test harness).
    blobs: Option<crate::blobs::Blobs>,
    files_in_flight: files::InFlight,
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
    blobs: Option<crate::blobs::Blobs>,
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
        // Until its peer is admitted, one stream carries a connection; the
        // peer may open no other, so QUIC buffers no more for it than one
        // stream's window. An admitted peer may open the file streams too.
        .max_concurrent_bidi_streams(VarInt::from_u32(1))
        .max_concurrent_uni_streams(VarInt::from_u32(0))
        .datagram_receive_buffer_size(None)
        // Loss-based control fills a thin link's queue until it drops
        // packets, workflow frames among them; BBR paces at the measured
        // rate with a short queue (BENCHMARKS.md, issue 16).
        .congestion_controller_factory(Arc::new(noq_proto::congestion::Bbr3Config::default()))
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
        blobs,
        files_in_flight: files::InFlight::default(),
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

    /// Asks a connected peer for the next piece this node lacks of a file,
    /// as the fetcher does; the payload bytes read. An error when the
    /// peer is not connected or refuses.
    pub async fn fetch_piece_from(&self, peer: &[u8; 32], hash: [u8; 32]) -> anyhow::Result<u64> {
        let blobs = self.blobs.as_ref().ok_or_else(|| anyhow!("this node keeps no files"))?;
        let conn = self.active.lock().expect("active lock").get(peer).map(|a| a.conn.clone());
        let conn = conn.ok_or_else(|| anyhow!("the peer is not connected"))?;
        files::fetch_piece(blobs, &conn, hash).await
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
