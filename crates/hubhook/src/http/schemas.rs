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
    intake::review::DryRun => DryRun,
    intake::review::Unsaved => UnsavedTask,
    intake::review::DryRunFields => DryRunFields,
    intake::review::FieldAt => FieldAt,
    intake::review::ProductsAt => ProductsAt,
    intake::review::ItemAt => ItemAt,
    store::TaskDetail => TaskDetail,
    store::InboundEntry => InboundEntry,
    store::Header => Header,
    store::Subscription => Subscription,
    store::Attempt => Attempt,
    store::Delivery => Delivery,
    domain::report::Report => Report,
    domain::report::DepartmentFigures => DepartmentFigures,
    domain::report::ServiceFigures => ServiceFigures,
}

/// A subscription request's schema is built from the formats its check uses (`http::formats`).
impl PartialSchema for outbox::SubscriptionRequest {
    fn schema() -> RefOr<Schema> {
        super::formats::subscription_request()
    }
}

impl ToSchema for outbox::SubscriptionRequest {}

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
    #[schema(format = DateTime)]
    due_at: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    /// The guest's requested time, as an instant; null when the guest asked for none
    #[schema(format = DateTime)]
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
    #[schema(format = DateTime)]
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

/// An event a subscription may hear: a task's, or the shift report (`report.shift`).
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
    /// The task's assignee changed: `previousAssignee` says who had it
    #[serde(rename = "task.assigned")]
    Assigned,
    /// A repeated order merged into the task, or a merged order cancelled: `merge` says which
    /// order and by how much the quantity changed
    #[serde(rename = "task.merged")]
    Merged,
    /// A shift ended: the body's `data` is its REPORT (a slack subscription gets a summary line)
    #[serde(rename = "report.shift")]
    ShiftReport,
}

/// What a subscription sends: `webhook` (signed JSON), `duve-connect` (a template into Duve
/// Connect, Bearer token), `slack` (`{"text": one line}` to a Slack, Mattermost or Rocket.Chat
/// incoming webhook, unsigned)
#[derive(ToSchema)]
#[serde(rename_all = "kebab-case")]
enum SubscriptionKind {
    Webhook,
    DuveConnect,
    Slack,
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

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
struct TaskDetail {
    #[serde(flatten)]
    task: domain::Task,
    order_id: Option<String>,
    reservation_id: Option<String>,
    notes: Option<String>,
    language: Option<String>,
    #[schema(format = DateTime)]
    updated_at: String,
    events: Vec<domain::TaskEvent>,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
struct InboundEntry {
    id: i64,
    #[schema(format = DateTime)]
    received_at: String,
    event: Option<String>,
    code: String,
    details: Vec<String>,
    task_ids: Vec<String>,
    duration_ms: f64,
    /// The entry this one replayed (a replay, not a delivery from Duve); null for Duve's
    replay_of: Option<i64>,
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
    #[schema(format = DateTime)]
    previous_secret_until: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
}

#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
struct Attempt {
    #[schema(format = DateTime)]
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
    #[schema(format = DateTime)]
    next_attempt_at: Option<String>,
    code: Option<String>,
    message: Option<String>,
    #[schema(format = DateTime)]
    created_at: String,
    #[schema(format = DateTime)]
    updated_at: String,
    /// Only in a single delivery's detail.
    #[serde(skip_serializing_if = "Option::is_none")]
    payload: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    attempt_log: Option<Vec<store::Attempt>>,
}

/// What a Duve body would do for the hotel as a webhook, decided by the webhook's own code from
/// what is stored now; nothing is stored (CONTRACT.md section 7's DRY-RUN).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
struct DryRun {
    outcome: DryRunOutcome,
    /// The HTTP status the webhook would answer (201, 200, 400, 403 or 413)
    #[schema(minimum = 200, maximum = 599)]
    status: u16,
    /// A refusal's code, as the webhook's (e.g. `WEB_HUK_HUBOS_REQUEST_FAIL`)
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
    /// A refusal's message, as the webhook's (e.g. `Unknown room`)
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    /// The webhook answer's `reason`: why it is ignored, or that its cancellation came first
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// For people: a refusal's details, or what the webhook would do and why (e.g. a room number
    /// taken from the reservation's earlier events)
    details: Vec<String>,
    /// The tasks the webhook's answer would show (new ones as they would be made; a duplicate's
    /// or a cancellation's as stored), without ids
    tasks: Vec<intake::review::Unsaved>,
    /// Ordered items that would not become tasks, and why
    skipped: Vec<intake::Skipped>,
    fields: intake::review::DryRunFields,
}

/// A dry run's outcome: the webhook answer's `status`, or `refused`.
#[derive(ToSchema)]
#[serde(rename_all = "snake_case")]
enum DryRunOutcome {
    Created,
    Duplicate,
    Merged,
    Ignored,
    Cancelled,
    Recorded,
    Refused,
}

/// A task as the webhook's answer would show it, without an id (TASK less `id`).
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
struct UnsavedTask {
    external_id: Option<String>,
    task_name: String,
    room: String,
    guest_name: Option<String>,
    quantity: u32,
    status: domain::TaskStatus,
    due_at: Option<String>,
    created_at: String,
    scheduled_for: Option<String>,
    department: Option<String>,
    priority: domain::escalation::Priority,
    #[schema(schema_with = escalated_schema)]
    escalated: bool,
    order_ids: Vec<String>,
    /// The assignee's email, or null
    assignee: Option<String>,
    /// Whether the archiver took it off the board
    archived: bool,
}

/// Where the field mapping (docs/duve-mapping.md) found each data point in `resource`, by the
/// mapping's field names; null when no path of the field held a usable value. Each item's
/// `external_id` and `quantity` are under `products`.
#[derive(ToSchema)]
struct DryRunFields {
    reservation_id: Option<intake::review::FieldAt>,
    room_number: Option<intake::review::FieldAt>,
    first_name: Option<intake::review::FieldAt>,
    last_name: Option<intake::review::FieldAt>,
    order_id: Option<intake::review::FieldAt>,
    products: Option<intake::review::ProductsAt>,
    delivery_time: Option<intake::review::FieldAt>,
    notes: Option<intake::review::FieldAt>,
    charge_amount: Option<intake::review::FieldAt>,
    language: Option<intake::review::FieldAt>,
    check_in: Option<intake::review::FieldAt>,
    check_out: Option<intake::review::FieldAt>,
}

/// A data point as the mapping read it, and the JSON path (from `resource`) it was found at.
#[derive(ToSchema)]
struct FieldAt {
    /// e.g. `101`
    value: String,
    /// e.g. `roomNumber`, `order.products[0].externalId`
    path: String,
}

/// The ordered products: every item (a multi-item product's items flattened), and the path of
/// the list.
#[derive(ToSchema)]
struct ProductsAt {
    value: Vec<intake::review::ItemAt>,
    /// e.g. `order.products`
    path: String,
}

/// One ordered item: its position (`0`, or `1.0` for item 0 of product 1), name, and where its
/// service external ID and quantity were found (an item without a quantity counts as 1).
#[derive(ToSchema)]
struct ItemAt {
    key: String,
    name: Option<String>,
    external_id: Option<intake::review::FieldAt>,
    quantity: Option<intake::review::FieldAt>,
}

/// The shift report (CONTRACT.md section 7): the tasks created in `[from, to)`, each counted as
/// it stood at `to` (`created = done + cancelled + open`). Minutes have one decimal; a median or
/// p90 is the nearest rank, null when nothing was measured
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
struct Report {
    /// The window's start (included)
    #[schema(format = DateTime, example = "2026-07-01T07:00:00.000Z")]
    from: String,
    /// The window's end (excluded)
    #[schema(format = DateTime, example = "2026-07-01T15:00:00.000Z")]
    to: String,
    /// Tasks created in the window
    #[schema(minimum = 0)]
    created: u32,
    /// Of those, done by `to`
    #[schema(minimum = 0)]
    done: u32,
    /// Of those, cancelled by `to`
    #[schema(minimum = 0)]
    cancelled: u32,
    /// Of those, neither done nor cancelled at `to`
    #[schema(minimum = 0)]
    open: u32,
    /// Of those, escalated (not accepted in time, or not done by its due time) by `to`
    #[schema(minimum = 0)]
    escalated: u32,
    /// Per department, by name; tasks of no department last (`department` null)
    by_department: Vec<domain::report::DepartmentFigures>,
    /// Per service (catalog external ID; tasks made by name, by name), the most requested first
    by_service: Vec<domain::report::ServiceFigures>,
}

/// One department's figures in a shift report
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
struct DepartmentFigures {
    /// Null for the tasks of no department
    department: Option<String>,
    #[schema(minimum = 0)]
    created: u32,
    #[schema(minimum = 0)]
    done: u32,
    #[schema(minimum = 0)]
    open: u32,
    #[schema(minimum = 0)]
    escalated: u32,
    /// Median minutes from creation to the first move to accepted or beyond
    #[schema(minimum = 0)]
    median_minutes_to_accept: Option<f64>,
    /// Median minutes from creation to done
    #[schema(minimum = 0)]
    median_minutes_to_done: Option<f64>,
    /// 90th percentile of the minutes from creation to done
    #[schema(minimum = 0)]
    p90_minutes_to_done: Option<f64>,
}

/// One service's figures in a shift report
#[derive(ToSchema)]
#[serde(rename_all = "camelCase")]
struct ServiceFigures {
    /// The catalog's external ID; null for tasks made by name
    external_id: Option<String>,
    /// The task name (the newest task's, should the entry have been renamed)
    name: String,
    #[schema(minimum = 0)]
    created: u32,
    #[schema(minimum = 0)]
    done: u32,
    /// Median minutes from creation to done
    #[schema(minimum = 0)]
    median_minutes_to_done: Option<f64>,
}

#[cfg(test)]
mod tests;
