//! Every Duve payload in `crates/duve/tests/fixtures/` delivered to a running service, with the answer
//! the contract gives for each (CONTRACT.md §1).

use std::{collections::BTreeSet, path::PathBuf};

use hubhook::{
    domain::{HotelId, Role},
    store::Room,
};
use serde_json::{Value, json};

use crate::helpers::{
    Hotel, TestApp, expect_webhook_error, fixture, inbound_log, json_of, spawn_app, task_list,
};

/// A task the answer must hold: external id, task name, quantity, room, guest name, due time.
type Want = (
    &'static str,
    &'static str,
    u64,
    &'static str,
    &'static str,
    Option<&'static str>,
);

enum Expect {
    Recorded,
    Ignored(&'static str),
    Created(&'static [Want]),
}

/// In delivery order: the reservation's context first, so the room-less order can use it, and
/// `pendingOrderCreated` (which names room 101 for the same reservation) after it.
const PLAN: &[(&str, Expect)] = &[
    ("reservationCreated.json", Expect::Recorded),
    ("preCheckInDone.json", Expect::Recorded),
    ("reservationRoomAssign.json", Expect::Recorded),
    (
        "orderCreated.no-room.json",
        Expect::Created(&[("4", "Serve towels", 1, "305", "Bobby Smith", None)]),
    ),
    (
        "orderCreated.hubos.json",
        Expect::Created(&[(
            "4",
            "Serve towels",
            2,
            "101",
            "Bobby Smith",
            Some("2023-01-14T15:30:00.000Z"),
        )]),
    ),
    (
        "orderCreated.multi-item.json",
        Expect::Created(&[
            ("8", "Install baby cot", 1, "101", "Bobby Smith", None),
            ("6", "Serve pillows", 2, "101", "Bobby Smith", None),
        ]),
    ),
    (
        "orderCreated.numeric-ids.json",
        Expect::Created(&[(
            "9",
            "Install extra bed",
            3,
            "204",
            "Alice Martin",
            Some("2023-01-15T08:00:00.000Z"),
        )]),
    ),
    (
        "orderCreated.apartment.json",
        Expect::Created(&[
            ("11", "Taps purge", 1, "12B", "Carla Diaz", None),
            ("5", "Check minibar", 2, "12B", "Carla Diaz", None),
        ]),
    ),
    (
        "orderCreated.mixed.json",
        Expect::Created(&[(
            "2",
            "Change bed sheets",
            1,
            "318",
            "Erik Larsen",
            Some("2023-01-16T07:30:00.000Z"),
        )]),
    ),
    (
        "orderCreated.unit.json",
        Expect::Created(&[(
            "14",
            "Zip beds",
            1,
            "Suite 7",
            "Farah Khan",
            Some("2023-01-17T10:00:00.000Z"),
        )]),
    ),
    (
        "orderCreated.paid.json",
        Expect::Ignored("paid orders are not synced"),
    ),
    (
        "orderCreated.plain.json",
        Expect::Ignored("paid orders are not synced"),
    ),
    ("pendingOrderCreated.json", Expect::Recorded),
    // Its order (…bd1, the plain one) was ignored as paid, so hubhook does not know it.
    ("orderCancelled.json", Expect::Ignored("unknown order")),
    ("orderRefunded.json", Expect::Recorded),
    ("chatMessageSent.json", Expect::Recorded),
    ("guestDocumentUploaded.json", Expect::Recorded),
    ("guestLinkOpened.json", Expect::Recorded),
    ("preCheckOutDone.json", Expect::Recorded),
    ("preCheckOutUpdated.json", Expect::Recorded),
];

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../duve/tests/fixtures")
}

async fn fixture_hotel(app: &TestApp) -> Hotel {
    let hotel = app.create_hotel("fixtures").await;
    let rooms = ["204", "305", "318", "110", "12B", "Suite 7"]
        .iter()
        .map(|r| Room {
            room: (*r).into(),
            floor: None,
        })
        .collect();
    app.store
        .add_rooms(&HotelId::parse(&hotel.id).unwrap(), rooms)
        .await
        .expect("rooms");
    hotel
}

async fn deliver(app: &TestApp, hotel: &Hotel, name: &str) -> (u16, Value) {
    json_of(app.post_webhook(hotel, fixture(name)).await).await
}

#[test]
fn every_fixture_has_an_expectation() {
    let on_disk: BTreeSet<String> = std::fs::read_dir(fixture_dir())
        .expect("fixture dir")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    let planned: BTreeSet<String> = PLAN.iter().map(|(n, _)| (*n).to_owned()).collect();
    assert_eq!(planned.len(), PLAN.len(), "a fixture is planned twice");
    assert_eq!(on_disk, planned);
}

#[tokio::test]
async fn every_fixture_gets_the_contracts_answer() {
    let app = spawn_app().await;
    let hotel = fixture_hotel(&app).await;
    let key = app.api_key(&hotel, Role::Manager).await;

    let mut made: Vec<Value> = Vec::new();
    for (name, expect) in PLAN {
        let (s, answer) = deliver(&app, &hotel, name).await;
        let event = serde_json::from_slice::<Value>(&fixture(name)).unwrap()["event"].clone();
        match expect {
            Expect::Recorded => {
                assert_eq!(
                    (s, &answer),
                    (200, &json!({"status": "recorded"})),
                    "{name}"
                );
            }
            Expect::Ignored(reason) => {
                assert_eq!(
                    (s, &answer),
                    (200, &json!({"status": "ignored", "reason": reason})),
                    "{name}"
                );
            }
            Expect::Created(want) => {
                assert_eq!(s, 201, "{name}: {answer}");
                assert_eq!(answer["status"], "created", "{name}");
                let order_id = serde_json::from_slice::<Value>(&fixture(name)).unwrap()["resource"]
                    ["order"]["id"]
                    .clone();
                assert_eq!(answer["orderId"], order_id, "{name}");
                let tasks = answer["tasks"].as_array().unwrap();
                let got: Vec<(String, String, u64, String, String, Option<String>)> = tasks
                    .iter()
                    .map(|t| {
                        (
                            t["externalId"].as_str().unwrap().to_owned(),
                            t["taskName"].as_str().unwrap().to_owned(),
                            t["quantity"].as_u64().unwrap(),
                            t["room"].as_str().unwrap().to_owned(),
                            t["guestName"].as_str().unwrap_or_default().to_owned(),
                            t["scheduledFor"].as_str().map(str::to_owned),
                        )
                    })
                    .collect();
                // Due at the requested time, or (the default catalog's service levels) its
                // creation plus the service's SLA.
                for t in tasks {
                    match t["scheduledFor"].as_str() {
                        Some(at) => assert_eq!(t["dueAt"], at, "{name}: {t}"),
                        None => assert!(t["dueAt"].as_str() > t["createdAt"].as_str(), "{t}"),
                    }
                }
                let want: Vec<(String, String, u64, String, String, Option<String>)> = want
                    .iter()
                    .map(|(e, n, q, r, g, d)| {
                        (
                            e.to_string(),
                            n.to_string(),
                            *q,
                            r.to_string(),
                            g.to_string(),
                            d.map(str::to_owned),
                        )
                    })
                    .collect();
                assert_eq!(got, want, "{name}: {answer}");
                assert!(tasks.iter().all(|t| t["status"] == "open"), "{name}");
                made.extend(tasks.iter().cloned());
            }
        }
        // Every delivery is in the log under its event.
        let last = inbound_log(&app, &key).await[0].clone();
        assert_eq!(last["event"], event, "{name}: {last}");
    }

    // A redelivered fixture is a duplicate.
    let (s, again) = deliver(&app, &hotel, "orderCreated.mixed.json").await;
    assert_eq!(s, 200, "a redelivery: {again}");
    assert_eq!(again["status"], "duplicate");

    // The API lists exactly the tasks the confirmations named.
    let listed = task_list(&app, &key).await;
    assert_eq!(listed.len(), made.len());
    let mut want = made.clone();
    want.reverse();
    assert_eq!(listed, want);
    assert_eq!(made.len(), 9);
    assert_eq!(inbound_log(&app, &key).await.len(), PLAN.len() + 1);
}

#[tokio::test]
async fn the_mixed_fixture_lists_its_skipped_items() {
    let app = spawn_app().await;
    let hotel = fixture_hotel(&app).await;
    let (s, answer) = deliver(&app, &hotel, "orderCreated.mixed.json").await;
    assert_eq!(s, 201, "{answer}");
    let skipped = answer["skipped"].as_array().expect("skipped");
    let got: Vec<(Value, Value)> = skipped
        .iter()
        .map(|s| (s["name"].clone(), s["externalId"].clone()))
        .collect();
    assert_eq!(
        got,
        [
            (json!("Welcome flowers"), Value::Null),
            (json!("Spa voucher"), json!("999")),
        ]
    );
    assert!(skipped.iter().all(|s| s["reason"].is_string()));
}

/// Tasks without what the escalation checker changes on its own (`priority`, `escalated`).
fn settled(tasks: &Value) -> Value {
    let mut tasks = tasks.clone();
    for t in tasks.as_array_mut().into_iter().flatten() {
        if let Some(t) = t.as_object_mut() {
            t.remove("priority");
            t.remove("escalated");
        }
    }
    tasks
}

#[tokio::test]
async fn order_fixtures_are_idempotent() {
    let app = spawn_app().await;
    let hotel = fixture_hotel(&app).await;
    let key = app.api_key(&hotel, Role::Staff).await;
    let orders = [
        "orderCreated.hubos.json",
        "orderCreated.multi-item.json",
        "orderCreated.numeric-ids.json",
        "orderCreated.apartment.json",
        "orderCreated.mixed.json",
        "orderCreated.unit.json",
    ];
    for name in orders {
        let (s, first) = deliver(&app, &hotel, name).await;
        assert_eq!(s, 201, "{name}: {first}");
        let (s, again) = deliver(&app, &hotel, name).await;
        assert_eq!(s, 200, "{name}: {again}");
        assert_eq!(again["status"], "duplicate", "{name}");
        // The same tasks, as they are now: the hubos fixture asks for 2023, so the escalation
        // checker may have escalated its task between the two deliveries (priority, escalated).
        assert_eq!(settled(&again["tasks"]), settled(&first["tasks"]), "{name}");
    }
    // 1 + 2 + 1 + 2 + 1 + 1 tasks, each made once.
    assert_eq!(task_list(&app, &key).await.len(), 8);
}

#[tokio::test]
async fn the_room_less_fixture_needs_its_context() {
    let app = spawn_app().await;
    let hotel = fixture_hotel(&app).await;
    let key = app.api_key(&hotel, Role::Staff).await;
    let got = deliver(&app, &hotel, "orderCreated.no-room.json").await;
    expect_webhook_error(
        &got,
        403,
        "WEB_HUK_INVALID_BODY",
        "Please provide the proper Room Number, External Id, and Verified First Name.",
    );
    // The room assignment alone (it names the guest too) is enough.
    let (s, _) = deliver(&app, &hotel, "reservationRoomAssign.json").await;
    assert_eq!(s, 200);
    let (s, answer) = deliver(&app, &hotel, "orderCreated.no-room.json").await;
    assert_eq!(s, 201, "{answer}");
    assert_eq!(answer["tasks"][0]["room"], "305");
    assert_eq!(answer["tasks"][0]["guestName"], "Bobby Smith");
    assert_eq!(task_list(&app, &key).await.len(), 1);
}

#[tokio::test]
async fn cancelling_and_refunding_fixture_orders() {
    let app = spawn_app().await;
    let hotel = fixture_hotel(&app).await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let (s, created) = deliver(&app, &hotel, "orderCreated.hubos.json").await;
    assert_eq!(s, 201, "{created}");
    // orderCancelled.json, pointed at the hubos order.
    let mut cancel: Value = serde_json::from_slice(&fixture("orderCancelled.json")).unwrap();
    cancel["resource"]["order"]["id"] = created["orderId"].clone();
    let (s, answer) = app.webhook(&hotel, &cancel).await;
    assert_eq!(s, 200, "{answer}");
    assert_eq!(answer["status"], "cancelled");
    assert_eq!(answer["tasks"][0]["id"], created["tasks"][0]["id"]);
    assert_eq!(answer["tasks"][0]["status"], "cancelled");
    // orderRefunded.json, pointed at the same order.
    let mut refund: Value = serde_json::from_slice(&fixture("orderRefunded.json")).unwrap();
    refund["resource"]["order"]["id"] = created["orderId"].clone();
    let (s, answer) = app.webhook(&hotel, &refund).await;
    assert_eq!((s, answer), (200, json!({"status": "recorded"})));
    let id = created["tasks"][0]["id"].as_str().unwrap();
    let (_, detail) = app.get_api(&key, &format!("/api/v1/tasks/{id}")).await;
    let events = detail["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{detail}");
    assert!(
        events[2]["note"]
            .as_str()
            .is_some_and(|n| n.contains("refund")),
        "{detail}"
    );
    assert_eq!(detail["notes"], "Two extra bath towels, please");
}
