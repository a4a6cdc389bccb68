-- The queue's own table. Versions of this crate's migrations start at 1000000000001
-- so that they never collide with the app's (dated) ones in the shared history.
CREATE TABLE jobs (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT NOT NULL,
    -- opaque to the queue (the app stores JSON)
    payload       TEXT NOT NULL,
    -- what the job is about (e.g. an asset id), to cancel a resource's jobs
    resource      TEXT,
    -- queued | running | failed | cancelled (done jobs are deleted)
    state         TEXT NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    max_attempts  INTEGER NOT NULL,
    -- Unix milliseconds
    run_after     INTEGER NOT NULL,
    lease_until   INTEGER,
    lease_owner   TEXT,
    last_error    TEXT,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

CREATE INDEX jobs_claimable ON jobs (kind, state, run_after);
CREATE INDEX jobs_by_resource ON jobs (resource);
