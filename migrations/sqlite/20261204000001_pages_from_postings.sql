-- Every page of a name's matches comes from the filename postings
-- (db::name_grams::search): the matching documents, ranked by when they
-- were created through the bounds below, then only the rows of the page's
-- documents. Nothing reads the FTS5 trigram index or the kept name totals
-- any more, so they go, with the work every write did for them. Works on a
-- database with data in it.
DROP TRIGGER asset_filenames_on_insert;
DROP TRIGGER asset_filenames_on_delete;
DROP TRIGGER asset_filenames_on_rename;
DROP TRIGGER asset_search_on_change;
DROP TABLE asset_filenames;
DROP TRIGGER name_totals_on_insert;
DROP TRIGGER name_totals_on_delete;
DROP TRIGGER name_totals_on_change;
DROP TRIGGER name_totals_follow_new_counts;
DROP TRIGGER name_totals_follow_counts;
DROP TABLE name_totals;

-- For each account and chunk of 512 of its documents (number >> 9), the
-- first and last `created_at` among them (or wider: a delete leaves them).
-- Documents are numbered as they are inserted, so chunks are nearly in
-- time order, but only nearly (two uploads at once, nodes' clocks), and the
-- bounds make the ranking exact anyway: chunks whose bounds overlap are
-- sorted together.
CREATE TABLE doc_times (
    account_id          TEXT NOT NULL,
    chunk               INTEGER NOT NULL,
    first_created_at    INTEGER NOT NULL,
    last_created_at     INTEGER NOT NULL,
    PRIMARY KEY (account_id, chunk)
);
INSERT INTO doc_times (account_id, chunk, first_created_at, last_created_at)
    SELECT a.account_id, (s.doc & 68719476735) >> 9, MIN(a.created_at), MAX(a.created_at)
      FROM asset_search s JOIN assets a ON a.id = s.asset_id
     GROUP BY a.account_id, (s.doc & 68719476735) >> 9;

-- As before, less the FTS5 row, plus the document's time: its number, its
-- change, its chunk's bounds.
CREATE TRIGGER asset_search_on_insert AFTER INSERT ON assets BEGIN
    SELECT RAISE(ABORT, 'this kind has no search code')
     WHERE NOT EXISTS (SELECT 1 FROM search_kinds WHERE kind = NEW.kind);
    INSERT INTO search_accounts (account_id, last_doc) VALUES (NEW.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET last_doc = last_doc + 1;
    INSERT INTO asset_search (doc, asset_id)
        SELECT (n.number << 40) + (k.code << 36) + n.last_doc, NEW.id
          FROM search_accounts n, search_kinds k
         WHERE n.account_id = NEW.account_id AND k.kind = NEW.kind;
    INSERT INTO name_changes (account_id, doc, new_kind, new_name)
        SELECT NEW.account_id, last_doc, NEW.kind, NEW.filename_folded
          FROM search_accounts WHERE account_id = NEW.account_id;
    INSERT INTO doc_times (account_id, chunk, first_created_at, last_created_at)
        SELECT NEW.account_id, last_doc >> 9, NEW.created_at, NEW.created_at
          FROM search_accounts WHERE account_id = NEW.account_id
        ON CONFLICT (account_id, chunk) DO UPDATE
           SET first_created_at = MIN(first_created_at, excluded.first_created_at),
               last_created_at = MAX(last_created_at, excluded.last_created_at);
END;
-- After name_changes_on_delete (BEFORE DELETE) has read the number.
CREATE TRIGGER asset_search_on_delete AFTER DELETE ON assets BEGIN
    DELETE FROM asset_search WHERE asset_id = OLD.id;
END;
-- A new kind (a probe's answer) moves the document to that kind's range.
CREATE TRIGGER asset_search_on_change AFTER UPDATE OF kind ON assets
    WHEN OLD.kind <> NEW.kind BEGIN
    SELECT RAISE(ABORT, 'this kind has no search code')
     WHERE NOT EXISTS (SELECT 1 FROM search_kinds WHERE kind = NEW.kind);
    UPDATE asset_search
       SET doc = doc - (((doc >> 36) & 15) << 36)
                 + ((SELECT code FROM search_kinds WHERE kind = NEW.kind) << 36)
     WHERE asset_id = NEW.id;
END;
-- Nothing changes an asset's time; were something to, its chunk's bounds
-- widen to hold it.
CREATE TRIGGER doc_times_on_change AFTER UPDATE OF created_at ON assets
    WHEN OLD.created_at <> NEW.created_at BEGIN
    UPDATE doc_times
       SET first_created_at = MIN(first_created_at, NEW.created_at),
           last_created_at = MAX(last_created_at, NEW.created_at)
     WHERE account_id = NEW.account_id
       AND chunk = (SELECT (doc & 68719476735) >> 9 FROM asset_search WHERE asset_id = NEW.id);
END;
