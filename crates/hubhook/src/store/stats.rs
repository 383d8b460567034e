//! The writers' counters for `/metrics`, kept by both backends (the SQLite writer's group commits,
//! PostgreSQL's batches of new orders) and read by `telemetry` without knowing which backend runs.

use std::sync::atomic::{AtomicU64, Ordering};

static WRITER_BATCHES: AtomicU64 = AtomicU64::new(0);
static WRITER_JOBS: AtomicU64 = AtomicU64::new(0);

/// Counts one committed batch of `jobs` writes.
pub(crate) fn batch_committed(jobs: usize) {
    WRITER_BATCHES.fetch_add(1, Ordering::Relaxed);
    WRITER_JOBS.fetch_add(jobs as u64, Ordering::Relaxed);
}

/// Batches (group commits) committed since the process started.
pub fn writer_batches() -> u64 {
    WRITER_BATCHES.load(Ordering::Relaxed)
}

/// Writes committed through those batches since the process started.
pub fn writer_jobs() -> u64 {
    WRITER_JOBS.load(Ordering::Relaxed)
}
