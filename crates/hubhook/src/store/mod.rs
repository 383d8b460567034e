//! Storage: the [`Store`] trait that everything above talks to, and its implementations.
//!
//! One webhook is one transaction: the inbound record, the order, its tasks and their history commit
//! together or not at all, and nothing is answered before that commit.

use std::sync::Arc;

use async_trait::async_trait;
use tokio::sync::broadcast;

use crate::{domain::TransitionError, events::TaskChange};

mod accounts;
mod hotels;
mod outbox;
pub mod postgres;
mod retention;
mod rows;
pub mod sqlite;
pub mod stats;
mod tasks;

pub use accounts::{
    AccountStore, ApiKey, ApiKeyInfo, NewUser, SessionUser, User, UserChange, UserInfo,
};
pub use hotels::{
    ConfigBus, ConfigChange, HotelSettings, HotelStore, HotelSummary, NewHotel, Room,
};
pub use outbox::{
    Attempt, AttemptRecord, Claimed, Delivery, Header, NewSubscription, OutboxStore, Scope,
    Subscription,
};
pub use retention::RetentionStore;
pub use tasks::{
    BoardTask, Escalating, EscalationWrite, InboundEntry, IngestRequest, Ingested, Refused,
    StatusChange, TaskDetail, TaskFilter, TaskStore, TaskTiming,
};
use tasks::{escalate_at_after_move, order_state_from, raised_events};

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
