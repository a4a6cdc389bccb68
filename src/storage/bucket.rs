//! The bucket of an S3-compatible object store (AWS S3, MinIO, Garage, Ceph,
//! R2, B2), through `object_store`'s AmazonS3: the durable home of stored
//! files for nodes that share no file system. Files go in and out by
//! streaming, in parts of [`PART_BYTES`] with at most [`PARTS_IN_FLIGHT`]
//! parts in flight, so memory does not grow with a file's size; a put that
//! fails is aborted, so that no half-written object or multipart upload stays
//! behind.
//!
//! This is the client the S3 storage backend is built on (issue 9); it is
//! tested on its own against a real S3-compatible server (`tests/bucket.rs`).

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use futures_util::StreamExt;
use object_store::aws::AmazonS3Builder;
use object_store::path::Path as Key;
use object_store::{ObjectStore, PutPayload, WriteMultipart};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::config::{DataDir, StorageKind};

/// Size of one part of a multipart put (S3's minimum). With [`PARTS_IN_FLIGHT`]
/// it bounds a put's memory: measured with `scripts/bench-s3-upload`, 5 MiB
/// and 2 in flight raised the server's peak RSS by 22 MiB, 8 MiB and 4 by 52.
pub const PART_BYTES: usize = 5 << 20;
/// Parts uploaded at once.
pub const PARTS_IN_FLIGHT: usize = 2;

/// Where the bucket is. Credentials come from the usual AWS variables
/// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`).
#[derive(Debug, Clone)]
pub struct BucketConfig {
    pub bucket: String,
    /// Any S3-compatible server, e.g. `http://127.0.0.1:3900`; None: AWS.
    pub endpoint: Option<String>,
    pub region: String,
    /// Every key starts with this (e.g. `assetd/`); may be empty.
    pub prefix: String,
    /// `https://host/bucket/key` instead of `https://bucket.host/key`, for
    /// servers without virtual-host addressing.
    pub force_path_style: bool,
}

impl BucketConfig {
    /// The bucket of `--storage s3`; None for local storage.
    pub fn of(data: &DataDir) -> Option<Self> {
        (data.storage == StorageKind::S3).then(|| Self {
            bucket: data.s3_bucket.clone().unwrap_or_default(),
            endpoint: data.s3_endpoint.clone(),
            region: data.s3_region.clone(),
            prefix: data.s3_prefix.clone(),
            force_path_style: data.s3_force_path_style,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Bucket {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    name: String,
}

impl Bucket {
    pub fn new(config: &BucketConfig) -> anyhow::Result<Self> {
        let mut builder = AmazonS3Builder::from_env()
            .with_bucket_name(&config.bucket)
            .with_region(&config.region)
            .with_virtual_hosted_style_request(!config.force_path_style);
        if let Some(endpoint) = &config.endpoint {
            // A local server is usually plain http; the scheme is the operator's choice.
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let store = builder
            .build()
            .with_context(|| format!("configuring S3 bucket {}", config.bucket))?;
        let prefix = config.prefix.trim_matches('/');
        Ok(Self {
            store: Arc::new(store),
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            name: config.bucket.clone(),
        })
    }

    fn key(&self, key: &str) -> Key {
        Key::from(format!("{}{key}", self.prefix))
    }

    /// Writes, reads back and deletes a small object: start-up refuses a
    /// bucket it cannot use, with a message that says why.
    pub async fn check_writable(&self) -> anyhow::Result<()> {
        let key = self.key(&format!(".assetd-check-{}", uuid::Uuid::new_v4().simple()));
        let what = || format!("S3 bucket {} is not writable", self.name);
        self.store
            .put(&key, PutPayload::from_static(b"assetd"))
            .await
            .with_context(what)?;
        let read = self.store.get(&key).await.with_context(what)?;
        read.bytes().await.with_context(what)?;
        self.store.delete(&key).await.with_context(what)?;
        Ok(())
    }

    /// Puts the file at `path` as `key`, in parts; on any error the multipart
    /// upload is aborted and the error returned. The file then takes the
    /// object's time, as every node's copy of it does (see [`set_modified`]).
    pub async fn put_file(&self, key: &str, path: &Path) -> anyhow::Result<()> {
        let mut file = tokio::fs::File::open(path)
            .await
            .with_context(|| format!("opening {}", path.display()))?;
        let upload = self.store.put_multipart(&self.key(key)).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let copied = async {
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = file.read(&mut buf).await?;
                if n == 0 {
                    return Ok::<_, anyhow::Error>(());
                }
                writer.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                writer.write(&buf[..n]);
            }
        }
        .await;
        match copied {
            Ok(()) => {
                writer.finish().await?;
                let meta = self.store.head(&self.key(key)).await?;
                set_modified(path, meta.last_modified.timestamp_millis()).await
            }
            Err(e) => {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(error = %abort, %key, "could not abort a multipart upload");
                }
                Err(e.context(format!("putting {key}")))
            }
        }
    }

    /// Writes the object `key` to `dest`, through a partial file renamed into
    /// place once complete, so that `dest` is never half-written.
    pub async fn get_to_file(&self, key: &str, dest: &Path) -> anyhow::Result<()> {
        let partial = dest.with_extension(format!("part-{}", uuid::Uuid::new_v4().simple()));
        let fetched = async {
            let got = self.store.get(&self.key(key)).await?;
            let modified = got.meta.last_modified.timestamp_millis();
            let mut stream = got.into_stream();
            let mut file = tokio::fs::File::create(&partial).await?;
            while let Some(chunk) = stream.next().await {
                file.write_all(&chunk?).await?;
            }
            file.sync_all().await?;
            drop(file);
            set_modified(&partial, modified).await?;
            tokio::fs::rename(&partial, dest).await?;
            Ok::<_, anyhow::Error>(())
        }
        .await;
        if fetched.is_err() {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        fetched.with_context(|| format!("getting {key}"))
    }

    /// Whether `key` exists.
    pub async fn exists(&self, key: &str) -> anyhow::Result<bool> {
        match self.store.head(&self.key(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Deletes the object `prefix` and every object under it (e.g. an asset's
    /// `assets/<id>`, or one file `assets/<id>/thumb.jpg`); none is fine.
    /// Returns how many went.
    pub async fn delete_prefix(&self, prefix: &str) -> anyhow::Result<usize> {
        let under = self.key(prefix);
        // A listing by prefix covers what is under it, not an object of that
        // very name.
        let mut count = match self.store.head(&under).await {
            Ok(_) => {
                self.store.delete(&under).await?;
                1
            }
            Err(object_store::Error::NotFound { .. }) => 0,
            Err(e) => return Err(e.into()),
        };
        let listed = self
            .store
            .list(Some(&under))
            .map(|meta| meta.map(|m| m.location));
        let mut deleted = self.store.delete_stream(listed.boxed());
        while let Some(result) = deleted.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => count += 1,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(count)
    }

    /// The names directly under `prefix` (e.g. the asset ids under `assets`)
    /// whose objects all are older than `grace`: what fsck may take for
    /// leftovers without racing a node that is putting them right now.
    pub async fn names_untouched_for(
        &self,
        prefix: &str,
        grace: std::time::Duration,
    ) -> anyhow::Result<Vec<String>> {
        let under = self.key(prefix);
        let depth = under.parts().count();
        // Unix milliseconds of each name's newest object.
        let mut newest: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
        let mut listed = self.store.list(Some(&under));
        while let Some(meta) = listed.next().await {
            let meta = meta?;
            let Some(name) = meta.location.parts().nth(depth) else {
                continue;
            };
            let modified = meta.last_modified.timestamp_millis();
            let entry = newest.entry(name.as_ref().to_string()).or_insert(modified);
            *entry = (*entry).max(modified);
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let cutoff = now - grace.as_millis() as i64;
        Ok(newest
            .into_iter()
            .filter(|(_, modified)| *modified <= cutoff)
            .map(|(name, _)| name)
            .collect())
    }

    /// The names directly under `prefix` (e.g. the asset ids under `assets/`).
    pub async fn list_names(&self, prefix: &str) -> anyhow::Result<Vec<String>> {
        let listed = self
            .store
            .list_with_delimiter(Some(&self.key(prefix)))
            .await?;
        Ok(listed
            .common_prefixes
            .iter()
            .chain(listed.objects.iter().map(|o| &o.location))
            .filter_map(|path| path.filename().map(str::to_string))
            .collect())
    }
}

/// Gives a local copy its object's modification time: the ETag and
/// Last-Modified a node serves come from its copy's time, and so are the same
/// on every node that serves the object.
async fn set_modified(path: &Path, unix_millis: i64) -> anyhow::Result<()> {
    let time = std::time::UNIX_EPOCH
        + std::time::Duration::from_millis(u64::try_from(unix_millis).unwrap_or(0));
    let file = std::fs::OpenOptions::new().write(true).open(path)?;
    tokio::task::spawn_blocking(move || file.set_modified(time))
        .await?
        .with_context(|| format!("setting the time of {}", path.display()))
}
