//! Every described type's JSON has exactly the fields its schema lists, and the schema requires
//! exactly those that are never null or absent.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use crate::{
    domain::{
        Task, TaskEvent, TaskStatus,
        escalation::{Priority, Reason},
        outbound::{DeliveryStatus, EventType, SubscriptionKind},
    },
    intake::Skipped,
    outbox::SubscriptionRequest,
    store::{Attempt, Delivery, Header, InboundEntry, Subscription, TaskDetail},
};

fn document() -> Value {
    serde_json::to_value(crate::http::openapi()).expect("the document serializes")
}

fn schema<'a>(doc: &'a Value, name: &str) -> &'a Value {
    let s = &doc["components"]["schemas"][name];
    assert!(s.is_object(), "no schema {name} in the document");
    s
}

/// The properties (`key = "properties"`) or required fields (`key = "required"`) of a schema,
/// following `$ref` and `allOf` (a flattened field).
fn fields(doc: &Value, s: &Value, key: &str) -> BTreeSet<String> {
    if let Some(r) = s["$ref"].as_str() {
        let name = r.trim_start_matches("#/components/schemas/");
        return fields(doc, schema(doc, name), key);
    }
    let mut out = BTreeSet::new();
    for part in s["allOf"].as_array().into_iter().flatten() {
        out.extend(fields(doc, part, key));
    }
    match &s[key] {
        Value::Object(m) => out.extend(m.keys().cloned()),
        Value::Array(a) => out.extend(a.iter().filter_map(|v| v.as_str().map(str::to_owned))),
        _ => {}
    }
    out
}

/// `full` has every optional field set, `bare` none of them.
fn check_object<T: Serialize>(doc: &Value, name: &str, full: &T, bare: &T) {
    let s = schema(doc, name);
    let full = serde_json::to_value(full).expect("serializes");
    let written: BTreeSet<String> = full
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect();
    assert_eq!(
        written,
        fields(doc, s, "properties"),
        "{name}: fields written vs described"
    );
    let bare = serde_json::to_value(bare).expect("serializes");
    let always: BTreeSet<String> = bare
        .as_object()
        .expect("an object")
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, _)| k.clone())
        .collect();
    assert_eq!(
        always,
        fields(doc, s, "required"),
        "{name}: fields always written vs required"
    );
}

fn check_enum<T: Serialize>(doc: &Value, name: &str, every: &[T]) {
    let written: BTreeSet<String> = every
        .iter()
        .map(|v| {
            serde_json::to_value(v)
                .expect("serializes")
                .as_str()
                .expect("a string")
                .to_owned()
        })
        .collect();
    let described: BTreeSet<String> = schema(doc, name)["enum"]
        .as_array()
        .expect("an enum")
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect();
    assert_eq!(written, described, "{name}");
}

fn task(optional: bool) -> Task {
    let some = |s: &str| optional.then(|| s.to_owned());
    Task {
        id: "tsk_1".into(),
        external_id: some("2"),
        task_name: "Towels".into(),
        room: "101".into(),
        guest_name: some("Ada"),
        quantity: 1,
        status: TaskStatus::Open,
        due_at: some("2025-01-01T10:00:00Z"),
        created_at: "2025-01-01T09:00:00Z".into(),
        scheduled_for: some("2025-01-01T10:00:00Z"),
        department: some("Housekeeping"),
        priority: Priority::High,
        escalated: optional.then_some(Reason::Overdue),
        order_ids: vec!["o".into()],
        assignee: optional.then(|| "ana@h.test".into()),
        archived: false,
    }
}

fn task_event(optional: bool) -> TaskEvent {
    TaskEvent {
        at: "2025-01-01T09:00:00Z".into(),
        actor: "api".into(),
        from: optional.then_some(TaskStatus::Open),
        to: TaskStatus::Done,
        note: optional.then(|| "done".into()),
    }
}

fn attempt(optional: bool) -> Attempt {
    Attempt {
        at: "2025-01-01T09:00:00Z".into(),
        status: optional.then_some(200),
        error: optional.then(|| "timeout".into()),
        latency_ms: 1.5,
        response: String::new(),
    }
}

#[test]
fn task_schemas_describe_what_is_written() {
    let doc = document();
    check_object(&doc, "Task", &task(true), &task(false));
    check_object(&doc, "TaskEvent", &task_event(true), &task_event(false));
    let detail = |optional: bool| {
        let some = |s: &str| optional.then(|| s.to_owned());
        TaskDetail {
            task: task(optional),
            order_id: some("o"),
            reservation_id: some("r"),
            notes: some("n"),
            language: some("en"),
            updated_at: "2025-01-01T09:00:00Z".into(),
            events: vec![task_event(optional)],
        }
    };
    check_object(&doc, "TaskDetail", &detail(true), &detail(false));
    check_enum(&doc, "TaskStatus", &TaskStatus::ALL);
    check_enum(&doc, "Priority", &[Priority::Normal, Priority::High]);
    let escalated = &schema(&doc, "Task")["properties"]["escalated"]["oneOf"];
    assert_eq!(
        escalated[0]["enum"],
        serde_json::json!([false]),
        "{escalated}"
    );
    let reasons: Vec<Value> = Reason::ALL.iter().map(|r| r.as_str().into()).collect();
    assert_eq!(escalated[1]["enum"], Value::Array(reasons), "{escalated}");
    let skipped = |optional: bool| Skipped {
        name: optional.then(|| "Towels".into()),
        external_id: optional.then(|| "2".into()),
        reason: "Unknown service".into(),
    };
    check_object(&doc, "Skipped", &skipped(true), &skipped(false));
    let inbound = |optional: bool| InboundEntry {
        id: 1,
        received_at: "2025-01-01T09:00:00Z".into(),
        event: optional.then(|| "order.created".into()),
        code: "CREATED".into(),
        details: vec![],
        task_ids: vec![],
        duration_ms: 0.5,
        replay_of: optional.then_some(7),
        body: "{}".into(),
    };
    check_object(&doc, "InboundEntry", &inbound(true), &inbound(false));
}

#[test]
fn outbound_schemas_describe_what_is_written() {
    let doc = document();
    let header = Header {
        name: "X-A".into(),
        value: "b".into(),
    };
    check_object(&doc, "Header", &header, &header);
    let subscription = |optional: bool| Subscription {
        id: "sub_1".into(),
        hotel_id: "h".into(),
        kind: SubscriptionKind::Webhook,
        url: "https://example.com/".into(),
        events: EventType::ALL.to_vec(),
        headers: vec![header.clone()],
        enabled: true,
        disabled_reason: optional.then(|| "gone".into()),
        previous_secret_until: optional.then(|| "2025-01-02T09:00:00Z".into()),
        created_at: "2025-01-01T09:00:00Z".into(),
    };
    check_object(
        &doc,
        "Subscription",
        &subscription(true),
        &subscription(false),
    );
    check_object(&doc, "Attempt", &attempt(true), &attempt(false));
    let delivery = |optional: bool| {
        let some = |s: &str| optional.then(|| s.to_owned());
        Delivery {
            id: "msg_1".into(),
            hotel_id: "h".into(),
            subscription_id: "sub_1".into(),
            task_id: some("tsk_1"),
            event: "task.created".into(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            next_attempt_at: some("2025-01-01T09:00:00Z"),
            code: some("WEB_HUK_REQUEST_REJECTED"),
            message: some("m"),
            created_at: "2025-01-01T09:00:00Z".into(),
            updated_at: "2025-01-01T09:00:00Z".into(),
            payload: some("{}"),
            attempt_log: optional.then(|| vec![attempt(true)]),
        }
    };
    check_object(&doc, "Delivery", &delivery(true), &delivery(false));
    check_enum(&doc, "EventType", &EventType::ALL);
    let kinds = [
        SubscriptionKind::Webhook,
        SubscriptionKind::DuveConnect,
        SubscriptionKind::Slack,
    ];
    for k in kinds {
        // A new kind fails to compile here: add it to `kinds`.
        match k {
            SubscriptionKind::Webhook | SubscriptionKind::DuveConnect | SubscriptionKind::Slack => {
            }
        }
    }
    check_enum(&doc, "SubscriptionKind", &kinds);
    let statuses = [
        DeliveryStatus::Pending,
        DeliveryStatus::Delivered,
        DeliveryStatus::Failed,
    ];
    for s in statuses {
        // A new status fails to compile here: add it to `statuses`.
        match s {
            DeliveryStatus::Pending | DeliveryStatus::Delivered | DeliveryStatus::Failed => {}
        }
    }
    check_enum(&doc, "DeliveryStatus", &statuses);
}

/// A request body is read, not written: its fields are taken from its `Debug` form.
#[test]
fn the_subscription_request_schema_lists_every_field_read() {
    let doc = document();
    let debug = format!("{:?}", SubscriptionRequest::default());
    let inner = debug
        .split_once('{')
        .and_then(|(_, rest)| rest.rsplit_once('}'))
        .map(|(inner, _)| inner)
        .expect("a struct's Debug form");
    let read: BTreeSet<String> = inner
        .split(", ")
        .filter_map(|f| f.split_once(':').map(|(name, _)| camel(name.trim())))
        .collect();
    // One branch per kind, each naming every field (those of the other kind as null).
    let branches = schema(&doc, "SubscriptionRequest")["oneOf"]
        .as_array()
        .expect("a branch per kind");
    assert_eq!(branches.len(), 3);
    for s in branches {
        assert_eq!(read, fields(&doc, s, "properties"), "{s}");
        assert_eq!(s["additionalProperties"], Value::Bool(false));
    }
}

fn camel(snake: &str) -> String {
    let mut out = String::new();
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

#[test]
fn dry_run_schemas_describe_what_is_written() {
    use crate::intake::review::{DryRun, DryRunFields, FieldAt, ItemAt, ProductsAt, Unsaved};
    let doc = document();
    let at = |optional: bool| {
        optional.then(|| FieldAt {
            value: "101".into(),
            path: "roomNumber".into(),
        })
    };
    let item = |optional: bool| ItemAt {
        key: "0".into(),
        name: optional.then(|| "Towels".into()),
        external_id: at(optional),
        quantity: at(optional),
    };
    let products = |optional: bool| ProductsAt {
        value: vec![item(optional)],
        path: "order.products".into(),
    };
    let fields = |optional: bool| DryRunFields {
        reservation_id: at(optional),
        room_number: at(optional),
        first_name: at(optional),
        last_name: at(optional),
        order_id: at(optional),
        products: optional.then(|| products(true)),
        delivery_time: at(optional),
        notes: at(optional),
        charge_amount: at(optional),
        language: at(optional),
        check_in: at(optional),
        check_out: at(optional),
    };
    let run = |optional: bool| DryRun {
        outcome: "refused",
        status: 400,
        code: optional.then_some("WEB_HUK_HUBOS_REQUEST_FAIL"),
        message: optional.then_some("Unknown room"),
        reason: optional.then_some("unknown event"),
        details: vec![],
        tasks: vec![Unsaved(task(optional))],
        skipped: vec![],
        fields: fields(optional),
    };
    check_object(&doc, "DryRun", &run(true), &run(false));
    check_object(
        &doc,
        "UnsavedTask",
        &Unsaved(task(true)),
        &Unsaved(task(false)),
    );
    check_object(&doc, "DryRunFields", &fields(true), &fields(false));
    check_object(&doc, "ProductsAt", &products(true), &products(false));
    check_object(&doc, "ItemAt", &item(true), &item(false));
    let field = at(true).expect("a field");
    check_object(&doc, "FieldAt", &field, &field);
}

#[test]
fn report_schemas_describe_what_is_written() {
    use crate::domain::report::{DepartmentFigures, Report, ServiceFigures};
    let doc = document();
    let dept = |optional: bool| DepartmentFigures {
        department: optional.then(|| "Housekeeping".into()),
        created: 2,
        done: 1,
        open: 1,
        escalated: 0,
        median_minutes_to_accept: optional.then_some(1.5),
        median_minutes_to_done: optional.then_some(10.0),
        p90_minutes_to_done: optional.then_some(12.0),
    };
    check_object(&doc, "DepartmentFigures", &dept(true), &dept(false));
    let service = |optional: bool| ServiceFigures {
        external_id: optional.then(|| "4".into()),
        name: "Serve towels".into(),
        created: 2,
        done: 1,
        median_minutes_to_done: optional.then_some(10.0),
    };
    check_object(&doc, "ServiceFigures", &service(true), &service(false));
    let report = |optional: bool| Report {
        from: "2026-07-01T07:00:00.000Z".into(),
        to: "2026-07-01T15:00:00.000Z".into(),
        created: 2,
        done: 1,
        cancelled: 0,
        open: 1,
        escalated: 0,
        by_department: vec![dept(optional)],
        by_service: vec![service(optional)],
    };
    check_object(&doc, "Report", &report(true), &report(false));
    // The route: bearer, every status it answers, both media types, the window's constraints.
    let op = &doc["paths"]["/api/v1/reports/shift"]["get"];
    assert_eq!(op["security"][0]["api_key"], serde_json::json!([]), "{op}");
    let statuses: BTreeSet<&str> = op["responses"]
        .as_object()
        .expect("responses")
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        statuses,
        BTreeSet::from(["200", "400", "401", "403", "422", "503"])
    );
    let content = &op["responses"]["200"]["content"];
    assert_eq!(
        content["application/json"]["schema"]["$ref"],
        "#/components/schemas/Report"
    );
    assert!(content["text/csv"].is_object(), "{content}");
    let params: Vec<(&str, &str)> = op["parameters"]
        .as_array()
        .expect("parameters")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or_default(),
                p["schema"]["format"].as_str().unwrap_or_default(),
            )
        })
        .collect();
    assert_eq!(params, [("from", "date-time"), ("to", "date-time")]);
}
