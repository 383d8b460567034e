//! The field checks in the contract's order: a missing room name or external id (row 2), an unknown
//! room (row 3), no known service (row 3b), and the first failing check deciding.

use hubhook::store::Room;
use serde_json::json;

use super::{HUBOS_FAIL, INVALID_BODY, INVALID_BODY_MSG, created, hotel_id, setup};
use crate::helpers::{Hotel, expect_webhook_error, order, task_list};

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
