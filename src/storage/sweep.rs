//! Deletes and sweeps: what removes stored files, and what finds leftovers
//! (asset folders without a row, temporary files of uploads that never
//! finished). Whether a leftover may go is decided by the caller; a `grace`
//! spares what changed recently, which on shared storage may be another
//! node's work in flight.

use std::io;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use super::bucket::MultipartUpload;
use super::{remove_path, Storage};
use crate::domain::AssetId;

/// How long an upload to the bucket may stay unfinished before it counts as a
/// leftover: far longer than the slowest upload of the largest file takes
/// (4 GB at 1 MB/s is about 70 minutes).
pub const MULTIPART_UPLOAD_MAX_AGE: Duration = Duration::from_secs(24 * 3600);

impl Storage {
    /// Removes every file of an asset, from the bucket too; what is already
    /// gone is fine.
    pub async fn remove_asset(&self, id: AssetId) -> io::Result<()> {
        if let Some(bucket) = &self.bucket {
            bucket
                .delete_prefix(&format!("assets/{id}"))
                .await
                .map_err(io::Error::other)?;
        }
        remove_path(&self.asset_dir(id)).await
    }

    /// The asset ids with objects in the bucket (none without one) that
    /// nobody put for `grace`.
    pub async fn objects_untouched_for(&self, grace: Duration) -> io::Result<Vec<String>> {
        match &self.bucket {
            Some(bucket) => bucket
                .names_untouched_for("assets", grace)
                .await
                .map_err(io::Error::other),
            None => Ok(Vec::new()),
        }
    }

    /// Deletes the objects of `name` (an asset id found by
    /// [`Storage::objects_untouched_for`] that has no row).
    pub async fn remove_objects(&self, name: &str) -> io::Result<()> {
        if let Some(bucket) = &self.bucket {
            tracing::info!(%name, "removing objects that have no database row");
            bucket
                .delete_prefix(&format!("assets/{name}"))
                .await
                .map_err(io::Error::other)?;
        }
        Ok(())
    }

    /// The multipart uploads of asset files left unfinished in the bucket for
    /// more than [`MULTIPART_UPLOAD_MAX_AGE`] (a node died mid-upload); none
    /// without a bucket.
    pub async fn stale_multipart_uploads(&self) -> io::Result<Vec<MultipartUpload>> {
        match &self.bucket {
            Some(bucket) => bucket
                .stale_multipart_uploads("assets/", MULTIPART_UPLOAD_MAX_AGE)
                .await
                .map_err(io::Error::other),
            None => Ok(Vec::new()),
        }
    }

    /// Aborts one of [`Storage::stale_multipart_uploads`], deleting its parts.
    pub async fn abort_multipart_upload(&self, upload: &MultipartUpload) -> io::Result<()> {
        if let Some(bucket) = &self.bucket {
            tracing::info!(key = %upload.key, "aborting a multipart upload left unfinished");
            bucket
                .abort_multipart(upload)
                .await
                .map_err(io::Error::other)?;
        }
        Ok(())
    }

    /// Whether the data dir holds working copies of a bucket's files (which
    /// may be removed), rather than the only copies.
    pub fn keeps_working_copies(&self) -> bool {
        self.bucket.is_some()
    }

    /// With a bucket: removes the working copies of the assets written to
    /// least recently until the data dir's copies fit in `max_bytes`, sparing
    /// folders written to within `grace` (a step publishing into one, a copy
    /// being fetched). Returns how many folders went. Without a bucket the
    /// data dir holds the only copy, and nothing is removed.
    pub async fn trim_working_copies(&self, max_bytes: u64, grace: Duration) -> io::Result<usize> {
        if self.bucket.is_none() {
            return Ok(0);
        }
        let mut folders = Vec::new();
        let mut total = 0u64;
        for folder in self.asset_folders().await? {
            let (bytes, last_write) = size_and_last_write(&folder.path).await?;
            total += bytes;
            folders.push((folder, bytes, last_write));
        }
        // Oldest writes first.
        folders.sort_by_key(|(_, _, last_write)| *last_write);
        let mut removed = 0;
        for (folder, bytes, last_write) in folders {
            if total <= max_bytes {
                break;
            }
            if untouched(last_write, grace) {
                remove_path(&folder.path).await?;
                total -= bytes;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Whether an asset's original is stored (in the bucket, with one).
    pub async fn has_original(&self, id: AssetId) -> io::Result<bool> {
        match &self.bucket {
            Some(bucket) => bucket
                .exists(&Self::object_key(id, std::path::Path::new(super::ORIGINAL)))
                .await
                .map_err(io::Error::other),
            None => Ok(tokio::fs::metadata(self.original_path(id))
                .await
                .is_ok_and(|meta| meta.is_file())),
        }
    }

    /// Files in `tmp/` that nobody wrote to for `untouched_for`.
    pub async fn stale_tmp(&self, untouched_for: Duration) -> io::Result<Vec<PathBuf>> {
        let mut stale = Vec::new();
        let mut entries = tokio::fs::read_dir(self.tmp_dir()).await?;
        while let Some(entry) = entries.next_entry().await? {
            if untouched(entry.metadata().await?.modified().ok(), untouched_for) {
                stale.push(entry.path());
            }
        }
        Ok(stale)
    }

    /// Deletes what uploads interrupted by a crash left in `tmp/`, at start-up:
    /// all of it when this is the only server on the data dir (`untouched_for`
    /// zero), else only files that nobody wrote to for that long.
    pub async fn sweep_tmp(&self, untouched_for: Duration) -> io::Result<usize> {
        let stale = self.stale_tmp(untouched_for).await?;
        for path in &stale {
            self.remove_stale_tmp(path).await?;
        }
        Ok(stale.len())
    }

    /// Removes one of [`Storage::stale_tmp`]; already gone is fine.
    pub async fn remove_stale_tmp(&self, path: &std::path::Path) -> io::Result<()> {
        remove_path(path).await
    }

    /// Every asset folder on disk. Folders whose names are not asset ids are
    /// listed too, so that the sweep can remove them.
    pub async fn asset_folders(&self) -> io::Result<Vec<AssetFolder>> {
        let mut found = Vec::new();
        let mut shards = tokio::fs::read_dir(self.assets_dir()).await?;
        while let Some(shard) = shards.next_entry().await? {
            if !shard.file_type().await?.is_dir() {
                continue;
            }
            let mut assets = tokio::fs::read_dir(shard.path()).await?;
            while let Some(asset) = assets.next_entry().await? {
                found.push(AssetFolder {
                    name: asset.file_name().to_string_lossy().into_owned(),
                    path: asset.path(),
                    modified: asset.metadata().await?.modified().ok(),
                });
            }
        }
        Ok(found)
    }

    /// Removes a folder found by [`Storage::asset_folders`] (one without a row).
    pub async fn remove_asset_folder(&self, folder: &AssetFolder) -> io::Result<()> {
        tracing::info!(folder = %folder.path.display(), "removing an asset folder that has no database row");
        remove_path(&folder.path).await
    }
}

/// Whether a file or folder was last changed longer than `grace` ago (all of
/// them when `grace` is zero).
fn untouched(modified: Option<SystemTime>, grace: Duration) -> bool {
    grace.is_zero()
        || modified
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age >= grace)
}

/// An asset's folder as found on disk, by the sweep.
#[derive(Debug)]
pub struct AssetFolder {
    /// The folder's name: the asset id, if it is one.
    pub name: String,
    path: PathBuf,
    modified: Option<SystemTime>,
}

impl AssetFolder {
    /// Whether nothing in the folder changed for `grace` (always, when zero).
    pub fn untouched_for(&self, grace: Duration) -> bool {
        untouched(self.modified, grace)
    }
}

/// The bytes of the files under `path`, and the newest modification time of
/// anything there: a step writing segments into a partial folder deep inside
/// counts as a write to the asset's folder.
async fn size_and_last_write(path: &std::path::Path) -> io::Result<(u64, Option<SystemTime>)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut total = 0;
        let mut newest = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let mut pending = vec![path];
        while let Some(dir) = pending.pop() {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let meta = entry.metadata()?;
                newest = newest.max(meta.modified().ok());
                if meta.is_dir() {
                    pending.push(entry.path());
                } else {
                    total += meta.len();
                }
            }
        }
        Ok((total, newest))
    })
    .await
    .map_err(io::Error::other)?
}
