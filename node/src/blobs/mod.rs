//! The node's attachments: scanned components and result files, kept by
//! their BLAKE3 hash in an iroh-blobs file store under
//! `<data>/attachments/` (docs/attachments.md).
//!
//! The dossier's document says which files it keeps (an `attach` event,
//! `motcua_desk::attach`); this module keeps the bytes. What the store
//! must keep is what some dossier records: garbage collection protects
//! exactly the hashes of the store's `attachment_refs` index, plus the
//! imports in flight (their temporary tags), and sweeps the rest, so an
//! upload refused after its bytes were taken leaves nothing behind.
//!
//! Nothing here is reported held before it is durable: an import's files
//! are flushed and the store's database committed before it returns.

pub mod import;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use iroh_blobs::Hash;
use iroh_blobs::api::proto::BlobStatus;
use iroh_blobs::store::fs::FsStore;
use iroh_blobs::store::fs::options::{Options, PathOptions};
use iroh_blobs::store::{GcConfig, ProtectCb, ProtectOutcome};
use motcua_desk::Desk;

pub use import::{ImportError, Imported};

/// The directory under the node's data directory.
pub const DIR: &str = "attachments";
/// Where uploads are spooled before the store takes them; emptied on start.
const INCOMING: &str = "incoming";
/// Space an attachment may never take: the dossiers' own store must still
/// grow when the disk is all but full (a full disk refuses new files, never
/// a workflow action).
pub const DISK_RESERVE_BYTES: u64 = 64 * 1024 * 1024;
/// How often unreferenced bytes are swept.
const GC_INTERVAL: Duration = Duration::from_secs(10 * 60);

/// What the attachments take on disk, and what is left.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Disk {
    /// Bytes of the attachments' directory (files, their verification
    /// trees, the store's database).
    pub used_bytes: u64,
    /// Bytes free for new files on its file system, after the reserve.
    pub free_bytes: u64,
}

/// How much of a file this node holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Held {
    Nothing,
    /// Some verified bytes, not all.
    Partial,
    Complete,
}

#[derive(Clone)]
pub struct Blobs {
    store: FsStore,
    dir: PathBuf,
    paths: Arc<PathOptions>,
    /// Files recorded lately, protected from the sweep whatever its
    /// snapshot of the index says: a sweep reads the index before it lists
    /// the imports in flight, and a file recorded in between is in
    /// neither.
    recent: Arc<Mutex<HashMap<Hash, std::time::Instant>>>,
    /// Bytes promised to imports in flight, counted against the free space.
    reserved: Arc<AtomicU64>,
}

/// How long a recorded file stays in [`Blobs`]' recent set: longer than a
/// sweep takes.
const RECENT_FOR: Duration = Duration::from_secs(2 * 60 * 60);

impl Blobs {
    /// Opens (or creates) the attachments' store of the node at `data`.
    pub async fn open(data: &Path, desk: Arc<Desk>) -> anyhow::Result<Blobs> {
        let dir = data.join(DIR);
        for d in [dir.clone(), dir.join(INCOMING)] {
            std::fs::create_dir_all(&d)?;
            std::fs::set_permissions(&d, std::os::unix::fs::PermissionsExt::from_mode(0o700))?;
        }
        // An upload or import cut short by a crash left its spool or
        // temporary file; none is in flight now.
        for d in [dir.join(INCOMING), dir.join("temp")] {
            for e in std::fs::read_dir(&d).into_iter().flatten() {
                std::fs::remove_file(e?.path()).ok();
            }
        }
        let recent: Arc<Mutex<HashMap<Hash, std::time::Instant>>> = Arc::default();
        let mut options = Options::new(&dir);
        options.gc =
            Some(GcConfig { interval: GC_INTERVAL, add_protected: Some(protect_referenced(desk, recent.clone())) });
        let store = FsStore::load_with_opts(dir.join("blobs.db"), options)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the attachments' store in {}: {e}", dir.display()))?;
        let paths = Arc::new(PathOptions::new(&dir));
        Ok(Blobs { store, dir, paths, recent, reserved: Arc::default() })
    }

    /// The iroh-blobs store, for the sync network's provider and fetcher.
    pub fn store(&self) -> &iroh_blobs::api::Store {
        &self.store
    }

    pub async fn held(&self, hash: [u8; 32]) -> Held {
        match self.store.status(Hash::from_bytes(hash)).await {
            Ok(BlobStatus::Complete { .. }) => Held::Complete,
            Ok(BlobStatus::Partial { .. }) => Held::Partial,
            Ok(BlobStatus::NotFound) | Err(_) => Held::Nothing,
        }
    }

    /// A file's size once proven (by its last chunk), complete or not.
    pub async fn verified_size(&self, hash: [u8; 32]) -> Option<u64> {
        match self.store.status(Hash::from_bytes(hash)).await {
            Ok(BlobStatus::Complete { size }) => Some(size),
            Ok(BlobStatus::Partial { size }) => size,
            _ => None,
        }
    }

    /// Verified bytes held of a file, complete or not.
    pub async fn bytes_held(&self, hash: [u8; 32]) -> u64 {
        match self.store.remote().local(Hash::from_bytes(hash)).await {
            Ok(local) => local.local_bytes(),
            Err(_) => 0,
        }
    }

    /// Bytes used by the attachments and free for new ones (after
    /// [`DISK_RESERVE_BYTES`]).
    pub fn disk(&self) -> std::io::Result<Disk> {
        Ok(Disk { used_bytes: dir_bytes(&self.dir)?, free_bytes: free_bytes(&self.dir)? })
    }

    /// Writes the store's last changes and stops it: a partial file's
    /// progress of the last half second is otherwise lost.
    pub async fn shutdown(&self) {
        if let Err(e) = self.store.shutdown().await {
            tracing::warn!(error = %e, "the attachments' store did not shut down cleanly");
        }
    }

    /// Notes that a dossier now records this file (see `recent`).
    pub fn recorded(&self, hash: [u8; 32]) {
        let mut recent = self.recent.lock().expect("recent lock");
        recent.retain(|_, at| at.elapsed() < RECENT_FOR);
        recent.insert(Hash::from_bytes(hash), std::time::Instant::now());
    }

    /// Records that `unit` gave this node the file's bytes (an upload at
    /// this node, or a fetch from that unit's node). A unit may be sent
    /// back a file it gave, even where only its own attach event records
    /// it (a commune restored from the province).
    pub async fn record_source(&self, hash: [u8; 32], unit: &str) {
        let tag = source_tag(hash, unit);
        if let Err(e) = self.store.tags().set(tag, Hash::from_bytes(hash)).await {
            tracing::warn!(error = %e, "a file's source was not recorded");
        }
    }

    /// Whether `unit` gave this node the file's bytes.
    pub async fn came_from(&self, hash: [u8; 32], unit: &str) -> bool {
        matches!(self.store.tags().get(source_tag(hash, unit)).await, Ok(Some(_)))
    }

    /// Records that the provincial node holds the whole file (it said so
    /// when asked, [`crate::net`]).
    pub async fn record_at_province(&self, hash: [u8; 32]) {
        if let Err(e) =
            self.store.tags().set(format!("at-province/{}", hex::encode(hash)), Hash::from_bytes(hash)).await
        {
            tracing::warn!(error = %e, "a file's arrival at the province was not recorded");
        }
    }

    /// Whether the provincial node is known to hold the whole file.
    pub async fn at_province(&self, hash: [u8; 32]) -> bool {
        matches!(self.store.tags().get(format!("at-province/{}", hex::encode(hash))).await, Ok(Some(_)))
    }

    /// Free bytes for files, less what imports in flight were promised.
    pub fn free_for_files(&self) -> std::io::Result<u64> {
        Ok(free_bytes(&self.dir)?.saturating_sub(self.reserved.load(Ordering::Acquire)))
    }

    /// Promises `bytes` of the free space to one import, if there are
    /// that many; released when the reservation is dropped.
    fn reserve(&self, bytes: u64) -> std::io::Result<Option<Reservation>> {
        let free = free_bytes(&self.dir)?;
        let mut now = self.reserved.load(Ordering::Acquire);
        loop {
            if free.saturating_sub(now) < bytes.max(1) {
                return Ok(None);
            }
            match self.reserved.compare_exchange(now, now + bytes, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return Ok(Some(Reservation { bytes, reserved: self.reserved.clone() })),
                Err(actual) => now = actual,
            }
        }
    }

    fn incoming(&self) -> PathBuf {
        self.dir.join(INCOMING)
    }

    fn data_files(&self, hash: &Hash) -> [PathBuf; 2] {
        [self.paths.data_path(hash), self.paths.outboard_path(hash)]
    }
}

/// Free space promised to one import.
pub(crate) struct Reservation {
    bytes: u64,
    reserved: Arc<AtomicU64>,
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.reserved.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

fn source_tag(hash: [u8; 32], unit: &str) -> String {
    format!("from/{unit}/{}", hex::encode(hash))
}

/// Garbage collection keeps every file a dossier of this node records,
/// and those recorded lately. Should the index not be readable, the run is
/// skipped rather than sweeping what it could not see. The store's own
/// runtime holds this callback: it must not keep the desk (and its redb
/// file) open once the node has let it go.
fn protect_referenced(desk: Arc<Desk>, recent: Arc<Mutex<HashMap<Hash, std::time::Instant>>>) -> ProtectCb {
    let desk = Arc::downgrade(&desk);
    Arc::new(move |live: &mut HashSet<Hash>| {
        let desk = desk.clone();
        live.extend(recent.lock().expect("recent lock").keys().copied());
        Box::pin(async move {
            let Some(desk) = desk.upgrade() else { return ProtectOutcome::Abort };
            match tokio::task::spawn_blocking(move || desk.store().attachment_hashes()).await {
                Ok(Ok(hashes)) => {
                    live.extend(hashes.into_iter().map(Hash::from_bytes));
                    ProtectOutcome::Continue
                }
                Ok(Err(e)) => {
                    tracing::warn!(error = %e, "attachments' sweep skipped: the index is unreadable");
                    ProtectOutcome::Abort
                }
                Err(_) => ProtectOutcome::Abort,
            }
        })
    })
}

/// Bytes free to unprivileged writers on the file system holding `dir`,
/// less the reserve.
pub fn free_bytes(dir: &Path) -> std::io::Result<u64> {
    let s = rustix::fs::statvfs(dir)?;
    Ok((s.f_bavail.saturating_mul(s.f_frsize)).saturating_sub(DISK_RESERVE_BYTES))
}

fn dir_bytes(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let m = e.metadata()?;
        total += if m.is_dir() { dir_bytes(&e.path())? } else { m.len() };
    }
    Ok(total)
}
