//! Checks of peer input that Automerge itself does not bound, made before
//! Automerge acts on it.
//!
//! An Automerge sync message carries, per `have`, a Bloom filter whose
//! parameters the sender chooses; Automerge allocates a vector of
//! `num_probes` entries for every change hash it tests against the filter
//! and divides by the filter's size. A filter announcing four billion
//! probes, or none of its bits, would exhaust the node's memory or panic.
//! Filters are accepted with the parameters Automerge itself uses, within
//! a small margin.

use automerge::sync::Message as SyncMessage;

/// Probes per hash a filter may announce (Automerge uses 7).
pub const BLOOM_PROBES_MAX: u64 = 32;
/// Bits per entry a filter may announce (Automerge uses 10).
pub const BLOOM_BITS_PER_ENTRY_MAX: u64 = 64;
/// `have` entries one sync message may hold (Automerge sends one).
pub const SYNC_HAVES_MAX: usize = 8;

/// Refuses a decoded sync message whose Bloom filters would make
/// Automerge allocate or divide without bound.
pub fn check_sync_message(m: &SyncMessage) -> Result<(), String> {
    if m.have.len() > SYNC_HAVES_MAX {
        return Err(format!("a sync message with {} summaries (at most {SYNC_HAVES_MAX})", m.have.len()));
    }
    for have in &m.have {
        let bytes = have.bloom.to_bytes();
        if bytes.is_empty() {
            continue; // the empty filter: Automerge tests nothing against it
        }
        let mut r = bytes.as_slice();
        let mut next = || leb128::read::unsigned(&mut r).map_err(|e| format!("a sync message's filter: {e}"));
        let (entries, bits_per_entry, probes) = (next()?, next()?, next()?);
        if entries == 0 {
            continue;
        }
        if !(1..=BLOOM_BITS_PER_ENTRY_MAX).contains(&bits_per_entry) || !(1..=BLOOM_PROBES_MAX).contains(&probes) {
            return Err(format!(
                "a sync message's filter has {bits_per_entry} bits per entry and {probes} probes \
                 (at most {BLOOM_BITS_PER_ENTRY_MAX} and {BLOOM_PROBES_MAX}, at least 1)"
            ));
        }
        if r.is_empty() {
            return Err("a sync message's filter has no bits".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A version 1 sync message with no heads, needs or changes and one
    /// `have` whose filter is `bloom`.
    fn message_with_filter(bloom: &[u8]) -> Vec<u8> {
        let mut m = vec![0x42, 0, 0, 1, 0];
        leb128::write::unsigned(&mut m, bloom.len() as u64).unwrap();
        m.extend_from_slice(bloom);
        m.push(0);
        m
    }

    fn filter(entries: u64, bits_per_entry: u64, probes: u64, bits: usize) -> Vec<u8> {
        let mut f = Vec::new();
        for v in [entries, bits_per_entry, probes] {
            leb128::write::unsigned(&mut f, v).unwrap();
        }
        f.extend(std::iter::repeat_n(0xA5, bits));
        f
    }

    fn checked(bloom: &[u8]) -> Result<(), String> {
        check_sync_message(&SyncMessage::decode(&message_with_filter(bloom)).expect("decodes"))
    }

    #[test]
    fn filters_that_would_exhaust_memory_or_divide_by_zero_are_refused() {
        // Four billion probes per hash (a 16 GiB vector for each test).
        let e = checked(&filter(1, 10, u32::MAX as u64, 2)).unwrap_err();
        assert!(e.contains("probes"), "{e}");
        // No bits per entry: Automerge would divide by a size of zero.
        assert!(checked(&filter(1, 0, 7, 0)).is_err());
        assert!(checked(&filter(3, 10, 0, 4)).is_err());
        // Automerge's own parameters, and the empty filter, pass.
        assert_eq!(checked(&filter(3, 10, 7, 4)), Ok(()));
        assert_eq!(checked(&[]), Ok(()));
    }

    #[test]
    fn a_real_sync_message_passes() {
        use automerge::sync::SyncDoc;
        use automerge::transaction::Transactable;
        let mut a = automerge::AutoCommit::new();
        a.put(automerge::ROOT, "k", 1).unwrap();
        a.commit();
        let mut b = a.fork();
        b.put(automerge::ROOT, "k", 2).unwrap();
        b.commit();
        let (mut sa, mut sb) = (automerge::sync::State::new(), automerge::sync::State::new());
        let first = a.sync().generate_sync_message(&mut sa).unwrap();
        b.sync().receive_sync_message(&mut sb, first).unwrap();
        let reply = b.sync().generate_sync_message(&mut sb).unwrap();
        let reply = SyncMessage::decode(&reply.encode()).unwrap();
        assert!(!reply.have.is_empty() && !reply.have[0].bloom.to_bytes().is_empty(), "the reply holds a filter");
        assert_eq!(check_sync_message(&reply), Ok(()));
    }
}
