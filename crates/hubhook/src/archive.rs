//! The archiver: every `archive_check` (default a minute) it takes off the board the tasks left
//! unfinished and untouched past their hotel's archive-after (`domain::archive`), a batch per
//! transaction with a pause between batches, so a first run over a long backlog never holds the
//! database writer (SQLite) or many rows locked (PostgreSQL) for long. Each task gets a history line
//! and the live boards are told. On PostgreSQL every instance runs one; each takes only the rows no
//! other has locked and archives a task only while it is not archived, so each is archived once.

use std::{sync::Arc, time::Duration};

use tokio::sync::watch;

use crate::{domain::time, store::Store};

/// Tasks archived per transaction.
pub const BATCH: u32 = 500;
/// Between two batches: the writer (or the pool) serves the requests that queued meanwhile.
const PAUSE: Duration = Duration::from_millis(50);

/// The background archiver of one server.
pub struct Archiver {
    store: Arc<dyn Store>,
    every: Duration,
}

impl Archiver {
    /// An archiver that looks every `every`.
    pub fn new(store: Arc<dyn Store>, every: Duration) -> Self {
        Self { store, every }
    }

    /// Looks at once, then every `every`, until `stop` turns true (a batch under way finishes).
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if *stop.borrow() {
                return;
            }
            let mut total = 0u64;
            loop {
                match self.store.archive_stale(time::now(), BATCH).await {
                    Ok(n) => {
                        total += u64::from(n);
                        if n < BATCH || *stop.borrow() {
                            break;
                        }
                    }
                    // The next run tries again; nothing else depends on it.
                    Err(e) => {
                        tracing::warn!(error = %e, "archive: could not archive stale tasks");
                        break;
                    }
                }
                tokio::select! {
                    _ = tokio::time::sleep(PAUSE) => {}
                    _ = stop.changed() => {}
                }
            }
            if total > 0 {
                tracing::info!(tasks = total, "archive: archived tasks left unfinished");
            }
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = stop.changed() => {}
            }
        }
    }
}
