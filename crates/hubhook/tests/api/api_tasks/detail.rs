//! One task: its detail with the creation event in its history, and tasks created by hand.

use hubhook::domain::Role;
use serde_json::{Value, json};

use super::{actor_of, assert_error, detail, list, manual, move_to, webhook_task};
use crate::helpers::{json_of, spawn_app};

#[tokio::test]
async fn task_detail_has_the_task_and_its_creation_event() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    let task = webhook_task(&app, &hotel, "o-1").await;
    let id = task["id"].as_str().unwrap();
    let d = detail(&app, &key, id).await;
    for field in [
        "id",
        "externalId",
        "taskName",
        "room",
        "guestName",
        "quantity",
        "status",
        "dueAt",
        "createdAt",
    ] {
        assert_eq!(d[field], task[field], "{field}: {d}");
    }
    assert_eq!(d["taskName"], "Serve towels");
    assert_eq!(d["externalId"], "4");
    assert_eq!(d["room"], "101");
    assert_eq!(d["status"], "open");
    let events = d["events"].as_array().expect("events");
    assert_eq!(events.len(), 1, "{d}");
    assert_eq!(events[0]["from"], Value::Null);
    assert_eq!(events[0]["to"], "open");
    assert_eq!(events[0]["actor"], "duve");
    assert_eq!(events[0]["at"], d["createdAt"]);

    // A task made through the API names its key as the actor.
    let t = manual(&app, &key, json!({"room": "102", "externalId": "22"})).await;
    let d = detail(&app, &key, t["id"].as_str().unwrap()).await;
    assert_eq!(d["events"][0]["actor"], actor_of(&key));
    assert_eq!(d["events"][0]["to"], "open");

    // Not a UUID, or a UUID that names no task: 404 with the error body.
    for bad in [
        "not-a-uuid",
        "123",
        "00000000-0000-0000-0000-000000000000",
        "0190f5a3-7b1c-7d2e-8f00-123456789abc",
    ] {
        let (status, body) = app.get_api(&key, &format!("/api/v1/tasks/{bad}")).await;
        assert_error(status, &body, 404, "NOT_FOUND");
        let (status, body) = move_to(&app, &key, bad, "accepted").await;
        assert_error(status, &body, 404, "NOT_FOUND");
    }
}

#[tokio::test]
async fn manual_task_creation() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;

    // externalId: the task takes the catalog's name.
    let t = manual(&app, &key, json!({"room": "101", "externalId": "4"})).await;
    assert_eq!(t["taskName"], "Serve towels");
    assert_eq!(t["externalId"], "4");
    assert_eq!(t["room"], "101");
    assert_eq!(t["status"], "open");
    assert_eq!(t["quantity"], 1);
    assert!(t["id"].as_str().is_some_and(|i| i.len() == 36), "{t}");
    assert!(t["createdAt"].is_string());
    // The same task is what the API shows afterwards.
    let d = detail(&app, &key, t["id"].as_str().unwrap()).await;
    assert_eq!(d["taskName"], "Serve towels");

    // A name only.
    let t = manual(
        &app,
        &key,
        json!({"room": "102", "name": "Fix the shower", "quantity": 2}),
    )
    .await;
    assert_eq!(t["taskName"], "Fix the shower");
    assert_eq!(t["externalId"], Value::Null);
    assert_eq!(t["room"], "102");
    assert_eq!(t["quantity"], 2);

    // Numbers for room and externalId, as Duve sends them.
    let t = manual(&app, &key, json!({"room": 101, "externalId": 22})).await;
    assert_eq!(t["room"], "101");
    assert_eq!(t["externalId"], "22");
    assert_eq!(t["taskName"], "Luggage");

    let page = list(&app, &key, "").await;
    assert_eq!(page["tasks"].as_array().unwrap().len(), 3);

    // Refusals: a well-formed request for what the hotel lacks is 422, a malformed one 400.
    let (status, body) = app
        .post_api(
            &key,
            "/api/v1/tasks",
            &json!({"room": "999", "externalId": "4"}),
        )
        .await;
    assert_error(status, &body, 422, "UNKNOWN_ROOM");
    let (status, body) = app
        .post_api(
            &key,
            "/api/v1/tasks",
            &json!({"room": "101", "externalId": "999"}),
        )
        .await;
    assert_error(status, &body, 422, "UNKNOWN_SERVICE");
    for body in [
        json!({"room": "101"}),
        json!({"room": "101", "name": "   "}),
        json!({"externalId": "4"}),
        json!({"name": "No room"}),
    ] {
        let (status, answer) = app.post_api(&key, "/api/v1/tasks", &body).await;
        assert_error(status, &answer, 400, "INVALID_REQUEST");
    }
    // Malformed JSON: a JSON error body, not axum's plain text.
    for raw in ["{not json", "", "[]", "\"text\""] {
        let res = app
            .client
            .post(app.url("/api/v1/tasks"))
            .bearer_auth(&key)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .expect("request");
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let (status, answer) = json_of(res).await;
        assert!(content_type.starts_with("application/json"), "{raw:?}");
        assert_error(status, &answer, 400, "INVALID_REQUEST");
    }
    // Nothing was created by the refusals.
    let page = list(&app, &key, "").await;
    assert_eq!(page["tasks"].as_array().unwrap().len(), 3);
}
