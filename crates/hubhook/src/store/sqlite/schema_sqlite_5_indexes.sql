-- Version 5: an index for every statement on the webhook path (src/store/sqlite/hot.rs lists them,
-- and its test checks each one's plan). An order's tasks were found through tasks_by_hotel
-- (hotel_id, seq), which the planner preferred for its ORDER BY seq: every task of the hotel was read
-- to answer a duplicate or a cancellation, on the writer every hotel shares.

CREATE INDEX tasks_by_order ON tasks (hotel_id, order_key, seq);
