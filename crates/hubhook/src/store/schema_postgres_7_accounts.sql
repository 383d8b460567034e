-- Version 7: accounts can be disabled and belong to a department (plain text for now), as
-- schema_sqlite_7_accounts.sql.

ALTER TABLE users ADD COLUMN department TEXT;
-- A disabled account cannot sign in, and the session lookup refuses its sessions.
ALTER TABLE users ADD COLUMN disabled BOOLEAN NOT NULL DEFAULT false;
CREATE INDEX users_by_hotel ON users (hotel_id, email);
-- Disabling or removing an account deletes its sessions in the same transaction.
CREATE INDEX sessions_by_user ON sessions (user_id);
