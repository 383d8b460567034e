-- Version 16: assignment and a board that stays light, as schema_sqlite_16_assignment.sql.

-- The user a task is assigned to (`users.id`), NULL for nobody. No foreign key: disabling or removing
-- a user unassigns their open tasks in the same transaction (with a history line each); finished
-- tasks keep the id, which names nobody once the user is removed (TASK's `assignee` then reads null;
-- the history keeps the email).
ALTER TABLE tasks ADD COLUMN assignee_id TEXT;
-- Left open past the hotel's archive-after: off the board, still in the API with its history.
ALTER TABLE tasks ADD COLUMN archived BOOLEAN NOT NULL DEFAULT false;
-- The board's order within a priority: the due time, or the creation time for a task without one.
ALTER TABLE tasks ADD COLUMN board_at TEXT;
-- Until when a scheduled request waits under "Later" (domain/task.rs, `later_until`); NULL for a
-- task that is not scheduled.
ALTER TABLE tasks ADD COLUMN later_until TEXT;

UPDATE tasks SET board_at = coalesce(due_at, created_at)
WHERE status IN ('open', 'accepted', 'in_progress');
UPDATE tasks SET later_until = to_char(
        (requested_at::timestamptz - interval '30 minutes') AT TIME ZONE 'UTC',
        'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')
WHERE requested_at IS NOT NULL AND status IN ('open', 'accepted')
  AND requested_at::timestamptz - created_at::timestamptz > interval '60 minutes';

-- GET /api/v1/tasks?assignee=: a user's tasks (or nobody's), newest first.
CREATE INDEX tasks_by_assignee ON tasks (hotel_id, assignee_id, seq);

-- The board's columns, each read in its order (priority 'high' sorts before 'normal': escalated
-- first; then by due time) and cut after a page, whatever the backlog: the hotel's, a department's,
-- a user's ("Mine") and a room's (search, floors). Only tasks not finished and not archived.
CREATE INDEX tasks_board ON tasks (hotel_id, status, priority, board_at, seq)
    WHERE status IN ('open', 'accepted', 'in_progress') AND NOT archived;
CREATE INDEX tasks_board_department ON tasks (hotel_id, department, status, priority, board_at, seq)
    WHERE status IN ('open', 'accepted', 'in_progress') AND NOT archived;
CREATE INDEX tasks_board_assignee ON tasks (hotel_id, assignee_id, status, priority, board_at, seq)
    WHERE status IN ('open', 'accepted', 'in_progress') AND NOT archived AND assignee_id IS NOT NULL;
CREATE INDEX tasks_board_room ON tasks (hotel_id, room, status, priority, board_at, seq)
    WHERE status IN ('open', 'accepted', 'in_progress') AND NOT archived;
-- "Later": the scheduled requests not started, by the time they join the others.
CREATE INDEX tasks_later ON tasks (hotel_id, later_until, seq)
    WHERE later_until IS NOT NULL AND status IN ('open', 'accepted') AND NOT archived;
-- "Finished (last 2 h)": the hotel's finished tasks by when they finished, the newest first.
CREATE INDEX tasks_finished ON tasks (hotel_id, updated_at, seq)
    WHERE status IN ('done', 'cancelled');

-- The archiver (issue 18, docs/operations-model.md): the hotels that archive, and per hotel its
-- unfinished tasks by their last change, the oldest first, so a run reads only what is due.
CREATE INDEX hotels_archiving ON hotels (id) WHERE archive_after_secs > 0;
CREATE INDEX tasks_stale ON tasks (hotel_id, updated_at, seq)
    WHERE status IN ('open', 'accepted', 'in_progress') AND NOT archived;
