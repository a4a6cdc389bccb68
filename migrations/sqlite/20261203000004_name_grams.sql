-- A filename filter's exact count from an index of assetd's own (issue 11;
-- db::name_grams says how it is read). FTS5 stays for finding a page of a
-- name's matches; counting its 125,000 matches of 1 M took 20-45 ms, and
-- takes a few ms from these postings.
--
-- 1. The postings: for each account, trigram (or kind, or character the
--    name holds: after a control character) and block of 2^16 documents,
--    where in which names it occurs (each name followed by two end marks, so
--    that it has trigrams to its last character; a document is
--    `asset_search.doc`'s low 36 bits, the account's own number for it).
CREATE TABLE name_grams (
    account_id  TEXT NOT NULL,
    gram        TEXT NOT NULL,
    block       INTEGER NOT NULL,
    postings    BLOB NOT NULL,
    PRIMARY KEY (account_id, gram, block)
);

-- 2. What the postings do not hold yet: every insert, delete, rename and
--    new kind of an asset, as its document was and is, appended by the
--    triggers in the writing transaction; a server folds them into the
--    postings in order, in batches (db::name_grams::fold), and a count
--    applies those it finds on top of the postings.
CREATE TABLE name_changes (
    seq         INTEGER PRIMARY KEY,
    account_id  TEXT NOT NULL,
    doc         INTEGER NOT NULL,
    old_kind    TEXT,
    old_name    TEXT,
    new_kind    TEXT,
    new_name    TEXT
);
CREATE INDEX name_changes_by_account ON name_changes (account_id, seq);

-- Works on a database with data in it: its assets are changes to fold,
-- which a server does as it starts (about 30 s at 1 M assets; their counts
-- are exact meanwhile, and slower).
INSERT INTO name_changes (account_id, doc, new_kind, new_name)
    SELECT a.account_id, s.doc & 68719476735, a.kind, a.filename_folded
      FROM asset_search s JOIN assets a ON a.id = s.asset_id
     ORDER BY s.doc;

-- The insert trigger numbers the document, so it records the change too
-- (a trigger of its own might run before the number exists).
DROP TRIGGER asset_filenames_on_insert;
CREATE TRIGGER asset_filenames_on_insert AFTER INSERT ON assets BEGIN
    SELECT RAISE(ABORT, 'this kind has no search code')
     WHERE NOT EXISTS (SELECT 1 FROM search_kinds WHERE kind = NEW.kind);
    INSERT INTO search_accounts (account_id, last_doc) VALUES (NEW.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET last_doc = last_doc + 1;
    INSERT INTO asset_search (doc, asset_id)
        SELECT (n.number << 40) + (k.code << 36) + n.last_doc, NEW.id
          FROM search_accounts n, search_kinds k
         WHERE n.account_id = NEW.account_id AND k.kind = NEW.kind;
    INSERT INTO asset_filenames (rowid, filename_folded)
        SELECT doc, NEW.filename_folded FROM asset_search WHERE asset_id = NEW.id;
    INSERT INTO name_changes (account_id, doc, new_kind, new_name)
        SELECT NEW.account_id, last_doc, NEW.kind, NEW.filename_folded
          FROM search_accounts WHERE account_id = NEW.account_id;
END;
-- Before the row goes, while its document's number is still there.
CREATE TRIGGER name_changes_on_delete BEFORE DELETE ON assets BEGIN
    INSERT INTO name_changes (account_id, doc, old_kind, old_name)
        SELECT OLD.account_id, doc & 68719476735, OLD.kind, OLD.filename_folded
          FROM asset_search WHERE asset_id = OLD.id;
END;
CREATE TRIGGER name_changes_on_change AFTER UPDATE OF kind, filename_folded ON assets
    WHEN OLD.kind <> NEW.kind OR OLD.filename_folded <> NEW.filename_folded BEGIN
    INSERT INTO name_changes (account_id, doc, old_kind, old_name, new_kind, new_name)
        SELECT NEW.account_id, doc & 68719476735, OLD.kind, OLD.filename_folded,
               NEW.kind, NEW.filename_folded
          FROM asset_search WHERE asset_id = NEW.id;
END;
