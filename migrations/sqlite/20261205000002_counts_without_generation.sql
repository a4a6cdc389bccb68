-- asset_counts.changes was a change generation per account, raised by every
-- insert, delete, re-kind and rename, for the filename totals a server kept
-- (migration 20261203000003). Migration 20261204000001 dropped those totals
-- and nothing reads the generation any more: the count triggers are made
-- again without it (a rename no longer writes asset_counts at all) and it
-- goes.
DROP TRIGGER asset_counts_on_insert;
DROP TRIGGER asset_counts_on_delete;
DROP TRIGGER asset_counts_on_change;
DROP TRIGGER asset_counts_on_rename;
CREATE TRIGGER asset_counts_on_insert AFTER INSERT ON assets BEGIN
    INSERT INTO asset_counts (account_id, kind, n) VALUES (NEW.account_id, NEW.kind, 1)
        ON CONFLICT (account_id, kind) DO UPDATE SET n = n + 1;
    INSERT INTO asset_days (account_id, kind, day, n)
        VALUES (NEW.account_id, NEW.kind, NEW.created_at / 86400000, 1)
        ON CONFLICT (account_id, kind, day) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER asset_counts_on_delete AFTER DELETE ON assets BEGIN
    UPDATE asset_counts SET n = n - 1
     WHERE account_id = OLD.account_id AND kind = OLD.kind;
    UPDATE asset_days SET n = n - 1
     WHERE account_id = OLD.account_id AND kind = OLD.kind AND day = OLD.created_at / 86400000;
END;
CREATE TRIGGER asset_counts_on_change AFTER UPDATE OF account_id, kind, created_at ON assets
    WHEN OLD.account_id <> NEW.account_id OR OLD.kind <> NEW.kind OR OLD.created_at <> NEW.created_at BEGIN
    UPDATE asset_counts SET n = n - 1
     WHERE account_id = OLD.account_id AND kind = OLD.kind;
    INSERT INTO asset_counts (account_id, kind, n) VALUES (NEW.account_id, NEW.kind, 1)
        ON CONFLICT (account_id, kind) DO UPDATE SET n = n + 1;
    UPDATE asset_days SET n = n - 1
     WHERE account_id = OLD.account_id AND kind = OLD.kind AND day = OLD.created_at / 86400000;
    INSERT INTO asset_days (account_id, kind, day, n)
        VALUES (NEW.account_id, NEW.kind, NEW.created_at / 86400000, 1)
        ON CONFLICT (account_id, kind, day) DO UPDATE SET n = n + 1;
END;
ALTER TABLE asset_counts DROP COLUMN changes;
