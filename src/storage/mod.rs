//! The only code that touches stored files. A file is named by what it is
//! ([`AssetFile`] of an asset id), never by a path built elsewhere; only this
//! module turns a key into a path. It owns the one capped, hashing writer for
//! every inbound byte stream (`writer`), atomic publish, what media serving
//! reads, deletes and the sweeps.
//!
//! Layout of the data directory: `tmp/` holds uploads in flight
//! (`<random>.part`); `assets/<shard>/<id>/` holds one asset: `original`,
//! `original.download` (a URL download in progress, kept across attempts so
//! that the next one resumes), `thumb.jpg`, `hls/`, and `<name>.part-<random>`
//! for a thumbnail or stream in the making.

pub mod bucket;
pub mod multipart;
mod sweep;
mod writer;

pub use sweep::AssetFolder;

use bucket::Bucket;

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

pub use writer::{Upload, UploadError, UploadWriter, HEAD_LEN};

use crate::config::DataDir;
use crate::domain::{AssetId, Step};

/// A file of an asset that is served or made by a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssetFile {
    Thumbnail,
    /// The HLS folder itself, or one plain file in it (`master.m3u8`, `seg_00001.ts`).
    Hls(Option<String>),
}

impl AssetFile {
    /// The output of a step, as a whole.
    pub fn of_step(step: Step) -> Self {
        match step {
            Step::Thumbnail => Self::Thumbnail,
            Step::Hls => Self::Hls(None),
        }
    }

    /// What a media URL's file part may name: the thumbnail, or one plain file
    /// of the HLS folder. Anything else (`original`, `..`, a partial) is None.
    pub fn parse_served(name: &str) -> Option<Self> {
        if name == "thumb.jpg" {
            return Some(Self::Thumbnail);
        }
        let inner = name.strip_prefix("hls/")?;
        let plain = !inner.is_empty()
            && !inner.starts_with('.')
            && inner
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        plain.then(|| Self::Hls(Some(inner.to_string())))
    }

    /// The HLS stream's master playlist: the file a player opens first.
    pub fn hls_master() -> Self {
        Self::Hls(Some(assetd_media::MASTER_PLAYLIST.to_string()))
    }

    /// Whether this is a playlist, whose relative URIs must resolve against
    /// assetd's own media URL (so it is never redirected to the bucket).
    pub fn is_playlist(&self) -> bool {
        self.content_type() == "application/vnd.apple.mpegurl"
    }

    /// The step that makes this file.
    pub fn step(&self) -> Step {
        match self {
            Self::Thumbnail => Step::Thumbnail,
            Self::Hls(_) => Step::Hls,
        }
    }

    /// The name inside the asset's folder.
    fn relative(&self) -> PathBuf {
        match self {
            Self::Thumbnail => PathBuf::from("thumb.jpg"),
            Self::Hls(None) => PathBuf::from("hls"),
            Self::Hls(Some(name)) => Path::new("hls").join(name),
        }
    }

    /// The stem of partial copies of this output (`thumb.jpg.part-…`, `hls.part-…`).
    fn partial_prefix(&self) -> String {
        format!("{}{PARTIAL_MARK}", self.relative().display())
    }

    fn content_type(&self) -> &'static str {
        let name = match self {
            Self::Thumbnail => "thumb.jpg",
            Self::Hls(name) => name.as_deref().unwrap_or_default(),
        };
        match name.rsplit('.').next() {
            Some("m3u8") => "application/vnd.apple.mpegurl",
            Some("ts") => "video/mp2t",
            Some("m4s") => "video/iso.segment",
            Some("mp4") => "video/mp4",
            Some("aac") => "audio/aac",
            Some("jpg") => "image/jpeg",
            _ => "application/octet-stream",
        }
    }
}

const PARTIAL_MARK: &str = ".part-";
/// The stored file's name in its asset's folder.
const ORIGINAL: &str = "original";

/// A published file, ready to be served.
#[derive(Debug)]
pub struct PublishedFile {
    pub path: PathBuf,
    pub len: u64,
    pub modified: SystemTime,
    pub content_type: &'static str,
}

impl PublishedFile {
    /// A file never changes once published (a step run again publishes anew,
    /// with a new modification time and so a new ETag).
    pub const CACHE_CONTROL: &'static str = "public, max-age=86400, immutable";

    /// A strong validator from the size and the modification time.
    pub fn etag(&self) -> String {
        let modified = self
            .modified
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("\"{:x}-{:x}\"", self.len, modified)
    }
}

/// A step's output in the making, under a `.part-` name; removed on drop
/// unless published.
#[derive(Debug)]
pub struct PartialOutput {
    path: PathBuf,
    target: PathBuf,
    asset: AssetId,
    /// The output's name in its asset's folder.
    relative: PathBuf,
    published: bool,
}

impl PartialOutput {
    /// Where the media child writes (a file for a thumbnail, an empty folder for HLS).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PartialOutput {
    fn drop(&mut self) {
        if !self.published {
            if let Err(e) = remove_path_sync(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "could not remove a partial output");
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct Storage {
    root: PathBuf,
    /// The largest upload or download, in bytes: enforced by the writer alone.
    max_upload_bytes: u64,
    /// With `--storage s3`, where every published file also goes, and where
    /// a node finds what another node published: the data dir then holds
    /// this node's working copies, fetched on first use.
    bucket: Option<Bucket>,
}

impl Storage {
    pub fn new(root: impl Into<PathBuf>, max_upload_bytes: u64) -> Self {
        Self {
            root: root.into(),
            max_upload_bytes,
            bucket: None,
        }
    }

    /// The storage a command was pointed at: the data dir, and with
    /// `--storage s3` the bucket, which must take a write (else an error
    /// that names it and says why).
    pub async fn open(data: &DataDir, max_upload_bytes: u64) -> anyhow::Result<Self> {
        let mut storage = Self::new(data.files_root()?, max_upload_bytes);
        if let Some(config) = bucket::BucketConfig::of(data) {
            let bucket = Bucket::new(&config)?;
            bucket.check_writable().await?;
            tracing::info!(bucket = %config.bucket, endpoint = ?config.endpoint, "stored files go to S3");
            storage.bucket = Some(bucket);
        }
        Ok(storage)
    }

    /// Where the files are: the data dir, or with S3 the scratch dir.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The key of an asset's file (a path relative to its folder) in the bucket.
    fn object_key(id: AssetId, relative: &Path) -> String {
        format!("assets/{id}/{}", relative.display())
    }

    /// Puts a published file or folder (each file in it) to the bucket, if any.
    async fn put_published(&self, id: AssetId, relative: &Path) -> io::Result<()> {
        let Some(bucket) = &self.bucket else {
            return Ok(());
        };
        let path = self.asset_dir(id).join(relative);
        let files = if tokio::fs::metadata(&path).await?.is_dir() {
            let mut names = Vec::new();
            let mut entries = tokio::fs::read_dir(&path).await?;
            while let Some(entry) = entries.next_entry().await? {
                names.push(relative.join(entry.file_name()));
            }
            names
        } else {
            vec![relative.to_path_buf()]
        };
        for file in files {
            bucket
                .put_file(
                    &Self::object_key(id, &file),
                    &self.asset_dir(id).join(&file),
                )
                .await
                .map_err(io::Error::other)?;
        }
        Ok(())
    }

    /// Makes sure this node has its working copy of a published file,
    /// fetching it from the bucket when another node published it.
    async fn fetch_published(&self, id: AssetId, relative: &Path) -> io::Result<bool> {
        let path = self.asset_dir(id).join(relative);
        if tokio::fs::metadata(&path).await.is_ok() {
            return Ok(true);
        }
        let Some(bucket) = &self.bucket else {
            return Ok(false);
        };
        let key = Self::object_key(id, relative);
        if !bucket.exists(&key).await.map_err(io::Error::other)? {
            return Ok(false);
        }
        if let Some(parent) = path.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        bucket
            .get_to_file(&key, &path)
            .await
            .map_err(io::Error::other)?;
        Ok(true)
    }

    pub async fn prepare(&self) -> io::Result<()> {
        tokio::fs::create_dir_all(self.tmp_dir()).await?;
        tokio::fs::create_dir_all(self.assets_dir()).await
    }

    /// Whether uploads can be stored: a file can be made (and removed) where
    /// uploads begin, and with S3 the bucket answers.
    pub async fn check_ready(&self) -> anyhow::Result<()> {
        let probe = self
            .tmp_dir()
            .join(format!("readyz-{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::write(&probe, b"")
            .await
            .map_err(|e| anyhow::anyhow!("writing {}: {e}", probe.display()))?;
        tokio::fs::remove_file(&probe)
            .await
            .map_err(|e| anyhow::anyhow!("removing {}: {e}", probe.display()))?;
        if let Some(bucket) = &self.bucket {
            bucket.check_reachable().await?;
        }
        Ok(())
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    fn assets_dir(&self) -> PathBuf {
        self.root.join("assets")
    }

    fn asset_dir(&self, id: AssetId) -> PathBuf {
        self.assets_dir().join(id.shard()).join(id.as_string())
    }

    fn original_path(&self, id: AssetId) -> PathBuf {
        self.asset_dir(id).join(ORIGINAL)
    }

    /// The stored original on this node's disk, for the media child to read
    /// (ffmpeg needs a file): fetched from the bucket first when another
    /// node stored it.
    pub async fn local_original(&self, id: AssetId) -> io::Result<PathBuf> {
        if !self.fetch_published(id, Path::new(ORIGINAL)).await? {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("the original of asset {id} is not stored"),
            ));
        }
        Ok(self.original_path(id))
    }

    fn download_path(&self, id: AssetId) -> PathBuf {
        self.asset_dir(id).join("original.download")
    }

    // ------------------------------------------------------------ inbound bytes

    /// A new upload in `tmp/`: counted, hashed and capped as it is written;
    /// removed when dropped unless stored.
    pub async fn begin_upload(&self) -> io::Result<UploadWriter> {
        let path = self
            .tmp_dir()
            .join(format!("{}.part", uuid::Uuid::new_v4().simple()));
        let id = AssetId::new();
        let to_bucket = self
            .bucket
            .as_ref()
            .map(|bucket| bucket.begin_put(&Self::object_key(id, Path::new(ORIGINAL))));
        UploadWriter::create(path, self.max_upload_bytes, id, to_bucket).await
    }

    /// Refuses, before any byte is written, a body whose declared size is over the limit.
    pub fn check_declared_size(&self, declared: u64) -> Result<(), UploadError> {
        writer::check_limit(0, declared, self.max_upload_bytes)
    }

    /// How many bytes of the asset's URL download earlier attempts kept.
    pub async fn downloaded_so_far(&self, id: AssetId) -> u64 {
        tokio::fs::metadata(self.download_path(id))
            .await
            .map_or(0, |m| m.len())
    }

    /// A writer that continues the asset's URL download after its first `keep`
    /// bytes (0: start over). What it writes stays when it is dropped, so that
    /// a later attempt can resume; [`Storage::discard_download`] removes it.
    pub async fn continue_download(&self, id: AssetId, keep: u64) -> io::Result<UploadWriter> {
        tokio::fs::create_dir_all(self.asset_dir(id)).await?;
        UploadWriter::resume(self.download_path(id), keep, self.max_upload_bytes, id).await
    }

    pub async fn discard_download(&self, id: AssetId) -> io::Result<()> {
        remove_path(&self.download_path(id)).await
    }

    /// Publishes a finished upload as the original of its asset
    /// ([`Upload::id`]). The returned guard removes the asset's folder (and
    /// objects) again unless [`StoredAsset::keep`] is called once the row exists.
    pub async fn store(&self, upload: Upload) -> io::Result<StoredAsset> {
        let id = upload.id();
        let dir = self.asset_dir(id);
        tokio::fs::create_dir_all(&dir).await?;
        let guard = StoredAsset {
            dir: Some(dir),
            bucket: self.bucket.clone().map(|bucket| (bucket, id)),
        };
        self.publish_original(upload).await?;
        Ok(guard)
    }

    /// Like [`Storage::store`] for an asset whose row already exists (a URL
    /// download by a job).
    pub async fn store_for_existing(&self, upload: Upload) -> io::Result<()> {
        tokio::fs::create_dir_all(self.asset_dir(upload.id())).await?;
        self.publish_original(upload).await
    }

    /// Moves an upload onto its asset's original, and sees that the bucket
    /// has it: an upload streamed there while it arrived already is.
    async fn publish_original(&self, upload: Upload) -> io::Result<()> {
        let id = upload.id();
        match upload.publish(&self.original_path(id)).await? {
            Some(object) => {
                object.keep();
                Ok(())
            }
            None => self.put_published(id, Path::new(ORIGINAL)).await,
        }
    }

    // ------------------------------------------------------------ step outputs

    /// A fresh place for `output` in the making, after removing what an
    /// interrupted attempt left. For HLS it is an empty folder. The asset's
    /// folder is made if this node has none yet (with S3, a node that never
    /// handled the asset).
    pub async fn begin_output(&self, id: AssetId, output: AssetFile) -> io::Result<PartialOutput> {
        let dir = self.asset_dir(id);
        tokio::fs::create_dir_all(&dir).await?;
        self.remove_partials(&dir, &output.partial_prefix()).await?;
        let path = dir.join(format!(
            "{}{}",
            output.partial_prefix(),
            uuid::Uuid::new_v4().simple()
        ));
        if matches!(output, AssetFile::Hls(_)) {
            tokio::fs::create_dir(&path).await?;
        }
        Ok(PartialOutput {
            path,
            target: dir.join(output.relative()),
            asset: id,
            relative: output.relative(),
            published: false,
        })
    }

    /// Moves a finished output onto its final name, replacing an older one (a
    /// step that is run again).
    pub async fn publish(&self, mut partial: PartialOutput) -> io::Result<()> {
        if tokio::fs::symlink_metadata(&partial.target).await.is_ok() {
            remove_path(&partial.target).await?;
        }
        if let Some(bucket) = &self.bucket {
            bucket
                .delete_prefix(&Self::object_key(partial.asset, &partial.relative))
                .await
                .map_err(io::Error::other)?;
        }
        tokio::fs::rename(&partial.path, &partial.target).await?;
        partial.published = true;
        self.put_published(partial.asset, &partial.relative).await
    }

    /// Removes a published output (its asset was deleted while it was made).
    pub async fn remove_output(&self, id: AssetId, output: &AssetFile) -> io::Result<()> {
        if let Some(bucket) = &self.bucket {
            bucket
                .delete_prefix(&Self::object_key(id, &output.relative()))
                .await
                .map_err(io::Error::other)?;
        }
        remove_path(&self.asset_dir(id).join(output.relative())).await
    }

    async fn remove_partials(&self, dir: &Path, prefix: &str) -> io::Result<()> {
        let mut entries = match tokio::fs::read_dir(dir).await {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(e),
        };
        while let Some(entry) = entries.next_entry().await? {
            if entry.file_name().to_string_lossy().starts_with(prefix) {
                remove_path(&entry.path()).await?;
            }
        }
        Ok(())
    }

    // ------------------------------------------------------------ serving

    /// With a bucket: a URL of the published file's object valid for `ttl`,
    /// for a client to fetch from the bucket itself. None without a bucket.
    pub async fn presigned_url(
        &self,
        id: AssetId,
        file: &AssetFile,
        ttl: std::time::Duration,
    ) -> io::Result<Option<url::Url>> {
        let Some(bucket) = &self.bucket else {
            return Ok(None);
        };
        let key = Self::object_key(id, &file.relative());
        bucket
            .presigned_get(&key, ttl)
            .await
            .map(Some)
            .map_err(io::Error::other)
    }

    /// A published file of an asset, or None when there is none by that name.
    pub async fn published(&self, id: AssetId, file: &AssetFile) -> Option<PublishedFile> {
        let path = self.asset_dir(id).join(file.relative());
        let meta = match tokio::fs::metadata(&path).await {
            Ok(meta) => meta,
            // Not here: another node may have published it (only a player's
            // first request for a file pays for the bucket).
            Err(_) => match self.fetch_published(id, &file.relative()).await {
                Ok(true) => tokio::fs::metadata(&path).await.ok()?,
                Ok(false) => return None,
                Err(e) => {
                    tracing::warn!(asset = %id, error = %e, "could not fetch a published file from the bucket");
                    return None;
                }
            },
        };
        meta.is_file().then(|| PublishedFile {
            len: meta.len(),
            modified: meta.modified().unwrap_or(std::time::UNIX_EPOCH),
            content_type: file.content_type(),
            path,
        })
    }
}

/// Removes a file or a folder with what it holds; already gone is fine.
async fn remove_path(path: &Path) -> io::Result<()> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || remove_path_sync(&path))
        .await
        .map_err(io::Error::other)?
}

fn remove_path_sync(path: &Path) -> io::Result<()> {
    let result = match std::fs::symlink_metadata(path) {
        Ok(meta) if meta.is_dir() => std::fs::remove_dir_all(path),
        Ok(_) => std::fs::remove_file(path),
        Err(e) => Err(e),
    };
    match result {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// An asset folder (and its objects in the bucket) that is removed on drop
/// until its database row exists.
#[derive(Debug)]
pub struct StoredAsset {
    dir: Option<PathBuf>,
    bucket: Option<(Bucket, AssetId)>,
}

impl StoredAsset {
    pub fn keep(mut self) {
        self.dir = None;
        self.bucket = None;
    }
}

impl Drop for StoredAsset {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            if let Err(e) = remove_path_sync(&dir) {
                tracing::warn!(path = %dir.display(), error = %e, "could not remove unfinished asset folder");
            }
        }
        // Its objects go in the background; if the node dies first, they are
        // objects without a row for fsck.
        if let Some((bucket, id)) = self.bucket.take() {
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                runtime.spawn(async move {
                    if let Err(e) = bucket.delete_prefix(&format!("assets/{id}")).await {
                        tracing::warn!(asset = %id, error = %e, "could not remove the objects of an unfinished asset");
                    }
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_published_files_can_be_named() {
        assert_eq!(
            AssetFile::parse_served("thumb.jpg"),
            Some(AssetFile::Thumbnail)
        );
        assert_eq!(
            AssetFile::parse_served("hls/master.m3u8"),
            Some(AssetFile::Hls(Some("master.m3u8".into())))
        );
        assert_eq!(
            AssetFile::parse_served("hls/seg_00001.ts").map(|f| f.step()),
            Some(Step::Hls)
        );
        for bad in [
            "original",
            "original.download",
            "hls/../original",
            "hls/",
            "hls/.hidden",
            "hls/a/b.ts",
            "../secret",
            "thumb.jpg.part-1",
        ] {
            assert_eq!(AssetFile::parse_served(bad), None, "{bad}");
        }
    }

    #[tokio::test]
    async fn stored_asset_is_removed_unless_kept() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new(dir.path(), 100);
        storage.prepare().await.unwrap();

        let mut writer = storage.begin_upload().await.unwrap();
        writer
            .write(bytes::Bytes::from_static(b"data"))
            .await
            .unwrap();
        let upload = writer.finish().await.unwrap();
        let id = upload.id();
        let guard = storage.store(upload).await.unwrap();
        assert!(storage.original_path(id).exists());
        drop(guard);
        assert!(!storage.asset_dir(id).exists());

        let mut writer = storage.begin_upload().await.unwrap();
        writer
            .write(bytes::Bytes::from_static(b"data"))
            .await
            .unwrap();
        let upload = writer.finish().await.unwrap();
        let id = upload.id();
        storage.store(upload).await.unwrap().keep();
        assert_eq!(std::fs::read(storage.original_path(id)).unwrap(), b"data");
        assert_eq!(storage.asset_folders().await.unwrap().len(), 1);
        storage.remove_asset(id).await.unwrap();
        storage.remove_asset(id).await.unwrap();
        assert!(storage.asset_folders().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_partial_output_is_removed_unless_published() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::new(dir.path(), 100);
        let id = AssetId::new();
        tokio::fs::create_dir_all(storage.asset_dir(id))
            .await
            .unwrap();

        let partial = storage
            .begin_output(id, AssetFile::Hls(None))
            .await
            .unwrap();
        let path = partial.path().to_path_buf();
        assert!(path.is_dir());
        drop(partial);
        assert!(!path.exists());

        let partial = storage
            .begin_output(id, AssetFile::Thumbnail)
            .await
            .unwrap();
        std::fs::write(partial.path(), b"jpeg").unwrap();
        storage.publish(partial).await.unwrap();
        let published = storage.published(id, &AssetFile::Thumbnail).await.unwrap();
        assert_eq!(published.len, 4);
        assert_eq!(published.content_type, "image/jpeg");
    }
}
