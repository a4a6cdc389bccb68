-- asset_counts.changes was a change generation per account, raised by every
-- insert, delete, re-kind and rename, for the filename totals a server kept
-- (migration 20261203000003). Migration 20261204000001 dropped those totals
-- and nothing reads the generation any more: the count triggers stop
-- raising it (a rename no longer writes asset_counts at all) and it goes.
CREATE OR REPLACE FUNCTION asset_counts_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE asset_counts SET n = n - 1
         WHERE account_id = OLD.account_id AND kind = OLD.kind;
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

DROP TRIGGER asset_counts_on_rename ON assets;
DROP FUNCTION asset_counts_renamed();
ALTER TABLE asset_counts DROP COLUMN changes;
