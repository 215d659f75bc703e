use proptest::prelude::*;

use super::*;

fn item(n: u32, version: u8) -> Item {
    let id = *blake3::hash(&n.to_le_bytes()).as_bytes();
    Item { id: id[..16].try_into().unwrap(), digest: [version; 16] }
}

/// Runs a reconciliation to its end; returns (a's have, b's have, messages, bytes).
fn run(a: Vec<Item>, b: Vec<Item>) -> (BTreeSet<Item>, BTreeSet<Item>, usize, usize) {
    let (ra, rb, messages, bytes) = run_full(a, b);
    (ra.have().copied().collect(), rb.have().copied().collect(), messages, bytes)
}

fn run_full(a: Vec<Item>, b: Vec<Item>) -> (Reconciler, Reconciler, usize, usize) {
    let mut ra = Reconciler::new(ItemSet::new(a));
    let mut rb = Reconciler::new(ItemSet::new(b));
    let mut msg = ra.initiate();
    let (mut messages, mut bytes) = (1, postcard::to_allocvec(&msg).unwrap().len());
    let mut turn_b = true;
    loop {
        let side = if turn_b { &mut rb } else { &mut ra };
        match side.receive(&msg).unwrap() {
            Some(next) => {
                messages += 1;
                bytes += postcard::to_allocvec(&next).unwrap().len();
                msg = next;
                turn_b = !turn_b;
            }
            None => break,
        }
        assert!(messages < 200, "reconciliation must end");
    }
    (ra, rb, messages, bytes)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn each_side_finds_exactly_its_items_the_other_lacks(
        shared in 0u32..3000,
        only_a in proptest::collection::btree_set(0u32..100_000, 0..200),
        only_b in proptest::collection::btree_set(0u32..100_000, 0..200),
        changed in proptest::collection::btree_set(0u32..3000, 0..50),
    ) {
        let mut a: Vec<Item> = (0..shared).map(|n| item(n, 0)).collect();
        let mut b = a.clone();
        a.extend(only_a.iter().map(|n| item(n + 1_000_000, 1)));
        b.extend(only_b.iter().map(|n| item(n + 2_000_000, 2)));
        for n in changed.iter().filter(|n| **n < shared) {
            b.retain(|it| *it != item(*n, 0));
            b.push(item(*n, 9));
        }
        let set_a: BTreeSet<Item> = a.iter().copied().collect();
        let set_b: BTreeSet<Item> = b.iter().copied().collect();
        let (ra, rb, _, _) = run_full(a, b);
        let have_a: BTreeSet<Item> = ra.have().copied().collect();
        let have_b: BTreeSet<Item> = rb.have().copied().collect();
        prop_assert_eq!(have_a, set_a.difference(&set_b).copied().collect::<BTreeSet<_>>());
        prop_assert_eq!(have_b, set_b.difference(&set_a).copied().collect::<BTreeSet<_>>());
        // Each side also learns whether the peer holds another version of
        // the document (delta) or none at all (whole document).
        let ids = |s: &BTreeSet<Item>| s.iter().map(|it| it.id).collect::<BTreeSet<_>>();
        let (ids_a, ids_b) = (ids(&set_a), ids(&set_b));
        for (it, held) in ra.have_with_peer_version() {
            prop_assert_eq!(held, ids_b.contains(&it.id));
        }
        for (it, held) in rb.have_with_peer_version() {
            prop_assert_eq!(held, ids_a.contains(&it.id));
        }
    }
}

#[test]
fn an_idle_reconnect_costs_one_round_trip_of_a_few_bytes_at_100_000_documents() {
    let items: Vec<Item> = (0..100_000).map(|n| item(n, 0)).collect();
    let (have_a, have_b, messages, bytes) = run(items.clone(), items);
    assert!(have_a.is_empty() && have_b.is_empty());
    assert_eq!(messages, 2, "fingerprint, then the final skip");
    assert!(bytes < 64, "{bytes} bytes");
}

#[test]
fn a_fresh_peer_learns_everything_is_missing_in_one_round_trip() {
    let items: Vec<Item> = (0..10_000).map(|n| item(n, 0)).collect();
    let (have_a, have_b, messages, _) = run(items.clone(), Vec::new());
    assert_eq!(have_a.len(), 10_000);
    assert!(have_b.is_empty());
    // Fingerprint; the empty side's (empty) list, after which the full side
    // knows everything it must send; the empty answer; the final skip.
    assert_eq!(messages, 4);
}

#[test]
fn malformed_messages_are_refused_whole() {
    let mut r = Reconciler::new(ItemSet::new((0..100).map(|n| item(n, 0)).collect()));
    let end = |mode| Range { upper: Bound::End, mode };
    assert_eq!(r.receive(&RangeMessage { ranges: vec![] }), Err(ReconcileError::Empty));
    let unordered = RangeMessage {
        ranges: vec![
            Range { upper: Bound::Id(BoundId(item(5, 0).id)), mode: Mode::Skip },
            Range { upper: Bound::Id(BoundId(item(5, 0).id)), mode: Mode::Skip },
            end(Mode::Skip),
        ],
    };
    assert_eq!(r.receive(&unordered), Err(ReconcileError::BadBounds));
    let open = RangeMessage { ranges: vec![Range { upper: Bound::Id(BoundId(item(5, 0).id)), mode: Mode::Skip }] };
    assert_eq!(r.receive(&open), Err(ReconcileError::BadBounds));
    let many = RangeMessage { ranges: vec![end(Mode::List((0..ITEMS_MAX as u32 + 1).map(|n| item(n, 1)).collect()))] };
    assert_eq!(r.receive(&many), Err(ReconcileError::TooManyItems(ITEMS_MAX + 1)));
    // An item listed in a range it does not belong to.
    let low = item(1, 0).min(item(2, 0));
    let misplaced = RangeMessage {
        ranges: vec![
            Range { upper: Bound::Id(BoundId(low.id)), mode: Mode::List(vec![item(1, 0).max(item(2, 0))]) },
            end(Mode::Skip),
        ],
    };
    assert_eq!(r.receive(&misplaced), Err(ReconcileError::ItemOutOfRange));
    // An answer claiming this side lacks an item it never listed.
    let unlisted = RangeMessage { ranges: vec![end(Mode::Lacking(vec![(item(999_999, 3), false)]))] };
    assert_eq!(r.receive(&unlisted), Err(ReconcileError::UnlistedItem));
    assert_eq!(r.have().count(), 0, "nothing changed");
    assert_eq!(r.rounds(), 0);
}

#[test]
fn sets_that_differ_everywhere_stay_within_the_message_limits() {
    // 110,000 against 100,000 with every tenth item changed: a deep round
    // would list every item at once; budgets spread it over rounds.
    let a: Vec<Item> = (0..110_000).map(|n| item(n, if n % 10 == 0 { 1 } else { 0 })).collect();
    let b: Vec<Item> = (0..100_000).map(|n| item(n, 0)).collect();
    let set_a: BTreeSet<Item> = a.iter().copied().collect();
    let set_b: BTreeSet<Item> = b.iter().copied().collect();
    let (have_a, have_b, messages, _) = run(a, b);
    assert_eq!(have_a, set_a.difference(&set_b).copied().collect::<BTreeSet<_>>());
    assert_eq!(have_b, set_b.difference(&set_a).copied().collect::<BTreeSet<_>>());
    assert!(messages < 40, "{messages} messages");
}
