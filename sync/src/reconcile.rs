//! Which documents differ between two nodes: range-based set
//! reconciliation (after negentropy and iroh-docs) over items of
//! (document id, digest of the document's heads).
//!
//! The two sides exchange messages that cover the whole item space as a
//! sequence of ranges. A range whose fingerprint matches on both sides is
//! skipped; one that differs is split into buckets, down to ranges small
//! enough to list outright. An idle reconnect (identical sets) costs one
//! round trip of a few dozen bytes whatever the number of documents.
//!
//! Each side ends knowing its `have` list: its items the peer lacks. A
//! document changed on both sides is on both lists, and each side offers
//! its changes; Automerge's per-document sync does the rest.
//!
//! Pure: no clock, no IO. Every message is checked against named limits
//! before it is acted upon.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// A document as reconciliation sees it. Ordered by id, then digest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Item {
    pub id: [u8; 16],
    /// The first 16 bytes of BLAKE3 over the document's sorted heads.
    pub digest: [u8; 16],
}

impl Item {
    fn limbs(&self) -> [u64; 4] {
        let mut b = [0u8; 32];
        b[..16].copy_from_slice(&self.id);
        b[16..].copy_from_slice(&self.digest);
        std::array::from_fn(|i| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes")))
    }
}

/// The digest of a document's heads, as items carry it.
pub fn heads_digest(heads: &[[u8; 32]]) -> [u8; 16] {
    let mut sorted = heads.to_vec();
    sorted.sort_unstable();
    let mut h = blake3::Hasher::new();
    for head in &sorted {
        h.update(head);
    }
    h.finalize().as_bytes()[..16].try_into().expect("16 bytes")
}

/// Exclusive upper bound of a range; `End` lies above every item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Bound {
    /// Below every version of documents with this id and above, i.e. an
    /// item lies below it when its id is smaller. Bounds fall between
    /// documents, never between two versions of one.
    Id(BoundId),
    End,
}

impl Bound {
    fn is_above(&self, it: &Item) -> bool {
        match self {
            Bound::Id(b) => it.id < b.0,
            Bound::End => true,
        }
    }
}

/// A document id as a bound: on the wire only as many leading bytes as
/// are not zero, and a bound is chosen as short as what separates two
/// neighbouring documents (two or three bytes at 100,000 documents).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct BoundId(pub [u8; 16]);

impl BoundId {
    /// The shortest bound above `below` and at or under `at`.
    fn between(below: &[u8; 16], at: &[u8; 16]) -> BoundId {
        let j = (0..16).find(|&i| below[i] != at[i]).unwrap_or(15);
        let mut b = [0u8; 16];
        b[..=j].copy_from_slice(&at[..=j]);
        BoundId(b)
    }
}

impl Serialize for BoundId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let len = self.0.iter().rposition(|b| *b != 0).map_or(0, |i| i + 1);
        s.serialize_bytes(&self.0[..len])
    }
}

impl<'de> Deserialize<'de> for BoundId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v: Vec<u8> = Vec::deserialize(d)?;
        if v.len() > 16 {
            return Err(serde::de::Error::custom("a bound is at most 16 bytes"));
        }
        let mut b = [0u8; 16];
        b[..v.len()].copy_from_slice(&v);
        Ok(BoundId(b))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Mode {
    /// Nothing to do in this range.
    Skip,
    /// The sender's fingerprint of its items in this range.
    Fingerprint([u8; 16]),
    /// Every item the sender holds in this range.
    List(Vec<Item>),
    /// Answer to a `List`: the listed items the answering side lacks, each
    /// with whether it holds another version of that document (so the
    /// lister knows to send a delta rather than the whole document).
    Lacking(Vec<(Item, bool)>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Range {
    pub upper: Bound,
    pub mode: Mode,
}

/// A message covers the whole item space: ranges in increasing order of
/// their upper bounds, the last one ending at `End`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RangeMessage {
    pub ranges: Vec<Range>,
}

impl RangeMessage {
    /// A message that skips every range: nothing is left to reconcile.
    pub fn is_final(&self) -> bool {
        self.ranges.iter().all(|r| r.mode == Mode::Skip)
    }
}

/// Bound on ranges in one message.
pub const RANGES_MAX: usize = 16_384;
/// Bound on items listed in one message (lists and answers together).
pub const ITEMS_MAX: usize = 65_536;
/// A range with at most this many items is listed instead of split.
pub const LIST_THRESHOLD: usize = 32;
/// A differing range is split into this many buckets.
pub const BUCKETS: usize = 16;
/// Items one message lists of its own; the rest of [`ITEMS_MAX`] is left
/// for its answers to the peer's lists. Past it, small ranges go as
/// fingerprints and are listed in a later round, so a message stays within
/// its limits however much two sets differ.
const LIST_BUDGET: usize = ITEMS_MAX / 2;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReconcileError {
    #[error("the message has {0} ranges; at most {RANGES_MAX} are allowed")]
    TooManyRanges(usize),
    #[error("the message lists {0} items; at most {ITEMS_MAX} are allowed")]
    TooManyItems(usize),
    #[error("the message's ranges are not in increasing order or do not end at the end")]
    BadBounds,
    #[error("a listed item lies outside the range it is listed in")]
    ItemOutOfRange,
    #[error("an answer names an item that this side never listed")]
    UnlistedItem,
    #[error("the message is empty")]
    Empty,
}

/// The sorted items of one side, with prefix sums for O(log n) range
/// fingerprints.
#[derive(Debug, Clone)]
pub struct ItemSet {
    items: Vec<Item>,
    prefix: Vec<[u64; 4]>,
}

fn add(a: [u64; 4], b: [u64; 4]) -> [u64; 4] {
    let mut out = [0u64; 4];
    let mut carry = 0u64;
    for i in 0..4 {
        let (s1, c1) = a[i].overflowing_add(b[i]);
        let (s2, c2) = s1.overflowing_add(carry);
        out[i] = s2;
        carry = (c1 as u64) + (c2 as u64);
    }
    out
}

fn sub(a: [u64; 4], b: [u64; 4]) -> [u64; 4] {
    let mut out = [0u64; 4];
    let mut borrow = 0u64;
    for i in 0..4 {
        let (d1, b1) = a[i].overflowing_sub(b[i]);
        let (d2, b2) = d1.overflowing_sub(borrow);
        out[i] = d2;
        borrow = (b1 as u64) + (b2 as u64);
    }
    out
}

impl ItemSet {
    pub fn new(mut items: Vec<Item>) -> ItemSet {
        items.sort_unstable();
        items.dedup();
        let mut prefix = Vec::with_capacity(items.len() + 1);
        prefix.push([0; 4]);
        let mut acc = [0u64; 4];
        for it in &items {
            acc = add(acc, it.limbs());
            prefix.push(acc);
        }
        ItemSet { items, prefix }
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Index of the first item at or above `bound`.
    fn index(&self, bound: &Bound) -> usize {
        match bound {
            Bound::End => self.items.len(),
            Bound::Id(b) => self.items.partition_point(|it| it.id < b.0),
        }
    }

    /// Fingerprint of items `[from, to)`: the sum of the items modulo
    /// 2^256 and their count, hashed.
    fn fingerprint(&self, from: usize, to: usize) -> [u8; 16] {
        let sum = sub(self.prefix[to], self.prefix[from]);
        let mut h = blake3::Hasher::new();
        for limb in sum {
            h.update(&limb.to_le_bytes());
        }
        h.update(&((to - from) as u64).to_le_bytes());
        h.finalize().as_bytes()[..16].try_into().expect("16 bytes")
    }
}

/// One side of a reconciliation.
#[derive(Debug, Clone)]
pub struct Reconciler {
    set: ItemSet,
    /// This side's items the peer lacks, each with whether the peer holds
    /// another version of the same document.
    have: BTreeMap<Item, bool>,
    rounds: u32,
}

impl Reconciler {
    pub fn new(set: ItemSet) -> Reconciler {
        Reconciler { set, have: BTreeMap::new(), rounds: 0 }
    }

    /// The first message: the fingerprint of everything (or the list, for
    /// a small set).
    pub fn initiate(&self) -> RangeMessage {
        let mut out = Vec::new();
        self.describe(0, self.set.len(), Bound::End, &mut out, &mut 0);
        RangeMessage { ranges: out }
    }

    /// This side's items the peer lacks, found so far.
    pub fn have(&self) -> impl Iterator<Item = &Item> {
        self.have.keys()
    }

    /// This side's items the peer lacks, each with whether the peer holds
    /// another version of that document.
    pub fn have_with_peer_version(&self) -> impl Iterator<Item = (&Item, bool)> {
        self.have.iter().map(|(it, held)| (it, *held))
    }

    /// Messages received so far.
    pub fn rounds(&self) -> u32 {
        self.rounds
    }

    /// Describes items `[from, to)` ending at `upper`: listed when few,
    /// otherwise by fingerprint.
    fn describe(&self, from: usize, to: usize, upper: Bound, out: &mut Vec<Range>, listed: &mut usize) {
        let mode = if to - from <= LIST_THRESHOLD && *listed + (to - from) <= LIST_BUDGET {
            *listed += to - from;
            Mode::List(self.set.items[from..to].to_vec())
        } else {
            Mode::Fingerprint(self.set.fingerprint(from, to))
        };
        out.push(Range { upper, mode });
    }

    /// Splits a differing range `[from, to)` ending at `upper` into buckets.
    fn split(&self, from: usize, to: usize, upper: Bound, out: &mut Vec<Range>, listed: &mut usize, reserve: usize) {
        let n = to - from;
        // Near the range limit a differing range goes whole, as a
        // fingerprint: the peer splits it in a later round.
        if n <= LIST_THRESHOLD || out.len() + BUCKETS + reserve > RANGES_MAX {
            self.describe(from, to, upper, out, listed);
            return;
        }
        let per = n.div_ceil(BUCKETS);
        let mut start = from;
        while start < to {
            let end = (start + per).min(to);
            // Bounds fall between documents (ids), so every version of a
            // document lies in the same range on both sides.
            let bound = if end == to {
                upper
            } else {
                Bound::Id(BoundId::between(&self.set.items[end - 1].id, &self.set.items[end].id))
            };
            self.describe(start, end, bound, out, listed);
            start = end;
        }
    }

    fn check(msg: &RangeMessage) -> Result<(), ReconcileError> {
        if msg.ranges.is_empty() {
            return Err(ReconcileError::Empty);
        }
        if msg.ranges.len() > RANGES_MAX {
            return Err(ReconcileError::TooManyRanges(msg.ranges.len()));
        }
        let items: usize = msg
            .ranges
            .iter()
            .map(|r| match &r.mode {
                Mode::List(v) => v.len(),
                Mode::Lacking(v) => v.len(),
                _ => 0,
            })
            .sum();
        if items > ITEMS_MAX {
            return Err(ReconcileError::TooManyItems(items));
        }
        let ordered = msg.ranges.windows(2).all(|w| w[0].upper < w[1].upper);
        if !ordered || msg.ranges.last().map(|r| r.upper) != Some(Bound::End) {
            return Err(ReconcileError::BadBounds);
        }
        Ok(())
    }

    /// Takes the peer's message and returns the answer. An answer that
    /// skips everything is final: the peer answers it with nothing
    /// (`None`), and both sides are done. Refuses a malformed message
    /// whole, before changing anything.
    pub fn receive(&mut self, msg: &RangeMessage) -> Result<Option<RangeMessage>, ReconcileError> {
        Self::check(msg)?;
        if msg.is_final() {
            self.rounds += 1;
            return Ok(None);
        }
        let mut out = Vec::new();
        let mut found = Vec::new();
        let mut listed = 0;
        let mut lower: Option<[u8; 16]> = None;
        let mut from = 0;
        for (i, r) in msg.ranges.iter().enumerate() {
            // Ranges still to answer, one output range each at least.
            let reserve = msg.ranges.len() - i - 1;
            let to = self.set.index(&r.upper);
            let in_range = |it: &Item| lower.is_none_or(|l| it.id >= l) && r.upper.is_above(it);
            match &r.mode {
                Mode::Skip => out.push(Range { upper: r.upper, mode: Mode::Skip }),
                Mode::Fingerprint(fp) => {
                    if *fp == self.set.fingerprint(from, to) {
                        out.push(Range { upper: r.upper, mode: Mode::Skip });
                    } else {
                        self.split(from, to, r.upper, &mut out, &mut listed, reserve);
                    }
                }
                Mode::List(theirs) => {
                    if !theirs.iter().all(in_range) {
                        return Err(ReconcileError::ItemOutOfRange);
                    }
                    let their_ids: BTreeSet<[u8; 16]> = theirs.iter().map(|it| it.id).collect();
                    let theirs: BTreeSet<&Item> = theirs.iter().collect();
                    let mine = &self.set.items[from..to];
                    let my_ids: BTreeSet<[u8; 16]> = mine.iter().map(|it| it.id).collect();
                    found.extend(
                        mine.iter().filter(|it| !theirs.contains(it)).map(|it| (*it, their_ids.contains(&it.id))),
                    );
                    let lacking: Vec<(Item, bool)> = theirs
                        .iter()
                        .filter(|it| mine.binary_search(it).is_err())
                        .map(|it| (**it, my_ids.contains(&it.id)))
                        .collect();
                    out.push(Range { upper: r.upper, mode: Mode::Lacking(lacking) });
                }
                Mode::Lacking(items) => {
                    // Only items this side listed in that range, i.e. holds.
                    let mine = &self.set.items[from..to];
                    if !items.iter().all(|(it, _)| in_range(it) && mine.binary_search(it).is_ok()) {
                        return Err(ReconcileError::UnlistedItem);
                    }
                    found.extend(items.iter().copied());
                    out.push(Range { upper: r.upper, mode: Mode::Skip });
                }
            }
            from = to;
            lower = match r.upper {
                Bound::Id(b) => Some(b.0),
                Bound::End => None,
            };
        }
        self.rounds += 1;
        self.have.extend(found);
        // Join neighbouring skips: they cost bytes and say nothing.
        let mut ranges: Vec<Range> = Vec::with_capacity(out.len());
        for r in out {
            match ranges.last_mut() {
                Some(last) if last.mode == Mode::Skip && r.mode == Mode::Skip => last.upper = r.upper,
                _ => ranges.push(r),
            }
        }
        Ok(Some(RangeMessage { ranges }))
    }
}

#[cfg(test)]
mod tests;
