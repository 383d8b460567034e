//! `/api/v1/tasks`: authentication, listing (order, filters, limits, cursors), detail with history,
//! manual creation, status moves and the isolation between hotels (CONTRACT.md §3). Here: the
//! requests and checks the modules below share.

mod access;
mod detail;
mod listing;
mod moves;

use serde_json::{Value, json};

use crate::helpers::{Hotel, TestApp, order};

/// How `helpers::TestApp::api_key` names a key, i.e. the actor the history shows for it.
fn actor_of(key: &str) -> String {
    format!("api:key_{}", &key[4..12])
}

fn assert_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["code"], want_code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(body["details"].is_array(), "{body}");
}

fn ids(tasks: &Value) -> Vec<String> {
    tasks
        .as_array()
        .expect("tasks is an array")
        .iter()
        .map(|t| t["id"].as_str().expect("task id").to_owned())
        .collect()
}

/// Creates a task by hand and returns it.
async fn manual(app: &TestApp, key: &str, body: Value) -> Value {
    let (status, task) = app.post_api(key, "/api/v1/tasks", &body).await;
    assert_eq!(status, 201, "{task}");
    task
}

/// A task made from a webhook order (room 101, "Serve towels").
async fn webhook_task(app: &TestApp, hotel: &Hotel, order_id: &str) -> Value {
    let (status, body) = app.webhook(hotel, &order(order_id, "101", &["4"])).await;
    assert_eq!(status, 201, "{body}");
    body["tasks"][0].clone()
}

async fn move_to(app: &TestApp, key: &str, id: &str, to: &str) -> (u16, Value) {
    app.post_api(
        key,
        &format!("/api/v1/tasks/{id}/status"),
        &json!({"status": to}),
    )
    .await
}

async fn detail(app: &TestApp, key: &str, id: &str) -> Value {
    let (status, body) = app.get_api(key, &format!("/api/v1/tasks/{id}")).await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn list(app: &TestApp, key: &str, query: &str) -> Value {
    let (status, body) = app.get_api(key, &format!("/api/v1/tasks{query}")).await;
    assert_eq!(status, 200, "{query}: {body}");
    body
}
