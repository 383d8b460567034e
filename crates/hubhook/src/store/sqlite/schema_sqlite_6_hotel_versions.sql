-- Version 5: a configuration version per hotel. Every change to a hotel (rooms, catalog, settings,
-- tokens) bumps its own version in the change's transaction, and a webhook's transaction checks
-- only its hotel's: one hotel's changes never make another's cached facts stale. The one version
-- that every hotel shared is gone.

ALTER TABLE hotels ADD COLUMN config_version INTEGER NOT NULL DEFAULT 1;
DELETE FROM meta WHERE key = 'config_version';
