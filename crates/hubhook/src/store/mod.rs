//! Storage: the [`Store`] trait that everything above talks to, and its implementations.
//!
//! One webhook is one transaction: the inbound record, the order, its tasks and their history commit
//! together or not at all, and nothing is answered before that commit.

use std::{collections::HashMap, sync::Arc, time::Instant};

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use utoipa::ToSchema;

use crate::{
    domain::{
        CatalogEntry, HotelFacts, HotelId, Role, Task, TaskEvent, TaskStatus, TransitionError,
    },
    intake::{Outcome, Plan, TaskDraft},
};

pub mod postgres;
pub mod sqlite;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or could not make the change durable.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("not found")]
    NotFound,
    #[error("already exists: {0}")]
    Conflict(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    #[error("{0}")]
    Invalid(String),
}

/// Everything the hot path needs, loaded at once and swapped whole when the configuration changes.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// The database's configuration version when this snapshot was read.
    pub version: u64,
    pub hotels: HashMap<String, Arc<HotelFacts>>,
}

pub struct IngestRequest {
    pub hotel: Arc<HotelFacts>,
    /// The snapshot version the handler decided with; a write made with an older one is refused as stale.
    pub cache_version: u64,
    pub plan: Plan,
    pub event: Option<String>,
    pub body: axum::body::Bytes,
    pub received_at: Timestamp,
    pub started: Instant,
}

#[derive(Debug)]
pub enum Ingested {
    /// The configuration changed since the handler's snapshot: reload and decide again.
    Stale,
    Done(Outcome),
}

/// A refused request recorded without a decision of intake (e.g. a body over the size limit).
pub struct Refused {
    pub hotel: HotelId,
    pub code: &'static str,
    pub details: Vec<String>,
    pub event: Option<String>,
    pub received_at: Timestamp,
    pub started: Instant,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HotelSummary {
    pub hotel_id: String,
    pub name: String,
    pub timezone: String,
    pub sync_paid_orders: bool,
    pub rooms: u64,
    pub created_at: String,
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
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Room {
    pub room: String,
    pub floor: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ApiKey {
    pub id: String,
    pub hotel_id: HotelId,
    pub role: Role,
}

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub room: Option<String>,
    pub since: Option<String>,
    pub limit: u32,
    pub cursor: Option<i64>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskDetail {
    #[serde(flatten)]
    pub task: Task,
    pub order_id: Option<String>,
    pub reservation_id: Option<String>,
    pub department: Option<String>,
    pub notes: Option<String>,
    pub language: Option<String>,
    pub requested_at: Option<String>,
    pub updated_at: String,
    pub events: Vec<TaskEvent>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboundEntry {
    pub id: i64,
    pub received_at: String,
    pub event: Option<String>,
    pub code: String,
    pub details: Vec<String>,
    pub task_ids: Vec<String>,
    pub duration_ms: f64,
    pub body: String,
}

pub struct StatusChange {
    pub hotel: HotelId,
    pub task: String,
    pub to: TaskStatus,
    pub actor: String,
    pub note: Option<String>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
    async fn config_version(&self) -> Result<u64, StoreError>;
    async fn snapshot(&self) -> Result<Snapshot, StoreError>;

    /// The webhook path: decide (with rows read under the write lock) and write, in one transaction.
    async fn ingest(&self, req: IngestRequest) -> Result<Ingested, StoreError>;
    async fn record_refusal(&self, refused: Refused) -> Result<(), StoreError>;

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

    async fn create_api_key(&self, key: ApiKey, hash: [u8; 32]) -> Result<(), StoreError>;
    async fn find_api_key(&self, hash: [u8; 32]) -> Result<Option<ApiKey>, StoreError>;

    async fn list_tasks(
        &self,
        hotel: &HotelId,
        filter: TaskFilter,
    ) -> Result<(Vec<Task>, Option<i64>), StoreError>;
    async fn task_detail(
        &self,
        hotel: &HotelId,
        id: &str,
    ) -> Result<Option<TaskDetail>, StoreError>;
    /// A manual task; refused as stale (`Ok(None)`) when the configuration changed since `cache_version`.
    async fn create_task(
        &self,
        hotel: HotelId,
        cache_version: u64,
        draft: TaskDraft,
        actor: String,
    ) -> Result<Option<Task>, StoreError>;
    async fn move_task(&self, change: StatusChange) -> Result<Task, StoreError>;
    async fn list_inbound(
        &self,
        hotel: &HotelId,
        limit: u32,
    ) -> Result<Vec<InboundEntry>, StoreError>;
}

/// A database URL fit for a log line or an error message: a password in it is replaced by `***`.
pub fn display_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}

/// Opens the store a database URL names: `sqlite://path` (created on first use) or
/// `postgres://…` (the schema its `search_path` names is created on first use; see docs/deploy.md).
pub async fn open(url: &str) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = sqlite::path_from_url(url) {
        return Ok(Arc::new(sqlite::SqliteStore::open(&path)?));
    }
    if postgres::is_postgres_url(url) {
        return Ok(Arc::new(postgres::PostgresStore::open(url).await?));
    }
    Err(StoreError::Invalid(format!(
        "unsupported database URL {url:?}: expected sqlite://PATH or postgres://..."
    )))
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_are_kept_out_of_displayed_urls() {
        assert_eq!(
            super::display_url("postgres://hub:s3cr@t@db:5432/h?x=1"),
            "postgres://hub:***@db:5432/h?x=1"
        );
        assert_eq!(
            super::display_url("postgres://hub@db/h"),
            "postgres://hub@db/h"
        );
        assert_eq!(super::display_url("sqlite://a/b.db"), "sqlite://a/b.db");
    }
}
