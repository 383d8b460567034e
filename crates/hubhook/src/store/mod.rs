//! Storage: the [`Store`] trait that everything above talks to, and its implementations.
//!
//! One webhook is one transaction: the inbound record, the order, its tasks and their history commit
//! together or not at all, and nothing is answered before that commit.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;
use tokio::sync::broadcast;

use crate::{
    domain::outbound::{DeliveryStatus, EventType, SubscriptionKind, Verdict},
    domain::{
        CatalogEntry, HotelFacts, HotelId, Role, Task, TaskEvent, TaskStatus, TransitionError,
    },
    events::TaskChange,
    intake::{OrderState, Outcome, Plan, Raised, TaskDraft},
};

mod outbox;
pub mod postgres;
pub mod sqlite;
mod sqlite_hot;
mod sqlite_hotels;
mod sqlite_outbox;
pub mod stats;

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

/// An order's stored state, as the settlement knows it; a state this version never writes is an error.
fn order_state_from(raw: Option<String>) -> Result<Option<OrderState>, StoreError> {
    raw.map(|s| {
        OrderState::parse(&s)
            .ok_or_else(|| StoreError::Unavailable(format!("unknown order state {s:?} stored")))
    })
    .transpose()
}

/// The events a settled webhook's task change raises on the hotel's subscriptions.
fn raised_events(raised: Raised) -> &'static [EventType] {
    match raised {
        Raised::Created => &[EventType::Created],
        Raised::Moved(to) => EventType::for_move(to),
    }
}

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

/// One webhook to record: the decision the handler made and the request it made it from.
pub struct IngestRequest {
    pub hotel: Arc<HotelFacts>,
    /// The hotel's configuration version the handler decided with (`hotel.config_version`); a
    /// write made with another one is refused as stale.
    pub cache_version: u64,
    pub plan: Plan,
    pub event: Option<String>,
    pub body: bytes::Bytes,
    pub received_at: Timestamp,
    pub started: Instant,
}

#[derive(Debug)]
pub enum Ingested {
    /// The hotel's configuration changed since the handler read it: reload that hotel, decide again.
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

/// A room of a hotel and its floor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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

/// A task with its order, notes and history (`GET /api/v1/tasks/{id}`; its OpenAPI schema is in
/// `http/schemas.rs`, like every API body's whose type lives here).
#[derive(Debug, Clone, Serialize)]
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

/// One received webhook as the inbound log shows it.
#[derive(Debug, Clone, Serialize)]
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

/// An account of the web pages, as `hubhook user add` creates it.
pub struct NewUser {
    pub id: String,
    pub hotel: HotelId,
    pub email: String,
    pub role: Role,
    /// argon2id, PHC string.
    pub password_hash: String,
}

/// An account as the login page checks it.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub hotel: HotelId,
    pub email: String,
    pub role: Role,
    pub password_hash: String,
}

/// Who a live session belongs to.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub user_id: String,
    pub email: String,
    pub hotel: HotelId,
    pub role: Role,
}

/// An API key as the manager pages list it (the key itself is never kept).
#[derive(Debug, Clone)]
pub struct ApiKeyInfo {
    pub id: String,
    pub role: Role,
    pub created_at: String,
}

/// A task as the board shows it: the API's task plus where and for whom.
#[derive(Debug, Clone)]
pub struct BoardTask {
    pub task: Task,
    pub department: Option<String>,
    pub floor: Option<String>,
    pub requested_at: Option<String>,
    pub notes: Option<String>,
    pub updated_at: String,
}

/// One task's timings, for the dashboard.
#[derive(Debug, Clone)]
pub struct TaskTiming {
    pub task_name: String,
    pub status: TaskStatus,
    pub created_at: String,
    pub due_at: Option<String>,
    /// When it moved to done (its first such event).
    pub done_at: Option<String>,
}

pub struct StatusChange {
    pub hotel: HotelId,
    pub task: String,
    pub to: TaskStatus,
    pub actor: String,
    pub note: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The outbox: subscriptions, deliveries and their attempts.

/// Which hotel's rows an operation may touch: the API passes its key's hotel; the CLI, run by the
/// operator on the database itself, may name any row by its id.
#[derive(Debug, Clone, Copy)]
pub enum Scope<'a> {
    /// A hotel's id (as `HotelId::as_str` gives it).
    Hotel(&'a str),
    Any,
}

impl Scope<'_> {
    pub(crate) fn hotel(&self) -> Option<&str> {
        match self {
            Scope::Hotel(h) => Some(h),
            Scope::Any => None,
        }
    }
}

/// An extra header a subscription sends with every delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Header {
    pub name: String,
    pub value: String,
}

pub struct NewSubscription {
    pub hotel: HotelId,
    pub kind: SubscriptionKind,
    pub url: String,
    pub events: Vec<EventType>,
    pub headers: Vec<Header>,
    /// `whsec_…` for a signed webhook; kept in clear, since signing needs it (see docs/outbound.md).
    pub secret: Option<String>,
    /// The Bearer token of a Duve Connect subscription.
    pub bearer: Option<String>,
    /// The body template of a Duve Connect subscription.
    pub template: Option<String>,
}

/// A subscription as the API and the CLI show it: never its secret or Bearer token.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Subscription {
    pub id: String,
    pub hotel_id: String,
    pub kind: SubscriptionKind,
    pub url: String,
    pub events: Vec<EventType>,
    pub headers: Vec<Header>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    /// Until when the previous secret still signs, after a rotation.
    pub previous_secret_until: Option<String>,
    pub created_at: String,
}

/// A delivery claimed for one attempt, with what sending it needs.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub hotel_id: String,
    pub subscription_id: String,
    pub kind: SubscriptionKind,
    pub url: String,
    pub headers: Vec<Header>,
    /// Valid signing secrets, newest first.
    pub secrets: Vec<String>,
    pub bearer: Option<String>,
    pub payload: String,
    /// Attempts made before this one.
    pub attempts: u32,
}

/// One attempt's outcome, to record.
#[derive(Debug, Clone)]
pub struct AttemptRecord {
    pub delivery: String,
    pub at: Timestamp,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency: Duration,
    /// The first KiB of the answer's body.
    pub response: String,
    pub verdict: Verdict,
}

/// One recorded attempt of a delivery, as its detail shows it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub at: String,
    pub status: Option<u16>,
    pub error: Option<String>,
    pub latency_ms: f64,
    pub response: String,
}

/// A delivery as the API and the CLI show it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Delivery {
    /// Also the `webhook-id` header: stable across the delivery's attempts.
    pub id: String,
    pub hotel_id: String,
    pub subscription_id: String,
    pub task_id: Option<String>,
    pub event: String,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<String>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Only in a single delivery's detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt_log: Option<Vec<Attempt>>,
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

/// Tasks and the inbound log: the webhook's transaction, manual tasks, moves, the board's reads.
#[async_trait]
pub trait TaskStore: Send + Sync {
    /// The webhook path: decide (with rows read under the write lock) and write, in one transaction.
    async fn ingest(&self, req: IngestRequest) -> Result<Ingested, StoreError>;
    async fn record_refusal(&self, refused: Refused) -> Result<(), StoreError>;

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
    /// A manual task; refused as stale (`Ok(None)`) when the hotel's configuration version is no
    /// longer `cache_version`.
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

    /// The board: every task not final, and the final ones changed since `finished_since`.
    async fn board_tasks(
        &self,
        hotel: &HotelId,
        finished_since: Timestamp,
    ) -> Result<Vec<BoardTask>, StoreError>;
    /// Timings of the tasks created since `since`, for the dashboard.
    async fn task_timings(
        &self,
        hotel: &HotelId,
        since: Timestamp,
    ) -> Result<Vec<TaskTiming>, StoreError>;
    /// The inbound log entry (the Duve delivery) that created this task, if it came from Duve.
    async fn task_origin(
        &self,
        hotel: &HotelId,
        task_id: &str,
    ) -> Result<Option<InboundEntry>, StoreError>;
}

/// Accounts: API keys, users of the web pages and their sessions.
#[async_trait]
pub trait AccountStore: Send + Sync {
    async fn create_api_key(&self, key: ApiKey, hash: [u8; 32]) -> Result<(), StoreError>;
    async fn find_api_key(&self, hash: [u8; 32]) -> Result<Option<ApiKey>, StoreError>;

    async fn create_user(&self, user: NewUser) -> Result<(), StoreError>;
    /// The account with this email (case-insensitive), with its password hash.
    async fn find_user(&self, email: &str) -> Result<Option<User>, StoreError>;
    /// Keeps a new session (by its token's SHA-256) and forgets expired ones.
    async fn create_session(
        &self,
        token_hash: [u8; 32],
        user_id: &str,
        expires_at: Timestamp,
    ) -> Result<(), StoreError>;
    /// The session's account, unless the session is unknown or expired at `now`.
    async fn find_session(
        &self,
        token_hash: [u8; 32],
        now: Timestamp,
    ) -> Result<Option<SessionUser>, StoreError>;
    async fn delete_session(&self, token_hash: [u8; 32]) -> Result<(), StoreError>;

    async fn list_api_keys(&self, hotel: &HotelId) -> Result<Vec<ApiKeyInfo>, StoreError>;
    async fn delete_api_key(&self, hotel: &HotelId, id: &str) -> Result<(), StoreError>;
}

/// The outbox: subscriptions, deliveries and their attempts.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Woken after every commit that queued deliveries (and by a poll, for other processes' commits).
    fn outbox_signal(&self) -> Arc<tokio::sync::Notify>;
    async fn create_subscription(&self, sub: NewSubscription) -> Result<Subscription, StoreError>;
    async fn list_subscriptions(&self, scope: Scope<'_>) -> Result<Vec<Subscription>, StoreError>;
    /// Removes a subscription; its pending deliveries end as failed.
    async fn remove_subscription(&self, scope: Scope<'_>, id: &str) -> Result<(), StoreError>;
    /// A new secret; the previous one keeps signing until `keep_old_until`.
    async fn rotate_secret(
        &self,
        scope: Scope<'_>,
        id: &str,
        secret: String,
        keep_old_until: Timestamp,
    ) -> Result<Subscription, StoreError>;
    /// Claims up to `limit` due deliveries for `lease` (the oldest pending delivery of a task and
    /// subscription only: a task's events go out in order).
    async fn claim_deliveries(
        &self,
        limit: u32,
        lease: Duration,
    ) -> Result<Vec<Claimed>, StoreError>;
    async fn record_attempt(&self, attempt: AttemptRecord) -> Result<(), StoreError>;
    /// Gives claimed deliveries back unattempted (a dispatcher stopping).
    async fn release_claims(&self, ids: Vec<String>) -> Result<(), StoreError>;
    async fn list_deliveries(
        &self,
        scope: Scope<'_>,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StoreError>;
    async fn delivery(&self, scope: Scope<'_>, id: &str) -> Result<Option<Delivery>, StoreError>;
    /// Sends a delivery again, from its first attempt, as soon as the dispatcher can.
    async fn replay_delivery(&self, scope: Scope<'_>, id: &str) -> Result<Delivery, StoreError>;
    /// Marks tasks past their due time as overdue, queueing `task.overdue`; returns how many.
    async fn raise_overdue(&self, limit: u32) -> Result<u32, StoreError>;
    /// The earliest moment the dispatcher has work: a delivery's next attempt or a task's due time.
    async fn next_outbox_work(&self) -> Result<Option<Timestamp>, StoreError>;
}

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

/// Everything above the store talks to: every resource's operations, plus the few that concern
/// the database as a whole.
#[async_trait]
pub trait Store:
    HotelStore + TaskStore + AccountStore + OutboxStore + RetentionStore + Send + Sync + 'static
{
    /// Whether the database answers (for `/readyz`).
    async fn ping(&self) -> Result<(), StoreError>;
    /// At shutdown, once the requests are done: commits whatever is still queued and leaves the
    /// database tidy for the next start. Every answered write has committed already; this is not
    /// what makes them durable.
    async fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Task changes, published only after they committed (see [`crate::events`]).
    fn subscribe(&self) -> broadcast::Receiver<TaskChange>;
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
