//! A simulated disk for tests of durability through power loss, compiled
//! only for tests and with the `test-backend` feature.
//!
//! A SIGKILL leaves the page cache alone, so a store that never called
//! fsync survives it; a power loss does not. [`TestDisk`] is a redb
//! [`StorageBackend`] that keeps the file in memory as two layers: what the
//! last successful `sync_data` made durable, and the writes (and length
//! changes) since, which the running process reads but a power loss drops.
//! A test cuts the power at once ([`TestDisk::cut_power`]) or at the n-th
//! disk operation from now ([`TestDisk::cut_power_after`]), and opens the
//! store again on [`TestDisk::reboot`]: the durable bytes only. It can also
//! make `sync_data` fail ([`TestDisk::fail_syncs`]), as a dying disk does.
//!
//! ```
//! use motcua_store::Store;
//! use motcua_store::test_disk::{Commits, TestDisk};
//!
//! let disk = TestDisk::default();
//! let store = Store::open_on(disk.clone(), Commits::Durable).unwrap();
//! let mut w = store.begin().unwrap();
//! assert_eq!(w.next_sequence(251117, 1).unwrap(), 1);
//! w.commit_durable().unwrap();
//! disk.cut_power();
//! drop(store);
//! let store = Store::open_on(disk.reboot(), Commits::Durable).unwrap();
//! assert_eq!(store.begin().unwrap().next_sequence(251117, 1).unwrap(), 2, "the commit survived");
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use redb::{ReadableMultimapTable, StorageBackend};

use super::*;

/// How a store over a [`TestDisk`] commits what the desk must make durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Commits {
    /// `Durability::Immediate`, as [`Store::open`] always does.
    Durable,
    /// `Durability::None`: no fsync. Only for showing that the power-loss
    /// tests catch a store that acknowledges before its data is synced.
    Unsynced,
}

/// A change to the file not yet made durable.
#[derive(Debug, Clone)]
enum Pending {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

#[derive(Debug, Default)]
struct Disk {
    /// What survives a power loss.
    durable: Vec<u8>,
    /// The file as the running process sees it: `durable` with `pending`
    /// applied in order.
    live: Vec<u8>,
    /// Every change since the last successful sync, in order.
    pending: Vec<Pending>,
    /// Counts write, set_len and sync_data calls since power-on.
    operations: u64,
    /// Counts sync_data calls since power-on, failed ones included.
    syncs: u64,
    /// The power fails at this operation (it and every later call fail).
    cut_at_operation: Option<u64>,
    powered_off: bool,
    /// sync_data fails from this call on (counted as `syncs`).
    fail_syncs_from: Option<u64>,
    /// When set, a power loss keeps a random part of the unsynced changes
    /// (as a disk's write cache may have written some), drawn from this
    /// seed; otherwise it drops them all.
    keep_some_seed: Option<u64>,
}

fn apply(file: &mut Vec<u8>, change: &Pending) {
    match change {
        Pending::Write { offset, data } => {
            let start = usize::try_from(*offset).expect("a test file fits in memory");
            let end = start + data.len();
            if end > file.len() {
                file.resize(end, 0);
            }
            file[start..end].copy_from_slice(data);
        }
        Pending::SetLen(len) => file.resize(usize::try_from(*len).expect("a test file fits in memory"), 0),
    }
}

fn power_lost() -> io::Error {
    io::Error::other("simulated power loss: the disk is off")
}

impl Disk {
    /// Counts a changing call; the one at the cut point finds the power
    /// gone, and so does every call after it.
    fn operate(&mut self) -> io::Result<()> {
        if self.powered_off {
            return Err(power_lost());
        }
        self.operations += 1;
        if self.cut_at_operation.is_some_and(|at| self.operations >= at) {
            self.power_off();
            return Err(power_lost());
        }
        Ok(())
    }

    /// Every change not followed by a sync is lost, or with
    /// `keep_some_seed` only some of them, each independently.
    fn power_off(&mut self) {
        if self.powered_off {
            return;
        }
        self.powered_off = true;
        let pending = std::mem::take(&mut self.pending);
        if let Some(seed) = self.keep_some_seed {
            let mut rng = StdRng::seed_from_u64(seed);
            for change in pending.iter().filter(|_| rng.random_bool(0.5)) {
                apply(&mut self.durable, change);
            }
        }
        self.live = self.durable.clone();
    }
}

/// A simulated disk holding one redb file; clones share it.
#[derive(Debug, Clone, Default)]
pub struct TestDisk {
    disk: Arc<Mutex<Disk>>,
}

impl TestDisk {
    /// A disk whose file holds `bytes`, all durable.
    pub fn with_durable(bytes: Vec<u8>) -> TestDisk {
        let disk = Disk { live: bytes.clone(), durable: bytes, ..Disk::default() };
        TestDisk { disk: Arc::new(Mutex::new(disk)) }
    }

    fn lock(&self) -> MutexGuard<'_, Disk> {
        // A panicking test thread must not hide the disk from the checks.
        self.disk.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Cuts the power now: every write not followed by a successful sync is
    /// lost, and every later call fails.
    pub fn cut_power(&self) {
        self.lock().power_off();
    }

    /// Cuts the power at the `n`-th write, set_len or sync_data call from
    /// now (1 is the next one), which fails with every call after it.
    pub fn cut_power_after(&self, n: u64) {
        let mut d = self.lock();
        d.cut_at_operation = Some(d.operations + n.max(1));
    }

    /// Makes a later power loss keep a random part of the unsynced
    /// changes, each with even odds, drawn from `seed`, instead of none: a
    /// disk's write cache writes in its own order, and a store must not
    /// depend on which of its unsynced writes made it.
    pub fn keep_some_unsynced(&self, seed: u64) {
        self.lock().keep_some_seed = Some(seed);
    }

    pub fn is_powered_off(&self) -> bool {
        self.lock().powered_off
    }

    /// A disk holding what survived here: the durable bytes. The power must
    /// be off (a running store would otherwise still write to this one).
    pub fn reboot(&self) -> TestDisk {
        let d = self.lock();
        assert!(d.powered_off, "reboot a disk only after its power was cut");
        TestDisk::with_durable(d.durable.clone())
    }

    /// The bytes that would survive a power loss now.
    pub fn durable_bytes(&self) -> Vec<u8> {
        self.lock().durable.clone()
    }

    /// Makes every sync_data from now on fail (`true`) or succeed again.
    /// A failed sync leaves its writes volatile: the process still reads
    /// them, a power loss drops them.
    pub fn fail_syncs(&self, fail: bool) {
        let mut d = self.lock();
        d.fail_syncs_from = fail.then_some(d.syncs + 1);
    }

    /// Makes sync_data fail from the `n`-th call from now on (1 is the next).
    pub fn fail_syncs_after(&self, n: u64) {
        let mut d = self.lock();
        d.fail_syncs_from = Some(d.syncs + n.max(1));
    }

    /// sync_data calls since power-on.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// Write, set_len and sync_data calls since power-on.
    pub fn operations(&self) -> u64 {
        self.lock().operations
    }
}

impl StorageBackend for TestDisk {
    fn len(&self) -> io::Result<u64> {
        let d = self.lock();
        if d.powered_off {
            return Err(power_lost());
        }
        Ok(d.live.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let d = self.lock();
        if d.powered_off {
            return Err(power_lost());
        }
        let start = usize::try_from(offset).map_err(|_| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        let bytes = start
            .checked_add(out.len())
            .and_then(|end| d.live.get(start..end))
            .ok_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof))?;
        out.copy_from_slice(bytes);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut d = self.lock();
        d.operate()?;
        let change = Pending::SetLen(len);
        apply(&mut d.live, &change);
        d.pending.push(change);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut d = self.lock();
        d.operate()?;
        d.syncs += 1;
        if d.fail_syncs_from.is_some_and(|from| d.syncs >= from) {
            return Err(io::Error::other("simulated fsync failure"));
        }
        let pending = std::mem::take(&mut d.pending);
        for change in &pending {
            apply(&mut d.durable, change);
        }
        debug_assert_eq!(d.durable, d.live);
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut d = self.lock();
        d.operate()?;
        let change = Pending::Write { offset, data: data.to_vec() };
        apply(&mut d.live, &change);
        d.pending.push(change);
        Ok(())
    }
}

impl Store {
    /// Opens (creating when empty) a store on a simulated disk. Opening
    /// commits durably either way; `commits` sets how later durable commits
    /// go.
    pub fn open_on(disk: TestDisk, commits: Commits) -> Result<Store> {
        let mut store =
            Self::open_with(ApplicantKey::from_node_secret(&[7; 32]), |builder| builder.create_with_backend(disk))?;
        store.unsynced = commits == Commits::Unsynced;
        Ok(store)
    }

    /// redb's own check of every page and checksum.
    pub fn check_integrity(&mut self) -> Result<bool> {
        Ok(self.db.check_integrity()?)
    }

    /// Every way in which the stored dossiers and their indexes disagree,
    /// as one line each (none in a consistent store): each summary has its
    /// document, sync entry, sync offer and change-log position, and every
    /// secondary index holds exactly the entries its summaries call for.
    pub fn index_problems(&self) -> Result<Vec<String>> {
        type Rows<K> = BTreeSet<K>;
        let tx = self.read()?;
        let mut problems = Vec::new();
        let mut summaries: BTreeMap<[u8; 16], DossierSummary> = BTreeMap::new();
        for row in tx.open_table(SUMMARIES)?.iter()? {
            let (k, v) = row?;
            let s: DossierSummary = decode(v.value())?;
            if s.id != k.value() {
                problems.push(format!("summary under {} names {}", hex::encode(k.value()), hex::encode(s.id)));
            }
            summaries.insert(k.value(), s);
        }
        let ids: Rows<[u8; 16]> = summaries.keys().copied().collect();
        let keys_of = |t: TableDefinition<[u8; 16], &[u8]>| -> Result<Rows<[u8; 16]>> {
            let mut out = Rows::new();
            for row in tx.open_table(t)?.iter()? {
                out.insert(row?.0.value());
            }
            Ok(out)
        };
        for (name, t) in [("docs", DOCS), ("sync_index", SYNC_INDEX), ("sync_offers", SYNC_OFFERS)] {
            if keys_of(t)? != ids {
                problems.push(format!("{name} does not hold exactly the summarized dossiers"));
            }
        }
        let mut positions = BTreeMap::new();
        for row in tx.open_table(LOG_POSITION)?.iter()? {
            let (k, v) = row?;
            positions.insert(k.value(), v.value());
        }
        let mut log = BTreeMap::new();
        for row in tx.open_table(CHANGE_LOG)?.iter()? {
            let (k, v) = row?;
            log.insert(v.value(), k.value());
        }
        if positions.keys().copied().collect::<Rows<_>>() != ids || positions != log {
            problems.push("the change log and its positions do not match the summarized dossiers".into());
        }
        let mut expected = (Rows::new(), Rows::new(), Rows::new(), Rows::new(), Rows::new(), Rows::new());
        for s in summaries.values() {
            let k = IndexKeys::of(s, &self.key);
            expected.0.insert((k.code.to_string(), k.id));
            expected.1.insert((k.received_at, k.id));
            expected.2.insert((k.state, k.received_at, k.id));
            if let Some(d) = k.due {
                expected.3.insert((d, k.id));
            }
            expected.4.insert((k.applicant, k.id));
            for w in &k.words {
                expected.5.insert((w.clone(), k.received_at, k.id));
            }
        }
        let mut actual = (Rows::new(), Rows::new(), Rows::new(), Rows::new(), Rows::new(), Rows::new());
        for row in tx.open_table(CODES)?.iter()? {
            let (k, v) = row?;
            actual.0.insert((k.value().to_string(), v.value()));
        }
        for row in tx.open_table(BY_RECEIVED)?.iter()? {
            actual.1.insert(row?.0.value());
        }
        for row in tx.open_table(BY_STATE)?.iter()? {
            actual.2.insert(row?.0.value());
        }
        for row in tx.open_table(BY_DUE)?.iter()? {
            actual.3.insert(row?.0.value());
        }
        for row in tx.open_multimap_table(BY_APPLICANT)?.iter()? {
            let (k, ids) = row?;
            for id in ids {
                actual.4.insert((k.value(), id?.value()));
            }
        }
        for row in tx.open_table(BY_NAME)?.iter()? {
            let key = row?.0;
            let (w, at, id) = key.value();
            actual.5.insert((w.to_string(), at, id));
        }
        for (name, same) in [
            ("codes", expected.0 == actual.0),
            ("by_received", expected.1 == actual.1),
            ("by_state", expected.2 == actual.2),
            ("by_due", expected.3 == actual.3),
            ("by_applicant", expected.4 == actual.4),
            ("by_name", expected.5 == actual.5),
        ] {
            if !same {
                problems.push(format!("{name} does not hold exactly the entries of the summaries"));
            }
        }
        Ok(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sequence(store: &Store, day: u32) -> u32 {
        store.begin().unwrap().next_sequence(day, 1).unwrap() - 1
    }

    fn commit_sequence(store: &Store, day: u32) -> Result<u32> {
        let mut w = store.begin()?;
        let n = w.next_sequence(day, 1)?;
        w.commit_durable()?;
        Ok(n)
    }

    #[test]
    fn a_power_loss_keeps_what_was_synced_and_drops_the_rest() {
        let disk = TestDisk::default();
        let store = Store::open_on(disk.clone(), Commits::Durable).unwrap();
        commit_sequence(&store, 251117).unwrap();
        // Written but not synced: a lazy commit.
        let mut w = store.begin().unwrap();
        w.next_sequence(251118, 1).unwrap();
        w.commit_lazy().unwrap();
        assert_eq!(sequence(&store, 251118), 1, "the running process reads its unsynced write");
        disk.cut_power();
        assert!(commit_sequence(&store, 251119).is_err(), "nothing is written once the power is off");
        drop(store);
        let mut store = Store::open_on(disk.reboot(), Commits::Durable).unwrap();
        assert!(store.check_integrity().unwrap());
        assert_eq!(sequence(&store, 251117), 1, "the synced commit survived");
        assert_eq!(sequence(&store, 251118), 0, "the unsynced one did not");
        assert_eq!(sequence(&store, 251119), 0);
    }

    /// The counterpart: with fsync skipped, commits that returned are lost.
    #[test]
    fn unsynced_commits_are_lost_at_a_power_loss() {
        let disk = TestDisk::default();
        let store = Store::open_on(disk.clone(), Commits::Unsynced).unwrap();
        let syncs = disk.syncs();
        commit_sequence(&store, 251117).unwrap();
        assert_eq!(disk.syncs(), syncs, "no fsync");
        disk.cut_power();
        drop(store);
        let store = Store::open_on(disk.reboot(), Commits::Durable).unwrap();
        assert_eq!(sequence(&store, 251117), 0);
    }

    /// A cut at every disk operation of one commit leaves either the store
    /// before it or the store after it, and always one that opens.
    #[test]
    fn a_cut_anywhere_in_a_commit_leaves_it_whole_or_absent() {
        let probe = TestDisk::default();
        let store = Store::open_on(probe.clone(), Commits::Durable).unwrap();
        let before = probe.operations();
        commit_sequence(&store, 251117).unwrap();
        let per_commit = probe.operations() - before;
        assert!(per_commit >= 2, "a durable commit writes and syncs");
        for (cut, keep_some) in (1..=per_commit + 1).flat_map(|cut| [(cut, None), (cut, Some(cut)), (cut, Some(!cut))])
        {
            let disk = TestDisk::default();
            let store = Store::open_on(disk.clone(), Commits::Durable).unwrap();
            if let Some(seed) = keep_some {
                disk.keep_some_unsynced(seed);
            }
            disk.cut_power_after(cut);
            let acknowledged = commit_sequence(&store, 251117).is_ok();
            disk.cut_power();
            drop(store);
            let disk = disk.reboot();
            let mut store = Store::open_on(disk.clone(), Commits::Durable).unwrap();
            assert!(store.check_integrity().unwrap(), "cut at operation {cut} keeping {keep_some:?}");
            let stored = sequence(&store, 251117);
            assert!(stored <= 1, "cut at operation {cut} keeping {keep_some:?}");
            if acknowledged {
                assert_eq!(stored, 1, "cut at operation {cut} keeping {keep_some:?}: an acknowledged commit was lost");
            }
            // What the first open after the cut found stays so.
            drop(store);
            disk.cut_power();
            let store = Store::open_on(disk.reboot(), Commits::Durable).unwrap();
            assert_eq!(
                sequence(&store, 251117),
                stored,
                "cut at operation {cut} keeping {keep_some:?}: a second reboot"
            );
        }
    }

    #[test]
    fn a_failed_fsync_fails_the_commit_and_leaves_the_durable_bytes_without_it() {
        let disk = TestDisk::default();
        let store = Store::open_on(disk.clone(), Commits::Durable).unwrap();
        commit_sequence(&store, 251117).unwrap();
        let durable = disk.durable_bytes();
        disk.fail_syncs(true);
        assert!(commit_sequence(&store, 251118).is_err(), "the commit reports the failed fsync");
        assert_eq!(disk.durable_bytes(), durable, "nothing of the failed commit is durable");
        disk.fail_syncs(false);
        assert!(commit_sequence(&store, 251119).is_err(), "after a failed fsync redb refuses every write");
        disk.cut_power();
        drop(store);
        let store = Store::open_on(disk.reboot(), Commits::Durable).unwrap();
        assert_eq!((sequence(&store, 251117), sequence(&store, 251118)), (1, 0));
        assert!(store.index_problems().unwrap().is_empty());
    }

    #[test]
    fn index_problems_finds_a_dossier_missing_from_an_index() {
        let disk = TestDisk::default();
        let store = Store::open_on(disk, Commits::Durable).unwrap();
        let s = motcua_domain::fixtures::summary(7);
        let entry =
            SyncEntry { digest: [0; 16], heads: vec![], due_at: None, units: vec![], latest: vec![], recent: vec![] };
        let mut w = store.begin().unwrap();
        w.put_dossier(b"doc", &s, &entry).unwrap();
        w.commit_durable().unwrap();
        assert_eq!(store.index_problems().unwrap(), Vec::<String>::new());
        let w = store.begin().unwrap();
        w.tx.open_table(CODES).unwrap().remove(s.code.as_str()).unwrap();
        w.tx.open_table(DOCS).unwrap().remove(s.id).unwrap();
        w.commit_durable().unwrap();
        assert_eq!(
            store.index_problems().unwrap(),
            [
                "docs does not hold exactly the summarized dossiers",
                "codes does not hold exactly the entries of the summaries"
            ]
        );
    }
}
