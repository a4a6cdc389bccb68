//! The data directory: temporary uploads, per-asset folders, atomic moves, sweeps.
//!
//! Layout: `tmp/` holds uploads in flight (`<random>.part`); `assets/<shard>/<id>/`
//! holds one asset (`original` now, derived files later). Paths are built only from
//! server-made ids, never from anything a client sent.

use std::io;
use std::path::{Path, PathBuf};

use std::io::Write;

use bytes::Bytes;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::domain::AssetId;

/// How many leading bytes of an upload are kept for content sniffing.
pub const HEAD_LEN: usize = 8192;

const WRITE_BUFFER: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
}

impl Storage {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub async fn prepare(&self) -> io::Result<()> {
        tokio::fs::create_dir_all(self.tmp_dir()).await?;
        tokio::fs::create_dir_all(self.assets_dir()).await
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn assets_dir(&self) -> PathBuf {
        self.root.join("assets")
    }

    pub fn asset_dir(&self, id: AssetId) -> PathBuf {
        self.assets_dir().join(id.shard()).join(id.as_string())
    }

    pub fn original_path(&self, id: AssetId) -> PathBuf {
        self.asset_dir(id).join("original")
    }

    /// The thumbnail, once made.
    pub fn thumbnail_path(&self, id: AssetId) -> PathBuf {
        self.asset_dir(id).join("thumb.jpg")
    }

    /// The HLS folder (`master.m3u8`, `index.m3u8`, segments), once made.
    pub fn hls_dir(&self, id: AssetId) -> PathBuf {
        self.asset_dir(id).join("hls")
    }

    /// A fresh name inside the asset's folder for a file or folder in the making
    /// (`<final name>.part-<random>`); renamed onto the final name when complete.
    pub fn partial_path(&self, id: AssetId, final_name: &str) -> PathBuf {
        self.asset_dir(id).join(format!(
            "{final_name}{PARTIAL_MARK}{}",
            uuid::Uuid::new_v4().simple()
        ))
    }

    /// Removes the partial copies of `final_name` that an interrupted step left.
    pub async fn remove_partials(&self, id: AssetId, final_name: &str) -> io::Result<()> {
        let prefix = format!("{final_name}{PARTIAL_MARK}");
        let mut entries = match tokio::fs::read_dir(self.asset_dir(id)).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        while let Some(entry) = entries.next_entry().await? {
            if entry.file_name().to_string_lossy().starts_with(&prefix) {
                remove_path(&entry.path()).await?;
            }
        }
        Ok(())
    }

    /// Moves a finished file or folder onto its final name, replacing an older one
    /// (a step that is run again).
    pub async fn publish(&self, partial: &Path, final_path: &Path) -> io::Result<()> {
        if tokio::fs::metadata(final_path).await.is_ok() {
            remove_path(final_path).await?;
        }
        tokio::fs::rename(partial, final_path).await
    }

    /// A new temporary file that counts, hashes and caps what is written to it.
    pub async fn begin_upload(&self, limit: u64) -> io::Result<UploadWriter> {
        let temp = TempFile::new(
            self.tmp_dir()
                .join(format!("{}.part", uuid::Uuid::new_v4().simple())),
        );
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(temp.path())
            .await?
            .into_std()
            .await;
        Ok(UploadWriter::start(temp, file, limit))
    }

    /// Moves a finished upload into the asset's folder. The returned guard removes
    /// the folder again unless [`StoredAsset::keep`] is called once the row exists.
    pub async fn store(&self, upload: Upload, id: AssetId) -> io::Result<StoredAsset> {
        let dir = self.asset_dir(id);
        tokio::fs::create_dir_all(&dir).await?;
        let guard = StoredAsset { dir: Some(dir) };
        tokio::fs::rename(upload.temp.path(), self.original_path(id)).await?;
        upload.temp.disarm();
        Ok(guard)
    }

    /// Removes every file of an asset; a folder that is already gone is fine.
    pub async fn remove_asset(&self, id: AssetId) -> io::Result<()> {
        match tokio::fs::remove_dir_all(self.asset_dir(id)).await {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Deletes what uploads interrupted by a crash left in `tmp/`. Start-up only.
    pub async fn sweep_tmp(&self) -> io::Result<Vec<PathBuf>> {
        let mut removed = Vec::new();
        let mut entries = tokio::fs::read_dir(self.tmp_dir()).await?;
        while let Some(entry) = entries.next_entry().await? {
            let path = entry.path();
            remove_path(&path).await?;
            removed.push(path);
        }
        Ok(removed)
    }

    /// Every asset folder on disk, as (folder name, path). Names that are not asset
    /// ids are returned too, so that the sweep can remove them.
    pub async fn asset_folders(&self) -> io::Result<Vec<(String, PathBuf)>> {
        let mut found = Vec::new();
        let mut shards = tokio::fs::read_dir(self.assets_dir()).await?;
        while let Some(shard) = shards.next_entry().await? {
            if !shard.file_type().await?.is_dir() {
                continue;
            }
            let mut assets = tokio::fs::read_dir(shard.path()).await?;
            while let Some(asset) = assets.next_entry().await? {
                found.push((
                    asset.file_name().to_string_lossy().into_owned(),
                    asset.path(),
                ));
            }
        }
        Ok(found)
    }
}

const PARTIAL_MARK: &str = ".part-";

/// Removes a file or a folder with what it holds; already gone is fine.
pub async fn remove_path(path: &Path) -> io::Result<()> {
    let result = match tokio::fs::symlink_metadata(path).await {
        Ok(meta) if meta.is_dir() => tokio::fs::remove_dir_all(path).await,
        Ok(_) => tokio::fs::remove_file(path).await,
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
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

/// An asset folder that is removed on drop until its database row exists.
#[derive(Debug)]
pub struct StoredAsset {
    dir: Option<PathBuf>,
}

impl StoredAsset {
    pub fn keep(mut self) {
        self.dir = None;
    }
}

impl Drop for StoredAsset {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(path = %dir.display(), error = %e, "could not remove unfinished asset folder");
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
/// receiving the next bytes.
pub struct UploadWriter {
    temp: TempFile,
    to_disk: mpsc::Sender<DiskMessage>,
    disk: tokio::task::JoinHandle<io::Result<Option<String>>>,
    size: u64,
    limit: u64,
    head: Vec<u8>,
}

impl UploadWriter {
    fn start(temp: TempFile, file: std::fs::File, limit: u64) -> Self {
        let (to_disk, mut from_net) = mpsc::channel::<DiskMessage>(PIPELINE_CHUNKS);
        let disk = tokio::task::spawn_blocking(move || {
            let mut hasher = Sha256::new();
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
            Ok(None)
        });
        Self {
            temp,
            to_disk,
            disk,
            size: 0,
            limit,
            head: Vec::with_capacity(HEAD_LEN),
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
        if self.to_disk.send(DiskMessage::Data(chunk)).await.is_err() {
            // The disk thread stopped: it failed, and says why when joined.
            return Err(self.disk_error().await.into());
        }
        Ok(())
    }

    /// Refuses early when `more` bytes would not fit (a declared Content-Length).
    pub fn ensure_fits(&self, more: u64) -> Result<(), UploadError> {
        if self.size.saturating_add(more) > self.limit {
            return Err(UploadError::TooLarge { limit: self.limit });
        }
        Ok(())
    }

    async fn disk_error(&mut self) -> io::Error {
        match (&mut self.disk).await {
            Ok(Err(e)) => e,
            Ok(Ok(_)) => io::Error::other("the upload's disk thread stopped early"),
            Err(e) => io::Error::other(e),
        }
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
        Ok(Upload {
            temp: self.temp,
            size: self.size,
            sha256,
            head: self.head,
        })
    }
}

/// A complete upload, still in `tmp/` (removed on drop unless stored).
#[derive(Debug)]
pub struct Upload {
    temp: TempFile,
    size: u64,
    sha256: String,
    head: Vec<u8>,
}

impl Upload {
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
    use super::*;

    #[tokio::test]
    async fn upload_counts_hashes_and_cleans_up() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new(dir.path());
        storage.prepare().await.unwrap();

        let mut writer = storage.begin_upload(10).await.unwrap();
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

        let mut writer = storage.begin_upload(4).await.unwrap();
        assert!(matches!(
            writer.write(Bytes::from_static(b"hello")).await,
            Err(UploadError::TooLarge { limit: 4 })
        ));
        drop(writer);
        assert!(storage.sweep_tmp().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn stored_asset_is_removed_unless_kept() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new(dir.path());
        storage.prepare().await.unwrap();
        let id = AssetId::new();

        let mut writer = storage.begin_upload(100).await.unwrap();
        writer.write(Bytes::from_static(b"data")).await.unwrap();
        let guard = storage
            .store(writer.finish().await.unwrap(), id)
            .await
            .unwrap();
        assert!(storage.original_path(id).exists());
        drop(guard);
        assert!(!storage.asset_dir(id).exists());

        let mut writer = storage.begin_upload(100).await.unwrap();
        writer.write(Bytes::from_static(b"data")).await.unwrap();
        storage
            .store(writer.finish().await.unwrap(), id)
            .await
            .unwrap()
            .keep();
        assert_eq!(std::fs::read(storage.original_path(id)).unwrap(), b"data");
        assert_eq!(storage.asset_folders().await.unwrap().len(), 1);
        storage.remove_asset(id).await.unwrap();
        storage.remove_asset(id).await.unwrap();
        assert!(storage.asset_folders().await.unwrap().is_empty());
    }
}
