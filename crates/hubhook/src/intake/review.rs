//! What support needs to answer "why was this webhook decided so" (CONTRACT.md section 7): the dry
//! run's report of a settlement that is never written, and which inbound log entries may be
//! replayed. Pure: the caller runs the webhook's own [`super::plan_of`] and [`super::settle`] and
//! hands the result in.

use duve::{Envelope, Field, FieldMap, Found, FoundProducts, Json, ReservationFacts};
use serde::{Serialize, Serializer};

use super::{
    CODE_TOO_LARGE, MESSAGE_TOO_LARGE, Outcome, Plan, REASON_CANCELLED_EARLY, REASON_PAID,
    STATUS_TOO_LARGE, Settlement, Skipped,
};
use crate::domain::Task;

/// What a Duve body would do for a hotel, decided by the webhook's code and stored nowhere.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    /// created, duplicate, merged, ignored, cancelled, recorded or refused
    pub outcome: &'static str,
    /// The HTTP status the webhook would answer.
    pub status: u16,
    /// A refusal's code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<&'static str>,
    /// A refusal's message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<&'static str>,
    /// The webhook answer's `reason` (ignored, and cancelled before it arrived).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
    /// For people: a refusal's details, or what the webhook would do and why.
    pub details: Vec<String>,
    /// The tasks the answer would show, without ids (a dry run makes none).
    pub tasks: Vec<Unsaved>,
    /// Ordered items that would not become tasks, and why.
    pub skipped: Vec<Skipped>,
    /// Where the field mapping found each data point in the body.
    pub fields: DryRunFields,
}

/// A task as the webhook's answer would show it, without its `id`.
#[derive(Debug, Clone, PartialEq)]
pub struct Unsaved(pub Task);

impl Serialize for Unsaved {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // TASK's own shape, whatever fields it gains, less the id.
        let mut v = serde_json::to_value(&self.0).map_err(serde::ser::Error::custom)?;
        if let Some(o) = v.as_object_mut() {
            o.remove("id");
        }
        v.serialize(s)
    }
}

/// A data point's value and the JSON path (from `resource`) it was found at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldAt {
    /// The value as the mapping reads it.
    pub value: String,
    /// Where it was found, from `resource`.
    pub path: String,
}

impl From<Found> for FieldAt {
    fn from(f: Found) -> Self {
        Self {
            value: f.value,
            path: f.path,
        }
    }
}

/// One ordered item: its position key, name, and where its external ID and quantity were found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemAt {
    /// Its position key (`0`, `1.0`).
    pub key: String,
    /// Its display name.
    pub name: Option<String>,
    /// Its service external ID.
    pub external_id: Option<FieldAt>,
    /// Its quantity as sent (none: 1).
    pub quantity: Option<FieldAt>,
}

/// The product list: its items, and the path it was found at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProductsAt {
    /// Every item, products flattened with their sub-items.
    pub value: Vec<ItemAt>,
    /// Where the list was found.
    pub path: String,
}

impl From<FoundProducts> for ProductsAt {
    fn from(p: FoundProducts) -> Self {
        Self {
            path: p.path,
            value: p
                .items
                .into_iter()
                .map(|i| ItemAt {
                    key: i.key,
                    name: i.name,
                    external_id: i.external_id.map(FieldAt::from),
                    quantity: i.quantity.map(FieldAt::from),
                })
                .collect(),
        }
    }
}

/// Each data point the field mapping looks for in `resource`, by its mapping name (hubhook.toml's
/// `[mapping]` keys): where it was found, or null. An item's external ID and quantity are under
/// `products`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DryRunFields {
    pub reservation_id: Option<FieldAt>,
    pub room_number: Option<FieldAt>,
    pub first_name: Option<FieldAt>,
    pub last_name: Option<FieldAt>,
    pub order_id: Option<FieldAt>,
    pub products: Option<ProductsAt>,
    pub delivery_time: Option<FieldAt>,
    pub notes: Option<FieldAt>,
    pub charge_amount: Option<FieldAt>,
    pub language: Option<FieldAt>,
    pub check_in: Option<FieldAt>,
    pub check_out: Option<FieldAt>,
}

impl DryRunFields {
    /// Where `map` finds each data point in an envelope's `resource` (the webhook's lookups).
    pub fn of(map: &FieldMap, resource: &Json<'_>) -> Self {
        let at = |f: Field| map.found(f, resource).map(FieldAt::from);
        Self {
            reservation_id: at(Field::ReservationId),
            room_number: at(Field::RoomNumber),
            first_name: at(Field::FirstName),
            last_name: at(Field::LastName),
            order_id: at(Field::OrderId),
            products: map.found_products(resource).map(ProductsAt::from),
            delivery_time: at(Field::DeliveryTime),
            notes: at(Field::Notes),
            charge_amount: at(Field::ChargeAmount),
            language: at(Field::Language),
            check_in: at(Field::CheckIn),
            check_out: at(Field::CheckOut),
        }
    }

    /// For a body that is not a Duve envelope: nothing found.
    pub fn of_envelope(map: &FieldMap, envelope: Option<&Envelope<'_>>) -> Self {
        envelope.map_or_else(Self::default, |e| Self::of(map, &e.resource))
    }
}

/// The dry run of a body over the webhook's size limit (row 0): it is not read any further.
pub fn too_large(limit: usize) -> DryRun {
    DryRun {
        outcome: "refused",
        status: STATUS_TOO_LARGE,
        code: Some(CODE_TOO_LARGE),
        message: Some(MESSAGE_TOO_LARGE),
        reason: None,
        details: vec![format!(
            "the body is larger than the limit of {limit} bytes"
        )],
        tasks: Vec::new(),
        skipped: Vec::new(),
        fields: DryRunFields::default(),
    }
}

fn ids(tasks: &[Task]) -> String {
    tasks
        .iter()
        .map(|t| t.id.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `order "o-1"`, or `this body` when the order has no id (its key is the body's hash).
fn order_words(key: Option<&str>) -> String {
    match key {
        Some(k) if !k.starts_with("sha256:") => format!("order {k:?}"),
        _ => "this body (it has no order id)".to_owned(),
    }
}

/// What the reservation's stored context filled in that the order lacked.
fn context_lines(plan: &Plan, context: Option<&ReservationFacts>) -> Vec<String> {
    let (Plan::Order(p), Some(c)) = (plan, context) else {
        return Vec::new();
    };
    let reservation = p.data.reservation_id.as_deref().unwrap_or_default();
    let mut lines = Vec::new();
    let mut filled = |what: &str, own: &Option<String>, stored: &Option<String>| {
        if let (None, Some(v)) = (own, stored) {
            lines.push(format!(
                "{what} {v:?} comes from reservation {reservation:?}'s earlier events (the order carries none)"
            ));
        }
    };
    filled("room number", &p.data.room_number, &c.room_number);
    filled("verified first name", &p.data.first_name, &c.first_name);
    lines
}

/// The dry run's report of a settlement: `context` is the reservation context the store read for
/// it, `fields` where the mapping found each data point.
pub fn dry_run(
    plan: &Plan,
    settled: Settlement<'_>,
    context: Option<&ReservationFacts>,
    fields: DryRunFields,
) -> DryRun {
    let status = settled.outcome.status();
    let key = plan.state_key();
    let mut code = None;
    let mut message = None;
    let mut reason = None;
    let mut skipped = Vec::new();
    let mut details = Vec::new();
    // Exhaustive on purpose: an outcome intake gains must be given its word and details here.
    let (outcome, tasks) = match settled.outcome {
        Outcome::Created {
            tasks, skipped: s, ..
        } => {
            let list: Vec<String> = tasks
                .iter()
                .map(|t| format!("{} x{} for room {}", t.task_name, t.quantity, t.room))
                .collect();
            details.push(format!(
                "{} task(s) would be created: {}",
                tasks.len(),
                list.join("; ")
            ));
            if !s.is_empty() {
                details.push(format!(
                    "{} item(s) would be skipped (see skipped)",
                    s.len()
                ));
            }
            details.extend(context_lines(plan, context));
            skipped = s;
            ("created", tasks)
        }
        Outcome::Merged {
            tasks, skipped: s, ..
        } => {
            let list: Vec<String> = tasks
                .iter()
                .map(|t| format!("{} for room {} (now x{})", t.task_name, t.room, t.quantity))
                .collect();
            details.push(format!(
                "a repeated request within the hotel's merge window: no new task, {} open task(s) would grow: {}",
                tasks.len(),
                list.join("; ")
            ));
            details.extend(context_lines(plan, context));
            skipped = s;
            ("merged", tasks)
        }
        Outcome::Duplicate { tasks, .. } => {
            details.push(format!(
                "{} was received before: the webhook would be answered with its {} task(s) ({}) and change nothing",
                order_words(key),
                tasks.len(),
                ids(&tasks)
            ));
            ("duplicate", tasks)
        }
        Outcome::CancelledBeforeArrival => {
            reason = Some(REASON_CANCELLED_EARLY);
            details.push(format!(
                "{}'s cancellation arrived before it: no task would be made",
                order_words(key)
            ));
            ("cancelled", Vec::new())
        }
        Outcome::Cancelled { tasks } => {
            let moved: Vec<&str> = settled.moves.iter().map(|m| m.task_id.as_str()).collect();
            details.push(if moved.is_empty() {
                format!(
                    "every task of {} is already done or cancelled: nothing would change",
                    order_words(key)
                )
            } else {
                format!(
                    "{} task(s) of {} would be cancelled: {}",
                    moved.len(),
                    order_words(key),
                    moved.join(", ")
                )
            });
            ("cancelled", tasks)
        }
        Outcome::Recorded => {
            details.push(match (plan, &settled.context) {
                (Plan::Refund { .. }, _) if settled.notes.is_empty() => format!(
                    "no task of {} is known: nothing would be noted",
                    order_words(key)
                ),
                (Plan::Refund { note, .. }, _) => format!(
                    "\"{note}\" would be noted in the history of {} task(s)",
                    settled.notes.len()
                ),
                (_, Some(c)) => {
                    let said: Vec<String> = [
                        ("room", c.room_number),
                        ("first name", c.first_name),
                        ("last name", c.last_name),
                        ("language", c.language),
                        ("check-in", c.check_in),
                        ("check-out", c.check_out),
                    ]
                    .into_iter()
                    .filter_map(|(what, v)| v.map(|v| format!("{what} {v:?}")))
                    .collect();
                    format!(
                        "what it says about reservation {:?} would be kept for later orders: {}",
                        c.reservation_id,
                        said.join(", ")
                    )
                }
                _ => "nothing would be kept: it names no reservation, or says nothing about one"
                    .to_owned(),
            });
            ("recorded", Vec::new())
        }
        Outcome::Ignored { reason: r } => {
            reason = Some(r);
            details.push(match (r, plan, &fields.charge_amount) {
                (REASON_PAID, _, Some(c)) => format!(
                    "{r}: {} is {} and the hotel does not sync paid orders",
                    c.path, c.value
                ),
                (_, Plan::Cancel { .. }, _) => format!(
                    "{r}: {} was never received; its cancellation would be remembered, so that its creation delivered later makes no task",
                    order_words(key)
                ),
                _ => r.to_owned(),
            });
            ("ignored", Vec::new())
        }
        Outcome::Refused(r) => {
            code = Some(r.code());
            message = Some(r.message());
            details = r.details;
            ("refused", Vec::new())
        }
    };
    DryRun {
        outcome,
        status,
        code,
        message,
        reason,
        details,
        tasks: tasks.into_iter().map(Unsaved).collect(),
        skipped,
        fields,
    }
}

/// Why an inbound log entry cannot be replayed (answered 409).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotReplayable {
    /// Not a refusal for data the hotel can fix: the entry's code.
    NotFixable(String),
    /// A body that was not a Duve webhook: nothing the hotel can fix.
    NotDuve,
    /// The body was not kept whole (over the size limit, or stored otherwise than received).
    Incomplete(String),
}

impl NotReplayable {
    /// The error code.
    pub fn code(&self) -> &'static str {
        match self {
            NotReplayable::NotFixable(_) | NotReplayable::NotDuve => "NOT_REPLAYABLE",
            NotReplayable::Incomplete(_) => "BODY_INCOMPLETE",
        }
    }

    /// The error message.
    pub fn message(&self) -> &'static str {
        match self {
            NotReplayable::NotFixable(_) | NotReplayable::NotDuve => {
                "Only a delivery refused for data the hotel can fix can be replayed."
            }
            NotReplayable::Incomplete(_) => "The stored body is not the whole delivery.",
        }
    }

    /// For people.
    pub fn details(&self) -> Vec<String> {
        match self {
            NotReplayable::NotFixable(code) => vec![format!(
                "this delivery was answered {code}; a replay decides again a refusal for an unknown \
                 room or service ({FIXABLE_ROOM}) or for a missing room number, verified first name \
                 or service external ID ({FIXABLE_FIELDS})"
            )],
            NotReplayable::NotDuve => vec![
                "the body was not a Duve webhook (not a JSON object with an event): deciding it \
                 again would refuse it again"
                    .to_owned(),
            ],
            NotReplayable::Incomplete(why) => vec![why.clone()],
        }
    }
}

/// The code of a refusal for an unknown room or service (rows 3 and 3b).
const FIXABLE_ROOM: &str = "WEB_HUK_HUBOS_REQUEST_FAIL";
/// The code of a refusal for missing data (row 2), which reservation context may supply later.
const FIXABLE_FIELDS: &str = "WEB_HUK_INVALID_BODY";

/// Whether an inbound entry answered `code` for a body with event `event` may be replayed, judged
/// on what the log page lists (the whole body is checked by [`whole_body`] before deciding).
///
/// Only a refusal for data the hotel can fix: an unknown room or service, or a missing room, name
/// or service (which reservation context may supply later). An accepted delivery is not replayed:
/// Duve's own redeliveries of it are answered as duplicates, and replaying a reservation event
/// could put an older context back over a newer one.
pub fn replayable(code: &str, event: Option<&str>) -> Result<(), NotReplayable> {
    if code == CODE_TOO_LARGE {
        return Err(NotReplayable::Incomplete(format!(
            "the body was over the size limit ({CODE_TOO_LARGE}) and was not kept"
        )));
    }
    if code != FIXABLE_ROOM && code != FIXABLE_FIELDS {
        return Err(NotReplayable::NotFixable(code.to_owned()));
    }
    if event.is_none() {
        return Err(NotReplayable::NotDuve);
    }
    Ok(())
}

/// The stored body of a replayable entry, parsed: refused unless it is a Duve envelope with the
/// event the log recorded, i.e. the delivery as received (a body the webhook parsed is kept byte
/// for byte; one cut or altered in storage would not read back so).
pub fn whole_body<'b>(event: Option<&str>, body: &'b [u8]) -> Result<Envelope<'b>, NotReplayable> {
    let incomplete = |why: &str| NotReplayable::Incomplete(why.to_owned());
    let envelope = duve::parse_envelope(body);
    let stored = super::event_name(&envelope);
    match (envelope, stored) {
        (Ok(env), Some(name)) if Some(name.as_str()) == event => Ok(env),
        (Ok(_), _) => Err(incomplete(
            "the stored body names another event than the one recorded for this delivery",
        )),
        (Err(e), _) => Err(NotReplayable::Incomplete(format!(
            "the stored body does not read back as the Duve webhook received ({e})"
        ))),
    }
}

#[cfg(test)]
#[path = "review_tests.rs"]
mod tests;
