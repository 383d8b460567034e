-- hubhook's PostgreSQL schema, version 1: the same tables as the SQLite schema, in PostgreSQL's types.
-- Times are RFC 3339 UTC text with milliseconds, as on SQLite, so both backends answer byte for byte
-- the same and the text sorts as time.

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
-- Bumped by every change to hotels, tokens, rooms or catalog, in the same transaction as the change;
-- every webhook's transaction reads it, so an instance deciding with an older snapshot notices.
INSERT INTO meta (key, value) VALUES ('config_version', 1);

CREATE TABLE hotels (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    timezone         TEXT NOT NULL,
    access_hash      BYTEA NOT NULL,
    password_hash    BYTEA NOT NULL,
    sync_paid_orders BOOLEAN NOT NULL DEFAULT false,
    created_at       TEXT NOT NULL
);

CREATE TABLE rooms (
    hotel_id TEXT NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    number   TEXT NOT NULL,
    floor    TEXT,
    PRIMARY KEY (hotel_id, number)
);

CREATE TABLE catalog (
    hotel_id    TEXT NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    department  TEXT,
    sla_minutes INTEGER,
    PRIMARY KEY (hotel_id, external_id)
);

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    hotel_id   TEXT NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    hash       BYTEA NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- One row per Duve order a hotel has seen: the idempotency key. Its primary key is what decides, across
-- every instance, which delivery of an order creates the tasks. state is 'created', or 'cancelled' for an
-- order whose cancellation arrived before its creation.
CREATE TABLE orders (
    hotel_id       TEXT NOT NULL,
    order_key      TEXT NOT NULL,
    order_id       TEXT,
    reservation_id TEXT,
    state          TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (hotel_id, order_key)
);

CREATE TABLE tasks (
    seq            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    hotel_id       TEXT NOT NULL,
    order_key      TEXT,
    item_key       TEXT,
    order_id       TEXT,
    reservation_id TEXT,
    external_id    TEXT,
    task_name      TEXT NOT NULL,
    room           TEXT NOT NULL,
    guest_name     TEXT,
    quantity       INTEGER NOT NULL,
    status         TEXT NOT NULL,
    department     TEXT,
    notes          TEXT,
    language       TEXT,
    requested_at   TEXT,
    due_at         TEXT,
    created_at     TEXT NOT NULL,
    updated_at     TEXT NOT NULL,
    UNIQUE (hotel_id, order_key, item_key)
);
CREATE INDEX tasks_by_hotel ON tasks (hotel_id, seq);

CREATE TABLE task_events (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    task_id     TEXT NOT NULL,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    note        TEXT
);
CREATE INDEX task_events_by_task ON task_events (task_id, seq);

CREATE TABLE inbound (
    seq         BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hotel_id    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    event       TEXT,
    code        TEXT NOT NULL,
    details     TEXT NOT NULL,
    task_ids    TEXT NOT NULL,
    body        TEXT NOT NULL,
    duration_us BIGINT NOT NULL
);
CREATE INDEX inbound_by_hotel ON inbound (hotel_id, seq);

-- What Duve's events said about a reservation, to fill an order that lacks room or name.
CREATE TABLE reservations (
    hotel_id       TEXT NOT NULL,
    reservation_id TEXT NOT NULL,
    room           TEXT,
    first_name     TEXT,
    last_name      TEXT,
    language       TEXT,
    check_in       TEXT,
    check_out      TEXT,
    updated_at     TEXT NOT NULL,
    PRIMARY KEY (hotel_id, reservation_id)
);
