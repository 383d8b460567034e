//! The 201 confirmation of an `orderCreated`: its shape, one task per product and per item, numbers
//! where strings are expected, what a mixed order skipped, and the fields found along the
//! contract's paths.

use serde_json::{Value, json};

use super::{created, setup, tasks_of};
use crate::helpers::{order, task_list};

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
