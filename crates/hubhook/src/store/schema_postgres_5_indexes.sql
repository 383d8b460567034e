-- Version 5 (as schema_sqlite_5_indexes.sql): an order's tasks, in their order, through an index that
-- matches the lookup (src/store/postgres_hot.rs lists the webhook path's statements; its test checks
-- each one's plan).

CREATE INDEX tasks_by_order ON tasks (hotel_id, order_key, seq);
