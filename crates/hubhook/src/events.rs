//! The live event bus: one [`TaskChange`] per task created, moved, escalated, merged into, assigned
//! or archived,
//! published by the store after the change has committed, fanned out to every subscriber (the
//! board's server-sent events).
//!
//! A subscriber that falls behind by more than [`CAPACITY`] changes loses the oldest ones and is told
//! so (`RecvError::Lagged`); the board then reloads its cards instead of trusting its partial view.

use serde::Serialize;
use tokio::sync::broadcast;

use crate::domain::{HotelId, TaskStatus};

/// Changes kept for a slow subscriber before it is told it lagged.
pub const CAPACITY: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    /// A new task (from a Duve order or made by staff).
    Created,
    /// A status move (by staff, the API, or a Duve cancellation).
    StatusChanged,
    /// An escalation (not accepted in time, or not done by its due time).
    Escalated,
    /// Its quantity changed: a repeated order merged into it, or a merged order was cancelled.
    Merged,
    /// Its assignee changed.
    Assigned,
    /// Archived: left open past the hotel's archive-after, it leaves the board.
    Archived,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskChange {
    #[serde(skip)]
    pub hotel: HotelId,
    pub task_id: String,
    pub status: TaskStatus,
    pub kind: ChangeKind,
}

/// The sending side, held by a store.
#[derive(Debug, Clone)]
pub struct EventBus {
    tx: broadcast::Sender<TaskChange>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self::new()
    }
}

impl EventBus {
    pub fn new() -> Self {
        let (tx, _) = broadcast::channel(CAPACITY);
        Self { tx }
    }

    /// Publishes committed changes; nobody listening is not an error.
    pub fn publish(&self, changes: impl IntoIterator<Item = TaskChange>) {
        if self.tx.receiver_count() == 0 {
            return;
        }
        for c in changes {
            let _ = self.tx.send(c);
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<TaskChange> {
        self.tx.subscribe()
    }
}
