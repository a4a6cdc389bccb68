-- Settings every node of a cluster must agree on, kept where they all look:
-- the key that signs media URLs, made by the first node that starts.
CREATE TABLE settings (
    name   TEXT PRIMARY KEY,
    value  TEXT NOT NULL
);
