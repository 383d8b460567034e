//! Retention: the [`RetentionStore`] trait (the pruner in `crate::retention` calls it).

use async_trait::async_trait;
use jiff::Timestamp;

use super::StoreError;

/// Retention: pruning old inbound-log entries and delivery attempts.
#[async_trait]
pub trait RetentionStore: Send + Sync {
    /// Deletes up to `limit` inbound-log entries received before `before`, oldest first; returns
    /// how many. Safe to run from several processes at once.
    async fn prune_inbound(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError>;
    /// Deletes up to `limit` delivery attempts made before `before`, oldest first, except those of
    /// deliveries still pending (their log explains the retries to come); returns how many.
    async fn prune_attempts(&self, before: Timestamp, limit: u32) -> Result<u64, StoreError>;
}
