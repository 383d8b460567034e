-- Version 18: when each task was finished, as schema_sqlite_18_done_at.sql: the dashboard's time to
-- done reads the tasks a hotel finished in its last seven days and only those, however long its
-- backlog.

-- When the task moved to done (the same format as created_at); NULL for a task not done. Every move
-- writes it in the statement that writes the status (TaskStatus::done_at); done is final, so it is
-- written once. Tasks done before this version get the time of their first history line moving to
-- done.
ALTER TABLE tasks ADD COLUMN done_at TEXT;
UPDATE tasks t SET done_at = d.at
FROM (SELECT task_id, min(at) AS at FROM task_events
      WHERE to_status = 'done' AND from_status IS DISTINCT FROM 'done'
      GROUP BY task_id) d
WHERE d.task_id = t.id AND t.status = 'done';

-- The dashboard: a hotel's tasks finished since a time, in the order they finished, with what the
-- chart needs carried in the index (an index-only scan where the visibility map allows).
CREATE INDEX tasks_done ON tasks (hotel_id, done_at) INCLUDE (task_name, created_at)
    WHERE done_at IS NOT NULL;
