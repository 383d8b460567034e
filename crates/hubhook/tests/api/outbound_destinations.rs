//! Outbound destinations (CONTRACT.md section 8, docs/security.md "Outbound destinations"): a
//! delivery connects to public addresses only, judged on every address it would connect to;
//! `HUBHOOK_OUTBOUND_ALLOW` exempts ranges, `HUBHOOK_OUTBOUND_DENY` wins over it, and a refused
//! delivery ends as `WEB_HUK_DESTINATION_DENIED` without any connection. Each receiver here is a
//! bare TCP listener on its own port that counts the connections it accepts (`raw_receiver.rs`).

use std::{collections::HashMap, process::Command};

use hubhook::{config::ServeSettings, domain::Role};
use serde_json::{Value, json};

use crate::{
    helpers::*,
    raw_receiver::{Answer, RawReceiver},
    receiver::eventually,
    restart::{Server, cli, post_order},
};

/// The real binary's `--json` answer (off the async runtime: the server keeps answering).
async fn app_cli(app: &TestApp, args: &[&str]) -> Value {
    let mut cmd: Command = app.cli();
    cmd.args(args).arg("--json");
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("run hubhook");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// Adds a subscription with the CLI (the operator's tool, which does not judge the URL when it
/// is added), so only the dispatcher's guard stands between the URL and a connection.
async fn cli_subscription(app: &TestApp, hotel: &str, url: &str, extra: &[&str]) -> String {
    let mut args = vec!["webhooks", "add", hotel, "--url", url];
    args.extend_from_slice(extra);
    app_cli(app, &args).await["id"]
        .as_str()
        .expect("subscription id")
        .to_owned()
}

async fn api_subscription(app: &TestApp, key: &str, url: &str) -> String {
    let (status, body) = app
        .post_api(
            key,
            "/api/v1/webhooks",
            &json!({"url": url, "events": ["task.created"]}),
        )
        .await;
    assert_eq!(status, 201, "{url}: {body}");
    body["id"].as_str().expect("id").to_owned()
}

/// Waits until no delivery is pending; returns every delivery by its subscription.
async fn settled(app: &TestApp, key: &str, n: usize) -> HashMap<String, Value> {
    let all = eventually(
        "every delivery ended",
        || async {
            let (status, body) = app.get_api(key, "/api/v1/deliveries?limit=500").await;
            assert_eq!(status, 200, "{body}");
            body["deliveries"].as_array().expect("deliveries").clone()
        },
        |d: &Vec<Value>| d.len() == n && d.iter().all(|d| d["status"] != "pending"),
    )
    .await;
    all.into_iter()
        .map(|d| (d["subscriptionId"].as_str().expect("sub").to_owned(), d))
        .collect()
}

/// The first attempt's error of a delivery, from its detail.
async fn first_error(app: &TestApp, key: &str, delivery: &Value) -> String {
    let id = delivery["id"].as_str().expect("id");
    let (status, d) = app.get_api(key, &format!("/api/v1/deliveries/{id}")).await;
    assert_eq!(status, 200, "{d}");
    d["attemptLog"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test]
async fn by_default_no_delivery_connects_to_loopback_by_name_or_by_address() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    // The default rule: no allowed range (what `hubhook serve` runs with unless told).
    let app = spawn_app_in(dir, |c| {
        c.outbox = ServeSettings::default().outbox().unwrap()
    })
    .await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let by_name = RawReceiver::start(Answer::Ok).await;
    let duve = RawReceiver::start(Answer::Ok).await;

    // An address is refused when the subscription is added through the API ...
    let (status, body) = app
        .post_api(
            &key,
            "/api/v1/webhooks",
            &json!({"url": by_name.url("127.0.0.1")}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["code"], "WEB_HUK_DESTINATION_DENIED", "{body}");
    assert!(
        body["details"][0].as_str().unwrap().contains("loopback"),
        "{body}"
    );
    // ... a name cannot be judged then; and the CLI adds whatever the operator asks.
    let webhook = api_subscription(&app, &key, &by_name.url("localhost")).await;
    let connect = cli_subscription(
        &app,
        "h1",
        &duve.url("127.0.0.1"),
        &["--kind", "duve-connect", "--bearer", "duve-token"],
    )
    .await;

    let (status, answer) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(status, 201, "{answer}");
    let got = settled(&app, &key, 2).await;
    for sub in [&webhook, &connect] {
        let d = &got[sub];
        assert_eq!(d["status"], "failed", "{d}");
        assert_eq!(d["code"], "WEB_HUK_DESTINATION_DENIED", "{d}");
        assert_eq!(d["attempts"], 1, "never retried: {d}");
        let error = first_error(&app, &key, d).await;
        assert!(error.contains("not a public address: loopback"), "{error}");
    }
    assert_eq!(by_name.connections(), 0, "localhost was connected to");
    assert_eq!(duve.connections(), 0, "127.0.0.1 was connected to");
    app.stop().await;
}

#[tokio::test]
async fn with_loopback_allowed_unspecified_addresses_stay_refused_and_loopback_is_reached() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    // HUBHOOK_OUTBOUND_ALLOW=127.0.0.0/8 (the suite's default), fast retries.
    let app = spawn_app_in(dir, |c| {
        c.outbox = outbox_settings(ServeSettings {
            retry_schedule: Some("50ms".into()),
            outbox_timeout: Some("5s".into()),
            ..Default::default()
        })
    })
    .await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;

    // Unspecified addresses reach loopback when connected to, but are not in 127.0.0.0/8.
    let mut refused = Vec::new();
    for host in ["0.0.0.0", "0", "[::]", "[::ffff:0.0.0.0]", "[::1]"] {
        let rx = RawReceiver::start(Answer::Ok).await;
        let url = rx.url(host);
        let (status, body) = app
            .post_api(&key, "/api/v1/webhooks", &json!({"url": url}))
            .await;
        assert_eq!(status, 422, "{url} was accepted: {body}");
        assert_eq!(body["code"], "WEB_HUK_DESTINATION_DENIED", "{body}");
        let sub = cli_subscription(&app, "h1", &url, &["--events", "task.created"]).await;
        refused.push((host, sub, rx));
    }
    // 127.0.0.0/8 as written, as an IPv4-mapped IPv6 address, and by name.
    let mut allowed = Vec::new();
    for host in ["127.0.0.1", "[::ffff:127.0.0.1]", "localhost"] {
        let rx = RawReceiver::start(Answer::Ok).await;
        let sub = api_subscription(&app, &key, &rx.url(host)).await;
        allowed.push((host, sub, rx));
    }
    // A name that does not resolve is a failed attempt, retried, never a connection.
    let nowhere = RawReceiver::start(Answer::Ok).await;
    let unresolved = api_subscription(&app, &key, &nowhere.url("hubhook-test.invalid")).await;

    let (status, answer) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(status, 201, "{answer}");
    let got = settled(&app, &key, refused.len() + allowed.len() + 1).await;
    for (host, sub, rx) in &refused {
        let d = &got[sub];
        assert_eq!(d["code"], "WEB_HUK_DESTINATION_DENIED", "{host}: {d}");
        assert_eq!(d["attempts"], 1, "{host}: {d}");
        assert_eq!(rx.connections(), 0, "{host} was connected to");
    }
    for (host, sub, rx) in &allowed {
        let d = &got[sub];
        assert_eq!(d["status"], "delivered", "{host}: {d}");
        assert_eq!(rx.requests(), 1, "{host}");
        assert_eq!(
            rx.v6_connections(),
            0,
            "{host}: only 127.0.0.0/8 is allowed"
        );
    }
    let d = &got[&unresolved];
    assert_eq!(d["code"], "WEB_HUK_REQUEST_ATTEMPT_FAILED", "{d}");
    assert_eq!(d["attempts"], 2, "retried: {d}");
    assert_eq!(nowhere.connections(), 0);
    app.stop().await;
}

#[tokio::test]
async fn a_proxy_named_in_the_environment_never_carries_a_delivery() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("x.db");
    let proxy = RawReceiver::start(Answer::Ok).await;
    let target = RawReceiver::start(Answer::Ok).await;
    let proxy_url = format!("http://127.0.0.1:{}", proxy.port);
    let created = cli(
        &db,
        dir.path(),
        &["hotel", "create", "--name", "Proxy", "--id", "px"],
    );
    let hotel = Hotel {
        id: "px".into(),
        access: created["accessToken"].as_str().expect("token").to_owned(),
        password: created["passwordToken"].as_str().expect("token").to_owned(),
    };
    cli(&db, dir.path(), &["rooms", "add", "px", "101"]);
    let url = target.url("localhost");
    let sub = cli(&db, dir.path(), &["webhooks", "add", "px", "--url", &url])["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // The default rule, and every proxy variable naming a listener that would forward anything.
    let mut server = Server::start_with(
        &db,
        dir.path(),
        &[
            (OUTBOUND_ALLOW_ENV, ""),
            ("HTTP_PROXY", &proxy_url),
            ("http_proxy", &proxy_url),
            ("HTTPS_PROXY", &proxy_url),
            ("https_proxy", &proxy_url),
            ("ALL_PROXY", &proxy_url),
            ("all_proxy", &proxy_url),
            ("NO_PROXY", ""),
            ("no_proxy", ""),
        ],
    );
    let client = hubhook::http_client().no_proxy().build().unwrap();
    server.wait_healthy(&client).await;
    let (status, answer) = post_order(
        &client,
        &server.url("/webhooks/duve"),
        &hotel,
        &order("o-1", "101", &["4"]),
    )
    .await
    .expect("post order");
    assert_eq!(status, 201, "{answer}");
    let failed = eventually(
        "the delivery refused",
        || async {
            cli(
                &db,
                dir.path(),
                &["deliveries", "list", "px", "--status", "failed"],
            )
        },
        |d: &Value| d.as_array().is_some_and(|d| !d.is_empty()),
    )
    .await;
    assert_eq!(failed[0]["subscriptionId"], sub.as_str());
    assert_eq!(failed[0]["code"], "WEB_HUK_DESTINATION_DENIED", "{failed}");
    assert_eq!(proxy.connections(), 0, "the proxy carried the delivery");
    assert_eq!(target.connections(), 0);
}

/// `HUBHOOK_OUTBOUND_DENY` wins over `HUBHOOK_OUTBOUND_ALLOW` (here both name loopback): an
/// address is refused when added, a name when its delivery would connect.
#[tokio::test]
async fn the_deny_list_keeps_deliveries_away_from_listed_addresses() {
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let app = spawn_app_in(dir, |c| {
        c.outbox = outbox_settings(ServeSettings {
            outbound_allow: Some("127.0.0.0/8".parse().unwrap()),
            outbound_deny: Some("127.0.0.0/8".parse().unwrap()),
            ..Default::default()
        });
    })
    .await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let rx = RawReceiver::start(Answer::Ok).await;
    let (status, body) = app
        .post_api(
            &key,
            "/api/v1/webhooks",
            &json!({"url": rx.url("127.0.0.1")}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["details"][0]
            .as_str()
            .unwrap()
            .contains("HUBHOOK_OUTBOUND_DENY")
    );
    api_subscription(&app, &key, &rx.url("localhost")).await;
    app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    let got = settled(&app, &key, 1).await;
    let d = got.values().next().expect("a delivery");
    assert_eq!(d["code"], "WEB_HUK_DESTINATION_DENIED", "{d}");
    assert_eq!(rx.connections(), 0);
    app.stop().await;
}
