-- Version 8 (as schema_sqlite_8_ship.sql): the pending deliveries by creation time, for /metrics
-- (the outbox's backlog: how many are pending, counted up to a cap, and the oldest one's age).

CREATE INDEX deliveries_pending_since ON deliveries (created_at) WHERE status = 'pending';
