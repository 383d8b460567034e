//! The outbound rules, pure: the events a subscription hears, its kinds, a delivery's statuses and
//! codes, the retry schedule and what an attempt's answer means ([`retry`]), the bodies each kind
//! sends and which deliveries a task change queues ([`payload`]), where deliveries may connect
//! ([`destination`]) and how the sends in flight, subscriptions and replays are shared between
//! hotels ([`fair`]). The store (both backends) and the dispatcher (`crate::outbox`) apply them;
//! nothing here does I/O.

use serde::{Deserialize, Serialize};

use crate::domain::TaskStatus;

pub mod chat;
pub mod destination;
pub mod fair;
pub mod payload;
pub mod retry;
pub mod template;
#[cfg(test)]
mod tests;

pub use chat::ChatFacts;
pub use destination::{DestinationPolicy, IpRange, Refused};
pub use fair::{CODE_LIMIT, hotel_share, pick_fair};
pub use payload::{
    Detail, MergeNote, MergeReason, NewDelivery, OrderRefs, Target, deliveries_for,
    deliveries_with, duve_connect_body, escalation_deliveries, merge_deliveries, needs_chat_facts,
    needs_order_refs, report_deliveries, webhook_body,
};
pub use retry::{
    AttemptResult, DEFAULT_RETRY_SCHEDULE, RETRY_AFTER_CAP, Resolution, RetrySchedule, Verdict,
    classify, jitter, resolve,
};

/// The code a delivery out of attempts is recorded with (CONTRACT.md section 4).
pub const CODE_ATTEMPTS_EXHAUSTED: &str = "WEB_HUK_REQUEST_ATTEMPT_FAILED";
/// The receiver answered a 4xx other than 408, 410 and 429: the request itself is refused, so
/// sending it again would not help.
pub const CODE_REJECTED: &str = "WEB_HUK_REQUEST_REJECTED";
/// The receiver answered 410 Gone: the subscription is disabled.
pub const CODE_GONE: &str = "WEB_HUK_ENDPOINT_GONE";
/// The destination is not a public address (or is in `HUBHOOK_OUTBOUND_DENY`): never sent.
pub const CODE_DENIED: &str = "WEB_HUK_DESTINATION_DENIED";
/// The code pending deliveries end with when their subscription is removed.
pub const CODE_REMOVED: &str = "WEB_HUK_SUBSCRIPTION_REMOVED";

/// The message pending deliveries end with when their subscription is removed.
pub const REMOVED_MESSAGE: &str = "The subscription was removed.";
/// The message pending deliveries end with when a 410 Gone disabled their subscription.
pub const GONE_MESSAGE: &str = "The subscription was disabled by a 410 Gone answer.";

/// The message of a delivery out of attempts (CONTRACT.md section 4, its wording kept).
pub fn attempts_exhausted_message(attempts: u32) -> String {
    format!("Operation failed after {attempts} attempt, Please check credentials and request body.")
}

/// Why a subscription was disabled by a 410 Gone answer at `at`.
pub fn gone_reason(at: &str) -> String {
    format!("The receiver answered 410 Gone at {at}.")
}

/// A new delivery's id (also its `webhook-id` header): `msg_` and a time-ordered UUID.
pub fn new_delivery_id() -> String {
    format!("msg_{}", uuid::Uuid::now_v7().simple())
}

/// A new subscription's id: `sub_` and a time-ordered UUID.
pub fn new_subscription_id() -> String {
    format!("sub_{}", uuid::Uuid::now_v7().simple())
}

/// An event a subscription may hear: a task's, or the hotel's shift report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EventType {
    /// A task was created.
    #[serde(rename = "task.created")]
    Created,
    /// A task's status changed.
    #[serde(rename = "task.status_changed")]
    StatusChanged,
    /// A task was done.
    #[serde(rename = "task.completed")]
    Completed,
    /// A task was cancelled.
    #[serde(rename = "task.cancelled")]
    Cancelled,
    /// A task passed its due time unfinished.
    #[serde(rename = "task.overdue")]
    Overdue,
    /// A task escalated (not accepted in time, or not done by its due time); the body says why.
    #[serde(rename = "task.escalated")]
    Escalated,
    /// A task's assignee changed (assigned, claimed, reassigned or cleared); the body says who had it.
    #[serde(rename = "task.assigned")]
    Assigned,
    /// A repeated order was merged into the task, or a merged order was cancelled: its quantity
    /// changed; the body says which order and by how much.
    #[serde(rename = "task.merged")]
    Merged,
    /// A shift ended: its report (CONTRACT.md section 7), not a task.
    #[serde(rename = "report.shift")]
    ShiftReport,
}

impl EventType {
    /// Every event, in the order the docs list them.
    pub const ALL: [EventType; 9] = [
        EventType::Created,
        EventType::StatusChanged,
        EventType::Completed,
        EventType::Cancelled,
        EventType::Overdue,
        EventType::Escalated,
        EventType::Assigned,
        EventType::Merged,
        EventType::ShiftReport,
    ];

    /// The events of a task (every event but the shift report).
    pub fn is_task_event(self) -> bool {
        self != EventType::ShiftReport
    }

    /// What a subscription of `kind` hears when it names no events: a webhook or Duve Connect
    /// every task event (not the shift report, whose body Duve would not understand); a chat
    /// channel, read by people, one line per change (created, status changed, escalated, merged: not
    /// `task.completed`, `task.cancelled` or `task.overdue`, which would repeat a line) and the
    /// shift report's summary.
    pub fn defaults(kind: SubscriptionKind) -> Vec<EventType> {
        match kind {
            SubscriptionKind::Webhook | SubscriptionKind::DuveConnect => Self::ALL
                .into_iter()
                .filter(|e| e.is_task_event())
                .collect(),
            SubscriptionKind::Slack => vec![
                EventType::Created,
                EventType::StatusChanged,
                EventType::Escalated,
                EventType::Assigned,
                EventType::Merged,
                EventType::ShiftReport,
            ],
        }
    }

    /// The event's wire name (`task.created`).
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Created => "task.created",
            EventType::StatusChanged => "task.status_changed",
            EventType::Completed => "task.completed",
            EventType::Cancelled => "task.cancelled",
            EventType::Overdue => "task.overdue",
            EventType::Escalated => "task.escalated",
            EventType::Assigned => "task.assigned",
            EventType::Merged => "task.merged",
            EventType::ShiftReport => "report.shift",
        }
    }

    /// The event a wire name names, surrounding blanks ignored.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == raw.trim())
    }

    /// The events a status change raises: always `task.status_changed`, plus `task.completed` or
    /// `task.cancelled` when it ends the task.
    pub fn for_move(to: TaskStatus) -> &'static [EventType] {
        match to {
            TaskStatus::Done => &[EventType::StatusChanged, EventType::Completed],
            TaskStatus::Cancelled => &[EventType::StatusChanged, EventType::Cancelled],
            _ => &[EventType::StatusChanged],
        }
    }
}

/// Parses `task.created,task.completed`; an empty list is refused (a subscription that hears nothing
/// is a mistake), duplicates are folded.
pub fn parse_events(raw: &str) -> Result<Vec<EventType>, String> {
    let mut out = Vec::new();
    for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let e = EventType::parse(part).ok_or_else(|| {
            format!(
                "unknown event {part:?}: expected some of {}",
                EventType::ALL.map(EventType::as_str).join(", ")
            )
        })?;
        if !out.contains(&e) {
            out.push(e);
        }
    }
    if out.is_empty() {
        return Err("no event named".into());
    }
    Ok(out)
}

/// A subscription's events as stored: their wire names joined by commas.
pub fn events_to_text(events: &[EventType]) -> String {
    events
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// A subscription's stored events read back; a name no longer known is skipped.
pub fn events_from_text(raw: &str) -> Vec<EventType> {
    raw.split(',').filter_map(EventType::parse).collect()
}

/// What a subscription sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SubscriptionKind {
    /// A signed Standard Webhooks POST of `{"type", "timestamp", "hotelId", "data": TASK}`.
    Webhook,
    /// A Bearer-authenticated POST of a rendered template into Duve Connect.
    DuveConnect,
    /// A chat channel's incoming webhook (Slack, Mattermost, Rocket.Chat): `{"text": one line}`.
    Slack,
}

impl SubscriptionKind {
    /// Every kind, in the order the docs list them.
    pub const ALL: [SubscriptionKind; 3] = [
        SubscriptionKind::Webhook,
        SubscriptionKind::DuveConnect,
        SubscriptionKind::Slack,
    ];

    /// The kind's stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            SubscriptionKind::Webhook => "webhook",
            SubscriptionKind::DuveConnect => "duve-connect",
            SubscriptionKind::Slack => "slack",
        }
    }

    /// The kind a stored or wire name names.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "webhook" => Some(SubscriptionKind::Webhook),
            "duve-connect" => Some(SubscriptionKind::DuveConnect),
            "slack" => Some(SubscriptionKind::Slack),
            _ => None,
        }
    }
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    /// Waiting for its next attempt.
    Pending,
    /// A receiver answered 2xx.
    Delivered,
    /// Ended unsent (see its code).
    Failed,
}

impl DeliveryStatus {
    /// Every status, in the order a delivery may pass through them.
    pub const ALL: [DeliveryStatus; 3] = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ];

    /// The status's stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryStatus::Pending => "pending",
            DeliveryStatus::Delivered => "delivered",
            DeliveryStatus::Failed => "failed",
        }
    }

    /// The status a stored or wire name names.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// The secrets a webhook is signed with at `now`: the current one, then the previous one while its
/// grace period after a rotation (`old_until`) lasts.
pub fn signing_secrets(
    secret: Option<String>,
    old: Option<String>,
    old_until: Option<String>,
    now: &str,
) -> Vec<String> {
    let mut secrets: Vec<String> = secret.into_iter().collect();
    if let (Some(old), Some(until)) = (old, old_until)
        && until.as_str() > now
    {
        secrets.push(old);
    }
    secrets
}

/// Why a delivery cannot be replayed, from its subscription's state; `None` when it can.
/// `enabled` is `None` when the subscription was removed.
pub fn replay_refusal(subscription: &str, enabled: Option<bool>) -> Option<String> {
    match enabled {
        None => Some("the delivery's subscription was removed: add it again, then replay".into()),
        Some(false) => Some(format!(
            "the delivery's subscription {subscription} is disabled (its receiver answered 410 Gone)"
        )),
        Some(true) => None,
    }
}

/// The dispatcher's next wake-up: the earlier of a delivery's next attempt and a task's due time
/// (both stored as fixed-width RFC 3339 text, which sorts as time does).
pub fn earliest(delivery: Option<String>, due: Option<String>) -> Option<String> {
    match (delivery, due) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
