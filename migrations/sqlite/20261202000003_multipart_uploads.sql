-- Multipart upload sessions (the SDKs' upload_file helpers): a session makes
-- its asset at once (method multipart, processing); chunks arrive by signed
-- URL, are reported with their ETag as proof, and once all are reported the
-- file is assembled by a job. Times are Unix milliseconds.
CREATE TABLE multipart_uploads (
    id                TEXT PRIMARY KEY,
    account_id        TEXT NOT NULL REFERENCES accounts (id),
    -- no foreign key: a session outlives a deleted asset until it expires
    asset_id          TEXT NOT NULL,
    total_size        INTEGER NOT NULL,
    chunk_size        INTEGER NOT NULL,
    total_chunks      INTEGER NOT NULL,
    -- active | completed | failed | expired
    status            TEXT NOT NULL,
    -- with --storage s3: the bucket's multipart upload the chunks are parts of
    bucket_upload_id  TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    expires_at        INTEGER NOT NULL
);

CREATE INDEX multipart_uploads_by_account ON multipart_uploads (account_id, status, created_at DESC, id DESC);
CREATE INDEX multipart_uploads_by_asset ON multipart_uploads (asset_id);

CREATE TABLE multipart_chunks (
    upload_id    TEXT NOT NULL REFERENCES multipart_uploads (id) ON DELETE CASCADE,
    -- 1-based, as on the wire
    chunk_index  INTEGER NOT NULL,
    size         INTEGER NOT NULL,
    -- the ETag handed to the client (its proof when it reports the chunk)
    etag         TEXT NOT NULL,
    -- with S3: the part's ETag, for CompleteMultipartUpload
    part_etag    TEXT,
    reported     INTEGER NOT NULL DEFAULT 0,
    uploaded_at  INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (upload_id, chunk_index)
);
