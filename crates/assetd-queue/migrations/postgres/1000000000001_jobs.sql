-- The queue's own table (the same versions as the SQLite folder). Versions of
-- this crate's migrations start at 1000000000001 so that they never collide
-- with the app's (dated) ones in the shared history.
CREATE TABLE jobs (
    id            BIGSERIAL PRIMARY KEY,
    kind          TEXT NOT NULL,
    -- opaque to the queue (the app stores JSON)
    payload       TEXT NOT NULL,
    -- what the job is about (e.g. an asset id), to cancel a resource's jobs
    resource      TEXT,
    -- queued | running | failed | cancelled (done jobs are deleted)
    state         TEXT NOT NULL,
    attempts      BIGINT NOT NULL DEFAULT 0,
    max_attempts  BIGINT NOT NULL,
    -- Unix milliseconds, by the database's clock
    run_after     BIGINT NOT NULL,
    lease_until   BIGINT,
    lease_owner   TEXT,
    last_error    TEXT,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL
);

CREATE INDEX jobs_claimable ON jobs (kind, state, run_after);
CREATE INDEX jobs_by_resource ON jobs (resource);

-- Every job that becomes queued (new, retried, handed back) is announced on
-- the channel `assetd_jobs` with its kind, at commit, so that idle workers on
-- every node look at once. Identical notifications in one transaction are
-- sent once.
CREATE FUNCTION assetd_jobs_announce() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('assetd_jobs', NEW.kind);
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER jobs_announce AFTER INSERT OR UPDATE OF state ON jobs
    FOR EACH ROW WHEN (NEW.state = 'queued') EXECUTE FUNCTION assetd_jobs_announce();
