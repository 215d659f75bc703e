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
//!
//! Automerge's storage format may deflate a document's columns, or a whole
//! change, and Automerge inflates them without bound: 4 MiB of deflated
//! zeros become 4 GiB. Documents and changes from peers are walked chunk
//! by chunk first ([`check_inflated_size`]), each deflated part inflated
//! into nothing with a budget, and refused beyond it.

use std::io::Read;

use automerge::sync::Message as SyncMessage;

/// What the deflated parts of one document or set of changes may inflate
/// to, together (a dossier is a few KB; the largest allowed document is
/// 4 MiB as sent).
pub const INFLATED_BYTES_MAX: u64 = 16 << 20;

const MAGIC: [u8; 4] = [0x85, 0x6f, 0x4a, 0x83];
const DOCUMENT: u8 = 0;
const CHANGE: u8 = 1;
const COMPRESSED_CHANGE: u8 = 2;
/// A column specification's deflate bit.
const DEFLATE: u32 = 0b1000;

/// A cursor over bytes from a peer; every read is checked.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: u64) -> Result<&'a [u8], String> {
        let n = usize::try_from(n).ok().filter(|n| *n <= self.0.len()).ok_or("truncated Automerge data")?;
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn uleb(&mut self) -> Result<u64, String> {
        leb128::read::unsigned(&mut self.0).map_err(|e| format!("Automerge data: {e}"))
    }
    /// A count of items, each at least one byte: never more than remain.
    fn count(&mut self) -> Result<u64, String> {
        let n = self.uleb()?;
        if n > self.0.len() as u64 {
            return Err("Automerge data counts more items than it holds".into());
        }
        Ok(n)
    }
    /// `count` items of `len`-prefixed bytes (actor ids).
    fn skip_prefixed(&mut self) -> Result<(), String> {
        for _ in 0..self.count()? {
            let len = self.uleb()?;
            self.take(len)?;
        }
        Ok(())
    }
    /// Column metadata: (specification, length) pairs.
    fn columns(&mut self) -> Result<Vec<(u32, u64)>, String> {
        let mut columns = Vec::new();
        for _ in 0..self.count()? {
            let spec = u32::try_from(self.uleb()?).map_err(|_| "a column specification beyond 32 bits")?;
            columns.push((spec, self.uleb()?));
        }
        Ok(columns)
    }
}

/// Inflates `deflated` into nothing, spending `budget`; refuses once it
/// would pass it.
fn inflate_within(deflated: &[u8], budget: &mut u64) -> Result<(), String> {
    let mut limited = flate2::read::DeflateDecoder::new(deflated).take(*budget + 1);
    let n = std::io::copy(&mut limited, &mut std::io::sink()).map_err(|e| format!("bad deflated data: {e}"))?;
    if n > *budget {
        return Err(format!("deflated data inflating beyond {INFLATED_BYTES_MAX} bytes"));
    }
    *budget -= n;
    Ok(())
}

/// Refuses a saved document or a run of changes (Automerge's storage
/// format) whose deflated parts would inflate beyond
/// [`INFLATED_BYTES_MAX`], before Automerge inflates them. Chunks it does
/// not know (bundles) are refused: no node sends them.
pub fn check_inflated_size(bytes: &[u8]) -> Result<(), String> {
    check_inflated_sizes([bytes])
}

/// [`check_inflated_size`] for parts Automerge takes together (the
/// changes of one sync message): one budget for all of them.
pub fn check_inflated_sizes<'a>(parts: impl IntoIterator<Item = &'a [u8]>) -> Result<(), String> {
    let mut budget = INFLATED_BYTES_MAX;
    for part in parts {
        walk(part, &mut budget)?;
    }
    Ok(())
}

fn walk(bytes: &[u8], budget: &mut u64) -> Result<(), String> {
    let mut rest = Bytes(bytes);
    while !rest.0.is_empty() {
        if rest.take(4)? != MAGIC {
            // Automerge stops at what is not a chunk (and refuses it).
            return Ok(());
        }
        rest.take(4)?; // checksum
        let kind = rest.take(1)?[0];
        let len = rest.uleb()?;
        let data = rest.take(len)?;
        match kind {
            DOCUMENT => {
                let mut d = Bytes(data);
                d.skip_prefixed()?; // actors
                let heads = d.count()?;
                d.take(heads.checked_mul(32).ok_or("too many heads")?)?;
                let changes = d.columns()?;
                let ops = d.columns()?;
                for (spec, len) in changes.into_iter().chain(ops) {
                    let column = d.take(len)?;
                    if spec & DEFLATE != 0 {
                        inflate_within(column, budget)?;
                    }
                }
            }
            CHANGE => {} // Automerge refuses deflated columns in a change
            COMPRESSED_CHANGE => inflate_within(data, budget)?,
            other => return Err(format!("an Automerge chunk of type {other}, which no node sends")),
        }
    }
    Ok(())
}

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

    fn a_document(fill: usize) -> automerge::AutoCommit {
        use automerge::transaction::Transactable;
        let mut d = automerge::AutoCommit::new();
        d.put(automerge::ROOT, "text", "0".repeat(fill)).unwrap();
        d.commit();
        d
    }

    #[test]
    fn documents_and_changes_as_nodes_save_them_pass() {
        let mut d = a_document(10_000);
        assert_eq!(check_inflated_size(&d.save_nocompress()), Ok(()));
        let deflated = d.save();
        assert!(deflated.len() < 5_000, "columns were deflated: {} bytes", deflated.len());
        assert_eq!(check_inflated_size(&deflated), Ok(()));
        let changes: Vec<u8> = d.get_changes(&[]).iter().flat_map(|c| c.raw_bytes().to_vec()).collect();
        assert_eq!(check_inflated_size(&changes), Ok(()));
        assert_eq!(check_inflated_size(&[]), Ok(()));
    }

    #[test]
    fn deflated_parts_inflating_beyond_the_budget_are_refused() {
        // A document whose one string deflates a thousandfold: 17 MiB of
        // zeros in a few KiB.
        let mut d = a_document(17 << 20);
        let bomb = d.save();
        assert!(bomb.len() < 200_000, "{} bytes", bomb.len());
        let e = check_inflated_size(&bomb).unwrap_err();
        assert!(e.contains("inflating beyond"), "{e}");
        // Parts taken together share one budget: two documents of 9 MiB
        // each pass alone, not together.
        let half = a_document(9 << 20).save();
        assert_eq!(check_inflated_size(&half), Ok(()));
        assert!(check_inflated_sizes([half.as_slice(), half.as_slice()]).is_err());
        // Truncated or lying lengths are refused, not followed.
        assert!(check_inflated_size(&bomb[..bomb.len() / 2]).is_err());
        let mut unknown = bomb.clone();
        unknown[8] = 3;
        assert!(check_inflated_size(&unknown).unwrap_err().contains("type 3"));
    }

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
