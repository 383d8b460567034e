//! Operations: `/healthz`, `/readyz`, `/metrics`, `/openapi.json` and unknown paths (CONTRACT.md §3).

use serde_json::Value;

use crate::helpers::{TestApp, json_of, order, spawn_app};

async fn get_text(app: &TestApp, path: &str) -> (u16, String, String) {
    let res = app.client.get(app.url(path)).send().await.expect("request");
    let status = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    (status, content_type, res.text().await.expect("body"))
}

/// The value of one sample line of a Prometheus text exposition, e.g. `name{label="x"}`.
fn sample(metrics: &str, series: &str) -> Option<f64> {
    metrics.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

#[tokio::test]
async fn health_and_readiness_answer_200_without_a_key() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let (status, _, body) = get_text(&app, path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }
}

#[tokio::test]
async fn metrics_are_prometheus_text_and_count_webhooks_by_code() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;

    let (status, content_type, before) = get_text(&app, "/metrics").await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    // Every non-comment line is `series value`, and the counter is declared.
    for line in before.lines().filter(|l| !l.is_empty()) {
        if line.starts_with('#') {
            assert!(
                line.starts_with("# HELP ") || line.starts_with("# TYPE "),
                "{line}"
            );
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("series and value");
        assert!(!series.is_empty(), "{line}");
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
    assert!(before.contains("# TYPE hubhook_webhooks_total counter"));
    let created = r#"hubhook_webhooks_total{code="created"}"#;
    let refused = r#"hubhook_webhooks_total{code="WEB_HUK_HUBOS_REQUEST_FAIL"}"#;
    let created_before = sample(&before, created).expect("the created series is exposed");
    let refused_before = sample(&before, refused).expect("the refusal series is exposed");

    let (s, body) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    let (s, body) = app.webhook(&hotel, &order("o-2", "102", &["22"])).await;
    assert_eq!(s, 201, "{body}");
    let (s, body) = app.webhook(&hotel, &order("o-3", "999", &["22"])).await;
    assert_eq!(s, 400, "{body}");

    let (_, _, after) = get_text(&app, "/metrics").await;
    assert_eq!(
        sample(&after, created),
        Some(created_before + 2.0),
        "{after}"
    );
    assert_eq!(
        sample(&after, refused),
        Some(refused_before + 1.0),
        "{after}"
    );
}

#[tokio::test]
async fn openapi_document_describes_the_api() {
    let app = spawn_app().await;
    let (status, content_type, text) = get_text(&app, "/openapi.json").await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let doc: Value = serde_json::from_str(&text).expect("the OpenAPI document is JSON");
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.")),
        "{}",
        doc["openapi"]
    );
    let paths = doc["paths"].as_object().expect("paths");
    for (path, method) in [
        ("/webhooks/duve", "post"),
        ("/api/v1/tasks", "get"),
        ("/api/v1/tasks", "post"),
        ("/api/v1/tasks/{id}", "get"),
        ("/api/v1/tasks/{id}/status", "post"),
        ("/api/v1/tasks/{id}/assign", "post"),
        ("/api/v1/inbound", "get"),
        ("/api/v1/dry-run", "post"),
        ("/api/v1/inbound/{id}/replay", "post"),
        ("/api/v1/reports/shift", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} is not described"
        );
    }
    // Every body the API reads or writes is described, under the name its clients know it by.
    let schemas = doc["components"]["schemas"].as_object().expect("schemas");
    let mut names: Vec<&str> = schemas.keys().map(String::as_str).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "AssignRequest",
            "Attempt",
            "Delivery",
            "DeliveryList",
            "DeliveryStatus",
            "DepartmentFigures",
            "DryRun",
            "DryRunFields",
            "DryRunOutcome",
            "DuveWebhook",
            "ErrorBody",
            "EventType",
            "FieldAt",
            "Header",
            "InboundEntry",
            "InboundPage",
            "ItemAt",
            "NewTask",
            "Priority",
            "ProductsAt",
            "Report",
            "SecretRotated",
            "ServiceFigures",
            "Skipped",
            "StatusMove",
            "Subscription",
            "SubscriptionCreated",
            "SubscriptionKind",
            "SubscriptionList",
            "SubscriptionRequest",
            "Task",
            "TaskDetail",
            "TaskEvent",
            "TaskPage",
            "TaskStatus",
            "UnsavedTask",
            "WebhookAnswer",
        ]
    );
    // A reference points at a described schema.
    for r in text.match_indices("#/components/schemas/") {
        let name: String = text[r.0 + r.1.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect();
        assert!(
            schemas.contains_key(&name),
            "{name} is referenced, not described"
        );
    }
    let schemes = doc["components"]["securitySchemes"]
        .as_object()
        .expect("security schemes");
    assert!(
        schemes.values().any(|s| s["type"] == "http"
            && s["scheme"].as_str().map(str::to_ascii_lowercase).as_deref() == Some("bearer")),
        "{schemes:?}"
    );
    // The API's operations require it.
    let scheme_names: Vec<&String> = schemes.keys().collect();
    let list_security = &doc["paths"]["/api/v1/tasks"]["get"]["security"];
    assert!(
        list_security.as_array().is_some_and(|s| s
            .iter()
            .any(|r| scheme_names.iter().any(|n| r.get(n.as_str()).is_some()))),
        "{list_security}"
    );
}

#[tokio::test]
async fn unknown_paths_are_404_with_a_json_error_body() {
    let app = spawn_app().await;
    for path in [
        "/nope",
        "/api/v1/nothing",
        "/api/v2/tasks",
        "/webhooks/other",
    ] {
        let res = app.client.get(app.url(path)).send().await.expect("request");
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        let (status, body) = json_of(res).await;
        assert_eq!(status, 404, "{path}: {body}");
        assert!(content_type.starts_with("application/json"), "{path}");
        assert_eq!(body["code"], "NOT_FOUND", "{path}: {body}");
        assert!(body["message"].is_string() && body["details"].is_array());
    }
    // A known path with the wrong method is a JSON error too.
    let res = app
        .client
        .get(app.url("/webhooks/duve"))
        .send()
        .await
        .expect("request");
    let (status, body) = json_of(res).await;
    assert_eq!(status, 405, "{body}");
    assert!(
        body["code"].is_string() && body["message"].is_string(),
        "{body}"
    );
}
