-- Version 14: merging repeated requests (CONTRACT.md section 7), as schema_sqlite_14_merge.sql. A
-- second order for the same room and service within the hotel's merge window grows the task that
-- holds that room's and service's merge slot instead of making another (intake/merge.rs decides).

-- Whether this task is the one later orders for its room and service may merge into (see the
-- SQLite file). A constant default: no table rewrite.
ALTER TABLE tasks ADD COLUMN merge_slot BOOLEAN NOT NULL DEFAULT false;
-- When the last order merged into it arrived (NULL: none yet).
ALTER TABLE tasks ADD COLUMN merged_at TEXT;
-- Every Duve order id the task stands for, a JSON array, once an order merged into it.
ALTER TABLE tasks ADD COLUMN order_ids TEXT;
-- At most one slot holder per hotel, room and service: two instances racing to make a task for the
-- same room and service both insert a holder, and the second fails on this index and decides again,
-- now merging (as the `orders` key does for two deliveries of one order).
CREATE UNIQUE INDEX tasks_merge_slot ON tasks (hotel_id, room, external_id)
    WHERE merge_slot AND status IN ('open', 'accepted');

-- The orders a merged task stands for, with the quantity each brought (see the SQLite file).
CREATE TABLE task_orders (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    hotel_id   TEXT NOT NULL,
    order_key  TEXT NOT NULL,
    task_id    TEXT NOT NULL,
    order_id   TEXT,
    quantity   INTEGER NOT NULL,
    merged     BOOLEAN NOT NULL,
    cancelled  BOOLEAN NOT NULL DEFAULT false,
    created_at TEXT NOT NULL,
    UNIQUE (hotel_id, order_key, task_id)
);
CREATE INDEX task_orders_by_task ON task_orders (task_id);
