-- Version 13: replays (CONTRACT.md section 7). A delivery refused for data the hotel has since fixed
-- is decided again from its stored body; the log's entry of that decision names the entry it
-- replayed. No foreign key: the retention pruner deletes old entries, and a replay outlives the
-- entry it replayed.
ALTER TABLE inbound ADD COLUMN replay_of INTEGER;
