//! Storage: the [`Store`] trait that everything above talks to, and its implementations.
//!
//! One webhook is one transaction: the inbound record, the order, its tasks and their history commit
//! together or not at all, and nothing is answered before that commit.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::{
    domain::{TransitionError, assignment::AssignError},
    events::TaskChange,
};

mod accounts;
mod board;
mod board_sql;
mod dashboard;
mod hotels;
mod outbox;
pub mod postgres;
mod reports;
mod retention;
mod review;
mod rows;
pub mod sqlite;
pub mod stats;
mod tasks;

pub use accounts::{
    AccountStore, ApiKey, ApiKeyInfo, NewUser, SessionUser, User, UserChange, UserInfo,
};
pub use board::{
    AssignChange, Board, BoardQuery, BoardScope, BoardStore, ColumnPage, OpenCounts, RoomFilter,
};
pub use dashboard::{DashboardStore, FinishedTask};
pub use hotels::{
    ConfigBus, ConfigChange, HotelSettings, HotelStore, HotelSummary, NewHotel, Room,
};
pub use outbox::{
    Attempt, AttemptRecord, Claimed, Delivery, Header, NewSubscription, OutboxStore, Scope,
    Subscription,
};
pub use reports::ReportStore;
pub use retention::RetentionStore;
pub use review::ReviewStore;
pub use stats::{Backlog, StatsStore};
pub use tasks::{
    AssigneeFilter, BoardTask, Escalating, EscalationWrite, InboundEntry, InboundPreview,
    IngestRequest, Ingested, Refused, StatusChange, TaskDetail, TaskFilter, TaskStore,
};
use tasks::{
    escalate_at_after_move, order_state_from, raised_detail, raised_events, settled_changes,
};

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database could not be reached or could not make the change durable.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    #[error("not found")]
    NotFound,
    #[error("already exists: {0}")]
    Conflict(String),
    /// A per-hotel bound was reached (domain/outbound/fair.rs): 409 `LIMIT_REACHED`.
    #[error("limit reached: {0}")]
    Limit(String),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// An assignment the rules refuse (`domain::assignment`).
    #[error(transparent)]
    Assign(#[from] AssignError),
    #[error("{0}")]
    Invalid(String),
}

/// Everything above the store talks to: every resource's operations, plus the few that concern
/// the database as a whole.
#[async_trait]
pub trait Store:
    HotelStore
    + TaskStore
    + BoardStore
    + DashboardStore
    + AccountStore
    + OutboxStore
    + RetentionStore
    + ReviewStore
    + ReportStore
    + StatsStore
    + Send
    + Sync
    + 'static
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

/// A database URL fit for a log line or an error message: every password in it is replaced by
/// `***`, in the user information (`user:password@`, up to the last `@`, so a password with an
/// unescaped `/` or `@` is covered whole) and in `password=` parameters (of the query, or of a
/// `key=value` connection string). The one place a database URL is made printable.
pub fn display_url(url: &str) -> String {
    let (head, query) = match url.split_once('?') {
        Some((h, q)) => (h, Some(q)),
        None => (url, None),
    };
    let mut out = match head.split_once("://") {
        Some((scheme, rest)) => match rest.rsplit_once('@') {
            Some((userinfo, host)) => match userinfo.split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
                None => head.to_owned(),
            },
            None => head.to_owned(),
        },
        // Not a URL: perhaps `host=... password=...`.
        None => mask_password_pairs(head, ' '),
    };
    if let Some(q) = query {
        out.push('?');
        out.push_str(&mask_password_pairs(q, '&'));
    }
    out
}

/// `password=…` (any case) among `sep`-separated `key=value` pairs, with its value masked.
fn mask_password_pairs(pairs: &str, sep: char) -> String {
    let mut masked = false;
    let out: Vec<String> = pairs
        .split(sep)
        .map(|pair| {
            let key = pair.split('=').next().unwrap_or_default().trim();
            // A quoted value with spaces spans several pieces: mask them all.
            if key.eq_ignore_ascii_case("password") && pair.contains('=') {
                masked = true;
                "password=***".to_owned()
            } else if masked && !pair.contains('=') {
                String::new()
            } else {
                masked = false;
                pair.to_owned()
            }
        })
        .filter(|p| !p.is_empty())
        .collect();
    out.join(&sep.to_string())
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
        "unsupported database URL {}: expected sqlite://PATH or postgres://...",
        display_url(url)
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
        for (url, shown) in [
            (
                "postgres://u@db/h?sslmode=require&password=S3cretPw&pool_size=2",
                "postgres://u@db/h?sslmode=require&password=***&pool_size=2",
            ),
            (
                "postgres://u:S3cret/Pw@db/h?PASSWORD=S3cretPw",
                "postgres://u:***@db/h?password=***",
            ),
            ("mysql://root:S3cretPw@db/h", "mysql://root:***@db/h"),
            (
                "host=db user=u password='S3cret Pw' dbname=h",
                "host=db user=u password=*** dbname=h",
            ),
            ("postgres://:S3cretPw@db/h", "postgres://:***@db/h"),
        ] {
            assert_eq!(super::display_url(url), shown, "{url}");
            assert!(!super::display_url(url).contains("S3cret"), "{url}");
        }
    }
}
