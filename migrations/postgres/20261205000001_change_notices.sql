-- Each node keeps recent answers to reads in memory (src/db/read_cache.rs)
-- and forgets an account's as soon as this notice says that its assets
-- changed, whichever node, job or command changed them. A notice goes out
-- when the change commits (none for a rolled-back one), and PostgreSQL
-- sends one notice per account per transaction however many rows it wrote.
CREATE FUNCTION assets_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        PERFORM pg_notify('assetd_asset_changes', OLD.account_id);
    ELSE
        PERFORM pg_notify('assetd_asset_changes', NEW.account_id);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER assets_notify_change AFTER INSERT OR UPDATE OR DELETE ON assets
    FOR EACH ROW EXECUTE FUNCTION assets_notify_change();
