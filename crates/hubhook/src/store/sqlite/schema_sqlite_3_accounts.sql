-- Version 3: accounts for the web pages (users, sessions).

-- An account belongs to one hotel. Emails are unique across hotels: the login form asks for no hotel.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    hotel_id      TEXT NOT NULL REFERENCES hotels (id) ON DELETE CASCADE,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role          TEXT NOT NULL,
    -- argon2id, PHC string format (algorithm, parameters and salt included).
    password_hash TEXT NOT NULL,
    created_at    TEXT NOT NULL
);

-- Only the SHA-256 of a session token is kept: a copy of the database opens no session.
CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX sessions_by_expiry ON sessions (expires_at);
