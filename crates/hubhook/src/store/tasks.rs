//! Tasks, orders and the inbound log: the types and the [`TaskStore`] trait.

use std::{sync::Arc, time::Instant};

use async_trait::async_trait;
use jiff::Timestamp;
use serde::Serialize;

use super::StoreError;
use crate::{
    domain::outbound::EventType,
    domain::{
        HotelFacts, HotelId, Task, TaskEvent, TaskStatus,
        escalation::{self, Clock, Escalations, Priority, Reason},
    },
    events::{ChangeKind, TaskChange},
    intake::{OrderState, Outcome, Plan, Raised, TaskDraft},
};

/// An order's stored state, as the settlement knows it; a state this version never writes is an error.
pub(super) fn order_state_from(raw: Option<String>) -> Result<Option<OrderState>, StoreError> {
    raw.map(|s| {
        OrderState::parse(&s)
            .ok_or_else(|| StoreError::Unavailable(format!("unknown order state {s:?} stored")))
    })
    .transpose()
}

/// The events a settled webhook's task change raises on the hotel's subscriptions.
pub(super) fn raised_events(raised: &Raised) -> &'static [EventType] {
    match raised {
        Raised::Created => &[EventType::Created],
        Raised::Moved(to) => EventType::for_move(*to),
        Raised::Merged(_) => &[EventType::Merged],
    }
}

/// What the body of a settled webhook's event says besides the task.
pub(super) fn raised_detail(raised: &Raised) -> Option<super::outbox::Detail<'_>> {
    match raised {
        Raised::Merged(note) => Some(super::outbox::Detail::Merge(note)),
        Raised::Created | Raised::Moved(_) => None,
    }
}

/// The changes a settled webhook made, as the live board hears them: one per task change it
/// raised (`deliveries` of its settlement).
pub(super) fn settled_changes<'t>(
    hotel: &HotelId,
    raised: impl Iterator<Item = (&'t Task, &'t Raised)>,
) -> Vec<TaskChange> {
    raised
        .map(|(t, r)| TaskChange {
            hotel: hotel.clone(),
            task_id: t.id.clone(),
            status: t.status,
            kind: match r {
                Raised::Created => ChangeKind::Created,
                Raised::Moved(_) => ChangeKind::StatusChanged,
                Raised::Merged(_) => ChangeKind::Merged,
            },
        })
        .collect()
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
    /// The inbound entry this request decides again (a replay, CONTRACT.md section 7); kept in the
    /// log's entry of the request.
    pub replay_of: Option<i64>,
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

#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub status: Option<TaskStatus>,
    pub room: Option<String>,
    pub since: Option<String>,
    /// Only this department's tasks.
    pub department: Option<String>,
    /// Only tasks not finished whose due time is before this instant (formatted).
    pub overdue_at: Option<String>,
    /// Only one user's tasks, or only those nobody has.
    pub assignee: Option<AssigneeFilter>,
    pub limit: u32,
    pub cursor: Option<i64>,
}

/// The task list's assignee filter (`assignee=<email>|none`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AssigneeFilter {
    /// Tasks nobody has.
    Nobody,
    /// Tasks of the hotel's user with this (normalised) email; none when no user has it.
    Email(String),
}

impl AssigneeFilter {
    /// The email to bind (None for [`AssigneeFilter::Nobody`]).
    pub fn email(&self) -> Option<&str> {
        match self {
            AssigneeFilter::Nobody => None,
            AssigneeFilter::Email(e) => Some(e),
        }
    }
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
    pub notes: Option<String>,
    pub language: Option<String>,
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
    /// The entry this one replayed (`hubhook inbound replay`, the API, the log's button); null for
    /// a delivery from Duve.
    pub replay_of: Option<i64>,
    pub body: String,
}

/// An inbound log entry as the log's page lists it: `entry.body` holds only the body's first
/// characters (as many as asked for), `body_bytes` the whole body's size.
#[derive(Debug, Clone)]
pub struct InboundPreview {
    pub entry: InboundEntry,
    pub body_bytes: u64,
}

/// A task as the board shows it: the API's task plus where and for whom, and where it sorts.
#[derive(Debug, Clone)]
pub struct BoardTask {
    pub task: Task,
    pub floor: Option<String>,
    pub notes: Option<String>,
    pub updated_at: String,
    /// Its place in a status column: the due time, or the creation time without one.
    pub board_at: Option<String>,
    /// Until when it waits under Later, if it is a scheduled request.
    pub later_until: Option<String>,
    /// Its row (`tasks.seq`), which breaks ties in a column's order.
    pub seq: i64,
}

/// A task whose escalation deadline has come, as the checker reads it (locked, on PostgreSQL).
#[derive(Debug, Clone)]
pub struct Escalating {
    /// Its row (`tasks.seq`).
    pub seq: i64,
    /// Its hotel's id.
    pub hotel: String,
    /// The task as it reads now.
    pub task: Task,
    /// What escalation needs of it.
    pub clock: Clock,
    /// The hotel's escalate-after as it is now.
    pub escalate_after_secs: Option<u32>,
}

/// What the checker writes for one task: the task as it now reads, the reasons that fired (each
/// raises `task.escalated` and a history line) and its next deadline.
#[derive(Debug, Clone)]
pub struct EscalationWrite {
    /// Its row (`tasks.seq`).
    pub seq: i64,
    /// Its hotel's id.
    pub hotel: String,
    /// The task as it reads after the check (priority and `escalated` set when a reason fired).
    pub task: Task,
    /// The reasons that fired now, in the order they fire.
    pub fired: Vec<Reason>,
    /// The stored `tasks.escalations` after the check.
    pub escalations: i64,
    /// The next deadline (`tasks.escalate_at`), formatted; None when nothing is pending.
    pub next: Option<String>,
    /// The history note of each reason of `fired`.
    pub notes: Vec<String>,
}

impl Escalating {
    /// What is due at `now` (`domain::escalation`) and what the row becomes.
    pub fn settle(self, now: Timestamp) -> EscalationWrite {
        let (fired, after) = self.clock.due(self.escalate_after_secs, now);
        let mut task = self.task;
        if !fired.is_empty() {
            task.priority = Priority::High;
            task.escalated = after.fired.shown();
        }
        EscalationWrite {
            seq: self.seq,
            hotel: self.hotel,
            notes: fired
                .iter()
                .map(|r| escalation::history_note(*r, self.escalate_after_secs))
                .collect(),
            task,
            fired,
            escalations: after.fired.stored(),
            next: after
                .next_deadline(self.escalate_after_secs)
                .map(crate::domain::time::format),
        }
    }
}

/// A task's escalation deadline after a status move (`None` once nothing is pending). A move never
/// goes back to `open`, so the hotel's escalate-after no longer matters.
pub(super) fn escalate_at_after_move(task: &Task, to: TaskStatus) -> Option<String> {
    // Out of `open`, only the overdue reason can be pending; whether it fired is what `escalated`
    // shows, since overdue outranks unaccepted.
    let fired = match task.escalated {
        Some(Reason::Overdue) => Escalations::default().with(Reason::Overdue),
        _ => Escalations::default(),
    };
    let parse = |raw: &str| crate::domain::time::parse_instant(raw);
    Clock {
        status: to,
        created_at: parse(&task.created_at)?,
        due_at: task.due_at.as_deref().and_then(parse),
        fired,
    }
    .next_deadline(None)
    .map(crate::domain::time::format)
}

pub struct StatusChange {
    pub hotel: HotelId,
    pub task: String,
    pub to: TaskStatus,
    pub actor: String,
    pub note: Option<String>,
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
    /// The hotel's newest `limit` inbound entries, newest first, with their whole bodies; the list
    /// stops early once the bodies it holds reach `max_body_bytes` (it always holds the newest).
    async fn list_inbound(
        &self,
        hotel: &HotelId,
        limit: u32,
        max_body_bytes: u64,
    ) -> Result<Vec<InboundEntry>, StoreError>;
    /// The hotel's newest `limit` inbound entries, newest first, each body cut to its first
    /// `preview_chars` characters (its whole size beside it).
    async fn inbound_previews(
        &self,
        hotel: &HotelId,
        limit: u32,
        preview_chars: u32,
    ) -> Result<Vec<InboundPreview>, StoreError>;
    /// One inbound entry's body, exactly as stored.
    async fn inbound_body(&self, hotel: &HotelId, id: i64) -> Result<Option<String>, StoreError>;

    /// Escalates the tasks whose escalation deadline has come (at most `limit`): each reason once,
    /// with `task.escalated`, a history line and the live board told; returns how many tasks.
    async fn raise_escalations(&self, limit: u32) -> Result<u32, StoreError>;
    /// The inbound log entry (the Duve delivery) that created this task, if it came from Duve.
    async fn task_origin(
        &self,
        hotel: &HotelId,
        task_id: &str,
    ) -> Result<Option<InboundEntry>, StoreError>;
}
