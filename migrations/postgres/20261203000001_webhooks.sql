-- Webhooks (issue 12): an account's endpoints, the outbox of events written in
-- the same transaction as the change each reports, and each delivery attempt.
CREATE TABLE webhooks (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    url         TEXT NOT NULL,
    -- The signing secret, shown once when the endpoint is made.
    secret      TEXT NOT NULL,
    -- JSON array of the event types it takes.
    events      TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX webhooks_by_account ON webhooks (account_id, created_at);

CREATE TABLE webhook_events (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL,
    type        TEXT NOT NULL,
    -- The body's `data` (the asset as GET /assets/{id} showed it then), as JSON text.
    data        TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE INDEX webhook_events_by_account ON webhook_events (account_id, created_at);
-- For pruning events past their keep (`--webhook-event-days`).
CREATE INDEX webhook_events_by_time ON webhook_events (created_at);

CREATE TABLE webhook_deliveries (
    id           BIGSERIAL PRIMARY KEY,
    webhook_id   TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    event_id     TEXT NOT NULL REFERENCES webhook_events (id) ON DELETE CASCADE,
    attempt      INTEGER NOT NULL,
    -- The receiver's HTTP status; NULL when there was no answer.
    status_code  INTEGER,
    error        TEXT,
    duration_ms  BIGINT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, id);
