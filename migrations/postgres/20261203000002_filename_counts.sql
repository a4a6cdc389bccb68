-- Filename filters' counts (issue 11). A change generation per account: the
-- sum of `changes` over its rows of asset_counts, which every insert,
-- delete, re-kind, move and rename of one of its assets raises in the same
-- transaction, and which never falls (those rows are never deleted). A
-- list's total counted at generation G is still exact while the account's
-- generation is G: a server keeps recent filename filters' totals with it
-- (db::assets::NameCounts), and paging through a filtered list counts once.
-- (SQLite's migration of this version also renumbers its trigram index's
-- documents by account; PostgreSQL's trigram index is on the rows.)
ALTER TABLE asset_counts ADD COLUMN changes BIGINT NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION asset_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE asset_counts SET n = n - 1, changes = changes + 1
         WHERE account_id = OLD.account_id AND kind = OLD.kind;
        UPDATE asset_days SET n = n - 1
         WHERE account_id = OLD.account_id AND kind = OLD.kind AND day = OLD.created_at / 86400000;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        INSERT INTO asset_counts (account_id, kind, n, changes) VALUES (NEW.account_id, NEW.kind, 1, 1)
            ON CONFLICT (account_id, kind)
            DO UPDATE SET n = asset_counts.n + 1, changes = asset_counts.changes + 1;
        INSERT INTO asset_days (account_id, kind, day, n)
            VALUES (NEW.account_id, NEW.kind, NEW.created_at / 86400000, 1)
            ON CONFLICT (account_id, kind, day) DO UPDATE SET n = asset_days.n + 1;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION asset_counts_renamed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE asset_counts SET changes = changes + 1
     WHERE account_id = NEW.account_id AND kind = NEW.kind;
    RETURN NULL;
END
$$;
CREATE TRIGGER asset_counts_on_rename AFTER UPDATE OF filename_folded ON assets
    FOR EACH ROW WHEN (OLD.filename_folded <> NEW.filename_folded)
    EXECUTE FUNCTION asset_counts_renamed();
