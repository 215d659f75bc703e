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
/// How long a file the peer refused is not asked for again on this
/// connection (it may arrive there later).
const REFUSED_RETRY: Duration = Duration::from_secs(30);
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

/// Whether `peer` may receive the file `hash`: some dossier this node
/// holds records it, and the peer may hold that dossier.
fn in_scope(desk: &Desk, peer: &PeerScope, hash: &[u8; 32]) -> bool {
    let Ok(ids) = desk.store().dossiers_with_attachment(hash) else { return false };
    ids.iter().any(|id| match desk.store().sync_entry(id) {
        Ok(Some(e)) => routing::holds(peer.role, &peer.unit, &e.units),
        _ => false,
    })
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
                        let held = blobs.held(hash).await == Held::Complete;
                        let allowed = whole && held && scoped(&net, &peer, hash).await;
                        tracing::debug!(file = %request.hash.fmt_short(), allowed, "file requested");
                        m.tx.send(if allowed { Ok(()) } else { Err(AbortReason::Permission) }).await.ok();
                    }
                    ProviderMessage::ObserveRequestReceived(m) => {
                        let allowed = scoped(&net, &peer, *m.inner.request.hash.as_bytes()).await;
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

async fn scoped(net: &Arc<Network>, peer: &PeerScope, hash: [u8; 32]) -> bool {
    let (desk, peer) = (net.desk.clone(), peer.clone());
    tokio::task::spawn_blocking(move || in_scope(&desk, &peer, &hash)).await.unwrap_or(false)
}

/// A file this node wants, with what decides its turn.
#[derive(Debug, Clone)]
pub(super) struct Wanted {
    pub hash: [u8; 32],
    pub size: u64,
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
            let due = desk.store().summary(&id).ok().flatten().and_then(|s| s.due_at);
            let w = wanted.get_or_insert(Wanted { hash, size: a.file.size, due_at: due, attached_at: a.at });
            w.due_at = match (w.due_at, due) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            w.attached_at = w.attached_at.min(a.at);
        }
        out.extend(wanted);
    }
    out.sort_by_key(|w| (w.due_at.is_none(), w.due_at, w.attached_at));
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
    let mut refused: HashMap<[u8; 32], tokio::time::Instant> = HashMap::new();
    loop {
        let (desk, p) = (net.desk.clone(), peer.clone());
        let all = tokio::task::spawn_blocking(move || candidates(&desk, &p)).await.unwrap_or_default();
        let now = tokio::time::Instant::now();
        refused.retain(|_, until| *until > now);
        let mut pending = Vec::new();
        for w in all {
            if blobs.held(w.hash).await != Held::Complete {
                pending.push(w);
            }
        }
        let mut bytes_pending = 0;
        for w in &pending {
            bytes_pending += w.size.saturating_sub(blobs.bytes_held(w.hash).await);
        }
        let oldest = pending.iter().map(|w| w.attached_at).min();
        net.board.update(&node_id, |s| {
            s.file_bytes_pending = bytes_pending;
            s.file_oldest_waiting_at = oldest;
        });
        let next = pending.iter().find(|w| !refused.contains_key(&w.hash) && net.files_in_flight.claim(w.hash));
        let Some(w) = next.cloned() else {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = changes.changed() => {}
                _ = tokio::time::sleep(IDLE_RECHECK) => {}
            }
            continue;
        };
        let got = tokio::select! {
            _ = stop.cancelled() => { net.files_in_flight.release(&w.hash); return; }
            got = fetch_piece(&blobs, &conn, w.hash) => got,
        };
        net.files_in_flight.release(&w.hash);
        match got {
            Ok(bytes) => {
                net.board.update(&node_id, |s| s.file_bytes_received += bytes);
                if blobs.held(w.hash).await == Held::Complete {
                    tracing::info!(peer = %node_id, file = %hex::encode(&w.hash[..8]), size = w.size, "file received");
                }
            }
            Err(e) => {
                tracing::debug!(peer = %node_id, file = %hex::encode(&w.hash[..8]), error = %e, "file not fetched");
                if conn.close_reason().is_some() {
                    return;
                }
                refused.insert(w.hash, tokio::time::Instant::now() + REFUSED_RETRY);
            }
        }
    }
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
    let window = ChunkRanges::chunks(first.0..first.0 + PIECE_BYTES / 1024);
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
