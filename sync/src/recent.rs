//! A stored document's last few writes, kept as the raw Automerge changes
//! each one added, so that a peer holding an earlier version is sent a
//! delta without the document being loaded (loading a dossier costs about
//! 70 µs; cutting the delta from the loaded document about as much again).
//!
//! A [`RecentWrite`] says: at this write the document's heads were `from`,
//! and `changes` holds (at least) every change the write added beyond
//! them. The recent writes of a document form a chain ending at its
//! current heads, so a peer that holds exactly the heads some write starts
//! from lacks nothing but the changes of that write and the ones after it.
//! Changes the peer holds anyway are harmless: Automerge skips a change it
//! already has.

use serde::{Deserialize, Serialize};

/// Recent writes kept per document: a peer more writes behind than this
/// is sent a delta cut from the loaded document.
pub const RECENT_WRITES_MAX: usize = 4;
/// Bytes of changes kept per document.
pub const RECENT_BYTES_MAX: usize = 16 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentWrite {
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

/// The recent writes after a write that took a document from `from` (the
/// heads of the version `recent` belong to) to a version whose changes
/// beyond `from` are all in `changes`. The oldest give way to
/// [`RECENT_WRITES_MAX`] and
/// [`RECENT_BYTES_MAX`].
///
/// The caller must pass the recent writes stored with the version whose
/// heads are `from`, or none: those of another version would not chain.
pub fn after_write(mut recent: Vec<RecentWrite>, from: &[[u8; 32]], changes: Vec<u8>) -> Vec<RecentWrite> {
    if from.is_empty() || changes.len() > RECENT_BYTES_MAX {
        return Vec::new();
    }
    recent.push(RecentWrite { from: from.to_vec(), changes });
    let mut bytes: usize = recent.iter().map(|s| s.changes.len()).sum();
    let mut drop = 0;
    while recent.len() - drop > RECENT_WRITES_MAX || bytes > RECENT_BYTES_MAX {
        bytes -= recent[drop].changes.len();
        drop += 1;
    }
    recent.drain(..drop);
    recent
}

/// Every change a peer holding exactly `heads` lacks, if the recent
/// writes reach back to that version.
pub fn since(recent: &[RecentWrite], heads: &[[u8; 32]]) -> Option<Vec<u8>> {
    if heads.is_empty() {
        return None;
    }
    let first = recent.iter().position(|s| same_heads(&s.from, heads))?;
    Some(recent[first..].iter().flat_map(|s| s.changes.iter().copied()).collect())
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
    fn write(doc: &mut Automerge, recent: Vec<RecentWrite>, n: i64) -> Vec<RecentWrite> {
        let before = doc.get_heads();
        let mut tx = doc.transaction();
        tx.put(ROOT, format!("k{n}"), n).unwrap();
        tx.commit();
        let from: Vec<[u8; 32]> = before.iter().map(|h| h.0).collect();
        after_write(recent, &from, doc.save_after(&before))
    }

    #[test]
    fn a_peer_any_kept_write_behind_gets_exactly_what_it_lacks() {
        let mut doc = created();
        let mut versions = vec![doc.clone()];
        let mut recent = Vec::new();
        for n in 0..6 {
            recent = write(&mut doc, recent, n);
            versions.push(doc.clone());
        }
        assert_eq!(recent.len(), RECENT_WRITES_MAX);
        // Versions 2..=5 are the starts of the kept writes; 6 is current.
        for (i, old) in versions.iter().enumerate() {
            let delta = since(&recent, &heads(old));
            if (2..6).contains(&i) {
                let mut peer = old.clone();
                peer.load_incremental(&delta.expect("a kept write")).unwrap();
                assert_eq!(peer.get_heads(), doc.get_heads(), "version {i}");
            } else {
                assert!(delta.is_none(), "version {i} is not the start of a kept write");
            }
        }
    }

    #[test]
    fn changes_the_peer_holds_already_are_skipped() {
        let mut doc = created();
        let start = doc.clone();
        let mut recent = write(&mut doc, Vec::new(), 1);
        let middle = doc.clone();
        recent = write(&mut doc, recent, 2);
        // The peer holds the middle version but is asked from the start.
        let mut peer = middle.clone();
        peer.load_incremental(&since(&recent, &heads(&start)).unwrap()).unwrap();
        assert_eq!(peer.get_heads(), doc.get_heads());
    }

    #[test]
    fn the_byte_bound_drops_the_oldest_writes_and_an_oversize_write_drops_all() {
        let from = vec![[1; 32]];
        let half = vec![0u8; RECENT_BYTES_MAX / 2];
        let recent = after_write(Vec::new(), &from, half.clone());
        let recent = after_write(recent, &[[2; 32]], half.clone());
        assert_eq!(recent.len(), 2);
        let recent = after_write(recent, &[[3; 32]], vec![0u8; 10]);
        assert_eq!(recent.iter().map(|s| s.from[0][0]).collect::<Vec<_>>(), vec![2, 3]);
        assert!(after_write(recent, &[[4; 32]], vec![0u8; RECENT_BYTES_MAX + 1]).is_empty());
        assert!(since(&[], &from).is_none());
        assert!(after_write(Vec::new(), &[], vec![1]).is_empty(), "a new document has no recent write");
    }

    #[test]
    fn heads_match_in_any_order() {
        let recent = vec![RecentWrite { from: vec![[2; 32], [1; 32]], changes: vec![9] }];
        assert_eq!(since(&recent, &[[1; 32], [2; 32]]), Some(vec![9]));
        assert_eq!(since(&recent, &[[1; 32]]), None);
        assert_eq!(since(&recent, &[]), None);
    }
}
