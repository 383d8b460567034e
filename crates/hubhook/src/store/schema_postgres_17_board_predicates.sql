-- Version 17: nothing to change on PostgreSQL. On SQLite this version rewrites the board's and the
-- archiver's partial indexes to say "not finished" as a list of two values (SQLite builds a temporary
-- B-tree for a list of three or more each time a statement runs); PostgreSQL tests an IN list in
-- place, so its indexes and statements keep `status IN ('open', 'accepted', 'in_progress')`. The
-- file keeps the two backends' version numbers equal.
SELECT 1;
