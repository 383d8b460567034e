-- Version 18: when each task was finished, so the dashboard's time to done reads the tasks a hotel
-- finished in its last seven days and only those, however long its backlog (docs/ui.md,
-- "The dashboard"; before, it read every task made in the week, each with a look-up of its history).

-- When the task moved to done (the same format as created_at); NULL for a task not done. Every move
-- writes it in the statement that writes the status (TaskStatus::done_at); done is final, so it is
-- written once. Tasks done before this version get the time of their first history line moving to
-- done.
ALTER TABLE tasks ADD COLUMN done_at TEXT;
UPDATE tasks SET done_at = (
        SELECT min(e.at) FROM task_events e
        WHERE e.task_id = tasks.id AND e.to_status = 'done' AND e.from_status IS NOT 'done')
WHERE status = 'done';

-- The dashboard: a hotel's tasks finished since a time, in the order they finished, with what the
-- chart needs (a covering index: no look-up of the table's rows).
CREATE INDEX tasks_done ON tasks (hotel_id, done_at, task_name, created_at)
    WHERE done_at IS NOT NULL;
