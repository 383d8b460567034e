//! What the hotel's configuration decides, live: paid orders ignored unless the hotel syncs them, a
//! room or a catalog entry added while the server runs counts at once.

use hubhook::{
    domain::CatalogEntry,
    store::{HotelSettings, Room},
};
use serde_json::json;

use super::{HUBOS_FAIL, INVALID_BODY, INVALID_BODY_MSG, created, hotel_id, setup};
use crate::helpers::{expect_webhook_error, inbound_log, order, task_list};

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
