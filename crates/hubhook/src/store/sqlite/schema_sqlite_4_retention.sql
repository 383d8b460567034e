-- Version 4: retention. The pruner deletes inbound-log entries and delivery attempts older than the
-- configured age, oldest first, a small batch at a time: these indexes find them without a scan.

CREATE INDEX inbound_by_time ON inbound (received_at);
CREATE INDEX delivery_attempts_by_time ON delivery_attempts (at);
