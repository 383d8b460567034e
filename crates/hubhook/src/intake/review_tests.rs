//! The dry run's report and the replay rule, with no database: the store's reads are played by hand.

use std::collections::BTreeSet;

use duve::{Field, FieldMap, ReservationFacts, parse_envelope};
use jiff::Timestamp;
use serde_json::{Value, json};

use super::*;
use crate::domain::{HotelFacts, TaskStatus};
use crate::intake::{OrderRead, OrderState, plan_of, settle};

fn task(id: &str, status: TaskStatus) -> crate::domain::Task {
    crate::domain::Task {
        id: id.into(),
        external_id: Some("4".into()),
        task_name: "Serve towels".into(),
        room: "101".into(),
        guest_name: Some("Ada".into()),
        quantity: 1,
        status,
        due_at: None,
        created_at: "2024-01-01T00:00:00Z".into(),
        scheduled_for: None,
        department: None,
        priority: Default::default(),
        escalated: None,
        order_ids: vec!["o-1".into()],
        assignee: None,
        archived: false,
    }
}

fn hotel() -> HotelFacts {
    crate::intake::tests::hotel_with_rooms(&["101", "102"])
}

/// The dry run of `body` against `read` (what a store would have read), as JSON.
fn run(body: &Value, read: impl Fn(&Plan) -> OrderRead) -> Value {
    let bytes = body.to_string().into_bytes();
    let map = FieldMap::default();
    let envelope = parse_envelope(&bytes);
    let plan = plan_of(&envelope, &bytes, &map, &hotel());
    let read = read(&plan);
    let context = read.context.clone();
    let settled = settle(&plan, &hotel(), read, Timestamp::UNIX_EPOCH);
    let fields = DryRunFields::of_envelope(&map, envelope.as_ref().ok());
    serde_json::to_value(dry_run(&plan, settled, context.as_ref(), fields)).unwrap()
}

fn order(room: Option<&str>, products: Value) -> Value {
    let mut resource = json!({"id": "res-1", "verifiedFirstName": "Ada",
        "order": {"id": "o-1", "products": products}});
    if let Some(r) = room {
        resource["roomNumber"] = json!(r);
    }
    json!({"accountId": "a", "event": "orderCreated", "resource": resource})
}

#[test]
fn every_resource_field_of_the_mapping_is_reported() {
    let written = serde_json::to_value(DryRunFields::default()).unwrap();
    let keys: BTreeSet<&str> = written
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    let wanted: BTreeSet<&str> = Field::ALL
        .into_iter()
        .filter(|f| !matches!(f, Field::ExternalId | Field::Quantity))
        .map(Field::name)
        .collect();
    assert_eq!(keys, wanted);
}

#[test]
fn a_new_order_reports_its_tasks_without_ids_and_the_paths_of_its_fields() {
    let out = run(
        &order(
            Some("101"),
            json!([{"name": "Towels", "externalId": "4", "quantity": 2},
            {"name": "Spa", "externalId": "999"}]),
        ),
        |_| OrderRead::default(),
    );
    assert_eq!(out["outcome"], "created");
    assert_eq!(out["status"], 201);
    assert!(
        out.get("code").is_none() && out.get("reason").is_none(),
        "{out}"
    );
    assert_eq!(out["tasks"].as_array().unwrap().len(), 1);
    let task = &out["tasks"][0];
    assert!(task.get("id").is_none(), "{task}");
    assert_eq!(task["taskName"], "Serve towels");
    assert_eq!(task["quantity"], 2);
    assert_eq!(task["status"], "open");
    assert_eq!(task["orderIds"], json!(["o-1"]));
    assert_eq!(out["skipped"][0]["externalId"], "999");
    assert_eq!(
        out["fields"]["room_number"],
        json!({"value": "101", "path": "roomNumber"})
    );
    assert_eq!(
        out["fields"]["first_name"],
        json!({"value": "Ada", "path": "verifiedFirstName"})
    );
    assert_eq!(
        out["fields"]["order_id"],
        json!({"value": "o-1", "path": "order.id"})
    );
    assert_eq!(out["fields"]["last_name"], Value::Null);
    let products = &out["fields"]["products"];
    assert_eq!(products["path"], "order.products");
    assert_eq!(
        products["value"][1]["external_id"],
        json!({"value": "999", "path": "order.products[1].externalId"})
    );
    assert_eq!(
        products["value"][0]["quantity"],
        json!({"value": "2", "path": "order.products[0].quantity"})
    );
    let details = out["details"].to_string();
    assert!(details.contains("1 task(s) would be created"), "{details}");
    assert!(details.contains("1 item(s) would be skipped"), "{details}");
}

#[test]
fn a_refusal_reports_the_webhooks_code_message_status_and_details() {
    let out = run(&order(Some("909"), json!([{"externalId": "4"}])), |_| {
        OrderRead::default()
    });
    assert_eq!(out["outcome"], "refused");
    assert_eq!(out["status"], 400);
    assert_eq!(out["code"], "WEB_HUK_HUBOS_REQUEST_FAIL");
    assert_eq!(out["message"], "Unknown room");
    assert!(out["details"][0].as_str().unwrap().contains("909"), "{out}");
    assert_eq!(out["tasks"], json!([]));

    let out = run(&json!({"event": 5}), |_| OrderRead::default());
    assert_eq!(
        (out["status"].as_u64(), out["outcome"].as_str()),
        (Some(403), Some("refused"))
    );
    assert_eq!(out["code"], "WEB_HUK_INVALID_BODY");
    assert_eq!(out["fields"]["room_number"], Value::Null);

    let big = serde_json::to_value(too_large(10)).unwrap();
    assert_eq!(big["status"], 413);
    assert_eq!(big["code"], "WEB_HUK_PAYLOAD_TOO_LARGE");
    assert_eq!(big["message"], "Payload too large.");
}

#[test]
fn what_the_reservation_context_fills_in_is_said() {
    let out = run(&order(None, json!([{"externalId": "4"}])), |plan| {
        OrderRead {
            context: plan.reads(None).context_of.map(|_| ReservationFacts {
                reservation_id: Some("res-1".into()),
                room_number: Some("102".into()),
                ..Default::default()
            }),
            ..Default::default()
        }
    });
    assert_eq!(out["outcome"], "created", "{out}");
    assert_eq!(out["tasks"][0]["room"], "102");
    assert_eq!(out["fields"]["room_number"], Value::Null);
    let details = out["details"].to_string();
    assert!(
        details.contains(r#"room number \"102\" comes from reservation \"res-1\""#),
        "{details}"
    );
}

#[test]
fn a_seen_order_is_a_duplicate_with_its_stored_tasks() {
    let stored = task("tsk_1", TaskStatus::Accepted);
    let out = run(&order(Some("101"), json!([{"externalId": "4"}])), |_| {
        OrderRead {
            state: Some(OrderState::Created),
            tasks: vec![stored.clone()],
            context: None,
            ..Default::default()
        }
    });
    assert_eq!(out["outcome"], "duplicate");
    assert_eq!(out["status"], 200);
    assert_eq!(out["tasks"][0]["status"], "accepted");
    assert!(out["tasks"][0].get("id").is_none());
    assert!(
        out["details"][0].as_str().unwrap().contains("tsk_1"),
        "{out}"
    );
}

#[test]
fn ignored_cancelled_and_recorded_say_why() {
    let mut paid = order(Some("101"), json!([{"externalId": "4"}]));
    paid["resource"]["order"]["chargeAmount"] = json!(12);
    let out = run(&paid, |_| OrderRead::default());
    assert_eq!(out["outcome"], "ignored");
    assert_eq!(out["reason"], "paid orders are not synced");
    assert!(
        out["details"][0]
            .as_str()
            .unwrap()
            .contains("order.chargeAmount is 12"),
        "{out}"
    );

    let cancel = json!({"event": "orderCancelled", "resource": {"order": {"id": "o-1"}}});
    let out = run(&cancel, |_| OrderRead::default());
    assert_eq!(
        (out["outcome"].as_str(), out["status"].as_u64()),
        (Some("ignored"), Some(200))
    );
    let out = run(&cancel, |_| OrderRead {
        state: Some(OrderState::Created),
        tasks: vec![task("tsk_9", TaskStatus::Open)],
        context: None,
        ..Default::default()
    });
    assert_eq!(out["outcome"], "cancelled");
    assert_eq!(out["tasks"][0]["status"], "cancelled");
    assert!(
        out["details"][0].as_str().unwrap().contains("tsk_9"),
        "{out}"
    );

    let early = run(&order(Some("101"), json!([{"externalId": "4"}])), |_| {
        OrderRead {
            state: Some(OrderState::Cancelled),
            ..Default::default()
        }
    });
    assert_eq!(early["outcome"], "cancelled");
    assert_eq!(early["reason"], "order was cancelled before it arrived");

    let assign = json!({"event": "reservationRoomAssign",
        "resource": {"id": "res-7", "roomNumber": "102"}});
    let out = run(&assign, |_| OrderRead::default());
    assert_eq!(out["outcome"], "recorded");
    assert!(
        out["details"][0]
            .as_str()
            .unwrap()
            .contains(r#"room "102""#),
        "{out}"
    );
    let unknown = run(&json!({"event": "somethingNew"}), |_| OrderRead::default());
    assert_eq!(unknown["reason"], "unknown event");
}

#[test]
fn only_fixable_refusals_of_duve_bodies_are_replayable() {
    assert_eq!(
        replayable("WEB_HUK_HUBOS_REQUEST_FAIL", Some("orderCreated")),
        Ok(())
    );
    assert_eq!(
        replayable("WEB_HUK_INVALID_BODY", Some("orderCreated")),
        Ok(())
    );
    for code in ["created", "duplicate", "ignored", "recorded", "cancelled"] {
        let e = replayable(code, Some("orderCreated")).unwrap_err();
        assert_eq!(e.code(), "NOT_REPLAYABLE");
        assert!(e.details()[0].contains(code), "{e:?}");
    }
    assert_eq!(
        replayable("WEB_HUK_INVALID_BODY", None),
        Err(NotReplayable::NotDuve)
    );
    let big = replayable("WEB_HUK_PAYLOAD_TOO_LARGE", None).unwrap_err();
    assert_eq!(big.code(), "BODY_INCOMPLETE");
}

#[test]
fn a_stored_body_must_read_back_as_the_delivery_received() {
    let body = br#"{"event":"orderCreated","resource":{"roomNumber":"101"}}"#;
    assert!(whole_body(Some("orderCreated"), body).is_ok());
    // Cut short, or not the recorded event: refused, never decided on.
    for (event, stored) in [
        (Some("orderCreated"), &body[..30]),
        (Some("orderCancelled"), &body[..]),
        (Some("orderCreated"), &b""[..]),
    ] {
        let e = whole_body(event, stored).unwrap_err();
        assert_eq!(e.code(), "BODY_INCOMPLETE", "{e:?}");
    }
}
