//! Roles on the HTTP API and the pages (CONTRACT.md section 3): a staff key works tasks; a manager
//! key also manages the hotel (subscriptions, deliveries and their answers, the inbound log and its
//! raw bodies, reports). A staff key on a manager route is 403 with the usual error body; no key or an
//! unknown one is 401. The OpenAPI document lists 403 exactly where it can happen.

use hubhook::domain::Role;
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, expect_webhook_error, order, spawn_app},
    ui_support::{UiClient, add_user},
};

/// A guest detail that only the raw Duve body carries (not the task): where it shows, the raw
/// body shows.
const GUEST_SECRET: &str = "guest-only-in-the-raw-body@example.test";

/// An order for room 101 whose raw body carries [`GUEST_SECRET`].
fn order_with_guest_data(order_id: &str) -> Value {
    let mut body = order(order_id, "101", &["4"]);
    body["resource"]["email"] = json!(GUEST_SECRET);
    body
}

/// `method path` with `key` (none: no Authorization header) and, for a POST, an empty JSON object.
async fn call(app: &TestApp, key: Option<&str>, method: &str, path: &str) -> (u16, Value) {
    let url = app.url(path);
    let mut req = match method {
        "GET" => app.client.get(url),
        "POST" => app.client.post(url).json(&json!({})),
        "DELETE" => app.client.delete(url),
        other => panic!("no {other} route"),
    };
    if let Some(k) = key {
        req = req.bearer_auth(k);
    }
    crate::helpers::json_of(req.send().await.expect("request")).await
}

/// Whether the OpenAPI document lists `status` for `method path` (a template, `{id}`).
fn documents(doc: &Value, method: &str, path: &str, status: u16) -> bool {
    doc["paths"][path][method.to_ascii_lowercase()]["responses"]
        .get(status.to_string())
        .is_some()
}

#[tokio::test]
async fn staff_keys_work_tasks_and_only_manager_keys_manage_the_hotel() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let staff = app.api_key(&hotel, Role::Staff).await;
    let manager = app.api_key(&hotel, Role::Manager).await;

    // Something behind every manager route: a subscription, a delivery, a logged webhook.
    let (s, sub) = app
        .post_api(
            &manager,
            "/api/v1/webhooks",
            &json!({"url": "http://127.0.0.1:9/hook", "events": ["task.created"]}),
        )
        .await;
    assert_eq!(s, 201, "{sub}");
    let sub = sub["id"].as_str().expect("subscription id").to_owned();
    let (s, created) = app.webhook(&hotel, &order_with_guest_data("o-1")).await;
    assert_eq!(s, 201, "{created}");
    let task = created["tasks"][0]["id"].as_str().expect("task").to_owned();
    let (s, list) = app.get_api(&manager, "/api/v1/deliveries").await;
    assert_eq!(s, 200, "{list}");
    let delivery = list["deliveries"][0]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("a delivery was queued: {list}"))
        .to_owned();
    let (s, log) = app.get_api(&manager, "/api/v1/inbound").await;
    assert_eq!(s, 200, "{log}");
    let inbound = log["entries"][0]["id"].as_i64().expect("an inbound entry");

    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("openapi")
        .json()
        .await
        .expect("openapi JSON");

    // Every /api/v1 operation: (method, documented path, path called, for managers only).
    let routes: Vec<(&str, &str, String, bool)> = vec![
        ("GET", "/api/v1/tasks", "/api/v1/tasks".into(), false),
        (
            "GET",
            "/api/v1/tasks/{id}",
            format!("/api/v1/tasks/{task}"),
            false,
        ),
        ("POST", "/api/v1/tasks", "/api/v1/tasks".into(), false),
        (
            "POST",
            "/api/v1/tasks/{id}/status",
            format!("/api/v1/tasks/{task}/status"),
            false,
        ),
        (
            "POST",
            "/api/v1/tasks/{id}/assign",
            format!("/api/v1/tasks/{task}/assign"),
            true,
        ),
        ("GET", "/api/v1/inbound", "/api/v1/inbound".into(), true),
        ("GET", "/api/v1/webhooks", "/api/v1/webhooks".into(), true),
        ("POST", "/api/v1/webhooks", "/api/v1/webhooks".into(), true),
        (
            "POST",
            "/api/v1/webhooks/{id}/rotate-secret",
            format!("/api/v1/webhooks/{sub}/rotate-secret"),
            true,
        ),
        (
            "DELETE",
            "/api/v1/webhooks/{id}",
            format!("/api/v1/webhooks/{sub}"),
            true,
        ),
        (
            "GET",
            "/api/v1/deliveries",
            "/api/v1/deliveries".into(),
            true,
        ),
        (
            "GET",
            "/api/v1/deliveries/{id}",
            format!("/api/v1/deliveries/{delivery}"),
            true,
        ),
        (
            "POST",
            "/api/v1/deliveries/{id}/replay",
            format!("/api/v1/deliveries/{delivery}/replay"),
            true,
        ),
        ("POST", "/api/v1/dry-run", "/api/v1/dry-run".into(), true),
        (
            "POST",
            "/api/v1/inbound/{id}/replay",
            format!("/api/v1/inbound/{inbound}/replay"),
            true,
        ),
        (
            "GET",
            "/api/v1/reports/shift",
            "/api/v1/reports/shift".into(),
            true,
        ),
    ];
    // Every operation the document describes under /api/v1 is in the table above.
    let described = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .filter(|(p, _)| p.starts_with("/api/v1/"))
        .flat_map(|(p, ops)| {
            let ops = ops.as_object().expect("operations");
            ops.keys()
                .map(|m| (m.to_ascii_uppercase(), p.clone()))
                .collect::<Vec<_>>()
        });
    for (method, path) in described {
        assert!(
            routes.iter().any(|r| r.0 == method && r.1 == path),
            "{method} {path} is described but not checked here"
        );
    }

    let unknown = "hhk_not-a-key-of-anyone-0000000000000000";
    for (method, _, path, manager_only) in &routes {
        // No key, or an unknown one: 401, before anything else.
        for key in [None, Some(unknown)] {
            let got = call(&app, key, method, path).await;
            expect_webhook_error(&got, 401, "UNAUTHORIZED", "Missing or unknown API key.");
        }
        let got = call(&app, Some(&staff), method, path).await;
        if *manager_only {
            expect_webhook_error(&got, 403, "FORBIDDEN", "This needs a manager API key.");
        } else {
            assert_ne!(got.0, 403, "{method} {path} refused a staff key: {}", got.1);
        }
    }
    for (method, template, _, manager_only) in &routes {
        assert!(
            documents(&doc, method, template, 401),
            "{method} {template}: 401 is not documented"
        );
        assert_eq!(
            documents(&doc, method, template, 403),
            *manager_only,
            "{method} {template}: 403 is documented exactly where a staff key gets it"
        );
    }

    // A staff key works tasks: list, read, create, move.
    let (s, body) = app.get_api(&staff, "/api/v1/tasks").await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = app.get_api(&staff, &format!("/api/v1/tasks/{task}")).await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = app
        .post_api(
            &staff,
            "/api/v1/tasks",
            &json!({"room": "102", "name": "Fix the lamp"}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    let (s, body) = app
        .post_api(
            &staff,
            &format!("/api/v1/tasks/{task}/status"),
            &json!({"status": "accepted"}),
        )
        .await;
    assert_eq!(s, 200, "{body}");

    // A manager key gets through every manager route; the log shows the raw bodies.
    let (s, body) = app.get_api(&manager, "/api/v1/inbound").await;
    assert_eq!(s, 200, "{body}");
    assert!(body.to_string().contains(GUEST_SECRET), "{body}");
    let (s, body) = app.get_api(&manager, "/api/v1/webhooks").await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = app.get_api(&manager, "/api/v1/reports/shift").await;
    assert_eq!(s, 200, "{body}");
    let (s, body) = app
        .get_api(&manager, &format!("/api/v1/deliveries/{delivery}"))
        .await;
    assert_eq!(s, 200, "{body}");
    // A delivery being sent cannot be replayed (409): wait for its first attempt to end (nothing
    // listens there; the next one is seconds away), or a busy machine makes this test flaky.
    for _ in 0..100 {
        let (_, d) = app
            .get_api(&manager, &format!("/api/v1/deliveries/{delivery}"))
            .await;
        if d["attempts"].as_u64().is_some_and(|n| n >= 1) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let (s, body) = app
        .post_api(
            &manager,
            &format!("/api/v1/deliveries/{delivery}/replay"),
            &json!({}),
        )
        .await;
    assert_eq!(s, 202, "{body}");
    let (s, body) = app
        .post_api(&manager, "/api/v1/dry-run", &order("o-2", "101", &["4"]))
        .await;
    assert_eq!(
        (s, body["outcome"].as_str()),
        (200, Some("created")),
        "{body}"
    );
    // An accepted delivery is not replayed (tests/api/replay.rs has the refused ones).
    let (s, body) = app
        .post_api(
            &manager,
            &format!("/api/v1/inbound/{inbound}/replay"),
            &json!({}),
        )
        .await;
    assert_eq!(
        (s, body["code"].as_str()),
        (409, Some("NOT_REPLAYABLE")),
        "{body}"
    );
    let (s, body) = app
        .post_api(
            &manager,
            &format!("/api/v1/webhooks/{sub}/rotate-secret"),
            &json!({}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let (s, _) = call(
        &app,
        Some(&manager),
        "DELETE",
        &format!("/api/v1/webhooks/{sub}"),
    )
    .await;
    assert_eq!(s, 204);
    app.stop().await;
}

#[tokio::test]
async fn staff_see_a_task_but_not_the_raw_webhook_it_came_from() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let staff_key = app.api_key(&hotel, Role::Staff).await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    add_user(&app, &hotel, "boss@h1.test", Role::Manager).await;
    let (s, created) = app.webhook(&hotel, &order_with_guest_data("o-9")).await;
    assert_eq!(s, 201, "{created}");
    let task = created["tasks"][0]["id"].as_str().expect("task").to_owned();

    // The API's task, for a staff key: the task, its history, no raw body.
    let (s, detail) = app
        .get_api(&staff_key, &format!("/api/v1/tasks/{task}"))
        .await;
    assert_eq!(s, 200, "{detail}");
    assert_eq!(detail["guestName"], "Bobby Smith", "{detail}");
    assert!(!detail.to_string().contains(GUEST_SECRET), "{detail}");

    // The task's page: staff see the task, not the webhook; managers see both.
    let mut ana = UiClient::signed_in(&app, "ana@h1.test").await;
    let page = ana.get(&format!("/tasks/{task}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("Serve towels"), "{}", page.body);
    assert!(!page.body.contains(GUEST_SECRET), "{}", page.body);
    assert!(!page.body.contains("orderCreated"), "{}", page.body);
    assert_eq!(ana.get("/manage/inbound").await.status, 403);
    let mut boss = UiClient::signed_in(&app, "boss@h1.test").await;
    let page = boss.get(&format!("/tasks/{task}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(GUEST_SECRET), "{}", page.body);
    app.stop().await;
}
