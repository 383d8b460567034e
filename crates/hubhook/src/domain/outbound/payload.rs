//! What a task change queues: which subscriptions hear which of its events ([`deliveries_for`]),
//! and the body each kind of subscription is sent; and what a shift's end queues
//! ([`report_deliveries`]).

use jiff::{Timestamp, tz::TimeZone};

use serde::Serialize;

use super::{
    EventType, SubscriptionKind,
    chat::{self, ChatFacts},
    events_from_text, new_delivery_id,
    template::{self, TemplateError},
};
use crate::domain::{Task, escalation::Reason, report::Report, time};

/// The body of a signed webhook: `{"type", "timestamp", "hotelId", "data": TASK}`.
pub fn webhook_body(event: EventType, now: &str, hotel: &str, task: &Task) -> String {
    webhook_body_with(event, now, hotel, task, None)
}

/// Why a task's quantity changed with `task.merged`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MergeReason {
    /// A repeated order was merged into the task: its quantity grew.
    OrderMerged,
    /// One of the orders merged into the task was cancelled: its quantity came back off.
    OrderCancelled,
}

/// What `task.merged` says besides the task: `"merge": {"orderId", "quantityDelta", "reason"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MergeNote {
    /// The Duve order merged in or cancelled (null for an order Duve sent without an id).
    pub order_id: Option<String>,
    /// How the task's quantity changed: the order's quantity, negative when it came off.
    pub quantity_delta: i64,
    /// Why.
    pub reason: MergeReason,
}

/// What a webhook body says besides the task, for the events that say more.
#[derive(Debug, Clone, Copy)]
pub enum Detail<'a> {
    /// `task.escalated`: `"reason"`.
    Escalation(Reason),
    /// `task.merged`: `"merge"`.
    Merge(&'a MergeNote),
    /// `task.assigned`: `"previousAssignee"`, the email of the assignee before (or null).
    PreviousAssignee(Option<&'a str>),
}

/// [`webhook_body`], with what `detail` adds.
fn webhook_body_with(
    event: EventType,
    now: &str,
    hotel: &str,
    task: &Task,
    detail: Option<Detail<'_>>,
) -> String {
    let mut body = serde_json::json!({
        "type": event.as_str(),
        "timestamp": now,
        "hotelId": hotel,
        "data": task,
    });
    if let Some(obj) = body.as_object_mut() {
        match detail {
            Some(Detail::Escalation(r)) => {
                obj.insert("reason".into(), r.as_str().into());
            }
            Some(Detail::Merge(m)) => {
                obj.insert("merge".into(), serde_json::to_value(m).unwrap_or_default());
            }
            Some(Detail::PreviousAssignee(p)) => {
                obj.insert("previousAssignee".into(), p.into());
            }
            None => {}
        }
    }
    body.to_string()
}

/// The body of a Duve Connect delivery: the subscription's template (or the default) filled in.
pub fn duve_connect_body(
    tmpl: Option<&str>,
    task: &Task,
    order_id: Option<&str>,
    reservation_id: Option<&str>,
    now: &str,
) -> Result<String, TemplateError> {
    let default;
    let tmpl = match tmpl {
        Some(t) => t,
        None => {
            default = template::default_template(template::DEFAULT_FIELD);
            &default
        }
    };
    template::render(tmpl, |k| match k {
        "reservationId" => reservation_id,
        "orderId" => order_id,
        "taskId" => Some(task.id.as_str()),
        "taskName" => Some(task.task_name.as_str()),
        "status" => Some(task.status.as_str()),
        "room" => Some(task.room.as_str()),
        "updatedAt" => Some(now),
        _ => None,
    })
}

/// An enabled subscription of the hotel, as far as queueing needs it.
#[derive(Debug, Clone)]
pub struct Target {
    /// The subscription's id.
    pub id: String,
    /// What it sends.
    pub kind: SubscriptionKind,
    /// The events it hears.
    pub events: Vec<EventType>,
    /// A Duve Connect subscription's body template (`None`: the default).
    pub template: Option<String>,
}

impl Target {
    /// A target from its stored columns; an unknown kind is sent as a webhook, as it always was.
    pub fn from_stored(id: String, kind: &str, events: &str, template: Option<String>) -> Self {
        Self {
            id,
            kind: SubscriptionKind::parse(kind).unwrap_or(SubscriptionKind::Webhook),
            events: events_from_text(events),
            template,
        }
    }

    fn hears(&self, event: EventType) -> bool {
        self.events.contains(&event)
    }
}

/// The task's order and reservation, which a Duve Connect body may name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderRefs {
    /// The Duve order the task came from, if any.
    pub order_id: Option<String>,
    /// The reservation of that order, if known.
    pub reservation_id: Option<String>,
}

/// A delivery to insert, pending from now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// Its id ([`new_delivery_id`]).
    pub id: String,
    /// The subscription it goes to.
    pub subscription_id: String,
    /// The event it reports.
    pub event: EventType,
    /// The body sent, rendered once now.
    pub payload: String,
}

/// Whether queueing `events` to `targets` renders a Duve Connect body, so the store must read the
/// task's [`OrderRefs`] first.
pub fn needs_order_refs(targets: &[Target], events: &[EventType]) -> bool {
    hears_any(targets, SubscriptionKind::DuveConnect, events)
}

/// Whether queueing `events` to `targets` renders a chat line, so the store must read the
/// [`ChatFacts`] (the hotel's timezone, who made the change) first.
pub fn needs_chat_facts(targets: &[Target], events: &[EventType]) -> bool {
    hears_any(targets, SubscriptionKind::Slack, events)
}

fn hears_any(targets: &[Target], kind: SubscriptionKind, events: &[EventType]) -> bool {
    targets
        .iter()
        .any(|t| t.kind == kind && events.iter().any(|e| t.hears(*e)))
}

/// The deliveries a change raising `events` on `task` queues: one per target and event it hears,
/// target by target, in the order given.
pub fn deliveries_for(
    hotel: &str,
    task: &Task,
    events: &[EventType],
    now: &str,
    targets: &[Target],
    refs: &OrderRefs,
    chat: &ChatFacts,
) -> Result<Vec<NewDelivery>, TemplateError> {
    deliveries_with(hotel, task, events, now, targets, (refs, chat), None)
}

/// The deliveries of one escalation of `task` for `reason`: `task.escalated`, whose webhook body
/// says `"reason"`, to each target that hears it.
pub fn escalation_deliveries(
    hotel: &str,
    task: &Task,
    reason: Reason,
    now: &str,
    targets: &[Target],
    refs: &OrderRefs,
    chat: &ChatFacts,
) -> Result<Vec<NewDelivery>, TemplateError> {
    let events = [EventType::Escalated];
    deliveries_with(
        hotel,
        task,
        &events,
        now,
        targets,
        (refs, chat),
        Some(Detail::Escalation(reason)),
    )
}

/// The deliveries of `task.merged` for `task`, whose webhook body says `"merge"`, to each target
/// that hears it.
#[allow(clippy::too_many_arguments)]
pub fn merge_deliveries(
    hotel: &str,
    task: &Task,
    note: &MergeNote,
    now: &str,
    targets: &[Target],
    refs: &OrderRefs,
    chat: &ChatFacts,
) -> Result<Vec<NewDelivery>, TemplateError> {
    let events = [EventType::Merged];
    deliveries_with(
        hotel,
        task,
        &events,
        now,
        targets,
        (refs, chat),
        Some(Detail::Merge(note)),
    )
}

/// The deliveries of `events` on `task` with what `detail` adds to a webhook's body: the one
/// function behind [`deliveries_for`], [`escalation_deliveries`] and [`merge_deliveries`], for a
/// store that queues an event of any kind.
pub fn deliveries_with(
    hotel: &str,
    task: &Task,
    events: &[EventType],
    now: &str,
    targets: &[Target],
    (refs, chat): (&OrderRefs, &ChatFacts),
    detail: Option<Detail<'_>>,
) -> Result<Vec<NewDelivery>, TemplateError> {
    let mut out = Vec::new();
    // `now` is the store's own formatted clock; a task's line falls back to its creation.
    let at = time::parse_instant(now)
        .or_else(|| time::parse_instant(&task.created_at))
        .unwrap_or(Timestamp::UNIX_EPOCH);
    for t in targets {
        // A task's deliveries carry task events only (the shift report is queued on its own).
        for event in events
            .iter()
            .copied()
            .filter(|e| e.is_task_event() && t.hears(*e))
        {
            let payload = match t.kind {
                SubscriptionKind::DuveConnect => duve_connect_body(
                    t.template.as_deref(),
                    task,
                    refs.order_id.as_deref(),
                    refs.reservation_id.as_deref(),
                    now,
                )?,
                SubscriptionKind::Webhook => webhook_body_with(event, now, hotel, task, detail),
                SubscriptionKind::Slack => {
                    let reason = match detail {
                        Some(Detail::Escalation(r)) => Some(r),
                        _ => None,
                    };
                    chat::body(&chat::task_line(event, task, reason, at, chat))
                }
            };
            out.push(NewDelivery {
                id: new_delivery_id(),
                subscription_id: t.id.clone(),
                event,
                payload,
            });
        }
    }
    Ok(out)
}

/// The body of a signed webhook's shift report: `{"type": "report.shift", "timestamp", "hotelId",
/// "data": REPORT}`.
pub fn report_webhook_body(now: &str, hotel: &str, report: &Report) -> String {
    serde_json::json!({
        "type": EventType::ShiftReport.as_str(),
        "timestamp": now,
        "hotelId": hotel,
        "data": report,
    })
    .to_string()
}

/// The deliveries of a shift's report: one to each target that hears `report.shift` (a signed
/// webhook gets the report, a chat its summary line in the hotel's timezone `tz`; Duve Connect
/// cannot hear it: its template has no place for a report).
pub fn report_deliveries(
    hotel: &str,
    report: &Report,
    now: &str,
    targets: &[Target],
    tz: &TimeZone,
) -> Vec<NewDelivery> {
    targets
        .iter()
        .filter(|t| t.hears(EventType::ShiftReport))
        .filter_map(|t| {
            let payload = match t.kind {
                SubscriptionKind::Webhook => report_webhook_body(now, hotel, report),
                SubscriptionKind::Slack => chat::body(&chat::report_line(report, tz)),
                SubscriptionKind::DuveConnect => return None,
            };
            Some(NewDelivery {
                id: new_delivery_id(),
                subscription_id: t.id.clone(),
                event: EventType::ShiftReport,
                payload,
            })
        })
        .collect()
}
