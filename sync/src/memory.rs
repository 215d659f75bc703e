//! A [`Replica`] held in memory: the storage of simulated nodes in
//! `motcua-sim` and of the session tests. Documents, signatures and
//! certificates are kept as the node keeps them in redb; sync states saved
//! lazily are lost by [`MemoryReplica::crash`], as a node loses an
//! unflushed lazy commit.
//!
//! By default what [`Replica::apply`] stores is durable at once. With
//! [`MemoryReplica::defer_commits`] it is a commit in flight, as in the
//! node's writer: durable once the driver says so
//! ([`MemoryReplica::durable`]) or once a later durable write (a desk
//! action, a checkpoint, certificates) commits after it; a crash before
//! that undoes it.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

use automerge::Automerge;
use ed25519_dalek::SigningKey;
use motcua_domain::authority::latest_changes;
use motcua_domain::dossier;

use crate::attest::{Attestation, attest};
use crate::recent::{self, RecentWrite};
use crate::reconcile::Item;
use crate::routing;
use crate::session::{Admitted, CommitId, Local, Offer, Peer, Replica, Stored, digest_of};
use crate::verify::Trust;
use crate::wire::ChangeSignature;

#[derive(Debug, Clone)]
struct Entry {
    doc: Automerge,
    digest: [u8; 16],
    units: Vec<String>,
    due_at: Option<i64>,
    code: String,
    /// Its last writes, kept as the node's store keeps them.
    recent: Vec<RecentWrite>,
}

/// A sync state's key: the peer and the document.
type StateKey = ([u8; 32], [u8; 16]);

/// A commit not yet durable, and how to undo it: what it replaced.
#[derive(Debug)]
struct Pending {
    id: CommitId,
    position: u64,
    verified_changes: u64,
    /// Each document written: its entry and log position before.
    docs: Vec<([u8; 16], Option<Entry>, Option<u64>)>,
    /// Each sync state written: its durable value before.
    states: Vec<(StateKey, Option<Vec<u8>>)>,
    /// Signatures it added.
    attestations: Vec<[u8; 32]>,
}

pub struct MemoryReplica {
    pub local: Local,
    key: SigningKey,
    trust: RefCell<Trust>,
    docs: BTreeMap<[u8; 16], Entry>,
    attestations: HashMap<[u8; 32], Attestation>,
    certificates: BTreeMap<[u8; 32], Vec<u8>>,
    revocations: Option<Vec<u8>>,
    states: HashMap<([u8; 32], [u8; 16]), Vec<u8>>,
    lazy_states: HashMap<([u8; 32], [u8; 16]), Vec<u8>>,
    held: HashMap<([u8; 32], [u8; 16]), [u8; 16]>,
    /// Change log: each document's latest position.
    log: HashMap<[u8; 16], u64>,
    position: u64,
    checkpoints: HashMap<[u8; 32], u64>,
    /// Changes admitted from peers, all verified before being stored.
    pub verified_changes: u64,
    /// [`Replica::run_parallel`] runs its items last first (results still
    /// in item order), as a driver's threads may finish them.
    parallel_reversed: bool,
    /// Commits are left in flight ([`MemoryReplica::defer_commits`]).
    deferred: bool,
    /// Commits in flight, oldest first.
    pending: Vec<Pending>,
    last_commit: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("memory replica: {0}")]
pub struct MemoryError(String);

impl MemoryReplica {
    pub fn new(local: Local, key: SigningKey, trust: Trust) -> MemoryReplica {
        let mut certificates = BTreeMap::new();
        certificates.insert(local.key, local.certificate.clone());
        MemoryReplica {
            local,
            key,
            trust: RefCell::new(trust),
            docs: BTreeMap::new(),
            attestations: HashMap::new(),
            certificates,
            revocations: None,
            states: HashMap::new(),
            lazy_states: HashMap::new(),
            held: HashMap::new(),
            log: HashMap::new(),
            position: 0,
            checkpoints: HashMap::new(),
            verified_changes: 0,
            parallel_reversed: false,
            deferred: false,
            pending: Vec::new(),
            last_commit: 0,
        }
    }

    /// The signing key (for making local changes).
    pub fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// Stores a change this node made (durably, as a desk action), signing
    /// its latest change.
    pub fn commit_local(&mut self, doc: Automerge) -> Result<(), MemoryError> {
        let record = dossier::read(&doc).map_err(|e| MemoryError(e.to_string()))?;
        self.durable_write();
        let me = automerge::ActorId::from(self.local.key);
        for (actor, hash) in latest_changes(&doc, &[]) {
            if actor == me {
                self.attestations.insert(hash.0, attest(&self.key, &hash.0));
            }
        }
        let changes = self.docs.get(&record.id.0).map(|e| doc.save_after(&e.doc.get_heads()));

        self.put(doc, &record, changes);
        Ok(())
    }

    /// Stores a version of a document; `changes` are those it gained
    /// beyond the version held (if any is and they are known).
    fn put(&mut self, doc: Automerge, record: &dossier::DossierRecord, changes: Option<Vec<u8>>) {
        let recent = match (self.docs.remove(&record.id.0), changes) {
            // The same version again: its recent writes stay.
            (Some(old), _) if old.doc.get_heads() == doc.get_heads() => old.recent,
            (Some(old), Some(changes)) => {
                let from: Vec<[u8; 32]> = old.doc.get_heads().iter().map(|h| h.0).collect();
                recent::after_write(old.recent, &from, changes)
            }
            _ => Vec::new(),
        };
        let entry = Entry {
            recent,
            digest: digest_of(&doc),
            units: routing::units_of(&record.participants),
            due_at: record.due_at,
            code: record.code.clone(),
            doc,
        };
        self.docs.insert(record.id.0, entry);
        self.position += 1;
        self.log.insert(record.id.0, self.position);
    }

    pub fn doc(&self, id: &[u8; 16]) -> Option<&Automerge> {
        self.docs.get(id).map(|e| &e.doc)
    }

    pub fn ids(&self) -> impl Iterator<Item = &[u8; 16]> {
        self.docs.keys()
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    /// Per-peer sync states kept (durably or lazily).
    pub fn sync_states_kept(&self) -> usize {
        self.states.keys().chain(self.lazy_states.keys()).collect::<std::collections::HashSet<_>>().len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Every document's id and heads digest.
    pub fn digests(&self) -> BTreeMap<[u8; 16], [u8; 16]> {
        self.docs.iter().map(|(id, e)| (*id, e.digest)).collect()
    }

    /// The digest at which `peer` is known to hold a document.
    pub fn held_by(&self, peer: &[u8; 32], id: &[u8; 16]) -> Option<[u8; 16]> {
        self.held.get(&(*peer, *id)).copied()
    }

    pub fn set_revocations(&mut self, json: Vec<u8>) {
        self.revocations = Some(json);
    }

    /// Runs the items of [`Replica::run_parallel`] last first: a test
    /// that the outcome does not depend on the order a driver's threads
    /// finish them in.
    pub fn run_parallel_reversed(&mut self, reversed: bool) {
        self.parallel_reversed = reversed;
    }

    /// Leaves each commit of [`Replica::apply`] in flight until
    /// [`MemoryReplica::durable`] (or a later durable write) says it is
    /// done; a crash before undoes it.
    pub fn defer_commits(&mut self, deferred: bool) {
        self.deferred = deferred;
    }

    /// The newest commit [`Replica::apply`] started, if any.
    pub fn last_commit(&self) -> Option<CommitId> {
        (self.last_commit > 0).then_some(CommitId(self.last_commit))
    }

    /// Commits in flight.
    pub fn commits_in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Every commit up to `id` is durable (one writer commits in order).
    pub fn durable(&mut self, id: CommitId) {
        self.pending.retain(|p| p.id > id);
    }

    /// A write that is durable once made (the node waits for its commit):
    /// its commit follows, and so makes durable, every one before.
    fn durable_write(&mut self) {
        self.pending.clear();
    }

    /// A crash: what was saved lazily since the last durable commit is
    /// lost, and so are the commits still in flight. Returns how many.
    pub fn crash(&mut self) -> usize {
        self.lazy_states.clear();
        let lost = self.pending.len();
        while let Some(p) = self.pending.pop() {
            self.position = p.position;
            self.verified_changes = p.verified_changes;
            for (id, entry, log) in p.docs.into_iter().rev() {
                match entry {
                    Some(e) => self.docs.insert(id, e),
                    None => self.docs.remove(&id),
                };
                match log {
                    Some(l) => self.log.insert(id, l),
                    None => self.log.remove(&id),
                };
            }
            for (k, s) in p.states.into_iter().rev() {
                match s {
                    Some(s) => self.states.insert(k, s),
                    None => self.states.remove(&k),
                };
            }
            for h in p.attestations {
                self.attestations.remove(&h);
            }
        }
        lost
    }
}

impl Replica for MemoryReplica {
    type Error = MemoryError;

    fn with_trust<R>(&self, f: impl FnOnce(&mut Trust) -> R) -> R {
        f(&mut self.trust.borrow_mut())
    }

    fn run_parallel<T: Send, R: Send>(&self, items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
        if !self.parallel_reversed {
            return items.into_iter().map(f).collect();
        }
        let mut out: Vec<R> = items.into_iter().rev().map(f).collect();
        out.reverse();
        out
    }

    fn offers(&mut self, peer: &Peer) -> Result<Vec<Offer>, MemoryError> {
        Ok(self
            .docs
            .iter()
            .filter(|(_, e)| routing::holds(peer.role, &peer.unit, &e.units))
            .map(|(id, e)| Offer { item: Item { id: *id, digest: e.digest }, due_at: e.due_at })
            .collect())
    }

    fn load(&mut self, id: &[u8; 16]) -> Result<Option<Automerge>, MemoryError> {
        Ok(self.docs.get(id).map(|e| e.doc.clone()))
    }

    fn participants(&mut self, ids: &[[u8; 16]]) -> Result<Vec<Option<Vec<String>>>, MemoryError> {
        Ok(ids.iter().map(|id| self.docs.get(id).map(|e| e.units.clone())).collect())
    }

    fn recent_writes(&mut self, id: &[u8; 16]) -> Result<Vec<RecentWrite>, MemoryError> {
        Ok(self.docs.get(id).map(|e| e.recent.clone()).unwrap_or_default())
    }

    fn signatures(&mut self, doc: &Automerge) -> Result<Vec<ChangeSignature>, MemoryError> {
        Ok(latest_changes(doc, &[])
            .into_iter()
            .filter_map(|(_, h)| {
                self.attestations.get(&h.0).map(|a| ChangeSignature { change: h.0, signature: a.signature })
            })
            .collect())
    }

    fn certificate(&mut self, key: &[u8; 32]) -> Result<Option<Vec<u8>>, MemoryError> {
        Ok(self.certificates.get(key).cloned())
    }

    fn store_certificates(&mut self, certs: Vec<([u8; 32], Vec<u8>)>) -> Result<(), MemoryError> {
        if !certs.is_empty() {
            self.durable_write();
        }
        self.certificates.extend(certs);
        Ok(())
    }

    fn revocations(&mut self) -> Result<Option<Vec<u8>>, MemoryError> {
        Ok(self.revocations.clone())
    }

    fn store_revocations(&mut self, json: &[u8], _sequence: u64) -> Result<(), MemoryError> {
        self.durable_write();
        self.revocations = Some(json.to_vec());
        Ok(())
    }

    fn sync_state(&mut self, peer: &[u8; 32], id: &[u8; 16]) -> Result<Option<Vec<u8>>, MemoryError> {
        let k = (*peer, *id);
        Ok(self.lazy_states.get(&k).or_else(|| self.states.get(&k)).cloned())
    }

    fn apply(
        &mut self,
        peer: &Peer,
        docs: Vec<Admitted>,
        states: Vec<([u8; 16], Vec<u8>)>,
    ) -> Result<Stored, MemoryError> {
        if docs.is_empty() && states.is_empty() {
            // Every session of this node reads the same maps, commits in
            // flight included: what a session finds already held may be
            // another connection's write not yet durable, so what it says
            // of it waits for the newest commit in flight (commits become
            // durable in order). A node's store reads only what is
            // committed, and needs no such wait.
            return Ok(Stored { results: Vec::new(), commit: self.pending.last().map(|p| p.id) });
        }
        self.last_commit += 1;
        let mut undo = Pending {
            id: CommitId(self.last_commit),
            position: self.position,
            verified_changes: self.verified_changes,
            docs: Vec::new(),
            states: Vec::new(),
            attestations: Vec::new(),
        };
        // Lazily saved states become durable with this commit.
        let lazy: Vec<_> = self.lazy_states.drain().collect();
        let written = lazy.into_iter().chain(states.into_iter().map(|(id, s)| ((peer.key, id), s)));
        for (k, s) in written {
            if !undo.states.iter().any(|(w, _)| *w == k) {
                undo.states.push((k, self.states.get(&k).cloned()));
            }
            self.states.insert(k, s);
        }
        let mut results = Vec::with_capacity(docs.len());
        for a in docs {
            let doc = a.doc.expect("a memory replica keeps documents loaded");
            if let Some((other, _)) = self.docs.iter().find(|(id, e)| e.code == a.record.code && **id != a.id) {
                results.push(Err(format!("code {} already belongs to dossier {}", a.record.code, hex::encode(other))));
                continue;
            }
            let known = self.docs.get(&a.id).map(|e| e.doc.get_heads()).unwrap_or_default();
            self.verified_changes += doc.get_changes_meta(&known).len() as u64;
            for (hash, att) in &a.signatures {
                if self.attestations.insert(*hash, *att).is_none() {
                    undo.attestations.push(*hash);
                }
            }
            let chained = self.docs.get(&a.id).is_some_and(|e| {
                let held: Vec<[u8; 32]> = e.doc.get_heads().iter().map(|h| h.0).collect();
                recent::same_heads(&held, &a.verified_from)
            });
            if !undo.docs.iter().any(|(id, _, _)| *id == a.id) {
                undo.docs.push((a.id, self.docs.get(&a.id).cloned(), self.log.get(&a.id).copied()));
            }
            self.put(doc, &a.record, a.gained.filter(|_| chained));
            results.push(Ok(()));
        }
        let commit = undo.id;
        if !self.deferred {
            return Ok(Stored { results, commit: None });
        }
        self.pending.push(undo);
        Ok(Stored { results, commit: Some(commit) })
    }

    fn save_sync_states(&mut self, peer: &[u8; 32], states: Vec<([u8; 16], Vec<u8>)>) -> Result<(), MemoryError> {
        for (id, s) in states {
            self.lazy_states.insert((*peer, id), s);
        }
        Ok(())
    }

    fn peer_holds(&mut self, peer: &Peer, held: Vec<([u8; 16], [u8; 16])>) -> Result<(), MemoryError> {
        for (id, d) in held {
            self.held.insert((peer.key, id), d);
        }
        Ok(())
    }

    fn log_position(&mut self) -> Result<u64, MemoryError> {
        Ok(self.position)
    }

    fn changed_since(&mut self, peer: &Peer, after: u64) -> Result<Vec<Offer>, MemoryError> {
        Ok(self
            .docs
            .iter()
            .filter(|(id, e)| self.log[*id] > after && routing::holds(peer.role, &peer.unit, &e.units))
            .map(|(id, e)| Offer { item: Item { id: *id, digest: e.digest }, due_at: e.due_at })
            .collect())
    }

    fn checkpoint(&mut self, peer: &[u8; 32]) -> Result<u64, MemoryError> {
        Ok(self.checkpoints.get(peer).copied().unwrap_or(0))
    }

    fn set_checkpoint(&mut self, peer: &[u8; 32], position: u64) -> Result<(), MemoryError> {
        self.durable_write();
        self.checkpoints.insert(*peer, position);
        Ok(())
    }
}
