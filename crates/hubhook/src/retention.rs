//! Retention: a background pruner deletes inbound-log entries and delivery attempts older than the
//! configured age (`retention_days`, default 30 days; 0 keeps everything).
//!
//! It runs when the server starts and then periodically, deleting a small batch per statement with
//! a pause between batches, so a large backlog never holds the database writer (SQLite) or many rows
//! locked (PostgreSQL) for long: the webhook path keeps its latency while it runs. On PostgreSQL
//! every instance runs one; each batch takes only rows no other instance has locked. Attempts of
//! deliveries still pending are kept: they explain the retries to come. Tasks, orders (the
//! idempotency keys) and deliveries themselves are never pruned.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::sync::watch;

use crate::{
    domain::time,
    metrics::RetentionMetrics,
    store::{Store, StoreError},
};

pub use crate::domain::retention::{DEFAULT_DAYS, parse};

/// Rows deleted per statement (one transaction each).
pub const BATCH: u32 = 500;
/// Between two batches: the writer (or the pool) serves the requests that queued meanwhile.
const PAUSE: Duration = Duration::from_millis(50);
/// A run every half of the age, but at least every hour and at most every second.
const MAX_INTERVAL: Duration = Duration::from_secs(3600);
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// The time between two runs for rows kept `age`.
pub fn interval(age: Duration) -> Duration {
    (age / 2).clamp(MIN_INTERVAL, MAX_INTERVAL)
}

pub struct Pruner {
    store: Arc<dyn Store>,
    age: Duration,
    metrics: RetentionMetrics,
}

/// What one run deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub inbound: u64,
    pub attempts: u64,
}

impl Pruner {
    /// A pruner of rows older than `age`, counting what it deletes in `metrics`.
    pub fn new(store: Arc<dyn Store>, age: Duration, metrics: RetentionMetrics) -> Self {
        Self {
            store,
            age,
            metrics,
        }
    }

    /// Runs at once, then every [`interval`], until `stop` turns true (a batch under way finishes).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let every = interval(self.age);
        loop {
            if *stop.borrow() {
                return;
            }
            let started = Instant::now();
            match self.run_once(&mut stop).await {
                Ok(p) => tracing::info!(
                    inbound = p.inbound,
                    delivery_attempts = p.attempts,
                    older_than_secs = self.age.as_secs(),
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "retention: pruned old rows"
                ),
                // The next run tries again; nothing the webhook path needs depends on it.
                Err(e) => tracing::warn!(error = %e, "retention: pruning failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => {}
            }
        }
    }

    /// One run: batches until no row older than the age is left (or `stop`).
    async fn run_once(&self, stop: &mut watch::Receiver<bool>) -> Result<Pruned, StoreError> {
        let now = time::now();
        let age = jiff::SignedDuration::try_from(self.age).unwrap_or(jiff::SignedDuration::MAX);
        let before = now.checked_sub(age).unwrap_or(jiff::Timestamp::MIN);
        Ok(Pruned {
            inbound: self.drain(Table::Inbound, before, stop).await?,
            attempts: self.drain(Table::Attempts, before, stop).await?,
        })
    }

    /// Deletes `table`'s rows older than `before`, a batch at a time; returns how many.
    async fn drain(
        &self,
        table: Table,
        before: jiff::Timestamp,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let n = match table {
                Table::Inbound => self.store.prune_inbound(before, BATCH).await?,
                Table::Attempts => self.store.prune_attempts(before, BATCH).await?,
            };
            self.metrics.pruned(table.label(), n);
            total += n;
            if n < u64::from(BATCH) || *stop.borrow() {
                return Ok(total);
            }
            tokio::select! {
                _ = tokio::time::sleep(PAUSE) => {}
                _ = stop.changed() => {}
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Table {
    Inbound,
    Attempts,
}

impl Table {
    /// The table's label in `hubhook_retention_pruned_total`.
    fn label(self) -> &'static str {
        match self {
            Table::Inbound => "inbound",
            Table::Attempts => "delivery_attempts",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_often_enough_for_short_ages_and_hourly_for_long_ones() {
        assert_eq!(interval(Duration::from_secs(2)), Duration::from_secs(1));
        assert_eq!(interval(Duration::from_secs(600)), Duration::from_secs(300));
        assert_eq!(interval(Duration::from_secs(30 * 86_400)), MAX_INTERVAL);
    }
}
