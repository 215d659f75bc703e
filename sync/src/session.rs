//! One sync connection between two nodes, as a state machine: messages in,
//! messages out. The driver (iroh in the node, a simulated network in
//! `motcua-sim`) moves the bytes; storage is reached through the
//! [`Replica`] trait, which the node implements over redb and the
//! simulator in memory. No clock, thread, socket or file here: the current time
//! comes in with each call.
//!
//! A connection goes:
//! 1. **Handshake.** Each side sends [`Hello`] with its certificate. The
//!    certificate must be signed by this province's root, valid now, not
//!    revoked, and for the very key the transport authenticated; otherwise
//!    the connection is refused before any dossier byte moves. A side with
//!    the older revocation list receives the newer one.
//! 2. **Rounds.** The dialing side starts a reconciliation round over the
//!    documents each side may share with the other ([`crate::routing`]).
//!    When it ends, each side knows its documents the peer lacks, and
//!    whether the peer holds another version of each.
//! 3. **Documents.** Sent nearest legal deadline first, in compressed
//!    batches, at most [`DOCS_IN_FLIGHT_MAX`] unacknowledged. A document
//!    the peer lacks goes whole; one it holds in another version goes as
//!    an Automerge sync message from the persisted per-peer state. The
//!    receiver verifies every new change ([`crate::verify`]) and its
//!    routing before storing a batch in one durable commit, then
//!    acknowledges each document with the digest of its heads.
//! 4. **Live.** A local change (or one relayed from another peer) starts a
//!    new round: the dialer starts it, the acceptor asks with `Changed`.

use std::collections::{HashMap, HashSet, VecDeque};

use automerge::sync::{Message as SyncMessage, State as SyncState, SyncDoc};
use automerge::{Automerge, ChangeHash};
use motcua_domain::authority::{latest_changes, node_key_of};
use motcua_domain::dossier::DossierRecord;
use motcua_domain::workflow::Action;

use crate::attest::Attestation;
use crate::cert::{NodeRole, SignedCertificate, SignedProvinceDocument};
use crate::fork::{self, Fork};
use crate::recent::{self, RecentWrite};
use crate::reconcile::{Item, ItemSet, Reconciler, heads_digest};
use crate::routing;
use crate::verify::{Rejection, Trust, verify_document};
use crate::wire::{
    Applied, BatchBuilder, CERTIFICATES_BYTES_TARGET, ChangeSignature, DOCS_IN_FLIGHT_MAX, DocBody, DocMessage, Hello,
    Message, PROTOCOL_VERSION, REASON_CHARS_MAX, Verdict, WireError, decode_batch, encode_batch,
};

/// This node, as a session presents it.
#[derive(Debug, Clone)]
pub struct Local {
    pub key: [u8; 32],
    pub unit: String,
    pub role: NodeRole,
    /// Its certificate as the province signed it (JSON).
    pub certificate: Vec<u8>,
    pub utc_offset_minutes: i32,
}

/// The peer, once its certificate is admitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Peer {
    pub key: [u8; 32],
    pub unit: String,
    pub role: NodeRole,
}

/// A document this node may offer a peer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    pub item: Item,
    /// Legal deadline (hẹn trả), if the dossier has one: nearer goes first.
    pub due_at: Option<i64>,
}

/// A verified document, ready to be stored.
#[derive(Debug)]
pub struct Admitted {
    pub id: [u8; 16],
    /// The document itself, for a replica that keeps documents loaded
    /// ([`Replica::keeps_loaded`]).
    pub doc: Option<Automerge>,
    /// The document saved uncompressed, as a store keeps it: the bytes
    /// received when the document arrived whole and new, so that storing
    /// it costs no save.
    pub bytes: Vec<u8>,
    /// Its heads and their digest.
    pub heads: Vec<[u8; 32]>,
    pub digest: [u8; 16],
    /// The heads of the stored document it was verified against (none if
    /// the node lacked it): a store that holds others by the time it
    /// writes (a desk action in between) merges instead of replacing.
    pub verified_from: Vec<[u8; 32]>,
    /// Each actor (node key) and the hash of its latest change.
    pub latest: Vec<([u8; 32], [u8; 32])>,
    pub record: DossierRecord,
    /// Signatures on each actor's latest new change, to keep.
    pub signatures: Vec<([u8; 32], Attestation)>,
    /// The changes it gained beyond `verified_from` (none for a document
    /// new to this node), for the store's [`crate::recent`] writes.
    pub gained: Option<Vec<u8>>,
    /// The node keys whose daily allowance of new and transferred
    /// dossiers it uses (`cert::DOSSIERS_PER_NODE_PER_DAY`): its creator,
    /// if it is new here and no merger handed it over, and the recorder of
    /// each new transfer; each with when it says it happened (the
    /// receiver counts only what is recent).
    pub charged: Vec<([u8; 32], i64)>,
}

/// A document ready to be sent whole.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Whole {
    /// The saved document, uncompressed (`Automerge::save_nocompress`).
    pub bytes: Vec<u8>,
    pub digest: [u8; 16],
    /// Its heads.
    pub heads: Vec<[u8; 32]>,
    /// Signatures on each actor's latest change.
    pub signatures: Vec<ChangeSignature>,
    /// The actors (node keys) of its changes.
    pub actors: Vec<[u8; 32]>,
    /// Its last writes ([`crate::recent`]): a peer holding the version one
    /// of them starts from gets a delta without the document being loaded.
    pub recent: Vec<RecentWrite>,
}

/// A durable commit a replica started in [`Replica::apply`]. The driver
/// learns from the replica when it is done, and tells the session
/// ([`Session::committed`], [`Session::commit_failed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CommitId(pub u64);

/// What [`Replica::apply`] did with a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Per document in order: `Err(reason)` for one the store refuses
    /// (then nothing of it is stored).
    pub results: Vec<Result<(), String>>,
    /// The commit that makes the rest durable; `None` when there is
    /// nothing to wait for (nothing written, or written durably before
    /// `apply` returned).
    pub commit: Option<CommitId>,
}

/// Storage as the session needs it. Calls are synchronous and return
/// without waiting on the disk only where this says so:
/// - [`Replica::apply`] may return before its commit is durable; the
///   session holds back what it would tell the peer until the driver
///   reports the commit done;
/// - [`Replica::save_sync_states`] and [`Replica::peer_holds`] may be lost
///   in a crash (they only spare work);
/// - every other write is durable when it returns, and (one writer, in
///   order) so is every commit `apply` started before it.
///
/// Reads see what `apply` wrote, committed or not.
pub trait Replica {
    type Error: std::fmt::Display;

    /// Runs `f` on the province trust this node holds.
    fn with_trust<R>(&self, f: impl FnOnce(&mut Trust) -> R) -> R;
    /// Whether [`Replica::apply`] needs admitted documents loaded, or only
    /// their saved form (which spares holding every loaded document of a
    /// batch until it is stored).
    fn keeps_loaded(&self) -> bool {
        true
    }
    /// Runs `f` on the trust without changing it (verification, which
    /// other connections may do at the same time).
    fn with_trust_shared<R>(&self, f: impl FnOnce(&Trust) -> R) -> R {
        self.with_trust(|t| f(t))
    }
    /// `f` over `items`, results in item order: the verification of an
    /// incoming batch and the deltas of an outgoing one. The core starts
    /// no thread; a driver that has them runs the items on several. The
    /// outcome must not depend on how: each item is independent.
    fn run_parallel<T: Send, R: Send>(&self, items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
        items.into_iter().map(f).collect()
    }
    /// The documents this node may share with `peer`, with their digests.
    fn offers(&mut self, peer: &Peer) -> Result<Vec<Offer>, Self::Error>;
    fn load(&mut self, id: &[u8; 16]) -> Result<Option<Automerge>, Self::Error>;
    /// The stored (saved) form of each of these documents, in order. The
    /// default saves what [`Replica::load`] gives; a store answers from
    /// one read.
    fn stored(&mut self, ids: &[[u8; 16]]) -> Result<Vec<Option<Vec<u8>>>, Self::Error> {
        ids.iter().map(|id| Ok(self.load(id)?.map(|d| d.save_nocompress()))).collect()
    }
    /// The participant units of each of these documents this node holds
    /// (`None` for one it does not), in order: a peer is answered about a
    /// document only if its unit takes part in it ([`routing::holds`]).
    fn participants(&mut self, ids: &[[u8; 16]]) -> Result<Vec<Option<Vec<String>>>, Self::Error>;
    /// Signatures on the latest change of each actor of `doc`.
    fn signatures(&mut self, doc: &Automerge) -> Result<Vec<ChangeSignature>, Self::Error>;
    /// A document to send whole. The default loads and saves it; a store
    /// that keeps documents uncompressed can answer without loading.
    fn whole(&mut self, id: &[u8; 16]) -> Result<Option<Whole>, Self::Error> {
        let Some(doc) = self.load(id)? else { return Ok(None) };
        let signatures = self.signatures(&doc)?;
        let actors = actor_keys(&doc, &[]);
        let heads = doc.get_heads().iter().map(|h| h.0).collect();
        let recent = self.recent_writes(id)?;
        Ok(Some(Whole { bytes: doc.save_nocompress(), digest: digest_of(&doc), heads, signatures, actors, recent }))
    }
    /// A document's last writes ([`crate::recent`]); none by default, and
    /// every delta is then cut from the loaded document.
    fn recent_writes(&mut self, _id: &[u8; 16]) -> Result<Vec<RecentWrite>, Self::Error> {
        Ok(Vec::new())
    }
    /// Documents to send whole, in order (one read for a store).
    fn wholes(&mut self, ids: &[[u8; 16]]) -> Result<Vec<Option<Whole>>, Self::Error> {
        ids.iter().map(|id| self.whole(id)).collect()
    }
    /// A stored certificate (signed JSON) of a node.
    fn certificate(&mut self, key: &[u8; 32]) -> Result<Option<Vec<u8>>, Self::Error>;
    fn store_certificates(&mut self, certs: Vec<([u8; 32], Vec<u8>)>) -> Result<(), Self::Error>;
    /// The newest signed revocation list held (JSON), if any.
    fn revocations(&mut self) -> Result<Option<Vec<u8>>, Self::Error>;
    /// Keeps a newer revocation list, already installed in the trust.
    fn store_revocations(&mut self, json: &[u8], sequence: u64) -> Result<(), Self::Error>;
    fn sync_state(&mut self, peer: &[u8; 32], id: &[u8; 16]) -> Result<Option<Vec<u8>>, Self::Error>;
    /// Stores verified documents and sync states in one durable commit,
    /// which it may start and leave running ([`Stored::commit`]); commits
    /// complete in the order started, or fail.
    fn apply(
        &mut self,
        peer: &Peer,
        docs: Vec<Admitted>,
        states: Vec<([u8; 16], Vec<u8>)>,
    ) -> Result<Stored, Self::Error>;
    /// Keeps sync states of documents sent (lost states only cost bytes).
    fn save_sync_states(&mut self, peer: &[u8; 32], states: Vec<([u8; 16], Vec<u8>)>) -> Result<(), Self::Error>;
    /// The peer is known to hold these documents at these digests.
    fn peer_holds(&mut self, peer: &Peer, held: Vec<([u8; 16], [u8; 16])>) -> Result<(), Self::Error>;
    /// Position of this node's change log: every stored document change
    /// (local or received) takes the next position.
    fn log_position(&mut self) -> Result<u64, Self::Error>;
    /// The documents `peer` may hold that changed after log position `after`.
    fn changed_since(&mut self, peer: &Peer, after: u64) -> Result<Vec<Offer>, Self::Error>;
    /// The log position up to which `peer` is known to hold everything
    /// this node offered it (0: nothing known).
    fn checkpoint(&mut self, peer: &[u8; 32]) -> Result<u64, Self::Error>;
    fn set_checkpoint(&mut self, peer: &[u8; 32], position: u64) -> Result<(), Self::Error>;
}

/// Why a session ended. The driver tells the peer (`Message::Refused`
/// with this text), unless the peer is the one that closed.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// A frame or batch that does not decode within its limits.
    #[error(transparent)]
    Wire(#[from] WireError),
    /// The peer's certificate is not admitted, or no longer (revoked).
    #[error("peer refused: {0}")]
    Refused(Rejection),
    #[error("the peer presented a certificate for {presented}, but the connection is from {actual}")]
    KeyMismatch { presented: String, actual: String },
    #[error("the peer speaks protocol version {0}; this node speaks {PROTOCOL_VERSION}")]
    Version(u16),
    #[error("the peer's certificate is malformed: {0}")]
    MalformedCertificate(String),
    #[error("the peer's revocation list was refused: {0}")]
    BadRevocations(String),
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The peer ended the session, saying why (`Message::Refused`).
    #[error("the peer closed the connection: {0}")]
    PeerClosed(String),
    /// A read or write of the replica failed.
    #[error("storage: {0}")]
    Storage(String),
    /// A commit the session waited on failed ([`Session::commit_failed`]).
    #[error("received documents were not stored: {0}")]
    CommitFailed(String),
}

impl SessionError {
    /// The peer ended the session: it is not told why in return.
    pub fn by_peer(&self) -> bool {
        matches!(self, SessionError::PeerClosed(_))
    }
}

/// A document sent and not yet acknowledged.
#[derive(Debug, Clone)]
struct Sent {
    /// Digest of this node's heads when it was sent.
    digest: [u8; 16],
    /// Those heads, when the message carried everything up to them (a
    /// whole document or the changes since shared heads): once the peer
    /// acknowledges the same digest, they are shared.
    heads: Option<Vec<ChangeHash>>,
    /// It carried changes since heads believed shared.
    delta: bool,
}

/// Counters a node shows for each peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    pub rounds: u32,
    pub docs_sent: u64,
    pub docs_received: u64,
    pub docs_refused_by_peer: u64,
    pub docs_refused_from_peer: u64,
    /// Why the last document was refused (by either side).
    pub last_refusal: Option<String>,
}

/// Messages held back until a commit is durable: what the session said
/// from the acknowledgement of the batch the commit stores on.
#[derive(Debug)]
struct Held {
    commit: CommitId,
    /// The driver reported it durable (a commit before it is not yet).
    done: bool,
    messages: Vec<Message>,
}

/// Where a connection is in the protocol (docs/sync.md, "Sync sessions").
/// Sending documents is not a phase: what a round or a catch-up found is
/// queued and in flight across phases, within the window.
#[derive(Debug)]
enum Phase {
    /// Hellos: nothing but the peer's may come first.
    Handshake,
    /// Dialer, peer admitted: the accepting side is sending what changed
    /// since the peer's checkpoint, and says `Changed` when done; rounds
    /// wait for it.
    AwaitingReady { peer: Peer },
    /// A reconciliation round: what this node offered, and the compare.
    Round { peer: Peer, reconciler: Reconciler, offers: Vec<Offer> },
    /// Between rounds.
    Between {
        peer: Peer,
        /// A round completed; once everything it found is acknowledged,
        /// the log position becomes the peer's checkpoint.
        checkpoint_due: bool,
        /// Acceptor: `Changed` was sent and no round has started since.
        asked: bool,
    },
}

impl Phase {
    fn peer(&self) -> Option<&Peer> {
        match self {
            Phase::Handshake => None,
            Phase::AwaitingReady { peer } | Phase::Round { peer, .. } | Phase::Between { peer, .. } => Some(peer),
        }
    }
}

pub struct Session {
    local: Local,
    /// The key the transport authenticated.
    remote_key: [u8; 32],
    dialer: bool,
    phase: Phase,
    /// Messages free to go, in order.
    outbox: VecDeque<Message>,
    /// Messages after them, each group waiting on a commit, in the order
    /// the commits started: nothing tells the peer a document is held
    /// before it is durable, and nothing overtakes what does.
    held: VecDeque<Held>,
    /// The latest round started.
    round: u32,
    /// A new round is wanted once this one and its documents are done.
    round_wanted: bool,
    queue: VecDeque<(Item, bool)>,
    /// Answers to the peer's Automerge sync messages, with the digest of
    /// the heads they were made at, waiting for room in the window.
    replies: VecDeque<(DocMessage, [u8; 16])>,
    /// Per document sent and not yet acknowledged: the digest of the
    /// heads it was sent at (a document may be in flight more than once).
    in_flight: HashMap<[u8; 16], VecDeque<Sent>>,
    in_flight_count: usize,
    certificates_shared: HashSet<[u8; 32]>,
    /// Live Automerge sync states of the documents exchanged as deltas on
    /// this connection (persisted ones keep only the shared heads).
    states: HashMap<[u8; 16], SyncState>,
    /// Documents the peer refused, at the digest it refused.
    refused: HashMap<[u8; 16], [u8; 16]>,
    /// Documents the peer acknowledged holding on this connection, at
    /// the digest it holds: a round that began before the acknowledgement
    /// still counts them as lacking.
    acknowledged: HashMap<[u8; 16], [u8; 16]>,
    progress: Progress,
    /// Refusals since the driver last took them ([`Session::take_refusals`]).
    refusals: Vec<RefusalNote>,
    /// Forks proven since the driver last took them.
    forks: Vec<([u8; 16], Fork)>,
    /// A round has completed with nothing left in flight since the
    /// connection opened.
    caught_up_once: bool,
}

/// What became of one received document: the digest held, or why not.
type DocResult = Result<[u8; 16], String>;

/// Why a document from a peer was refused, and the fork it proved, if any.
#[derive(Debug)]
struct Refused {
    reason: String,
    fork: Option<Box<Fork>>,
}

impl From<String> for Refused {
    fn from(reason: String) -> Refused {
        Refused { reason, fork: None }
    }
}

impl From<&str> for Refused {
    fn from(reason: &str) -> Refused {
        Refused { reason: reason.into(), fork: None }
    }
}

/// A document refused on this connection, for the driver to log and show:
/// `by_peer` when the peer refused what this node sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusalNote {
    pub id: [u8; 16],
    pub by_peer: bool,
    pub reason: String,
}

/// The node keys of the actors with changes beyond `since`.
fn actor_keys(doc: &Automerge, since: &[ChangeHash]) -> Vec<[u8; 32]> {
    let mut keys: Vec<[u8; 32]> = latest_changes(doc, since).into_iter().filter_map(|(a, _)| node_key_of(&a)).collect();
    keys.sort_unstable();
    keys.dedup();
    keys
}

fn storage<E: std::fmt::Display>(e: E) -> SessionError {
    SessionError::Storage(e.to_string())
}

fn reason(text: String) -> String {
    text.chars().take(REASON_CHARS_MAX).collect()
}

/// Each actor (node key) of a document and the hash of its latest change:
/// whose certificates and which signatures go with the whole document.
pub fn latest_by_node(doc: &Automerge) -> Vec<([u8; 32], [u8; 32])> {
    latest_changes(doc, &[]).into_iter().filter_map(|(actor, hash)| Some((node_key_of(&actor)?, hash.0))).collect()
}

/// The digest of a document's heads, as reconciliation items carry it.
pub fn digest_of(doc: &Automerge) -> [u8; 16] {
    digest_of_heads(&doc.get_heads())
}

fn digest_of_heads(heads: &[ChangeHash]) -> [u8; 16] {
    heads_digest(&heads.iter().map(|h| h.0).collect::<Vec<_>>())
}

impl Session {
    /// A session on a connection whose far end the transport authenticated
    /// as `remote_key`. `dialer` is the side that opened the connection.
    pub fn new(local: Local, remote_key: [u8; 32], dialer: bool) -> Session {
        let mut certificates_shared = HashSet::new();
        certificates_shared.insert(local.key);
        certificates_shared.insert(remote_key);
        Session {
            local,
            remote_key,
            dialer,
            phase: Phase::Handshake,
            outbox: VecDeque::new(),
            held: VecDeque::new(),
            round: 0,
            round_wanted: false,
            queue: VecDeque::new(),
            replies: VecDeque::new(),
            in_flight: HashMap::new(),
            in_flight_count: 0,
            certificates_shared,
            states: HashMap::new(),
            refused: HashMap::new(),
            acknowledged: HashMap::new(),
            progress: Progress::default(),
            refusals: Vec::new(),
            forks: Vec::new(),
            caught_up_once: false,
        }
    }

    /// The first message: this node's [`Hello`].
    pub fn start<R: Replica>(&mut self, replica: &R) {
        let revocations_sequence = replica.with_trust(|t| t.revocations().1);
        self.send(Message::Hello(Hello {
            version: PROTOCOL_VERSION,
            certificate: self.local.certificate.clone(),
            revocations_sequence,
        }));
    }

    /// Messages to send, in order: those not held back for a commit.
    pub fn take_outgoing(&mut self) -> Vec<Message> {
        self.outbox.drain(..).collect()
    }

    fn send(&mut self, m: Message) {
        match self.held.back_mut() {
            Some(h) => h.messages.push(m),
            None => self.outbox.push_back(m),
        }
    }

    /// The commits whose completion the session waits for before it
    /// sends more, in the order they started. The driver reports each
    /// with [`Session::committed`] or [`Session::commit_failed`].
    pub fn awaiting_commits(&self) -> Vec<CommitId> {
        self.held.iter().filter(|h| !h.done).map(|h| h.commit).collect()
    }

    /// Messages held back until commits are durable.
    pub fn held_back(&self) -> usize {
        self.held.iter().map(|h| h.messages.len()).sum()
    }

    /// A commit is durable: what waited on it (and on no commit still
    /// running before it) is free to go. A commit this session does not
    /// wait on (another session's, on a shared replica) changes nothing.
    pub fn committed(&mut self, id: CommitId) {
        if let Some(h) = self.held.iter_mut().find(|h| h.commit == id) {
            h.done = true;
        }
        while self.held.front().is_some_and(|h| h.done) {
            let h = self.held.pop_front().expect("checked");
            self.outbox.extend(h.messages);
        }
    }

    /// A commit failed: nothing it stored is, so nothing held back for it
    /// may go (the peer sends those documents again on another
    /// connection). Ends the session, unless the session does not wait on
    /// it.
    pub fn commit_failed(&mut self, id: CommitId, why: String) -> Result<(), SessionError> {
        if !self.held.iter().any(|h| h.commit == id) {
            return Ok(());
        }
        self.held.clear();
        Err(SessionError::CommitFailed(why))
    }

    /// The peer, once admitted.
    pub fn peer(&self) -> Option<&Peer> {
        self.phase.peer()
    }

    pub fn progress(&self) -> &Progress {
        &self.progress
    }

    /// Documents refused (by either side) since the last call, at most
    /// [`REFUSAL_NOTES_MAX`] kept between calls.
    pub fn take_refusals(&mut self) -> Vec<RefusalNote> {
        std::mem::take(&mut self.refusals)
    }

    /// Forks proven since the last call: the actor is quarantined in the
    /// dossier in this node's trust already; the driver keeps and shows it.
    pub fn take_forks(&mut self) -> Vec<([u8; 16], Fork)> {
        std::mem::take(&mut self.forks)
    }

    fn note_refusal(&mut self, id: [u8; 16], by_peer: bool, reason: &str) {
        if self.refusals.len() < REFUSAL_NOTES_MAX {
            self.refusals.push(RefusalNote { id, by_peer, reason: reason.to_string() });
        }
    }

    /// What must hold between calls, or what does not. The simulator
    /// checks it after every event on every session.
    pub fn check_invariants(&self) -> Result<(), String> {
        let in_flight: usize = self.in_flight.values().map(VecDeque::len).sum();
        if in_flight != self.in_flight_count {
            return Err(format!("{} documents counted in flight, {in_flight} listed", self.in_flight_count));
        }
        if self.in_flight.values().any(VecDeque::is_empty) {
            return Err("a document listed in flight with nothing sent".into());
        }
        if self.in_flight_count > DOCS_IN_FLIGHT_MAX {
            return Err(format!(
                "{} documents in flight, over the window of {DOCS_IN_FLIGHT_MAX}",
                self.in_flight_count
            ));
        }
        if self.replies.len() > REPLIES_PENDING_MAX {
            return Err(format!("{} replies pending, over {REPLIES_PENDING_MAX}", self.replies.len()));
        }
        if self.refusals.len() > REFUSAL_NOTES_MAX {
            return Err(format!("{} refusal notes kept, over {REFUSAL_NOTES_MAX}", self.refusals.len()));
        }
        match &self.phase {
            Phase::Handshake => {
                let busy = self.round != 0
                    || self.round_wanted
                    || !self.queue.is_empty()
                    || !self.replies.is_empty()
                    || self.in_flight_count > 0
                    || !self.held.is_empty();
                if busy {
                    return Err("documents, rounds or commits before the peer is admitted".into());
                }
            }
            Phase::AwaitingReady { .. } if !self.dialer => {
                return Err("the accepting side waits for its own Changed".into());
            }
            Phase::Round { .. } if self.round == 0 => return Err("a round in progress numbered 0".into()),
            Phase::Round { .. } if self.dialer && !self.queue.is_empty() => {
                return Err("the dialer is in a round with documents still queued from the last".into());
            }
            Phase::Between { asked: true, .. } if self.dialer => {
                return Err("the dialing side asked for a round".into());
            }
            _ => {}
        }
        // Held messages wait on a commit not yet durable: the first group
        // goes as soon as its commit is.
        if self.held.front().is_some_and(|h| h.done) {
            return Err("messages held back for a commit already durable".into());
        }
        let commits: HashSet<CommitId> = self.held.iter().map(|h| h.commit).collect();
        if commits.len() != self.held.len() {
            return Err("one commit awaited twice".into());
        }
        Ok(())
    }

    /// Documents this side still has to send or see acknowledged.
    pub fn docs_pending(&self) -> usize {
        self.queue.len() + self.replies.len() + self.in_flight_count
    }

    /// Nothing is being reconciled, sent or awaited on this side.
    pub fn is_idle(&self) -> bool {
        matches!(self.phase, Phase::AwaitingReady { .. } | Phase::Between { .. })
            && self.queue.is_empty()
            && self.replies.is_empty()
            && self.in_flight_count == 0
    }

    /// Whether a round has completed with nothing left in flight since
    /// the connection opened.
    pub fn caught_up_once(&self) -> bool {
        self.caught_up_once
    }

    /// This node has new changes the peer may want.
    pub fn local_changed<R: Replica>(&mut self, replica: &mut R) -> Result<(), SessionError> {
        if self.peer().is_none() {
            return Ok(());
        }
        // Nothing more goes to a peer revoked since it connected.
        self.peer_still_trusted(replica)?;
        self.round_wanted = true;
        self.next_round(replica)
    }

    fn peer_still_trusted<R: Replica>(&self, replica: &R) -> Result<(), SessionError> {
        let key = self.remote_key;
        replica.with_trust_shared(|t| t.node(&key).map(|_| ())).map_err(SessionError::Refused)
    }

    /// Handles one message from the peer.
    pub fn handle<R: Replica>(&mut self, replica: &mut R, message: Message, now_ms: i64) -> Result<(), SessionError> {
        // A peer revoked while connected (a newer list came from another
        // peer or the administrator) is refused from its next message on.
        if self.peer().is_some() && !matches!(message, Message::Refused(_)) {
            self.peer_still_trusted(replica)?;
        }
        match (message, self.peer().is_some()) {
            (Message::Refused(why), _) => Err(SessionError::PeerClosed(reason(why))),
            (Message::Hello(hello), false) => self.hello(replica, hello, now_ms),
            (Message::Hello(_), true) => Err(SessionError::Protocol("a second hello".into())),
            (_, false) => Err(SessionError::Protocol("a message before the hello".into())),
            (Message::Revocations(json), true) => self.revocations(replica, &json),
            (Message::Certificates(certs), true) => self.certificates(replica, certs),
            (Message::Reconcile { round, message }, true) => self.reconcile(replica, round, message),
            (Message::Changed, true) => {
                if !self.dialer {
                    return Err(SessionError::Protocol("only the accepting side asks for rounds".into()));
                }
                self.round_wanted = true;
                if let Phase::AwaitingReady { peer } = &self.phase {
                    self.phase = Phase::Between { peer: peer.clone(), checkpoint_due: false, asked: false };
                }
                self.next_round(replica)
            }
            (Message::Docs(batch), true) => self.docs(replica, &batch),
            (Message::Applied(applied), true) => self.applied(replica, applied),
        }
    }

    fn hello<R: Replica>(&mut self, replica: &mut R, hello: Hello, now_ms: i64) -> Result<(), SessionError> {
        if hello.version != PROTOCOL_VERSION {
            return Err(SessionError::Version(hello.version));
        }
        let signed: SignedCertificate = serde_json::from_slice(&hello.certificate)
            .map_err(|e| SessionError::MalformedCertificate(e.to_string()))?;
        let key = replica.with_trust(|t| t.admit(&signed, Some(now_ms))).map_err(SessionError::Refused)?;
        if key != self.remote_key {
            return Err(SessionError::KeyMismatch {
                presented: hex::encode(key),
                actual: hex::encode(self.remote_key),
            });
        }
        let c = &signed.certificate;
        let peer = Peer { key, unit: c.unit.clone(), role: c.role };
        // Rounds wait until the accepting side has sent its own catch-up:
        // it says so with `Changed`.
        self.phase = if self.dialer {
            Phase::AwaitingReady { peer }
        } else {
            Phase::Between { peer, checkpoint_due: false, asked: false }
        };
        // Kept, and passed on, in the form this node writes: whatever a
        // peer added to the JSON goes no further.
        if replica.with_trust_shared(|t| t.holds(&signed)) {
            replica.store_certificates(vec![(key, canonical(&signed))]).map_err(storage)?;
        }
        let mine = replica.with_trust(|t| t.revocations().1);
        if hello.revocations_sequence < mine
            && let Some(json) = replica.revocations().map_err(storage)?
        {
            self.send(Message::Revocations(json));
        }
        // What changed here since the peer's checkpoint goes first, without
        // a reconciliation: a catch-up after an outage costs what changed.
        let checkpoint = replica.checkpoint(&key).map_err(storage)?;
        if checkpoint > 0 {
            let peer = self.admitted_peer();
            let mut pending = Vec::new();
            for o in replica.changed_since(&peer, checkpoint).map_err(storage)? {
                // A delta only where the peer acknowledged the heads it
                // builds on; otherwise the whole document.
                let shared = self.stored_state(replica, &o.item.id)?.shared_heads;
                let shared_digest = heads_digest(&shared.iter().map(|h| h.0).collect::<Vec<_>>());
                if !shared.is_empty() && shared_digest == o.item.digest {
                    // The peer holds this very version (it came from there,
                    // or the peer acknowledged it).
                    continue;
                }
                pending.push((o, !shared.is_empty()));
            }
            pending.sort_by_key(|(o, _)| (o.due_at.unwrap_or(i64::MAX), o.item.id));
            self.queue.extend(pending.into_iter().map(|(o, held)| (o.item, held)));
        }
        self.round_wanted = true;
        self.pump(replica)?;
        self.next_round(replica)
    }

    fn revocations<R: Replica>(&mut self, replica: &mut R, json: &[u8]) -> Result<(), SessionError> {
        let signed: SignedProvinceDocument =
            serde_json::from_slice(json).map_err(|e| SessionError::BadRevocations(e.to_string()))?;
        match replica.with_trust(|t| t.set_revocations(&signed)) {
            Ok(sequence) => replica.store_revocations(json, sequence).map_err(storage)?,
            Err(Rejection::StaleRevocations { .. }) => {}
            Err(e) => return Err(SessionError::BadRevocations(e.to_string())),
        }
        // The newer list may revoke the peer itself.
        replica.with_trust(|t| t.node(&self.remote_key).map(|_| ())).map_err(SessionError::Refused)
    }

    fn certificates<R: Replica>(&mut self, replica: &mut R, certs: Vec<Vec<u8>>) -> Result<(), SessionError> {
        let mut admitted = Vec::new();
        for json in certs {
            let signed: SignedCertificate =
                serde_json::from_slice(&json).map_err(|e| SessionError::MalformedCertificate(e.to_string()))?;
            // Expired certificates still vouch for what their nodes recorded
            // while serving; forged or revoked ones are dropped, and the
            // documents they would vouch for are refused one by one.
            if let Ok(key) = replica.with_trust(|t| t.admit(&signed, None)) {
                self.certificates_shared.insert(key);
                // Only the newest certificate of a node is kept.
                if replica.with_trust_shared(|t| t.holds(&signed)) {
                    admitted.push((key, canonical(&signed)));
                }
            }
        }
        replica.store_certificates(admitted).map_err(storage)
    }

    /// Starts a round when one is wanted and this side is free: the
    /// dialer starts it, the acceptor asks with `Changed`.
    fn next_round<R: Replica>(&mut self, replica: &mut R) -> Result<(), SessionError> {
        if !self.round_wanted || !self.queue.is_empty() || self.in_flight_count > 0 {
            return Ok(());
        }
        let Phase::Between { peer, asked, .. } = &mut self.phase else { return Ok(()) };
        if !self.dialer {
            if !*asked {
                *asked = true;
                self.round_wanted = false;
                self.send(Message::Changed);
            }
            return Ok(());
        }
        let peer = peer.clone();
        self.round_wanted = false;
        self.round += 1;
        let offers = replica.offers(&peer).map_err(storage)?;
        let reconciler = Reconciler::new(item_set(&offers));
        self.send(Message::Reconcile { round: self.round, message: reconciler.initiate() });
        self.phase = Phase::Round { peer, reconciler, offers };
        Ok(())
    }

    /// The peer; only called once it is admitted.
    fn admitted_peer(&self) -> Peer {
        self.peer().expect("admitted").clone()
    }

    fn reconcile<R: Replica>(
        &mut self,
        replica: &mut R,
        round: u32,
        message: crate::reconcile::RangeMessage,
    ) -> Result<(), SessionError> {
        if !self.dialer && round != self.round {
            // The dialer opened a new round.
            if round < self.round {
                return Err(SessionError::Protocol(format!("round {round} after round {}", self.round)));
            }
            // Each round costs this side a scan of its offers: one at a
            // time, in order, each once the one before has ended.
            let going = matches!(self.phase, Phase::Round { .. });
            if round != self.round + 1 || going {
                return Err(SessionError::Protocol(format!(
                    "round {round} opened while round {} {}",
                    self.round,
                    if going { "is still going" } else { "was the last" }
                )));
            }
            let peer = self.admitted_peer();
            let offers = replica.offers(&peer).map_err(storage)?;
            self.round = round;
            self.phase = Phase::Round { peer, reconciler: Reconciler::new(item_set(&offers)), offers };
        }
        if round != self.round {
            return Err(SessionError::Protocol(format!("message of round {round} during round {}", self.round)));
        }
        let Phase::Round { reconciler, .. } = &mut self.phase else {
            return Err(SessionError::Protocol(format!("round {round} is over")));
        };
        let reply = reconciler.receive(&message).map_err(|e| SessionError::Protocol(e.to_string()))?;
        let done = match reply {
            None => true,
            Some(reply) => {
                let last = reply.is_final();
                self.send(Message::Reconcile { round, message: reply });
                last
            }
        };
        if done {
            self.round_done(replica)?;
        }
        Ok(())
    }

    fn round_done<R: Replica>(&mut self, replica: &mut R) -> Result<(), SessionError> {
        let Phase::Round { peer, reconciler, offers } = std::mem::replace(&mut self.phase, Phase::Handshake) else {
            unreachable!("a round in progress")
        };
        self.phase = Phase::Between { peer: peer.clone(), checkpoint_due: true, asked: false };
        self.progress.rounds += 1;
        let due: HashMap<[u8; 16], Option<i64>> = offers.iter().map(|o| (o.item.id, o.due_at)).collect();
        let have: Vec<(Item, bool)> = reconciler.have_with_peer_version().map(|(it, held)| (*it, held)).collect();
        if !self.caught_up_once {
            // Everything the peer did not lack, it holds as this node does
            // (perhaps reached by another path).
            let lacking: HashSet<[u8; 16]> = have.iter().map(|(it, _)| it.id).collect();
            let held = offers.iter().filter(|o| !lacking.contains(&o.item.id)).map(|o| (o.item.id, o.item.digest));
            replica.peer_holds(&peer, held.collect()).map_err(storage)?;
        }
        // Nearest legal deadline first; dossiers without one (closed or
        // paused) after; then by id, so the order is the same every time.
        // What is already queued goes at its latest version anyway, and what
        // is in flight at this very version, or was acknowledged at it since
        // the round began, needs no second copy (a round the dialer started
        // while documents were still arriving).
        let queued: HashSet<[u8; 16]> = self.queue.iter().map(|(it, _)| it.id).collect();
        let mut have: Vec<(Item, bool)> = have
            .into_iter()
            .filter(|(it, _)| {
                !queued.contains(&it.id)
                    && self.in_flight.get(&it.id).and_then(|q| q.back()).is_none_or(|s| s.digest != it.digest)
                    && self.acknowledged.get(&it.id) != Some(&it.digest)
            })
            .collect();
        have.sort_by_key(|(it, _)| (due.get(&it.id).copied().flatten().unwrap_or(i64::MAX), it.id));
        self.queue.extend(have);
        self.pump(replica)?;
        self.settle(replica)
    }

    /// After progress: once nothing is left to do, the peer is caught up,
    /// and a round wanted meanwhile starts.
    fn settle<R: Replica>(&mut self, replica: &mut R) -> Result<(), SessionError> {
        if self.queue.is_empty() && self.in_flight_count == 0 && !matches!(self.phase, Phase::Round { .. }) {
            if let Phase::Between { checkpoint_due, .. } = &mut self.phase
                && std::mem::take(checkpoint_due)
            {
                // The round compared everything; what it found is
                // acknowledged; what changed since came from this peer or
                // starts a round of its own (and, if the link drops first,
                // the next connection's round finds it). The next
                // connection's catch-up starts here.
                let position = replica.log_position().map_err(storage)?;
                replica.set_checkpoint(&self.remote_key, position).map_err(storage)?;
                self.caught_up_once = true;
            }
            self.next_round(replica)?;
        }
        Ok(())
    }

    fn mark_sent(&mut self, id: [u8; 16], sent: Sent) {
        self.in_flight.entry(id).or_default().push_back(sent);
        self.in_flight_count += 1;
        self.progress.docs_sent += 1;
    }

    fn acknowledge(&mut self, id: &[u8; 16]) -> Option<Sent> {
        let q = self.in_flight.get_mut(id)?;
        let digest = q.pop_front()?;
        if q.is_empty() {
            self.in_flight.remove(id);
        }
        self.in_flight_count -= 1;
        Some(digest)
    }

    /// Sends queued documents while the window allows.
    fn pump<R: Replica>(&mut self, replica: &mut R) -> Result<(), SessionError> {
        let peer_key = self.remote_key;
        let mut batch = BatchBuilder::default();
        let mut certificates = Vec::new();
        let mut states = Vec::new();
        // What the window lets go now is read together; the deltas for the
        // documents the peer holds at another version are made by the
        // driver's [`Replica::run_parallel`].
        let room = DOCS_IN_FLIGHT_MAX.saturating_sub(self.in_flight_count);
        let next: Vec<(Item, bool)> = self.queue.iter().take(room).copied().collect();
        let ids: Vec<[u8; 16]> = next.iter().map(|(it, _)| it.id).collect();
        let mut wholes: HashMap<[u8; 16], Whole> = HashMap::new();
        let mut jobs = Vec::new();
        for ((item, held), w) in next.into_iter().zip(replica.wholes(&ids).map_err(storage)?) {
            match w {
                Some(w) if held && self.refused.get(&item.id) != Some(&w.digest) => {
                    jobs.push((item.id, w, self.live_state(replica, &item.id)?));
                }
                Some(w) if !held => {
                    wholes.insert(item.id, w);
                }
                _ => {}
            }
        }
        let mut deltas: HashMap<[u8; 16], Result<Delta, String>> =
            replica.run_parallel(jobs, |(id, w, state)| (id, delta(w, state))).into_iter().collect();
        while self.in_flight_count < DOCS_IN_FLIGHT_MAX
            && let Some((reply, digest)) = self.replies.pop_front()
        {
            self.mark_sent(reply.id, Sent { digest, heads: None, delta: false });
            if let Some(full) = batch.push(reply) {
                self.send_batch(&mut certificates, &full);
            }
        }
        while self.in_flight_count < DOCS_IN_FLIGHT_MAX
            && let Some((item, held)) = self.queue.pop_front()
        {
            let prepared = if held { deltas.remove(&item.id) } else { None };
            let (body, sent, signatures, actors) = if held {
                let d = match prepared {
                    Some(d) => d,
                    // Not read ahead (queued again meanwhile): read it now.
                    None => match replica.whole(&item.id).map_err(storage)? {
                        // The peer refused this very version; offered again
                        // once it changes.
                        Some(w) if self.refused.get(&item.id) != Some(&w.digest) => {
                            delta(w, self.live_state(replica, &item.id)?)
                        }
                        _ => continue,
                    },
                };
                let d = d.map_err(SessionError::Storage)?;
                if let Some(state) = d.state {
                    states.push((item.id, state.encode()));
                    self.states.insert(item.id, state);
                }
                let Some(body) = d.body else { continue };
                (body, d.sent, d.signatures, d.actors)
            } else {
                // Uncompressed: zstd over the whole batch finds what the
                // documents share, which per-column DEFLATE hides.
                let w = match wholes.remove(&item.id) {
                    Some(w) => w,
                    None => match replica.whole(&item.id).map_err(storage)? {
                        Some(w) => w,
                        None => continue,
                    },
                };
                if self.refused.get(&item.id) == Some(&w.digest) {
                    continue;
                }
                let heads = w.heads.iter().map(|h| ChangeHash(*h)).collect();
                (
                    DocBody::Whole(w.bytes),
                    Sent { digest: w.digest, heads: Some(heads), delta: false },
                    w.signatures,
                    w.actors,
                )
            };
            for key in actors {
                if self.certificates_shared.insert(key)
                    && let Some(json) = replica.certificate(&key).map_err(storage)?
                {
                    certificates.push(json);
                }
            }
            self.mark_sent(item.id, sent);
            if let Some(full) = batch.push(DocMessage { id: item.id, body, signatures }) {
                self.send_batch(&mut certificates, &full);
            }
        }
        if !batch.is_empty() {
            let rest = batch.take();
            self.send_batch(&mut certificates, &rest);
        }
        if !states.is_empty() {
            replica.save_sync_states(&peer_key, states).map_err(storage)?;
        }
        Ok(())
    }

    fn send_batch(&mut self, certificates: &mut Vec<Vec<u8>>, docs: &[DocMessage]) {
        // Certificates go in messages of about a megabyte, well inside a
        // frame whatever their number.
        let mut message = Vec::new();
        let mut bytes = 0;
        for c in std::mem::take(certificates) {
            if bytes + c.len() > CERTIFICATES_BYTES_TARGET && !message.is_empty() {
                self.send(Message::Certificates(std::mem::take(&mut message)));
                bytes = 0;
            }
            bytes += c.len();
            message.push(c);
        }
        if !message.is_empty() {
            self.send(Message::Certificates(message));
        }
        self.send(Message::Docs(encode_batch(docs)));
    }

    fn stored_state<R: Replica>(&self, replica: &mut R, id: &[u8; 16]) -> Result<SyncState, SessionError> {
        Ok(replica
            .sync_state(&self.remote_key, id)
            .map_err(storage)?
            .and_then(|b| SyncState::decode(&b).ok())
            .unwrap_or_default())
    }

    fn docs<R: Replica>(&mut self, replica: &mut R, batch: &[u8]) -> Result<(), SessionError> {
        let docs = decode_batch(batch)?;
        let peer = self.admitted_peer();
        // A whole document or changes, of a dossier that appears once in the
        // batch, is verified on its own ([`Replica::run_parallel`]). Automerge sync
        // messages (which use this connection's state) and repeats go one
        // at a time, in order.
        let mut count: HashMap<[u8; 16], usize> = HashMap::new();
        for d in &docs {
            *count.entry(d.id).or_default() += 1;
        }
        // Each slot: the dossier, and the message itself if it goes in order.
        let mut slots: Vec<([u8; 16], Option<DocMessage>)> = Vec::with_capacity(docs.len());
        let mut jobs = Vec::new();
        for d in docs {
            if !matches!(d.body, DocBody::Sync(_)) && count[&d.id] == 1 {
                slots.push((d.id, None));
                jobs.push(d);
            } else {
                slots.push((d.id, Some(d)));
            }
        }
        // Which documents this node holds without the peer taking part:
        // about those the peer is answered as about an id never seen.
        let hidden = self.hidden_from_peer(replica, &slots)?;
        let ids: Vec<[u8; 16]> = jobs.iter().map(|d| d.id).collect();
        let stored = replica.stored(&ids).map_err(storage)?;
        if stored.len() != ids.len() {
            return Err(SessionError::Storage("the store answered for another number of documents".into()));
        }
        let (local, keep, replica_ref) = (&self.local, replica.keeps_loaded(), &*replica);
        let prepared = replica_ref.with_trust_shared(|trust| {
            replica_ref.run_parallel(jobs.into_iter().zip(stored).collect(), |(d, base)| {
                let hidden = hidden.contains(&d.id);
                prepare_for(trust, local, &peer, d, base, keep, hidden)
            })
        });
        let mut prepared = prepared.into_iter();
        let mut working: HashMap<[u8; 16], Automerge> = HashMap::new();
        let mut touched: Vec<[u8; 16]> = Vec::new();
        let mut outcomes: Vec<([u8; 16], DocResult)> = Vec::new();
        let mut admitted: Vec<Admitted> = Vec::new();
        let mut replies = Vec::new();
        for (id, slot) in slots {
            self.progress.docs_received += 1;
            let result = match slot {
                None => prepared.next().expect("one result per job").map(|p| {
                    if let Some(heads) = p.shared_now {
                        self.share_heads(id, heads);
                    }
                    (p.digest, p.admission, None)
                }),
                Some(d) => self.admit_one(replica, d, &mut working, hidden.contains(&id)),
            };
            if !touched.contains(&id) {
                touched.push(id);
            }
            match result {
                Ok((digest, admission, reply)) => {
                    if let Some(mut a) = admission {
                        // A dossier again in the batch: one admission from
                        // the stored version, with every signature and
                        // allowance charge of the messages before.
                        if let Some(i) = admitted.iter().position(|x| x.id == id) {
                            let before = admitted.remove(i);
                            a.verified_from = before.verified_from;
                            a.gained = None;
                            a.signatures.extend(before.signatures);
                            a.charged.extend(before.charged);
                        }
                        admitted.push(a);
                    }
                    replies.extend(reply);
                    outcomes.push((id, Ok(digest)));
                }
                Err(Refused { reason, fork }) => {
                    self.progress.docs_refused_from_peer += 1;
                    self.progress.last_refusal = Some(reason.clone());
                    if let Some(fork) = fork {
                        // From now on nothing more of that actor is taken
                        // in this dossier, on any connection.
                        replica.with_trust(|t| t.quarantine(id, fork.node_key));
                        self.forks.push((id, *fork));
                    }
                    outcomes.push((id, Err(reason)));
                }
            }
        }
        // No state is kept for a document this node still does not hold
        // (a peer's sync message or changes about it left it empty): a
        // peer could otherwise grow the table with random ids.
        let empty = digest_of_heads(&[]);
        for (id, _) in outcomes.iter().filter(|(_, r)| r.as_ref().is_ok_and(|d| *d == empty)) {
            self.states.remove(id);
        }
        let states: Vec<([u8; 16], Vec<u8>)> =
            touched.iter().filter_map(|id| self.states.get(id).map(|s| (*id, s.encode()))).collect();
        let ids: Vec<[u8; 16]> = admitted.iter().map(|a| a.id).collect();
        let stored = replica.apply(&peer, admitted, states).map_err(storage)?;
        if stored.results.len() != ids.len() {
            return Err(SessionError::Storage("the store answered for another number of documents".into()));
        }
        // From the acknowledgement on, everything waits for the commit (a
        // commit already awaited last, the replica's newest in flight,
        // is awaited once).
        if let Some(commit) = stored.commit
            && self.held.back().is_none_or(|h| h.commit != commit)
        {
            self.held.push_back(Held { commit, done: false, messages: Vec::new() });
        }
        for (id, result) in ids.iter().zip(stored.results) {
            if let Err(why) = result {
                for o in outcomes.iter_mut().filter(|o| &o.0 == id) {
                    o.1 = Err(why.clone());
                }
                replies.retain(|r: &DocMessage| &r.id != id);
            }
        }
        for (id, r) in &outcomes {
            if let Err(why) = r {
                self.note_refusal(*id, false, why);
            }
        }
        let applied = outcomes
            .into_iter()
            .map(|(id, r)| Applied {
                id,
                verdict: match r {
                    Ok(digest) => Verdict::Holds(digest),
                    Err(why) => Verdict::Refused(reason(why)),
                },
            })
            .collect();
        self.send(Message::Applied(applied));
        // Replies take the window like any document this node sends: a
        // peer that acknowledges none of them cannot make this node queue
        // answers without bound.
        for r in replies {
            let digest = working.get(&r.id).map(digest_of).unwrap_or_else(|| digest_of_heads(&[]));
            if self.replies.len() >= REPLIES_PENDING_MAX {
                return Err(SessionError::Protocol(format!(
                    "the peer left {REPLIES_PENDING_MAX} answers to its sync messages unacknowledged"
                )));
            }
            self.replies.push_back((r, digest));
        }
        self.pump(replica)?;
        Ok(())
    }

    /// The documents of a batch that this node holds and the peer's unit
    /// has no part in ([`routing::holds`]). Nothing about them may reach
    /// the peer, not even that they exist: the peer is answered as if this
    /// node had never seen them, unless what it sends verifies and makes
    /// its unit a participant (a transfer this node had not yet seen).
    fn hidden_from_peer<R: Replica>(
        &self,
        replica: &mut R,
        slots: &[([u8; 16], Option<DocMessage>)],
    ) -> Result<HashSet<[u8; 16]>, SessionError> {
        let peer = self.peer().expect("admitted");
        if peer.role == NodeRole::Province {
            return Ok(HashSet::new());
        }
        let mut ids: Vec<[u8; 16]> = slots.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        let units = replica.participants(&ids).map_err(storage)?;
        if units.len() != ids.len() {
            return Err(SessionError::Storage("the store answered for another number of documents".into()));
        }
        Ok(ids
            .into_iter()
            .zip(units)
            .filter(|(_, u)| u.as_ref().is_some_and(|u| !routing::holds(peer.role, &peer.unit, u)))
            .map(|(id, _)| id)
            .collect())
    }

    /// Both sides hold these heads of a document now.
    fn share_heads(&mut self, id: [u8; 16], heads: Vec<ChangeHash>) {
        let mut s = self.states.remove(&id).unwrap_or_default();
        s.shared_heads = heads;
        self.states.insert(id, s);
    }

    /// Verifies one incoming document that uses this connection's state
    /// (an Automerge sync message) or repeats in its batch, against what
    /// this node holds and what the batch brought before it. Returns the
    /// digest of the heads after it, what to store (if anything is new)
    /// and the sync reply (if any).
    #[allow(clippy::type_complexity)]
    fn admit_one<R: Replica>(
        &mut self,
        replica: &mut R,
        d: DocMessage,
        working: &mut HashMap<[u8; 16], Automerge>,
        hidden: bool,
    ) -> Result<([u8; 16], Option<Admitted>, Option<DocMessage>), Refused> {
        if hidden {
            return self.admit_hidden(replica, d);
        }
        let id = d.id;
        let base = match working.get(&id) {
            Some(doc) => doc.clone(),
            None => replica.load(&id).map_err(|e| format!("storage: {e}"))?.unwrap_or_default(),
        };
        let known = base.get_heads();
        let mut next = base;
        // The live state is changed only once the document is admitted.
        let mut state = match &d.body {
            DocBody::Sync(_) => Some(self.live_state(replica, &id).map_err(|e| e.to_string())?),
            DocBody::Whole(_) | DocBody::Changes(_) => None,
        };
        // A whole document received: both sides hold its heads.
        let mut shared_now = None;
        match &d.body {
            DocBody::Whole(bytes) | DocBody::Changes(bytes) => {
                let whole = matches!(d.body, DocBody::Whole(_));
                (next, shared_now) = apply_body(std::mem::take(&mut next), bytes, whole, &d.signatures)?;
            }
            DocBody::Sync(bytes) => {
                let m = SyncMessage::decode(bytes).map_err(|e| format!("not a readable sync message: {e}"))?;
                crate::guard::check_sync_message(&m)?;
                crate::guard::check_inflated_sizes(m.changes.iter())?;
                let incoming: Vec<Vec<u8>> = m.changes.iter().map(<[u8]>::to_vec).collect();
                if let Err(e) = next.receive_sync_message(state.as_mut().expect("sync state"), m) {
                    let changes: Vec<_> = incoming.iter().flat_map(|c| fork::changes_in(c)).collect();
                    return Err(refusal(&next, e, &changes, &d.signatures));
                }
            }
        }
        let heads = next.get_heads();
        let mut admission = None;
        if heads != known {
            let verified =
                replica.with_trust_shared(|t| verify_incoming(t, &self.local, &id, &next, &known, &d.signatures))?;
            let gained = gained_since(&next, &known);
            admission =
                Some(admitted(id, next.clone(), &known, &heads, None, verified, replica.keeps_loaded(), gained));
        }
        let digest = digest_of_heads(&heads);
        // Once the peer has refused this very version, the conversation
        // about it ends here: replying would only repeat it.
        let refused = self.refused.get(&id) == Some(&digest);
        let reply = match state {
            Some(_) if refused => None,
            Some(mut s) => {
                let reply = next.generate_sync_message(&mut s).map(|m| {
                    let signatures =
                        if m.changes.is_empty() { Vec::new() } else { replica.signatures(&next).unwrap_or_default() };
                    DocMessage { id, body: DocBody::Sync(m.encode()), signatures }
                });
                self.states.insert(id, s);
                reply
            }
            None => None,
        };
        if let Some(heads) = shared_now {
            self.share_heads(id, heads);
        }
        working.insert(id, next);
        Ok((digest, admission, reply))
    }

    /// A document this node holds and the peer has no part in: what it
    /// sends is judged against the document, and admitted if it verifies
    /// and makes the peer's unit a participant; otherwise the peer gets
    /// exactly the answer a document this node never saw would get
    /// (judged against an empty document, with a fresh sync state), and
    /// nothing is stored or remembered.
    #[allow(clippy::type_complexity)]
    fn admit_hidden<R: Replica>(
        &mut self,
        replica: &mut R,
        d: DocMessage,
    ) -> Result<([u8; 16], Option<Admitted>, Option<DocMessage>), Refused> {
        let peer = self.admitted_peer();
        let id = d.id;
        if !matches!(d.body, DocBody::Sync(_)) {
            let base = replica.stored(&[id]).map_err(|e| format!("storage: {e}"))?.pop().flatten();
            let (local, keep) = (&self.local, replica.keeps_loaded());
            let p = replica.with_trust_shared(|t| prepare_for(t, local, &peer, d, base, keep, true))?;
            return Ok((p.digest, p.admission, None));
        }
        let DocBody::Sync(bytes) = &d.body else { unreachable!("checked above") };
        let m = SyncMessage::decode(bytes).map_err(|e| format!("not a readable sync message: {e}"))?;
        crate::guard::check_sync_message(&m)?;
        crate::guard::check_inflated_sizes(m.changes.iter())?;
        let mut next = Automerge::new();
        let mut state = SyncState::new();
        let incoming: Vec<Vec<u8>> = m.changes.iter().map(<[u8]>::to_vec).collect();
        if let Err(e) = next.receive_sync_message(&mut state, m) {
            // As for an id never seen: an empty document proves no fork.
            let changes: Vec<_> = incoming.iter().flat_map(|c| fork::changes_in(c)).collect();
            return Err(refusal(&next, e, &changes, &d.signatures));
        }
        let heads = next.get_heads();
        if !heads.is_empty() {
            replica.with_trust_shared(|t| verify_incoming(t, &self.local, &id, &next, &[], &d.signatures))?;
        }
        let digest = digest_of_heads(&heads);
        let reply = next.generate_sync_message(&mut state).map(|m| {
            let signatures =
                if m.changes.is_empty() { Vec::new() } else { replica.signatures(&next).unwrap_or_default() };
            DocMessage { id, body: DocBody::Sync(m.encode()), signatures }
        });
        Ok((digest, None, reply))
    }

    /// The sync state of a document with this peer: the live one, or the
    /// one persisted by an earlier connection.
    fn live_state<R: Replica>(&mut self, replica: &mut R, id: &[u8; 16]) -> Result<SyncState, SessionError> {
        if let Some(s) = self.states.get(id) {
            return Ok(s.clone());
        }
        self.stored_state(replica, id)
    }

    fn applied<R: Replica>(&mut self, replica: &mut R, applied: Vec<Applied>) -> Result<(), SessionError> {
        let peer = self.admitted_peer();
        let mut held = Vec::new();
        let mut shared = Vec::new();
        let nothing = digest_of_heads(&[]);
        for a in applied {
            let Some(sent) = self.acknowledge(&a.id) else {
                return Err(SessionError::Protocol("an acknowledgement of a document not sent".into()));
            };
            // An answer about a document this node does not hold (a peer's
            // sync message about an id never seen, or hidden from it): what
            // the peer says of it is nothing to keep, so that a peer cannot
            // grow this node's memory or store with made-up ids.
            if sent.digest == nothing {
                continue;
            }
            match a.verdict {
                Verdict::Holds(digest) if digest == sent.digest => {
                    held.push((a.id, digest));
                    self.acknowledged.insert(a.id, digest);
                    if let Some(heads) = sent.heads {
                        // Both hold exactly these heads now: the next change
                        // goes as a delta from them.
                        let mut state = self.states.remove(&a.id).unwrap_or_default();
                        state.shared_heads = heads;
                        shared.push((a.id, state.encode()));
                        self.states.insert(a.id, state);
                    }
                }
                // The peer lacked what a delta built on (a restored node),
                // or holds changes of its own: drop the shared heads, so the
                // next round uses Automerge's sync protocol.
                Verdict::Holds(_) if sent.delta => {
                    self.states.insert(a.id, SyncState::new());
                    shared.push((a.id, SyncState::new().encode()));
                    self.round_wanted = true;
                }
                // The peer holds changes this node lacks: Automerge's sync
                // replies (or the peer's next round) carry them.
                Verdict::Holds(_) => {}
                Verdict::Refused(why) => {
                    self.progress.docs_refused_by_peer += 1;
                    self.note_refusal(a.id, true, &why);
                    self.progress.last_refusal = Some(why);
                    self.refused.insert(a.id, sent.digest);
                }
            }
        }
        if !shared.is_empty() {
            replica.save_sync_states(&peer.key, shared).map_err(storage)?;
        }
        if !held.is_empty() {
            replica.peer_holds(&peer, held).map_err(storage)?;
        }
        self.pump(replica)?;
        self.settle(replica)
    }
}

/// A round's item set: what this node offers the peer.
fn item_set(offers: &[Offer]) -> ItemSet {
    ItemSet::new(offers.iter().map(|o| o.item).collect())
}

/// What to send of a document the peer holds at another version.
struct Delta {
    body: Option<DocBody>,
    sent: Sent,
    signatures: Vec<ChangeSignature>,
    actors: Vec<[u8; 32]>,
    /// The connection's sync state for it, when Automerge's sync protocol
    /// moved it.
    state: Option<SyncState>,
}

/// The changes since the heads the peer acknowledged, or else an
/// Automerge sync message from the connection's state.
fn delta(w: Whole, mut state: SyncState) -> Result<Delta, String> {
    let shared = state.shared_heads.clone();
    let shared_bytes: Vec<[u8; 32]> = shared.iter().map(|h| h.0).collect();
    if let Some(changes) = recent::since(&w.recent, &shared_bytes) {
        // The store kept the writes since: no load. The certificates of
        // every actor of the document go (once per connection), a few
        // more than the changes need.
        let heads = w.heads.iter().map(|h| ChangeHash(*h)).collect();
        return Ok(Delta {
            body: Some(DocBody::Changes(changes)),
            sent: Sent { digest: w.digest, heads: Some(heads), delta: true },
            signatures: w.signatures,
            actors: w.actors,
            state: None,
        });
    }
    let doc = Automerge::load(&w.bytes).map_err(|e| format!("a stored document does not load: {e}"))?;
    let actors = actor_keys(&doc, &shared);
    let signatures = w.signatures;
    if !shared.is_empty() && shared.iter().all(|h| doc.get_change_meta_by_hash(h).is_some()) {
        // The peer holds these heads (it acknowledged them): the changes
        // since are all it lacks of this node's.
        let heads = w.heads.iter().map(|h| ChangeHash(*h)).collect();
        let body = Some(DocBody::Changes(doc.save_after(&shared)));
        return Ok(Delta {
            body,
            sent: Sent { digest: w.digest, heads: Some(heads), delta: true },
            signatures,
            actors,
            state: None,
        });
    }
    let body = doc.generate_sync_message(&mut state).map(|m| DocBody::Sync(m.encode()));
    Ok(Delta {
        body,
        sent: Sent { digest: w.digest, heads: None, delta: false },
        signatures,
        actors,
        state: Some(state),
    })
}

/// Refusals kept for the driver between two of its calls.
pub const REFUSAL_NOTES_MAX: usize = 4096;

/// Most answers to a peer's sync messages waiting for room in the window.
/// An honest peer acknowledges what it receives in order, so its answers
/// never wait long; twice the window leaves room for a busy round.
pub const REPLIES_PENDING_MAX: usize = 2 * DOCS_IN_FLIGHT_MAX;

/// What verifying one document on its own gave.
struct Prepared {
    digest: [u8; 16],
    admission: Option<Admitted>,
    /// Heads both sides hold now (a whole document was received).
    shared_now: Option<Vec<ChangeHash>>,
}

/// Verifies a whole document or changes against the stored form of the
/// document (if this node holds it).
fn prepare(
    trust: &Trust,
    local: &Local,
    d: DocMessage,
    stored: Option<Vec<u8>>,
    keep: bool,
) -> Result<Prepared, Refused> {
    let DocMessage { id, body, signatures } = d;
    let base = match &stored {
        Some(bytes) => {
            Automerge::load(bytes).map_err(|e| format!("storage: the stored document does not load: {e}"))?
        }
        None => Automerge::new(),
    };
    let known = base.get_heads();
    let (next, received, shared_now) = match body {
        DocBody::Whole(bytes) => {
            let (next, shared_now) = apply_body(base, &bytes, true, &signatures)?;
            // A document new here is stored as it came.
            (next, known.is_empty().then_some(bytes), shared_now)
        }
        DocBody::Changes(bytes) => (apply_body(base, &bytes, false, &signatures)?.0, None, None),
        DocBody::Sync(_) => return Err("an Automerge sync message needs the connection's state".into()),
    };
    let heads = next.get_heads();
    let digest = digest_of_heads(&heads);
    let admission = if heads != known {
        let verified = verify_incoming(trust, local, &id, &next, &known, &signatures)?;
        let gained = gained_since(&next, &known);
        Some(admitted(id, next, &known, &heads, received, verified, keep, gained))
    } else {
        None
    };
    Ok(Prepared { digest, admission, shared_now })
}

/// [`prepare`], for a document `hidden` from the peer (held here, the
/// peer's unit no participant): admitted only if the result verifies and
/// names the peer's unit; otherwise answered as a document never seen
/// here would be, and nothing is stored.
fn prepare_for(
    trust: &Trust,
    local: &Local,
    peer: &Peer,
    d: DocMessage,
    stored: Option<Vec<u8>>,
    keep: bool,
    hidden: bool,
) -> Result<Prepared, Refused> {
    if !hidden {
        return prepare(trust, local, d, stored, keep);
    }
    let unseen = d.clone();
    if let Ok(p) = prepare(trust, local, d, stored, keep)
        && p.admission
            .as_ref()
            .is_some_and(|a| routing::holds(peer.role, &peer.unit, routing::units_of(&a.record.participants)))
    {
        return Ok(p);
    }
    let p = prepare(trust, local, unseen, None, keep)?;
    Ok(Prepared { digest: p.digest, admission: None, shared_now: None })
}

/// A verified document as it is to be stored; `bytes` is its saved form
/// if the caller has it.
#[allow(clippy::too_many_arguments)]
fn admitted(
    id: [u8; 16],
    doc: Automerge,
    known: &[ChangeHash],
    heads: &[ChangeHash],
    bytes: Option<Vec<u8>>,
    verified: Verified,
    keep: bool,
    gained: Option<Vec<u8>>,
) -> Admitted {
    let Verified { record, signatures, charged } = verified;
    let heads: Vec<[u8; 32]> = heads.iter().map(|h| h.0).collect();
    let latest = latest_by_node(&doc);
    Admitted {
        id,
        verified_from: known.iter().map(|h| h.0).collect(),
        bytes: bytes.unwrap_or_else(|| doc.save_nocompress()),
        digest: heads_digest(&heads),
        heads,
        latest,
        doc: keep.then_some(doc),
        record,
        signatures,
        gained,
        charged,
    }
}

/// What an admitted document gained beyond the version held, as a recent
/// write ([`crate::recent`]). Cut from the document rather than kept as
/// the bytes that came: those may hold changes still waiting for their
/// dependencies, or end in a chunk Automerge skipped, and a recent write
/// must hold exactly what this node applied and checked.
fn gained_since(doc: &Automerge, known: &[ChangeHash]) -> Option<Vec<u8>> {
    (!known.is_empty()).then(|| doc.save_after(known))
}

/// Applies a whole document (`whole`) or changes from a peer to `base`,
/// the version this node holds (empty if none), once the guard passed the
/// bytes. Returns the result and, for a whole document, the heads both
/// sides hold now. Changes whose dependencies this node lacks stay out of
/// the heads; the acknowledgement then tells the sender.
fn apply_body(
    mut base: Automerge,
    bytes: &[u8],
    whole: bool,
    signatures: &[ChangeSignature],
) -> Result<(Automerge, Option<Vec<ChangeHash>>), Refused> {
    crate::guard::check_inflated_size(bytes)?;
    if !whole {
        if let Err(e) = base.load_incremental(bytes) {
            return Err(refusal(&base, e, &fork::changes_in(bytes), signatures));
        }
        return Ok((base, None));
    }
    let mut incoming = Automerge::load(bytes).map_err(|e| format!("not a readable document: {e}"))?;
    let heads = incoming.get_heads();
    if heads.is_empty() {
        return Err(EMPTY_WHOLE.into());
    }
    if base.get_heads().is_empty() {
        return Ok((incoming, Some(heads)));
    }
    if let Err(e) = base.merge(&mut incoming) {
        let changes = incoming.get_changes(&[]);
        return Err(refusal(&base, e, &changes, signatures));
    }
    Ok((base, Some(heads)))
}

/// Why Automerge refused a peer's changes to `base`: a proven fork when
/// an actor's sequence number came again with a signed other change.
fn refusal(
    base: &Automerge,
    e: automerge::AutomergeError,
    incoming: &[automerge::Change],
    signatures: &[ChangeSignature],
) -> Refused {
    if matches!(e, automerge::AutomergeError::DuplicateSeqNumber(..))
        && let Some(fork) = fork::prove(base, incoming, signatures)
    {
        return Refused { reason: fork.to_string(), fork: Some(Box::new(fork)) };
    }
    Refused { reason: format!("unreadable changes: {e}"), fork: None }
}

/// Why an empty whole document is refused: no node holds one, and each
/// would leave per-peer state behind (empty documents under random ids
/// would grow it without bound).
const EMPTY_WHOLE: &str = "an empty document (a dossier has at least its creation)";

/// A certificate as this node writes it (what a peer sent may carry
/// fields this version does not know, which the signature does not cover).
fn canonical(signed: &SignedCertificate) -> Vec<u8> {
    serde_json::to_vec(signed).expect("a certificate serializes")
}

/// An admitted dossier and the signatures to keep with it.
struct Verified {
    record: DossierRecord,
    signatures: Vec<([u8; 32], Attestation)>,
    /// The nodes whose daily allowance it uses ([`Admitted::charged`]).
    charged: Vec<([u8; 32], i64)>,
}

/// Checks the changes of `doc` beyond `known`: signatures, authority
/// ([`verify_document`]), that it is the dossier announced, and that this
/// node has a part in it. Returns the dossier and the signatures to keep.
fn verify_incoming(
    trust: &Trust,
    local: &Local,
    id: &[u8; 16],
    doc: &Automerge,
    known: &[ChangeHash],
    signatures: &[ChangeSignature],
) -> Result<Verified, String> {
    let by_hash: HashMap<[u8; 32], [u8; 64]> = signatures.iter().map(|s| (s.change, s.signature)).collect();
    let signer: HashMap<[u8; 32], [u8; 32]> = latest_changes(doc, known)
        .into_iter()
        .filter_map(|(actor, hash)| Some((hash.0, node_key_of(&actor)?)))
        .collect();
    let lookup = |h: &[u8; 32]| Some(Attestation { signer: *signer.get(h)?, signature: *by_hash.get(h)? });
    let additions = verify_document(trust, doc, known, lookup, local.utc_offset_minutes).map_err(|e| e.to_string())?;
    if let Some(key) = additions.actors.iter().filter_map(|(a, _)| node_key_of(a)).find(|k| trust.is_quarantined(id, k))
    {
        return Err(format!(
            "node {} forked in dossier {}: its changes there are quarantined",
            hex::encode(key),
            hex::encode(id)
        ));
    }
    if additions.record.id.0 != *id {
        return Err(format!("the document is dossier {}, not the one announced", hex::encode(additions.record.id.0)));
    }
    let units = routing::units_of(&additions.record.participants);
    if !routing::holds(local.role, &local.unit, &units) {
        return Err(format!("dossier {} has no part for unit {}", additions.record.code, local.unit));
    }
    let signatures = additions.actors.iter().filter_map(|(_, hash)| lookup(&hash.0).map(|a| (hash.0, a))).collect();
    // A dossier new here, unless a merger hands it over (under a
    // succession the province signed), counts for its creator; a transfer
    // to another unit for the node that recorded it.
    let handed_over = additions.events.iter().any(|e| e.action == Action::Handover);
    let received = additions.record.reception.at;
    let mut charged: Vec<([u8; 32], i64)> = additions
        .created_by
        .as_ref()
        .filter(|_| !handed_over)
        .and_then(node_key_of)
        .map(|k| (k, received))
        .into_iter()
        .collect();
    charged.extend(additions.events.iter().filter(|e| e.action == Action::Transfer).filter_map(|e| {
        let key = <[u8; 32]>::try_from(hex::decode(motcua_domain::actor::node_key_hex(&e.author)).ok()?).ok()?;
        Some((key, additions.record.events.get(e.index)?.event.at))
    }));
    Ok(Verified { record: additions.record, signatures, charged })
}

#[cfg(test)]
mod tests;
