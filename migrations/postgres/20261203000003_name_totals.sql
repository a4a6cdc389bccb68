-- Name filters' totals kept in the database (issue 11), replacing a
-- server's own memory of them: a kept total now follows the writes instead
-- of being counted again after each one, on every node.
--
-- A row is a filename filter's total (`needle`, folded, as a substring; of
-- the kinds in `kinds`, written ',audio,video,' sorted, or '' for every
-- kind) and the account's change generation it is exact at. A server adds
-- a row after counting (generation and count read by one statement) and
-- uses it while its generation is the account's (the sum of
-- asset_counts.changes). From then on the triggers below keep both in the
-- writing transaction: the total by each write's effect on the filter, the
-- generation by exactly what the count triggers add to `changes`. A write
-- that commits between the count and the row's insert is not in either, so
-- the row's generation stays behind the account's and the row is never
-- used; a total is never wrong, at worst counted again. Two writers of one
-- account take turns on its rows (row locks), each adding its own part.
CREATE TABLE name_totals (
    account_id  TEXT COLLATE "C" NOT NULL,
    kinds       TEXT COLLATE "C" NOT NULL,
    needle      TEXT COLLATE "C" NOT NULL,
    total       BIGINT NOT NULL,
    generation  BIGINT NOT NULL,
    -- Unix ms of its count or (to 10 s) its last use, and whether it was
    -- used after its count: past the cap (db::assets::NAME_TOTALS_PER_ACCOUNT)
    -- one-off searches go first, then the least recently used.
    used_at     BIGINT NOT NULL,
    reused      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, kinds, needle)
);

CREATE FUNCTION name_totals_keep() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('DELETE', 'UPDATE') THEN
        UPDATE name_totals SET total = total - 1
         WHERE account_id = OLD.account_id
           AND (kinds = '' OR strpos(kinds, ',' || OLD.kind || ',') > 0)
           AND strpos(OLD.filename_folded, needle) > 0;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
        UPDATE name_totals SET total = total + 1
         WHERE account_id = NEW.account_id
           AND (kinds = '' OR strpos(kinds, ',' || NEW.kind || ',') > 0)
           AND strpos(NEW.filename_folded, needle) > 0;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER name_totals_on_insert_or_delete AFTER INSERT OR DELETE ON assets
    FOR EACH ROW EXECUTE FUNCTION name_totals_keep();
CREATE TRIGGER name_totals_on_change AFTER UPDATE OF account_id, kind, filename_folded ON assets
    FOR EACH ROW WHEN (OLD.account_id <> NEW.account_id OR OLD.kind <> NEW.kind
                       OR OLD.filename_folded <> NEW.filename_folded)
    EXECUTE FUNCTION name_totals_keep();

-- The generation follows `changes` itself, so that it moves by exactly as
-- much as the account's, whichever trigger raised it.
CREATE FUNCTION name_totals_follow_counts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE name_totals SET generation = generation + NEW.changes
         WHERE account_id = NEW.account_id;
    ELSIF NEW.changes <> OLD.changes THEN
        UPDATE name_totals SET generation = generation + NEW.changes - OLD.changes
         WHERE account_id = NEW.account_id;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER name_totals_follow_counts AFTER INSERT OR UPDATE OF changes ON asset_counts
    FOR EACH ROW EXECUTE FUNCTION name_totals_follow_counts();

-- A writer takes the account's kept rows first, in key order, before any
-- row of asset_counts. Else a re-kind (which takes two rows of asset_counts,
-- and the kept rows between them) and an upload of the new kind (its count
-- row, then the kept rows) would wait for each other: a deadlock, and
-- PostgreSQL would fail one of them. (The server takes them in the same
-- order when it keeps a total.)
CREATE FUNCTION name_totals_lock() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM 1 FROM name_totals WHERE account_id = NEW.account_id
          ORDER BY kinds, needle FOR UPDATE;
        RETURN NEW;
    END IF;
    PERFORM 1 FROM name_totals WHERE account_id = OLD.account_id
      ORDER BY kinds, needle FOR UPDATE;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER name_totals_lock_on_insert_or_delete BEFORE INSERT OR DELETE ON assets
    FOR EACH ROW EXECUTE FUNCTION name_totals_lock();
CREATE TRIGGER name_totals_lock_on_change BEFORE UPDATE OF account_id, kind, created_at, filename_folded ON assets
    FOR EACH ROW WHEN (OLD.account_id <> NEW.account_id OR OLD.kind <> NEW.kind
                       OR OLD.created_at <> NEW.created_at OR OLD.filename_folded <> NEW.filename_folded)
    EXECUTE FUNCTION name_totals_lock();
