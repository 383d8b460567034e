//! The API answers as its OpenAPI document says (docs/api.md, "What the document promises"): a
//! request out of the document's shape is 400, a body not sent as JSON 415, one too large 413, a
//! well-formed request naming what the hotel lacks 422, a path naming nothing 404; each of those
//! statuses is listed on its operation; values the document admits (`101.0` is an integer to JSON
//! Schema, `2024-01-01t00:00:00z` an RFC 3339 date-time) are taken. scripts/schemathesis checks the
//! same at large; these are the cases worth naming.

use hubhook::domain::Role;
use serde_json::{Value, json};

use crate::helpers::{TestApp, expect_webhook_error, json_of, spawn_app};

async fn document(app: &TestApp) -> Value {
    let res = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .expect("openapi");
    json_of(res).await.1
}

/// `got` has `status` and `code`, and the document lists `status` for `method path`.
fn documented(doc: &Value, method: &str, path: &str, got: &(u16, Value), status: u16, code: &str) {
    assert_eq!(got.0, status, "{method} {path}: {}", got.1);
    assert_eq!(got.1["code"], code, "{method} {path}: {}", got.1);
    assert!(
        doc["paths"][path][method]["responses"]
            .get(status.to_string())
            .is_some(),
        "{method} {path} answers {status}, which the document does not list"
    );
}

async fn post_raw(
    app: &TestApp,
    key: &str,
    path: &str,
    content_type: &str,
    body: String,
) -> (u16, Value) {
    let res = app
        .client
        .post(app.url(path))
        .bearer_auth(key)
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .expect("request");
    json_of(res).await
}

#[tokio::test]
async fn each_refusal_has_its_status_and_the_document_lists_it() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let doc = document(&app).await;
    let tasks = "/api/v1/tasks";
    let webhooks = "/api/v1/webhooks";

    // Not JSON: 415, whatever the body says.
    let got = post_raw(
        &app,
        &key,
        tasks,
        "text/plain",
        r#"{"room": "101", "name": "x"}"#.into(),
    )
    .await;
    documented(&doc, "post", tasks, &got, 415, "UNSUPPORTED_MEDIA_TYPE");
    let got = post_raw(
        &app,
        &key,
        webhooks,
        "application/x-www-form-urlencoded",
        "url=x".into(),
    )
    .await;
    documented(&doc, "post", webhooks, &got, 415, "UNSUPPORTED_MEDIA_TYPE");
    // Over 256 KiB: 413, before it is parsed.
    let big = json!({"room": "101", "name": "x", "notes": "n".repeat(300 * 1024)}).to_string();
    let got = post_raw(&app, &key, tasks, "application/json", big).await;
    documented(&doc, "post", tasks, &got, 413, "PAYLOAD_TOO_LARGE");

    // Out of the document's shape: 400.
    for body in [
        json!({"url": ""}),
        json!({"url": "https://example.com/", "bearer": "tok"}),
        json!({"url": "https://example.com/", "events": ["task.created,task.completed"]}),
    ] {
        let got = app.post_api(&key, webhooks, &body).await;
        documented(&doc, "post", webhooks, &got, 400, "INVALID_REQUEST");
    }
    for body in [
        json!({"room": "101", "name": "x".repeat(201)}),
        json!({"room": "101", "name": "x", "quantity": 0}),
        json!({"room": "101", "name": "x", "dueAt": "tomorrow"}),
        json!({"room": " ", "name": "x"}),
        json!({"room": -1, "name": "x"}),
    ] {
        let got = app.post_api(&key, tasks, &body).await;
        documented(&doc, "post", tasks, &got, 400, "INVALID_REQUEST");
    }

    // Well formed, naming what the hotel does not have or cannot reach: 422.
    let got = app
        .post_api(&key, tasks, &json!({"room": "999", "name": "x"}))
        .await;
    documented(&doc, "post", tasks, &got, 422, "UNKNOWN_ROOM");
    let got = app
        .post_api(&key, tasks, &json!({"room": "101", "externalId": "nope"}))
        .await;
    documented(&doc, "post", tasks, &got, 422, "UNKNOWN_SERVICE");
    let got = app
        .post_api(
            &key,
            tasks,
            &json!({"room": "101", "name": "x", "dueAt": "2026-13-01T10:00"}),
        )
        .await;
    documented(&doc, "post", tasks, &got, 422, "UNPROCESSABLE");
    let got = app
        .post_api(&key, webhooks, &json!({"url": "http://10.1.2.3/hook"}))
        .await;
    documented(
        &doc,
        "post",
        webhooks,
        &got,
        422,
        "WEB_HUK_DESTINATION_DENIED",
    );
    let got = app
        .post_api(
            &key,
            webhooks,
            &json!({"url": "https://example.com:99999/hook"}),
        )
        .await;
    documented(&doc, "post", webhooks, &got, 422, "UNPROCESSABLE");

    // Rotating a Duve Connect subscription's secret, which it does not have: 409.
    let (s, sub) = app
        .post_api(
            &key,
            webhooks,
            &json!({"url": "https://duve.example/connect", "kind": "duve-connect", "bearer": "tok"}),
        )
        .await;
    assert_eq!(s, 201, "{sub}");
    let path = format!(
        "/api/v1/webhooks/{}/rotate-secret",
        sub["id"].as_str().unwrap()
    );
    let got = app.post_api(&key, &path, &json!({})).await;
    documented(
        &doc,
        "post",
        "/api/v1/webhooks/{id}/rotate-secret",
        &got,
        409,
        "CONFLICT",
    );

    // Nothing was made by the refusals.
    let (_, page) = app.get_api(&key, tasks).await;
    assert_eq!(page["tasks"], json!([]), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn numbers_and_times_are_read_as_json_schema_reads_them() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;

    // 101.0 and 2.0 are integers to JSON Schema, so to hubhook.
    let (s, t) = app
        .post_api(
            &key,
            "/api/v1/tasks",
            &json!({"room": 101.0, "externalId": 4e0, "quantity": 2.0}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    assert_eq!(
        (
            t["room"].as_str(),
            t["externalId"].as_str(),
            t["quantity"].as_u64()
        ),
        (Some("101"), Some("4"), Some(2))
    );
    for body in [
        json!({"room": 101.5, "name": "x"}),
        json!({"room": "101", "name": "x", "quantity": 1.5}),
    ] {
        let (s, answer) = app.post_api(&key, "/api/v1/tasks", &body).await;
        assert_eq!(s, 400, "{body}: {answer}");
    }

    // Query parameters are their declared types, written one way.
    for ok in [
        "?limit=500",
        "?limit=1&overdue=false",
        "?since=2024-01-01t00:00:00z",
        "?since=2016-12-31T23:59:60Z",
        "?since=0000-01-01T00:00:00%2B23:59",
        "?since=9999-12-31T23:59:59-23:59",
        "?cursor=999999999999999999",
        "?department=Food%20%26%20Beverage&room=%20101%20",
    ] {
        let (s, page) = app.get_api(&key, &format!("/api/v1/tasks{ok}")).await;
        assert_eq!(s, 200, "{ok}: {page}");
    }
    let (_, page) = app.get_api(&key, "/api/v1/tasks?room=%20101%20").await;
    assert_eq!(
        page["tasks"].as_array().map(Vec::len),
        Some(1),
        "a room is trimmed: {page}"
    );
    for bad in [
        "?limit=0",
        "?limit=501",
        "?limit=050",
        "?limit=%2B5",
        "?overdue=yes",
        "?since=2024-01-01T00:00Z",
        "?since=2024-01-01%2000:00:00Z",
        "?since=2024-01-01T22:59:60Z",
        "?cursor=0",
        "?cursor=1000000000000000000",
        "?department=",
        "?status=opened",
    ] {
        let got = app.get_api(&key, &format!("/api/v1/tasks{bad}")).await;
        expect_webhook_error(&got, 400, "INVALID_REQUEST", "Invalid request.");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_path_that_names_nothing_is_404_with_the_error_body() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let (s, t) = app
        .post_api(&key, "/api/v1/tasks", &json!({"room": "101", "name": "x"}))
        .await;
    assert_eq!(s, 201, "{t}");
    let id = t["id"].as_str().unwrap();
    // The task by its id in capitals is the task; in any other form of the UUID it is no task.
    let (s, _) = app
        .get_api(&key, &format!("/api/v1/tasks/{}", id.to_uppercase()))
        .await;
    assert_eq!(s, 200);
    for path in [
        format!("/api/v1/tasks/{}", id.replace('-', "")),
        format!("/api/v1/tasks/%7B{id}%7D"),
        "/api/v1/tasks/%FF".to_owned(),
        "/api/v1/deliveries/msg_nope".to_owned(),
        "/api/v1/deliveries/%FF%FE".to_owned(),
    ] {
        let got = app.get_api(&key, &path).await;
        expect_webhook_error(&got, 404, "NOT_FOUND", "Not found.");
    }
    for path in [
        "/api/v1/webhooks/sub_nope/rotate-secret",
        "/api/v1/tasks/%FF/status",
    ] {
        let got = app.post_api(&key, path, &json!({"status": "done"})).await;
        expect_webhook_error(&got, 404, "NOT_FOUND", "Not found.");
    }
    app.stop().await;
}
