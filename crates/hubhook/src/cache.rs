//! The hot path's memory of hotels (credential hashes, settings, rooms, catalog).
//!
//! It never hides a change: a write made with an outdated snapshot is refused by the store as stale
//! (the snapshot's version is checked inside the write transaction), and an authentication miss
//! re-reads the database's version before it refuses. So a token rotated or a room added by the CLI
//! in another process counts from the next request on, without any per-request database read.

use std::sync::{Arc, RwLock};

use crate::store::{Snapshot, Store, StoreError};

pub struct HotelCache {
    store: Arc<dyn Store>,
    current: RwLock<Arc<Snapshot>>,
    reload: tokio::sync::Mutex<()>,
}

impl HotelCache {
    pub async fn load(store: Arc<dyn Store>) -> Result<Self, StoreError> {
        let snap = store.snapshot().await?;
        Ok(Self {
            store,
            current: RwLock::new(Arc::new(snap)),
            reload: tokio::sync::Mutex::new(()),
        })
    }

    pub fn snapshot(&self) -> Arc<Snapshot> {
        match self.current.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces a snapshot known to be outdated; concurrent callers share one reload.
    pub async fn refresh(&self, outdated: u64) -> Result<Arc<Snapshot>, StoreError> {
        let _one_at_a_time = self.reload.lock().await;
        let cur = self.snapshot();
        if cur.version != outdated {
            return Ok(cur);
        }
        let fresh = Arc::new(self.store.snapshot().await?);
        match self.current.write() {
            Ok(mut g) => *g = fresh.clone(),
            Err(poisoned) => *poisoned.into_inner() = fresh.clone(),
        }
        Ok(fresh)
    }

    /// For a miss (unknown hotel, wrong token): reloads only if the configuration has changed.
    pub async fn refresh_if_changed(&self) -> Result<Option<Arc<Snapshot>>, StoreError> {
        let cur = self.snapshot();
        if self.store.config_version().await? == cur.version {
            return Ok(None);
        }
        self.refresh(cur.version).await.map(Some)
    }
}
