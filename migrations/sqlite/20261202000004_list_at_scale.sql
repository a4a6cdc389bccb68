-- Lists that stay fast at a million assets in one account (issue 11). Works
-- on a database with data in it: each structure is filled from the rows.

-- 1. Exact counts per account and kind, and per account, kind and day of
--    creation (UTC days: created_at / 86400000), kept by triggers in the
--    transaction that inserts, deletes or re-kinds an asset. The first give a
--    list's total_results without counting rows; with the second a deep page
--    finds the day its first row falls on by summing the days after it, and
--    then skips only within that day.
CREATE TABLE asset_counts (
    account_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (account_id, kind)
);
INSERT INTO asset_counts (account_id, kind, n)
    SELECT account_id, kind, COUNT(*) FROM assets GROUP BY account_id, kind;
CREATE TABLE asset_days (
    account_id  TEXT NOT NULL,
    kind        TEXT NOT NULL,
    day         INTEGER NOT NULL,
    n           INTEGER NOT NULL,
    PRIMARY KEY (account_id, kind, day)
);
INSERT INTO asset_days (account_id, kind, day, n)
    SELECT account_id, kind, created_at / 86400000, COUNT(*) FROM assets
     GROUP BY account_id, kind, created_at / 86400000;

CREATE TRIGGER asset_counts_on_insert AFTER INSERT ON assets BEGIN
    INSERT INTO asset_counts (account_id, kind, n) VALUES (NEW.account_id, NEW.kind, 1)
        ON CONFLICT (account_id, kind) DO UPDATE SET n = n + 1;
    INSERT INTO asset_days (account_id, kind, day, n)
        VALUES (NEW.account_id, NEW.kind, NEW.created_at / 86400000, 1)
        ON CONFLICT (account_id, kind, day) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER asset_counts_on_delete AFTER DELETE ON assets BEGIN
    UPDATE asset_counts SET n = n - 1 WHERE account_id = OLD.account_id AND kind = OLD.kind;
    UPDATE asset_days SET n = n - 1
     WHERE account_id = OLD.account_id AND kind = OLD.kind AND day = OLD.created_at / 86400000;
END;
CREATE TRIGGER asset_counts_on_change AFTER UPDATE OF account_id, kind, created_at ON assets
    WHEN OLD.account_id <> NEW.account_id OR OLD.kind <> NEW.kind OR OLD.created_at <> NEW.created_at BEGIN
    UPDATE asset_counts SET n = n - 1 WHERE account_id = OLD.account_id AND kind = OLD.kind;
    INSERT INTO asset_counts (account_id, kind, n) VALUES (NEW.account_id, NEW.kind, 1)
        ON CONFLICT (account_id, kind) DO UPDATE SET n = n + 1;
    UPDATE asset_days SET n = n - 1
     WHERE account_id = OLD.account_id AND kind = OLD.kind AND day = OLD.created_at / 86400000;
    INSERT INTO asset_days (account_id, kind, day, n)
        VALUES (NEW.account_id, NEW.kind, NEW.created_at / 86400000, 1)
        ON CONFLICT (account_id, kind, day) DO UPDATE SET n = n + 1;
END;

-- 2. The newest-first index also holds the kind: a kind filter is answered
--    from the index alone, and a deep page skips index entries, not rows.
DROP INDEX assets_by_account_newest;
CREATE INDEX assets_by_account_newest ON assets (account_id, created_at DESC, id DESC, kind);

-- 3. Filename substrings: an FTS5 trigram index of filename_folded (folded
--    in Rust already, so the index matches case-sensitively, exactly as LIKE
--    on the folded name does). Contentless: it only answers which documents
--    match. Documents are numbered by asset_search.doc, an INTEGER PRIMARY
--    KEY, because VACUUM may renumber the assets table's own rowids; that row
--    also holds what a filtered count checks of each match (account, kind),
--    so that counting a match is one lookup by integer key.
CREATE TABLE asset_search (
    doc         INTEGER PRIMARY KEY,
    asset_id    TEXT NOT NULL UNIQUE,
    account_id  TEXT NOT NULL,
    kind        TEXT NOT NULL
);
CREATE VIRTUAL TABLE asset_filenames USING fts5 (
    filename_folded, content = '', contentless_delete = 1, tokenize = 'trigram case_sensitive 1'
);
INSERT INTO asset_search (asset_id, account_id, kind) SELECT id, account_id, kind FROM assets;
INSERT INTO asset_filenames (rowid, filename_folded)
    SELECT s.doc, a.filename_folded FROM asset_search s JOIN assets a ON a.id = s.asset_id;

CREATE TRIGGER asset_filenames_on_insert AFTER INSERT ON assets BEGIN
    INSERT INTO asset_search (asset_id, account_id, kind) VALUES (NEW.id, NEW.account_id, NEW.kind);
    INSERT INTO asset_filenames (rowid, filename_folded) VALUES (last_insert_rowid(), NEW.filename_folded);
END;
CREATE TRIGGER asset_filenames_on_delete AFTER DELETE ON assets BEGIN
    DELETE FROM asset_filenames WHERE rowid = (SELECT doc FROM asset_search WHERE asset_id = OLD.id);
    DELETE FROM asset_search WHERE asset_id = OLD.id;
END;
CREATE TRIGGER asset_search_on_change AFTER UPDATE OF account_id, kind ON assets
    WHEN OLD.account_id <> NEW.account_id OR OLD.kind <> NEW.kind BEGIN
    UPDATE asset_search SET account_id = NEW.account_id, kind = NEW.kind WHERE asset_id = NEW.id;
END;
CREATE TRIGGER asset_filenames_on_rename AFTER UPDATE OF filename_folded ON assets
    WHEN OLD.filename_folded <> NEW.filename_folded BEGIN
    DELETE FROM asset_filenames WHERE rowid = (SELECT doc FROM asset_search WHERE asset_id = OLD.id);
    INSERT INTO asset_filenames (rowid, filename_folded)
        SELECT doc, NEW.filename_folded FROM asset_search WHERE asset_id = NEW.id;
END;
