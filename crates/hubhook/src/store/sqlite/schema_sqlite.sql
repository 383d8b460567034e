-- hubhook's SQLite schema, version 1. Times are RFC 3339 UTC text with milliseconds (they sort as time).

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) WITHOUT ROWID;
-- Bumped by every change to hotels, tokens, rooms or catalog, so running servers notice the CLI's edits.
INSERT INTO meta (key, value) VALUES ('config_version', 1);

CREATE TABLE hotels (
    id               TEXT PRIMARY KEY,
    name             TEXT NOT NULL,
    timezone         TEXT NOT NULL,
    access_hash      BLOB NOT NULL,
    password_hash    BLOB NOT NULL,
    sync_paid_orders INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL
);

CREATE TABLE rooms (
    hotel_id TEXT NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    number   TEXT NOT NULL,
    floor    TEXT,
    PRIMARY KEY (hotel_id, number)
) WITHOUT ROWID;

CREATE TABLE catalog (
    hotel_id    TEXT NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    name        TEXT NOT NULL,
    department  TEXT,
    sla_minutes INTEGER,
    PRIMARY KEY (hotel_id, external_id)
) WITHOUT ROWID;

CREATE TABLE api_keys (
    id         TEXT PRIMARY KEY,
    hotel_id   TEXT NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    hash       BLOB NOT NULL UNIQUE,
    role       TEXT NOT NULL,
    created_at TEXT NOT NULL
);

-- One row per Duve order a hotel has seen: the idempotency key. state is 'created', or 'cancelled' for
-- an order whose cancellation arrived before its creation.
CREATE TABLE orders (
    hotel_id       TEXT NOT NULL,
    order_key      TEXT NOT NULL,
    order_id       TEXT,
    reservation_id TEXT,
    state          TEXT NOT NULL,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (hotel_id, order_key)
) WITHOUT ROWID;

CREATE TABLE tasks (
    seq            INTEGER PRIMARY KEY,
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
    seq         INTEGER PRIMARY KEY,
    task_id     TEXT NOT NULL,
    at          TEXT NOT NULL,
    actor       TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    note        TEXT
);
CREATE INDEX task_events_by_task ON task_events (task_id, seq);

CREATE TABLE inbound (
    seq         INTEGER PRIMARY KEY,
    hotel_id    TEXT NOT NULL,
    received_at TEXT NOT NULL,
    event       TEXT,
    code        TEXT NOT NULL,
    details     TEXT NOT NULL,
    task_ids    TEXT NOT NULL,
    body        TEXT NOT NULL,
    duration_us INTEGER NOT NULL
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
) WITHOUT ROWID;
