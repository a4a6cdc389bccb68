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
use bytes::Bytes;
use futures_util::StreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder, AwsAuthorizer};
use object_store::buffered::BufWriter;
use object_store::multipart::MultipartStore;
use object_store::path::Path as Key;
use object_store::signer::Signer;
use object_store::{ObjectStore, PutPayload};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};

use crate::config::{DataDir, StorageKind};

/// Size of one part of a multipart put (S3's minimum). With [`PARTS_IN_FLIGHT`]
/// it bounds a put's memory: measured with `scripts/bench-s3-upload`, 5 MiB
/// and 2 in flight raised the server's peak RSS by 22 MiB, 8 MiB and 4 by 52.
pub const PART_BYTES: usize = 5 << 20;
/// Parts uploaded at once.
pub const PARTS_IN_FLIGHT: usize = 2;

/// Chunks on their way from a writer to a put: with the parts being filled
/// and in flight, what bounds a put's memory.
const PUT_PIPELINE_CHUNKS: usize = 8;

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
    store: Arc<AmazonS3>,
    prefix: String,
    name: String,
    region: String,
    /// The bucket's own URL, for the requests `object_store` does not make.
    url: String,
    /// The client of those requests (one, so that connections are reused).
    http: reqwest::Client,
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
        let url = match (&config.endpoint, config.force_path_style) {
            // With virtual-host addressing an endpoint names the bucket's own host.
            (Some(endpoint), false) => endpoint.trim_end_matches('/').to_string(),
            (Some(endpoint), true) => {
                format!("{}/{}", endpoint.trim_end_matches('/'), config.bucket)
            }
            (None, false) => format!(
                "https://{}.s3.{}.amazonaws.com",
                config.bucket, config.region
            ),
            (None, true) => format!(
                "https://s3.{}.amazonaws.com/{}",
                config.region, config.bucket
            ),
        };
        Ok(Self {
            store: Arc::new(store),
            region: config.region.clone(),
            url,
            prefix: if prefix.is_empty() {
                String::new()
            } else {
                format!("{prefix}/")
            },
            name: config.bucket.clone(),
            http: reqwest::Client::new(),
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
        let mut put = self.begin_put(key);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = match file.read(&mut buf).await {
                Ok(n) => n,
                Err(e) => {
                    put.abort().await;
                    return Err(anyhow::Error::from(e)
                        .context(format!("putting {key}: reading {}", path.display())));
                }
            };
            if n == 0 {
                break;
            }
            put.write(Bytes::copy_from_slice(&buf[..n])).await?;
        }
        let object = put.finish().await?;
        object.stamp(path).await?;
        object.keep();
        Ok(())
    }

    /// A put of `key` that takes the bytes as they come (an upload while it
    /// is received), in parts of [`PART_BYTES`]. Dropped before
    /// [`StreamingPut::finish`], it aborts the multipart upload.
    pub fn begin_put(&self, key: &str) -> StreamingPut {
        let (to_bucket, mut from_writer) = mpsc::channel::<PutMessage>(PUT_PIPELINE_CHUNKS);
        let store = self.store.clone();
        let location = self.key(key);
        let task = tokio::spawn(async move {
            // A file under one part goes in one PUT; a larger one as a
            // multipart upload of parts of PART_BYTES.
            let mut writer = BufWriter::with_capacity(store.clone(), location.clone(), PART_BYTES)
                .with_max_concurrency(PARTS_IN_FLIGHT);
            let written = async {
                while let Some(message) = from_writer.recv().await {
                    match message {
                        PutMessage::Data(chunk) => writer.put(chunk).await?,
                        PutMessage::Finish(reply) => return Ok(Some(reply)),
                    }
                }
                Ok::<_, object_store::Error>(None)
            }
            .await;
            let reply = match written {
                Ok(Some(reply)) => reply,
                // Abandoned (the writer was dropped) or failed: no half-made
                // multipart upload stays behind.
                abandoned_or_failed => {
                    if let Err(abort) = writer.abort().await {
                        tracing::warn!(error = %abort, key = %location, "could not abort a multipart upload");
                    }
                    return abandoned_or_failed.map(|_| ()).map_err(anyhow::Error::from);
                }
            };
            let completed = async {
                writer.shutdown().await?;
                let meta = store.head(&location).await?;
                Ok::<_, anyhow::Error>(meta.last_modified.timestamp_millis())
            }
            .await;
            let made = completed.is_ok();
            // Nobody waits for it any more (the request went away while the
            // upload was completed): the object must not stay.
            if reply.send(completed).is_err() && made {
                if let Err(e) = store.delete(&location).await {
                    tracing::warn!(key = %location, error = %e, "could not delete the object of an abandoned upload");
                }
            }
            Ok(())
        });
        StreamingPut {
            to_bucket,
            task,
            bucket: self.clone(),
            key: key.to_string(),
        }
    }

    /// A URL that lets whoever holds it GET the object `key` for `ttl`,
    /// signed with the bucket's credentials (AWS SigV4 query parameters).
    pub async fn presigned_get(
        &self,
        key: &str,
        ttl: std::time::Duration,
    ) -> anyhow::Result<url::Url> {
        Ok(self
            .store
            .signed_url(reqwest::Method::GET, &self.key(key), ttl)
            .await?)
    }

    /// Deletes the object `key`; none is fine.
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match self.store.delete(&self.key(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
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

    /// Whether the bucket answers: a listing of one empty prefix (a HEAD
    /// would take a missing bucket for a missing object).
    pub async fn check_reachable(&self) -> anyhow::Result<()> {
        self.store
            .list_with_delimiter(Some(&self.key("readyz/")))
            .await
            .with_context(|| format!("listing bucket {}", self.name))?;
        Ok(())
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

    /// The multipart uploads under `prefix` begun more than `age` ago and
    /// neither completed nor aborted: what a node that died mid-upload left.
    /// S3 keeps (and bills) their parts until they are aborted.
    pub async fn stale_multipart_uploads(
        &self,
        prefix: &str,
        age: std::time::Duration,
    ) -> anyhow::Result<Vec<MultipartUpload>> {
        let cutoff = time::OffsetDateTime::now_utc() - age;
        let mut stale = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut url = url::Url::parse(&self.url)?;
            {
                let mut query = url.query_pairs_mut();
                query.append_pair("uploads", "");
                query.append_pair("prefix", self.key(prefix).as_ref());
                if let Some((key, upload)) = &markers {
                    query.append_pair("key-marker", key);
                    query.append_pair("upload-id-marker", upload);
                }
            }
            let listing: ListMultipartUploadsResult =
                quick_xml::de::from_str(&self.signed_get(url).await?)
                    .context("reading the list of multipart uploads")?;
            for upload in listing.uploads {
                let initiated = time::OffsetDateTime::parse(
                    &upload.initiated,
                    &time::format_description::well_known::Rfc3339,
                )
                .with_context(|| format!("reading the time {:?}", upload.initiated))?;
                if initiated <= cutoff {
                    let key = upload
                        .key
                        .strip_prefix(&self.prefix)
                        .unwrap_or(&upload.key)
                        .to_string();
                    stale.push(MultipartUpload {
                        key,
                        upload_id: upload.upload_id,
                    });
                }
            }
            match (
                listing.is_truncated,
                listing.next_key_marker,
                listing.next_upload_id_marker,
            ) {
                (true, Some(key), Some(upload)) => markers = Some((key, upload)),
                _ => return Ok(stale),
            }
        }
    }

    /// Begins a multipart upload of `key` whose parts a client sends one by
    /// one (the multipart upload sessions of the API); its id.
    pub async fn create_multipart(&self, key: &str) -> anyhow::Result<String> {
        Ok(self.store.create_multipart(&self.key(key)).await?)
    }

    /// Stores part `index` (1-based, as on the wire) of a multipart upload
    /// from a body of exactly `size` bytes, sent on as it arrives (UploadPart
    /// with an unsigned payload: nothing is held to hash it first); the part's
    /// ETag, for completion. Sent again, it replaces the part, but only once
    /// it is whole: a body that fails or ends short leaves the earlier part.
    pub async fn put_part(
        &self,
        upload: &MultipartUpload,
        index: u64,
        size: u64,
        body: reqwest::Body,
    ) -> anyhow::Result<String> {
        let mut url = url::Url::parse(&self.url)?;
        url.path_segments_mut()
            .map_err(|()| anyhow::anyhow!("the bucket URL {} has no path", self.url))?
            .pop_if_empty()
            .extend(
                self.key(&upload.key)
                    .parts()
                    .map(|part| part.as_ref().to_string()),
            );
        url.query_pairs_mut()
            .append_pair("partNumber", &index.to_string())
            .append_pair("uploadId", &upload.upload_id);
        let response = self
            .signed(reqwest::Method::PUT, url.clone(), false)
            .await?
            .header(reqwest::header::CONTENT_LENGTH, size)
            .body(body)
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            anyhow::bail!("S3 answered {status} to PUT {url}: {body}");
        }
        response
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|etag| etag.to_str().ok())
            .map(str::to_string)
            .with_context(|| format!("S3 gave no ETag for PUT {url}"))
    }

    /// Completes a multipart upload from its parts' ETags, in order: the
    /// object exists from then on. An upload already completed (a retried
    /// job) is fine when its object is there.
    pub async fn complete_multipart(
        &self,
        upload: &MultipartUpload,
        part_etags: Vec<String>,
    ) -> anyhow::Result<()> {
        let parts = part_etags
            .into_iter()
            .map(|content_id| object_store::multipart::PartId { content_id })
            .collect();
        match self
            .store
            .complete_multipart(&self.key(&upload.key), &upload.upload_id, parts)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if self.exists(&upload.key).await.unwrap_or(false) => {
                tracing::info!(key = %upload.key, error = %e, "a multipart upload was already completed");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Aborts a multipart upload, which deletes its parts.
    pub async fn abort_multipart(&self, upload: &MultipartUpload) -> anyhow::Result<()> {
        match self
            .store
            .abort_multipart(&self.key(&upload.key), &upload.upload_id)
            .await
        {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// A request that `object_store` has no call for, signed with the same
    /// credentials (AWS SigV4) as its own requests; with `sign_payload` its
    /// (empty) body is part of the signature, without it the body is sent
    /// as `UNSIGNED-PAYLOAD` and may stream.
    async fn signed(
        &self,
        method: reqwest::Method,
        url: url::Url,
        sign_payload: bool,
    ) -> anyhow::Result<reqwest::RequestBuilder> {
        let credential = self.store.credentials().get_credential().await?;
        let mut request = object_store::client::HttpRequest::new(Vec::new().into());
        *request.method_mut() = method.as_str().parse()?;
        *request.uri_mut() = url.as_str().parse()?;
        AwsAuthorizer::new(&credential, "s3", &self.region)
            .with_sign_payload(sign_payload)
            .authorize(&mut request, None);
        let mut signed = self.http.request(method, url.as_str());
        for (name, value) in request.headers() {
            signed = signed.header(name.as_str(), value.as_bytes());
        }
        Ok(signed)
    }

    /// A signed GET; the body, as text.
    async fn signed_get(&self, url: url::Url) -> anyhow::Result<String> {
        let response = self
            .signed(reqwest::Method::GET, url.clone(), true)
            .await?
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await?;
        if !status.is_success() {
            anyhow::bail!("S3 answered {status} to GET {url}: {body}");
        }
        Ok(body)
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

/// A multipart upload in the bucket; `key` is relative to the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartUpload {
    pub key: String,
    pub upload_id: String,
}

/// The answer to ListMultipartUploads, as far as it is read.
#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListMultipartUploadsResult {
    #[serde(default)]
    is_truncated: bool,
    next_key_marker: Option<String>,
    next_upload_id_marker: Option<String>,
    #[serde(default, rename = "Upload")]
    uploads: Vec<ListedUpload>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ListedUpload {
    key: String,
    upload_id: String,
    initiated: String,
}

enum PutMessage {
    Data(Bytes),
    /// Every byte was sent: complete the upload and answer with the object's
    /// time. Without it the put was abandoned.
    Finish(oneshot::Sender<anyhow::Result<i64>>),
}

/// A put in progress (see [`Bucket::begin_put`]).
#[derive(Debug)]
pub struct StreamingPut {
    to_bucket: mpsc::Sender<PutMessage>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
    bucket: Bucket,
    key: String,
}

impl StreamingPut {
    pub async fn write(&mut self, chunk: Bytes) -> anyhow::Result<()> {
        if self.to_bucket.send(PutMessage::Data(chunk)).await.is_err() {
            // The put stopped: it failed, and says why when joined.
            return Err(self.stopped().await);
        }
        Ok(())
    }

    async fn stopped(&mut self) -> anyhow::Error {
        let key = &self.key;
        match (&mut self.task).await {
            Ok(Err(e)) => e.context(format!("putting {key}")),
            Ok(Ok(_)) => anyhow::anyhow!("the put of {key} stopped early"),
            Err(e) => anyhow::Error::from(e).context(format!("putting {key}")),
        }
    }

    /// Aborts the upload and waits until it is (dropping the put aborts it in
    /// the background).
    pub async fn abort(self) {
        let Self {
            to_bucket, task, ..
        } = self;
        drop(to_bucket);
        if let Ok(Err(e)) = task.await {
            tracing::warn!(error = %e, "a put failed before it was aborted");
        }
    }

    /// Completes the upload once every part is stored: the object exists from
    /// then on, and is deleted again when the returned guard is dropped
    /// before [`PutObject::keep`].
    pub async fn finish(mut self) -> anyhow::Result<PutObject> {
        let (reply, completed) = oneshot::channel();
        if self
            .to_bucket
            .send(PutMessage::Finish(reply))
            .await
            .is_err()
        {
            return Err(self.stopped().await);
        }
        match completed.await {
            Ok(Ok(modified_millis)) => Ok(PutObject {
                bucket: self.bucket.clone(),
                key: Some(std::mem::take(&mut self.key)),
                modified_millis,
            }),
            Ok(Err(e)) => Err(e.context(format!("putting {}", self.key))),
            Err(_) => Err(self.stopped().await),
        }
    }
}

/// An object just put, deleted (in the background) when dropped unless kept:
/// what was put for an upload that is then refused must not stay.
#[derive(Debug)]
pub struct PutObject {
    bucket: Bucket,
    key: Option<String>,
    /// The object's time, which every node's local copy takes.
    pub modified_millis: i64,
}

impl PutObject {
    pub fn keep(mut self) {
        self.key = None;
    }

    /// Gives the local copy at `path` the object's time.
    pub async fn stamp(&self, path: &Path) -> anyhow::Result<()> {
        set_modified(path, self.modified_millis).await
    }
}

impl Drop for PutObject {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let bucket = self.bucket.clone();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = bucket.delete(&key).await {
                    tracing::warn!(%key, error = %e, "could not delete the object of a refused upload");
                }
            });
        }
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
