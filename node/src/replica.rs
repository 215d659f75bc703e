//! The node's storage as the sync core sees it ([`motcua_sync::session::Replica`]):
//! reads straight from redb, writes through the node's single writer.
//! Verified documents from a peer are stored in one durable commit per
//! batch, before the peer is told they are held.

use std::sync::Arc;

use automerge::Automerge;
use motcua_domain::authority::latest_changes;
use motcua_sync::cert::{DocumentKind, NodeRole};
use motcua_sync::reconcile::Item;
use motcua_sync::routing;
use motcua_sync::session::{Admitted, Offer, Peer, Replica, Whole};
use motcua_sync::verify::Trust;
use motcua_sync::wire::ChangeSignature;

use crate::desk::{Desk, DeskError};
use crate::exchange::IngestError;
use crate::serve::REVOCATIONS_META;
use crate::store::StoreError;

pub struct NodeReplica {
    desk: Arc<Desk>,
}

impl NodeReplica {
    /// Sync runs only on an enrolled node (one with a province trust).
    pub fn new(desk: Arc<Desk>) -> Option<NodeReplica> {
        let enrolled = desk.trust.read().expect("trust lock").is_some();
        enrolled.then_some(NodeReplica { desk })
    }
}

fn document_error(e: impl std::fmt::Display) -> DeskError {
    DeskError::Store(StoreError::Corrupt(format!("stored document: {e}")))
}

impl Replica for NodeReplica {
    type Error = DeskError;

    fn with_trust<R>(&self, f: impl FnOnce(&mut Trust) -> R) -> R {
        let mut guard = self.desk.trust.write().expect("trust lock");
        f(guard.as_mut().expect("sync runs only on enrolled nodes"))
    }

    fn offers(&mut self, peer: &Peer) -> Result<Vec<Offer>, DeskError> {
        Ok(self
            .desk
            .store
            .sync_entries()?
            .into_iter()
            .filter(|(_, e)| routing::holds(peer.role, &peer.unit, &e.units))
            .map(|(id, e)| Offer { item: Item { id, digest: e.digest }, due_at: e.due_at })
            .collect())
    }

    fn load(&mut self, id: &[u8; 16]) -> Result<Option<Automerge>, DeskError> {
        self.desk.store.load_doc(id)?.map(|b| Automerge::load(&b).map_err(document_error)).transpose()
    }

    fn signatures(&mut self, doc: &Automerge) -> Result<Vec<ChangeSignature>, DeskError> {
        let mut out = Vec::new();
        for (_, hash) in latest_changes(doc, &[]) {
            if let Some(a) = self.desk.store.attestation(&hash.0)? {
                out.push(ChangeSignature { change: hash.0, signature: a.signature });
            }
        }
        Ok(out)
    }

    /// Stored documents are kept uncompressed and their sync entry names
    /// each actor's latest change, so a whole document is sent without
    /// loading it.
    fn whole(&mut self, id: &[u8; 16]) -> Result<Option<Whole>, DeskError> {
        let (Some(bytes), Some(entry)) = (self.desk.store.load_doc(id)?, self.desk.store.sync_entry(id)?) else {
            return Ok(None);
        };
        let mut signatures = Vec::with_capacity(entry.latest.len());
        for (_, hash) in &entry.latest {
            if let Some(a) = self.desk.store.attestation(hash)? {
                signatures.push(ChangeSignature { change: *hash, signature: a.signature });
            }
        }
        let actors = entry.latest.iter().map(|(actor, _)| *actor).collect();
        Ok(Some(Whole { bytes, digest: entry.digest, heads: entry.heads, signatures, actors }))
    }

    fn certificate(&mut self, key: &[u8; 32]) -> Result<Option<Vec<u8>>, DeskError> {
        Ok(self.desk.store.certificate(key)?)
    }

    fn store_certificates(&mut self, certs: Vec<([u8; 32], Vec<u8>)>) -> Result<(), DeskError> {
        let mut new = Vec::new();
        for (key, json) in certs {
            if self.desk.store.certificate(&key)?.as_deref() != Some(json.as_slice()) {
                new.push((key, json));
            }
        }
        if new.is_empty() {
            return Ok(());
        }
        self.desk.committer.run(move |w| {
            for (key, json) in &new {
                w.put_certificate(key, json)?;
            }
            Ok::<(), DeskError>(())
        })?;
        Ok(())
    }

    fn revocations(&mut self) -> Result<Option<Vec<u8>>, DeskError> {
        Ok(self.desk.store.meta(REVOCATIONS_META)?)
    }

    fn store_revocations(&mut self, json: &[u8], sequence: u64) -> Result<(), DeskError> {
        let json = json.to_vec();
        self.desk.committer.run(move |w| {
            let key = format!("{}_sequence", DocumentKind::Revocations.as_str());
            w.put_meta(&key, &sequence.to_le_bytes())?;
            w.put_meta(REVOCATIONS_META, &json)?;
            Ok::<(), DeskError>(())
        })?;
        tracing::info!(sequence, "revocation list received from a peer installed");
        Ok(())
    }

    fn sync_state(&mut self, peer: &[u8; 32], id: &[u8; 16]) -> Result<Option<Vec<u8>>, DeskError> {
        Ok(self.desk.store.sync_state(peer, id)?)
    }

    fn apply(
        &mut self,
        peer: &Peer,
        docs: Vec<Admitted>,
        states: Vec<([u8; 16], Vec<u8>)>,
    ) -> Result<Vec<Result<(), String>>, DeskError> {
        let desk = self.desk.clone();
        let peer_key = peer.key;
        let from = hex::encode(&peer.key[..4]);
        let results = self.desk.committer.run(move |w| {
            let mut results = Vec::with_capacity(docs.len());
            for a in &docs {
                match desk.put_admitted(w, &a.doc, &a.record, &a.signatures) {
                    Ok(()) => results.push(Ok(())),
                    // Checked before anything of the document is written.
                    Err(e @ IngestError::CodeTaken(_)) => results.push(Err(e.to_string())),
                    Err(IngestError::Desk(e)) => return Err(e),
                    Err(e) => results.push(Err(e.to_string())),
                }
            }
            for (id, s) in &states {
                w.put_sync_state(&peer_key, id, s)?;
            }
            Ok::<_, DeskError>(results)
        })?;
        let stored = results.iter().filter(|r| r.is_ok()).count();
        if stored > 0 {
            tracing::info!(stored, from = %from, "dossiers received by sync");
        }
        Ok(results)
    }

    fn save_sync_states(&mut self, peer: &[u8; 32], states: Vec<([u8; 16], Vec<u8>)>) -> Result<(), DeskError> {
        let peer = *peer;
        self.desk.committer.submit_lazy(move |w| {
            for (id, s) in &states {
                w.put_sync_state(&peer, id, s)?;
            }
            Ok(())
        });
        Ok(())
    }

    fn log_position(&mut self) -> Result<u64, DeskError> {
        Ok(self.desk.store.log_position()?)
    }

    fn changed_since(&mut self, peer: &Peer, after: u64) -> Result<Vec<Offer>, DeskError> {
        Ok(self
            .desk
            .store
            .changed_since(after)?
            .into_iter()
            .filter(|(_, e)| routing::holds(peer.role, &peer.unit, &e.units))
            .map(|(id, e)| Offer { item: Item { id, digest: e.digest }, due_at: e.due_at })
            .collect())
    }

    fn checkpoint(&mut self, peer: &[u8; 32]) -> Result<u64, DeskError> {
        Ok(self.desk.store.checkpoint(peer)?)
    }

    /// Written durably, and only when it moves (a write wakes the
    /// sessions): a checkpoint lost in a crash would mean sending again
    /// what the peer holds.
    fn set_checkpoint(&mut self, peer: &[u8; 32], position: u64) -> Result<(), DeskError> {
        if self.desk.store.checkpoint(peer)? >= position {
            return Ok(());
        }
        let peer = *peer;
        self.desk.committer.run(move |w| w.put_checkpoint(&peer, position).map_err(DeskError::from))?;
        Ok(())
    }

    fn peer_holds(&mut self, peer: &Peer, held: Vec<([u8; 16], [u8; 16])>) -> Result<(), DeskError> {
        if peer.role != NodeRole::Province || held.is_empty() {
            return Ok(());
        }
        self.desk.committer.submit_lazy(move |w| w.put_province_held(&held));
        Ok(())
    }
}
