//! The SQLite store's retention: pruning the inbound log and delivery attempts ([`RetentionStore`]).

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::params;

use super::SqliteStore;
use crate::{
    domain::time,
    store::{RetentionStore, StoreError},
};

#[async_trait]
impl RetentionStore for SqliteStore {
    async fn prune_inbound(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        // One small job through the writer like any other: a batch never holds it for long.
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "DELETE FROM inbound WHERE seq IN (
                         SELECT seq FROM inbound WHERE received_at < ?1
                         ORDER BY received_at LIMIT ?2)",
                )?
                .execute(params![time::format(before), limit])?;
            Ok(n as u64)
        })
        .await
    }

    async fn prune_attempts(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError> {
        self.write(move |c| {
            let n = c
                .prepare_cached(
                    "DELETE FROM delivery_attempts WHERE seq IN (
                         SELECT a.seq FROM delivery_attempts a
                         WHERE a.at < ?1 AND NOT EXISTS (
                             SELECT 1 FROM deliveries d
                             WHERE d.id = a.delivery_id AND d.status = 'pending')
                         ORDER BY a.at LIMIT ?2)",
                )?
                .execute(params![time::format(before), limit])?;
            Ok(n as u64)
        })
        .await
    }
}
