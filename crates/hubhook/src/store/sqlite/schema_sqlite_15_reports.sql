-- Version 15: the shift report (CONTRACT.md section 7).

-- A hotel's next shift end whose report is due (domain/report/shift.rs), NULL when it has no shift
-- ends. The checker (in the writer's transaction) reads only the due rows of this index. Hotels
-- that had shift ends before this version get '' (earlier than any time): the checker only
-- schedules them.
ALTER TABLE hotels ADD COLUMN report_at TEXT;
UPDATE hotels SET report_at = '' WHERE shift_ends <> '';
CREATE INDEX hotels_report_due ON hotels (report_at) WHERE report_at IS NOT NULL;

-- The report reads the tasks a hotel created in its window, and only those, however long the
-- hotel's history.
CREATE INDEX tasks_by_created ON tasks (hotel_id, created_at);
