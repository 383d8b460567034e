-- Version 8: the pending deliveries by creation time, for /metrics (the outbox's backlog: how many
-- are pending, counted up to a cap, and the oldest one's age). Delivered and failed rows are never
-- pruned, so without it both figures would read every delivery ever made.

CREATE INDEX deliveries_pending_since ON deliveries (created_at) WHERE status = 'pending';
