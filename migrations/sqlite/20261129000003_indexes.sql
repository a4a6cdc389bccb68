-- Indexes are named collections; an indexed asset is a reference from an index
-- to a ready asset. The references guard asset deletes (409 unless force).
CREATE TABLE indexes (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id),
    index_name  TEXT NOT NULL,
    -- as the client sent them (JSON)
    models      TEXT NOT NULL,
    addons      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE INDEX indexes_by_account ON indexes (account_id, created_at, id);

CREATE TABLE indexed_assets (
    id                   TEXT PRIMARY KEY,
    index_id             TEXT NOT NULL REFERENCES indexes (id) ON DELETE CASCADE,
    -- no cascade: an asset with references is only deleted on purpose (force)
    asset_id             TEXT NOT NULL REFERENCES assets (id),
    account_id           TEXT NOT NULL REFERENCES accounts (id),
    status               TEXT NOT NULL,
    enable_video_stream  INTEGER,
    user_metadata        TEXT,
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL
);

CREATE INDEX indexed_assets_by_index ON indexed_assets (index_id, created_at, id);
CREATE INDEX indexed_assets_by_asset ON indexed_assets (asset_id);
