//! A stored document's last few writes, kept as the raw Automerge changes
//! each one added, so that a peer holding an earlier version is sent a
//! delta without the document being loaded (loading a dossier costs about
//! 70 µs; cutting the delta from the loaded document about as much again).
//!
//! A step says: at this write the document's heads were `from`, and
//! `changes` holds (at least) every change the write added beyond them.
//! The steps of a document form a chain ending at its current heads, so a
//! peer that holds exactly the heads some step starts from lacks nothing
//! but the changes of that step and the ones after it. Changes the peer
//! holds anyway are harmless: Automerge skips a change it already has.

use serde::{Deserialize, Serialize};

/// Steps kept per document: a peer more writes behind than this is sent a
/// delta cut from the loaded document.
pub const STEPS_MAX: usize = 4;
/// Bytes of changes kept per document.
pub const STEP_BYTES_MAX: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The document's heads before the write.
    pub from: Vec<[u8; 32]>,
    /// Raw change chunks: every change the write added beyond `from`.
    pub changes: Vec<u8>,
}

fn sorted(heads: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let mut h = heads.to_vec();
    h.sort_unstable();
    h
}

/// Whether two lists of heads name the same version (in any order).
pub fn same_heads(a: &[[u8; 32]], b: &[[u8; 32]]) -> bool {
    a.len() == b.len() && sorted(a) == sorted(b)
}

/// The steps after a write that took a document from `from` (the heads of
/// the version `steps` belong to) to a version whose changes beyond `from`
/// are all in `changes`. The oldest steps give way to [`STEPS_MAX`] and
/// [`STEP_BYTES_MAX`].
///
/// The caller must pass the steps stored with the version whose heads are
/// `from`, or none: steps of another version would not chain.
pub fn after_write(mut steps: Vec<Step>, from: &[[u8; 32]], changes: Vec<u8>) -> Vec<Step> {
    if from.is_empty() || changes.len() > STEP_BYTES_MAX {
        return Vec::new();
    }
    steps.push(Step { from: from.to_vec(), changes });
    let mut bytes: usize = steps.iter().map(|s| s.changes.len()).sum();
    let mut drop = 0;
    while steps.len() - drop > STEPS_MAX || bytes > STEP_BYTES_MAX {
        bytes -= steps[drop].changes.len();
        drop += 1;
    }
    steps.drain(..drop);
    steps
}

/// Every change a peer holding exactly `heads` lacks, if the steps reach
/// back to that version.
pub fn since(steps: &[Step], heads: &[[u8; 32]]) -> Option<Vec<u8>> {
    if heads.is_empty() {
        return None;
    }
    let first = steps.iter().position(|s| same_heads(&s.from, heads))?;
    Some(steps[first..].iter().flat_map(|s| s.changes.iter().copied()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::transaction::Transactable;
    use automerge::{Automerge, ROOT};

    fn heads(doc: &Automerge) -> Vec<[u8; 32]> {
        doc.get_heads().iter().map(|h| h.0).collect()
    }

    /// A document with its creation change.
    fn created() -> Automerge {
        let mut doc = Automerge::new();
        let mut tx = doc.transaction();
        tx.put(ROOT, "created", true).unwrap();
        tx.commit();
        doc
    }

    /// One write: a key set in its own change.
    fn write(doc: &mut Automerge, steps: Vec<Step>, n: i64) -> Vec<Step> {
        let before = doc.get_heads();
        let mut tx = doc.transaction();
        tx.put(ROOT, format!("k{n}"), n).unwrap();
        tx.commit();
        let from: Vec<[u8; 32]> = before.iter().map(|h| h.0).collect();
        after_write(steps, &from, doc.save_after(&before))
    }

    #[test]
    fn a_peer_any_kept_step_behind_gets_exactly_what_it_lacks() {
        let mut doc = created();
        let mut versions = vec![doc.clone()];
        let mut steps = Vec::new();
        for n in 0..6 {
            steps = write(&mut doc, steps, n);
            versions.push(doc.clone());
        }
        assert_eq!(steps.len(), STEPS_MAX);
        // Versions 2..=5 are the starts of the kept steps; 6 is current.
        for (i, old) in versions.iter().enumerate() {
            let delta = since(&steps, &heads(old));
            if (2..6).contains(&i) {
                let mut peer = old.clone();
                peer.load_incremental(&delta.expect("a kept step")).unwrap();
                assert_eq!(peer.get_heads(), doc.get_heads(), "version {i}");
            } else {
                assert!(delta.is_none(), "version {i} is not the start of a kept step");
            }
        }
    }

    #[test]
    fn changes_the_peer_holds_already_are_skipped() {
        let mut doc = created();
        let start = doc.clone();
        let mut steps = write(&mut doc, Vec::new(), 1);
        let middle = doc.clone();
        steps = write(&mut doc, steps, 2);
        // The peer holds the middle version but is asked from the start.
        let mut peer = middle.clone();
        peer.load_incremental(&since(&steps, &heads(&start)).unwrap()).unwrap();
        assert_eq!(peer.get_heads(), doc.get_heads());
    }

    #[test]
    fn the_byte_bound_drops_the_oldest_steps_and_an_oversize_write_drops_all() {
        let from = vec![[1; 32]];
        let half = vec![0u8; STEP_BYTES_MAX / 2];
        let steps = after_write(Vec::new(), &from, half.clone());
        let steps = after_write(steps, &[[2; 32]], half.clone());
        assert_eq!(steps.len(), 2);
        let steps = after_write(steps, &[[3; 32]], vec![0u8; 10]);
        assert_eq!(steps.iter().map(|s| s.from[0][0]).collect::<Vec<_>>(), vec![2, 3]);
        assert!(after_write(steps, &[[4; 32]], vec![0u8; STEP_BYTES_MAX + 1]).is_empty());
        assert!(since(&[], &from).is_none());
        assert!(after_write(Vec::new(), &[], vec![1]).is_empty(), "a new document has no step");
    }

    #[test]
    fn heads_match_in_any_order() {
        let steps = vec![Step { from: vec![[2; 32], [1; 32]], changes: vec![9] }];
        assert_eq!(since(&steps, &[[1; 32], [2; 32]]), Some(vec![9]));
        assert_eq!(since(&steps, &[[1; 32]]), None);
        assert_eq!(since(&steps, &[]), None);
    }
}
