//! `GET /api/v1/inbound`: the hotel's log of webhook deliveries (CONTRACT.md §1 and §3).

use std::sync::Arc;

use hubhook::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{Hotel, TestApp, order, spawn_app, spawn_app_in};

async fn entries(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let (status, body) = app.get_api(key, &format!("/api/v1/inbound{query}")).await;
    assert_eq!(status, 200, "{body}");
    body["entries"].as_array().expect("entries").clone()
}

async fn send_raw(app: &TestApp, hotel: &Hotel, body: &str) -> (u16, Value) {
    let res = app.post_webhook(hotel, body.to_owned()).await;
    crate::helpers::json_of(res).await
}

#[tokio::test]
async fn deliveries_are_listed_newest_first_with_event_code_details_tasks_and_body() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;

    let created_body = order("o-1", "101", &["4", "22"]).to_string();
    let unknown_room_body = order("o-2", "999", &["4"]).to_string();
    let no_event_body = json!({"accountId": "acc", "resource": {}}).to_string();
    let recorded_body = json!({"accountId": "acc", "event": "reservationCreated",
        "resource": {"id": "res-9", "verifiedFirstName": "Ana"}})
    .to_string();
    let unknown_event_body =
        json!({"accountId": "acc", "event": "somethingNew", "resource": {}}).to_string();

    let (s, created) = send_raw(&app, &hotel, &created_body).await;
    assert_eq!(s, 201, "{created}");
    let (s, dup) = send_raw(&app, &hotel, &created_body).await;
    assert_eq!(s, 200, "{dup}");
    let (s, refused) = send_raw(&app, &hotel, &unknown_room_body).await;
    assert_eq!(s, 400, "{refused}");
    let (s, invalid) = send_raw(&app, &hotel, &no_event_body).await;
    assert_eq!(s, 403, "{invalid}");
    let (s, _) = send_raw(&app, &hotel, &recorded_body).await;
    assert_eq!(s, 200);
    let (s, _) = send_raw(&app, &hotel, &unknown_event_body).await;
    assert_eq!(s, 200);

    let log = entries(&app, &key, "").await;
    assert_eq!(log.len(), 6, "{log:?}");
    // Newest first.
    let want = [
        (Some("somethingNew"), "ignored", &unknown_event_body),
        (Some("reservationCreated"), "recorded", &recorded_body),
        (None, "WEB_HUK_INVALID_BODY", &no_event_body),
        (
            Some("orderCreated"),
            "WEB_HUK_HUBOS_REQUEST_FAIL",
            &unknown_room_body,
        ),
        (Some("orderCreated"), "duplicate", &created_body),
        (Some("orderCreated"), "created", &created_body),
    ];
    for (e, (event, code, body)) in log.iter().zip(want) {
        assert_eq!(e["event"].as_str(), event, "{e}");
        assert_eq!(e["code"], code, "{e}");
        assert_eq!(
            e["body"],
            body.as_str(),
            "the raw body is kept as received: {e}"
        );
        let at = e["receivedAt"].as_str().expect("receivedAt");
        assert!(at.parse::<jiff::Timestamp>().is_ok(), "{at}");
        assert!(e["durationMs"].as_f64().is_some_and(|d| d >= 0.0), "{e}");
        assert!(e["details"].is_array() && e["taskIds"].is_array(), "{e}");
    }
    let seqs: Vec<i64> = log.iter().map(|e| e["id"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
    let times: Vec<&str> = log
        .iter()
        .map(|e| e["receivedAt"].as_str().unwrap())
        .collect();
    assert!(times.windows(2).all(|w| w[0] >= w[1]), "{times:?}");

    // The created delivery names its tasks; the duplicate names the same ones.
    let task_ids: Vec<Value> = created["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].clone())
        .collect();
    assert_eq!(task_ids.len(), 2);
    assert_eq!(log[5]["taskIds"], Value::Array(task_ids.clone()));
    assert_eq!(log[4]["taskIds"], Value::Array(task_ids));
    assert_eq!(log[5]["details"], json!([]));
    // Refusals say why, for people.
    for refused in [&log[3], &log[2]] {
        let details = refused["details"].as_array().unwrap();
        assert!(!details.is_empty(), "{refused}");
        assert!(
            details
                .iter()
                .all(|d| d.as_str().is_some_and(|s| !s.is_empty()))
        );
        assert_eq!(refused["taskIds"], json!([]));
    }
    assert!(
        log[3]["details"].to_string().contains("999"),
        "the unknown room is named: {}",
        log[3]
    );
    // Secrets are never part of the log.
    let text = serde_json::to_string(&log).unwrap();
    assert!(!text.contains(&hotel.access) && !text.contains(&hotel.password));
}

#[tokio::test]
async fn limit_takes_the_newest_entries_and_is_validated() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    for i in 0..5 {
        let (s, body) = app
            .webhook(&hotel, &order(&format!("o-{i}"), "101", &["4"]))
            .await;
        assert_eq!(s, 201, "{body}");
    }
    let all = entries(&app, &key, "").await;
    assert_eq!(all.len(), 5);
    let two = entries(&app, &key, "?limit=2").await;
    assert_eq!(two, all[..2].to_vec());
    assert!(two[0]["body"].as_str().unwrap().contains("o-4"));
    assert!(two[1]["body"].as_str().unwrap().contains("o-3"));
    assert_eq!(entries(&app, &key, "?limit=500").await.len(), 5);
    for bad in ["0", "501", "abc", "-3"] {
        let (status, body) = app
            .get_api(&key, &format!("/api/v1/inbound?limit={bad}"))
            .await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["code"], "INVALID_REQUEST");
        assert!(body["message"].is_string() && body["details"].is_array());
    }
}

#[tokio::test]
async fn each_hotel_sees_only_its_own_deliveries() {
    let app = spawn_app().await;
    let a = app.create_hotel("hotel-a").await;
    let b = app.create_hotel("hotel-b").await;
    let key_a = app.api_key(&a, Role::Manager).await;
    let key_b = app.api_key(&b, Role::Manager).await;

    let (s, _) = app.webhook(&a, &order("a-1", "101", &["4"])).await;
    assert_eq!(s, 201);
    let (s, _) = app.webhook(&a, &order("a-2", "999", &["4"])).await;
    assert_eq!(s, 400);
    let (s, _) = app.webhook(&b, &order("b-1", "102", &["22"])).await;
    assert_eq!(s, 201);
    // B's id with A's tokens: refused before anything is known about the sender, logged nowhere
    // (the contract logs requests that passed authentication; an unauthenticated sender could
    // otherwise write into any hotel's log).
    let forged = Hotel {
        id: b.id.clone(),
        access: a.access.clone(),
        password: a.password.clone(),
    };
    let (s, body) = app.webhook(&forged, &order("forged", "101", &["4"])).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["code"], "WEB_HUK_INVALID_CREDS");

    let log_a = entries(&app, &key_a, "").await;
    let log_b = entries(&app, &key_b, "").await;
    assert_eq!(log_a.len(), 2, "{log_a:?}");
    assert_eq!(log_b.len(), 1, "{log_b:?}");
    assert!(
        log_a
            .iter()
            .all(|e| !e["body"].as_str().unwrap().contains("b-1"))
    );
    assert!(log_b[0]["body"].as_str().unwrap().contains("b-1"));
    assert!(
        log_a
            .iter()
            .chain(&log_b)
            .all(|e| !e["body"].as_str().unwrap().contains("forged"))
    );
    let (status, body) = app.get_api("hhk_nobody", "/api/v1/inbound").await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn an_oversized_body_with_valid_credentials_is_logged_as_too_large() {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let app = spawn_app_in(dir, |c| c.body_limit = 2048).await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let mut big = order("big", "101", &["4"]);
    big["resource"]["padding"] = json!("x".repeat(4096));
    let (s, body) = app.webhook(&hotel, &big).await;
    assert_eq!(s, 413, "{body}");
    let log = entries(&app, &key, "").await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["code"], "WEB_HUK_PAYLOAD_TOO_LARGE");
    assert!(!log[0]["details"].as_array().unwrap().is_empty());
    assert_eq!(log[0]["taskIds"], json!([]));
}
