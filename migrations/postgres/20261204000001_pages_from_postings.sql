-- Every page of a name's matches comes from the filename postings
-- (db::name_grams::search): the matching documents, ranked by when they
-- were created through the bounds below, then only the rows of the page's
-- documents, found by number. Nothing reads pg_trgm's index or the kept
-- name totals any more, so they go, with the work (and the row locks)
-- every write took for them. (The extension stays: dropping it needs
-- rights the database's owner may not have.) Works on a database with data
-- in it. Writers wait while it runs.
LOCK TABLE assets IN SHARE ROW EXCLUSIVE MODE;
DROP INDEX assets_by_filename_trigrams;
DROP TRIGGER name_totals_on_insert_or_delete ON assets;
DROP TRIGGER name_totals_on_change ON assets;
DROP TRIGGER name_totals_follow_counts ON asset_counts;
DROP TRIGGER name_totals_lock_on_insert_or_delete ON assets;
DROP TRIGGER name_totals_lock_on_change ON assets;
DROP FUNCTION name_totals_keep();
DROP FUNCTION name_totals_follow_counts();
DROP FUNCTION name_totals_lock();
DROP TABLE name_totals;

CREATE INDEX assets_by_doc ON assets (account_id, doc);

-- For each account and chunk of 512 of its documents (doc >> 9), the first
-- and last `created_at` among them (or wider: a delete leaves them).
-- Documents are numbered as they are inserted, so chunks are nearly in
-- time order, but only nearly (two uploads at once, nodes' clocks), and the
-- bounds make the ranking exact anyway: chunks whose bounds overlap are
-- sorted together.
CREATE TABLE doc_times (
    account_id          TEXT NOT NULL,
    chunk               BIGINT NOT NULL,
    first_created_at    BIGINT NOT NULL,
    last_created_at     BIGINT NOT NULL,
    PRIMARY KEY (account_id, chunk)
);
INSERT INTO doc_times (account_id, chunk, first_created_at, last_created_at)
    SELECT account_id, doc >> 9, MIN(created_at), MAX(created_at)
      FROM assets GROUP BY account_id, doc >> 9;

-- Numbers the document (as before) and widens its chunk's bounds. The
-- account's counter row is taken first, as before, so writers of one
-- account queue there and never meet in another order.
CREATE OR REPLACE FUNCTION assets_number_doc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_accounts (account_id, last_doc) VALUES (NEW.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET last_doc = search_accounts.last_doc + 1
        RETURNING last_doc INTO NEW.doc;
    INSERT INTO doc_times (account_id, chunk, first_created_at, last_created_at)
        VALUES (NEW.account_id, NEW.doc >> 9, NEW.created_at, NEW.created_at)
        ON CONFLICT (account_id, chunk) DO UPDATE
           SET first_created_at = LEAST(doc_times.first_created_at, excluded.first_created_at),
               last_created_at = GREATEST(doc_times.last_created_at, excluded.last_created_at);
    RETURN NEW;
END
$$;

-- Nothing changes an asset's time; were something to, its chunk's bounds
-- widen to hold it.
CREATE FUNCTION doc_times_widen() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE doc_times
       SET first_created_at = LEAST(first_created_at, NEW.created_at),
           last_created_at = GREATEST(last_created_at, NEW.created_at)
     WHERE account_id = NEW.account_id AND chunk = NEW.doc >> 9;
    RETURN NULL;
END
$$;
CREATE TRIGGER doc_times_on_change AFTER UPDATE OF created_at ON assets
    FOR EACH ROW WHEN (OLD.created_at <> NEW.created_at)
    EXECUTE FUNCTION doc_times_widen();
