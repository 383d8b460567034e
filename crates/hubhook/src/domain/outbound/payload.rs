//! What a task change queues: which subscriptions hear which of its events ([`deliveries_for`]),
//! and the body each kind of subscription is sent.

use super::{
    EventType, SubscriptionKind, events_from_text, new_delivery_id,
    template::{self, TemplateError},
};
use crate::domain::{Task, escalation::Reason};

/// What a webhook body says beside the task, for the events that say more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra<'a> {
    /// Nothing more.
    None,
    /// `task.escalated`: `"reason"`.
    Reason(Reason),
    /// `task.assigned`: `"previousAssignee"`, the email of the assignee before (or null).
    PreviousAssignee(Option<&'a str>),
}

/// The body of a signed webhook: `{"type", "timestamp", "hotelId", "data": TASK}`.
pub fn webhook_body(event: EventType, now: &str, hotel: &str, task: &Task) -> String {
    webhook_body_with(event, now, hotel, task, Extra::None)
}

/// [`webhook_body`], with what `extra` adds at the top level.
fn webhook_body_with(
    event: EventType,
    now: &str,
    hotel: &str,
    task: &Task,
    extra: Extra<'_>,
) -> String {
    let mut body = serde_json::json!({
        "type": event.as_str(),
        "timestamp": now,
        "hotelId": hotel,
        "data": task,
    });
    if let Some(obj) = body.as_object_mut() {
        match extra {
            Extra::None => {}
            Extra::Reason(r) => {
                obj.insert("reason".into(), r.as_str().into());
            }
            Extra::PreviousAssignee(p) => {
                obj.insert("previousAssignee".into(), p.into());
            }
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
    targets
        .iter()
        .any(|t| t.kind == SubscriptionKind::DuveConnect && events.iter().any(|e| t.hears(*e)))
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
) -> Result<Vec<NewDelivery>, TemplateError> {
    deliveries_with(hotel, task, events, now, targets, refs, Extra::None)
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
) -> Result<Vec<NewDelivery>, TemplateError> {
    let events = [EventType::Escalated];
    deliveries_with(
        hotel,
        task,
        &events,
        now,
        targets,
        refs,
        Extra::Reason(reason),
    )
}

/// The deliveries of `events` on `task` with what `extra` adds to a webhook's body: the one
/// function behind [`deliveries_for`] and [`escalation_deliveries`], for a store that queues an
/// event of either kind.
pub fn deliveries_with(
    hotel: &str,
    task: &Task,
    events: &[EventType],
    now: &str,
    targets: &[Target],
    refs: &OrderRefs,
    extra: Extra<'_>,
) -> Result<Vec<NewDelivery>, TemplateError> {
    let mut out = Vec::new();
    for t in targets {
        for event in events.iter().copied().filter(|e| t.hears(*e)) {
            let payload = match t.kind {
                SubscriptionKind::DuveConnect => duve_connect_body(
                    t.template.as_deref(),
                    task,
                    refs.order_id.as_deref(),
                    refs.reservation_id.as_deref(),
                    now,
                )?,
                SubscriptionKind::Webhook => webhook_body_with(event, now, hotel, task, extra),
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
