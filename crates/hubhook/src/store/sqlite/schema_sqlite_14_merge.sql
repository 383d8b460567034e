-- Version 14: merging repeated requests (CONTRACT.md section 7). A second order for the same room
-- and service within the hotel's merge window grows the task that holds that room's and service's
-- merge slot instead of making another (intake/merge.rs decides; docs/operations-model.md).

-- Whether this task is the one later orders for its room and service may merge into: set on the
-- first task an order makes for a room and service while the hotel merges; cleared when a newer
-- task takes the slot over (the old one's window had passed). A task leaves the slot by itself
-- when it moves past `accepted` (the index below only holds open and accepted tasks).
ALTER TABLE tasks ADD COLUMN merge_slot INTEGER NOT NULL DEFAULT 0;
-- When the last order merged into it arrived (NULL: none yet): the merge window counts from the
-- latest request, the creation for a task nothing merged into.
ALTER TABLE tasks ADD COLUMN merged_at TEXT;
-- Every Duve order id the task stands for, a JSON array, once an order merged into it (NULL: only
-- its own `order_id`).
ALTER TABLE tasks ADD COLUMN order_ids TEXT;
-- At most one slot holder per hotel, room and service: the one row a new order reads to decide
-- whether it merges, and the constraint that keeps two racing orders from both making a task.
CREATE UNIQUE INDEX tasks_merge_slot ON tasks (hotel_id, room, external_id)
    WHERE merge_slot = 1 AND status IN ('open', 'accepted');

-- The orders a merged task stands for, one row per order and task, each with the quantity it
-- brought: the order that made the task (`merged` 0, written when the first order merges in) and
-- every order merged into it (`merged` 1). A task nothing merged into has no row here. A
-- cancellation marks its order's row; the task is cancelled once every row is.
CREATE TABLE task_orders (
    seq        INTEGER PRIMARY KEY,
    hotel_id   TEXT NOT NULL,
    order_key  TEXT NOT NULL,
    task_id    TEXT NOT NULL,
    order_id   TEXT,
    quantity   INTEGER NOT NULL,
    merged     INTEGER NOT NULL,
    cancelled  INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    UNIQUE (hotel_id, order_key, task_id)
);
CREATE INDEX task_orders_by_task ON task_orders (task_id);
