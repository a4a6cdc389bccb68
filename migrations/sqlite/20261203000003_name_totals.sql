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
-- used; a total is never wrong, at worst counted again.
CREATE TABLE name_totals (
    account_id  TEXT NOT NULL,
    kinds       TEXT NOT NULL,
    needle      TEXT NOT NULL,
    total       INTEGER NOT NULL,
    generation  INTEGER NOT NULL,
    -- Unix ms of its count or (to 10 s) its last use, and whether it was
    -- used after its count: past the cap (db::assets::NAME_TOTALS_PER_ACCOUNT)
    -- one-off searches go first, then the least recently used.
    used_at     INTEGER NOT NULL,
    reused      INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (account_id, kinds, needle)
);

CREATE TRIGGER name_totals_on_insert AFTER INSERT ON assets BEGIN
    UPDATE name_totals SET total = total + 1
     WHERE account_id = NEW.account_id
       AND (kinds = '' OR instr(kinds, ',' || NEW.kind || ',') > 0)
       AND instr(NEW.filename_folded, needle) > 0;
END;
CREATE TRIGGER name_totals_on_delete AFTER DELETE ON assets BEGIN
    UPDATE name_totals SET total = total - 1
     WHERE account_id = OLD.account_id
       AND (kinds = '' OR instr(kinds, ',' || OLD.kind || ',') > 0)
       AND instr(OLD.filename_folded, needle) > 0;
END;
-- (An asset does not change accounts: assets_stay_in_their_account.)
CREATE TRIGGER name_totals_on_change AFTER UPDATE OF kind, filename_folded ON assets
    WHEN OLD.kind <> NEW.kind OR OLD.filename_folded <> NEW.filename_folded BEGIN
    UPDATE name_totals
       SET total = total
           - ((kinds = '' OR instr(kinds, ',' || OLD.kind || ',') > 0)
              AND instr(OLD.filename_folded, needle) > 0)
           + ((kinds = '' OR instr(kinds, ',' || NEW.kind || ',') > 0)
              AND instr(NEW.filename_folded, needle) > 0)
     WHERE account_id = NEW.account_id;
END;

-- The generation follows `changes` itself, so that it moves by exactly as
-- much as the account's, whichever trigger raised it.
CREATE TRIGGER name_totals_follow_new_counts AFTER INSERT ON asset_counts BEGIN
    UPDATE name_totals SET generation = generation + NEW.changes
     WHERE account_id = NEW.account_id;
END;
CREATE TRIGGER name_totals_follow_counts AFTER UPDATE OF changes ON asset_counts
    WHEN NEW.changes <> OLD.changes BEGIN
    UPDATE name_totals SET generation = generation + NEW.changes - OLD.changes
     WHERE account_id = NEW.account_id;
END;
