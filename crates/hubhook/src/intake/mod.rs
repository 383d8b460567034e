//! Intake: a Duve webhook plus what hubhook knows of the hotel becomes a decision. Pure: no I/O.
//!
//! It runs in two steps. [`classify`] needs only the body and the cached hotel facts and runs in the
//! request handler. [`decide_order`] needs rows that must be read under the same write lock as the
//! writes that follow (has this order been seen? what does the reservation context say?), so the store
//! calls it inside its transaction, through [`settle()`], which turns those rows into the outcome and
//! the rows to write; it still only computes.

use duve::{Envelope, EnvelopeError, EventKind, FieldMap, OrderData, Quantity, ReservationFacts};
use jiff::{SignedDuration, Timestamp};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::{
    HotelFacts, RoomNumber, Task,
    escalation::{Clock, Escalations, Priority},
    time,
};

mod manual;
mod merge;
pub mod review;
mod settle;
pub use manual::{MAX_QUANTITY, ManualTask, ManualTaskError, manual_task};
pub use merge::{
    MergeRows, QuantityWrite, Share, ShareKey, ShareRow, SlotHolder, SlotKey, slot_keys,
};
pub use settle::{
    ACTOR, ContextWrite, Enqueue, HistoryLine, NOTE_CANCELLED, OrderRead, OrderRow, OrderState,
    Raised, Reads, Settlement, deliveries, settle,
};

/// Why a webhook was refused after authentication (CONTRACT.md section 1, rows 2, 3 and 3b).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub kind: RefusalKind,
    pub details: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefusalKind {
    InvalidBody,
    UnknownRoom,
    UnknownService,
}

impl RefusalKind {
    /// The HTTP status the webhook answers it with (CONTRACT.md section 1).
    pub fn status(self) -> u16 {
        match self {
            RefusalKind::InvalidBody => 403,
            RefusalKind::UnknownRoom | RefusalKind::UnknownService => 400,
        }
    }
}

/// Row 0's code: a body over the limit (it is not read, so intake never sees it).
pub const CODE_TOO_LARGE: &str = "WEB_HUK_PAYLOAD_TOO_LARGE";
/// Row 0's message.
pub const MESSAGE_TOO_LARGE: &str = "Payload too large.";
/// Row 0's status.
pub const STATUS_TOO_LARGE: u16 = 413;

impl Refusal {
    pub fn invalid_body(detail: impl Into<String>) -> Self {
        Self {
            kind: RefusalKind::InvalidBody,
            details: vec![detail.into()],
        }
    }

    pub fn code(&self) -> &'static str {
        match self.kind {
            RefusalKind::InvalidBody => "WEB_HUK_INVALID_BODY",
            RefusalKind::UnknownRoom | RefusalKind::UnknownService => "WEB_HUK_HUBOS_REQUEST_FAIL",
        }
    }

    pub fn message(&self) -> &'static str {
        match self.kind {
            RefusalKind::InvalidBody => {
                "Please provide the proper Room Number, External Id, and Verified First Name."
            }
            RefusalKind::UnknownRoom => "Unknown room",
            RefusalKind::UnknownService => "Unknown service",
        }
    }
}

/// An ordered item that did not become a task, and why (listed in the 201 confirmation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    pub name: Option<String>,
    pub external_id: Option<String>,
    pub reason: String,
}

/// What the handler can decide alone.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    Order(OrderPlan),
    Cancel {
        order_key: String,
    },
    Refund {
        order_key: String,
        note: String,
    },
    /// A known event that makes no task; what it says about the reservation is kept.
    Record {
        facts: ReservationFacts,
    },
    Ignore {
        reason: &'static str,
    },
    Refuse(Refusal),
}

#[derive(Debug, Clone, PartialEq)]
pub struct OrderPlan {
    /// Idempotency key: the order id, or the SHA-256 of the body when Duve sent none.
    pub order_key: String,
    pub data: OrderData,
}

impl OrderPlan {
    /// Whether the reservation context may fill what the payload lacks.
    pub fn needs_context(&self) -> bool {
        self.data.room_number.is_none() || self.data.first_name.is_none()
    }
}

/// A bound on the work one webhook can cause; further items are listed as skipped.
pub const MAX_TASKS_PER_ORDER: usize = 100;

pub const REASON_PAID: &str = "paid orders are not synced";
pub const REASON_UNKNOWN_EVENT: &str = "unknown event";
pub const REASON_UNKNOWN_ORDER: &str = "unknown order";
pub const REASON_CANCELLED_EARLY: &str = "order was cancelled before it arrived";

fn order_key(data_order_id: Option<&str>, body: &[u8]) -> String {
    match data_order_id {
        Some(id) => id.to_owned(),
        None => {
            let digest = Sha256::digest(body);
            let mut key = String::with_capacity(71);
            key.push_str("sha256:");
            for b in digest {
                key.push_str(&format!("{b:02x}"));
            }
            key
        }
    }
}

/// The plan of a webhook's body: its envelope's ([`classify`]), or row 2's refusal for a body that
/// is not a Duve envelope. The webhook, a dry run and a replay all start here.
pub fn plan_of(
    envelope: &Result<Envelope<'_>, EnvelopeError>,
    body: &[u8],
    map: &FieldMap,
    hotel: &HotelFacts,
) -> Plan {
    match envelope {
        Ok(env) => classify(env, body, map, hotel),
        Err(e) => Plan::Refuse(Refusal::invalid_body(e.to_string())),
    }
}

/// The event name the inbound log keeps: the envelope's, cut to 100 characters; `None` for a body
/// that is not a Duve envelope.
pub fn event_name(envelope: &Result<Envelope<'_>, EnvelopeError>) -> Option<String> {
    envelope
        .as_ref()
        .ok()
        .map(|e| e.event.chars().take(100).collect())
}

/// Step one: the event key decides what kind of work this is.
pub fn classify(env: &Envelope<'_>, body: &[u8], map: &FieldMap, hotel: &HotelFacts) -> Plan {
    let Some(kind) = env.kind() else {
        return Plan::Ignore {
            reason: REASON_UNKNOWN_EVENT,
        };
    };
    match kind {
        EventKind::OrderCreated => {
            let data = map.order(&env.resource);
            let paid = data.charge_amount.is_some_and(|c| c > 0.0);
            if paid && !hotel.sync_paid_orders {
                return Plan::Ignore {
                    reason: REASON_PAID,
                };
            }
            Plan::Order(OrderPlan {
                order_key: order_key(data.order_id.as_deref(), body),
                data,
            })
        }
        EventKind::OrderCancelled => match map.order(&env.resource).order_id {
            Some(id) => Plan::Cancel { order_key: id },
            None => Plan::Refuse(Refusal::invalid_body(
                "orderCancelled carries no order id (looked in order.id, order._id)",
            )),
        },
        EventKind::OrderRefunded => {
            let order = map.order(&env.resource);
            let total = env
                .resource
                .get("order")
                .and_then(|o| o.get("refundTotal"))
                .filter(|v| v.is_number() || v.is_string())
                .map(|v| match v {
                    duve::Json::String(s) => s.to_string(),
                    other => other.to_string(),
                });
            let note = match total {
                Some(t) => format!("order refunded in Duve (refund total {t})"),
                None => "order refunded in Duve".to_owned(),
            };
            match order.order_id {
                Some(id) => Plan::Refund {
                    order_key: id,
                    note,
                },
                None => Plan::Record {
                    facts: map.reservation(&env.resource),
                },
            }
        }
        _ => Plan::Record {
            facts: map.reservation(&env.resource),
        },
    }
}

/// A task ready to be written.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskDraft {
    pub item_key: Option<String>,
    pub external_id: Option<String>,
    pub task_name: String,
    pub room: String,
    pub guest_name: Option<String>,
    pub quantity: u32,
    pub department: Option<String>,
    pub notes: Option<String>,
    pub language: Option<String>,
    pub order_id: Option<String>,
    pub reservation_id: Option<String>,
    pub requested_at: Option<Timestamp>,
    pub due_at: Option<Timestamp>,
    /// The task's first escalation deadline (see [`crate::domain::escalation`]).
    pub escalate_at: Option<Timestamp>,
    /// Whether it holds its room's and service's merge slot (see [`merge`]).
    pub merge_slot: bool,
}

impl TaskDraft {
    /// Until when the board keeps the task under "Later" once written at `created_at` (formatted;
    /// `domain::task::later_until`): what the store keeps in `tasks.later_until`.
    pub fn later_until(&self, created_at: &str) -> Option<String> {
        let created = time::parse_instant(created_at)?;
        crate::domain::task::later_until(self.requested_at?, created).map(time::format)
    }

    /// The task as it will read once written with this id and creation time.
    pub fn to_task(&self, id: String, created_at: String) -> Task {
        Task {
            id,
            external_id: self.external_id.clone(),
            task_name: self.task_name.clone(),
            room: self.room.clone(),
            guest_name: self.guest_name.clone(),
            quantity: self.quantity,
            status: crate::domain::TaskStatus::Open,
            due_at: self.due_at.map(time::format),
            created_at,
            scheduled_for: self.requested_at.map(time::format),
            department: self.department.clone(),
            priority: Priority::Normal,
            escalated: None,
            order_ids: self.order_id.iter().cloned().collect(),
            assignee: None,
            archived: false,
        }
    }
}

/// A new task's first escalation deadline, under the hotel's escalate-after.
fn escalate_at(hotel: &HotelFacts, due_at: Option<Timestamp>, now: Timestamp) -> Option<Timestamp> {
    Clock {
        status: crate::domain::TaskStatus::Open,
        created_at: now,
        due_at,
        fired: Escalations::default(),
    }
    .next_deadline(hotel.escalate_after_secs)
}

#[derive(Debug, Clone, PartialEq)]
pub enum OrderDecision {
    Create {
        drafts: Vec<TaskDraft>,
        skipped: Vec<Skipped>,
    },
    Refuse(Refusal),
}

fn guest_name(first: Option<&str>, last: Option<&str>) -> Option<String> {
    match (first, last) {
        (Some(f), Some(l)) => Some(format!("{f} {l}")),
        (Some(f), None) => Some(f.to_owned()),
        (None, Some(l)) => Some(l.to_owned()),
        (None, None) => None,
    }
}

fn due_at(
    requested: Option<Timestamp>,
    sla_minutes: Option<u32>,
    now: Timestamp,
) -> Option<Timestamp> {
    requested.or_else(|| {
        sla_minutes.and_then(|m| {
            now.checked_add(SignedDuration::from_mins(i64::from(m)))
                .ok()
        })
    })
}

/// Step two, inside the store's transaction: fields, context, room and catalog checks, in the
/// contract's order; then one draft per item that can become a task.
pub fn decide_order(
    plan: &OrderPlan,
    hotel: &HotelFacts,
    context: Option<&ReservationFacts>,
    now: Timestamp,
) -> OrderDecision {
    let data = &plan.data;
    let ctx = |f: fn(&ReservationFacts) -> Option<&String>| context.and_then(f).cloned();
    let room = data
        .room_number
        .clone()
        .or_else(|| ctx(|c| c.room_number.as_ref()));
    let first = data
        .first_name
        .clone()
        .or_else(|| ctx(|c| c.first_name.as_ref()));
    let last = data
        .last_name
        .clone()
        .or_else(|| ctx(|c| c.last_name.as_ref()));
    let language = data
        .language
        .clone()
        .or_else(|| ctx(|c| c.language.as_ref()));

    let mut missing = Vec::new();
    if room.is_none() {
        missing.push("no room number in the order or its reservation".to_owned());
    }
    if first.is_none() {
        missing.push("no verified first name in the order or its reservation".to_owned());
    }
    if !data.items.iter().any(|i| i.external_id.is_some()) {
        missing.push("no ordered product or item carries a service external ID".to_owned());
    }
    let (Some(room), true) = (room, missing.is_empty()) else {
        return OrderDecision::Refuse(Refusal {
            kind: crate::intake::RefusalKind::InvalidBody,
            details: missing,
        });
    };

    let room = match RoomNumber::parse(&room) {
        Ok(r) if hotel.rooms.contains(r.as_str()) => r,
        _ => {
            return OrderDecision::Refuse(Refusal {
                kind: RefusalKind::UnknownRoom,
                details: vec![format!(
                    "room {room:?} is not registered for hotel {}",
                    hotel.id
                )],
            });
        }
    };

    let requested = data
        .delivery_time
        .as_deref()
        .and_then(|raw| time::parse_requested(raw, &hotel.timezone, now));
    let guest = guest_name(first.as_deref(), last.as_deref());
    let mut drafts = Vec::with_capacity(data.items.len());
    let mut skipped = Vec::new();
    let mut bad_quantity = false;
    for item in &data.items {
        let skip = |reason: String| Skipped {
            name: item.name.clone(),
            external_id: item.external_id.clone(),
            reason,
        };
        let Some(ext) = item.external_id.as_deref() else {
            skipped.push(skip("no external ID".to_owned()));
            continue;
        };
        if drafts.len() == MAX_TASKS_PER_ORDER {
            skipped.push(skip("too many items in one order".to_owned()));
            continue;
        }
        let Some(entry) = hotel.catalog.get(ext) else {
            skipped.push(skip("unknown service".to_owned()));
            continue;
        };
        let due = due_at(requested, entry.sla_minutes, now);
        let quantity = match &item.quantity {
            Quantity::Valid(q) => *q,
            Quantity::Invalid(raw) => {
                bad_quantity = true;
                skipped.push(skip(format!("invalid quantity {raw}")));
                continue;
            }
        };
        drafts.push(TaskDraft {
            item_key: Some(item.key.clone()),
            external_id: Some(ext.to_owned()),
            task_name: entry.name.clone(),
            room: room.as_str().to_owned(),
            guest_name: guest.clone(),
            quantity,
            department: entry.department.clone(),
            notes: data.notes.clone(),
            language: language.clone(),
            order_id: data.order_id.clone(),
            reservation_id: data.reservation_id.clone(),
            requested_at: requested,
            due_at: due,
            escalate_at: escalate_at(hotel, due, now),
            merge_slot: false,
        });
    }
    if drafts.is_empty() {
        let details = skipped
            .iter()
            .map(|s| {
                format!(
                    "{} (external ID {}): {}",
                    s.name.as_deref().unwrap_or("unnamed item"),
                    s.external_id.as_deref().unwrap_or("none"),
                    s.reason
                )
            })
            .collect();
        let kind = if bad_quantity {
            RefusalKind::InvalidBody
        } else {
            RefusalKind::UnknownService
        };
        return OrderDecision::Refuse(Refusal { kind, details });
    }
    OrderDecision::Create { drafts, skipped }
}

/// What one webhook came to, once its transaction has committed.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A new order made tasks: `tasks` are the new ones first, then any it merged into.
    Created {
        order_id: Option<String>,
        tasks: Vec<Task>,
        skipped: Vec<Skipped>,
    },
    /// Every item of a new order merged into tasks made before (CONTRACT.md section 7).
    Merged {
        order_id: Option<String>,
        tasks: Vec<Task>,
        skipped: Vec<Skipped>,
    },
    Duplicate {
        order_id: Option<String>,
        tasks: Vec<Task>,
    },
    CancelledBeforeArrival,
    Cancelled {
        tasks: Vec<Task>,
    },
    Recorded,
    Ignored {
        reason: &'static str,
    },
    Refused(Refusal),
}

impl Outcome {
    /// The code kept in the inbound log: the contract's error code for a refusal, else the status word.
    pub fn code(&self) -> &'static str {
        match self {
            Outcome::Created { .. } => "created",
            Outcome::Merged { .. } => "merged",
            Outcome::Duplicate { .. } => "duplicate",
            Outcome::CancelledBeforeArrival | Outcome::Cancelled { .. } => "cancelled",
            Outcome::Recorded => "recorded",
            Outcome::Ignored { .. } => "ignored",
            Outcome::Refused(r) => r.code(),
        }
    }

    /// The HTTP status the webhook answers it with.
    pub fn status(&self) -> u16 {
        match self {
            Outcome::Created { .. } => 201,
            Outcome::Refused(r) => r.kind.status(),
            _ => 200,
        }
    }

    /// The tasks the answer shows.
    pub fn tasks(&self) -> &[Task] {
        match self {
            Outcome::Created { tasks, .. }
            | Outcome::Merged { tasks, .. }
            | Outcome::Duplicate { tasks, .. }
            | Outcome::Cancelled { tasks } => tasks,
            _ => &[],
        }
    }

    pub fn task_ids(&self) -> Vec<&str> {
        self.tasks().iter().map(|t| t.id.as_str()).collect()
    }

    /// The details kept in the inbound log: a refusal's, else none.
    pub fn details(&self) -> &[String] {
        match self {
            Outcome::Refused(r) => &r.details,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests;
