-- A job whose process died while it ran (its lease ran out) was interrupted,
-- not failed: that is counted here, apart from `attempts`, with its own cap.
ALTER TABLE jobs ADD COLUMN interruptions INTEGER NOT NULL DEFAULT 0;
