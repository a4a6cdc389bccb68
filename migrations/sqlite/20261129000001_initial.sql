-- Accounts own keys and assets. Times are Unix milliseconds (UTC).
CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL
);

-- Only a SHA-256 of each key is stored; the prefix lets an operator tell keys apart.
CREATE TABLE api_keys (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    key_hash    TEXT NOT NULL UNIQUE,
    key_prefix  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    revoked_at  INTEGER
);

CREATE TABLE assets (
    id                  TEXT PRIMARY KEY,
    account_id          TEXT NOT NULL REFERENCES accounts (id),
    method              TEXT NOT NULL,
    status              TEXT NOT NULL,
    kind                TEXT NOT NULL,
    filename            TEXT NOT NULL,
    -- lower-cased filename for the case-insensitive filter (Unicode-aware, done in Rust)
    filename_folded     TEXT NOT NULL,
    file_type           TEXT NOT NULL,
    size_bytes          INTEGER NOT NULL,
    sha256              TEXT NOT NULL,
    duration_seconds    REAL,
    technical_metadata  TEXT,
    error_message       TEXT,
    user_metadata       TEXT,
    source_url          TEXT,
    -- NULL when the client did not ask for it
    hls_status          TEXT,
    thumbnail_status    TEXT,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL
);

CREATE INDEX assets_by_account_newest ON assets (account_id, created_at DESC, id DESC);
