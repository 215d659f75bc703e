//! Dossiers' files between two admitted peers, on the same connection as
//! their sync session (docs/attachments.md): every bidirectional stream
//! after the session's first carries one iroh-blobs request, BLAKE3
//! verified as it arrives, at a lower priority than the session's stream
//! so that workflow changes go first.
//!
//! - **Serving.** A request is answered only for a whole blob (no hash
//!   sequences), that this node holds complete, and that some dossier
//!   records which the peer may hold by the sync routing rule
//!   ([`motcua_sync::routing::holds`]). Anything else, an unknown hash
//!   included, gets the same refusal before a byte is sent. A peer may
//!   observe (learn how much this node holds of) only a file in its scope;
//!   pushes and multi-requests are refused.
//! - **Fetching.** This node asks the peer for the files its own dossiers
//!   record and it does not hold whole, which the peer may hold: nearest
//!   legal deadline first, in pieces of [`PIECE_BYTES`], so that a large
//!   scan never holds back a more urgent file for long. Only the missing
//!   ranges are asked for: a transfer cut off resumes where it stopped,
//!   across reconnections and restarts (the store keeps verified chunks).
//!   One connection at a time fetches a given file.

use std::collections::{HashMap, HashSet};

use iroh_blobs::Hash;
use iroh_blobs::protocol::{ChunkRanges, ChunkRangesExt, GetRequest};
use iroh_blobs::provider::events::{
    AbortReason, ConnectMode, EventMask, EventSender, ObserveMode, ProviderMessage, RequestMode, ThrottleMode,
};
use motcua_sync::cert::NodeRole;
use motcua_sync::routing;

use super::*;
use crate::blobs::{Blobs, Held};

/// The most a single request asks for: about 8 s of a 256 kbit/s link.
pub const PIECE_BYTES: u64 = 256 * 1024;
/// Bidirectional streams a peer may have open for files at once, besides
/// its sync session's.
pub const FILE_STREAMS_MAX: u32 = 4;
/// Priority of file streams; the sync session's stream has 0.
const FILE_PRIORITY: i32 = -1;
/// How long a file the peer refused is first not asked for again on this
/// connection; each further refusal doubles it up to [`REFUSED_RETRY_MAX`].
/// A relay often refuses only because its own copy is still on the way.
const REFUSED_RETRY: Duration = Duration::from_secs(4);
const REFUSED_RETRY_MAX: Duration = Duration::from_secs(5 * 60);
/// The longest a piece may take: 256 KiB at 32 kbit/s, with room.
const PIECE_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a file whose bytes contradict its dossier is not asked for.
const BAD_FILE_SKIP: Duration = Duration::from_secs(6 * 60 * 60);
/// The fetcher looks again at what it wants at most this often while it
/// has files to fetch (each look reads every dossier with files).
const RESCAN_MIN: Duration = Duration::from_secs(10);
/// How soon a commune asks the province again about files it has not
/// confirmed there.
const PROVINCE_RECHECK: Duration = Duration::from_secs(5);
/// How long the fetcher waits for a change when it has nothing to ask.
const IDLE_RECHECK: Duration = Duration::from_secs(30);
/// Queueing delay file bytes may add to the link, over the lowest round
/// trip seen: beyond it, the sender waits before each 16 KiB (a
/// background transfer that yields to the workflow, as LEDBAT, RFC 6817,
/// yields to foreground traffic).
const QUEUE_TARGET: Duration = Duration::from_millis(60);
/// The longest single wait before 16 KiB of file data.
const PACE_WAIT_MAX: Duration = Duration::from_secs(2);

/// What a connection's round trips say about the link's queue: file data
/// waits while the smoothed round trip exceeds the lowest one seen by more
/// than [`QUEUE_TARGET`].
struct Pacer {
    conn: Connection,
    base: Mutex<Option<Duration>>,
}

impl Pacer {
    fn wait(&self) -> Duration {
        let Some(rtt) = self.conn.rtt(iroh::endpoint::PathId::ZERO) else { return Duration::ZERO };
        let mut base = self.base.lock().expect("pacer lock");
        let min = *base.get_or_insert(rtt);
        let min = min.min(rtt);
        *base = Some(min);
        rtt.saturating_sub(min + QUEUE_TARGET).min(PACE_WAIT_MAX)
    }
}

/// The peer, as its admitted certificate says.
#[derive(Debug, Clone)]
pub(super) struct PeerScope {
    pub role: NodeRole,
    pub unit: String,
}

/// Files being fetched, over all connections: one fetcher per file.
#[derive(Default)]
pub(super) struct InFlight(Mutex<HashSet<[u8; 32]>>);

impl InFlight {
    fn claim(&self, hash: [u8; 32]) -> bool {
        self.0.lock().expect("in-flight lock").insert(hash)
    }
    fn release(&self, hash: &[u8; 32]) {
        self.0.lock().expect("in-flight lock").remove(hash);
    }
}

/// Why a peer may receive a file, as the dossiers that record it say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scope {
    /// No dossier in the peer's scope records it.
    Out,
    /// Only attach events of the peer's own unit record it: a node that
    /// knows a hash could otherwise sign it into a dossier of its own and
    /// read another unit's file. Sent only if that unit gave the bytes.
    OwnOnly,
    /// Another unit attached it to a dossier in the peer's scope.
    In,
}

fn scope_of(desk: &Desk, peer: &PeerScope, hash: &[u8; 32]) -> Scope {
    let Ok(ids) = desk.store().dossiers_with_attachment(hash) else { return Scope::Out };
    let mut scope = Scope::Out;
    for id in ids {
        let Ok(Some(e)) = desk.store().sync_entry(&id) else { continue };
        if !routing::holds(peer.role, &peer.unit, &e.units) {
            continue;
        }
        let attached = desk.attachments_of(&id).unwrap_or_default();
        for a in attached.iter().filter(|a| a.file.hash == *hash) {
            if a.unit != peer.unit {
                return Scope::In;
            }
            scope = Scope::OwnOnly;
        }
    }
    scope
}

/// Serves the peer's file requests on this connection until it ends.
pub(super) async fn serve_files(
    net: Arc<Network>,
    blobs: Blobs,
    conn: Connection,
    peer: PeerScope,
    stop: CancellationToken,
) {
    let mask = EventMask {
        connected: ConnectMode::None,
        get: RequestMode::Intercept,
        get_many: RequestMode::Disabled,
        push: RequestMode::Disabled,
        observe: ObserveMode::Intercept,
        throttle: ThrottleMode::Intercept,
    };
    let pacer = Arc::new(Pacer { conn: conn.clone(), base: Mutex::new(None) });
    let (events, mut requests) = EventSender::channel(FILE_STREAMS_MAX as usize, mask);
    let judge = {
        let (net, blobs, peer) = (net.clone(), blobs.clone(), peer.clone());
        async move {
            while let Some(message) = requests.recv().await {
                match message {
                    ProviderMessage::GetRequestReceived(m) => {
                        let request = &m.inner.request;
                        let hash = *request.hash.as_bytes();
                        let whole = request.ranges.is_blob();
                        // Every check is made, whatever the first says: the
                        // time to refuse tells nothing.
                        let scoped = scoped(&net, &blobs, &peer, hash).await;
                        let held = blobs.held(hash).await == Held::Complete;
                        let allowed = whole && held && scoped;
                        tracing::debug!(file = %request.hash.fmt_short(), allowed, "file requested");
                        m.tx.send(if allowed { Ok(()) } else { Err(AbortReason::Permission) }).await.ok();
                    }
                    ProviderMessage::ObserveRequestReceived(m) => {
                        let allowed = scoped(&net, &blobs, &peer, *m.inner.request.hash.as_bytes()).await;
                        m.tx.send(if allowed { Ok(()) } else { Err(AbortReason::Permission) }).await.ok();
                    }
                    ProviderMessage::Throttle(m) => {
                        let wait = pacer.wait();
                        if wait.is_zero() {
                            m.tx.send(Ok(())).await.ok();
                        } else {
                            // The other streams' requests go on meanwhile.
                            net.tasks.spawn(async move {
                                tokio::time::sleep(wait).await;
                                m.tx.send(Ok(())).await.ok();
                            });
                        }
                    }
                    _ => {}
                }
            }
        }
    };
    let accept = async {
        let id = conn.stable_id() as u64;
        loop {
            let (send, recv) = tokio::select! {
                _ = stop.cancelled() => break,
                s = conn.accept_bi() => match s {
                    Ok(s) => s,
                    Err(_) => break,
                },
            };
            send.set_priority(FILE_PRIORITY).ok();
            let pair = iroh_blobs::provider::StreamPair::new(id, recv, send, events.clone());
            let store = blobs.store().clone();
            net.tasks.spawn(async move {
                if let Err(e) = iroh_blobs::provider::handle_stream(pair, store).await {
                    tracing::debug!(error = %e, "a file request ended early");
                }
            });
        }
    };
    tokio::select! {
        _ = judge => {}
        _ = accept => {}
    }
}

async fn scoped(net: &Arc<Network>, blobs: &Blobs, peer: &PeerScope, hash: [u8; 32]) -> bool {
    let (desk, p) = (net.desk.clone(), peer.clone());
    let scope = tokio::task::spawn_blocking(move || scope_of(&desk, &p, &hash)).await.unwrap_or(Scope::Out);
    let gave = blobs.came_from(hash, &peer.unit).await;
    match scope {
        Scope::In => true,
        Scope::OwnOnly => gave,
        Scope::Out => false,
    }
}

/// A file this node wants, with what decides its turn.
#[derive(Debug, Clone)]
pub(super) struct Wanted {
    pub hash: [u8; 32],
    pub size: u64,
    /// No open dossier records it (those go after every open one).
    pub closed: bool,
    /// The earliest legal deadline of the dossiers that record it (none:
    /// last).
    pub due_at: Option<i64>,
    /// When it was first attached.
    pub attached_at: i64,
}

/// The files the dossiers of this node record that `peer` may hold, each
/// once, nearest deadline first; held ones are filtered by the caller.
fn candidates(desk: &Desk, peer: &PeerScope) -> Vec<Wanted> {
    let Ok(hashes) = desk.store().attachment_hashes() else { return Vec::new() };
    let mut out = Vec::new();
    let mut files: HashMap<[u8; 16], Vec<motcua_domain::attachment::Attachment>> = HashMap::new();
    for hash in hashes {
        let Ok(ids) = desk.store().dossiers_with_attachment(&hash) else { continue };
        let mut wanted: Option<Wanted> = None;
        for id in ids {
            let Ok(Some(entry)) = desk.store().sync_entry(&id) else { continue };
            if !routing::holds(peer.role, &peer.unit, &entry.units) {
                continue;
            }
            let attached = files.entry(id).or_insert_with(|| desk.attachments_of(&id).unwrap_or_default());
            let Some(a) = attached.iter().find(|a| a.file.hash == hash) else { continue };
            let summary = desk.store().summary(&id).ok().flatten();
            let closed = summary.as_ref().is_none_or(|s| s.state.is_closed());
            let due = summary.and_then(|s| s.due_at).filter(|_| !closed);
            let w = wanted.get_or_insert(Wanted { hash, size: a.file.size, closed, due_at: due, attached_at: a.at });
            w.closed &= closed;
            w.due_at = match (w.due_at, due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            w.attached_at = w.attached_at.min(a.at);
        }
        out.extend(wanted);
    }
    out.sort_by_key(|w| (w.closed, w.due_at.is_none(), w.due_at, w.attached_at));
    out
}

/// Fetches from the peer the files this node wants, until the
/// connection ends.
pub(super) async fn fetch_files(
    net: Arc<Network>,
    blobs: Blobs,
    conn: Connection,
    peer: PeerScope,
    node_id: String,
    stop: CancellationToken,
) {
    let mut changes = net.changes.subscribe();
    // Files not asked for again on this connection until then: refused,
    // stalled, or not what their dossier says.
    let mut skip: HashMap<[u8; 32], tokio::time::Instant> = HashMap::new();
    let mut refusals: HashMap<[u8; 32], u32> = HashMap::new();
    let mut queue: Vec<Wanted> = Vec::new();
    let mut scanned: Option<tokio::time::Instant> = None;
    loop {
        let now = tokio::time::Instant::now();
        let stale = changes.has_changed().unwrap_or(false) && scanned.is_none_or(|t| now - t >= RESCAN_MIN);
        if queue.is_empty() || stale {
            changes.borrow_and_update();
            scanned = Some(now);
            queue = pending(&net, &blobs, &peer, &node_id).await;
        }
        skip.retain(|_, until| *until > now);
        let free = blobs.free_for_files().unwrap_or(0);
        let next = if free < 2 * PIECE_BYTES {
            None
        } else {
            queue.iter().position(|w| !skip.contains_key(&w.hash) && net.files_in_flight.claim(w.hash))
        };
        let Some(i) = next else {
            if free < 2 * PIECE_BYTES {
                tracing::warn!(peer = %node_id, free, "no disk space for files: fetching paused");
            }
            let mut recheck = IDLE_RECHECK;
            if peer.role == NodeRole::Province
                && net.desk.config().role != motcua_desk::config::NodeRole::Province
                && !confirm_at_province(&net, &blobs, &conn).await
            {
                recheck = PROVINCE_RECHECK;
            }
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = changes.changed() => {}
                _ = tokio::time::sleep(recheck) => {}
            }
            queue.clear();
            continue;
        };
        let w = queue[i].clone();
        let _claim = Claim { net: &net, hash: w.hash };
        let got = tokio::select! {
            _ = stop.cancelled() => return,
            got = tokio::time::timeout(PIECE_TIMEOUT, fetch_piece(&blobs, &conn, w.hash)) => got,
        };
        let file = hex::encode(&w.hash[..8]);
        match got {
            Ok(Ok(bytes)) if bytes > 0 => {
                net.board.update(&node_id, |s| s.file_bytes_received += bytes);
                match blobs.verified_size(w.hash).await {
                    Some(size) if size != w.size => {
                        // The bytes do not match what the signed event says
                        // of them: a forged reference. Never more of it.
                        tracing::warn!(peer = %node_id, %file, size, expected = w.size, "a file is not the size its dossier says");
                        skip.insert(w.hash, tokio::time::Instant::now() + BAD_FILE_SKIP);
                        queue.remove(i);
                    }
                    _ if blobs.held(w.hash).await == Held::Complete => {
                        refusals.remove(&w.hash);
                        blobs.record_source(w.hash, &peer.unit).await;
                        tracing::info!(peer = %node_id, %file, size = w.size, "file received");
                        queue.remove(i);
                    }
                    _ => {}
                }
            }
            other => {
                let why = match other {
                    Ok(Ok(_)) => "nothing sent".to_string(),
                    Ok(Err(e)) => e.to_string(),
                    Err(_) => "the peer sent nothing in time".to_string(),
                };
                tracing::debug!(peer = %node_id, %file, error = %why, "file not fetched");
                if conn.close_reason().is_some() {
                    return;
                }
                let n = refusals.entry(w.hash).or_insert(0);
                let wait = REFUSED_RETRY.saturating_mul(1 << (*n).min(16)).min(REFUSED_RETRY_MAX);
                *n += 1;
                skip.insert(w.hash, tokio::time::Instant::now() + wait);
            }
        }
    }
}

/// Releases a file's claim however its fetch ends.
struct Claim<'a> {
    net: &'a Network,
    hash: [u8; 32],
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.net.files_in_flight.release(&self.hash);
    }
}

/// The files this node wants from the peer and lacks, in turn; the peer's
/// row on the board shows how much and since when.
async fn pending(net: &Arc<Network>, blobs: &Blobs, peer: &PeerScope, node_id: &str) -> Vec<Wanted> {
    let (desk, p) = (net.desk.clone(), peer.clone());
    let all = tokio::task::spawn_blocking(move || candidates(&desk, &p)).await.unwrap_or_default();
    let mut pending = Vec::new();
    let mut bytes_pending = 0;
    for w in all {
        if blobs.held(w.hash).await != Held::Complete {
            bytes_pending += w.size.saturating_sub(blobs.bytes_held(w.hash).await);
            pending.push(w);
        }
    }
    let oldest = pending.iter().map(|w| w.attached_at).min();
    net.board.update(node_id, |s| {
        s.file_bytes_pending = bytes_pending;
        s.file_oldest_waiting_at = oldest;
    });
    pending
}

/// Asks for the next [`PIECE_BYTES`] this node lacks of a file; the
/// payload bytes read.
pub(super) async fn fetch_piece(blobs: &Blobs, conn: &Connection, hash: [u8; 32]) -> anyhow::Result<u64> {
    let store = blobs.store();
    let hash = Hash::from_bytes(hash);
    let local = store.remote().local(hash).await.map_err(|e| anyhow!("{e}"))?;
    if local.is_complete() {
        return Ok(0);
    }
    let missing = local.missing();
    let Some(root) = missing.ranges.iter().next() else { return Ok(0) };
    let Some(first) = root.boundaries().first().copied() else { return Ok(0) };
    let mut window = ChunkRanges::chunks(first.0..first.0 + PIECE_BYTES / 1024);
    if first.0 == 0 {
        // The last chunk proves the file's size: a file that is not what
        // its dossier says is found out after one piece.
        window |= ChunkRanges::last_chunk();
    }
    let piece = root.intersection(&window);
    let (send, recv) = conn.open_bi().await?;
    send.set_priority(FILE_PRIORITY).ok();
    let pair = iroh_blobs::get::StreamPair::new(conn.stable_id() as u64, recv, send);
    let stats = store
        .remote()
        .execute_get(pair, GetRequest::blob_ranges(hash, piece))
        .complete()
        .await
        .map_err(|e| anyhow!("{e}"))?;
    Ok(stats.payload_bytes_read)
}

/// Asks the provincial node, over `conn`, whether it holds each file this
/// node holds whole and does not yet know to be there; records those it
/// does. The province answers only for files in this node's scope. True
/// when every file held here is known to be there.
async fn confirm_at_province(net: &Arc<Network>, blobs: &Blobs, conn: &Connection) -> bool {
    use futures_util::StreamExt;
    let desk = net.desk.clone();
    let hashes = tokio::task::spawn_blocking(move || desk.store().attachment_hashes()).await;
    let Ok(Ok(hashes)) = hashes else { return false };
    let mut all = true;
    for hash in hashes {
        if blobs.held(hash).await != Held::Complete || blobs.at_province(hash).await {
            continue;
        }
        let request = iroh_blobs::protocol::ObserveRequest {
            hash: Hash::from_bytes(hash),
            ranges: iroh_blobs::protocol::RangeSpec::all(),
        };
        let mut updates = Box::pin(blobs.store().remote().observe(conn.clone(), request));
        if let Ok(Some(Ok(bitfield))) = tokio::time::timeout(PIECE_TIMEOUT, updates.next()).await
            && bitfield.is_complete()
        {
            blobs.record_at_province(hash).await;
        } else {
            all = false;
        }
    }
    all
}
