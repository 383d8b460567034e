//! Who may call `/api/v1/tasks`: missing, unknown or malformed keys are 401 with an error body;
//! another hotel's tasks are invisible and untouchable.

use hubhook::domain::Role;
use serde_json::json;

use super::{assert_error, detail, ids, list, manual, move_to, webhook_task};
use crate::helpers::{json_of, spawn_app};

#[tokio::test]
async fn missing_unknown_or_malformed_keys_are_401_with_an_error_body() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    webhook_task(&app, &hotel, "o-1").await;

    let paths = ["/api/v1/tasks", "/api/v1/inbound"];
    let authorizations: [Option<String>; 7] = [
        None,
        Some("Bearer hhk_unknown-key-0000000000000000000000000000".into()),
        Some("Bearer ".into()),
        Some(format!("Basic {key}")),
        Some(format!("Token {key}")),
        Some(key.clone()),
        Some(format!("Bearer{key}")),
    ];
    for path in paths {
        for auth in &authorizations {
            let mut req = app.client.get(app.url(path));
            if let Some(a) = auth {
                req = req.header("authorization", a);
            }
            let (status, body) = json_of(req.send().await.expect("request")).await;
            assert_error(status, &body, 401, "UNAUTHORIZED");
            assert!(body.get("tasks").is_none() && body.get("entries").is_none());
        }
    }
    // Writes are refused the same way, and nothing is created.
    let res = app
        .client
        .post(app.url("/api/v1/tasks"))
        .json(&json!({"room": "101", "name": "Sneaky"}))
        .send()
        .await
        .expect("request");
    let (status, body) = json_of(res).await;
    assert_error(status, &body, 401, "UNAUTHORIZED");
    let (status, body) = app
        .post_api(
            "hhk_not-a-key",
            "/api/v1/tasks",
            &json!({"room": "101", "name": "Sneaky"}),
        )
        .await;
    assert_error(status, &body, 401, "UNAUTHORIZED");
    // The right key works (and only one task exists), whatever the scheme's case.
    let page = list(&app, &key, "").await;
    assert_eq!(page["tasks"].as_array().unwrap().len(), 1);
    for scheme in ["bearer", "BEARER"] {
        let res = app
            .client
            .get(app.url("/api/v1/tasks"))
            .header("authorization", format!("{scheme} {key}"))
            .send()
            .await
            .expect("request");
        assert_eq!(res.status().as_u16(), 200, "{scheme}");
    }
}

#[tokio::test]
async fn another_hotels_tasks_are_invisible_and_untouchable() {
    let app = spawn_app().await;
    let a = app.create_hotel("hotel-a").await;
    let b = app.create_hotel("hotel-b").await;
    let key_a = app.api_key(&a, Role::Manager).await;
    let key_b = app.api_key(&b, Role::Manager).await;
    let task_a = webhook_task(&app, &a, "same-order").await;
    // The same order id at the other hotel is a different order.
    let task_b = webhook_task(&app, &b, "same-order").await;
    let manual_a = manual(&app, &key_a, json!({"room": "101", "name": "A only"})).await;
    let id_a = task_a["id"].as_str().unwrap();

    let (status, body) = app.get_api(&key_b, &format!("/api/v1/tasks/{id_a}")).await;
    assert_error(status, &body, 404, "NOT_FOUND");
    for to in ["accepted", "done", "cancelled"] {
        let (status, body) = move_to(&app, &key_b, id_a, to).await;
        assert_error(status, &body, 404, "NOT_FOUND");
    }
    // A's task is unchanged.
    let d = detail(&app, &key_a, id_a).await;
    assert_eq!(d["status"], "open");
    assert_eq!(d["events"].as_array().unwrap().len(), 1);

    let page_b = list(&app, &key_b, "?limit=500").await;
    assert_eq!(ids(&page_b["tasks"]), vec![task_b["id"].as_str().unwrap()]);
    let page_a = list(&app, &key_a, "?limit=500").await;
    assert_eq!(
        ids(&page_a["tasks"]),
        vec![manual_a["id"].as_str().unwrap(), id_a]
    );
    for query in ["?room=101", "?status=open", "?since=2000-01-01T00:00:00Z"] {
        let page = list(&app, &key_b, query).await;
        assert!(!ids(&page["tasks"]).contains(&id_a.to_owned()), "{query}");
    }
    // Paging B's list with a cursor from A's list leaks nothing either.
    let first_a = list(&app, &key_a, "?limit=1").await;
    let cursor = first_a["next"].as_str().unwrap();
    let page = list(&app, &key_b, &format!("?cursor={cursor}")).await;
    assert!(!ids(&page["tasks"]).contains(&id_a.to_owned()));
}
