//! Outbound fairness (CONTRACT.md section 8, docs/security.md "Outbound fairness"): one hotel's
//! receivers that hang hold at most its share of the sends in flight, so another hotel's delivery
//! goes out at once; a hotel's subscriptions are capped (API, pages and CLI) and replays cannot
//! grow its backlog without bound.

use std::{
    process::Command,
    time::{Duration, Instant},
};

use hubhook::{config::ServeSettings, domain::Role};
use serde_json::{Value, json};

use crate::{
    helpers::*,
    raw_receiver::{Answer, RawReceiver},
    receiver::{Receiver, eventually},
    ui_support::{UiClient, add_user},
};

async fn subscribe(app: &TestApp, key: &str, url: &str) -> (u16, Value) {
    app.post_api(
        key,
        "/api/v1/webhooks",
        &json!({"url": url, "events": ["task.created"]}),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_hotels_hanging_endpoints_do_not_delay_another_hotels_delivery() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    // Four sends in flight in all (a hotel's share is then 2), each given up after 3 s.
    let app = spawn_app_in(dir, |c| {
        c.outbox = outbox_settings(ServeSettings {
            outbox_max_in_flight: Some(4),
            outbox_timeout: Some("3s".into()),
            retry_schedule: Some("1h".into()),
            ..Default::default()
        })
    })
    .await;
    let noisy = app.create_hotel("noisy").await;
    let calm = app.create_hotel("calm").await;
    let noisy_key = app.api_key(&noisy, Role::Manager).await;
    let calm_key = app.api_key(&calm, Role::Manager).await;
    let hang = RawReceiver::start(Answer::Hang).await;
    let healthy = RawReceiver::start(Answer::Ok).await;
    for _ in 0..20 {
        let (status, body) = subscribe(&app, &noisy_key, &hang.url("127.0.0.1")).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = subscribe(&app, &calm_key, &healthy.url("127.0.0.1")).await;
    assert_eq!(status, 201, "{body}");

    // Ten orders: 200 deliveries to endpoints that accept and never answer.
    for n in 0..10 {
        let (status, body) = app
            .webhook(&noisy, &order(&format!("n-{n}"), "101", &["4"]))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    eventually(
        "the hanging endpoints hold sends",
        || async { hang.requests() },
        |n| *n >= 2,
    )
    .await;

    let sent = Instant::now();
    let (status, body) = app.webhook(&calm, &order("c-1", "101", &["4"])).await;
    assert_eq!(status, 201, "{body}");
    let deadline = sent + Duration::from_secs(3);
    let arrived = loop {
        if let Some(at) = healthy.first_request() {
            break at;
        }
        assert!(
            Instant::now() < deadline,
            "the calm hotel's delivery had not arrived 3 s after its order"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let waited = arrived.saturating_duration_since(sent);
    assert!(
        waited < Duration::from_secs(1),
        "the calm hotel's delivery arrived {waited:?} after its order"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_hotels_subscriptions_are_capped_on_the_api_the_pages_and_the_cli() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let app = spawn_app_in(dir, |c| c.max_subscriptions = 3).await;
    let hotel = app.create_hotel("h1").await;
    let other = app.create_hotel("h2").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let other_key = app.api_key(&other, Role::Manager).await;
    let rx = Receiver::start().await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (status, body) = subscribe(&app, &key, &rx.url).await;
        assert_eq!(status, 201, "{body}");
        ids.push(body["id"].as_str().unwrap().to_owned());
    }
    let (status, body) = subscribe(&app, &key, &rx.url).await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "LIMIT_REACHED");
    assert!(
        body["details"][0]
            .as_str()
            .unwrap()
            .contains("HUBHOOK_MAX_SUBSCRIPTIONS"),
        "{body}"
    );
    // Per hotel: another hotel still adds its own.
    let (status, body) = subscribe(&app, &other_key, &rx.url).await;
    assert_eq!(status, 201, "{body}");

    // The pages say so, with the form kept.
    add_user(&app, &hotel, "boss@h1.test", Role::Manager).await;
    let mut boss = UiClient::signed_in(&app, "boss@h1.test").await;
    let csrf = boss.csrf().await;
    let fields = [
        ("csrf", csrf.as_str()),
        ("url", rx.url.as_str()),
        ("kind", "webhook"),
        ("headers", ""),
        ("bearer", ""),
        ("field", ""),
        ("events", "task.created"),
    ];
    let res = boss.post("/manage/webhooks", &fields).await;
    assert_eq!(res.status, 409, "{}", res.body);
    assert!(
        res.body.contains("HUBHOOK_MAX_SUBSCRIPTIONS"),
        "{}",
        res.body
    );

    // The CLI reads the same setting.
    let mut cmd: Command = app.cli();
    cmd.env("HUBHOOK_MAX_SUBSCRIPTIONS", "3")
        .args(["webhooks", "add", "h1", "--url", &rx.url]);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .unwrap();
    assert!(!out.status.success(), "the CLI added a fourth");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("HUBHOOK_MAX_SUBSCRIPTIONS"), "{stderr}");

    // Removing one makes room again.
    let res = app
        .client
        .delete(app.url(&format!("/api/v1/webhooks/{}", ids[0])))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 204);
    let (status, body) = subscribe(&app, &key, &rx.url).await;
    assert_eq!(status, 201, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn replays_cannot_grow_a_hotels_backlog_past_its_bound() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let app = spawn_app_in(dir, |c| {
        c.max_subscriptions = 21;
        c.outbox = outbox_settings(ServeSettings {
            retry_schedule: Some("1h".into()),
            ..Default::default()
        });
    })
    .await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let busy = Receiver::scripted(&[], 503).await;
    let refusing = Receiver::scripted(&[], 400).await;
    for _ in 0..20 {
        let (status, body) = subscribe(&app, &key, &busy.url).await;
        assert_eq!(status, 201, "{body}");
    }
    let (status, body) = subscribe(&app, &key, &refusing.url).await;
    assert_eq!(status, 201, "{body}");
    let refused = body["id"].as_str().unwrap().to_owned();
    // Ten orders: 200 deliveries retried an hour later (pending), 10 refused for good.
    for n in 0..10 {
        let (status, body) = app
            .webhook(&hotel, &order(&format!("o-{n}"), "101", &["4"]))
            .await;
        assert_eq!(status, 201, "{body}");
    }
    let failed = eventually(
        "the refused deliveries ended",
        || async {
            let (_, b) = app
                .get_api(&key, "/api/v1/deliveries?status=failed&limit=500")
                .await;
            b["deliveries"].as_array().unwrap().clone()
        },
        |d: &Vec<Value>| d.len() == 10,
    )
    .await;
    assert!(
        failed
            .iter()
            .all(|d| d["subscriptionId"] == refused.as_str())
    );
    eventually(
        "every other delivery tried once, and recorded",
        || async {
            let (_, b) = app
                .get_api(&key, "/api/v1/deliveries?status=pending&limit=500")
                .await;
            b["deliveries"].as_array().unwrap().clone()
        },
        |d: &Vec<Value>| d.len() == 200 && d.iter().all(|d| d["attempts"] == 1),
    )
    .await;
    let id = failed[0]["id"].as_str().unwrap();
    let (status, body) = app
        .post_api(&key, &format!("/api/v1/deliveries/{id}/replay"), &json!({}))
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "LIMIT_REACHED");
    assert!(
        body["details"][0].as_str().unwrap().contains("200"),
        "{body}"
    );
    // A pending delivery (not being sent) may still be sent now: it adds nothing to the backlog.
    let (_, pending) = app
        .get_api(&key, "/api/v1/deliveries?status=pending&limit=1")
        .await;
    let pid = pending["deliveries"][0]["id"].as_str().unwrap();
    let (status, body) = app
        .post_api(
            &key,
            &format!("/api/v1/deliveries/{pid}/replay"),
            &json!({}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    app.stop().await;
}
