//! The node's store: one redb file holding dossier documents, their
//! attestations, the indexes that lists and searches use, the daily code
//! sequences, officer accounts, the catalog and the audit log.
//!
//! Every desk action is one write transaction committed with
//! `Durability::Immediate` and two-phase commit before the caller is told
//! it succeeded. Documents stay on disk and are loaded one at a time; lists
//! and statistics read only the compact summaries.

use std::cell::Cell;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use motcua_domain::codes::{fold_text, id_number_digest};
use motcua_domain::stats::DossierSummary;
use motcua_sync::attest::Attestation;
use motcua_sync::recent::RecentWrite;
use redb::{
    Database, Durability, MultimapTableDefinition, ReadTransaction, ReadableDatabase, ReadableMultimapTable,
    ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction,
};
use serde::{Deserialize, Serialize, de::DeserializeOwned};

/// id → saved Automerge document.
const DOCS: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("docs");
/// id → postcard `DossierSummary`.
const SUMMARIES: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("summaries");
/// change hash → 96-byte attestation (signer, signature).
const ATTESTATIONS: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("attestations");
/// dossier code → id.
const CODES: TableDefinition<&str, [u8; 16]> = TableDefinition::new("codes");
/// (received_at, id): every dossier, newest last.
const BY_RECEIVED: TableDefinition<(i64, [u8; 16]), ()> = TableDefinition::new("by_received");
/// (state, received_at, id).
const BY_STATE: TableDefinition<(u8, i64, [u8; 16]), ()> = TableDefinition::new("by_state");
/// (due_at, id) of open dossiers whose clock runs.
const BY_DUE: TableDefinition<(i64, [u8; 16]), ()> = TableDefinition::new("by_due");
/// digest of applicant id number → ids.
const BY_APPLICANT: MultimapTableDefinition<[u8; 32], [u8; 16]> = MultimapTableDefinition::new("by_applicant");
/// BLAKE3 of an attached file → ids of the dossiers whose documents record
/// it (`motcua_domain::attachment`): who may be sent the file. Insert-only,
/// as a document's attach events are; added without a format change (a
/// node of an earlier version refuses attach events, so its store holds
/// none to index).
const ATTACHMENT_REFS: MultimapTableDefinition<[u8; 32], [u8; 16]> = MultimapTableDefinition::new("attachment_refs");
/// (folded name word, received_at, id).
const BY_NAME: TableDefinition<(&str, i64, [u8; 16]), ()> = TableDefinition::new("by_name");
/// local date as YYMMDD → last sequence number issued that day.
const SEQUENCES: TableDefinition<u32, u32> = TableDefinition::new("sequences");
/// username → postcard account.
const ACCOUNTS: TableDefinition<&str, &[u8]> = TableDefinition::new("accounts");
/// username → when the account was disabled.
const DISABLED: TableDefinition<&str, i64> = TableDefinition::new("disabled_accounts");
/// sequence → postcard audit entry.
const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");
/// Guidance records (hồ sơ hướng dẫn, forms 02 and 03 at the counter) by
/// their number; the value is the desk's record (postcard). This node's
/// own counter records: never synced.
const GUIDANCE: TableDefinition<&str, &[u8]> = TableDefinition::new("guidance");
/// The last guidance number this node issued in a year.
const GUIDANCE_SEQUENCES: TableDefinition<u32, u32> = TableDefinition::new("guidance_sequences");
/// name → value (format version, catalog).
/// Node certificates this node has seen (its own, the old units' of a
/// merge, and with sync its peers'): node key → signed certificate (JSON).
const CERTIFICATES: TableDefinition<[u8; 32], &[u8]> = TableDefinition::new("certificates");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
/// Sync index: document id → [`SyncEntry`] (postcard), read to build the
/// set of documents offered to a peer without loading any document.
const SYNC_INDEX: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("sync_index");
/// Persisted Automerge sync state per (peer key, document id).
/// What a reconciliation round reads of every document, kept apart from
/// `sync_index` so that a round scans small fixed records:
/// id → heads digest (16 bytes), legal deadline (i64, little-endian,
/// `i64::MIN` for none), then each participant unit as its length (u16,
/// little-endian) and its UTF-8 bytes (units are whatever the dossier's
/// writers put there: no separator can be trusted not to occur in one).
const SYNC_OFFERS: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("sync_offers");
const SYNC_STATES: TableDefinition<([u8; 32], [u8; 16]), &[u8]> = TableDefinition::new("sync_states");
/// Heads digest at which a province node is known to hold each document.
const PROVINCE_HELD: TableDefinition<[u8; 16], [u8; 16]> = TableDefinition::new("province_held");
/// Change log: position → document, one entry per document (its latest
/// change), and document → its position.
const CHANGE_LOG: TableDefinition<u64, [u8; 16]> = TableDefinition::new("change_log");
const LOG_POSITION: TableDefinition<[u8; 16], u64> = TableDefinition::new("log_position");
/// Per peer: the log position up to which it holds what this node offered.
const CHECKPOINTS: TableDefinition<[u8; 32], u64> = TableDefinition::new("checkpoints");
/// Proven forks (`motcua_sync::fork`): dossier id (16 bytes) followed by
/// the node key → postcard [`ForkRecord`], one per node and dossier. Read into the trust at start, so
/// that the actor stays quarantined in that dossier.
const FORKS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("forks");
/// Why peers refused this node's version of a dossier: id → postcard
/// `Vec<PeerRefusal>`, newest last, at most [`PEER_REFUSALS_MAX`]; a peer's
/// entry goes once it holds the dossier.
const PEER_REFUSALS: TableDefinition<[u8; 16], &[u8]> = TableDefinition::new("peer_refusals");
/// Refusals kept per dossier (one per peer).
pub const PEER_REFUSALS_MAX: usize = 8;
/// Longest refusal reason kept.
const REFUSAL_CHARS_MAX: usize = 512;

/// A proven fork as stored: dossier id, node key, record.
pub type StoredFork = ([u8; 16], Vec<u8>, ForkRecord);

/// A fork proven on arrival: which node, from which peer, when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForkRecord {
    pub node_key: [u8; 32],
    pub seq: u64,
    pub held: [u8; 32],
    pub other: [u8; 32],
    /// The peer that brought the other change.
    pub peer: [u8; 32],
    pub at: i64,
}

/// A peer's refusal of this node's version of a dossier.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PeerRefusal {
    pub peer: [u8; 32],
    pub reason: String,
    pub at: i64,
}

/// redb's page cache. Its default (1 GiB) would let a node with 100,000
/// dossiers grow past 450 MiB resident; the OS page cache still holds hot
/// pages beyond this. 32 MiB keeps a node receiving its first 10,000
/// dossiers by sync under 100 MB resident (BENCHMARKS.md).
pub const CACHE_BYTES: usize = 32 * 1024 * 1024;

/// On-disk format version of this store. Format 2 added `sync_offers`;
/// format 3 keys the applicant index with the node's [`ApplicantKey`]. An
/// older store is brought to 3 on open (and an older binary then refuses
/// it, rather than writing dossiers without their offers or with unkeyed
/// digests).
pub const STORE_FORMAT: u32 = 3;
/// Meta key naming the [`ApplicantKey`] the applicant index is built under
/// (its [`ApplicantKey::check`]).
const APPLICANT_KEY_META: &str = "applicant_key_check";
/// Bound on rows one list call returns.
pub const LIST_LIMIT_MAX: usize = 500;
/// Bound on candidates a name search examines.
pub const SEARCH_CANDIDATES_MAX: usize = 20_000;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("the data directory is already in use by another motcua process")]
    InUse,
    #[error("store file: {0}")]
    Database(#[from] redb::DatabaseError),
    #[error("store: {0}")]
    Storage(#[from] redb::StorageError),
    #[error("store: {0}")]
    Table(#[from] redb::TableError),
    #[error("store: {0}")]
    Transaction(#[from] redb::TransactionError),
    #[error("store: {0}")]
    Commit(#[from] redb::CommitError),
    #[error("store: {0}")]
    Durability(#[from] redb::SetDurabilityError),
    #[error("store record is corrupt: {0}")]
    Corrupt(String),
    #[error("store format {0} is not readable by this version (reads {STORE_FORMAT})")]
    Format(u32),
    #[error("store file: {0}")]
    File(#[from] std::io::Error),
}

/// The key of the applicant index's digests
/// ([`motcua_domain::codes::id_number_digest`]), derived from the node's
/// secret key: a copy of the store without the node key cannot be searched
/// by identity number, nor its index tested against candidate numbers.
#[derive(Clone, Copy)]
pub struct ApplicantKey([u8; 32]);

impl ApplicantKey {
    pub fn from_node_secret(secret: &[u8; 32]) -> ApplicantKey {
        ApplicantKey(blake3::derive_key("motcua 2026 applicant id index key v1", secret))
    }

    fn digest(&self, id_number: &str) -> [u8; 32] {
        id_number_digest(&self.0, id_number)
    }

    /// Names the key without revealing it, so that a store opened under
    /// another key (the node key was rotated) rebuilds its index.
    fn check(&self) -> [u8; 32] {
        *blake3::keyed_hash(&self.0, b"motcua applicant index key check").as_bytes()
    }
}

/// A fixed key for unit tests.
#[cfg(test)]
pub(crate) const TEST_KEY: ApplicantKey = ApplicantKey([7; 32]);

impl std::fmt::Debug for ApplicantKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApplicantKey(..)")
    }
}

/// Opens (or creates) the store file readable and writable by its owner
/// only: it holds citizens' names and identity numbers. A file found
/// readable by others is tightened, with a warning.
fn open_private_file(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let file =
        std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(false).mode(0o600).open(path)?;
    let mode = file.metadata()?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        tracing::warn!(path = %path.display(), mode = format!("{mode:o}"), "the store file was open to other users: made owner-only (0600)");
    }
    Ok(file)
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_allocvec(v).expect("serializing to memory cannot fail")
}

/// Open, not paused, its result not ready yet, and due in `[from, to)`:
/// what the due-soon queue lists and the fleet view counts as at risk.
fn coming_due(s: &DossierSummary, from: i64, to: i64) -> bool {
    s.is_open()
        && s.paused_since.is_none()
        && s.state != motcua_domain::workflow::Status::ResultReady
        && s.due_at.is_some_and(|d| from <= d && d < to)
}

fn encode_offer(e: &SyncEntry) -> Vec<u8> {
    let mut v = Vec::with_capacity(24 + e.units.iter().map(|u| u.len() + 2).sum::<usize>());
    v.extend_from_slice(&e.digest);
    v.extend_from_slice(&e.due_at.unwrap_or(i64::MIN).to_le_bytes());
    for u in &e.units {
        // A unit longer than a u16 cannot be any node's (admission takes
        // unit codes of 32 characters at most): it is cut at a character
        // boundary, so that it still decodes, and matches none.
        let mut end = u.len().min(u16::MAX as usize);
        while !u.is_char_boundary(end) {
            end -= 1;
        }
        let bytes = &u.as_bytes()[..end];
        v.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
        v.extend_from_slice(bytes);
    }
    v
}

fn decode_offer(v: &[u8]) -> Option<([u8; 16], Option<i64>, OfferUnits<'_>)> {
    let digest: [u8; 16] = v.get(..16)?.try_into().ok()?;
    let due = i64::from_le_bytes(v.get(16..24)?.try_into().ok()?);
    Some((digest, (due != i64::MIN).then_some(due), OfferUnits { rest: v.get(24..)?, broken: false }))
}

/// The participant units of a sync offer, as stored.
#[derive(Clone)]
pub struct OfferUnits<'a> {
    rest: &'a [u8],
    broken: bool,
}

impl OfferUnits<'_> {
    fn all_valid(mut self) -> bool {
        while self.next().is_some() {}
        !self.broken
    }
}

impl<'a> Iterator for OfferUnits<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.rest.is_empty() || self.broken {
            return None;
        }
        let parsed = (|| {
            let len = u16::from_le_bytes(self.rest.get(..2)?.try_into().ok()?) as usize;
            let unit = std::str::from_utf8(self.rest.get(2..2 + len)?).ok()?;
            Some((unit, 2 + len))
        })();
        match parsed {
            Some((unit, used)) => {
                self.rest = &self.rest[used..];
                Some(unit)
            }
            None => {
                self.broken = true;
                None
            }
        }
    }
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    postcard::from_bytes(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Filters of a dossier list.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub state: Option<u8>,
    pub q: Option<String>,
    /// `Some((now, utc_offset_minutes))` keeps only dossiers overdue at
    /// `now`, judged by local dates at that offset.
    pub overdue_at: Option<(i64, i32)>,
    /// Keeps only dossiers received at or after this time (UTC ms).
    pub received_from: Option<i64>,
    /// Keeps only open, unpaused dossiers whose result is not ready yet,
    /// due in `[from, to)` (UTC ms).
    pub due_between: Option<(i64, i64)>,
    /// Keeps only dossiers with conflicts to resolve (read from every
    /// summary: conflicts are rare and have no index).
    pub conflicts: bool,
    pub unit: Option<String>,
    pub limit: usize,
    pub offset: usize,
}

pub struct Store {
    db: Database,
    /// Whether opening it had to check the file (the last process using it
    /// did not close it).
    repaired: bool,
    /// Test builds only (`test_disk::Commits::Unsynced`): durable commits
    /// skip the fsync, so a test can show that power loss then loses
    /// acknowledged writes.
    #[cfg(any(test, feature = "test-backend"))]
    unsynced: bool,
    key: ApplicantKey,
}

/// What sync needs to know of a dossier without loading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncEntry {
    /// Digest of the document's heads (`motcua_sync::reconcile::heads_digest`).
    pub digest: [u8; 16],
    /// The heads themselves.
    pub heads: Vec<[u8; 32]>,
    /// Legal deadline, for deadline-first sending.
    pub due_at: Option<i64>,
    /// Participant units, for routing.
    pub units: Vec<String>,
    /// Each actor (node key) and the hash of its latest change: whose
    /// certificates and which signatures go with the whole document.
    pub latest: Vec<([u8; 32], [u8; 32])>,
    /// The document's last writes as raw changes (`motcua_sync::recent`),
    /// stored after the fields above, behind [`ENTRY_RECENT_TAG`], so that
    /// entries written before they existed still read (with none), and an
    /// older binary reads the fields it knows.
    #[serde(skip)]
    pub recent: Vec<RecentWrite>,
}

/// A stored document as sync sends it whole: its bytes, its sync entry and
/// the attestation of each actor's latest change.
pub type StoredWhole = (Vec<u8>, SyncEntry, Vec<Option<Attestation>>);
/// A document as a reconciliation round offers it: id, heads digest, legal
/// deadline.
pub type OfferRow = ([u8; 16], [u8; 16], Option<i64>);

/// Marks the recent writes after a sync entry's fields; a later addition
/// takes another tag.
const ENTRY_RECENT_TAG: u8 = 1;

fn encode_entry(e: &SyncEntry) -> Vec<u8> {
    let mut v = encode(e);
    if !e.recent.is_empty() {
        v.push(ENTRY_RECENT_TAG);
        v.extend(encode(&e.recent));
    }
    v
}

/// Reads a sync entry. Recent writes are only a shortcut to deltas: a
/// damaged or unknown tail reads as none (every delta is then cut from the
/// loaded document, and the next write starts them afresh), so it blocks
/// no write.
fn decode_entry(v: &[u8]) -> Result<SyncEntry> {
    let (mut entry, rest): (SyncEntry, &[u8]) =
        postcard::take_from_bytes(v).map_err(|e| StoreError::Corrupt(format!("sync entry: {e}")))?;
    match rest.split_first() {
        None => {}
        Some((&ENTRY_RECENT_TAG, recent)) => match postcard::from_bytes(recent) {
            Ok(recent) => entry.recent = recent,
            Err(e) => tracing::warn!(error = %e, "a sync entry's recent writes do not read: ignored"),
        },
        Some((tag, _)) => tracing::warn!(tag, "a sync entry has a tail this version does not know: ignored"),
    }
    Ok(entry)
}

/// Counts one writing call of a transaction (see [`Write::writes`]).
fn count_write(writes: &Cell<u64>) {
    writes.set(writes.get() + 1);
}

/// A write in progress: one redb transaction that the caller commits
/// durably (desk actions) or lazily (read audits).
pub struct Write {
    tx: WriteTransaction,
    /// Counts the inserts and removals made so far (see [`Write::writes`]).
    writes: Cell<u64>,
    #[cfg(any(test, feature = "test-backend"))]
    unsynced: bool,
    key: ApplicantKey,
}

impl Store {
    /// Opens the store file at `path`, creating it (owner-only) if there is
    /// none, and brings an older format up to [`STORE_FORMAT`]. The
    /// applicant index is rebuilt when it was built under another key.
    pub fn open(path: &Path, key: ApplicantKey) -> Result<Store> {
        let backend = redb::backends::FileBackend::new(open_private_file(path)?)?;
        Self::open_with(key, |builder| builder.create_with_backend(backend))
    }

    /// Opens the database that `create` makes with the store's settings
    /// (a file, or a test's simulated disk), and brings it to the current
    /// format.
    fn open_with(
        key: ApplicantKey,
        create: impl FnOnce(&redb::Builder) -> std::result::Result<Database, redb::DatabaseError>,
    ) -> Result<Store> {
        let repaired = Arc::new(AtomicBool::new(false));
        let seen = repaired.clone();
        let mut builder = Database::builder();
        builder.set_cache_size(CACHE_BYTES).set_repair_callback(move |session| {
            if !seen.swap(true, Ordering::Relaxed) {
                tracing::warn!(progress = session.progress(), "the store was not closed cleanly: checking every page");
            }
        });
        let db = match create(&builder) {
            Ok(db) => db,
            Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(StoreError::InUse),
            Err(e) => return Err(e.into()),
        };
        let store = Store {
            db,
            repaired: repaired.load(Ordering::Relaxed),
            #[cfg(any(test, feature = "test-backend"))]
            unsynced: false,
            key,
        };
        let mut w = store.begin()?;
        let mut upgrade = false;
        let mut existing_store = false;
        {
            let mut meta = w.tx.open_table(META)?;
            let existing = meta.get("store_format")?.map(|v| v.value().to_vec());
            if let Some(v) = existing {
                existing_store = true;
                let format = u32::from_le_bytes(v.try_into().map_err(|_| StoreError::Corrupt("store_format".into()))?);
                match format {
                    STORE_FORMAT | 2 => {}
                    1 => upgrade = true,
                    other => return Err(StoreError::Format(other)),
                }
            }
            meta.insert("store_format", STORE_FORMAT.to_le_bytes().as_slice())?;
            // Create every table so readers never meet a missing one.
            w.tx.open_table(DOCS)?;
            w.tx.open_table(SUMMARIES)?;
            w.tx.open_table(ATTESTATIONS)?;
            w.tx.open_table(CODES)?;
            w.tx.open_table(BY_RECEIVED)?;
            w.tx.open_table(BY_STATE)?;
            w.tx.open_table(BY_DUE)?;
            w.tx.open_multimap_table(BY_APPLICANT)?;
            w.tx.open_multimap_table(ATTACHMENT_REFS)?;
            w.tx.open_table(BY_NAME)?;
            w.tx.open_table(SEQUENCES)?;
            w.tx.open_table(ACCOUNTS)?;
            w.tx.open_table(DISABLED)?;
            w.tx.open_table(AUDIT)?;
            w.tx.open_table(GUIDANCE)?;
            w.tx.open_table(GUIDANCE_SEQUENCES)?;
            w.tx.open_table(CERTIFICATES)?;
            w.tx.open_table(SYNC_INDEX)?;
            w.tx.open_table(SYNC_STATES)?;
            w.tx.open_table(SYNC_OFFERS)?;
            w.tx.open_table(PROVINCE_HELD)?;
            w.tx.open_table(FORKS)?;
            w.tx.open_table(PEER_REFUSALS)?;
            w.tx.open_table(CHANGE_LOG)?;
            w.tx.open_table(LOG_POSITION)?;
            w.tx.open_table(CHECKPOINTS)?;
        }
        if upgrade {
            w.fill_sync_offers()?;
        }
        if w.get_meta(APPLICANT_KEY_META)?.as_deref() != Some(key.check().as_slice()) {
            if existing_store {
                tracing::warn!(
                    "the applicant index was built under another key (an older store, or a rotated node key): rebuilding it"
                );
            }
            w.rebuild_applicant_index()?;
        }
        w.commit_durable()?;
        Ok(store)
    }

    /// Whether opening the store had to check the whole file because it
    /// was not closed cleanly.
    pub fn was_repaired(&self) -> bool {
        self.repaired
    }

    pub fn begin(&self) -> Result<Write> {
        let mut tx = self.db.begin_write()?;
        tx.set_two_phase_commit(true);
        Ok(Write {
            tx,
            writes: Cell::new(0),
            #[cfg(any(test, feature = "test-backend"))]
            unsynced: self.unsynced,
            key: self.key,
        })
    }

    fn read(&self) -> Result<ReadTransaction> {
        Ok(self.db.begin_read()?)
    }

    pub fn load_doc(&self, id: &[u8; 16]) -> Result<Option<Vec<u8>>> {
        let tx = self.read()?;
        let t = tx.open_table(DOCS)?;
        Ok(t.get(id)?.map(|v| v.value().to_vec()))
    }

    /// Several documents in one read, in order.
    pub fn load_docs(&self, ids: &[[u8; 16]]) -> Result<Vec<Option<Vec<u8>>>> {
        let tx = self.read()?;
        let t = tx.open_table(DOCS)?;
        ids.iter().map(|id| Ok(t.get(id)?.map(|v| v.value().to_vec()))).collect()
    }

    /// The participant units of each of these documents, in order (`None`
    /// for one not held), as the sync offers record them.
    pub fn participant_units(&self, ids: &[[u8; 16]]) -> Result<Vec<Option<Vec<String>>>> {
        let tx = self.read()?;
        let t = tx.open_table(SYNC_OFFERS)?;
        ids.iter()
            .map(|id| {
                let Some(v) = t.get(id)? else { return Ok(None) };
                let v = v.value();
                let units = decode_offer(v)
                    .map(|(_, _, u)| u)
                    .filter(|u| u.clone().all_valid())
                    .ok_or_else(|| StoreError::Corrupt(format!("sync offer of {}", hex::encode(id))))?;
                Ok(Some(units.map(str::to_string).collect()))
            })
            .collect()
    }

    /// For each document, in one read: its stored bytes, its sync entry and
    /// the attestation of each actor's latest change.
    pub fn wholes(&self, ids: &[[u8; 16]]) -> Result<Vec<Option<StoredWhole>>> {
        let tx = self.read()?;
        let docs = tx.open_table(DOCS)?;
        let index = tx.open_table(SYNC_INDEX)?;
        let attestations = tx.open_table(ATTESTATIONS)?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let (Some(bytes), Some(entry)) = (docs.get(id)?, index.get(id)?) else {
                out.push(None);
                continue;
            };
            let entry = decode_entry(entry.value())?;
            let mut signatures = Vec::with_capacity(entry.latest.len());
            for (_, hash) in &entry.latest {
                signatures.push(
                    attestations
                        .get(hash)?
                        .map(|v| Attestation::from_bytes(v.value()).map_err(|e| StoreError::Corrupt(e.to_string())))
                        .transpose()?,
                );
            }
            out.push(Some((bytes.value().to_vec(), entry, signatures)));
        }
        Ok(out)
    }

    /// The dossier holding each code, in one read.
    pub fn ids_by_codes(&self, codes: &[&str]) -> Result<Vec<Option<[u8; 16]>>> {
        let tx = self.read()?;
        let t = tx.open_table(CODES)?;
        codes.iter().map(|c| Ok(t.get(*c)?.map(|v| v.value()))).collect()
    }

    pub fn id_by_code(&self, code: &str) -> Result<Option<[u8; 16]>> {
        let tx = self.read()?;
        let t = tx.open_table(CODES)?;
        Ok(t.get(code)?.map(|v| v.value()))
    }

    /// The summaries of the dossiers received in `[from, to)` (UTC ms) that
    /// `keep` accepts, oldest first: at most `max` of them, looking at no
    /// more than `scan_max` dossiers in all, and whether more were left.
    pub fn received_between(
        &self,
        (from, to): (i64, i64),
        keep: impl Fn(&DossierSummary) -> bool,
        (max, scan_max): (usize, usize),
    ) -> Result<(Vec<DossierSummary>, bool)> {
        let tx = self.read()?;
        let t = tx.open_table(BY_RECEIVED)?;
        let sums = tx.open_table(SUMMARIES)?;
        let mut kept = Vec::new();
        for (scanned, row) in t.range((from, [0u8; 16])..(to.max(from), [0u8; 16]))?.enumerate() {
            if scanned == scan_max {
                return Ok((kept, true));
            }
            let id = row?.0.value().1;
            let Some(v) = sums.get(id)? else { continue };
            let summary: DossierSummary = decode(v.value())?;
            if !keep(&summary) {
                continue;
            }
            if kept.len() == max {
                return Ok((kept, true));
            }
            kept.push(summary);
        }
        Ok((kept, false))
    }

    /// Open dossiers whose result is not ready yet and whose deadline falls
    /// before `until` (overdue ones included), by deadline: the dossiers at
    /// risk of missing it.
    pub fn at_risk(&self, until: i64) -> Result<Vec<DossierSummary>> {
        let tx = self.read()?;
        let sums = tx.open_table(SUMMARIES)?;
        let mut out = Vec::new();
        for row in tx.open_table(BY_DUE)?.range((i64::MIN, [0u8; 16])..(until, [0u8; 16]))? {
            let (k, _) = row?;
            if let Some(v) = sums.get(k.value().1)? {
                let s: DossierSummary = decode(v.value())?;
                if coming_due(&s, i64::MIN, until) {
                    out.push(s);
                }
            }
        }
        Ok(out)
    }

    /// The summary of a dossier.
    pub fn summary(&self, id: &[u8; 16]) -> Result<Option<DossierSummary>> {
        let tx = self.read()?;
        tx.open_table(SUMMARIES)?.get(id)?.map(|v| decode(v.value())).transpose()
    }

    /// The summary of the dossier holding `code`, in one read.
    pub fn summary_by_code(&self, code: &str) -> Result<Option<DossierSummary>> {
        let tx = self.read()?;
        let Some(id) = tx.open_table(CODES)?.get(code)?.map(|v| v.value()) else { return Ok(None) };
        tx.open_table(SUMMARIES)?.get(id)?.map(|v| decode(v.value())).transpose()
    }

    pub fn attestation(&self, change_hash: &[u8; 32]) -> Result<Option<Attestation>> {
        let tx = self.read()?;
        let t = tx.open_table(ATTESTATIONS)?;
        t.get(change_hash)?
            .map(|v| Attestation::from_bytes(v.value()).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    /// Every document whose participant units `keep` accepts, with its
    /// heads digest and legal deadline, in id order.
    pub fn sync_offers(&self, mut keep: impl FnMut(OfferUnits<'_>) -> bool) -> Result<Vec<OfferRow>> {
        let tx = self.read()?;
        let t = tx.open_table(SYNC_OFFERS)?;
        let mut out = Vec::with_capacity(t.len()? as usize);
        for row in t.iter()? {
            let (k, v) = row?;
            let v = v.value();
            let Some((digest, due_at, units)) = decode_offer(v) else {
                return Err(StoreError::Corrupt(format!("sync offer of {}", hex::encode(k.value()))));
            };
            if !units.clone().all_valid() {
                return Err(StoreError::Corrupt(format!("sync offer units of {}", hex::encode(k.value()))));
            }
            if keep(units) {
                out.push((k.value(), digest, due_at));
            }
        }
        Ok(out)
    }

    /// The latest change-log position.
    pub fn log_position(&self) -> Result<u64> {
        let tx = self.read()?;
        let t = tx.open_table(CHANGE_LOG)?;
        Ok(t.last()?.map_or(0, |(k, _)| k.value()))
    }

    /// Documents whose latest change is after log position `after`.
    pub fn changed_since(&self, after: u64) -> Result<Vec<([u8; 16], SyncEntry)>> {
        let tx = self.read()?;
        let log = tx.open_table(CHANGE_LOG)?;
        let index = tx.open_table(SYNC_INDEX)?;
        let mut out = Vec::new();
        for row in log.range(after + 1..)? {
            let id = row?.1.value();
            if let Some(v) = index.get(id)? {
                out.push((id, decode_entry(v.value())?));
            }
        }
        Ok(out)
    }

    pub fn checkpoint(&self, peer: &[u8; 32]) -> Result<u64> {
        let tx = self.read()?;
        let t = tx.open_table(CHECKPOINTS)?;
        Ok(t.get(peer)?.map_or(0, |v| v.value()))
    }

    pub fn sync_entry(&self, id: &[u8; 16]) -> Result<Option<SyncEntry>> {
        let tx = self.read()?;
        let t = tx.open_table(SYNC_INDEX)?;
        t.get(id)?.map(|v| decode_entry(v.value())).transpose()
    }

    pub fn sync_state(&self, peer: &[u8; 32], id: &[u8; 16]) -> Result<Option<Vec<u8>>> {
        let tx = self.read()?;
        let t = tx.open_table(SYNC_STATES)?;
        Ok(t.get((*peer, *id))?.map(|v| v.value().to_vec()))
    }

    /// The digest at which a province node is known to hold a document.
    /// Every proven fork: dossier id, node key, record.
    pub fn forks(&self) -> Result<Vec<StoredFork>> {
        let tx = self.read()?;
        let t = tx.open_table(FORKS)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            let (k, v) = row?;
            let k = k.value();
            let id: [u8; 16] =
                k.get(..16).and_then(|b| b.try_into().ok()).ok_or_else(|| StoreError::Corrupt("fork key".into()))?;
            out.push((id, k[16..].to_vec(), decode(v.value())?));
        }
        Ok(out)
    }

    /// Whether any peer's refusal is kept (a cheap check before clearing).
    pub fn has_peer_refusals(&self) -> Result<bool> {
        let tx = self.read()?;
        Ok(tx.open_table(PEER_REFUSALS)?.first()?.is_some())
    }

    /// Why peers refused this node's version of a dossier.
    pub fn peer_refusals(&self, id: &[u8; 16]) -> Result<Vec<PeerRefusal>> {
        let tx = self.read()?;
        let t = tx.open_table(PEER_REFUSALS)?;
        t.get(id)?.map(|v| decode(v.value())).transpose().map(Option::unwrap_or_default)
    }

    pub fn province_held(&self, id: &[u8; 16]) -> Result<Option<[u8; 16]>> {
        let tx = self.read()?;
        let t = tx.open_table(PROVINCE_HELD)?;
        Ok(t.get(id)?.map(|v| v.value()))
    }

    pub fn certificate(&self, key: &[u8; 32]) -> Result<Option<Vec<u8>>> {
        let tx = self.read()?;
        let t = tx.open_table(CERTIFICATES)?;
        Ok(t.get(key)?.map(|v| v.value().to_vec()))
    }

    pub fn certificates(&self) -> Result<Vec<Vec<u8>>> {
        self.all_values(CERTIFICATES)
    }

    /// Every value of a table of byte strings, in key order.
    fn all_values<K: redb::Key + 'static>(&self, table: TableDefinition<K, &[u8]>) -> Result<Vec<Vec<u8>>> {
        let tx = self.read()?;
        let t = tx.open_table(table)?;
        let mut out = Vec::new();
        for row in t.iter()? {
            out.push(row?.1.value().to_vec());
        }
        Ok(out)
    }

    /// Calls `f` with every stored dossier document, in id order, until it
    /// fails.
    pub fn try_for_each_doc<E: From<StoreError>>(
        &self,
        mut f: impl FnMut(&[u8]) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let tx = self.read()?;
        let t = tx.open_table(DOCS).map_err(StoreError::from)?;
        for row in t.iter().map_err(StoreError::from)? {
            f(row.map_err(StoreError::from)?.1.value())?;
        }
        Ok(())
    }

    /// The dossiers whose documents record an attached file with this
    /// BLAKE3 hash, in id order.
    pub fn dossiers_with_attachment(&self, hash: &[u8; 32]) -> Result<Vec<[u8; 16]>> {
        let tx = self.read()?;
        let refs = tx.open_multimap_table(ATTACHMENT_REFS)?;
        refs.get(hash)?.map(|id| Ok(id?.value())).collect()
    }

    /// Every file hash some dossier records, each once, in hash order: what
    /// the node's file store must keep.
    pub fn attachment_hashes(&self) -> Result<Vec<[u8; 32]>> {
        let tx = self.read()?;
        let refs = tx.open_multimap_table(ATTACHMENT_REFS)?;
        let mut out = Vec::new();
        for row in refs.iter()? {
            out.push(row?.0.value());
        }
        Ok(out)
    }

    /// Open dossiers of an applicant (by identity number) for a procedure.
    pub fn open_dossiers_of(&self, id_number: &str, procedure_code: &str) -> Result<Vec<DossierSummary>> {
        let tx = self.read()?;
        let idx = tx.open_multimap_table(BY_APPLICANT)?;
        let sums = tx.open_table(SUMMARIES)?;
        let mut out = Vec::new();
        for id in idx.get(self.key.digest(id_number))? {
            let id = id?.value();
            if let Some(v) = sums.get(id)? {
                let s: DossierSummary = decode(v.value())?;
                if s.is_open() && s.procedure_code == procedure_code && s.applicant_id_number == id_number {
                    out.push(s);
                }
            }
        }
        Ok(out)
    }

    /// Count of dossiers per national state code.
    pub fn count_by_state(&self) -> Result<Vec<(u8, u64)>> {
        let tx = self.read()?;
        let t = tx.open_table(BY_STATE)?;
        let mut out = Vec::new();
        for state in 1u8..=10 {
            let n = t.range((state, i64::MIN, [0u8; 16])..=(state, i64::MAX, [0xff; 16]))?.count() as u64;
            out.push((state, n));
        }
        Ok(out)
    }

    /// Visits every summary (statistics).
    pub fn for_each_summary(&self, mut f: impl FnMut(DossierSummary)) -> Result<()> {
        let tx = self.read()?;
        let t = tx.open_table(SUMMARIES)?;
        for row in t.iter()? {
            let (_, v) = row?;
            f(decode(v.value())?);
        }
        Ok(())
    }

    /// A page of dossiers, newest first, and how many match in all.
    pub fn list(&self, q: &ListQuery) -> Result<(Vec<DossierSummary>, u64)> {
        let tx = self.read()?;
        let sums = tx.open_table(SUMMARIES)?;
        let limit = q.limit.min(LIST_LIMIT_MAX);
        let get =
            |id: &[u8; 16]| -> Result<Option<DossierSummary>> { sums.get(id)?.map(|v| decode(v.value())).transpose() };
        let keep = |s: &DossierSummary| {
            q.state.is_none_or(|st| s.state.code() == st)
                && q.overdue_at.is_none_or(|(now, offset)| s.is_overdue(now, offset))
                && q.received_from.is_none_or(|from| s.received_at >= from)
                && q.due_between.is_none_or(|(from, to)| coming_due(s, from, to))
                && q.unit.as_ref().is_none_or(|u| &s.receiving_unit == u || &s.holder_unit == u)
                && (!q.conflicts || s.conflicts > 0)
        };
        let text = q.q.as_deref().map(str::trim).filter(|t| !t.is_empty());
        // Narrow candidates with the most selective index, then filter.
        if text.is_some() || q.overdue_at.is_some() || q.received_from.is_some() || q.due_between.is_some() {
            let mut candidates: Vec<DossierSummary> = Vec::new();
            if let Some(text) = text {
                for id in self.search_ids(&tx, text)? {
                    if let Some(s) = get(&id)?
                        && keep(&s)
                        && matches_text(&s, text)
                    {
                        candidates.push(s);
                    }
                }
            } else if q.overdue_at.is_some() || q.due_between.is_some() {
                let from = q.due_between.map_or(i64::MIN, |(from, _)| from);
                let to = match (q.overdue_at, q.due_between) {
                    (Some((now, _)), Some((_, to))) => now.min(to),
                    (Some((now, _)), None) => now,
                    (None, Some((_, to))) => to,
                    (None, None) => unreachable!("one of them is set"),
                };
                let due = tx.open_table(BY_DUE)?;
                for row in due.range((from, [0u8; 16])..(to.max(from), [0u8; 16]))? {
                    let (k, _) = row?;
                    if let Some(s) = get(&k.value().1)?
                        && keep(&s)
                    {
                        candidates.push(s);
                    }
                }
            } else if let Some(from) = q.received_from {
                let received = tx.open_table(BY_RECEIVED)?;
                for row in received.range((from, [0u8; 16])..)? {
                    let (k, _) = row?;
                    if let Some(s) = get(&k.value().1)?
                        && keep(&s)
                    {
                        candidates.push(s);
                    }
                }
            }
            candidates.sort_by_key(|s| std::cmp::Reverse((s.received_at, s.id)));
            candidates.dedup_by_key(|s| s.id);
            let total = candidates.len() as u64;
            let page = candidates.into_iter().skip(q.offset).take(limit).collect();
            return Ok((page, total));
        }
        let mut page = Vec::new();
        let total;
        let scan = q.unit.is_some() || q.conflicts;
        if let Some(state) = q.state.filter(|_| !scan) {
            let t = tx.open_table(BY_STATE)?;
            let range = (state, i64::MIN, [0u8; 16])..=(state, i64::MAX, [0xff; 16]);
            total = t.range(range.clone())?.count() as u64;
            for row in t.range(range)?.rev().skip(q.offset).take(limit) {
                let (k, _) = row?;
                if let Some(s) = get(&k.value().2)? {
                    page.push(s);
                }
            }
        } else if !scan {
            let t = tx.open_table(BY_RECEIVED)?;
            total = t.len()?;
            for row in t.iter()?.rev().skip(q.offset).take(limit) {
                let (k, _) = row?;
                if let Some(s) = get(&k.value().1)? {
                    page.push(s);
                }
            }
        } else {
            let t = tx.open_table(BY_RECEIVED)?;
            let mut n = 0u64;
            for row in t.iter()?.rev() {
                let (k, _) = row?;
                if let Some(s) = get(&k.value().1)?
                    && keep(&s)
                {
                    if n as usize >= q.offset && page.len() < limit {
                        page.push(s);
                    }
                    n += 1;
                }
            }
            total = n;
        }
        Ok((page, total))
    }

    fn search_ids(&self, tx: &ReadTransaction, text: &str) -> Result<Vec<[u8; 16]>> {
        let mut ids = Vec::new();
        if let Some(id) = tx.open_table(CODES)?.get(text)? {
            ids.push(id.value());
        }
        if text.bytes().all(|b| b.is_ascii_digit()) {
            let idx = tx.open_multimap_table(BY_APPLICANT)?;
            for id in idx.get(self.key.digest(text))? {
                ids.push(id?.value());
            }
        }
        // A code fragment such as `000.00.01.H99-251122` lists that day.
        if text.contains('-') {
            let codes = tx.open_table(CODES)?;
            let prefix_end = format!("{text}\u{10ffff}");
            for row in codes.range(text..prefix_end.as_str())?.take(SEARCH_CANDIDATES_MAX) {
                ids.push(row?.1.value());
            }
        }
        let folded = fold_text(text);
        // The longest word is usually the most selective; newest first, so
        // that a cut at the bound drops old dossiers, not today's.
        if let Some(word) = folded.split(' ').filter(|w| !w.is_empty()).max_by_key(|w| w.len()) {
            let names = tx.open_table(BY_NAME)?;
            let end = format!("{word}\u{7f}");
            for row in names
                .range((word, i64::MIN, [0u8; 16])..(end.as_str(), i64::MIN, [0u8; 16]))?
                .rev()
                .take(SEARCH_CANDIDATES_MAX)
            {
                ids.push(row?.0.value().2);
            }
        }
        Ok(ids)
    }

    pub fn account(&self, username: &str) -> Result<Option<Vec<u8>>> {
        let tx = self.read()?;
        Ok(tx.open_table(ACCOUNTS)?.get(username)?.map(|v| v.value().to_vec()))
    }

    pub fn accounts(&self) -> Result<Vec<Vec<u8>>> {
        self.all_values(ACCOUNTS)
    }

    pub fn is_disabled(&self, username: &str) -> Result<bool> {
        let tx = self.read()?;
        Ok(tx.open_table(DISABLED)?.get(username)?.is_some())
    }

    /// One guidance record (postcard bytes) by its number.
    pub fn guidance(&self, number: &str) -> Result<Option<Vec<u8>>> {
        let tx = self.read()?;
        Ok(tx.open_table(GUIDANCE)?.get(number)?.map(|v| v.value().to_vec()))
    }

    /// Guidance records, newest number first (numbers sort by year, then
    /// sequence), that `keep` accepts: at most `limit` of them, looking at
    /// no more than `scan_max`.
    pub fn guidance_records(
        &self,
        mut keep: impl FnMut(&[u8]) -> bool,
        limit: usize,
        scan_max: usize,
    ) -> Result<Vec<Vec<u8>>> {
        let tx = self.read()?;
        let t = tx.open_table(GUIDANCE)?;
        let mut out = Vec::new();
        for row in t.iter()?.rev().take(scan_max) {
            let (_, v) = row?;
            if keep(v.value()) {
                out.push(v.value().to_vec());
                if out.len() >= limit {
                    break;
                }
            }
        }
        Ok(out)
    }

    pub fn meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        let tx = self.read()?;
        Ok(tx.open_table(META)?.get(key)?.map(|v| v.value().to_vec()))
    }

    /// The last `n` audit entries, newest first.
    pub fn audit_tail(&self, n: usize) -> Result<Vec<AuditEntry>> {
        let tx = self.read()?;
        let t = tx.open_table(AUDIT)?;
        let mut out = Vec::new();
        for row in t.iter()?.rev().take(n) {
            out.push(decode(row?.1.value())?);
        }
        Ok(out)
    }

    /// Walks the whole audit chain; returns the number of lines, or where
    /// it is broken.
    pub fn verify_audit(&self) -> Result<std::result::Result<u64, AuditBreak>> {
        let tx = self.read()?;
        let t = tx.open_table(AUDIT)?;
        let mut expected_line = 1u64;
        let mut prev = [0u8; 32];
        for row in t.iter()? {
            let (k, v) = row?;
            let line = k.value();
            let broken = |reason: String| Ok(Err(AuditBreak { line, reason }));
            if line != expected_line {
                return broken(format!("line {expected_line} is missing"));
            }
            let entry: AuditEntry = match postcard::from_bytes(v.value()) {
                Ok(e) => e,
                Err(e) => return broken(format!("unreadable: {e}")),
            };
            if entry.prev != prev {
                return broken("it does not follow the line before it (that line was edited or removed)".into());
            }
            prev = *blake3::hash(v.value()).as_bytes();
            expected_line += 1;
        }
        let lines = expected_line - 1;
        let head = tx.open_table(META)?.get(AUDIT_HEAD)?.map(|v| v.value().to_vec());
        let ok = match &head {
            None => lines == 0,
            Some(h) => h.len() == 40 && h[..32] == prev && h[32..] == lines.to_le_bytes(),
        };
        if !ok {
            return Ok(Err(AuditBreak { line: lines, reason: "the log ends before its last recorded line".into() }));
        }
        Ok(Ok(lines))
    }
}

/// One line of the audit log (nhật ký truy cập): who read or changed what,
/// when, chained to the line before it.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq, Eq)]
pub struct AuditEntry {
    pub at: i64,
    pub officer: String,
    pub action: String,
    pub dossier: String,
    /// BLAKE3 of the previous line's stored bytes (zeros for the first).
    pub prev: [u8; 32],
}

/// Where and how the audit chain is broken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("audit log broken at line {line}: {reason}")]
pub struct AuditBreak {
    pub line: u64,
    pub reason: String,
}

const AUDIT_HEAD: &str = "audit_head";

/// Whether a summary matches a free-text query: the code or a leading part
/// of it, the identity number, or every word of the name (accents optional,
/// word prefixes).
fn matches_text(s: &DossierSummary, text: &str) -> bool {
    if (text.contains('-') && s.code.starts_with(text)) || s.applicant_id_number == text {
        return true;
    }
    let name = fold_text(&s.applicant_name);
    let words: Vec<&str> = name.split(' ').collect();
    let query = fold_text(text);
    !query.is_empty() && query.split(' ').all(|q| words.iter().any(|w| w.starts_with(q)))
}

impl Write {
    /// How many writing calls this transaction has seen (each counted as
    /// it begins, so one that failed half-way counts too). The writer
    /// compares it around an operation that failed: an operation that
    /// wrote something before failing leaves its batch uncommittable.
    pub fn writes(&self) -> u64 {
        self.writes.get()
    }

    fn wrote(&self) {
        count_write(&self.writes);
    }

    /// Commits with `Durability::Immediate`: on return the data is on disk.
    pub fn commit_durable(mut self) -> Result<()> {
        #[cfg(any(test, feature = "test-backend"))]
        if self.unsynced {
            return self.commit_lazy();
        }
        self.tx.set_durability(Durability::Immediate)?;
        self.tx.commit()?;
        Ok(())
    }

    /// Commits without fsync; a later durable commit persists it too.
    pub fn commit_lazy(mut self) -> Result<()> {
        self.tx.set_durability(Durability::None)?;
        self.tx.commit()?;
        Ok(())
    }

    /// Issues the next dossier sequence number of a local day. Sequences
    /// never go back: the number is committed with the dossier it names.
    pub fn next_sequence(&mut self, yymmdd: u32, first: u32) -> Result<u32> {
        Ok(self.next_sequence_within(yymmdd, first, u32::MAX, |_, _| Ok(false))?.expect("a u32 of codes a day"))
    }

    /// [`Write::next_sequence`] within `first..=last`, skipping numbers
    /// for which `taken` says a code exists; `None`, writing nothing, once
    /// the day's range is used up. Everything is read before the one write.
    pub fn next_sequence_within(
        &mut self,
        yymmdd: u32,
        first: u32,
        last: u32,
        mut taken: impl FnMut(&Self, u32) -> Result<bool>,
    ) -> Result<Option<u32>> {
        let held = self.tx.open_table(SEQUENCES)?.get(yymmdd)?.map(|v| v.value());
        let mut next = held.map_or(first, |v| v.saturating_add(1).max(first));
        while next <= last && taken(self, next)? {
            next += 1;
        }
        if next > last {
            return Ok(None);
        }
        self.wrote();
        self.tx.open_table(SEQUENCES)?.insert(yymmdd, next)?;
        Ok(Some(next))
    }

    /// Reads a document inside this write, so a read-modify-write of one
    /// dossier is serialized with every other writer.
    pub fn load_doc(&self, id: &[u8; 16]) -> Result<Option<Vec<u8>>> {
        Ok(self.tx.open_table(DOCS)?.get(id)?.map(|v| v.value().to_vec()))
    }

    pub fn id_by_code(&self, code: &str) -> Result<Option<[u8; 16]>> {
        Ok(self.tx.open_table(CODES)?.get(code)?.map(|v| v.value()))
    }

    pub fn code_taken(&self, code: &str) -> Result<bool> {
        Ok(self.tx.open_table(CODES)?.get(code)?.is_some())
    }

    /// Stores a dossier document with its summary and index entries,
    /// replacing the entries of its previous summary.
    pub fn put_dossier(&mut self, doc: &[u8], summary: &DossierSummary, sync: &SyncEntry) -> Result<()> {
        self.dossier_tables()?.put_dossier(doc, summary, sync)
    }

    /// The tables a dossier's writes touch, opened once for many dossiers.
    pub fn dossier_tables(&self) -> Result<DossierTables<'_>> {
        Ok(DossierTables {
            docs: self.tx.open_table(DOCS)?,
            summaries: self.tx.open_table(SUMMARIES)?,
            attestations: self.tx.open_table(ATTESTATIONS)?,
            sequences: self.tx.open_table(SEQUENCES)?,
            sync_index: self.tx.open_table(SYNC_INDEX)?,
            sync_offers: self.tx.open_table(SYNC_OFFERS)?,
            log: self.tx.open_table(CHANGE_LOG)?,
            log_position: self.tx.open_table(LOG_POSITION)?,
            codes: self.tx.open_table(CODES)?,
            received: self.tx.open_table(BY_RECEIVED)?,
            state: self.tx.open_table(BY_STATE)?,
            due: self.tx.open_table(BY_DUE)?,
            applicant: self.tx.open_multimap_table(BY_APPLICANT)?,
            attachment_refs: self.tx.open_multimap_table(ATTACHMENT_REFS)?,
            names: self.tx.open_table(BY_NAME)?,
            writes: &self.writes,
            key: self.key,
        })
    }

    /// Builds the applicant index anew from the summaries under this
    /// store's key, and records which key that is.
    fn rebuild_applicant_index(&mut self) -> Result<()> {
        self.wrote();
        self.tx.delete_multimap_table(BY_APPLICANT)?;
        {
            let mut index = self.tx.open_multimap_table(BY_APPLICANT)?;
            for row in self.tx.open_table(SUMMARIES)?.iter()? {
                let (k, v) = row?;
                let summary: DossierSummary = decode(v.value())?;
                index.insert(self.key.digest(&summary.applicant_id_number), k.value())?;
            }
        }
        self.tx.open_table(META)?.insert(APPLICANT_KEY_META, self.key.check().as_slice())?;
        Ok(())
    }

    /// Builds `sync_offers` anew from `sync_index` (a format 1 store).
    fn fill_sync_offers(&mut self) -> Result<()> {
        self.wrote();
        self.tx.delete_table(SYNC_OFFERS)?;
        let mut offers = self.tx.open_table(SYNC_OFFERS)?;
        let index = self.tx.open_table(SYNC_INDEX)?;
        for row in index.iter()? {
            let (k, v) = row?;
            let entry = decode_entry(v.value())?;
            offers.insert(k.value(), encode_offer(&entry).as_slice())?;
        }
        Ok(())
    }

    pub fn put_checkpoint(&mut self, peer: &[u8; 32], position: u64) -> Result<()> {
        self.wrote();
        self.tx.open_table(CHECKPOINTS)?.insert(peer, position)?;
        Ok(())
    }

    pub fn put_sync_state(&mut self, peer: &[u8; 32], id: &[u8; 16], state: &[u8]) -> Result<()> {
        self.wrote();
        self.tx.open_table(SYNC_STATES)?.insert((*peer, *id), state)?;
        Ok(())
    }

    /// Records the digests at which a province node holds documents.
    /// Keeps a proven fork (once per dossier and node).
    pub fn put_fork(&mut self, id: &[u8; 16], node_key: &[u8; 32], record: &ForkRecord) -> Result<()> {
        self.wrote();
        let mut key = id.to_vec();
        key.extend_from_slice(node_key);
        let mut t = self.tx.open_table(FORKS)?;
        if t.get(key.as_slice())?.is_none() {
            t.insert(key.as_slice(), encode(record).as_slice())?;
        }
        Ok(())
    }

    /// Records that `peer` refused these dossiers (replacing its earlier
    /// refusal of each), or, with `reason` none, that it now holds them.
    pub fn put_peer_refusals(
        &mut self,
        peer: &[u8; 32],
        refusals: &[([u8; 16], Option<String>)],
        at: i64,
    ) -> Result<()> {
        self.wrote();
        let mut t = self.tx.open_table(PEER_REFUSALS)?;
        for (id, reason) in refusals {
            let mut list: Vec<PeerRefusal> = t.get(id)?.map(|v| decode(v.value())).transpose()?.unwrap_or_default();
            let before = list.len();
            list.retain(|r| &r.peer != peer);
            match reason {
                Some(reason) => {
                    let reason = reason.chars().take(REFUSAL_CHARS_MAX).collect();
                    list.push(PeerRefusal { peer: *peer, reason, at });
                    let excess = list.len().saturating_sub(PEER_REFUSALS_MAX);
                    list.drain(..excess);
                }
                None if list.len() == before => continue,
                None => {}
            }
            if list.is_empty() {
                t.remove(id)?;
            } else {
                t.insert(id, encode(&list).as_slice())?;
            }
        }
        Ok(())
    }

    pub fn put_province_held(&mut self, held: &[([u8; 16], [u8; 16])]) -> Result<()> {
        self.wrote();
        let mut t = self.tx.open_table(PROVINCE_HELD)?;
        for (id, digest) in held {
            if t.get(id)?.map(|v| v.value()) != Some(*digest) {
                t.insert(id, digest)?;
            }
        }
        Ok(())
    }

    pub fn put_certificate(&mut self, node_key: &[u8; 32], signed_json: &[u8]) -> Result<()> {
        self.wrote();
        self.tx.open_table(CERTIFICATES)?.insert(node_key, signed_json)?;
        Ok(())
    }

    pub fn put_account(&mut self, username: &str, bytes: &[u8]) -> Result<()> {
        self.wrote();
        self.tx.open_table(ACCOUNTS)?.insert(username, bytes)?;
        Ok(())
    }

    /// Disables (`Some(when)`) or re-enables (`None`) an account.
    pub fn set_disabled(&mut self, username: &str, at: Option<i64>) -> Result<()> {
        self.wrote();
        let mut t = self.tx.open_table(DISABLED)?;
        match at {
            Some(at) => t.insert(username, at)?,
            None => t.remove(username)?,
        };
        Ok(())
    }

    pub fn account_exists(&self, username: &str) -> Result<bool> {
        Ok(self.tx.open_table(ACCOUNTS)?.get(username)?.is_some())
    }

    /// An account as this transaction sees it (postcard bytes).
    pub fn account(&self, username: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.tx.open_table(ACCOUNTS)?.get(username)?.map(|v| v.value().to_vec()))
    }

    /// Issues the next guidance number of `year` within `first..=last`;
    /// `None`, writing nothing, once the range is used up.
    pub fn next_guidance_number(&mut self, year: u32, first: u32, last: u32) -> Result<Option<u32>> {
        let held = self.tx.open_table(GUIDANCE_SEQUENCES)?.get(year)?.map(|v| v.value());
        let next = held.map_or(first, |v| v.saturating_add(1).max(first));
        if next > last || held == Some(u32::MAX) {
            return Ok(None);
        }
        self.wrote();
        self.tx.open_table(GUIDANCE_SEQUENCES)?.insert(year, next)?;
        Ok(Some(next))
    }

    /// Stores a guidance record under its number.
    pub fn put_guidance(&mut self, number: &str, bytes: &[u8]) -> Result<()> {
        self.wrote();
        self.tx.open_table(GUIDANCE)?.insert(number, bytes)?;
        Ok(())
    }

    pub fn get_meta(&self, key: &str) -> Result<Option<Vec<u8>>> {
        Ok(self.tx.open_table(META)?.get(key)?.map(|v| v.value().to_vec()))
    }

    pub fn put_meta(&mut self, key: &str, value: &[u8]) -> Result<()> {
        self.wrote();
        self.tx.open_table(META)?.insert(key, value)?;
        Ok(())
    }

    /// Appends to the audit log (nhật ký truy cập).
    /// Each line names the BLAKE3 hash of the line before it, and the
    /// store keeps the hash and number of the last line, so a deleted,
    /// edited or truncated line breaks the chain ([`Store::verify_audit`]).
    pub fn audit(&mut self, at: i64, officer: &str, action: &str, dossier: &str) -> Result<()> {
        self.wrote();
        let mut t = self.tx.open_table(AUDIT)?;
        let (next, prev) = match t.last()? {
            Some((k, v)) => (k.value() + 1, *blake3::hash(v.value()).as_bytes()),
            None => (1, [0u8; 32]),
        };
        let entry = AuditEntry { at, officer: officer.into(), action: action.into(), dossier: dossier.into(), prev };
        let bytes = encode(&entry);
        t.insert(next, bytes.as_slice())?;
        drop(t);
        let mut meta = self.tx.open_table(META)?;
        let mut head = blake3::hash(&bytes).as_bytes().to_vec();
        head.extend_from_slice(&next.to_le_bytes());
        meta.insert(AUDIT_HEAD, head.as_slice())?;
        Ok(())
    }
}

/// A dossier's tables, open in one write transaction.
pub struct DossierTables<'t> {
    docs: redb::Table<'t, [u8; 16], &'static [u8]>,
    summaries: redb::Table<'t, [u8; 16], &'static [u8]>,
    attestations: redb::Table<'t, [u8; 32], &'static [u8]>,
    sequences: redb::Table<'t, u32, u32>,
    sync_index: redb::Table<'t, [u8; 16], &'static [u8]>,
    sync_offers: redb::Table<'t, [u8; 16], &'static [u8]>,
    log: redb::Table<'t, u64, [u8; 16]>,
    log_position: redb::Table<'t, [u8; 16], u64>,
    codes: redb::Table<'t, &'static str, [u8; 16]>,
    received: redb::Table<'t, (i64, [u8; 16]), ()>,
    state: redb::Table<'t, (u8, i64, [u8; 16]), ()>,
    due: redb::Table<'t, (i64, [u8; 16]), ()>,
    applicant: redb::MultimapTable<'t, [u8; 32], [u8; 16]>,
    attachment_refs: redb::MultimapTable<'t, [u8; 32], [u8; 16]>,
    names: redb::Table<'t, (&'static str, i64, [u8; 16]), ()>,
    writes: &'t Cell<u64>,
    key: ApplicantKey,
}

impl DossierTables<'_> {
    fn wrote(&self) {
        count_write(self.writes);
    }

    /// The sync entry of a stored document, read inside the transaction.
    pub fn stored_entry(&self, id: &[u8; 16]) -> Result<Option<SyncEntry>> {
        self.sync_index.get(id)?.map(|v| decode_entry(v.value())).transpose()
    }

    /// A stored document, read inside the transaction.
    pub fn stored_doc(&self, id: &[u8; 16]) -> Result<Option<Vec<u8>>> {
        Ok(self.docs.get(id)?.map(|v| v.value().to_vec()))
    }

    pub fn id_by_code(&self, code: &str) -> Result<Option<[u8; 16]>> {
        Ok(self.codes.get(code)?.map(|v| v.value()))
    }

    pub fn put_attestation(&mut self, change_hash: &[u8; 32], a: &Attestation) -> Result<()> {
        self.wrote();
        self.attestations.insert(change_hash, a.to_bytes().as_slice())?;
        Ok(())
    }

    /// Raises a day's sequence so that the next number issued follows
    /// `seen` (a code of this unit that came back by sync or restore).
    pub fn raise_sequence(&mut self, yymmdd: u32, seen: u32) -> Result<()> {
        self.wrote();
        if self.sequences.get(yymmdd)?.is_none_or(|v| v.value() < seen) {
            self.sequences.insert(yymmdd, seen)?;
        }
        Ok(())
    }

    /// Stores a dossier document with its summary and index entries,
    /// replacing the entries of its previous summary.
    /// Records that dossier `id` keeps the files with these hashes (those
    /// already recorded stay).
    pub fn put_attachment_refs(&mut self, id: &[u8; 16], hashes: &[[u8; 32]]) -> Result<()> {
        if hashes.is_empty() {
            return Ok(());
        }
        self.wrote();
        for h in hashes {
            self.attachment_refs.insert(h, id)?;
        }
        Ok(())
    }

    pub fn put_dossier(&mut self, doc: &[u8], summary: &DossierSummary, sync: &SyncEntry) -> Result<()> {
        let id = summary.id;
        // Everything that can fail to read is read before the first insert.
        let old: Option<DossierSummary> = self.summaries.get(id)?.map(|v| decode(v.value())).transpose()?;
        let position = self.log_position.get(id)?.map(|v| v.value());
        let next = self.log.last()?.map_or(0, |(k, _)| k.value()) + 1;
        self.wrote();
        self.sync_index.insert(id, encode_entry(sync).as_slice())?;
        self.sync_offers.insert(id, encode_offer(sync).as_slice())?;
        if let Some(old) = position {
            self.log.remove(old)?;
        }
        self.log.insert(next, id)?;
        self.log_position.insert(id, next)?;
        let key = self.key;
        self.index(old.as_ref().map(|o| IndexKeys::of(o, &key)).as_ref(), &IndexKeys::of(summary, &key))?;
        self.docs.insert(id, doc)?;
        self.summaries.insert(id, encode(summary).as_slice())?;
        Ok(())
    }

    /// Moves a dossier's secondary-index entries from `old` to `new`,
    /// touching only the entries that differ (an update usually changes
    /// the state and the deadline, not the code or the applicant).
    fn index(&mut self, old: Option<&IndexKeys<'_>>, new: &IndexKeys<'_>) -> Result<()> {
        self.wrote();
        let id = new.id;
        let changed = |f: &dyn Fn(&IndexKeys<'_>) -> bool| old.is_none_or(|o| !f(o));
        if let Some(o) = old {
            if o.code != new.code {
                self.codes.remove(o.code)?;
            }
            if o.received_at != new.received_at {
                self.received.remove((o.received_at, id))?;
            }
            if (o.state, o.received_at) != (new.state, new.received_at) {
                self.state.remove((o.state, o.received_at, id))?;
            }
            if o.due != new.due
                && let Some(d) = o.due
            {
                self.due.remove((d, id))?;
            }
            if o.applicant != new.applicant {
                self.applicant.remove(o.applicant, id)?;
            }
            for w in &o.words {
                if o.received_at != new.received_at || !new.words.contains(w) {
                    self.names.remove((w.as_str(), o.received_at, id))?;
                }
            }
        }
        if changed(&|o| o.code == new.code) {
            self.codes.insert(new.code, id)?;
        }
        if changed(&|o| o.received_at == new.received_at) {
            self.received.insert((new.received_at, id), ())?;
        }
        if changed(&|o| (o.state, o.received_at) == (new.state, new.received_at)) {
            self.state.insert((new.state, new.received_at, id), ())?;
        }
        if changed(&|o| o.due == new.due)
            && let Some(d) = new.due
        {
            self.due.insert((d, id), ())?;
        }
        if changed(&|o| o.applicant == new.applicant) {
            self.applicant.insert(new.applicant, id)?;
        }
        for w in &new.words {
            if changed(&|o| o.received_at == new.received_at && o.words.contains(w)) {
                self.names.insert((w.as_str(), new.received_at, id), ())?;
            }
        }
        Ok(())
    }
}

/// The secondary-index entries of one dossier summary.
struct IndexKeys<'a> {
    id: [u8; 16],
    code: &'a str,
    received_at: i64,
    state: u8,
    /// Open and not paused: the deadline the due index orders by.
    due: Option<i64>,
    applicant: [u8; 32],
    words: std::collections::BTreeSet<String>,
}

impl<'a> IndexKeys<'a> {
    fn of(s: &'a DossierSummary, key: &ApplicantKey) -> Self {
        let folded = fold_text(&s.applicant_name);
        IndexKeys {
            id: s.id,
            code: s.code.as_str(),
            received_at: s.received_at,
            state: s.state.code(),
            due: s.due_at.filter(|_| s.is_open() && s.paused_since.is_none()),
            applicant: key.digest(&s.applicant_id_number),
            words: folded.split(' ').filter(|w| !w.is_empty()).map(str::to_string).collect(),
        }
    }
}

#[cfg(any(test, feature = "test-backend"))]
pub mod test_disk;
#[cfg(test)]
mod tests;
