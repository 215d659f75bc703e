use motcua_domain::workflow::Status;
use redb::ReadableMultimapTable;

use super::*;

/// A moment on the day after the test dossiers' deadlines (which fall on
/// 1970-01-01 UTC): they are overdue then.
const NEXT_DAY: i64 = 86_400_000 + 1_000;

fn summary(n: u8, name: &str, state: Status, received_at: i64) -> DossierSummary {
    DossierSummary {
        code: format!("000.00.01.H99-251117-{n:04}"),
        applicant_name: name.into(),
        applicant_id_number: format!("{:012}", n),
        receiving_unit: "99001".into(),
        holder_unit: "99001".into(),
        state,
        received_at,
        due_at: Some(received_at + 1_000),
        ..motcua_domain::fixtures::summary(n)
    }
}

fn put(store: &Store, s: &DossierSummary) {
    let mut w = store.begin().unwrap();
    w.put_dossier(
        b"doc",
        s,
        &SyncEntry {
            digest: [0; 16],
            heads: vec![],
            due_at: s.due_at,
            units: vec![s.receiving_unit.clone()],
            latest: vec![],
            recent: vec![],
        },
    )
    .unwrap();
    w.commit_durable().unwrap();
}

fn query() -> ListQuery {
    ListQuery { limit: 50, ..ListQuery::default() }
}

/// A summary stored before the digitization facts existed (postcard: the
/// same bytes without the last field's) reads with none; one stored since
/// reads them back.
#[test]
fn a_summary_stored_before_digitization_reads_with_none() {
    use motcua_domain::stats::Digitization;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb"), TEST_KEY).unwrap();
    let facts = Digitization { components_at_receipt: true, result: true };
    let new = DossierSummary { digitization: facts, ..summary(1, "Đặng Thị Mẫu", Status::Returned, 10) };
    put(&store, &new);
    assert_eq!(store.summary(&new.id).unwrap().unwrap().digitization, facts);
    let bytes = encode(&new);
    // The fields added after digitization (the rating, never accepted)
    // follow it: a summary of before ratings ends after digitization, one
    // of before digitization ends before it.
    let later = encode(&(new.rating, new.never_accepted)).len();
    let before_ratings = &bytes[..bytes.len() - later];
    let w = store.begin().unwrap();
    w.tx.open_table(SUMMARIES).unwrap().insert(&new.id, before_ratings).unwrap();
    w.commit_durable().unwrap();
    assert_eq!(store.summary(&new.id).unwrap().unwrap(), new, "read with no rating, accepted as it was");
    let old = &bytes[..bytes.len() - later - encode(&facts).len()];
    let w = store.begin().unwrap();
    w.tx.open_table(SUMMARIES).unwrap().insert(&new.id, old).unwrap();
    w.commit_durable().unwrap();
    let read = store.summary(&new.id).unwrap().unwrap();
    assert_eq!(read, DossierSummary { digitization: Digitization::default(), ..new.clone() });
    let mut all = Vec::new();
    store.for_each_summary(|s| all.push(s)).unwrap();
    assert_eq!(all, vec![read]);
}

#[test]
fn replacing_a_summary_moves_its_index_entries() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb"), TEST_KEY).unwrap();
    put(&store, &summary(1, "Đặng Thị Mẫu", Status::Accepted, 10));
    put(&store, &summary(2, "Lê Văn Thử", Status::Accepted, 20));
    put(&store, &summary(1, "Đặng Thị Mẫu", Status::InProcess, 10));
    let by_state = |s: u8| store.list(&ListQuery { state: Some(s), ..query() }).unwrap();
    assert_eq!(by_state(2).1, 1);
    assert_eq!(by_state(4).0[0].id, [1; 16]);
    assert_eq!(store.count_by_state().unwrap()[3], (4, 1));
    let (rows, total) = store.list(&query()).unwrap();
    assert_eq!(total, 2, "a replaced dossier is listed once");
    assert_eq!(rows[0].id, [2; 16], "newest first");
    let (rows, _) = store.list(&ListQuery { q: Some("dang mau".into()), ..query() }).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].state, Status::InProcess);
    assert!(store.list(&ListQuery { q: Some("nobody".into()), ..query() }).unwrap().0.is_empty());
    let (rows, _) = store.list(&ListQuery { overdue_at: Some((NEXT_DAY, 0)), ..query() }).unwrap();
    assert_eq!(rows.len(), 2);
    let (rows, _) = store.list(&ListQuery { overdue_at: Some((NEXT_DAY - 2_000, 0)), ..query() }).unwrap();
    assert!(rows.is_empty(), "later on the appointment date nothing is overdue yet");
    assert_eq!(store.open_dossiers_of(&format!("{:012}", 1), "2.000720").unwrap().len(), 1);
    assert!(store.open_dossiers_of(&format!("{:012}", 1), "1.001193").unwrap().is_empty());
}

/// Every secondary-index row of the store, as (table, rows).
fn index_rows(store: &Store) -> Vec<(&'static str, usize)> {
    let r = store.db.begin_read().unwrap();
    vec![
        ("codes", r.open_table(CODES).unwrap().len().unwrap() as usize),
        ("received", r.open_table(BY_RECEIVED).unwrap().len().unwrap() as usize),
        ("state", r.open_table(BY_STATE).unwrap().len().unwrap() as usize),
        ("due", r.open_table(BY_DUE).unwrap().len().unwrap() as usize),
        ("applicant", r.open_multimap_table(BY_APPLICANT).unwrap().len().unwrap() as usize),
        ("names", r.open_table(BY_NAME).unwrap().len().unwrap() as usize),
    ]
}

#[test]
fn an_update_keeps_unchanged_index_entries_and_leaves_no_stale_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb"), TEST_KEY).unwrap();
    let first = summary(1, "Đặng Thị Mẫu", Status::Accepted, 10);
    put(&store, &first);
    let rows = |q: ListQuery| store.list(&q).unwrap().0.into_iter().map(|r| r.id).collect::<Vec<_>>();
    // The same summary again: nothing to move.
    put(&store, &first);
    assert_eq!(
        index_rows(&store),
        [("codes", 1), ("received", 1), ("state", 1), ("due", 1), ("applicant", 1), ("names", 3)]
    );
    // One word of the name, the state, the deadline (closed: no longer
    // due), the reception time and the code all change.
    let changed = DossierSummary {
        code: "000.00.01.H99-251117-0042".into(),
        ..summary(1, "Đặng Thị Hoa", Status::Returned, 30)
    };
    put(&store, &changed);
    assert_eq!(
        index_rows(&store),
        [("codes", 1), ("received", 1), ("state", 1), ("due", 0), ("applicant", 1), ("names", 3)]
    );
    assert!(rows(ListQuery { q: Some("mau".into()), ..query() }).is_empty(), "the old word is gone");
    assert_eq!(rows(ListQuery { q: Some("dang thi hoa".into()), ..query() }), [[1; 16]]);
    assert!(rows(ListQuery { state: Some(Status::Accepted.code()), ..query() }).is_empty());
    assert_eq!(rows(ListQuery { state: Some(Status::Returned.code()), ..query() }), [[1; 16]]);
    assert!(rows(ListQuery { overdue_at: Some((NEXT_DAY, 0)), ..query() }).is_empty(), "a returned dossier is not due");
    // A corrected ID number moves the applicant entry.
    let corrected = DossierSummary { applicant_id_number: format!("{:012}", 77), ..changed.clone() };
    put(&store, &corrected);
    assert!(store.open_dossiers_of(&format!("{:012}", 1), &corrected.procedure_code).unwrap().is_empty());
    assert_eq!(index_rows(&store)[4], ("applicant", 1), "the old number's entry is gone");
    put(&store, &changed);
    // Back to open and due: the deadline entry comes back.
    put(&store, &summary(1, "Đặng Thị Hoa", Status::InProcess, 30));
    assert_eq!(rows(ListQuery { overdue_at: Some((NEXT_DAY, 0)), ..query() }), [[1; 16]]);
    // Another applicant's dossier shares the word "thi" but not the rows.
    put(&store, &summary(2, "Lê Thị Thử", Status::Accepted, 20));
    assert_eq!(rows(ListQuery { q: Some("thi".into()), ..query() }), [[1; 16], [2; 16]], "newest first");
    assert_eq!(index_rows(&store)[5], ("names", 6));
}

#[test]
fn sequences_continue_across_reopening_and_a_second_open_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    {
        let store = Store::open(&path, TEST_KEY).unwrap();
        assert!(matches!(Store::open(&path, TEST_KEY), Err(StoreError::InUse)));
        let mut w = store.begin().unwrap();
        assert_eq!(w.next_sequence(251117, 1).unwrap(), 1);
        assert_eq!(w.next_sequence(251117, 1).unwrap(), 2);
        assert_eq!(w.next_sequence(251118, 1).unwrap(), 1);
        w.commit_durable().unwrap();
        let mut w = store.begin().unwrap();
        assert_eq!(w.next_sequence(251117, 1).unwrap(), 3);
        // Not committed: the number is not used up.
        drop(w);
    }
    let store = Store::open(&path, TEST_KEY).unwrap();
    let mut w = store.begin().unwrap();
    assert_eq!(w.next_sequence(251117, 1).unwrap(), 3);
    assert_eq!(w.next_sequence(251119, 5_001).unwrap(), 5_001, "a second node's range starts elsewhere");
}

fn audited_store(dir: &std::path::Path, lines: u64) -> Store {
    let store = Store::open(&dir.join("s.redb"), TEST_KEY).unwrap();
    for i in 0..lines {
        let mut w = store.begin().unwrap();
        w.audit(i as i64, "admin", "read", "000.00.01.H99-251117-0001").unwrap();
        w.commit_durable().unwrap();
    }
    store
}

#[test]
fn an_intact_audit_chain_verifies() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(audited_store(dir.path(), 0).verify_audit().unwrap(), Ok(0));
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(audited_store(dir.path(), 4).verify_audit().unwrap(), Ok(4));
}

#[test]
fn a_deleted_an_edited_and_a_truncated_audit_line_are_caught() {
    type AuditTable<'t> = redb::Table<'t, u64, &'static [u8]>;
    let tamper = |f: &dyn Fn(&mut AuditTable<'_>)| {
        let dir = tempfile::tempdir().unwrap();
        let store = audited_store(dir.path(), 4);
        let w = store.begin().unwrap();
        {
            let mut t = w.tx.open_table(AUDIT).unwrap();
            f(&mut t);
        }
        w.commit_durable().unwrap();
        store.verify_audit().unwrap()
    };
    let deleted = tamper(&|t| {
        t.remove(2).unwrap();
    });
    assert_eq!(deleted.unwrap_err().line, 3, "the line after the gap");
    let edited = tamper(&|t| {
        let mut e: AuditEntry = decode(t.get(2).unwrap().unwrap().value()).unwrap();
        e.action = "receive".into();
        t.insert(2, encode(&e).as_slice()).unwrap();
    });
    assert_eq!(edited.unwrap_err().line, 3, "the next line no longer follows it");
    let truncated = tamper(&|t| {
        t.remove(4).unwrap();
    });
    assert!(truncated.unwrap_err().reason.contains("ends before"));
}

#[test]
fn a_round_reads_offers_filtered_by_unit_and_an_older_store_gets_them_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    {
        let store = Store::open(&path, TEST_KEY).unwrap();
        put(&store, &summary(1, "Người Thử Một", Status::Accepted, 1_000));
        let mut other = summary(2, "Người Thử Hai", Status::Accepted, 2_000);
        other.receiving_unit = "99002".into();
        put(&store, &other);
        // A unit written to look like two, one of them 99001.
        let mut forged = summary(3, "Người Thử Ba", Status::Accepted, 3_000);
        forged.receiving_unit = "99003\u{1f}99001".into();
        put(&store, &forged);
        let mine = store.sync_offers(|mut units| units.any(|u| u == "99001")).unwrap();
        assert_eq!(mine, vec![(summary(1, "", Status::Accepted, 0).id, [0; 16], Some(2_000))]);
        assert_eq!(store.sync_offers(|_| true).unwrap().len(), 3);
        // A unit beyond a u16 whose cut would split a character still
        // leaves the offers readable.
        let mut long = summary(4, "Người Thử Bốn", Status::Accepted, 4_000);
        long.receiving_unit = format!("{}é", "a".repeat(65_534));
        put(&store, &long);
        assert_eq!(store.sync_offers(|_| true).unwrap().len(), 4);
        // A format 1 store: written before `sync_offers` existed.
        let w = store.begin().unwrap();
        w.tx.delete_table(SYNC_OFFERS).unwrap();
        w.tx.open_table(SYNC_OFFERS).unwrap();
        w.tx.open_table(META).unwrap().insert("store_format", 1u32.to_le_bytes().as_slice()).unwrap();
        w.commit_durable().unwrap();
        assert!(store.sync_offers(|_| true).unwrap().is_empty());
    }
    let store = Store::open(&path, TEST_KEY).unwrap();
    assert_eq!(store.sync_offers(|_| true).unwrap().len(), 4, "rebuilt from sync_index on open");
    assert_eq!(store.meta("store_format").unwrap(), Some(STORE_FORMAT.to_le_bytes().to_vec()));
    drop(store);
    // A format this version does not know is refused.
    {
        let store = Store::open(&path, TEST_KEY).unwrap();
        let w = store.begin().unwrap();
        w.tx.open_table(META).unwrap().insert("store_format", 9u32.to_le_bytes().as_slice()).unwrap();
        w.commit_durable().unwrap();
    }
    assert!(matches!(Store::open(&path, TEST_KEY), Err(StoreError::Format(9))));
}

#[test]
fn queues_by_reception_time_and_by_coming_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb"), TEST_KEY).unwrap();
    // Due 1,000 ms after reception (see `summary`).
    put(&store, &summary(1, "Mẫu Một", Status::InProcess, 10_000));
    put(&store, &summary(2, "Mẫu Hai", Status::InProcess, 20_000));
    put(&store, &summary(3, "Mẫu Ba", Status::Returned, 30_000));
    put(
        &store,
        &DossierSummary {
            paused_since: Some(40_500), ..summary(4, "Mẫu Bốn", Status::SupplementRequested, 40_000)
        },
    );
    let ids = |q: ListQuery| store.list(&q).unwrap().0.into_iter().map(|r| r.id[0]).collect::<Vec<_>>();
    assert_eq!(ids(ListQuery { received_from: Some(20_000), ..query() }), [4, 3, 2], "from the time on, newest first");
    assert_eq!(ids(ListQuery { received_from: Some(20_001), state: Some(4), ..query() }), Vec::<u8>::new());
    // Due between 10,500 and 41,500: 1 (11,000) and 2 (21,000) are open;
    // 3 is returned and 4 is paused, so neither is coming due.
    assert_eq!(ids(ListQuery { due_between: Some((10_500, 41_500)), ..query() }), [2, 1]);
    assert_eq!(ids(ListQuery { due_between: Some((11_001, 41_500)), ..query() }), [2], "the range starts after 1's");
    assert_eq!(ids(ListQuery { due_between: Some((10_500, 21_000)), ..query() }), [1], "and ends before 2's");
    put(&store, &DossierSummary { conflicts: 1, ..summary(5, "Mẫu Năm", Status::InProcess, 50_000) });
    assert_eq!(ids(ListQuery { conflicts: true, ..query() }), [5], "only the dossier with a conflict");
    assert_eq!(store.list(&ListQuery { conflicts: true, ..query() }).unwrap().1, 1);
    assert!(ids(ListQuery { conflicts: true, state: Some(2), ..query() }).is_empty(), "filters combine");
}

#[test]
fn sync_entries_written_before_recent_writes_existed_still_read() {
    let mut entry = SyncEntry {
        digest: [3; 16],
        heads: vec![[4; 32]],
        due_at: Some(7),
        units: vec!["26734".into()],
        latest: vec![([5; 32], [4; 32])],
        recent: vec![],
    };
    // What an older node wrote: the fields without recent writes.
    let old = postcard::to_allocvec(&entry).unwrap();
    assert_eq!(encode_entry(&entry), old, "an entry without recent writes is written as before");
    assert_eq!(decode_entry(&old).unwrap(), entry);
    entry.recent = vec![RecentWrite { from: vec![[1; 32]], changes: vec![9, 9] }];
    let new = encode_entry(&entry);
    assert_eq!(decode_entry(&new).unwrap(), entry);
    // An older reader takes the fields it knows and ignores the rest.
    let mut read_as_old: SyncEntry = postcard::from_bytes(&new).unwrap();
    assert!(read_as_old.recent.is_empty());
    read_as_old.recent = entry.recent.clone();
    assert_eq!(read_as_old, entry);
    // A damaged or unknown tail reads as no recent writes; damaged fields are an error.
    let mut damaged = new.clone();
    damaged.truncate(new.len() - 1);
    entry.recent.clear();
    assert_eq!(decode_entry(&damaged).unwrap(), entry);
    let mut unknown = old.clone();
    unknown.extend([7, 1, 2, 3]);
    assert_eq!(decode_entry(&unknown).unwrap(), entry);
    assert!(matches!(decode_entry(&old[..old.len() - 3]), Err(StoreError::Corrupt(_))));
}

/// The ids of what `received_between` answered.
fn ids_of(found: Result<(Vec<DossierSummary>, bool)>) -> Result<(Vec<[u8; 16]>, bool)> {
    found.map(|(kept, more)| (kept.into_iter().map(|s| s.id).collect(), more))
}

#[test]
fn received_between_filters_before_it_counts_and_says_when_more_were_left() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb"), TEST_KEY).unwrap();
    // Dossiers 1-6 received at 10, 20, ... 60; the odd ones by another unit.
    for n in 1..=6u8 {
        let mut s = summary(n, "Người Thử", Status::Accepted, n as i64 * 10);
        if n % 2 == 1 {
            s.receiving_unit = "khac".into();
        }
        put(&store, &s);
    }
    let ours = |s: &DossierSummary| s.receiving_unit != "khac";
    let (ids, more) = ids_of(store.received_between((0, 1_000), ours, (3, 100))).unwrap();
    assert_eq!((ids, more), (vec![[2; 16], [4; 16], [6; 16]], false), "three of ours, though six in all");
    let (ids, more) = ids_of(store.received_between((0, 1_000), ours, (2, 100))).unwrap();
    assert_eq!((ids, more), (vec![[2; 16], [4; 16]], true));
    let (ids, more) = ids_of(store.received_between((0, 1_000), ours, (3, 4))).unwrap();
    assert_eq!((ids, more), (vec![[2; 16], [4; 16]], true), "four looked at, two kept, more left");
    let (ids, _) = ids_of(store.received_between((20, 60), |_| true, (10, 100))).unwrap();
    assert_eq!(ids, [[2; 16], [3; 16], [4; 16], [5; 16]], "from included, to excluded");
}

/// The applicant index's keys, as stored.
fn applicant_digests(store: &Store) -> Vec<[u8; 32]> {
    let tx = store.read().unwrap();
    let t = tx.open_multimap_table(BY_APPLICANT).unwrap();
    t.iter().unwrap().map(|row| row.unwrap().0.value()).collect()
}

/// The applicant index's digest before format 3, kept here frozen: what a
/// format 2 store holds.
fn unkeyed_digest(id_number: &str) -> [u8; 32] {
    blake3::derive_key("motcua applicant id index v1", id_number.as_bytes())
}

fn found_by_id_number(store: &Store, id_number: &str) -> usize {
    let by_search = store.list(&ListQuery { q: Some(id_number.into()), ..query() }).unwrap().0.len();
    let by_duplicates = store.open_dossiers_of(id_number, "2.000720").unwrap().len();
    assert_eq!(by_search, by_duplicates, "search and duplicate lookup agree");
    by_search
}

#[test]
fn the_applicant_index_is_keyed_per_node_and_rebuilt_for_an_older_store_or_a_new_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let number = format!("{:012}", 1);
    let (k1, k2) = (ApplicantKey::from_node_secret(&[1; 32]), ApplicantKey::from_node_secret(&[2; 32]));
    {
        let store = Store::open(&path, k1).unwrap();
        put(&store, &summary(1, "Người Thử Một", Status::Accepted, 1_000));
        assert_eq!(found_by_id_number(&store, &number), 1);
        assert_eq!(found_by_id_number(&store, &format!("{:012}", 2)), 0);
        assert_eq!(applicant_digests(&store), vec![id_number_digest(&k1.0, &number)]);
        assert_ne!(id_number_digest(&k1.0, &number), id_number_digest(&k2.0, &number), "another node, another digest");
        assert_ne!(id_number_digest(&k1.0, &number), unkeyed_digest(&number));
        // Made a format 2 store: unkeyed digests, no key named.
        let w = store.begin().unwrap();
        w.tx.delete_multimap_table(BY_APPLICANT).unwrap();
        w.tx.open_multimap_table(BY_APPLICANT)
            .unwrap()
            .insert(unkeyed_digest(&number), summary(1, "", Status::Accepted, 0).id)
            .unwrap();
        let mut meta = w.tx.open_table(META).unwrap();
        meta.remove(APPLICANT_KEY_META).unwrap();
        meta.insert("store_format", 2u32.to_le_bytes().as_slice()).unwrap();
        drop(meta);
        w.commit_durable().unwrap();
        assert_eq!(found_by_id_number(&store, &number), 0, "the old digest is not this key's");
    }
    let store = Store::open(&path, k1).unwrap();
    assert_eq!(store.meta("store_format").unwrap(), Some(STORE_FORMAT.to_le_bytes().to_vec()));
    assert_eq!(applicant_digests(&store), vec![id_number_digest(&k1.0, &number)], "rebuilt, nothing unkeyed left");
    assert_eq!(found_by_id_number(&store, &number), 1, "an upgraded store is searchable");
    drop(store);
    // The node key was rotated: the index follows it.
    let store = Store::open(&path, k2).unwrap();
    assert_eq!(applicant_digests(&store), vec![id_number_digest(&k2.0, &number)]);
    assert_eq!(found_by_id_number(&store, &number), 1);
}

#[test]
fn the_store_file_is_its_owners_alone() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.redb");
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    drop(Store::open(&path, TEST_KEY).unwrap());
    assert_eq!(mode(&path), 0o600, "created owner-only");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = Store::open(&path, TEST_KEY).unwrap();
    assert_eq!(mode(&path), 0o600, "an older store is tightened on open");
    assert!(store.meta("store_format").unwrap().is_some(), "and still opens");
}

#[test]
fn attached_files_are_indexed_by_hash_for_the_dossiers_that_keep_them() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("s.redb"), crate::TEST_KEY).unwrap();
    let (a, b) = (summary(1, "Nguyễn Văn Thử", Status::Accepted, 0), summary(2, "Trần Thị Mẫu", Status::Accepted, 0));
    let (scan, result) = ([1u8; 32], [2u8; 32]);
    put(&store, &a);
    put(&store, &b);
    assert_eq!(store.dossiers_with_attachment(&scan).unwrap(), Vec::<[u8; 16]>::new());
    let w = store.begin().unwrap();
    w.dossier_tables().unwrap().put_attachment_refs(&a.id, &[scan, result]).unwrap();
    w.dossier_tables().unwrap().put_attachment_refs(&b.id, &[scan]).unwrap();
    // Written again with each later write of the dossier: no duplicate.
    w.dossier_tables().unwrap().put_attachment_refs(&a.id, &[scan]).unwrap();
    w.commit_durable().unwrap();
    let mut both = vec![a.id, b.id];
    both.sort_unstable();
    assert_eq!(store.dossiers_with_attachment(&scan).unwrap(), both);
    assert_eq!(store.dossiers_with_attachment(&result).unwrap(), vec![a.id]);
    assert_eq!(store.dossiers_with_attachment(&[3; 32]).unwrap(), Vec::<[u8; 16]>::new());
    assert_eq!(store.attachment_hashes().unwrap(), vec![scan, result], "each hash once, in order");
}
