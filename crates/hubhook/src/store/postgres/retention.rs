//! The PostgreSQL store's pruning of old inbound entries and delivery attempts.

use async_trait::async_trait;
use jiff::Timestamp;

use super::{PostgresStore, exec};
use crate::domain::time;
use crate::store::{RetentionStore, StoreError};

#[async_trait]
impl RetentionStore for PostgresStore {
    async fn prune_inbound(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        // Several instances may prune at once: each takes rows the others have not locked.
        let client = self.pool.get().await?;
        exec(
            &client,
            "DELETE FROM inbound WHERE seq IN (
                 SELECT seq FROM inbound WHERE received_at < $1
                 ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)",
            &[&time::format(before), &i64::from(limit)],
        )
        .await
    }

    async fn prune_attempts(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let client = self.pool.get().await?;
        exec(
            &client,
            "DELETE FROM delivery_attempts WHERE seq IN (
                 SELECT a.seq FROM delivery_attempts a
                 WHERE a.at < $1 AND NOT EXISTS (
                     SELECT 1 FROM deliveries d
                     WHERE d.id = a.delivery_id AND d.status = 'pending')
                 ORDER BY a.at LIMIT $2 FOR UPDATE OF a SKIP LOCKED)",
            &[&time::format(before), &i64::from(limit)],
        )
        .await
    }
}
