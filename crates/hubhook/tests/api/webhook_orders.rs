//! `orderCreated`: the 201 confirmation, the field checks in the contract's order, idempotency, the
//! paid-order filter and live configuration (CONTRACT.md §1).

use hubhook::{
    domain::{CatalogEntry, HotelId, Role},
    store::{HotelSettings, Room},
};
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::helpers::{
    Hotel, TestApp, expect_webhook_error, inbound_log, json_of, order, spawn_app, task_list,
};

const INVALID_BODY: &str = "WEB_HUK_INVALID_BODY";
const INVALID_BODY_MSG: &str =
    "Please provide the proper Room Number, External Id, and Verified First Name.";
const HUBOS_FAIL: &str = "WEB_HUK_HUBOS_REQUEST_FAIL";

/// An `orderCreated` whose `resource` is exactly `resource`.
fn created(resource: Value) -> Value {
    json!({"accountId": "acc", "event": "orderCreated", "resource": resource})
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {v}"))
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

const TASK_KEYS: [&str; 16] = [
    "archived",
    "assignee",
    "createdAt",
    "department",
    "dueAt",
    "escalated",
    "externalId",
    "guestName",
    "id",
    "orderIds",
    "priority",
    "quantity",
    "room",
    "scheduledFor",
    "status",
    "taskName",
];

fn tasks_of(answer: &Value) -> Vec<Value> {
    answer["tasks"]
        .as_array()
        .unwrap_or_else(|| panic!("no tasks: {answer}"))
        .clone()
}

fn ids(tasks: &[Value]) -> Vec<String> {
    tasks
        .iter()
        .map(|t| t["id"].as_str().expect("task id").to_owned())
        .collect()
}

async fn setup() -> (TestApp, Hotel, String) {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    (app, hotel, key)
}

fn hotel_id(hotel: &Hotel) -> HotelId {
    HotelId::parse(&hotel.id).unwrap()
}

#[tokio::test]
async fn the_confirmation_has_the_contracts_shape() {
    let (app, hotel, key) = setup().await;
    let (s, answer) = app
        .webhook(&hotel, &order("o-1", "101", &["4", "22"]))
        .await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(
        keys(&answer),
        ["orderId", "skipped", "status", "tasks"],
        "{answer}"
    );
    assert_eq!(answer["status"], "created");
    assert_eq!(answer["orderId"], "o-1");
    assert_eq!(answer["skipped"], json!([]));
    let tasks = tasks_of(&answer);
    assert_eq!(tasks.len(), 2, "{answer}");
    for (task, (ext, name)) in tasks.iter().zip([("4", "Serve towels"), ("22", "Luggage")]) {
        assert_eq!(keys(task), TASK_KEYS, "{task}");
        assert!(
            task["id"].as_str().is_some_and(|id| !id.is_empty()),
            "{task}"
        );
        assert_eq!(task["externalId"], ext);
        assert_eq!(task["taskName"], name);
        assert_eq!(task["room"], "101");
        assert_eq!(task["guestName"], "Bobby Smith");
        assert_eq!(task["quantity"], 1);
        assert_eq!(task["status"], "open");
        assert_eq!(task["scheduledFor"], Value::Null);
        assert_eq!(task["priority"], "normal");
        assert_eq!(task["escalated"], false);
        assert_eq!(task["orderIds"], json!(["o-1"]));
        let created_at = task["createdAt"].as_str().expect("createdAt");
        assert!(
            created_at.parse::<jiff::Timestamp>().is_ok(),
            "{created_at}"
        );
    }
    // The default catalog's departments and service levels: towels 20 minutes by housekeeping,
    // luggage 15 by the front office.
    for (task, (department, minutes)) in tasks
        .iter()
        .zip([("Housekeeping", 20), ("Front Office", 15)])
    {
        assert_eq!(task["department"], department, "{task}");
        let at = |k: &str| {
            task[k]
                .as_str()
                .unwrap()
                .parse::<jiff::Timestamp>()
                .unwrap()
        };
        assert_eq!(
            at("dueAt").duration_since(at("createdAt")),
            jiff::SignedDuration::from_mins(minutes),
            "{task}"
        );
    }
    assert_ne!(tasks[0]["id"], tasks[1]["id"]);

    // The same tasks, as the API shows them (newest first).
    let listed = task_list(&app, &key).await;
    assert_eq!(listed.len(), 2);
    let mut want = tasks.clone();
    want.reverse();
    assert_eq!(listed, want);
    for t in &tasks {
        let (s, detail) = app
            .get_api(
                &key,
                &format!("/api/v1/tasks/{}", t["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(s, 200, "{detail}");
        assert_eq!(detail["orderId"], "o-1");
        assert_eq!(detail["taskName"], t["taskName"]);
        assert_eq!(detail["events"][0]["to"], "open", "{detail}");
    }
}

#[tokio::test]
async fn one_task_per_product_and_per_item_with_quantities() {
    let (app, hotel, key) = setup().await;
    let body = created(json!({
        "id": "res-1", "verifiedFirstName": "Ana", "roomNumber": "102",
        "order": {"id": "o-1", "status": 0, "chargeAmount": 0, "products": [
            {"name": "Towels", "externalId": "4", "quantity": 3},
            {"name": "Room setup", "items": [
                {"name": "Baby cot", "externalId": "8", "quantity": 1},
                {"name": "Pillows", "externalId": "6", "qty": 2}
            ]},
            {"name": "Luggage", "externalId": "22"}
        ]}
    }));
    let (s, answer) = app.webhook(&hotel, &body).await;
    assert_eq!(s, 201, "{answer}");
    let tasks = tasks_of(&answer);
    let got: Vec<(&str, &str, u64)> = tasks
        .iter()
        .map(|t| {
            (
                t["externalId"].as_str().unwrap(),
                t["taskName"].as_str().unwrap(),
                t["quantity"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("4", "Serve towels", 3),
            ("8", "Install baby cot", 1),
            ("6", "Serve pillows", 2),
            ("22", "Luggage", 1),
        ]
    );
    assert!(
        tasks
            .iter()
            .all(|t| t["room"] == "102" && t["guestName"] == "Ana")
    );
    assert_eq!(task_list(&app, &key).await.len(), 4);
}

#[tokio::test]
async fn numbers_are_accepted_for_room_external_id_and_quantity() {
    let (app, hotel, _) = setup().await;
    let body = created(json!({
        "id": 77, "verifiedFirstName": "Ana", "verifiedLastName": "Lima", "roomNumber": 101,
        "order": {"id": "o-1", "status": 0, "chargeAmount": 0, "products": [
            {"name": "Towels", "externalId": 4, "quantity": "2"},
            {"name": "Luggage", "externalId": 22, "quantity": 5}
        ]}
    }));
    let (s, answer) = app.webhook(&hotel, &body).await;
    assert_eq!(s, 201, "{answer}");
    let tasks = tasks_of(&answer);
    assert_eq!(tasks[0]["room"], "101");
    assert_eq!(tasks[0]["externalId"], "4");
    assert_eq!(tasks[0]["quantity"], 2);
    assert_eq!(tasks[1]["externalId"], "22");
    assert_eq!(tasks[1]["quantity"], 5);
    assert_eq!(tasks[0]["guestName"], "Ana Lima");
}

#[tokio::test]
async fn a_mixed_order_lists_what_it_skipped() {
    let (app, hotel, key) = setup().await;
    let body = created(json!({
        "id": "res-1", "verifiedFirstName": "Ana", "roomNumber": "101",
        "order": {"id": "o-1", "status": 0, "chargeAmount": 0, "products": [
            {"name": "Towels", "externalId": "4", "quantity": 1},
            {"name": "Flowers", "quantity": 1},
            {"name": "Spa voucher", "externalId": "999", "quantity": 1},
            {"name": "Luggage", "externalId": "22", "quantity": 2}
        ]}
    }));
    let (s, answer) = app.webhook(&hotel, &body).await;
    assert_eq!(s, 201, "{answer}");
    let names: Vec<Value> = tasks_of(&answer)
        .iter()
        .map(|t| t["taskName"].clone())
        .collect();
    assert_eq!(names, [json!("Serve towels"), json!("Luggage")]);
    let skipped = answer["skipped"].as_array().expect("skipped").clone();
    assert_eq!(skipped.len(), 2, "{answer}");
    for s in &skipped {
        assert_eq!(keys(s), ["externalId", "name", "reason"], "{s}");
        assert!(s["reason"].as_str().is_some_and(|r| !r.is_empty()), "{s}");
    }
    assert_eq!(skipped[0]["name"], "Flowers");
    assert_eq!(skipped[0]["externalId"], Value::Null);
    assert_eq!(skipped[1]["name"], "Spa voucher");
    assert_eq!(skipped[1]["externalId"], "999");
    assert_ne!(skipped[0]["reason"], skipped[1]["reason"], "{answer}");
    assert_eq!(task_list(&app, &key).await.len(), 2);
}

#[tokio::test]
async fn missing_room_name_or_external_id_is_row_2() {
    let (app, hotel, key) = setup().await;
    let product = json!([{"name": "Towels", "externalId": "4", "quantity": 1}]);
    let cases = [
        // No room anywhere.
        json!({"id": "r1", "verifiedFirstName": "Ana",
            "order": {"id": "o-1", "chargeAmount": 0, "products": product}}),
        // A blank room.
        json!({"id": "r2", "verifiedFirstName": "Ana", "roomNumber": "  ",
            "order": {"id": "o-2", "chargeAmount": 0, "products": product}}),
        // A last name but no first name.
        json!({"id": "r3", "verifiedLastName": "Lima", "roomNumber": "101",
            "order": {"id": "o-3", "chargeAmount": 0, "products": product}}),
        // Products without any external id.
        json!({"id": "r4", "verifiedFirstName": "Ana", "roomNumber": "101",
            "order": {"id": "o-4", "chargeAmount": 0, "products": [
                {"name": "Flowers", "quantity": 1}, {"name": "Wine"}]}}),
        // No products at all, and an empty list.
        json!({"id": "r5", "verifiedFirstName": "Ana", "roomNumber": "101",
            "order": {"id": "o-5", "chargeAmount": 0}}),
        json!({"id": "r6", "verifiedFirstName": "Ana", "roomNumber": "101",
            "order": {"id": "o-6", "chargeAmount": 0, "products": []}}),
        // No order at all.
        json!({"id": "r7", "verifiedFirstName": "Ana", "roomNumber": "101"}),
    ];
    for resource in cases {
        let got = app.webhook(&hotel, &created(resource.clone())).await;
        expect_webhook_error(&got, 403, INVALID_BODY, INVALID_BODY_MSG);
        assert!(
            !got.1["details"].as_array().unwrap().is_empty(),
            "details say what is missing: {resource}"
        );
    }
    assert!(task_list(&app, &key).await.is_empty());
}

#[tokio::test]
async fn an_unknown_room_is_row_3() {
    let (app, hotel, key) = setup().await;
    let other = app.create_hotel("h2").await;
    app.store
        .add_rooms(
            &hotel_id(&other),
            vec![Room {
                room: "555".into(),
                floor: None,
            }],
        )
        .await
        .unwrap();
    for room in ["999", "555", "101A", "10"] {
        let got = app.webhook(&hotel, &order("o-1", room, &["4"])).await;
        expect_webhook_error(&got, 400, HUBOS_FAIL, "Unknown room");
    }
    assert!(task_list(&app, &key).await.is_empty());
    // Nothing was remembered for the refused order: once right, it makes its task.
    let (s, answer) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{answer}");
}

#[tokio::test]
async fn no_known_service_is_row_3b() {
    let (app, hotel, key) = setup().await;
    let got = app.webhook(&hotel, &order("o-1", "101", &["999"])).await;
    expect_webhook_error(&got, 400, HUBOS_FAIL, "Unknown service");
    let got = app
        .webhook(&hotel, &order("o-2", "101", &["1", "27", "0"]))
        .await;
    expect_webhook_error(&got, 400, HUBOS_FAIL, "Unknown service");
    // Unknown ids mixed with items without any id: still no item can become a task.
    let body = created(json!({
        "id": "r", "verifiedFirstName": "Ana", "roomNumber": "101",
        "order": {"id": "o-3", "chargeAmount": 0, "products": [
            {"name": "Flowers"}, {"name": "Spa", "externalId": "999"}]}
    }));
    let got = app.webhook(&hotel, &body).await;
    expect_webhook_error(&got, 400, HUBOS_FAIL, "Unknown service");
    assert!(task_list(&app, &key).await.is_empty());
}

#[tokio::test]
async fn the_first_failing_check_decides() {
    let (app, hotel, key) = setup().await;
    // Bad credentials and a bad body: the credentials answer.
    let bad = Hotel {
        password: "wrong".into(),
        ..hotel.clone()
    };
    let got = app
        .webhook(&bad, &created(json!({"order": {"id": "o"}})))
        .await;
    expect_webhook_error(&got, 400, "WEB_HUK_INVALID_CREDS", "Invalid credentials.");

    // Missing first name and an unknown room: row 2.
    let body = created(json!({
        "id": "r", "roomNumber": "999",
        "order": {"id": "o-1", "chargeAmount": 0, "products": [{"externalId": "4"}]}
    }));
    expect_webhook_error(
        &app.webhook(&hotel, &body).await,
        403,
        INVALID_BODY,
        INVALID_BODY_MSG,
    );
    // No external id and an unknown room: row 2.
    let body = created(json!({
        "id": "r", "verifiedFirstName": "Ana", "roomNumber": "999",
        "order": {"id": "o-2", "chargeAmount": 0, "products": [{"name": "Flowers"}]}
    }));
    expect_webhook_error(
        &app.webhook(&hotel, &body).await,
        403,
        INVALID_BODY,
        INVALID_BODY_MSG,
    );
    // Unknown room and unknown service: the room.
    expect_webhook_error(
        &app.webhook(&hotel, &order("o-3", "999", &["999"])).await,
        400,
        HUBOS_FAIL,
        "Unknown room",
    );
    // A paid order is ignored before any field check.
    let body = created(json!({"order": {"id": "o-4", "chargeAmount": 10}}));
    let (s, answer) = app.webhook(&hotel, &body).await;
    assert_eq!(s, 200, "{answer}");
    assert_eq!(
        answer,
        json!({"status": "ignored", "reason": "paid orders are not synced"})
    );
    assert!(task_list(&app, &key).await.is_empty());
}

#[tokio::test]
async fn a_redelivered_order_is_a_duplicate_with_the_same_tasks() {
    let (app, hotel, key) = setup().await;
    let body = order("o-1", "101", &["4", "22"]);
    let (s, first) = app.webhook(&hotel, &body).await;
    assert_eq!(s, 201, "{first}");
    for _ in 0..3 {
        let (s, again) = app.webhook(&hotel, &body).await;
        assert_eq!(s, 200, "{again}");
        assert_eq!(again["status"], "duplicate");
        assert_eq!(again["orderId"], "o-1");
        assert_eq!(again["tasks"], first["tasks"], "the very same tasks");
    }
    // Same order id, different content (a retry after an edit): still the same order.
    let (s, again) = app
        .webhook(&hotel, &order("o-1", "102", &["2", "3", "5"]))
        .await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["status"], "duplicate");
    assert_eq!(ids(&tasks_of(&again)), ids(&tasks_of(&first)));
    assert_eq!(task_list(&app, &key).await.len(), 2);

    // A duplicate reports tasks as they are now.
    let id = first["tasks"][0]["id"].as_str().unwrap();
    let (s, _) = app
        .post_api(
            &key,
            &format!("/api/v1/tasks/{id}/status"),
            &json!({"status": "accepted"}),
        )
        .await;
    assert_eq!(s, 200);
    let (_, again) = app.webhook(&hotel, &body).await;
    assert_eq!(again["tasks"][0]["status"], "accepted", "{again}");

    // The same order id at another hotel is another order.
    let other = app.create_hotel("h2").await;
    let (s, answer) = app.webhook(&other, &body).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(task_list(&app, &key).await.len(), 2);

    let codes: Vec<String> = inbound_log(&app, &key)
        .await
        .iter()
        .map(|e| e["code"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(codes.iter().filter(|c| *c == "created").count(), 1);
    assert_eq!(codes.iter().filter(|c| *c == "duplicate").count(), 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_redeliveries_make_the_tasks_once() {
    let (app, hotel, key) = setup().await;
    let body = order("o-race", "101", &["4", "22", "8"]).to_string();
    let mut set = JoinSet::new();
    for _ in 0..20 {
        let client = app.client.clone();
        let url = app.url("/webhooks/duve");
        let hotel = hotel.clone();
        let body = body.clone();
        set.spawn(async move {
            let res = client
                .post(url)
                .header("content-type", "application/json")
                .header("custom_hotel_id", &hotel.id)
                .header("custom_access_token", &hotel.access)
                .header("custom_password_token", &hotel.password)
                .body(body)
                .send()
                .await
                .expect("request");
            json_of(res).await
        });
    }
    let answers = set.join_all().await;
    let created: Vec<&Value> = answers
        .iter()
        .filter(|(s, _)| *s == 201)
        .map(|(_, b)| b)
        .collect();
    assert_eq!(created.len(), 1, "{answers:?}");
    assert_eq!(created[0]["status"], "created");
    let want = ids(&tasks_of(created[0]));
    assert_eq!(want.len(), 3);
    for (s, b) in &answers {
        assert!(*s == 201 || *s == 200, "{s} {b}");
        if *s == 200 {
            assert_eq!(b["status"], "duplicate", "{b}");
        }
        assert_eq!(ids(&tasks_of(b)), want, "{b}");
    }
    let listed = task_list(&app, &key).await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    let mut exts: Vec<&str> = listed
        .iter()
        .map(|t| t["externalId"].as_str().unwrap())
        .collect();
    exts.sort_unstable();
    assert_eq!(exts, ["22", "4", "8"]);
}

#[tokio::test]
async fn an_order_without_id_is_deduplicated_by_its_body() {
    let (app, hotel, key) = setup().await;
    let body = created(json!({
        "id": "r", "verifiedFirstName": "Ana", "roomNumber": "101",
        "order": {"status": 0, "chargeAmount": 0, "products": [{"name": "T", "externalId": "4"}]}
    }))
    .to_string();
    let res = app.post_webhook(&hotel, body.clone()).await;
    let (s, first) = json_of(res).await;
    assert_eq!(s, 201, "{first}");
    assert_eq!(first["orderId"], Value::Null, "{first}");
    let res = app.post_webhook(&hotel, body.clone()).await;
    let (s, again) = json_of(res).await;
    assert_eq!(s, 200, "{again}");
    assert_eq!(again["status"], "duplicate");
    assert_eq!(ids(&tasks_of(&again)), ids(&tasks_of(&first)));
    assert_eq!(task_list(&app, &key).await.len(), 1);

    // Another body without an id is another order.
    let other = body.replace("\"4\"", "\"22\"");
    assert_ne!(other, body);
    let (s, answer) = json_of(app.post_webhook(&hotel, other).await).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(task_list(&app, &key).await.len(), 2);
}

#[tokio::test]
async fn paid_orders_are_ignored() {
    let (app, hotel, key) = setup().await;
    let ignored = json!({"status": "ignored", "reason": "paid orders are not synced"});
    let mut paid = order("o-1", "101", &["4"]);
    paid["resource"]["order"]["chargeAmount"] = json!(25);
    let (s, answer) = app.webhook(&hotel, &paid).await;
    assert_eq!((s, &answer), (200, &ignored));
    // A charge sent as a string, and a fractional one.
    paid["resource"]["order"]["chargeAmount"] = json!("12.50");
    assert_eq!(app.webhook(&hotel, &paid).await, (200, ignored.clone()));
    paid["resource"]["order"]["chargeAmount"] = json!(0.01);
    assert_eq!(app.webhook(&hotel, &paid).await, (200, ignored.clone()));
    // Paid and lacking everything row 2 would ask for: still ignored, not refused.
    let bare = created(json!({"order": {"id": "o-2", "status": 0, "chargeAmount": 90}}));
    assert_eq!(app.webhook(&hotel, &bare).await, (200, ignored.clone()));
    assert!(task_list(&app, &key).await.is_empty());
    let log = inbound_log(&app, &key).await;
    assert_eq!(log.len(), 4);
    assert!(log.iter().all(|e| e["code"] == "ignored"), "{log:?}");

    // Free: a zero charge, or none at all.
    let (s, _) = app.webhook(&hotel, &order("o-3", "101", &["4"])).await;
    assert_eq!(s, 201);
    let mut free = order("o-4", "101", &["4"]);
    free["resource"]["order"]
        .as_object_mut()
        .unwrap()
        .remove("chargeAmount");
    let (s, answer) = app.webhook(&hotel, &free).await;
    assert_eq!(s, 201, "{answer}");
}

#[tokio::test]
async fn paid_orders_make_tasks_when_the_hotel_syncs_them() {
    let (app, hotel, key) = setup().await;
    let mut paid = order("o-1", "101", &["4"]);
    paid["resource"]["order"]["chargeAmount"] = json!(25);
    let (s, _) = app.webhook(&hotel, &paid).await;
    assert_eq!(s, 200);
    app.store
        .update_hotel(
            &hotel_id(&hotel),
            HotelSettings {
                sync_paid_orders: Some(true),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    paid["resource"]["order"]["id"] = json!("o-2");
    let (s, answer) = app.webhook(&hotel, &paid).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["tasks"][0]["taskName"], "Serve towels");
    assert_eq!(task_list(&app, &key).await.len(), 1);
    // Once paid orders are synced, they need the fields like any other.
    let bare = created(json!({"order": {"id": "o-3", "status": 0, "chargeAmount": 90}}));
    expect_webhook_error(
        &app.webhook(&hotel, &bare).await,
        403,
        INVALID_BODY,
        INVALID_BODY_MSG,
    );
}

#[tokio::test]
async fn a_room_added_while_running_counts_at_once() {
    let (app, hotel, _) = setup().await;
    let got = app.webhook(&hotel, &order("o-1", "777", &["4"])).await;
    expect_webhook_error(&got, 400, HUBOS_FAIL, "Unknown room");
    app.store
        .add_rooms(
            &hotel_id(&hotel),
            vec![Room {
                room: "777".into(),
                floor: Some("7".into()),
            }],
        )
        .await
        .unwrap();
    let (s, answer) = app.webhook(&hotel, &order("o-1", "777", &["4"])).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["tasks"][0]["room"], "777");
}

#[tokio::test]
async fn a_catalog_entry_set_while_running_counts_at_once() {
    let (app, hotel, _) = setup().await;
    let got = app.webhook(&hotel, &order("o-1", "101", &["900"])).await;
    expect_webhook_error(&got, 400, HUBOS_FAIL, "Unknown service");
    let entry = |ext: &str, name: &str| CatalogEntry {
        external_id: ext.into(),
        name: name.into(),
        department: None,
        sla_minutes: None,
    };
    app.store
        .set_catalog(&hotel_id(&hotel), entry("900", "Champagne on ice"))
        .await
        .unwrap();
    let (s, answer) = app.webhook(&hotel, &order("o-1", "101", &["900"])).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["tasks"][0]["taskName"], "Champagne on ice");
    assert_eq!(answer["tasks"][0]["externalId"], "900");
    // A renamed entry names the next tasks.
    app.store
        .set_catalog(&hotel_id(&hotel), entry("4", "Fresh towels"))
        .await
        .unwrap();
    let (s, answer) = app.webhook(&hotel, &order("o-2", "101", &["4"])).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["tasks"][0]["taskName"], "Fresh towels");
}

#[tokio::test]
async fn due_time_comes_from_the_delivery_time_or_the_sla() {
    let (app, hotel, key) = setup().await;
    app.store
        .set_catalog(
            &hotel_id(&hotel),
            CatalogEntry {
                external_id: "22".into(),
                name: "Luggage".into(),
                department: Some("Bell desk".into()),
                sla_minutes: Some(30),
            },
        )
        .await
        .unwrap();

    // A delivery time wins over the SLA and over having none.
    let mut timed = order("o-1", "101", &["4", "22"]);
    timed["resource"]["order"]["deliveryTime"] = json!("2023-01-14T15:30:00.000Z");
    let (s, answer) = app.webhook(&hotel, &timed).await;
    assert_eq!(s, 201, "{answer}");
    for t in tasks_of(&answer) {
        assert_eq!(t["dueAt"], "2023-01-14T15:30:00.000Z", "{t}");
    }

    // No delivery time: the SLA from the task's creation; none without an SLA (a service the
    // hotel added without one).
    app.store
        .set_catalog(
            &hotel_id(&hotel),
            CatalogEntry {
                external_id: "99".into(),
                name: "Flowers".into(),
                department: None,
                sla_minutes: None,
            },
        )
        .await
        .unwrap();
    let (s, answer) = app
        .webhook(&hotel, &order("o-2", "101", &["99", "22"]))
        .await;
    assert_eq!(s, 201, "{answer}");
    let tasks = tasks_of(&answer);
    assert_eq!(tasks[0]["dueAt"], Value::Null, "{answer}");
    assert_eq!(tasks[0]["department"], Value::Null, "{answer}");
    let created: jiff::Timestamp = tasks[1]["createdAt"].as_str().unwrap().parse().unwrap();
    let due: jiff::Timestamp = tasks[1]["dueAt"]
        .as_str()
        .unwrap_or_else(|| panic!("dueAt from the SLA: {answer}"))
        .parse()
        .unwrap();
    assert_eq!(
        due.duration_since(created),
        jiff::SignedDuration::from_mins(30)
    );

    // The API shows the same due time.
    let (_, detail) = app
        .get_api(
            &key,
            &format!("/api/v1/tasks/{}", tasks[1]["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(detail["dueAt"], tasks[1]["dueAt"]);
    assert_eq!(detail["department"], "Bell desk");
}

#[tokio::test]
async fn a_bare_local_delivery_time_is_read_in_the_hotels_timezone() {
    let (app, hotel, _) = setup().await;
    app.store
        .update_hotel(
            &hotel_id(&hotel),
            HotelSettings {
                timezone: Some("Europe/Lisbon".into()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let mut body = order("o-1", "101", &["4"]);
    body["resource"]["order"]["deliveryTime"] = json!("2023-07-01T15:30:00");
    let (s, answer) = app.webhook(&hotel, &body).await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["tasks"][0]["dueAt"], "2023-07-01T14:30:00.000Z");
}

#[tokio::test]
async fn fields_are_found_along_the_contracts_paths() {
    let (app, hotel, _) = setup().await;
    // (resource, expected room, guest, external id, quantity, orderId, dueAt)
    let cases = [
        (
            json!({"id": "r", "room": {"number": "102"}, "guest": {"firstName": "Gus", "lastName": "Ode"},
                "order": {"_id": "alt-1", "chargeAmount": 0,
                    "items": [{"name": "x", "external_id": "4", "qty": "2"}]}}),
            "102",
            "Gus Ode",
            "4",
            2,
            json!("alt-1"),
            Value::Null,
        ),
        (
            json!({"id": "r", "room": "101", "firstName": "Fay",
                "order": {"id": "alt-2", "scheduledFor": "2024-03-01T09:00:00Z"},
                "products": [{"name": "x", "productExternalId": 22}]}),
            "101",
            "Fay",
            "22",
            1,
            json!("alt-2"),
            json!("2024-03-01T09:00:00.000Z"),
        ),
        (
            json!({"id": "r", "unitName": "102", "verifiedFirstName": "Uma",
                "order": {"id": "alt-3", "requestedTime": "2024-03-01T10:00:00+02:00",
                    "products": [{"name": "x", "externalId": " 8 "}]}}),
            "102",
            "Uma",
            "8",
            1,
            json!("alt-3"),
            json!("2024-03-01T08:00:00.000Z"),
        ),
        (
            json!({"id": "r", "reservation": {"roomNumber": 101}, "verifiedFirstName": "Rex",
                "order": {"id": "alt-4", "products": [{"name": "x", "externalId": "6", "quantity": 4.0}]}}),
            "101",
            "Rex",
            "6",
            4,
            json!("alt-4"),
            Value::Null,
        ),
        // First found wins: roomNumber over apartmentNumber, verified names over plain ones,
        // order.products over order.items, deliveryTime over requestedTime, externalId over
        // external_id, quantity over qty.
        (
            json!({"id": "r", "roomNumber": "101", "apartmentNumber": "102",
                "verifiedFirstName": "Vera", "firstName": "Plain", "lastName": "Name",
                "order": {"id": "alt-5", "deliveryTime": "2024-03-02T00:00:00Z",
                    "requestedTime": "2024-03-03T00:00:00Z",
                    "products": [{"name": "x", "externalId": "2", "external_id": "3",
                        "quantity": 3, "qty": 9}],
                    "items": [{"name": "y", "externalId": "5"}]}}),
            "101",
            "Vera Name",
            "2",
            3,
            json!("alt-5"),
            json!("2024-03-02T00:00:00.000Z"),
        ),
    ];
    for (resource, room, guest, ext, qty, order_id, due) in cases {
        let (s, answer) = app.webhook(&hotel, &created(resource.clone())).await;
        assert_eq!(s, 201, "{resource}: {answer}");
        let tasks = tasks_of(&answer);
        assert_eq!(tasks.len(), 1, "{answer}");
        let t = &tasks[0];
        assert_eq!(t["room"], room, "{resource}");
        assert_eq!(t["guestName"], guest, "{resource}");
        assert_eq!(t["externalId"], ext, "{resource}");
        assert_eq!(t["quantity"], qty, "{resource}");
        assert_eq!(answer["orderId"], order_id, "{resource}");
        // The requested time, when the order carries one (the due time then too).
        assert_eq!(t["scheduledFor"], due, "{resource}");
        if !due.is_null() {
            assert_eq!(t["dueAt"], due, "{resource}");
        }
    }
}
