//! The dashboard's reads (`/dashboard`): the [`DashboardStore`] trait and the decoding both
//! backends share. Each read walks one index of the hotel's tasks in its order, from a time on: the
//! page costs what the hotel made today and finished this week, never its backlog.

use async_trait::async_trait;
use jiff::Timestamp;

use super::{StoreError, rows::Columns};
use crate::domain::{HotelId, time};

/// A task finished (moved to done), for the dashboard's time to done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinishedTask {
    /// Its task type's name.
    pub task_name: String,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it moved to done (`tasks.done_at`).
    pub done_at: Timestamp,
}

/// A creation time from `created_at`; None when it does not parse.
pub(super) fn created_from(r: &impl Columns) -> Result<Option<Timestamp>, StoreError> {
    Ok(time::parse_instant(&r.text(0)?))
}

/// A finished task from `task_name, created_at, done_at`; None when a time does not parse.
pub(super) fn finished_from(r: &impl Columns) -> Result<Option<FinishedTask>, StoreError> {
    let at = |i: usize| -> Result<Option<Timestamp>, StoreError> {
        Ok(r.opt_text(i)?.as_deref().and_then(time::parse_instant))
    };
    let (Some(created_at), Some(done_at)) = (at(1)?, at(2)?) else {
        return Ok(None);
    };
    Ok(Some(FinishedTask {
        task_name: r.text(0)?,
        created_at,
        done_at,
    }))
}

/// The dashboard's reads, each through an index of one hotel's tasks in its order.
#[async_trait]
pub trait DashboardStore: Send + Sync {
    /// When each task of `hotel` made since `since` was made, the earliest first (index
    /// `tasks_by_created`): the requests by hour.
    async fn created_since(
        &self,
        hotel: &HotelId,
        since: Timestamp,
    ) -> Result<Vec<Timestamp>, StoreError>;
    /// The tasks of `hotel` finished (moved to done) since `since`, whenever they were made, in the
    /// order they finished (index `tasks_done`): the time to done.
    async fn finished_since(
        &self,
        hotel: &HotelId,
        since: Timestamp,
    ) -> Result<Vec<FinishedTask>, StoreError>;
}
