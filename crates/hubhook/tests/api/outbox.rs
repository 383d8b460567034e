//! Outbound confirmations (CONTRACT.md section 4): subscriptions, signed deliveries, retries,
//! ordering, 410, replay, restart safety, Duve Connect, overdue; against a real receiver on a random
//! port. Where deliveries may go is in outbound_destinations.rs.

use std::time::Duration;

use hubhook::{config::ServeSettings, domain::Role, outbox::sign};
use serde_json::{Value, json};

use crate::{
    helpers::*,
    receiver::{Receiver, eventually},
};

/// Fast retries so tests take milliseconds, not hours (also used by ui_webhooks.rs).
fn quick(schedule: &'static str) -> impl FnOnce(&mut hubhook::config::Config) {
    move |c| {
        c.outbox = outbox_settings(ServeSettings {
            retry_schedule: Some(schedule.into()),
            outbox_timeout: Some("2s".into()),
            ..Default::default()
        });
    }
}

pub(crate) async fn quick_app(schedule: &'static str) -> TestApp {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    spawn_app_in(dir, quick(schedule)).await
}

async fn subscribe(app: &TestApp, key: &str, body: Value) -> (String, Option<String>) {
    let (status, created) = app.post_api(key, "/api/v1/webhooks", &body).await;
    assert_eq!(status, 201, "{created}");
    (
        created["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().map(str::to_owned),
    )
}

async fn deliveries(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let (status, body) = app
        .get_api(key, &format!("/api/v1/deliveries{query}"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["deliveries"].as_array().unwrap().clone()
}

/// Verifies a delivery with the official Standard Webhooks Python library, when it is installed
/// (`.ci/run` installs it and sets HUBHOOK_REQUIRE_STANDARDWEBHOOKS=1, so in CI it must run).
fn verify_with_python(secret: &str, r: &crate::receiver::Received) {
    let script = r#"
import json, sys
from standardwebhooks.webhooks import Webhook
args = json.load(sys.stdin)
Webhook(args["secret"]).verify(args["body"].encode(), args["headers"])
print("verified")
"#;
    let available = std::process::Command::new("python3")
        .args(["-c", "import standardwebhooks"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        assert!(
            std::env::var("HUBHOOK_REQUIRE_STANDARDWEBHOOKS").as_deref() != Ok("1"),
            "the standardwebhooks Python package is required but not importable"
        );
        eprintln!("SKIPPED: Python standardwebhooks not installed (pip install standardwebhooks)");
        return;
    }
    let input = json!({
        "secret": secret,
        "body": String::from_utf8(r.body.to_vec()).unwrap(),
        "headers": {
            "webhook-id": r.header("webhook-id"),
            "webhook-timestamp": r.header("webhook-timestamp"),
            "webhook-signature": r.header("webhook-signature"),
        },
    });
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("verified"),
        "standardwebhooks refused the signature: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn a_created_task_is_confirmed_by_a_signed_webhook_that_the_reference_library_verifies() {
    let app = quick_app("100ms").await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let rx = Receiver::start().await;
    let (sub, secret) = subscribe(
        &app,
        &key,
        json!({"url": rx.url, "headers": ["X-Hotel-Key: abc 123"]}),
    )
    .await;
    let secret = secret.expect("a signed webhook has a secret");
    assert!(secret.starts_with("whsec_"));

    let (status, answer) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(status, 201, "{answer}");
    let task_id = answer["tasks"][0]["id"].as_str().unwrap().to_owned();

    let got = rx.wait_for(1).await;
    let r = &got[0];
    let body = r.json();
    assert_eq!(body["type"], "task.created");
    assert_eq!(body["hotelId"], "h1");
    assert_eq!(body["data"]["id"], task_id.as_str());
    assert_eq!(body["data"]["room"], "101");
    assert_eq!(body["data"]["status"], "open");
    assert!(body["timestamp"].as_str().is_some());
    assert!(r.header("webhook-id").starts_with("msg_"));
    assert_eq!(r.header("x-hotel-key"), "abc 123");
    assert_eq!(r.header("content-type"), "application/json");
    // Our own signature check, then the reference library's.
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    assert_eq!(
        r.header("webhook-signature"),
        sign::sign(&secret, &r.header("webhook-id"), ts, &r.body).unwrap()
    );
    verify_with_python(&secret, r);

    let list = eventually(
        "delivery recorded as delivered",
        || deliveries(&app, &key, ""),
        |d| d.len() == 1 && d[0]["status"] == "delivered",
    )
    .await;
    assert_eq!(list[0]["id"], r.header("webhook-id").as_str());
    assert_eq!(list[0]["subscriptionId"], sub.as_str());
    assert_eq!(list[0]["attempts"], 1);
    let (_, detail) = app
        .get_api(
            &key,
            &format!("/api/v1/deliveries/{}", list[0]["id"].as_str().unwrap()),
        )
        .await;
    let log = detail["attemptLog"].as_array().unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], 200);
    assert_eq!(log[0]["response"], "scripted answer");
    assert!(log[0]["latencyMs"].as_f64().unwrap() >= 0.0);
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let delivered: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("hubhook_outbox_attempts_total{result=\"delivered\"} "))
        .expect("the outbox counter is exported")
        .parse()
        .unwrap();
    assert!(delivered >= 1.0, "{metrics}");
    app.stop().await;
}

#[tokio::test]
async fn failures_are_retried_with_the_same_id_until_the_receiver_accepts() {
    let app = quick_app("50ms,50ms,50ms").await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    // 503, 500, then 429 with Retry-After, then 200.
    let rx = Receiver::scripted(&[503, 500], 200).await;
    rx.push(429, Some("0"));
    subscribe(
        &app,
        &key,
        json!({"url": rx.url, "events": ["task.created"]}),
    )
    .await;
    app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    let got = rx.wait_for(4).await;
    let ids: Vec<String> = got.iter().map(|r| r.header("webhook-id")).collect();
    assert!(ids.iter().all(|i| i == &ids[0]), "{ids:?}");
    assert_eq!(
        got.iter().map(|r| r.answered).collect::<Vec<_>>(),
        [503, 500, 429, 200]
    );
    let list = eventually(
        "delivered after 4 attempts",
        || deliveries(&app, &key, ""),
        |d| d[0]["status"] == "delivered",
    )
    .await;
    assert_eq!(list[0]["attempts"], 4);
    let (_, detail) = app
        .get_api(&key, &format!("/api/v1/deliveries/{}", ids[0]))
        .await;
    let statuses: Vec<_> = detail["attemptLog"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status"].clone())
        .collect();
    assert_eq!(statuses, [json!(503), json!(500), json!(429), json!(200)]);
    app.stop().await;
}

#[tokio::test]
async fn a_delivery_out_of_attempts_is_recorded_with_the_contract_code_and_can_be_replayed() {
    let app = quick_app("30ms,30ms").await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let rx = Receiver::scripted(&[], 500).await;
    subscribe(
        &app,
        &key,
        json!({"url": rx.url, "events": ["task.created"]}),
    )
    .await;
    app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    let list = eventually(
        "failed after 3 attempts",
        || deliveries(&app, &key, "?status=failed"),
        |d| d.len() == 1,
    )
    .await;
    assert_eq!(rx.received().len(), 3);
    assert_eq!(list[0]["attempts"], 3);
    assert_eq!(list[0]["code"], "WEB_HUK_REQUEST_ATTEMPT_FAILED");
    assert_eq!(
        list[0]["message"],
        "Operation failed after 3 attempt, Please check credentials and request body."
    );

    // A staff key may not replay (nor read the log: tests/api/roles.rs).
    let staff = app.api_key(&hotel, Role::Staff).await;
    let id = list[0]["id"].as_str().unwrap();
    let (status, _) = app
        .post_api(
            &staff,
            &format!("/api/v1/deliveries/{id}/replay"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 403);
    rx.answer_from_now(200);
    let (status, replayed) = app
        .post_api(&key, &format!("/api/v1/deliveries/{id}/replay"), &json!({}))
        .await;
    assert_eq!(status, 202, "{replayed}");
    assert_eq!(replayed["status"], "pending");
    let got = rx.wait_for(4).await;
    assert_eq!(got[3].header("webhook-id"), id);
    eventually(
        "delivered after the replay",
        || deliveries(&app, &key, "?status=delivered"),
        |d| d.len() == 1 && d[0]["attempts"] == 1,
    )
    .await;
    // Another hotel cannot see or replay it.
    let other = app.create_hotel("h2").await;
    let other_key = app.api_key(&other, Role::Manager).await;
    let (status, _) = app
        .post_api(
            &other_key,
            &format!("/api/v1/deliveries/{id}/replay"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 404);
    assert!(deliveries(&app, &other_key, "").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn gone_disables_the_subscription_and_other_4xx_end_the_delivery() {
    let app = quick_app("30ms,30ms,30ms").await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let gone = Receiver::scripted(&[], 410).await;
    let bad = Receiver::scripted(&[], 400).await;
    let (gone_sub, _) = subscribe(
        &app,
        &key,
        json!({"url": gone.url, "events": ["task.created"]}),
    )
    .await;
    subscribe(
        &app,
        &key,
        json!({"url": bad.url, "events": ["task.created"]}),
    )
    .await;
    app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    let list = eventually(
        "both deliveries ended",
        || deliveries(&app, &key, "?status=failed"),
        |d| d.len() == 2,
    )
    .await;
    let codes: Vec<_> = list.iter().map(|d| d["code"].as_str().unwrap()).collect();
    assert!(codes.contains(&"WEB_HUK_ENDPOINT_GONE"), "{codes:?}");
    assert!(codes.contains(&"WEB_HUK_REQUEST_REJECTED"), "{codes:?}");
    assert_eq!(gone.received().len(), 1);
    assert_eq!(bad.received().len(), 1);
    let (_, subs) = app.get_api(&key, "/api/v1/webhooks").await;
    let g = subs["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == gone_sub.as_str())
        .unwrap()
        .clone();
    assert_eq!(g["enabled"], false);
    assert!(g["disabledReason"].as_str().unwrap().contains("410"));
    // A disabled subscription gets nothing more.
    app.webhook(&hotel, &order("o-2", "101", &["4"])).await;
    bad.wait_for(2).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(gone.received().len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn a_tasks_events_arrive_in_order_even_when_an_earlier_one_is_retried() {
    let app = quick_app("100ms,100ms,100ms").await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    // The first delivery (task.created) fails twice: the later events must wait for it.
    let rx = Receiver::scripted(&[503, 503], 200).await;
    subscribe(&app, &key, json!({"url": rx.url})).await;
    let (_, answer) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    let task = answer["tasks"][0]["id"].as_str().unwrap().to_owned();
    for status in ["accepted", "in_progress", "done"] {
        let (code, body) = app
            .post_api(
                &key,
                &format!("/api/v1/tasks/{task}/status"),
                &json!({"status": status}),
            )
            .await;
        assert_eq!(code, 200, "{body}");
    }
    // created (3 attempts) + 3 status changes + completed.
    let got = rx.wait_for(7).await;
    let delivered: Vec<(String, String)> = got
        .iter()
        .filter(|r| r.answered == 200)
        .map(|r| {
            let b = r.json();
            (
                b["type"].as_str().unwrap().to_owned(),
                b["data"]["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let expected = [
        ("task.created", "open"),
        ("task.status_changed", "accepted"),
        ("task.status_changed", "in_progress"),
        ("task.status_changed", "done"),
        ("task.completed", "done"),
    ];
    assert_eq!(
        delivered,
        expected.map(|(a, b)| (a.to_owned(), b.to_owned())),
        "in the order they happened"
    );
    app.stop().await;
}

#[tokio::test]
async fn pending_deliveries_survive_a_restart_and_are_sent_once() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let app = spawn_app_in(dir.clone(), quick("1s")).await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let rx = Receiver::scripted(&[503], 200).await;
    subscribe(
        &app,
        &key,
        json!({"url": rx.url, "events": ["task.created"]}),
    )
    .await;
    app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    rx.wait_for(1).await;
    // Stopped while the retry waits.
    app.stop().await;
    assert_eq!(rx.received().len(), 1);

    let app = spawn_app_in(dir, quick("1s")).await;
    let got = rx.wait_for(2).await;
    assert_eq!(got[1].answered, 200);
    assert_eq!(got[0].header("webhook-id"), got[1].header("webhook-id"));
    eventually(
        "delivered after the restart",
        || deliveries(&app, &key, "?status=delivered"),
        |d| d.len() == 1,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.stop().await;
    assert_eq!(rx.received().len(), 2, "sent once after the restart");
}

#[tokio::test]
async fn rotating_a_secret_signs_with_both_for_a_while() {
    let app = quick_app("50ms").await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let rx = Receiver::start().await;
    let (sub, old) = subscribe(&app, &key, json!({"url": rx.url})).await;
    let old = old.unwrap();
    let (status, rotated) = app
        .post_api(
            &key,
            &format!("/api/v1/webhooks/{sub}/rotate-secret"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new, old);
    assert!(rotated["previousSecretUntil"].as_str().is_some());
    app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    let r = &rx.wait_for(1).await[0];
    let sigs: Vec<String> = r
        .header("webhook-signature")
        .split(' ')
        .map(str::to_owned)
        .collect();
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    let id = r.header("webhook-id");
    assert_eq!(sigs.len(), 2);
    assert_eq!(sigs[0], sign::sign(&new, &id, ts, &r.body).unwrap());
    assert_eq!(sigs[1], sign::sign(&old, &id, ts, &r.body).unwrap());
    verify_with_python(&new, r);
    verify_with_python(&old, r);
    app.stop().await;
}

#[tokio::test]
async fn subscriptions_need_a_manager_key_and_valid_settings() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let staff = app.api_key(&hotel, Role::Staff).await;
    let (status, _) = app.get_api(&staff, "/api/v1/webhooks").await;
    assert_eq!(status, 403);
    let (status, _) = app
        .post_api(&staff, "/api/v1/webhooks", &json!({"url": "http://x/"}))
        .await;
    assert_eq!(status, 403);
    for bad in [
        json!({"url": "ftp://example.com/"}),
        json!({"url": "not a url"}),
        json!({"url": "http://example.com/", "events": ["task.exploded"]}),
        json!({"url": "http://example.com/", "headers": ["no colon"]}),
        json!({"url": "http://example.com/", "kind": "duve-connect"}),
        json!({"url": "http://example.com/", "kind": "carrier-pigeon"}),
        json!({"url": "http://example.com/", "unknown": 1}),
    ] {
        let (status, body) = app.post_api(&key, "/api/v1/webhooks", &bad).await;
        assert_eq!(status, 400, "{bad} -> {body}");
        assert_eq!(body["code"], "INVALID_REQUEST");
    }
    // Well formed, but a header hubhook sets itself: 422.
    let forged = json!({"url": "http://example.com/", "headers": ["webhook-signature: forged"]});
    let (status, body) = app.post_api(&key, "/api/v1/webhooks", &forged).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "UNPROCESSABLE");
    let (sub, _) = subscribe(&app, &key, json!({"url": "http://example.com/"})).await;
    let (_, list) = app.get_api(&key, "/api/v1/webhooks").await;
    assert_eq!(list["subscriptions"].as_array().unwrap().len(), 1);
    assert!(
        !list.to_string().contains("whsec_"),
        "the secret is never listed: {list}"
    );
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/webhooks/{sub}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/webhooks/{sub}")))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn duve_connect_posts_the_rendered_template_with_the_bearer_token() {
    let app = quick_app("50ms").await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let rx = Receiver::start().await;
    subscribe(
        &app,
        &key,
        json!({"url": rx.url, "kind": "duve-connect", "bearer": "duve-token-1",
               "events": ["task.completed"], "field": "task_state"}),
    )
    .await;
    let mut body = order("o-77", "101", &["4"]);
    body["data"]["reservation"] = json!("res-9");
    body["data"]["reservationId"] = json!("res-9");
    let (_, answer) = app.webhook(&hotel, &body).await;
    let task = answer["tasks"][0]["id"].as_str().unwrap().to_owned();
    app.post_api(
        &key,
        &format!("/api/v1/tasks/{task}/status"),
        &json!({"status": "done"}),
    )
    .await;
    let r = &rx.wait_for(1).await[0];
    assert_eq!(r.header("authorization"), "Bearer duve-token-1");
    assert_eq!(r.header("webhook-signature"), "");
    let sent = r.json();
    let field = sent["additionalFields"]["task_state"].as_str().unwrap();
    assert!(field.starts_with("done (Serve towels, room 101"), "{sent}");
    assert!(field.contains(&task), "{sent}");
    app.stop().await;
}

#[tokio::test]
async fn a_task_past_its_due_time_raises_task_overdue_once() {
    let app = quick_app("50ms").await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let rx = Receiver::start().await;
    subscribe(
        &app,
        &key,
        json!({"url": rx.url, "events": ["task.overdue"]}),
    )
    .await;
    let due = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_millis(300))
        .unwrap();
    let (status, task) = app
        .post_api(
            &key,
            "/api/v1/tasks",
            &json!({"room": "101", "externalId": "4", "dueAt": due.to_string()}),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    let got = rx.wait_for(1).await;
    let b = got[0].json();
    assert_eq!(b["type"], "task.overdue");
    assert_eq!(b["data"]["id"], task["id"]);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(rx.received().len(), 1, "raised once");
    app.stop().await;
}
