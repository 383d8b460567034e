-- Version 17: the board's and the archiver's partial indexes say "not finished" as
-- `status NOT IN ('done', 'cancelled')` instead of `status IN ('open', 'accepted', 'in_progress')`.
-- The same rows (a task's status is one of those five), but SQLite evaluates a list of three or more
-- values through a temporary B-tree it builds each time a statement runs: every task insert and
-- status change built five of them, a third of a new task's insert (docs/benchmarks.md, History,
-- 2026-12-05). A list of two is two comparisons. The statements that read these indexes say the same
-- (store/board_sql.rs `Dialect::active`, store/sqlite/board.rs). PostgreSQL keeps its lists: it tests
-- them in place.
DROP INDEX tasks_board;
DROP INDEX tasks_board_department;
DROP INDEX tasks_board_assignee;
DROP INDEX tasks_board_room;
DROP INDEX tasks_stale;
CREATE INDEX tasks_board ON tasks (hotel_id, status, priority, board_at, seq)
    WHERE status NOT IN ('done', 'cancelled') AND archived = 0;
CREATE INDEX tasks_board_department ON tasks (hotel_id, department, status, priority, board_at, seq)
    WHERE status NOT IN ('done', 'cancelled') AND archived = 0;
CREATE INDEX tasks_board_assignee ON tasks (hotel_id, assignee_id, status, priority, board_at, seq)
    WHERE status NOT IN ('done', 'cancelled') AND archived = 0 AND assignee_id IS NOT NULL;
CREATE INDEX tasks_board_room ON tasks (hotel_id, room, status, priority, board_at, seq)
    WHERE status NOT IN ('done', 'cancelled') AND archived = 0;
CREATE INDEX tasks_stale ON tasks (hotel_id, updated_at, seq)
    WHERE status NOT IN ('done', 'cancelled') AND archived = 0;
