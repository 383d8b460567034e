//! What the store tells `/metrics`: the writers' batches, kept by both backends (the SQLite
//! writer's group commits, PostgreSQL's batches of new orders) for the whole process, and the
//! outbox's backlog ([`StatsStore`]), read at each scrape.

use std::sync::LazyLock;

use async_trait::async_trait;
use jiff::Timestamp;
use prometheus_client::{
    metrics::{counter::Counter, histogram::Histogram},
    registry::Registry,
};

use super::StoreError;

/// Upper bounds of the batch size buckets: 1 to 256 writes (the SQLite writer's largest batch).
const BATCH_BUCKETS: [f64; 9] = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];

/// The writers' figures, process-wide (every store of the process counts here).
struct Writer {
    batches: Counter,
    jobs: Counter,
    sizes: Histogram,
}

static WRITER: LazyLock<Writer> = LazyLock::new(|| Writer {
    batches: Counter::default(),
    jobs: Counter::default(),
    sizes: Histogram::new(BATCH_BUCKETS),
});

/// Counts one committed batch of `jobs` writes.
pub(crate) fn batch_committed(jobs: usize) {
    let w = &*WRITER;
    w.batches.inc();
    w.jobs.inc_by(jobs as u64);
    w.sizes.observe(jobs as f64);
}

/// Registers the writers' metrics in a server's registry.
pub fn register(r: &mut Registry) {
    let w = &*WRITER;
    r.register(
        "hubhook_db_write_batches",
        "Group commits made by the writer (on PostgreSQL, batches of new orders)",
        w.batches.clone(),
    );
    r.register(
        "hubhook_db_write_jobs",
        "Writes committed through those batches",
        w.jobs.clone(),
    );
    r.register(
        "hubhook_db_write_batch_size",
        "Writes per committed batch",
        w.sizes.clone(),
    );
}

/// The indexes that hold pending deliveries only (`WHERE status = 'pending'`): reading one costs
/// what the backlog holds, never the delivery history. The backlog's statements use them alone.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const PENDING_INDEXES: &[&str] = &[
    "deliveries_pending_since",
    "deliveries_due",
    "deliveries_by_task",
];

/// The outbox's backlog as one scrape reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backlog {
    /// Pending deliveries, counted up to the cap asked for.
    pub pending: u64,
    /// When the oldest pending delivery was created, if any is pending.
    pub oldest_pending: Option<Timestamp>,
}

/// Figures read from the database for `/metrics`.
#[async_trait]
pub trait StatsStore: Send + Sync {
    /// The pending deliveries (counted up to `cap`) and the creation time of the oldest: a capped
    /// scan and a probe of the index of pending deliveries, however many rows the outbox holds.
    async fn outbox_backlog(&self, cap: u64) -> Result<Backlog, StoreError>;
}
