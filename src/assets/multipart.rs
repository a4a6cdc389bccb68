//! Multipart upload sessions (what the SDKs' `upload_file` helpers drive):
//! a session makes its asset at once (`multipart`, `processing`); chunks are
//! stored as they arrive (`Storage::put_chunk`), reported with their ETag as
//! proof, and the report that completes the set queues the `assemble` job in
//! the same transaction that closes the session. A session that is still
//! active at its expiry is ended by the `expire_upload` job queued, delayed,
//! with it: its asset fails and its chunks go. A deleted asset's session is
//! ended by the purge job.

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use futures_util::Stream;

use super::plan::Work;
use crate::app::App;
use crate::db::{self, assets::NewAsset, multipart::UploadRow};
use crate::domain::{
    AccountId, AssetId, AssetKind, AssetMethod, AssetStatus, Filename, StepStatus, UserMetadata,
};
use crate::storage::multipart::{hash_chunk, ChunkError, ChunkTarget};

/// A new session, validated.
pub struct NewSession {
    pub account: AccountId,
    pub filename: Filename,
    pub kind: AssetKind,
    pub total_size: u64,
    pub enable_hls: bool,
    pub enable_thumbnail: bool,
    pub user_metadata: Option<UserMetadata>,
}

/// Makes the session and its asset (and, with S3, the bucket's multipart
/// upload). Nothing is left when it fails.
pub async fn create_session(app: &App, new: NewSession) -> anyhow::Result<UploadRow> {
    let asset = AssetId::new();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let chunk_size = app.config.multipart_chunk_bytes;
    let total_chunks = new.total_size.div_ceil(chunk_size);
    let bucket_upload_id = app.storage.begin_multipart(asset).await?;
    let target = ChunkTarget {
        upload_id: id.clone(),
        asset,
        bucket_upload_id: bucket_upload_id.clone(),
    };
    let inserted = async {
        let step = |asked: bool| asked.then_some(StepStatus::Pending);
        let row = NewAsset {
            id: asset,
            account: new.account,
            method: AssetMethod::Multipart,
            status: AssetStatus::Processing,
            kind: new.kind,
            filename: &new.filename,
            // Known once the file is assembled and probed.
            file_type: "",
            size_bytes: 0,
            sha256: "",
            duration_seconds: None,
            technical_metadata: None,
            error_message: None,
            user_metadata: new.user_metadata.as_ref().map(UserMetadata::to_json),
            source_url: None,
            hls_status: step(new.enable_hls && new.kind != AssetKind::Image),
            thumbnail_status: step(new.enable_thumbnail),
            created_at: db::now_millis(),
        };
        let lifetime = Duration::from_secs(app.config.multipart_session_secs);
        let expires_at = db::now_millis() + lifetime.as_millis() as i64;
        let mut tx = db::begin_write(&app.pool).await?;
        db::assets::insert(&mut tx, &row).await?;
        db::multipart::insert(
            &mut tx,
            &db::multipart::NewUpload {
                id: &id,
                account: new.account,
                asset,
                total_size: new.total_size,
                chunk_size,
                total_chunks,
                bucket_upload_id: bucket_upload_id.as_deref(),
                expires_at,
            },
        )
        .await?;
        // Just after the expiry, so that a report at the last moment wins.
        let expire = Work::ExpireUpload.job_after(
            asset,
            app.config.job_max_attempts,
            lifetime + Duration::from_secs(1),
        );
        app.queue.enqueue(&mut tx, &expire).await?;
        tx.commit().await?;
        db::multipart::find(&app.pool, new.account, &id)
            .await?
            .ok_or_else(|| anyhow::anyhow!("session {id} vanished right after its insert"))
    }
    .await;
    if inserted.is_err() {
        if let Err(e) = app.storage.discard_multipart(&target).await {
            tracing::warn!(upload = %id, error = %e, "could not remove an unmade session's storage");
        }
    }
    inserted
}

/// Why a chunk or a report was refused.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error("no such multipart upload")]
    NotFound,
    /// The session no longer takes chunks or reports (completed, expired, failed).
    #[error("the multipart upload is {0} and takes no more chunks")]
    NotActive(String),
    /// A chunk sent again after its report, with other bytes.
    #[error("Chunk {0} is reported already; its bytes cannot change.")]
    ChunkReported(u64),
    /// A bad value of the named parameter.
    #[error("{reason}")]
    Invalid { name: &'static str, reason: String },
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for SessionError {
    fn from(e: sqlx::Error) -> Self {
        Self::Internal(e.into())
    }
}

fn target_of(session: &UploadRow) -> anyhow::Result<ChunkTarget> {
    Ok(ChunkTarget {
        upload_id: session.id.clone(),
        asset: AssetId::parse(&session.asset_id)
            .map_err(|e| anyhow::anyhow!("session {}: bad asset id: {}", session.id, e.0))?,
        bucket_upload_id: session.bucket_upload_id.clone(),
    })
}

/// The size chunk `index` (1-based) of a session must have.
pub fn chunk_length(session: &UploadRow, index: u64) -> u64 {
    let chunk = session.chunk_size as u64;
    let total = session.total_size as u64;
    chunk.min(total.saturating_sub((index - 1) * chunk))
}

fn check_active(session: &UploadRow) -> Result<(), SessionError> {
    let expired = session.expires_at < db::now_millis();
    match session.status.as_str() {
        "active" if expired => Err(SessionError::NotActive("expired".into())),
        "active" => Ok(()),
        other => Err(SessionError::NotActive(other.to_string())),
    }
}

/// Stores chunk `index` of session `upload_id` (the signed URL was checked);
/// the ETag to answer with.
pub async fn store_chunk<S, E>(
    app: &App,
    upload_id: &str,
    index: u64,
    body: S,
) -> Result<String, SessionError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let session = db::multipart::find_any(&app.pool, upload_id)
        .await?
        .ok_or(SessionError::NotFound)?;
    check_active(&session)?;
    if index == 0 || index > session.total_chunks as u64 {
        return Err(SessionError::Invalid {
            name: "index",
            reason: format!(
                "chunk {index} is not one of this upload's 1 to {}",
                session.total_chunks
            ),
        });
    }
    let target = target_of(&session)?;
    let length = chunk_length(&session, index);
    match db::multipart::chunk(&app.pool, upload_id, index).await? {
        // A reported chunk is final (a completion may already use it): the
        // same bytes again get the same ETag, and are stored nowhere.
        Some(reported) if reported.status == "completed" => {
            let etag = hash_chunk(body, length).await?;
            return if etag == reported.etag {
                Ok(etag)
            } else {
                Err(SessionError::ChunkReported(index))
            };
        }
        // Some S3 servers (Garage) drop a part as soon as its replacement
        // begins, so a replacement that breaks off would leave the recorded
        // ETag naming nothing: the chunk counts as not stored until this PUT
        // is whole.
        Some(_) if target.bucket_upload_id.is_some() => {
            db::multipart::forget_unreported_chunk(&app.pool, upload_id, index).await?;
        }
        _ => {}
    }
    let stored = app.storage.put_chunk(&target, index, length, body).await?;
    db::multipart::upsert_chunk(
        &app.pool,
        upload_id,
        index,
        length,
        &stored.etag,
        stored.part_etag.as_deref(),
    )
    .await?;
    Ok(stored.etag)
}

/// What a report did.
#[derive(Debug)]
pub struct Reported {
    pub asset_id: String,
    pub processed: u64,
    pub duplicates: u64,
    pub total_completed: u64,
    /// Every chunk is reported: the file is (being) assembled.
    pub complete: bool,
}

/// Records reports of stored chunks: `(index, proof)`, in any order,
/// duplicates allowed. All are checked before any is recorded.
pub async fn report_chunks(
    app: &App,
    account: AccountId,
    upload_id: &str,
    reports: &[(u64, String)],
) -> Result<Reported, SessionError> {
    let session = db::multipart::find(&app.pool, account, upload_id)
        .await?
        .ok_or(SessionError::NotFound)?;
    let done = |total_completed| Reported {
        asset_id: session.asset_id.clone(),
        processed: 0,
        duplicates: reports.len() as u64,
        total_completed,
        complete: true,
    };
    if session.status == "completed" {
        return Ok(done(session.total_chunks as u64));
    }
    check_active(&session)?;
    let stored: HashMap<i64, String> = db::multipart::chunks(&app.pool, upload_id)
        .await?
        .into_iter()
        .map(|chunk| (chunk.chunk_index, chunk.etag))
        .collect();
    for (index, proof) in reports {
        let etag = i64::try_from(*index)
            .ok()
            .and_then(|i| stored.get(&i))
            .ok_or_else(|| SessionError::Invalid {
                name: "completed_chunks",
                reason: format!("chunk {index} has not been uploaded"),
            })?;
        if proof.trim_matches('"') != etag {
            return Err(SessionError::Invalid {
                name: "completed_chunks",
                reason: format!(
                    "the proof of chunk {index} does not match the chunk that was stored"
                ),
            });
        }
    }
    let (mut processed, mut duplicates) = (0, 0);
    for (index, _) in reports {
        if db::multipart::report_chunk(&app.pool, upload_id, *index).await? {
            processed += 1;
        } else {
            duplicates += 1;
        }
    }
    let total_completed = db::multipart::reported_count(&app.pool, upload_id).await?;
    let mut complete = false;
    if total_completed == session.total_chunks as u64 {
        let asset = target_of(&session)?.asset;
        let mut tx = app.pool.begin().await?;
        // Only the report that closes the session queues the assembly.
        if db::multipart::close(&mut tx, upload_id, "completed").await? {
            let assemble = Work::Assemble.job(asset, app.config.job_max_attempts);
            app.queue.enqueue(&mut tx, &assemble).await?;
            super::events::record_asset(
                &app.outbox(),
                &mut tx,
                super::EventType::MultipartCompleted,
                asset,
            )
            .await?;
        }
        tx.commit().await?;
        app.queue.wake();
        complete = true;
    }
    Ok(Reported {
        asset_id: session.asset_id.clone(),
        processed,
        duplicates,
        total_completed,
        complete,
    })
}

/// The `assemble` job's work: the original from the chunks, its size and
/// hash on the row, the chunk files gone. The caller probes it next.
pub async fn assemble(app: &App, asset: AssetId) -> anyhow::Result<()> {
    let session = db::multipart::find_by_asset(&app.pool, asset)
        .await?
        .ok_or_else(|| anyhow::anyhow!("asset {asset} has no multipart upload"))?;
    let target = target_of(&session)?;
    let part_etags = db::multipart::chunks(&app.pool, &session.id)
        .await?
        .into_iter()
        .map(|chunk| chunk.part_etag.unwrap_or_default())
        .collect();
    let (size, sha256) = app
        .storage
        .assemble(&target, session.total_chunks as u64, part_etags)
        .await?;
    db::assets::set_file(&app.pool, asset, size, &sha256).await?;
    app.storage.remove_chunk_files(&target).await?;
    Ok(())
}

/// The purge job's part: a deleted asset's session, if still active, is
/// ended (`failed`) and its storage discarded.
pub async fn end_for_deleted(app: &App, asset: AssetId) -> anyhow::Result<()> {
    let Some(session) = db::multipart::find_by_asset(&app.pool, asset).await? else {
        return Ok(());
    };
    let target = target_of(&session)?;
    let mut conn = app.pool.acquire().await?;
    if db::multipart::close(&mut conn, &session.id, "failed").await? {
        app.storage.discard_multipart(&target).await?;
    } else {
        // Completed: the bucket's upload is the object, which the purge removes.
        app.storage.remove_chunk_files(&target).await?;
    }
    Ok(())
}

/// The `expire_upload` job's work: a session still active ends as
/// `expired`, its storage is discarded. True when it did end one (its asset
/// is then failed by the caller).
pub async fn expire(app: &App, asset: AssetId) -> anyhow::Result<bool> {
    let Some(session) = db::multipart::find_by_asset(&app.pool, asset).await? else {
        return Ok(false);
    };
    let mut tx = app.pool.begin().await?;
    if !db::multipart::close(&mut tx, &session.id, "expired").await? {
        return Ok(false);
    }
    super::events::record_asset(
        &app.outbox(),
        &mut tx,
        super::EventType::MultipartExpired,
        asset,
    )
    .await?;
    tx.commit().await?;
    app.storage.discard_multipart(&target_of(&session)?).await?;
    Ok(true)
}
