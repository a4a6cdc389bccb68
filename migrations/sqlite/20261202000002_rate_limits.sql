-- Rate-limit buckets that every node shares (used on PostgreSQL; a single
-- SQLite server keeps its buckets in memory). `tat` is the bucket's
-- theoretical arrival time (GCRA), in Unix milliseconds of the database's clock.
CREATE TABLE rate_limits (
    bucket  TEXT PRIMARY KEY,
    tat     BIGINT NOT NULL
);
