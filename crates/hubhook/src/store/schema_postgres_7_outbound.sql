-- Version 7 (outbound fairness, as schema_sqlite_7_outbound.sql): a hotel's pending deliveries,
-- found without reading its history. A replay is refused while its hotel has too many deliveries
-- waiting (domain/outbound/fair.rs); counting them reads this index up to that bound.

CREATE INDEX deliveries_pending_by_hotel ON deliveries (hotel_id) WHERE status = 'pending';
