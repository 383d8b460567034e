//! The OpenAPI side of `domain::formats`: each format as a schema, and the parameters and request
//! bodies built from them, so the document declares the very patterns, lengths, ranges and enums
//! the server checks (docs/api.md, "What the document promises").

use utoipa::openapi::{
    RefOr, Schema,
    schema::{
        AdditionalProperties, AllOfBuilder, AnyOfBuilder, ArrayBuilder, KnownFormat, ObjectBuilder,
        OneOfBuilder, SchemaFormat, SchemaType, Type,
    },
};

use crate::{
    domain::{
        TaskStatus,
        formats::{self, Format},
    },
    intake::MAX_QUANTITY,
    outbox::{DeliveryStatus, EventType, MAX_EVENT_NAMES, MAX_HEADERS, SubscriptionKind},
};

/// A string of format `f`.
pub fn string(f: &Format) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(f.pattern))
        .min_length(Some(f.min_chars).filter(|n| *n > 0))
        .max_length(Some(f.max_chars))
}

/// A string of format `f`, or null.
fn string_or_null(f: &Format) -> ObjectBuilder {
    string(f).schema_type(SchemaType::from_iter([Type::String, Type::Null]))
}

/// Text that may also come as a JSON integer (room numbers, external IDs: Duve sends both).
fn string_or_integer(f: &Format, nullable: bool) -> Schema {
    let mut one_of = OneOfBuilder::new().item(string(f)).item(
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(0))
            .maximum(Some(u64::MAX)),
    );
    if nullable {
        one_of = one_of.item(ObjectBuilder::new().schema_type(Type::Null));
    }
    one_of.build().into()
}

fn null() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::Null)
}

fn enumeration<'a>(values: impl IntoIterator<Item = &'a str>) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
}

/// `limit`: 1 to `max`, default 50.
pub fn limit() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(1))
        .maximum(Some(super::api::MAX_LIMIT))
        .default(Some(super::api::DEFAULT_LIMIT.into()))
        .into()
}

/// `cursor`: the `next` of the previous page.
pub fn cursor() -> Schema {
    string(&formats::CURSOR).into()
}

/// A task status, as `GET /api/v1/tasks` filters by it.
pub fn task_status() -> Schema {
    enumeration(TaskStatus::ALL.map(TaskStatus::as_str)).into()
}

/// A delivery status, as `GET /api/v1/deliveries` filters by it.
pub fn delivery_status() -> Schema {
    enumeration(DeliveryStatus::ALL.map(DeliveryStatus::as_str)).into()
}

pub fn room() -> Schema {
    string(&formats::ROOM).into()
}

pub fn department() -> Schema {
    string(&formats::DEPARTMENT).into()
}

/// An RFC 3339 instant (`domain::formats::date_time`).
pub fn date_time() -> Schema {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .into()
}

pub fn boolean() -> Schema {
    ObjectBuilder::new().schema_type(Type::Boolean).into()
}

pub fn task_id() -> Schema {
    string(&formats::TASK_ID)
        .format(Some(SchemaFormat::Custom("uuid".into())))
        .into()
}

pub fn subscription_id() -> Schema {
    string(&formats::SUBSCRIPTION_ID).into()
}

pub fn delivery_id() -> Schema {
    string(&formats::DELIVERY_ID).into()
}

/// The body of `POST /api/v1/tasks`: a room, and a catalog entry or a name.
pub fn new_task() -> RefOr<Schema> {
    let fields = ObjectBuilder::new()
        .property("room", string_or_integer(&formats::ROOM, false))
        .required("room")
        .property(
            "externalId",
            with_description(
                string_or_integer(&formats::EXTERNAL_ID, true),
                "A catalog external ID; the task takes its name, department and SLA",
            ),
        )
        .property(
            "name",
            string_or_null(&formats::TASK_NAME)
                .description(Some("The task's name (required without externalId)")),
        )
        .property(
            "quantity",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::Integer, Type::Null]))
                .minimum(Some(1))
                .maximum(Some(MAX_QUANTITY))
                .default(Some(1.into())),
        )
        .property("notes", string_or_null(&formats::NOTE))
        .property(
            "dueAt",
            string_or_null(&formats::DUE_AT).description(Some(
                "RFC 3339, or a local date and time or HH:MM in the hotel's timezone",
            )),
        )
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    // Present and not null: an externalId, or a name.
    let named = AnyOfBuilder::new()
        .item(ObjectBuilder::new().required("externalId").property(
            "externalId",
            string_or_integer(&formats::EXTERNAL_ID, false),
        ))
        .item(
            ObjectBuilder::new()
                .required("name")
                .property("name", string(&formats::TASK_NAME)),
        );
    let all_of = AllOfBuilder::new()
        .item(fields)
        .item(named)
        .description(Some("A task made by staff or an integrator"))
        .build();
    RefOr::T(Schema::AllOf(all_of))
}

fn with_description(schema: Schema, text: &str) -> Schema {
    match schema {
        Schema::OneOf(mut o) => {
            o.description = Some(text.to_owned());
            Schema::OneOf(o)
        }
        other => other,
    }
}

/// The body of `POST /api/v1/tasks/{id}/status`.
pub fn status_move() -> RefOr<Schema> {
    ObjectBuilder::new()
        .property(
            "status",
            // `open` too: a move to it is well formed, and refused by the status machine (409).
            enumeration(TaskStatus::ALL.map(TaskStatus::as_str)),
        )
        .required("status")
        .property("note", string_or_null(&formats::NOTE))
        .additional_properties(Some(AdditionalProperties::FreeForm(false)))
        .into()
}

/// The body of `POST /api/v1/webhooks`: a signed webhook, or a Duve Connect subscription.
pub fn subscription_request() -> RefOr<Schema> {
    let events = || {
        ArrayBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
            .items(enumeration(EventType::ALL.map(EventType::as_str)))
            .min_items(Some(1))
            .max_items(Some(MAX_EVENT_NAMES))
            .description(Some("Event types; the kind's defaults when absent"))
    };
    let headers = || {
        ArrayBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Array, Type::Null]))
            .items(string(&formats::HEADER))
            .max_items(Some(MAX_HEADERS))
            .description(Some(
                "Extra headers sent with every delivery, as `Name: value`",
            ))
    };
    let common = |o: ObjectBuilder| {
        o.property("url", string(&formats::URL))
            .required("url")
            .property("events", events())
            .property("headers", headers())
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
    };
    let webhook = common(ObjectBuilder::new())
        .title(Some("Signed webhook"))
        .property(
            "kind",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
                .enum_values(Some([
                    serde_json::Value::from(SubscriptionKind::Webhook.as_str()),
                    serde_json::Value::Null,
                ])),
        )
        .property("bearer", null())
        .property("bodyTemplate", null())
        .property("field", null());
    let duve_connect = common(ObjectBuilder::new())
        .title(Some("Duve Connect"))
        .property(
            "kind",
            enumeration([SubscriptionKind::DuveConnect.as_str()]),
        )
        .required("kind")
        .property(
            "bearer",
            string(&formats::BEARER).description(Some("The Duve Connect access token")),
        )
        .required("bearer")
        .property(
            "bodyTemplate",
            string_or_null(&formats::BODY_TEMPLATE).description(Some(
                "JSON with placeholders {{reservationId}}, {{orderId}}, {{taskId}}, \
                 {{taskName}}, {{status}}, {{room}}, {{updatedAt}}",
            )),
        )
        .property(
            "field",
            string_or_null(&formats::FIELD).description(Some(
                "The additional field the default template writes (default hubhook_task_status)",
            )),
        );
    let slack = common(ObjectBuilder::new())
        .title(Some(
            "Chat (Slack, Mattermost, Rocket.Chat incoming webhook)",
        ))
        .property("kind", enumeration([SubscriptionKind::Slack.as_str()]))
        .required("kind")
        .property("bearer", null())
        .property("bodyTemplate", null())
        .property("field", null());
    let one_of = OneOfBuilder::new()
        .item(webhook)
        .item(duve_connect)
        .item(slack)
        .description(Some(
            "A subscription as asked for: a signed webhook (kind absent, null or webhook), a \
             Duve Connect call (kind duve-connect, with its bearer token; it cannot hear \
             report.shift: 422) or a chat line (kind slack). Without events: every task.* \
             event for a webhook or Duve Connect; task.created, task.status_changed, \
             task.escalated, task.merged and report.shift for a chat",
        ))
        .build();
    RefOr::T(Schema::OneOf(one_of))
}

/// `custom_hotel_id`: a hotel's id.
pub fn hotel_id() -> Schema {
    string(&formats::HOTEL_ID).into()
}

/// A Duve outgoing webhook: `{"accountId", "event", "resource"}` (CONTRACT.md section 1). Any
/// other field is allowed and ignored; what `resource` holds depends on the event and on the data
/// points the hotel ticks in Duve (docs/duve-mapping.md).
pub fn duve_webhook() -> RefOr<Schema> {
    ObjectBuilder::new()
        .property(
            "event",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("The Duve event key, e.g. orderCreated")),
        )
        .required("event")
        .property(
            "resource",
            ObjectBuilder::new()
                .schema_type(SchemaType::from_iter([Type::Object, Type::Null]))
                .description(Some("The reservation, with the order for order events")),
        )
        .property(
            "accountId",
            // Any value: hubhook keeps a string or a number and ignores anything else, since it
            // decides nothing (a Duve webhook is never refused for it).
            ObjectBuilder::new()
                .schema_type(SchemaType::AnyValue)
                .description(Some(
                    "Duve's account id (a string or a number; anything else is ignored)",
                )),
        )
        .examples([serde_json::json!({
            "accountId": "5f1e0c3b2a",
            "event": "orderCreated",
            "resource": {
                "id": "res-100",
                "roomNumber": "101",
                "verifiedFirstName": "Ana",
                "order": {"id": "order-100", "products": [{"externalId": "4", "quantity": 1}]}
            }
        })])
        .into()
}
