//! Every Duve event key, cancellation and refund of orders, and the reservation context that fills
//! an order's missing room and names (CONTRACT.md §1, Events).

use hubhook::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{
    Hotel, TestApp, expect_webhook_error, inbound_log, order, spawn_app, task_list,
};

const OTHER_EVENTS: [&str; 16] = [
    "reservationCreated",
    "updateReservationStatus",
    "preCheckInUpdated",
    "preCheckInDone",
    "preCheckOutUpdated",
    "preCheckOutDone",
    "guestDocumentUploaded",
    "guestFullDocumentUploaded",
    "guestLinkOpened",
    "pendingOrderCreated",
    "messageSent",
    "chatMessageSent",
    "reservationRoomAssign",
    "reservationDetailsUpdated",
    "basicMarketingStatusUpdated",
    "externalMarketingStatusUpdated",
];

fn event(name: &str, resource: Value) -> Value {
    json!({"accountId": "acc", "event": name, "resource": resource})
}

fn cancelled(order_id: &str) -> Value {
    event(
        "orderCancelled",
        json!({"id": "res-1", "order": {"id": order_id, "status": 3, "chargeAmount": 0}}),
    )
}

async fn setup() -> (TestApp, Hotel, String) {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    (app, hotel, key)
}

async fn move_task(app: &TestApp, key: &str, id: &str, to: &str) {
    let (s, body) = app
        .post_api(
            key,
            &format!("/api/v1/tasks/{id}/status"),
            &json!({"status": to}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
}

async fn task_detail(app: &TestApp, key: &str, id: &str) -> Value {
    let (s, body) = app.get_api(key, &format!("/api/v1/tasks/{id}")).await;
    assert_eq!(s, 200, "{body}");
    body
}

#[tokio::test]
async fn every_other_duve_event_is_recorded() {
    let (app, hotel, key) = setup().await;
    for (i, name) in OTHER_EVENTS.iter().enumerate() {
        // Rich enough that an order-like event (pendingOrderCreated) could make a task if it wrongly did.
        let resource = json!({
            "id": format!("res-{i}"), "verifiedFirstName": "Ana", "roomNumber": "101",
            "order": {"id": format!("o-{i}"), "status": 1, "chargeAmount": 0,
                "products": [{"name": "Towels", "externalId": "4", "quantity": 1}]}
        });
        let (s, answer) = app.webhook(&hotel, &event(name, resource)).await;
        assert_eq!(s, 200, "{name}: {answer}");
        assert_eq!(answer, json!({"status": "recorded"}), "{name}");
    }
    assert!(
        task_list(&app, &key).await.is_empty(),
        "no event but orderCreated makes a task"
    );
    let log = inbound_log(&app, &key).await;
    assert_eq!(log.len(), OTHER_EVENTS.len());
    for (entry, name) in log.iter().rev().zip(OTHER_EVENTS) {
        assert_eq!(entry["event"], name, "{entry}");
        assert_eq!(entry["code"], "recorded", "{entry}");
        assert_eq!(entry["taskIds"], json!([]), "{entry}");
    }
}

#[tokio::test]
async fn a_pending_order_makes_no_task_and_does_not_block_the_real_one() {
    let (app, hotel, key) = setup().await;
    let mut pending = order("o-1", "101", &["4"]);
    pending["event"] = json!("pendingOrderCreated");
    let (s, answer) = app.webhook(&hotel, &pending).await;
    assert_eq!((s, answer), (200, json!({"status": "recorded"})));
    assert!(task_list(&app, &key).await.is_empty());
    // Once approved, the order's orderCreated makes its task (the pending one was no creation).
    let (s, answer) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(task_list(&app, &key).await.len(), 1);
}

#[tokio::test]
async fn an_unknown_event_is_ignored_and_recorded() {
    let (app, hotel, key) = setup().await;
    for name in [
        "somethingNew",
        "OrderCreated",
        "ordercreated",
        "",
        "orderCreated ",
    ] {
        let (s, answer) = app.webhook(&hotel, &event(name, json!({"id": "r"}))).await;
        assert_eq!(s, 200, "{name:?}: {answer}");
        assert_eq!(
            answer,
            json!({"status": "ignored", "reason": "unknown event"}),
            "{name:?}"
        );
    }
    let log = inbound_log(&app, &key).await;
    assert_eq!(log.len(), 5);
    assert!(log.iter().all(|e| e["code"] == "ignored"), "{log:?}");
    assert_eq!(log[4]["event"], "somethingNew");
    assert!(task_list(&app, &key).await.is_empty());
}

#[tokio::test]
async fn cancelling_an_order_cancels_its_open_tasks_but_not_done_ones() {
    let (app, hotel, key) = setup().await;
    let (s, created) = app
        .webhook(&hotel, &order("o-1", "101", &["4", "22", "2"]))
        .await;
    assert_eq!(s, 201, "{created}");
    let ids: Vec<String> = created["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    move_task(&app, &key, &ids[0], "done").await;
    move_task(&app, &key, &ids[1], "in_progress").await;
    // Another order's task is untouched.
    let (s, other) = app.webhook(&hotel, &order("o-2", "102", &["4"])).await;
    assert_eq!(s, 201);

    let (s, answer) = app.webhook(&hotel, &cancelled("o-1")).await;
    assert_eq!(s, 200, "{answer}");
    let mut keys: Vec<&str> = answer
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(keys, ["status", "tasks"], "{answer}");
    assert_eq!(answer["status"], "cancelled");
    let tasks = answer["tasks"].as_array().unwrap();
    let got: Vec<(&str, &str)> = tasks
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            (ids[0].as_str(), "done"),
            (ids[1].as_str(), "cancelled"),
            (ids[2].as_str(), "cancelled"),
        ]
    );

    // The API agrees, and the history says who and why.
    assert_eq!(task_detail(&app, &key, &ids[0]).await["status"], "done");
    for id in &ids[1..] {
        let detail = task_detail(&app, &key, id).await;
        assert_eq!(detail["status"], "cancelled");
        let last = detail["events"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["to"], "cancelled", "{detail}");
        assert_eq!(last["actor"], "duve", "{detail}");
    }
    let other_id = other["tasks"][0]["id"].as_str().unwrap();
    assert_eq!(task_detail(&app, &key, other_id).await["status"], "open");

    // A repeated cancellation changes nothing and still answers with the tasks.
    let (s, again) = app.webhook(&hotel, &cancelled("o-1")).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["status"], "cancelled");
    assert_eq!(again["tasks"], answer["tasks"]);
    // A redelivered creation makes nothing new.
    let (s, dup) = app
        .webhook(&hotel, &order("o-1", "101", &["4", "22", "2"]))
        .await;
    assert_eq!(s, 200, "{dup}");
    assert_eq!(task_list(&app, &key).await.len(), 4);
    assert_eq!(inbound_log(&app, &key).await[2]["code"], "cancelled");
}

#[tokio::test]
async fn a_cancellation_before_the_order_is_remembered() {
    let (app, hotel, key) = setup().await;
    let (s, answer) = app.webhook(&hotel, &cancelled("o-early")).await;
    assert_eq!(s, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"status": "ignored", "reason": "unknown order"})
    );
    let (s, answer) = app
        .webhook(&hotel, &order("o-early", "101", &["4", "22"]))
        .await;
    assert_eq!(s, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"status": "cancelled", "reason": "order was cancelled before it arrived", "tasks": []})
    );
    // Delivered again: still no task.
    let (s, again) = app
        .webhook(&hotel, &order("o-early", "101", &["4", "22"]))
        .await;
    assert_eq!((s, again), (200, answer));
    assert!(task_list(&app, &key).await.is_empty());
    let log = inbound_log(&app, &key).await;
    let codes: Vec<&str> = log.iter().map(|e| e["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["cancelled", "cancelled", "ignored"]);

    // The memory is per hotel: another hotel's order with that id is created.
    let other = app.create_hotel("h2").await;
    let (s, answer) = app.webhook(&other, &order("o-early", "101", &["4"])).await;
    assert_eq!(s, 201, "{answer}");
}

#[tokio::test]
async fn a_refund_is_recorded_on_the_orders_tasks() {
    let (app, hotel, key) = setup().await;
    let (s, created) = app
        .webhook(&hotel, &order("o-1", "101", &["4", "22"]))
        .await;
    assert_eq!(s, 201);
    let (s, other) = app.webhook(&hotel, &order("o-2", "101", &["4"])).await;
    assert_eq!(s, 201);
    let refund = event(
        "orderRefunded",
        json!({"id": "res-1", "order": {"id": "o-1", "refundTotal": 100, "numOfRefundsMade": 1}}),
    );
    let (s, answer) = app.webhook(&hotel, &refund).await;
    assert_eq!((s, answer), (200, json!({"status": "recorded"})));

    for t in created["tasks"].as_array().unwrap() {
        let detail = task_detail(&app, &key, t["id"].as_str().unwrap()).await;
        assert_eq!(detail["status"], "open", "a refund does not move the task");
        let events = detail["events"].as_array().unwrap();
        assert_eq!(events.len(), 2, "{detail}");
        let note = events[1]["note"].as_str().unwrap_or_default();
        assert!(note.to_lowercase().contains("refund"), "{detail}");
        assert!(note.contains("100"), "the refund total is kept: {detail}");
    }
    let untouched = task_detail(&app, &key, other["tasks"][0]["id"].as_str().unwrap()).await;
    assert_eq!(
        untouched["events"].as_array().unwrap().len(),
        1,
        "{untouched}"
    );

    // A refund of an order hubhook never saw is recorded too.
    let unknown = event("orderRefunded", json!({"order": {"id": "o-unknown"}}));
    let (s, answer) = app.webhook(&hotel, &unknown).await;
    assert_eq!((s, answer), (200, json!({"status": "recorded"})));
    let log = inbound_log(&app, &key).await;
    assert_eq!(log[0]["event"], "orderRefunded");
    assert_eq!(log[0]["code"], "recorded");
}

fn bare_order(reservation: &str, order_id: &str) -> Value {
    event(
        "orderCreated",
        json!({"id": reservation, "order": {"id": order_id, "status": 0, "chargeAmount": 0,
            "products": [{"name": "Towels", "externalId": "4", "quantity": 1}]}}),
    )
}

#[tokio::test]
async fn reservation_context_fills_a_bare_order() {
    let (app, hotel, key) = setup().await;
    // Without context: row 2.
    expect_webhook_error(
        &app.webhook(&hotel, &bare_order("res-x", "o-0")).await,
        403,
        "WEB_HUK_INVALID_BODY",
        "Please provide the proper Room Number, External Id, and Verified First Name.",
    );

    let assign = event(
        "reservationRoomAssign",
        json!({"id": "res-x", "roomNumber": "102", "verifiedFirstName": "Bobby",
            "verifiedLastName": "Smith", "checkInDate": "2023-01-14"}),
    );
    let (s, answer) = app.webhook(&hotel, &assign).await;
    assert_eq!((s, answer), (200, json!({"status": "recorded"})));
    let (s, answer) = app.webhook(&hotel, &bare_order("res-x", "o-1")).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["tasks"][0]["room"], "102");
    assert_eq!(answer["tasks"][0]["guestName"], "Bobby Smith");

    // What the order itself says wins over the context.
    let mut own = order("o-2", "101", &["4"]);
    own["resource"]["id"] = json!("res-x");
    own["resource"]["verifiedFirstName"] = json!("Ana");
    own["resource"]["verifiedLastName"] = json!("Lima");
    let (s, answer) = app.webhook(&hotel, &own).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["tasks"][0]["room"], "101");
    assert_eq!(answer["tasks"][0]["guestName"], "Ana Lima");

    // Another reservation has no context.
    expect_webhook_error(
        &app.webhook(&hotel, &bare_order("res-y", "o-3")).await,
        403,
        "WEB_HUK_INVALID_BODY",
        "Please provide the proper Room Number, External Id, and Verified First Name.",
    );
    // Another hotel does not see this hotel's context.
    let other = app.create_hotel("h2").await;
    expect_webhook_error(
        &app.webhook(&other, &bare_order("res-x", "o-4")).await,
        403,
        "WEB_HUK_INVALID_BODY",
        "Please provide the proper Room Number, External Id, and Verified First Name.",
    );
    assert_eq!(task_list(&app, &key).await.len(), 2);
}

#[tokio::test]
async fn context_builds_up_across_events() {
    let (app, hotel, _) = setup().await;
    // Names from the pre-check-in, the room from a later assignment.
    let checkin = event(
        "preCheckInDone",
        json!({"id": "res-z", "verifiedFirstName": "Carla", "verifiedLastName": "Diaz"}),
    );
    assert_eq!(app.webhook(&hotel, &checkin).await.0, 200);
    // Names alone are not enough: the room is still missing.
    expect_webhook_error(
        &app.webhook(&hotel, &bare_order("res-z", "o-1")).await,
        403,
        "WEB_HUK_INVALID_BODY",
        "Please provide the proper Room Number, External Id, and Verified First Name.",
    );
    let assign = event(
        "reservationRoomAssign",
        json!({"id": "res-z", "roomNumber": "101"}),
    );
    assert_eq!(app.webhook(&hotel, &assign).await.0, 200);
    let (s, answer) = app.webhook(&hotel, &bare_order("res-z", "o-1")).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["tasks"][0]["room"], "101");
    assert_eq!(answer["tasks"][0]["guestName"], "Carla Diaz");

    // A room from the context that the hotel does not have is row 3.
    let moved = event(
        "reservationRoomAssign",
        json!({"id": "res-z", "roomNumber": "909"}),
    );
    assert_eq!(app.webhook(&hotel, &moved).await.0, 200);
    expect_webhook_error(
        &app.webhook(&hotel, &bare_order("res-z", "o-2")).await,
        400,
        "WEB_HUK_HUBOS_REQUEST_FAIL",
        "Unknown room",
    );
}

#[tokio::test]
async fn order_status_as_number_or_string_makes_no_difference() {
    let (app, hotel, key) = setup().await;
    let statuses = [
        json!(0),
        json!("0"),
        json!("created"),
        json!(3),
        json!(null),
    ];
    for (i, status) in statuses.iter().enumerate() {
        let mut body = order(&format!("o-{i}"), "101", &["4"]);
        body["resource"]["order"]["status"] = status.clone();
        let (s, answer) = app.webhook(&hotel, &body).await;
        assert_eq!(s, 201, "status {status}: {answer}");
        assert_eq!(answer["status"], "created");
    }
    let mut body = order("o-none", "101", &["4"]);
    body["resource"]["order"]
        .as_object_mut()
        .unwrap()
        .remove("status");
    assert_eq!(app.webhook(&hotel, &body).await.0, 201);
    // And cancellation does not depend on it either.
    let mut cancel = cancelled("o-0");
    cancel["resource"]["order"]["status"] = json!("cancelled");
    let (s, answer) = app.webhook(&hotel, &cancel).await;
    assert_eq!(s, 200, "{answer}");
    assert_eq!(answer["tasks"][0]["status"], "cancelled");
    assert_eq!(task_list(&app, &key).await.len(), 6);
}

#[tokio::test]
async fn a_refused_order_does_not_feed_the_reservation_context() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("ctx-refused").await;
    let mut bad = order("o-bad-room", "999", &["4"]);
    bad["resource"]["id"] = json!("res-refused");
    assert_eq!(app.webhook(&hotel, &bad).await.0, 400);

    // A later order of that reservation without a room is missing data (403), not "Unknown room".
    let bare = json!({"event": "orderCreated", "resource": {"id": "res-refused",
        "order": {"id": "o-bare", "products": [{"externalId": "4"}]}}});
    let (status, body) = app.webhook(&hotel, &bare).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(body["code"], "WEB_HUK_INVALID_BODY");

    // An accepted order does teach the reservation its room and guest.
    let mut good = order("o-good", "102", &["4"]);
    good["resource"]["id"] = json!("res-refused");
    assert_eq!(app.webhook(&hotel, &good).await.0, 201);
    let mut again = bare.clone();
    again["resource"]["order"]["id"] = json!("o-bare-2");
    let (status, body) = app.webhook(&hotel, &again).await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["tasks"][0]["room"], "102");
    assert_eq!(body["tasks"][0]["guestName"], "Bobby Smith");
}
