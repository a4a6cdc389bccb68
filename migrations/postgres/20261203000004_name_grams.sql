-- A filename filter's exact count from an index of assetd's own (issue 11;
-- db::name_grams says how it is read). pg_trgm's index stays for finding a
-- page of a name's matches; counting its 125,000 matches of 1 M read and
-- rechecked each match's row (170 ms), and takes a few ms from these
-- postings. Works on a database with data in it. Writers wait while it runs.
LOCK TABLE assets IN SHARE ROW EXCLUSIVE MODE;

-- 1. Each asset's document: a number of its account's, never reused, handed
--    out by the insert (one counter row per account, next to the counts'
--    row that every insert of the account already updates).
CREATE TABLE search_accounts (
    account_id  TEXT PRIMARY KEY,
    last_doc    BIGINT NOT NULL
);
ALTER TABLE assets ADD COLUMN doc BIGINT;
UPDATE assets SET doc = numbered.n
  FROM (SELECT id, ROW_NUMBER() OVER (PARTITION BY account_id ORDER BY created_at, id) AS n
          FROM assets) numbered
 WHERE assets.id = numbered.id;
INSERT INTO search_accounts (account_id, last_doc)
    SELECT account_id, COUNT(*) FROM assets GROUP BY account_id;

CREATE FUNCTION assets_number_doc() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO search_accounts (account_id, last_doc) VALUES (NEW.account_id, 1)
        ON CONFLICT (account_id) DO UPDATE SET last_doc = search_accounts.last_doc + 1
        RETURNING last_doc INTO NEW.doc;
    RETURN NEW;
END
$$;
CREATE TRIGGER assets_number_doc BEFORE INSERT ON assets
    FOR EACH ROW EXECUTE FUNCTION assets_number_doc();

-- 2. The postings: for each account, trigram (or kind, or character the
--    name holds: after a control character) and block of 2^16 documents,
--    where in which names it occurs (each name followed by two end marks, so
--    that it has trigrams to its last character). Stored as they are (no
--    compression: they are bitsets already, and read whole).
CREATE TABLE name_grams (
    account_id  TEXT NOT NULL,
    gram        TEXT COLLATE "C" NOT NULL,
    block       BIGINT NOT NULL,
    postings    BYTEA NOT NULL,
    PRIMARY KEY (account_id, gram, block)
);
ALTER TABLE name_grams ALTER COLUMN postings SET STORAGE EXTERNAL;

-- 3. What the postings do not hold yet: every insert, delete, rename and
--    new kind of an asset, as its document was and is, appended by a
--    trigger in the writing transaction; a server folds them into the
--    postings in order, in batches (db::name_grams::fold), and a count
--    applies those it finds on top of the postings.
CREATE TABLE name_changes (
    seq         BIGSERIAL PRIMARY KEY,
    account_id  TEXT NOT NULL,
    doc         BIGINT NOT NULL,
    old_kind    TEXT,
    old_name    TEXT,
    new_kind    TEXT,
    new_name    TEXT
);
CREATE INDEX name_changes_by_account ON name_changes (account_id, seq);
INSERT INTO name_changes (account_id, doc, new_kind, new_name)
    SELECT account_id, doc, kind, filename_folded FROM assets ORDER BY account_id, doc;

CREATE FUNCTION name_changes_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO name_changes (account_id, doc, new_kind, new_name)
            VALUES (NEW.account_id, NEW.doc, NEW.kind, NEW.filename_folded);
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO name_changes (account_id, doc, old_kind, old_name)
            VALUES (OLD.account_id, OLD.doc, OLD.kind, OLD.filename_folded);
    ELSE
        INSERT INTO name_changes (account_id, doc, old_kind, old_name, new_kind, new_name)
            VALUES (NEW.account_id, NEW.doc, OLD.kind, OLD.filename_folded,
                    NEW.kind, NEW.filename_folded);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER name_changes_on_insert_or_delete AFTER INSERT OR DELETE ON assets
    FOR EACH ROW EXECUTE FUNCTION name_changes_record();
CREATE TRIGGER name_changes_on_change AFTER UPDATE OF kind, filename_folded ON assets
    FOR EACH ROW WHEN (OLD.kind <> NEW.kind OR OLD.filename_folded <> NEW.filename_folded)
    EXECUTE FUNCTION name_changes_record();

-- A document's number is its account's: an asset stays in the account that
-- made it (nothing moves one; this keeps it so).
CREATE FUNCTION assets_stay_in_their_account() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'an asset does not move between accounts';
END
$$;
CREATE TRIGGER assets_stay_in_their_account BEFORE UPDATE OF account_id ON assets
    FOR EACH ROW WHEN (OLD.account_id <> NEW.account_id)
    EXECUTE FUNCTION assets_stay_in_their_account();
