-- Version 12: who made an API key. A key made on the API keys page records the manager who made it,
-- so that removing that account revokes its keys (CONTRACT.md section 2, `user remove`) and a
-- disabled account's keys stop working. A key made with `hubhook apikey create` (the operator) has
-- none and is the hotel's. No index on users needed: the lookup joins by the users primary key.
ALTER TABLE api_keys ADD COLUMN created_by TEXT;
-- remove_user: the account's keys, found without reading the hotel's other keys.
CREATE INDEX api_keys_by_creator ON api_keys (created_by) WHERE created_by IS NOT NULL;
