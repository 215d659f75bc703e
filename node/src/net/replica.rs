//! The node's storage as the sync core sees it ([`motcua_sync::session::Replica`]):
//! reads straight from redb, writes through the node's single writer.
//! Verified documents from a peer are stored in one durable commit per
//! batch, before the peer is told they are held.

use std::collections::HashMap;
use std::sync::Arc;

use automerge::Automerge;
use motcua_domain::authority::latest_changes;
use motcua_sync::cert::{DocumentKind, NodeRole};
use motcua_sync::reconcile::Item;
use motcua_sync::routing;
use motcua_sync::session::{Admitted, CommitId, Offer, Peer, Replica, Stored, Whole};
use motcua_sync::verify::Trust;
use motcua_sync::wire::ChangeSignature;

use motcua_desk::admin::{AdminError, advance_sequence};
use motcua_desk::desk::{Desk, DeskError};
use motcua_desk::exchange::IngestError;
use motcua_desk::open::REVOCATIONS_META;
use motcua_store::StoreError;
use motcua_store::committer::Commit;

/// How far back a creation or transfer counts for its node's daily
/// allowance ([`motcua_desk::allowance`]).
const ALLOWANCE_RECENT_MS: i64 = 2 * motcua_domain::calendar::DAY_MS;

/// Bound on the threads verifying one batch.
const VERIFY_THREADS_MAX: usize = 16;

/// A document handed to the writer and not yet known to be committed.
struct Unsettled {
    id: [u8; 16],
    code: String,
    bytes: Vec<u8>,
}

pub struct NodeReplica {
    desk: Arc<Desk>,
    /// Batches handed to the writer whose commit is not yet known: later
    /// batches of this connection read their documents from here.
    unsettled: Vec<(Commit, Vec<Unsettled>)>,
    /// Commits `apply` started, by the id the session knows them by,
    /// until the driver takes them to wait on ([`NodeReplica::commit`]).
    commits: HashMap<CommitId, Commit>,
    last_commit: u64,
    /// Durable writes this replica made (each one bumps the committer's
    /// count of changes), so that a session can tell its own writes from
    /// changes it should offer its peer.
    own_writes: u64,
    /// Threads that verify the documents of one incoming batch (and make
    /// the deltas of an outgoing one).
    threads: usize,
}

impl NodeReplica {
    /// Sync runs only on an enrolled node (one with a province trust).
    pub fn new(desk: Arc<Desk>) -> Option<NodeReplica> {
        let enrolled = desk.is_enrolled();
        // One more verifying thread than cores: the session's own thread
        // also decodes, reads and hands batches to the writer (measured: 2
        // cores, S1 at 10,000 dossiers 2.4 s with 2 threads, 1.9 s with 3,
        // no better with 4).
        let threads = (std::thread::available_parallelism().map_or(1, |n| n.get()) + 1).min(VERIFY_THREADS_MAX);
        enrolled.then_some(NodeReplica {
            desk,
            own_writes: 0,
            unsettled: Vec::new(),
            commits: HashMap::new(),
            last_commit: 0,
            threads,
        })
    }

    /// The handle of a commit `apply` started, to wait on; given once.
    pub fn commit(&mut self, id: CommitId) -> Option<Commit> {
        self.commits.remove(&id)
    }

    fn prune(&mut self) {
        self.unsettled.retain(|(c, _)| !c.is_done());
    }

    /// The newest bytes of a document written but not yet committed.
    fn unsettled_doc(&self, id: &[u8; 16]) -> Option<&Vec<u8>> {
        self.unsettled.iter().rev().flat_map(|(_, w)| w.iter().rev()).find(|w| &w.id == id).map(|w| &w.bytes)
    }

    /// Durable writes made through this replica so far.
    pub fn own_writes(&self) -> u64 {
        self.own_writes
    }

    /// Runs a durable write, counting it as this replica's own.
    fn write<T: Send + 'static>(
        &mut self,
        op: impl FnOnce(&mut motcua_store::Write) -> Result<T, DeskError> + Send + 'static,
    ) -> Result<T, DeskError> {
        let out = self.desk.committer().run(op)?;
        self.own_writes += 1;
        Ok(out)
    }
}

/// `f` over `items` on up to `threads` threads; results in item order.
/// Each thread takes the next item when it is free, so a thread the
/// machine slows down (the writer's fsync, the network) holds up no more
/// than the item it is on.
fn parallel_map<T: Send, R: Send>(threads: usize, items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
    let threads = threads.min(items.len());
    if threads <= 1 {
        return items.into_iter().map(f).collect();
    }
    let n = items.len();
    let slots: Vec<std::sync::Mutex<Option<T>>> = items.into_iter().map(|t| std::sync::Mutex::new(Some(t))).collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut done = Vec::new();
        loop {
            let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            if i >= n {
                return done;
            }
            let item = slots[i].lock().unwrap_or_else(|p| p.into_inner()).take().expect("each item taken once");
            done.push((i, f(item)));
        }
    };
    let mut results: Vec<(usize, R)> = std::thread::scope(|scope| {
        let others: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut all = work();
        for h in others {
            all.extend(h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        }
        all
    });
    results.sort_unstable_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

fn document_error(e: impl std::fmt::Display) -> DeskError {
    DeskError::Store(StoreError::Corrupt(format!("stored document: {e}")))
}

impl Replica for NodeReplica {
    type Error = DeskError;

    fn with_trust<R>(&self, f: impl FnOnce(&mut Trust) -> R) -> R {
        self.desk.with_trust_mut(f).expect("sync runs only on enrolled nodes")
    }

    /// Documents are stored in their saved form.
    fn keeps_loaded(&self) -> bool {
        false
    }

    fn with_trust_shared<R>(&self, f: impl FnOnce(&Trust) -> R) -> R {
        self.desk.with_trust(|t| f(t.expect("sync runs only on enrolled nodes")))
    }

    fn run_parallel<T: Send, R: Send>(&self, items: Vec<T>, f: impl Fn(T) -> R + Sync) -> Vec<R> {
        parallel_map(self.threads, items, f)
    }

    fn stored(&mut self, ids: &[[u8; 16]]) -> Result<Vec<Option<Vec<u8>>>, DeskError> {
        self.prune();
        let mut out = self.desk.store().load_docs(ids)?;
        for (id, slot) in ids.iter().zip(out.iter_mut()) {
            if let Some(bytes) = self.unsettled_doc(id) {
                *slot = Some(bytes.clone());
            }
        }
        Ok(out)
    }

    fn wholes(&mut self, ids: &[[u8; 16]]) -> Result<Vec<Option<Whole>>, DeskError> {
        Ok(self
            .desk
            .store()
            .wholes(ids)?
            .into_iter()
            .map(|w| {
                let (bytes, entry, attestations) = w?;
                let signatures = entry
                    .latest
                    .iter()
                    .zip(attestations)
                    .filter_map(|((_, hash), a)| Some(ChangeSignature { change: *hash, signature: a?.signature }))
                    .collect();
                let actors = entry.latest.iter().map(|(actor, _)| *actor).collect();
                Some(Whole {
                    bytes,
                    digest: entry.digest,
                    heads: entry.heads,
                    signatures,
                    actors,
                    recent: entry.recent,
                })
            })
            .collect())
    }

    fn offers(&mut self, peer: &Peer) -> Result<Vec<Offer>, DeskError> {
        Ok(self
            .desk
            .store()
            .sync_offers(|units| routing::holds(peer.role, &peer.unit, units))?
            .into_iter()
            .map(|(id, digest, due_at)| Offer { item: Item { id, digest }, due_at })
            .collect())
    }

    fn participants(&mut self, ids: &[[u8; 16]]) -> Result<Vec<Option<Vec<String>>>, DeskError> {
        self.prune();
        let mut out = self.desk.store().participant_units(ids)?;
        for (id, slot) in ids.iter().zip(out.iter_mut()) {
            // Written by this connection and not yet committed: read from
            // the bytes the writer holds (units only ever grow).
            if let Some(bytes) = self.unsettled_doc(id) {
                let doc = Automerge::load(bytes).map_err(document_error)?;
                let record = motcua_domain::dossier::read(&doc)?;
                *slot = Some(routing::units_of(&record.participants));
            }
        }
        Ok(out)
    }

    fn load(&mut self, id: &[u8; 16]) -> Result<Option<Automerge>, DeskError> {
        let bytes = self.stored(&[*id])?.pop().flatten();
        bytes.map(|b| Automerge::load(&b).map_err(document_error)).transpose()
    }

    fn signatures(&mut self, doc: &Automerge) -> Result<Vec<ChangeSignature>, DeskError> {
        let mut out = Vec::new();
        for (_, hash) in latest_changes(doc, &[]) {
            if let Some(a) = self.desk.store().attestation(&hash.0)? {
                out.push(ChangeSignature { change: hash.0, signature: a.signature });
            }
        }
        Ok(out)
    }

    /// Stored documents are kept uncompressed and their sync entry names
    /// each actor's latest change, so a whole document is sent without
    /// loading it.
    fn whole(&mut self, id: &[u8; 16]) -> Result<Option<Whole>, DeskError> {
        Ok(self.wholes(&[*id])?.pop().flatten())
    }

    fn certificate(&mut self, key: &[u8; 32]) -> Result<Option<Vec<u8>>, DeskError> {
        Ok(self.desk.store().certificate(key)?)
    }

    fn store_certificates(&mut self, certs: Vec<([u8; 32], Vec<u8>)>) -> Result<(), DeskError> {
        let mut new = Vec::new();
        for (key, json) in certs {
            if self.desk.store().certificate(&key)?.as_deref() != Some(json.as_slice()) {
                new.push((key, json));
            }
        }
        if new.is_empty() {
            return Ok(());
        }
        self.write(move |w| {
            for (key, json) in &new {
                w.put_certificate(key, json)?;
            }
            Ok::<(), DeskError>(())
        })?;
        Ok(())
    }

    fn revocations(&mut self) -> Result<Option<Vec<u8>>, DeskError> {
        Ok(self.desk.store().meta(REVOCATIONS_META)?)
    }

    fn store_revocations(&mut self, json: &[u8], sequence: u64) -> Result<(), DeskError> {
        let json = json.to_vec();
        let stored = self.write(move |w| {
            // A list at least as new stored meanwhile (an administrator's
            // import, another connection) stays: the store never goes back
            // to an older list than the trust in memory holds.
            match advance_sequence(w, DocumentKind::Revocations, Some(sequence)) {
                Ok(()) => {}
                Err(AdminError::Stale { .. }) => return Ok::<bool, DeskError>(false),
                Err(AdminError::Desk(e)) => return Err(e),
                Err(e) => return Err(DeskError::Conflict(e.to_string())),
            }
            w.put_meta(REVOCATIONS_META, &json)?;
            Ok(true)
        })?;
        if stored {
            tracing::info!(sequence, "revocation list received from a peer installed");
        }
        Ok(())
    }

    fn sync_state(&mut self, peer: &[u8; 32], id: &[u8; 16]) -> Result<Option<Vec<u8>>, DeskError> {
        Ok(self.desk.store().sync_state(peer, id)?)
    }

    /// Checks each document's code against the store and the writes not
    /// yet committed, then hands the batch to the writer without waiting
    /// for the disk: the session holds the answer to the peer until the
    /// driver has waited on the commit ([`NodeReplica::commit`]). A code
    /// taken in between by the desk fails the commit, and the connection
    /// closes with nothing acknowledged; the next one refuses that
    /// document.
    fn apply(
        &mut self,
        peer: &Peer,
        docs: Vec<Admitted>,
        states: Vec<([u8; 16], Vec<u8>)>,
    ) -> Result<Stored, DeskError> {
        self.prune();
        let codes: Vec<&str> = docs.iter().map(|a| a.record.code.as_str()).collect();
        let stored = self.desk.store().ids_by_codes(&codes)?;
        let mut taken: HashMap<String, [u8; 16]> = HashMap::new();
        for (_, written) in &self.unsettled {
            for w in written {
                taken.insert(w.code.clone(), w.id);
            }
        }
        let mut results = Vec::with_capacity(docs.len());
        let mut admitted = Vec::with_capacity(docs.len());
        let now = motcua_desk::now_ms();
        let (day, limit) = self.desk.allowance_day(now);
        for (a, holder) in docs.into_iter().zip(stored) {
            match taken.get(&a.record.code).copied().or(holder) {
                Some(other) if other != a.id => {
                    results.push(Err(IngestError::CodeTaken(a.record.code.clone()).to_string()));
                }
                _ => {
                    // What the province relays it counted when it took it
                    // (a restored node refetching its dossiers is not held
                    // back either).
                    // Only what happened lately counts: a node catching up
                    // after days offline, or a second desk of the unit
                    // filling from the first, brings dossiers of other days
                    // (whose codes carry those days, so they take no code
                    // of today).
                    let recent: Vec<[u8; 32]> =
                        a.charged.iter().filter(|(_, at)| *at >= now - ALLOWANCE_RECENT_MS).map(|(k, _)| *k).collect();
                    if peer.role != NodeRole::Province
                        && !recent.is_empty()
                        && let Err(over) = self.desk.allowance().charge(&recent, day, limit)
                    {
                        results.push(Err(over.to_string()));
                        continue;
                    }
                    taken.insert(a.record.code.clone(), a.id);
                    results.push(Ok(()));
                    admitted.push(a);
                }
            }
        }
        if admitted.is_empty() && states.is_empty() {
            return Ok(Stored { results, commit: None });
        }
        let written: Vec<Unsettled> = admitted
            .iter()
            .map(|a| Unsettled { id: a.id, code: a.record.code.clone(), bytes: a.bytes.clone() })
            .collect();
        let desk = self.desk.clone();
        let peer_key = peer.key;
        let count = admitted.len();
        let commit = self.desk.committer().submit(move |w| {
            desk.put_admitted_batch(w, &admitted).map_err(|e| e.to_string())?;
            for (id, s) in &states {
                w.put_sync_state(&peer_key, id, s).map_err(|e| e.to_string())?;
            }
            Ok(())
        });
        self.own_writes += 1;
        if count > 0 {
            tracing::info!(stored = count, from = %hex::encode(&peer.key[..4]), "dossiers received by sync");
        }
        self.unsettled.push((commit.clone(), written));
        self.last_commit += 1;
        let id = CommitId(self.last_commit);
        self.commits.insert(id, commit);
        Ok(Stored { results, commit: Some(id) })
    }

    fn save_sync_states(&mut self, peer: &[u8; 32], states: Vec<([u8; 16], Vec<u8>)>) -> Result<(), DeskError> {
        let peer = *peer;
        self.desk.committer().submit_lazy(move |w| {
            for (id, s) in &states {
                w.put_sync_state(&peer, id, s)?;
            }
            Ok(())
        });
        Ok(())
    }

    fn log_position(&mut self) -> Result<u64, DeskError> {
        Ok(self.desk.store().log_position()?)
    }

    fn changed_since(&mut self, peer: &Peer, after: u64) -> Result<Vec<Offer>, DeskError> {
        Ok(self
            .desk
            .store()
            .changed_since(after)?
            .into_iter()
            .filter(|(_, e)| routing::holds(peer.role, &peer.unit, &e.units))
            .map(|(id, e)| Offer { item: Item { id, digest: e.digest }, due_at: e.due_at })
            .collect())
    }

    fn checkpoint(&mut self, peer: &[u8; 32]) -> Result<u64, DeskError> {
        Ok(self.desk.store().checkpoint(peer)?)
    }

    /// Written durably, and only when it moves (a write wakes the
    /// sessions): a checkpoint lost in a crash would mean sending again
    /// what the peer holds.
    fn set_checkpoint(&mut self, peer: &[u8; 32], position: u64) -> Result<(), DeskError> {
        if self.desk.store().checkpoint(peer)? >= position {
            return Ok(());
        }
        let peer = *peer;
        self.write(move |w| w.put_checkpoint(&peer, position).map_err(DeskError::from))?;
        Ok(())
    }

    fn peer_holds(&mut self, peer: &Peer, held: Vec<([u8; 16], [u8; 16])>) -> Result<(), DeskError> {
        if held.is_empty() {
            return Ok(());
        }
        if self.desk.store().has_peer_refusals()? {
            // What the peer holds now, it no longer refuses.
            let (key, now) = (peer.key, motcua_desk::now_ms());
            let cleared: Vec<([u8; 16], Option<String>)> = held.iter().map(|(id, _)| (*id, None)).collect();
            self.desk.committer().submit_lazy(move |w| w.put_peer_refusals(&key, &cleared, now));
        }
        if peer.role != NodeRole::Province {
            return Ok(());
        }
        self.desk.committer().submit_lazy(move |w| w.put_province_held(&held));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::parallel_map;

    #[test]
    fn parallel_work_comes_back_in_item_order() {
        let items: Vec<u64> = (0..200).collect();
        // Early items take longest, so threads finish them out of order.
        let slow = |i: u64| {
            let mut x = i;
            for _ in 0..(200 - i) * 1000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
            (i, x)
        };
        let inline: Vec<(u64, u64)> = items.iter().copied().map(slow).collect();
        for threads in [1, 3, 16] {
            assert_eq!(parallel_map(threads, items.clone(), slow), inline, "{threads} threads");
        }
        assert!(parallel_map(4, Vec::<u64>::new(), slow).is_empty());
    }
}
