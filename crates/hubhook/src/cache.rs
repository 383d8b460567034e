//! The hot path's memory of hotels (credential hashes, settings, rooms, catalog), kept per hotel.
//!
//! Each hotel has a configuration version of its own (`hotels.config_version`), bumped in the
//! transaction of every change to that hotel (rooms, catalog, settings, tokens). The cache holds each
//! hotel's facts with the version they were read at, and a change to one hotel reloads that hotel
//! only, by its id: other hotels' webhooks never see it, and a reload's cost does not grow with the
//! number of hotels.
//!
//! It never hides a change:
//! - a write decided with a hotel's outdated facts is refused by the store as stale (that hotel's
//!   version is checked inside the write transaction); the handler reloads the hotel and decides
//!   again;
//! - an authentication miss (unknown hotel, wrong token) re-reads that hotel's version (one indexed
//!   read) and reloads it if it changed, so a token rotated or a hotel created by the CLI in another
//!   process counts from the next request on;
//! - the store announces every change it commits ([`ConfigChange`]), and on PostgreSQL every
//!   instance hears the others' changes: the hotel's cached facts are then marked outdated and
//!   reloaded on their next use.

use std::{
    collections::HashMap,
    hash::{BuildHasher, RandomState},
    sync::{Arc, RwLock, Weak},
    time::Duration,
};

use tokio::sync::broadcast::error::RecvError;

use crate::{
    domain::HotelFacts,
    store::{ConfigChange, Store, StoreError},
};

/// Reloads of hotels in the same stripe wait for each other (so a burst of stale answers for one
/// hotel reads it once); other hotels' reloads never do.
const STRIPES: usize = 64;

/// A hotel's facts, and the newest version it is known to have.
struct Slot {
    facts: Arc<HotelFacts>,
    /// Facts older than this are outdated (a change was announced): reloaded on their next use.
    wanted: u64,
}

impl Slot {
    fn fresh(&self) -> Option<Arc<HotelFacts>> {
        (self.facts.config_version >= self.wanted).then(|| self.facts.clone())
    }
}

struct Inner {
    store: Arc<dyn Store>,
    hotels: RwLock<HashMap<String, Slot>>,
    reloads: Vec<tokio::sync::Mutex<()>>,
    stripe_of: RandomState,
}

/// Every hotel's facts, each reloaded on its own.
pub struct HotelCache {
    inner: Arc<Inner>,
}

impl HotelCache {
    /// Loads every hotel and starts following the store's configuration changes.
    pub async fn load(store: Arc<dyn Store>) -> Result<Self, StoreError> {
        // Subscribed before the read: a change committed meanwhile is seen by the watcher.
        let changes = store.config_changes();
        let hotels = store
            .all_hotel_facts()
            .await?
            .into_iter()
            .map(|f| {
                let slot = Slot {
                    wanted: f.config_version,
                    facts: Arc::new(f),
                };
                (slot.facts.id.as_str().to_owned(), slot)
            })
            .collect();
        let inner = Arc::new(Inner {
            store,
            hotels: RwLock::new(hotels),
            reloads: (0..STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            stripe_of: RandomState::new(),
        });
        tokio::spawn(watch(Arc::downgrade(&inner), changes));
        Ok(Self { inner })
    }

    /// The hotel's facts as cached, even if a change was announced since (for display only).
    pub fn cached(&self, id: &str) -> Option<Arc<HotelFacts>> {
        self.inner.read().get(id).map(|s| s.facts.clone())
    }

    /// The hotel's facts: cached, or read now if the hotel is not cached or a change to it was
    /// announced. None for an unknown hotel.
    pub async fn get(&self, id: &str) -> Result<Option<Arc<HotelFacts>>, StoreError> {
        let seen = match self.inner.read().get(id) {
            Some(slot) => match slot.fresh() {
                Some(f) => return Ok(Some(f)),
                None => Some(slot.facts.config_version),
            },
            None => None,
        };
        self.refresh(id, seen).await
    }

    /// Reloads a hotel whose facts at version `outdated` were refused as stale (or are not cached:
    /// None); concurrent callers for one hotel share one read.
    pub async fn refresh(
        &self,
        id: &str,
        outdated: Option<u64>,
    ) -> Result<Option<Arc<HotelFacts>>, StoreError> {
        let inner = &self.inner;
        let stripe = inner.stripe_of.hash_one(id) as usize % STRIPES;
        let _one_at_a_time = inner.reloads[stripe].lock().await;
        if let Some(slot) = inner.read().get(id)
            && Some(slot.facts.config_version) != outdated
            && let Some(f) = slot.fresh()
        {
            return Ok(Some(f));
        }
        match inner.store.hotel_facts(id).await? {
            Some(facts) => Ok(Some(inner.install(facts))),
            None => {
                inner.write().remove(id);
                Ok(None)
            }
        }
    }

    /// For a miss (unknown hotel, wrong token): the hotel's facts as the database has them now,
    /// re-read only if its version changed (one indexed read otherwise). None for an unknown hotel.
    pub async fn current(&self, id: &str) -> Result<Option<Arc<HotelFacts>>, StoreError> {
        let cached = self.cached(id);
        let seen = cached.as_ref().map(|f| f.config_version);
        match self.inner.store.hotel_version(id).await? {
            None => {
                self.inner.write().remove(id);
                Ok(None)
            }
            Some(v) if Some(v) == seen => Ok(cached),
            Some(_) => self.refresh(id, seen).await,
        }
    }
}

impl Inner {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Slot>> {
        self.hotels.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Slot>> {
        self.hotels.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps facts just read unless newer ones are cached already; returns the newest.
    fn install(&self, facts: HotelFacts) -> Arc<HotelFacts> {
        let mut hotels = self.write();
        let id = facts.id.as_str().to_owned();
        if let Some(slot) = hotels.get_mut(&id) {
            if slot.facts.config_version <= facts.config_version {
                slot.facts = Arc::new(facts);
            }
            return slot.facts.clone();
        }
        let facts = Arc::new(facts);
        hotels.insert(
            id,
            Slot {
                wanted: facts.config_version,
                facts: facts.clone(),
            },
        );
        facts
    }

    /// Marks a hotel's cached facts outdated if they are older than `version`.
    fn announced(&self, id: &str, version: u64) {
        if let Some(slot) = self.write().get_mut(id) {
            slot.wanted = slot.wanted.max(version);
        }
    }

    /// After changes may have been missed: every hotel's version, read at once (a forgotten hotel
    /// is dropped).
    async fn check_all(&self) -> Result<(), StoreError> {
        let versions: HashMap<String, u64> =
            self.store.hotel_versions().await?.into_iter().collect();
        self.write().retain(|id, slot| match versions.get(id) {
            Some(&v) => {
                slot.wanted = slot.wanted.max(v);
                true
            }
            None => false,
        });
        Ok(())
    }
}

/// Follows the store's configuration changes until the cache is gone.
async fn watch(cache: Weak<Inner>, mut changes: tokio::sync::broadcast::Receiver<ConfigChange>) {
    loop {
        let change = changes.recv().await;
        let Some(inner) = cache.upgrade() else {
            return;
        };
        match change {
            Ok(ConfigChange::Hotel { id, version }) => inner.announced(&id, version),
            Ok(ConfigChange::Unknown) | Err(RecvError::Lagged(_)) => {
                let mut inner = inner;
                while let Err(e) = inner.check_all().await {
                    tracing::warn!(error = %e, "cannot read the hotels' configuration versions");
                    drop(inner);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    let Some(again) = cache.upgrade() else {
                        return;
                    };
                    inner = again;
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}
