//! The one writer for every inbound byte stream (a direct upload, a URL
//! download within the request or in a job): capped at the size limit while
//! bytes arrive (the only place the limit is enforced), hashed (SHA-256) on the
//! way, with memory bounded by a short pipeline, and resumable for downloads.

use std::io::{self, Read, Seek, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::bucket::{PutObject, StreamingPut};
use crate::domain::AssetId;

/// How many leading bytes of an upload are kept for content sniffing.
pub const HEAD_LEN: usize = 8192;

const WRITE_BUFFER: usize = 256 * 1024;

/// Refuses `more` bytes after `size` when together they pass `limit`.
pub(super) fn check_limit(size: u64, more: u64, limit: u64) -> Result<(), UploadError> {
    if size.saturating_add(more) > limit {
        return Err(UploadError::TooLarge { limit });
    }
    Ok(())
}

/// A file that is deleted when dropped unless disarmed. Dropping runs on every
/// path out of a handler: errors, early returns and a client that went away.
#[derive(Debug)]
pub struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    fn new(path: PathBuf) -> Self {
        Self { path, armed: true }
    }

    /// A file that stays when dropped (a download that a later attempt resumes).
    fn kept(path: PathBuf) -> Self {
        Self { path, armed: false }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            if let Err(e) = std::fs::remove_file(&self.path) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %self.path.display(), error = %e, "could not remove temporary file");
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// What the receiving task hands the disk thread.
enum DiskMessage {
    Data(Bytes),
    /// All data was sent: flush, sync and report. Without it the upload was abandoned.
    Finish,
}

/// Chunks in flight between the network and the disk: bounds memory (chunks are
/// at most a few hundred KiB) while letting receiving and writing overlap.
const PIPELINE_CHUNKS: usize = 8;

/// Starts writing a large upload to disk while it still arrives: every
/// `EARLY_SYNC_BYTES`, a thread syncs what was written so far, so that the sync
/// before the answer only waits for the tail. Without it the kernel keeps the
/// whole file dirty in memory and the final sync waits for all of it.
#[derive(Default)]
struct EarlySync {
    unsynced: u64,
    in_flight: Option<std::thread::JoinHandle<io::Result<()>>>,
}

const EARLY_SYNC_BYTES: u64 = 32 * 1024 * 1024;

impl EarlySync {
    fn wrote(
        &mut self,
        bytes: usize,
        out: &mut std::io::BufWriter<std::fs::File>,
    ) -> io::Result<()> {
        self.unsynced += bytes as u64;
        let idle = self
            .in_flight
            .as_ref()
            .is_none_or(|sync| sync.is_finished());
        if self.unsynced >= EARLY_SYNC_BYTES && idle {
            self.wait()?;
            out.flush()?;
            let file = out.get_ref().try_clone()?;
            self.in_flight = Some(std::thread::spawn(move || file.sync_data()));
            self.unsynced = 0;
        }
        Ok(())
    }

    fn wait(&mut self) -> io::Result<()> {
        match self.in_flight.take() {
            Some(sync) => sync
                .join()
                .map_err(|_| io::Error::other("the sync thread panicked"))?,
            None => Ok(()),
        }
    }
}

/// Streams bytes into a temporary file while counting and hashing them. Hashing
/// and writing run on a blocking thread of their own, so that they overlap with
/// receiving the next bytes. With S3 storage, the same bytes go on to the
/// bucket while they arrive, so that storing the upload waits for no second
/// pass over the file.
pub struct UploadWriter {
    /// The asset this upload becomes, chosen before its first byte: its
    /// object in the bucket is written under this id while it arrives.
    id: AssetId,
    temp: TempFile,
    to_bucket: Option<StreamingPut>,
    to_disk: mpsc::Sender<DiskMessage>,
    disk: tokio::task::JoinHandle<io::Result<Option<String>>>,
    size: u64,
    limit: u64,
    head: Vec<u8>,
}

impl UploadWriter {
    /// A new file at `path`, removed when dropped unless published; and, given
    /// a put, the asset's object in the bucket, aborted likewise.
    pub(super) async fn create(
        path: PathBuf,
        limit: u64,
        id: AssetId,
        to_bucket: Option<StreamingPut>,
    ) -> io::Result<Self> {
        let temp = TempFile::new(path);
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(temp.path())
            .await?
            .into_std()
            .await;
        let mut writer = Self::start(id, temp, file, 0, Vec::new(), limit);
        writer.to_bucket = to_bucket;
        Ok(writer)
    }

    /// Continues the file at `path` after its first `keep` bytes (cutting off
    /// anything beyond them), which are hashed again so that the digest covers
    /// the whole file. The file stays when the writer is dropped.
    pub(super) async fn resume(
        path: PathBuf,
        keep: u64,
        limit: u64,
        id: AssetId,
    ) -> io::Result<Self> {
        let temp = TempFile::kept(path);
        let opened = temp.path().to_path_buf();
        let (file, head) = tokio::task::spawn_blocking(move || {
            let mut file = std::fs::OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(opened)?;
            file.set_len(keep)?;
            let mut head = Vec::with_capacity(HEAD_LEN);
            (&mut file).take(HEAD_LEN as u64).read_to_end(&mut head)?;
            file.rewind()?;
            Ok::<_, io::Error>((file, head))
        })
        .await
        .map_err(io::Error::other)??;
        Ok(Self::start(id, temp, file, keep, head, limit))
    }

    /// Starts the disk thread on `file`, whose first `kept` bytes are already there.
    fn start(
        id: AssetId,
        temp: TempFile,
        mut file: std::fs::File,
        kept: u64,
        head: Vec<u8>,
        limit: u64,
    ) -> Self {
        let (to_disk, mut from_net) = mpsc::channel::<DiskMessage>(PIPELINE_CHUNKS);
        let disk = tokio::task::spawn_blocking(move || {
            let mut hasher = Sha256::new();
            if kept > 0 {
                io::copy(&mut (&mut file).take(kept), &mut hasher)?;
            }
            file.seek(io::SeekFrom::Start(kept))?;
            let mut out = std::io::BufWriter::with_capacity(WRITE_BUFFER, file);
            let mut early_sync = EarlySync::default();
            while let Some(message) = from_net.blocking_recv() {
                match message {
                    DiskMessage::Data(chunk) => {
                        hasher.update(&chunk);
                        out.write_all(&chunk)?;
                        early_sync.wrote(chunk.len(), &mut out)?;
                    }
                    DiskMessage::Finish => {
                        out.flush()?;
                        early_sync.wait()?;
                        // A row that points at this file must never outlive its bytes.
                        out.get_ref().sync_data()?;
                        return Ok(Some(hex::encode(hasher.finalize())));
                    }
                }
            }
            // Abandoned: what was sent stays written (a download resumes from it).
            out.flush()?;
            Ok(None)
        });
        Self {
            id,
            temp,
            to_bucket: None,
            to_disk,
            disk,
            size: kept,
            limit,
            head,
        }
    }

    /// Appends a chunk; refuses it (writing nothing) once the total would pass the limit.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), UploadError> {
        self.ensure_fits(chunk.len() as u64)?;
        self.size += chunk.len() as u64;
        if self.head.len() < HEAD_LEN {
            let take = (HEAD_LEN - self.head.len()).min(chunk.len());
            self.head.extend_from_slice(&chunk[..take]);
        }
        if let Some(put) = &mut self.to_bucket {
            put.write(chunk.clone()).await.map_err(io::Error::other)?;
        }
        if self.to_disk.send(DiskMessage::Data(chunk)).await.is_err() {
            // The disk thread stopped: it failed, and says why when joined.
            return Err(self.disk_error().await.into());
        }
        Ok(())
    }

    /// Refuses early when `more` bytes would not fit (a declared Content-Length).
    pub fn ensure_fits(&self, more: u64) -> Result<(), UploadError> {
        check_limit(self.size, more, self.limit)
    }

    async fn disk_error(&mut self) -> io::Error {
        match (&mut self.disk).await {
            Ok(Err(e)) => e,
            Ok(Ok(_)) => io::Error::other("the upload's disk thread stopped early"),
            Err(e) => io::Error::other(e),
        }
    }

    /// Stops writing, once what was sent so far is written: a download keeps
    /// it for the next attempt, an upload in `tmp/` is removed.
    pub async fn abandon(self) {
        let Self {
            temp,
            to_disk,
            disk,
            ..
        } = self;
        drop(to_disk);
        if let Ok(Err(e)) = disk.await {
            tracing::warn!(error = %e, "an abandoned upload could not be written out");
        }
        drop(temp);
    }

    /// Waits until every byte is written and synced, and returns the upload.
    pub async fn finish(mut self) -> io::Result<Upload> {
        if self.to_disk.send(DiskMessage::Finish).await.is_err() {
            return Err(self.disk_error().await);
        }
        let sha256 = match (&mut self.disk).await {
            Ok(Ok(Some(sha256))) => sha256,
            Ok(Ok(None)) => return Err(io::Error::other("the upload's disk thread stopped early")),
            Ok(Err(e)) => return Err(e),
            Err(e) => return Err(io::Error::other(e)),
        };
        let object = match self.to_bucket.take() {
            Some(put) => {
                let object = put.finish().await.map_err(io::Error::other)?;
                object
                    .stamp(self.temp.path())
                    .await
                    .map_err(io::Error::other)?;
                Some(object)
            }
            None => None,
        };
        Ok(Upload {
            id: self.id,
            temp: self.temp,
            object,
            size: self.size,
            sha256,
            head: self.head,
        })
    }
}

/// A complete upload, still in `tmp/` (removed on drop unless stored, with
/// its object in the bucket if it was streamed there).
#[derive(Debug)]
pub struct Upload {
    id: AssetId,
    temp: TempFile,
    object: Option<PutObject>,
    size: u64,
    sha256: String,
    head: Vec<u8>,
}

impl Upload {
    /// Moves the finished file onto `target` (atomic: a reader never sees half
    /// of it). Returns the object it was streamed to, if any, for the caller
    /// to keep.
    pub(super) async fn publish(self, target: &Path) -> io::Result<Option<PutObject>> {
        tokio::fs::rename(self.temp.path(), target).await?;
        self.temp.disarm();
        Ok(self.object)
    }

    /// The asset this upload becomes.
    pub fn id(&self) -> AssetId {
        self.id
    }

    pub fn path(&self) -> &Path {
        self.temp.path()
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    pub fn sha256(&self) -> &str {
        &self.sha256
    }

    /// The first bytes, for sniffing the content type.
    pub fn head(&self) -> &[u8] {
        &self.head
    }
}

#[cfg(test)]
mod tests {
    use super::super::Storage;
    use super::*;

    #[tokio::test]
    async fn upload_counts_hashes_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new(dir.path(), 10);
        storage.prepare().await.unwrap();

        let mut writer = storage.begin_upload().await.unwrap();
        writer.write(Bytes::from_static(b"hello")).await.unwrap();
        let upload = writer.finish().await.unwrap();
        assert_eq!(upload.size(), 5);
        assert_eq!(
            upload.sha256(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        assert_eq!(upload.head(), b"hello");
        let path = upload.path().to_path_buf();
        drop(upload);
        assert!(!path.exists(), "a dropped upload must not stay in tmp/");

        let mut writer = storage.begin_upload().await.unwrap();
        writer.write(Bytes::from_static(b"hello")).await.unwrap();
        assert!(matches!(
            writer.write(Bytes::from_static(b"world!")).await,
            Err(UploadError::TooLarge { limit: 10 })
        ));
        drop(writer);
        assert_eq!(
            storage.sweep_tmp(std::time::Duration::ZERO).await.unwrap(),
            0
        );
    }

    #[tokio::test]
    async fn a_resumed_download_hashes_the_whole_file() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new(dir.path(), 100);
        let id = crate::domain::AssetId::new();

        let mut writer = storage.continue_download(id, 0).await.unwrap();
        writer.write(Bytes::from_static(b"hel")).await.unwrap();
        writer.write(Bytes::from_static(b"XX")).await.unwrap();
        writer.abandon().await; // an attempt that failed: what it wrote stays
        assert_eq!(storage.downloaded_so_far(id).await, 5);

        // The origin resumes after 3 bytes: the rest is cut off and replaced.
        let mut writer = storage.continue_download(id, 3).await.unwrap();
        writer.write(Bytes::from_static(b"lo")).await.unwrap();
        let upload = writer.finish().await.unwrap();
        assert_eq!(upload.size(), 5);
        assert_eq!(upload.head(), b"hello");
        assert_eq!(
            upload.sha256(),
            "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
        );
        storage.store_for_existing(upload).await.unwrap();
        assert_eq!(std::fs::read(storage.original_path(id)).unwrap(), b"hello");
        assert_eq!(storage.downloaded_so_far(id).await, 0);
    }
}
