-- Version 9 (outbound fairness, as schema_sqlite_9_outbound.sql; domain/outbound/fair.rs).
-- A hotel's pending deliveries in the order they fall due: a claim takes at most a few of each
-- hotel's (the hotels themselves found by skipping along this index), whatever the size of another
-- hotel's backlog; a replay counts a hotel's pending ones up to a bound without reading its history.
CREATE INDEX deliveries_pending_by_hotel ON deliveries (hotel_id, next_attempt_at, seq)
    WHERE status = 'pending';
-- The deliveries being sent (their lease set): how many each hotel holds, read at every claim.
CREATE INDEX deliveries_claimed ON deliveries (claimed_until, hotel_id)
    WHERE claimed_until IS NOT NULL;
