-- Lists that stay fast at a million assets in one account (issue 11). Works
-- on a database with data in it: each structure is filled from the rows.
-- Writers wait while it runs, so that no asset lands between the counting
-- and the triggers that keep the counts.
LOCK TABLE assets IN SHARE ROW EXCLUSIVE MODE;

-- 1. Exact counts per account and kind, and per account, kind and day of
--    creation (UTC days: created_at / 86400000), kept by a trigger in the
--    transaction that inserts, deletes or re-kinds an asset. The first give a
--    list's total_results without counting rows; with the second a deep page
--    finds the day its first row falls on by summing the days after it, and
--    then skips only within that day.
CREATE TABLE asset_counts (
    account_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (account_id, kind)
);
INSERT INTO asset_counts (account_id, kind, n)
    SELECT account_id, kind, COUNT(*) FROM assets GROUP BY account_id, kind;
CREATE TABLE asset_days (
    account_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    day         BIGINT NOT NULL,
    n           BIGINT NOT NULL,
    PRIMARY KEY (account_id, kind, day)
);
INSERT INTO asset_days (account_id, kind, day, n)
    SELECT account_id, kind, created_at / 86400000, COUNT(*) FROM assets
     GROUP BY account_id, kind, created_at / 86400000;

CREATE FUNCTION asset_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE asset_counts SET n = n - 1 WHERE account_id = OLD.account_id AND kind = OLD.kind;
        UPDATE asset_days SET n = n - 1
         WHERE account_id = OLD.account_id AND kind = OLD.kind AND day = OLD.created_at / 86400000;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO asset_counts (account_id, kind, n) VALUES (NEW.account_id, NEW.kind, 1)
            ON CONFLICT (account_id, kind) DO UPDATE SET n = asset_counts.n + 1;
        INSERT INTO asset_days (account_id, kind, day, n)
            VALUES (NEW.account_id, NEW.kind, NEW.created_at / 86400000, 1)
            ON CONFLICT (account_id, kind, day) DO UPDATE SET n = asset_days.n + 1;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER asset_counts_on_insert_or_delete AFTER INSERT OR DELETE ON assets
    FOR EACH ROW EXECUTE FUNCTION asset_counts_keep();
CREATE TRIGGER asset_counts_on_change AFTER UPDATE OF account_id, kind, created_at ON assets
    FOR EACH ROW WHEN (OLD.account_id <> NEW.account_id OR OLD.kind <> NEW.kind
                       OR OLD.created_at <> NEW.created_at)
    EXECUTE FUNCTION asset_counts_keep();

-- 2. The newest-first index also holds the kind: a kind filter is answered
--    from the index alone, and a deep page skips index entries, not rows.
DROP INDEX assets_by_account_newest;
CREATE INDEX assets_by_account_newest ON assets (account_id, created_at DESC, id DESC, kind);

-- 3. Filename substrings: pg_trgm's trigram GIN index answers
--    `filename_folded LIKE '%...%'` (pg_trgm is a trusted extension: the
--    database's owner may create it).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX assets_by_filename_trigrams ON assets USING gin (filename_folded gin_trgm_ops);
