//! Retention (docs/operations.md): the pruner deletes inbound-log entries and finished deliveries'
//! attempts older than `retention_days` when the server starts and periodically after, in small
//! batches, while webhooks keep being answered.
//!
//! Rows from weeks ago cannot be made through the HTTP interface, so they are written through the
//! store the running app uses (`record_refusal`, `record_attempt` with a past time); everything is
//! then observed over HTTP after a restart, whose pruner run finds them.

use std::{process::Command, sync::Arc, time::Duration};

use hubhook::{
    config::{Config, ServeSettings},
    domain::{HotelId, Role},
    outbox::Verdict,
    store::{AttemptRecord, Refused},
};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::{
    helpers::*,
    receiver::{Receiver, eventually},
};

/// Failed attempts are retried an hour later: nothing moves during the test but what it writes.
fn slow_retries(c: &mut Config) {
    c.outbox = outbox_settings(ServeSettings {
        retry_schedule: Some("1h".into()),
        outbox_timeout: Some("2s".into()),
        ..Default::default()
    });
}

fn days_ago(days: i64) -> Timestamp {
    Timestamp::now()
        .checked_sub(SignedDuration::from_hours(24 * days))
        .expect("a past time")
}

/// `n` refused requests of `hotel` logged at `at`, written `concurrency` at a time.
async fn log_refusals(app: &TestApp, hotel: &str, at: Timestamp, n: usize) {
    let mut writers = tokio::task::JoinSet::new();
    let per = n.div_ceil(64);
    for w in 0..64 {
        let (store, hotel) = (app.store.clone(), HotelId::parse(hotel).expect("hotel id"));
        let count = per.min(n.saturating_sub(w * per));
        writers.spawn(async move {
            for _ in 0..count {
                store
                    .record_refusal(Refused {
                        hotel: hotel.clone(),
                        code: "WEB_HUK_INVALID_BODY",
                        details: vec![],
                        event: Some("orderCreated".into()),
                        received_at: at,
                        started: std::time::Instant::now(),
                    })
                    .await
                    .expect("log a refusal");
            }
        });
    }
    while let Some(done) = writers.join_next().await {
        done.expect("writer");
    }
}

async fn pruned(app: &TestApp, table: &str) -> u64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics body");
    let prefix = format!("hubhook_retention_pruned_total{{table=\"{table}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in {text}"))
}

async fn attempt_log(app: &TestApp, key: &str, id: &str) -> Vec<Value> {
    let (status, detail) = app.get_api(key, &format!("/api/v1/deliveries/{id}")).await;
    assert_eq!(status, 200, "{detail}");
    detail["attemptLog"]
        .as_array()
        .expect("attempt log")
        .clone()
}

#[tokio::test]
async fn entries_and_finished_attempts_older_than_the_retention_are_pruned_the_rest_kept() {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    // Retention at its default: 30 days.
    let app = spawn_app_in(dir.clone(), slow_retries).await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let rx = Receiver::scripted(&[], 503).await;
    let (status, sub) = app
        .post_api(
            &key,
            "/api/v1/webhooks",
            &json!({"url": rx.url, "events": ["task.created"]}),
        )
        .await;
    assert_eq!(status, 201, "{sub}");
    for i in 0..4 {
        let (status, answer) = app
            .webhook(&hotel, &order(&format!("o-{i}"), "101", &["4"]))
            .await;
        assert_eq!(status, 201, "{answer}");
    }
    // Each delivery attempted once (503: the next attempt in an hour).
    let list = eventually(
        "a first attempt of each delivery",
        || async {
            let (_, body) = app.get_api(&key, "/api/v1/deliveries").await;
            body["deliveries"].as_array().cloned().unwrap_or_default()
        },
        |d| d.len() == 4 && d.iter().all(|d| d["attempts"] == 1),
    )
    .await;
    let ids: Vec<String> = list
        .iter()
        .map(|d| d["id"].as_str().expect("id").to_owned())
        .collect();
    // Weeks ago, two deliveries ended delivered; two others had an attempt and are still pending.
    for (i, id) in ids.iter().enumerate() {
        let verdict = if i < 2 {
            Verdict::Delivered
        } else {
            Verdict::Retry(Duration::from_secs(60 * 86_400))
        };
        app.store
            .record_attempt(AttemptRecord {
                delivery: id.clone(),
                at: days_ago(40),
                status: Some(if i < 2 { 200 } else { 500 }),
                error: None,
                latency: Duration::from_millis(3),
                response: "long ago".into(),
                verdict,
            })
            .await
            .expect("an old attempt");
    }
    log_refusals(&app, "h1", days_ago(40), 30).await;
    log_refusals(&app, "h1", days_ago(29), 1).await;
    assert_eq!(inbound_log(&app, &key).await.len(), 35);
    app.stop().await;

    // The pruner runs as the server starts.
    let app = spawn_app_in(dir, slow_retries).await;
    let log = eventually(
        "entries older than 30 days pruned",
        || inbound_log(&app, &key),
        |l| l.len() == 5,
    )
    .await;
    let kept_from = hubhook::domain::time::format(days_ago(30));
    for e in &log {
        let at = e["receivedAt"].as_str().expect("receivedAt");
        assert!(at > kept_from.as_str(), "{e}");
    }
    assert_eq!(log.iter().filter(|e| e["code"] == "created").count(), 4);
    let attempts = eventually(
        "old attempts of finished deliveries pruned",
        || async {
            let mut lens = Vec::new();
            for id in &ids {
                lens.push(attempt_log(&app, &key, id).await);
            }
            lens
        },
        |lens| lens[0].len() == 1 && lens[1].len() == 1,
    )
    .await;
    for log in &attempts[..2] {
        assert_eq!(log[0]["status"], 503, "the recent attempt is kept: {log:?}");
    }
    for log in &attempts[2..] {
        assert_eq!(log.len(), 2, "a pending delivery keeps its old attempts");
        assert!(log.iter().any(|a| a["response"] == "long ago"), "{log:?}");
    }
    // Counters are per process (other tests' pruners count too).
    assert!(pruned(&app, "inbound").await >= 30);
    assert!(pruned(&app, "delivery_attempts").await >= 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_answered_201_while_a_large_backlog_is_pruned() {
    const BACKLOG: usize = 6000;
    const SENDERS: usize = 8;
    const EACH: usize = 25;
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let app = spawn_app_in(dir.clone(), |_| {}).await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    log_refusals(&app, "h1", days_ago(90), BACKLOG).await;
    app.stop().await;

    // Deliveries from the first moment on, while the pruner works through the backlog.
    let app = Arc::new(spawn_app_in(dir, |_| {}).await);
    let mut senders = tokio::task::JoinSet::new();
    for s in 0..SENDERS {
        let (app, hotel) = (app.clone(), hotel.clone());
        senders.spawn(async move {
            for i in 0..EACH {
                let (status, answer) = app
                    .webhook(&hotel, &order(&format!("s{s}-{i}"), "101", &["4"]))
                    .await;
                assert_eq!(status, 201, "{answer}");
            }
        });
    }
    while let Some(done) = senders.join_next().await {
        done.expect("a sender failed");
    }
    let log = eventually(
        "the backlog pruned",
        || inbound_log(&app, &key),
        |l| l.len() == SENDERS * EACH,
    )
    .await;
    // Only the new deliveries are left: the backlog is gone (which server's pruner took how much of
    // it is not fixed: the first may have begun before it stopped, and counters are per server).
    assert!(log.iter().all(|e| e["code"] == "created"));
}

#[test]
fn an_unreadable_retention_setting_stops_the_server_naming_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new(env!("CARGO_BIN_EXE_hubhook"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--retention-days",
            "soon",
        ])
        .env(
            "HUBHOOK_DATABASE_URL",
            database_url(&dir.path().join("x.db")),
        )
        .env_remove("HUBHOOK_CONFIG")
        .current_dir(dir.path())
        .output()
        .expect("run hubhook");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("retention_days"), "{err}");
}
