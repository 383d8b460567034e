//! Hotels and their configuration: the types and the [`HotelStore`] trait.

use async_trait::async_trait;
use serde::Serialize;
use tokio::sync::broadcast;

use super::StoreError;
use crate::domain::{CatalogEntry, HotelFacts, HotelId};

/// One hotel's configuration changed (rooms, catalog, settings, tokens) and committed: its cached
/// facts older than `version` are outdated. Published by the store that made the change and, on
/// PostgreSQL, by every other instance's store when the change's notification reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigChange {
    /// This hotel is now at this configuration version.
    Hotel { id: String, version: u64 },
    /// Changes may have been missed (a listener reconnected, a subscriber lagged): check them all.
    Unknown,
}

/// Changes kept for a slow subscriber before it is told it lagged (and then checks every hotel).
const CONFIG_CHANGES: usize = 1024;

/// The sending side of the configuration changes, held by a store.
#[derive(Debug, Clone)]
pub struct ConfigBus {
    tx: broadcast::Sender<ConfigChange>,
}

impl Default for ConfigBus {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CONFIG_CHANGES).0,
        }
    }
}

impl ConfigBus {
    /// Publishes a committed change; nobody listening is not an error.
    pub fn publish(&self, change: ConfigChange) {
        let _ = self.tx.send(change);
    }

    /// A new subscriber, which sees the changes published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ConfigChange> {
        self.tx.subscribe()
    }
}

/// A hotel as `hubhook hotel list` and the operator pages list it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HotelSummary {
    pub hotel_id: String,
    pub name: String,
    pub timezone: String,
    pub sync_paid_orders: bool,
    pub rooms: u64,
    pub created_at: String,
    /// How long a task may stay open before it escalates (`10m`; `0`: never).
    pub escalate_after: String,
    /// Within how long a repeated request grows the open task instead of making another (`10m`; `0`: never).
    pub merge_window: String,
    /// Local times at which a shift ends and its report goes out (`["07:00", "15:00"]`).
    pub shift_ends: Vec<String>,
    /// After how long an unfinished task leaves the board (`3d`; `0`: never).
    pub archive_after: String,
}

pub struct NewHotel {
    pub id: HotelId,
    pub name: String,
    pub timezone: String,
    pub access_hash: [u8; 32],
    pub password_hash: [u8; 32],
}

#[derive(Debug, Clone, Default)]
pub struct HotelSettings {
    pub name: Option<String>,
    pub timezone: Option<String>,
    pub sync_paid_orders: Option<bool>,
    /// Seconds a task may stay open before it escalates; `Some(0)` turns it off.
    pub escalate_after_secs: Option<u32>,
    /// Seconds of the merge window; `Some(0)` turns merging off.
    pub merge_window_secs: Option<u32>,
    /// Shift ends as `07:00,15:00` (domain::time::format_shift_ends); `Some("")` for none.
    pub shift_ends: Option<String>,
    /// Seconds after which an unfinished task is archived; `Some(0)` never.
    pub archive_after_secs: Option<u32>,
}

/// A room of a hotel and its floor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Room {
    pub room: String,
    pub floor: Option<String>,
}

/// Hotels and their configuration: the facts the webhook path caches, rooms, catalog, tokens.
#[async_trait]
pub trait HotelStore: Send + Sync {
    /// Every hotel's facts, for the cache's start (one read per table, not one per hotel).
    async fn all_hotel_facts(&self) -> Result<Vec<HotelFacts>, StoreError>;
    /// One hotel's facts (its row, rooms and catalog, read by its id), or None if it is unknown.
    async fn hotel_facts(&self, id: &str) -> Result<Option<HotelFacts>, StoreError>;
    /// One hotel's configuration version, or None if it is unknown (a cheap check for a miss).
    async fn hotel_version(&self, id: &str) -> Result<Option<u64>, StoreError>;
    /// Every hotel's configuration version (after [`ConfigChange::Unknown`]).
    async fn hotel_versions(&self) -> Result<Vec<(String, u64)>, StoreError>;
    /// Configuration changes committed from now on (see [`ConfigChange`]).
    fn config_changes(&self) -> broadcast::Receiver<ConfigChange>;

    async fn create_hotel(&self, hotel: NewHotel) -> Result<(), StoreError>;
    async fn list_hotels(&self) -> Result<Vec<HotelSummary>, StoreError>;
    async fn set_tokens(
        &self,
        hotel: &HotelId,
        access_hash: [u8; 32],
        password_hash: [u8; 32],
    ) -> Result<(), StoreError>;
    async fn update_hotel(&self, hotel: &HotelId, s: HotelSettings) -> Result<(), StoreError>;

    /// Adds rooms (a known room keeps its number, its floor is updated); returns how many were new.
    async fn add_rooms(&self, hotel: &HotelId, rooms: Vec<Room>) -> Result<u64, StoreError>;
    async fn list_rooms(&self, hotel: &HotelId) -> Result<Vec<Room>, StoreError>;
    async fn list_catalog(&self, hotel: &HotelId) -> Result<Vec<CatalogEntry>, StoreError>;
    async fn set_catalog(&self, hotel: &HotelId, entry: CatalogEntry) -> Result<(), StoreError>;
}

#[cfg(test)]
mod tests {
    use crate::domain::catalog::DEFAULT_CATALOG;

    /// The migration that gives hotels made before them the default departments and service
    /// levels lists them again, in SQL: the same ones, on both backends.
    #[test]
    fn the_migrations_list_the_default_catalog() {
        for sql in [
            include_str!("sqlite/schema_sqlite_10_escalation.sql"),
            include_str!("schema_postgres_10_escalation.sql"),
        ] {
            for d in DEFAULT_CATALOG {
                let row = format!(
                    "('{}', '{}', '{}', {})",
                    d.external_id, d.name, d.department, d.sla_minutes
                );
                assert!(sql.contains(&row), "{row} missing from the migration");
            }
            let rows = sql.lines().filter(|l| l.starts_with("    ('")).count();
            assert_eq!(rows, DEFAULT_CATALOG.len());
        }
    }
}
