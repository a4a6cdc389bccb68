//! The chunks of multipart upload sessions and their assembly into an
//! asset's original.
//! - On local disk each chunk is written once (hashed on the way) to
//!   `multipart/<upload>/<index>` (not `tmp/`: the start-up sweep must not
//!   take a reported chunk), and assembly streams them through the same
//!   capped, hashing writer as a download into the original.
//! - On S3 each chunk is a part of one multipart upload of the original's key,
//!   and assembly is the bucket's own CompleteMultipartUpload: no second copy.
//!   A chunk streams on to its part as it arrives, hashed on the way.

use std::io;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use super::bucket::MultipartUpload;
use super::{Storage, UploadError, ORIGINAL};
use crate::domain::AssetId;

/// Where a session's chunks go.
#[derive(Debug, Clone)]
pub struct ChunkTarget {
    pub upload_id: String,
    pub asset: AssetId,
    /// With S3: the bucket's multipart upload.
    pub bucket_upload_id: Option<String>,
}

impl ChunkTarget {
    /// With S3: the bucket's multipart upload the chunks are parts of.
    fn bucket_upload(&self) -> Option<MultipartUpload> {
        Some(MultipartUpload {
            key: Storage::original_key(self.asset),
            upload_id: self.bucket_upload_id.clone()?,
        })
    }
}

/// A chunk stored: the ETag the client gets (its proof later), and with S3
/// the part's own ETag for completion.
#[derive(Debug)]
pub struct StoredChunk {
    pub etag: String,
    pub part_etag: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ChunkError {
    #[error("the chunk is larger than its {expected} bytes")]
    TooLarge { expected: u64 },
    #[error("the chunk has {got} bytes; this one must have {expected}")]
    WrongSize { got: u64, expected: u64 },
    #[error("the chunk's body broke off: {0}")]
    Body(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Storage {
    fn multipart_dir(&self, upload_id: &str) -> PathBuf {
        self.root.join("multipart").join(upload_id)
    }

    fn original_key(asset: AssetId) -> String {
        Self::object_key(asset, Path::new(ORIGINAL))
    }

    /// Prepares a session's storage: with S3 the bucket's multipart upload
    /// (its id); on local disk nothing until the first chunk.
    pub async fn begin_multipart(&self, asset: AssetId) -> io::Result<Option<String>> {
        match &self.bucket {
            Some(bucket) => bucket
                .create_multipart(&Self::original_key(asset))
                .await
                .map(Some)
                .map_err(io::Error::other),
            None => Ok(None),
        }
    }

    /// Stores chunk `index` of exactly `expected` bytes from `body`, replacing
    /// an earlier one of that index only once this one is complete.
    pub async fn put_chunk<S, E>(
        &self,
        target: &ChunkTarget,
        index: u64,
        expected: u64,
        mut body: S,
    ) -> Result<StoredChunk, ChunkError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        match (&self.bucket, target.bucket_upload()) {
            (Some(bucket), Some(upload)) => {
                let (to_part, part_body) = mpsc::channel(PART_BODY_FRAMES);
                let part_body = futures_util::stream::unfold(part_body, |mut frames| async {
                    frames.recv().await.map(|frame| (frame, frames))
                });
                let put = bucket.put_part(
                    &upload,
                    index,
                    expected,
                    reqwest::Body::wrap_stream(part_body),
                );
                let (put, fed) = tokio::join!(put, feed_part(body, expected, to_part));
                let etag = fed?;
                let part_etag = put.map_err(io::Error::other)?;
                Ok(StoredChunk {
                    etag,
                    part_etag: Some(part_etag),
                })
            }
            _ => {
                let dir = self.multipart_dir(&target.upload_id);
                tokio::fs::create_dir_all(&dir).await?;
                let partial = dir.join(format!("{index}.part-{}", uuid::Uuid::new_v4().simple()));
                let mut writer =
                    super::UploadWriter::create(partial, expected, target.asset, None).await?;
                while let Some(chunk) = body.next().await {
                    let chunk = chunk.map_err(|e| ChunkError::Body(e.to_string()))?;
                    match writer.write(chunk).await {
                        Ok(()) => {}
                        Err(UploadError::TooLarge { .. }) => {
                            return Err(ChunkError::TooLarge { expected })
                        }
                        Err(UploadError::Io(e)) => return Err(e.into()),
                    }
                }
                let stored = writer.finish().await?;
                if stored.size() != expected {
                    return Err(ChunkError::WrongSize {
                        got: stored.size(),
                        expected,
                    });
                }
                let etag = stored.sha256().to_string();
                stored.publish(&dir.join(index.to_string())).await?;
                Ok(StoredChunk {
                    etag,
                    part_etag: None,
                })
            }
        }
    }

    /// Makes the asset's original of the session's chunks `1..=chunks`
    /// (with S3 their parts' ETags, in order); its size and SHA-256. The
    /// chunks stay until [`Storage::discard_multipart`]; a retry after a crash
    /// assembles again.
    pub async fn assemble(
        &self,
        target: &ChunkTarget,
        chunks: u64,
        part_etags: Vec<String>,
    ) -> io::Result<(u64, String)> {
        if let (Some(bucket), Some(upload)) = (&self.bucket, target.bucket_upload()) {
            bucket
                .complete_multipart(&upload, part_etags)
                .await
                .map_err(io::Error::other)?;
            // The probe needs the file here; its hash comes from this copy.
            let local = self.local_original(target.asset).await?;
            return hash_file(local).await;
        }
        let dir = self.multipart_dir(&target.upload_id);
        let mut writer = self.continue_download(target.asset, 0).await?;
        for index in 1..=chunks {
            let mut file = tokio::fs::File::open(dir.join(index.to_string())).await?;
            loop {
                let mut buf = bytes::BytesMut::with_capacity(256 * 1024);
                if tokio::io::AsyncReadExt::read_buf(&mut file, &mut buf).await? == 0 {
                    break;
                }
                writer.write(buf.freeze()).await.map_err(|e| match e {
                    UploadError::Io(e) => e,
                    too_large => io::Error::other(too_large),
                })?;
            }
        }
        let assembled = writer.finish().await?;
        let result = (assembled.size(), assembled.sha256().to_string());
        self.store_for_existing(assembled).await?;
        Ok(result)
    }

    /// Removes a session's chunk files once they are assembled (with S3 the
    /// completed upload left nothing else).
    pub async fn remove_chunk_files(&self, target: &ChunkTarget) -> io::Result<()> {
        super::remove_path(&self.multipart_dir(&target.upload_id)).await
    }

    /// Removes what a session left: its chunk files, or with S3 its
    /// multipart upload if it was never completed. Gone already is fine.
    pub async fn discard_multipart(&self, target: &ChunkTarget) -> io::Result<()> {
        if let (Some(bucket), Some(upload)) = (&self.bucket, target.bucket_upload()) {
            bucket
                .abort_multipart(&upload)
                .await
                .map_err(io::Error::other)?;
        }
        super::remove_path(&self.multipart_dir(&target.upload_id)).await
    }
}

/// Frames of a chunk on their way to its part: what a chunk PUT holds.
const PART_BODY_FRAMES: usize = 2;

/// Counts and hashes a chunk's bytes as they arrive, refusing more than its
/// length at once and a different length at its end.
struct ChunkHasher {
    hasher: Sha256,
    size: u64,
    expected: u64,
}

impl ChunkHasher {
    fn new(expected: u64) -> Self {
        Self {
            hasher: Sha256::new(),
            size: 0,
            expected,
        }
    }

    fn update(&mut self, frame: &[u8]) -> Result<(), ChunkError> {
        self.size += frame.len() as u64;
        if self.size > self.expected {
            return Err(ChunkError::TooLarge {
                expected: self.expected,
            });
        }
        self.hasher.update(frame);
        Ok(())
    }

    /// The chunk's SHA-256 (its ETag), once it has its whole length.
    fn finish(self) -> Result<String, ChunkError> {
        if self.size != self.expected {
            return Err(ChunkError::WrongSize {
                got: self.size,
                expected: self.expected,
            });
        }
        Ok(hex::encode(self.hasher.finalize()))
    }
}

/// The SHA-256 of a chunk's body of exactly `expected` bytes, stored nowhere:
/// to compare a chunk sent again with the one it would replace.
pub async fn hash_chunk<S, E>(mut body: S, expected: u64) -> Result<String, ChunkError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut hasher = ChunkHasher::new(expected);
    while let Some(frame) = body.next().await {
        hasher.update(&frame.map_err(|e| ChunkError::Body(e.to_string()))?)?;
    }
    hasher.finish()
}

/// Feeds a chunk's body to its part's upload while hashing and counting it;
/// its SHA-256. The last frame is held back until the body has ended at
/// exactly `expected` bytes: the part cannot be whole (and replace an earlier
/// one) before then. Anything else ends the part's body with an error, which
/// aborts its upload; so does a part upload that failed (the feed stops).
async fn feed_part<S, E>(
    mut body: S,
    expected: u64,
    to_part: mpsc::Sender<io::Result<Bytes>>,
) -> Result<String, ChunkError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut hasher = ChunkHasher::new(expected);
    let mut held: Option<Bytes> = None;
    let fed = loop {
        let Some(frame) = body.next().await else {
            break hasher.finish();
        };
        let checked = frame
            .map_err(|e| ChunkError::Body(e.to_string()))
            .and_then(|frame| hasher.update(&frame).map(|()| frame));
        match checked {
            Ok(frame) => {
                if let Some(previous) = held.replace(frame) {
                    if to_part.send(Ok(previous)).await.is_err() {
                        // The part's upload ended early: its error says why.
                        return Ok(String::new());
                    }
                }
            }
            Err(refused) => break Err(refused),
        }
    };
    match fed {
        Ok(etag) => {
            if let Some(last) = held {
                let _ = to_part.send(Ok(last)).await;
            }
            Ok(etag)
        }
        Err(refused) => {
            let _ = to_part
                .send(Err(io::Error::other("the chunk was refused")))
                .await;
            Err(refused)
        }
    }
}

async fn hash_file(path: PathBuf) -> io::Result<(u64, String)> {
    tokio::task::spawn_blocking(move || {
        let mut file = std::fs::File::open(path)?;
        let mut hasher = Sha256::new();
        let size = io::copy(&mut file, &mut hasher)?;
        Ok((size, hex::encode(hasher.finalize())))
    })
    .await
    .map_err(io::Error::other)?
}
