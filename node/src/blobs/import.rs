//! Taking a file's bytes from an upload: streamed to a spool file while
//! they are counted against the limit, their type judged by their first
//! bytes and the disk watched; then handed to the store, which hashes them
//! and keeps them by hash. Any failure removes the spool file, so a refused
//! upload leaves nothing.

use std::path::PathBuf;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use iroh_blobs::BlobFormat;
use iroh_blobs::api::TempTag;
use iroh_blobs::api::blobs::{AddPathOptions, ImportMode};
use motcua_domain::attachment::{MediaError, MediaType, SNIFF_BYTES, check_media};
use tokio::io::AsyncWriteExt;

use super::{Blobs, free_bytes};

/// How many bytes may arrive between two looks at the free space.
const DISK_CHECK_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error(transparent)]
    Media(#[from] MediaError),
    #[error("the file is empty")]
    Empty,
    #[error("the disk is full: {free} bytes are free for files, and {needed} are needed")]
    DiskFull { free: u64, needed: u64 },
    #[error("the upload broke off: {0}")]
    Body(String),
    #[error("the attachments' store failed: {0}")]
    Store(String),
}

/// A file now held, whole and durable. Its temporary tag keeps it from the
/// sweep until a dossier records it; drop it after that.
pub struct Imported {
    pub hash: [u8; 32],
    pub size: u64,
    pub media_type: MediaType,
    pub tag: TempTag,
}

/// Removes the spool file however the import ends.
struct Spool(PathBuf);

impl Drop for Spool {
    fn drop(&mut self) {
        std::fs::remove_file(&self.0).ok();
    }
}

impl Blobs {
    /// Takes an upload of at most `limit` bytes, declared as
    /// `content_type` and, if the client said so, `declared` bytes long.
    pub async fn import<S, E>(
        &self,
        content_type: &str,
        declared: Option<u64>,
        body: &mut S,
        limit: u64,
    ) -> Result<Imported, ImportError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        if declared.is_some_and(|n| n > limit) {
            return Err(ImportError::TooLarge { limit });
        }
        // The spool and the store's copy: twice the file, promised up
        // front so that uploads side by side cannot overrun the reserve.
        let needed = 2 * declared.unwrap_or(limit);
        let _room = self
            .reserve(needed)
            .map_err(|e| ImportError::Store(e.to_string()))?
            .ok_or_else(|| ImportError::DiskFull { free: self.free_for_files().unwrap_or(0), needed })?;
        let spool = Spool(self.incoming().join(format!("{:032x}", rand::random::<u128>())));
        let mut file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&spool.0)
            .await
            .map_err(|e| self.io_error(e, 0))?;
        let (mut size, mut unchecked) = (0u64, 0u64);
        let mut prefix = Vec::with_capacity(SNIFF_BYTES);
        let mut media_type = None;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| ImportError::Body(e.to_string()))?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(ImportError::TooLarge { limit });
            }
            if media_type.is_none() {
                let take = (SNIFF_BYTES - prefix.len()).min(chunk.len());
                prefix.extend_from_slice(&chunk[..take]);
                if prefix.len() == SNIFF_BYTES {
                    media_type = Some(check_media(content_type, &prefix)?);
                }
            }
            unchecked += chunk.len() as u64;
            // What others write to the disk is not promised to anyone.
            if unchecked >= DISK_CHECK_BYTES {
                self.check_free(0)?;
                unchecked = 0;
            }
            file.write_all(&chunk).await.map_err(|e| self.io_error(e, chunk.len() as u64))?;
        }
        if size == 0 {
            return Err(ImportError::Empty);
        }
        let media_type = match media_type {
            Some(m) => m,
            None => check_media(content_type, &prefix)?,
        };
        file.sync_all().await.map_err(|e| self.io_error(e, 0))?;
        drop(file);
        let options = AddPathOptions { path: spool.0.clone(), format: BlobFormat::Raw, mode: ImportMode::Copy };
        let tag = self
            .store
            .add_path_with_opts(options)
            .temp_tag()
            .await
            .map_err(|e| self.store_error(e.to_string(), size))?;
        let hash = tag.hash();
        self.make_durable(&hash).await?;
        Ok(Imported { hash: *hash.as_bytes(), size, media_type, tag })
    }

    /// Flushes a new file's data and verification tree and commits the
    /// store's database: the store itself batches its commits and leaves
    /// the files to the page cache.
    async fn make_durable(&self, hash: &iroh_blobs::Hash) -> Result<(), ImportError> {
        let files = self.data_files(hash);
        let dirs: Vec<PathBuf> = files.iter().filter_map(|f| f.parent().map(PathBuf::from)).collect();
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            for f in files.iter() {
                // Small files live inside the store's database instead.
                if let Ok(file) = std::fs::File::open(f) {
                    file.sync_all()?;
                }
            }
            for d in dirs {
                std::fs::File::open(d)?.sync_all()?;
            }
            Ok(())
        })
        .await
        .map_err(|e| ImportError::Store(e.to_string()))?
        .map_err(|e| ImportError::Store(e.to_string()))?;
        self.store.sync_db().await.map_err(|e| ImportError::Store(e.to_string()))
    }

    fn check_free(&self, needed: u64) -> Result<(), ImportError> {
        let free = free_bytes(&self.dir).map_err(|e| ImportError::Store(e.to_string()))?;
        if free == 0 || free < needed {
            return Err(ImportError::DiskFull { free, needed });
        }
        Ok(())
    }

    /// An error of the store's import: a full disk when it left no room.
    fn store_error(&self, e: String, needed: u64) -> ImportError {
        match free_bytes(&self.dir) {
            Ok(0) => ImportError::DiskFull { free: 0, needed },
            _ => ImportError::Store(e),
        }
    }

    fn io_error(&self, e: std::io::Error, needed: u64) -> ImportError {
        if e.raw_os_error() == Some(rustix::io::Errno::NOSPC.raw_os_error()) {
            ImportError::DiskFull { free: free_bytes(&self.dir).unwrap_or(0), needed }
        } else {
            ImportError::Store(e.to_string())
        }
    }
}
