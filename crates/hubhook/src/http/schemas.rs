//! The OpenAPI schemas of the bodies whose Rust types live below the HTTP edge (`domain`, `store`,
//! `intake`, `outbox`): those layers know nothing of OpenAPI, so their types are described here.
//!
//! Each type keeps its own serde shape (the CLI's `--json`, the outbound payloads and the API all
//! write the same JSON); this module gives it `utoipa::ToSchema` by pointing at a twin that only
//! describes that shape. The twins are never built. The tests below serialize a value of every
//! described type and check that its fields are exactly the ones its schema lists, so a field added
//! to a type and not here fails the build's tests, not the API's readers.

// The twins exist only for their derived schema: nothing constructs or reads them.
#![allow(dead_code)]

use std::borrow::Cow;

use utoipa::{
    PartialSchema, ToSchema,
    openapi::{RefOr, schema::Schema},
};

use crate::{domain, intake, outbox, store};

/// Gives each type on the left the schema (and name) of its twin on the right.
macro_rules! described_by {
    ($($ty:ty => $twin:ty),* $(,)?) => {$(
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                <$twin as PartialSchema>::schema()
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                <$twin as ToSchema>::name()
            }

            fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
                <$twin as ToSchema>::schemas(schemas)
            }
        }
    )*};
}

described_by! {
    domain::Task => Task,
    domain::TaskEvent => TaskEvent,
    domain::TaskStatus => TaskStatus,
    domain::escalation::Priority => Priority,
    domain::outbound::EventType => EventType,
    domain::outbound::SubscriptionKind => SubscriptionKind,
    domain::outbound::DeliveryStatus => DeliveryStatus,
    intake::Skipped => Skipped,
    outbox::SubscriptionRequest => SubscriptionRequest,
    store::TaskDetail => TaskDetail,
    store::InboundEntry => InboundEntry,
    store::Header => Header,
    store::Subscription => Subscription,
    store::Attempt => Attempt,
    store::Delivery => Delivery,
}

// The twins. A `///` comment becomes the schema's description; `//` stays out of the document.
// Fields of described types name the real types (`domain::TaskStatus`), whose schema is the twin's.

/// A task as the webhook confirmation and the API show it (CONTRACT.md's TASK).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
struct Task {
    id: String,
    external_id: Option<String>,
    task_name: String,
    room: String,
    guest_name: Option<String>,
    quantity: u32,
    status: domain::TaskStatus,
    /// When it should be done: the guest's requested time, or its creation plus the service's SLA
    due_at: Option<String>,
    created_at: String,
    /// The guest's requested time, as an instant; null when the guest asked for none
    scheduled_for: Option<String>,
    /// The department that does it (from the catalog)
    department: Option<String>,
    priority: domain::escalation::Priority,
    /// `false`, or why it escalated: `unaccepted` (still open past the hotel's escalate-after) or
    /// `overdue` (not done by its due time); `overdue` when both
    #[schema(schema_with = escalated_schema)]
    escalated: bool,
    /// The Duve orders the task stands for (none for a task made by staff)
    order_ids: Vec<String>,
    /// The email of the user the task is assigned to; null when nobody has it
    assignee: Option<String>,
    /// Left open past the hotel's archive-after: off the board, still listed here with its history
    archived: bool,
}

/// TASK's `escalated`: `false` or a reason.
fn escalated_schema() -> Schema {
    use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Type};
    let one_of = OneOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Boolean)
                .enum_values(Some([false])),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["unaccepted", "overdue"])),
        )
        .build();
    Schema::OneOf(one_of)
}

/// A task's priority: `high` once it escalated.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
enum Priority {
    Normal,
    High,
}

/// One line of a task's history: who moved it, from what, to what, when, and why.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
struct TaskEvent {
    at: String,
    actor: String,
    from: Option<domain::TaskStatus>,
    to: domain::TaskStatus,
    note: Option<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
enum TaskStatus {
    Open,
    Accepted,
    InProgress,
    Done,
    Cancelled,
}

/// A task event a subscription may hear.
#[derive(ToSchema)]
enum EventType {
    #[serde(rename = "task.created")]
    Created,
    #[serde(rename = "task.status_changed")]
    StatusChanged,
    #[serde(rename = "task.completed")]
    Completed,
    #[serde(rename = "task.cancelled")]
    Cancelled,
    #[serde(rename = "task.overdue")]
    Overdue,
    #[serde(rename = "task.escalated")]
    Escalated,
    #[serde(rename = "task.assigned")]
    Assigned,
}

/// What a subscription sends.
#[derive(ToSchema)]
#[serde(rename_all = "kebab-case")]
enum SubscriptionKind {
    Webhook,
    DuveConnect,
}

/// Where a delivery stands.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
enum DeliveryStatus {
    Pending,
    Delivered,
    Failed,
}

/// An ordered item that did not become a task, and why (listed in the 201 confirmation).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
struct Skipped {
    name: Option<String>,
    external_id: Option<String>,
    reason: String,
}

/// A subscription as asked for (by the CLI or the API), before it is checked.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SubscriptionRequest {
    url: String,
    /// `webhook` (default) or `duve-connect`
    kind: Option<String>,
    /// Event types; all of them when absent
    events: Option<Vec<String>>,
    /// Extra headers sent with every delivery, as `Name: value`
    headers: Option<Vec<String>>,
    /// Duve Connect: the Bearer token
    bearer: Option<String>,
    /// Duve Connect: the body template (placeholders `{{reservationId}}`, `{{orderId}}`,
    /// `{{taskId}}`, `{{taskName}}`, `{{status}}`, `{{room}}`, `{{updatedAt}}`)
    body_template: Option<String>,
    /// Duve Connect: the additional field the default template writes (default `hubhook_task_status`)
    field: Option<String>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
struct TaskDetail {
    #[serde(flatten)]
    task: domain::Task,
    order_id: Option<String>,
    reservation_id: Option<String>,
    notes: Option<String>,
    language: Option<String>,
    updated_at: String,
    events: Vec<domain::TaskEvent>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
struct InboundEntry {
    id: i64,
    received_at: String,
    event: Option<String>,
    code: String,
    details: Vec<String>,
    task_ids: Vec<String>,
    duration_ms: f64,
    body: String,
}

#[derive(ToSchema)]
struct Header {
    name: String,
    value: String,
}

/// A subscription as the API and the CLI show it: never its secret or Bearer token.
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
struct Subscription {
    id: String,
    hotel_id: String,
    kind: domain::outbound::SubscriptionKind,
    url: String,
    events: Vec<domain::outbound::EventType>,
    headers: Vec<store::Header>,
    enabled: bool,
    disabled_reason: Option<String>,
    /// Until when the previous secret still signs, after a rotation.
    previous_secret_until: Option<String>,
    created_at: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
struct Attempt {
    at: String,
    status: Option<u16>,
    error: Option<String>,
    latency_ms: f64,
    response: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
struct Delivery {
    /// Also the `webhook-id` header: stable across the delivery's attempts.
    id: String,
    hotel_id: String,
    subscription_id: String,
    task_id: Option<String>,
    event: String,
    status: domain::outbound::DeliveryStatus,
    attempts: u32,
    next_attempt_at: Option<String>,
    code: Option<String>,
    message: Option<String>,
    created_at: String,
    updated_at: String,
    /// Only in a single delivery's detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempt_log: Option<Vec<store::Attempt>>,
}

#[cfg(test)]
mod tests;
