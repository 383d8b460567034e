-- Version 2: the outbox. Subscriptions, one delivery row per (event, subscription) written in the
-- transaction of the change that raised it, and every attempt.

CREATE TABLE subscriptions (
    id               TEXT PRIMARY KEY,
    hotel_id         TEXT NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    kind             TEXT NOT NULL,
    url              TEXT NOT NULL,
    events           TEXT NOT NULL,           -- comma-separated event types
    headers          TEXT NOT NULL,           -- JSON array of {"name", "value"}
    secret           TEXT,                    -- whsec_… (signing needs it in clear)
    old_secret       TEXT,
    old_secret_until TEXT,
    bearer           TEXT,
    template         TEXT,
    enabled          INTEGER NOT NULL DEFAULT 1,
    disabled_reason  TEXT,
    created_at       TEXT NOT NULL
);
CREATE INDEX subscriptions_by_hotel ON subscriptions (hotel_id);

CREATE TABLE deliveries (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,     -- msg_…, the webhook-id
    hotel_id        TEXT NOT NULL,
    subscription_id TEXT NOT NULL,
    task_id         TEXT,
    event           TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL,            -- pending | delivered | failed
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT,
    claimed_until   TEXT,
    last_code       TEXT,
    last_message    TEXT,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX deliveries_by_task ON deliveries (subscription_id, task_id, seq) WHERE status = 'pending';
CREATE INDEX deliveries_by_hotel ON deliveries (hotel_id, seq);

CREATE TABLE delivery_attempts (
    seq         INTEGER PRIMARY KEY,
    delivery_id TEXT NOT NULL,
    at          TEXT NOT NULL,
    status      INTEGER,
    error       TEXT,
    latency_us  INTEGER NOT NULL,
    response    TEXT NOT NULL
);
CREATE INDEX delivery_attempts_by_delivery ON delivery_attempts (delivery_id, seq);

-- Set once task.overdue has been raised for a task.
ALTER TABLE tasks ADD COLUMN overdue_raised INTEGER NOT NULL DEFAULT 0;
CREATE INDEX tasks_coming_due ON tasks (due_at)
    WHERE overdue_raised = 0 AND due_at IS NOT NULL AND status NOT IN ('done', 'cancelled');
