//! Forks: a node key that signed two different changes with one sequence
//! number in a document (DESIGN §7) — its key stolen and used elsewhere,
//! or the node brought back from an old copy of its disk. Automerge
//! refuses the second change it meets (a duplicate sequence number); this
//! module proves that such a refusal is a fork: both changes carry the
//! node's signature (the held one was verified when stored; the incoming
//! one directly or through a signed later change of the same actor that
//! descends from it). A duplicate that is not signed proves nothing, so
//! no peer can get an honest node's changes quarantined by forging one.
//!
//! Nothing here touches a clock, a socket or a file.

use std::collections::{HashMap, HashSet, VecDeque};

use automerge::{Automerge, Change, ChangeHash};
use motcua_domain::authority::node_key_of;

use crate::attest::{self, Attestation};
use crate::wire::ChangeSignature;

/// Most incoming changes looked at for a proof (a batch document is at
/// most 4 MiB; a dossier has a few dozen changes).
const CHANGES_MAX: usize = 100_000;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;

/// Two different changes an actor signed with one sequence number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fork {
    /// The node key the actor writes for (a fork quarantines the key,
    /// whatever incarnation it writes under next).
    pub node_key: [u8; 32],
    pub seq: u64,
    /// The change this node holds with that sequence number.
    pub held: [u8; 32],
    /// The other one, which came from the peer.
    pub other: [u8; 32],
}

impl std::fmt::Display for Fork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "node {} forked: it signed two different changes with sequence number {} ({} held here, {} from the peer)",
            hex::encode(self.node_key),
            self.seq,
            hex::encode(&self.held[..8]),
            hex::encode(&self.other[..8]),
        )
    }
}

/// The changes in Automerge storage bytes (a saved document, changes, or
/// both in a row), as far as they parse. Called once the guard has
/// bounded what the bytes inflate to.
pub fn changes_in(bytes: &[u8]) -> Vec<Change> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() > 9 && rest[..4] == MAGIC && out.len() < CHANGES_MAX {
        let kind = rest[8];
        let mut after = &rest[9..];
        let Ok(len) = leb128::read::unsigned(&mut after) else { break };
        let header = rest.len() - after.len();
        let Some(total) = usize::try_from(len).ok().and_then(|l| l.checked_add(header)).filter(|t| *t <= rest.len())
        else {
            break;
        };
        let chunk = &rest[..total];
        if kind == DOCUMENT {
            if let Ok(doc) = Automerge::load(chunk) {
                out.extend(doc.get_changes(&[]));
            }
        } else if let Ok(change) = Change::from_bytes(chunk.to_vec()) {
            out.push(change);
        }
        rest = &rest[total..];
    }
    out
}

/// A fork between `base` (what this node holds, every change verified)
/// and `incoming` changes signed by `signatures`, if one is proven.
pub fn prove(base: &Automerge, incoming: &[Change], signatures: &[ChangeSignature]) -> Option<Fork> {
    let held: HashMap<(Vec<u8>, u64), ChangeHash> =
        base.get_changes_meta(&[]).iter().map(|m| ((m.actor.to_bytes().to_vec(), m.seq), m.hash)).collect();
    let by_hash: HashMap<ChangeHash, &Change> = incoming.iter().map(|c| (c.hash(), c)).collect();
    let signed: HashMap<[u8; 32], [u8; 64]> = signatures.iter().map(|s| (s.change, s.signature)).collect();
    for c in incoming {
        let actor = c.actor_id().to_bytes().to_vec();
        let Some(held_hash) = held.get(&(actor, c.seq())) else { continue };
        if *held_hash == c.hash() {
            continue;
        }
        let Some(node_key) = node_key_of(c.actor_id()) else { continue };
        let vouched = incoming.iter().filter(|l| l.actor_id() == c.actor_id() && l.seq() >= c.seq()).any(|l| {
            signed.get(&l.hash().0).is_some_and(|signature| {
                attest::verify(&Attestation { signer: node_key, signature: *signature }, &l.hash().0).is_ok()
                    && descends(&by_hash, l.hash(), c.hash())
            })
        });
        if vouched {
            return Some(Fork { node_key, seq: c.seq(), held: held_hash.0, other: c.hash().0 });
        }
    }
    None
}

/// Whether `to` is `from` or among its dependencies within `changes`.
fn descends(changes: &HashMap<ChangeHash, &Change>, from: ChangeHash, to: ChangeHash) -> bool {
    let mut seen = HashSet::new();
    let mut next = VecDeque::from([from]);
    while let Some(h) = next.pop_front() {
        if h == to {
            return true;
        }
        if seen.insert(h)
            && let Some(c) = changes.get(&h)
        {
            next.extend(c.deps().iter().copied());
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use automerge::{ActorId, ROOT};
    use ed25519_dalek::SigningKey;

    use super::*;

    fn signed(doc: &Automerge, key: &SigningKey) -> Vec<ChangeSignature> {
        doc.get_heads()
            .iter()
            .map(|h| ChangeSignature { change: h.0, signature: attest::attest(key, &h.0).signature })
            .collect()
    }

    #[test]
    fn two_signed_changes_with_one_sequence_number_are_a_fork_and_an_unsigned_one_is_not() {
        let key = SigningKey::from_bytes(&[5; 32]);
        let actor = ActorId::from(key.verifying_key().to_bytes());
        let mut base = Automerge::new().with_actor(actor.clone());
        base.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, "a", 1).map(|_| ())).unwrap();
        let common = base.fork().with_actor(actor.clone());
        base.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, "b", 2).map(|_| ())).unwrap();
        // The same node, from the older copy, writes another seq-2 change.
        let mut other = common.fork().with_actor(actor);
        other.transact::<_, _, automerge::AutomergeError>(|tx| tx.put(ROOT, "b", 3).map(|_| ())).unwrap();
        let changes = changes_in(&other.save_after(&common.get_heads()));
        assert_eq!(changes.len(), 1);
        assert!(base.clone().apply_changes(changes.clone()).is_err(), "automerge refuses the duplicate");
        let fork = prove(&base, &changes, &signed(&other, &key)).expect("a proven fork");
        assert_eq!((fork.node_key, fork.seq), (key.verifying_key().to_bytes(), 2));
        assert_ne!(fork.held, fork.other);
        // Unsigned, or signed by another key: no proof.
        assert_eq!(prove(&base, &changes, &[]), None);
        assert_eq!(prove(&base, &changes, &signed(&other, &SigningKey::from_bytes(&[6; 32]))), None);
        // The whole other document proves it as well.
        assert!(prove(&base, &changes_in(&other.save()), &signed(&other, &key)).is_some());
    }
}
