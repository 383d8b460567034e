//! Abuse limits (docs/operations.md, "Abuse limits"): 429 + `Retry-After` with the contract's error
//! shape, per hotel (authenticated requests only), per address, after failed credentials, on login;
//! `0` turns each off. Every test runs from 127.0.0.1: "another address" is an `X-Forwarded-For`
//! from a trusted proxy (127.0.0.1), which is how a deployment behind a proxy tells clients apart.

use std::time::Duration;

use hubhook::{
    config::Config,
    domain::Role,
    http::limits::{LimitsConfig, Rate, Window},
    outbox::dispatcher::IpRange,
};
use serde_json::{Value, json};

use crate::{
    helpers::{Hotel, TestApp, expect_webhook_error, inbound_log, json_of, spawn_app_in},
    secrets::{Run, Server, hotel_of, post_webhook},
    ui_support::{PASSWORD, UiClient, add_user},
};

const LIMITED: &str = "WEB_HUK_RATE_LIMITED";
const LIMITED_MESSAGE: &str = "Too many requests, retry later.";

/// Every limit off, then `set` turns on what the test is about.
async fn app_with(set: impl FnOnce(&mut LimitsConfig)) -> TestApp {
    let dir = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
    spawn_app_in(dir, |c: &mut Config| {
        let mut limits = c.limits.clone().without_webhook_limits();
        limits.login_account.failures = 0;
        limits.login_ip.failures = 0;
        set(&mut limits);
        c.limits = limits;
    })
    .await
}

fn recorded() -> Value {
    json!({"accountId": "acc", "event": "reservationCreated", "resource": {"id": "res-1"}})
}

fn localhost_is_a_proxy() -> Vec<IpRange> {
    vec![IpRange::parse("127.0.0.1").unwrap()]
}

/// A webhook with `hotel`'s headers (tokens as given), from `forwarded_for` if set; the status,
/// the `Retry-After` seconds if any, and the body.
async fn send(
    app: &TestApp,
    hotel: &Hotel,
    forwarded_for: Option<&str>,
) -> (u16, Option<u64>, Value) {
    let mut req = app
        .client
        .post(app.url("/webhooks/duve"))
        .header("content-type", "application/json")
        .header("custom_hotel_id", &hotel.id)
        .header("custom_access_token", &hotel.access)
        .header("custom_password_token", &hotel.password)
        .body(recorded().to_string());
    if let Some(ip) = forwarded_for {
        req = req.header("x-forwarded-for", ip);
    }
    let res = req.send().await.expect("request");
    let retry_after = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse::<u64>().expect("whole seconds"));
    let (status, body) = json_of(res).await;
    (status, retry_after, body)
}

fn wrong(hotel: &Hotel) -> Hotel {
    Hotel {
        password: format!("{}x", hotel.password),
        ..hotel.clone()
    }
}

fn expect_limited(got: (u16, Option<u64>, Value), detail: &str) -> u64 {
    let (status, retry_after, body) = got;
    expect_webhook_error(&(status, body.clone()), 429, LIMITED, LIMITED_MESSAGE);
    assert_eq!(body["details"][0], detail, "{body}");
    let wait = retry_after.unwrap_or_else(|| panic!("no Retry-After: {body}"));
    assert!(wait >= 1, "{wait}");
    wait
}

async fn metric(app: &TestApp, series: &str) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body");
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {series} in {text}"))
}

#[tokio::test]
async fn a_hotel_over_its_rate_gets_429_and_only_authenticated_requests_count() {
    let app = app_with(|l| {
        l.webhook_hotel = Rate {
            per_second: 0.01,
            burst: 3,
        }
    })
    .await;
    let h1 = app.create_hotel("h1").await;
    let h2 = app.create_hotel("h2").await;
    let key = app.api_key(&h1, Role::Manager).await;
    // Anyone knowing h1's id can send it requests; they do not spend its budget.
    for _ in 0..10 {
        let (status, _, body) = send(&app, &wrong(&h1), None).await;
        assert_eq!(status, 400, "{body}");
    }
    for _ in 0..3 {
        let (status, _, body) = send(&app, &h1, None).await;
        assert_eq!(status, 200, "{body}");
    }
    let wait = expect_limited(
        send(&app, &h1, None).await,
        "too many requests for this hotel",
    );
    // One token every 100 s: the wait says so.
    assert!((50..=100).contains(&wait), "{wait}");
    // Another hotel, from the same address, is not affected.
    let (status, _, body) = send(&app, &h2, None).await;
    assert_eq!(status, 200, "{body}");
    // A refusal is counted, but not written to the hotel's log (a flood must not become writes).
    assert_eq!(
        metric(
            &app,
            "hubhook_webhooks_total{code=\"WEB_HUK_RATE_LIMITED\"}"
        )
        .await,
        1.0
    );
    assert_eq!(inbound_log(&app, &key).await.len(), 3);
    app.stop().await;
}

#[tokio::test]
async fn an_address_over_its_rate_gets_429_before_its_credentials_are_read() {
    let app = app_with(|l| {
        l.webhook_ip = Rate {
            per_second: 0.01,
            burst: 4,
        };
        l.trusted_proxies = localhost_is_a_proxy();
    })
    .await;
    let h1 = app.create_hotel("h1").await;
    let h2 = app.create_hotel("h2").await;
    let flooder = Some("198.51.100.7");
    // Every request counts, whatever its hotel and whether its credentials are right.
    for (hotel, expected) in [(&h1, 200), (&h2, 200), (&wrong(&h1), 400), (&h2, 200)] {
        let (status, _, body) = send(&app, hotel, flooder).await;
        assert_eq!(status, expected, "{body}");
    }
    let address = "too many requests from this address";
    expect_limited(send(&app, &h1, flooder).await, address);
    expect_limited(send(&app, &wrong(&h2), flooder).await, address);
    // Another client address behind the same proxy has its own bucket.
    let (status, _, body) = send(&app, &h1, Some("198.51.100.8")).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn forwarded_for_is_ignored_unless_the_peer_is_a_trusted_proxy() {
    let app = app_with(|l| {
        l.webhook_ip = Rate {
            per_second: 0.01,
            burst: 2,
        }
    })
    .await;
    let h1 = app.create_hotel("h1").await;
    // A client naming a new address each time is still counted as the address it connects from.
    for fake in ["192.0.2.1", "192.0.2.2"] {
        let (status, _, body) = send(&app, &h1, Some(fake)).await;
        assert_eq!(status, 200, "{body}");
    }
    expect_limited(
        send(&app, &h1, Some("192.0.2.3")).await,
        "too many requests from this address",
    );
    app.stop().await;
}

#[tokio::test]
async fn failed_credentials_block_the_address_even_with_good_ones_until_the_window_ends() {
    let app = app_with(|l| {
        l.webhook_auth = Window {
            failures: 3,
            length: Duration::from_secs(5),
        };
        l.trusted_proxies = localhost_is_a_proxy();
    })
    .await;
    let h1 = app.create_hotel("h1").await;
    let guesser = Some("203.0.113.5");
    for _ in 0..3 {
        let (status, _, body) = send(&app, &wrong(&h1), guesser).await;
        assert_eq!(status, 400, "{body}");
    }
    let failed = "too many failed credential checks from this address";
    expect_limited(send(&app, &wrong(&h1), guesser).await, failed);
    // The right tokens from that address are refused too: the tokens are not even checked.
    let wait = expect_limited(send(&app, &h1, guesser).await, failed);
    assert!(wait <= 5, "{wait}");
    // Another address is not slowed down.
    let (status, _, body) = send(&app, &h1, Some("203.0.113.6")).await;
    assert_eq!(status, 200, "{body}");
    // Once the window has passed, the address is let in again.
    tokio::time::sleep(Duration::from_secs(wait)).await;
    let (status, _, body) = send(&app, &h1, guesser).await;
    assert_eq!(status, 200, "{body}");
    app.stop().await;
}

#[tokio::test]
async fn login_limits_follow_their_settings() {
    let app = app_with(|l| {
        l.login_account = Window {
            failures: 2,
            length: Duration::from_secs(600),
        };
        // login_ip stays 0: off.
    })
    .await;
    let hotel = app.create_hotel("h1").await;
    for who in ["ana", "cy"] {
        add_user(&app, &hotel, &format!("{who}@h1.test"), Role::Staff).await;
    }
    let mut c = UiClient::new(&app);
    for _ in 0..2 {
        assert_eq!(c.login("ana@h1.test", "wrong").await.status, 401);
    }
    let blocked = c.login("ana@h1.test", PASSWORD).await;
    assert_eq!(blocked.status, 429, "2 failures block the account");
    let wait: u64 = blocked.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 0 && wait <= 600, "{wait}");
    // With the address limit off, more failures from this address than the default 20 block
    // nothing but the accounts they name.
    for i in 0..22 {
        let res = c.login(&format!("guess{i}@h1.test"), "wrong").await;
        assert_eq!(res.status, 401);
    }
    assert_eq!(
        UiClient::new(&app)
            .login("cy@h1.test", PASSWORD)
            .await
            .status,
        303
    );
    app.stop().await;
}

#[tokio::test]
async fn limits_set_to_zero_are_off() {
    let app = app_with(|l| {
        // Either number at 0 turns a bucket off.
        l.webhook_ip = Rate {
            per_second: 0.0,
            burst: 1,
        };
        l.webhook_hotel = Rate {
            per_second: 5.0,
            burst: 0,
        };
        l.webhook_auth = Window {
            failures: 0,
            length: Duration::from_secs(600),
        };
    })
    .await;
    let h1 = app.create_hotel("h1").await;
    add_user(&app, &h1, "ana@h1.test", Role::Staff).await;
    for _ in 0..30 {
        let (status, _, body) = send(&app, &wrong(&h1), None).await;
        assert_eq!(status, 400, "{body}");
    }
    for _ in 0..30 {
        let (status, _, body) = send(&app, &h1, None).await;
        assert_eq!(status, 200, "{body}");
    }
    let mut c = UiClient::new(&app);
    for _ in 0..6 {
        assert_eq!(c.login("ana@h1.test", "wrong").await.status, 401);
    }
    assert_eq!(c.login("ana@h1.test", PASSWORD).await.status, 303);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_reads_its_limits_from_flags_environment_and_file() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let dir = tmp.path();
    let mut run = Run::default();
    let created = run
        .cli(
            dir,
            &["hotel", "create", "--name", "Busy", "--id", "busy"],
            None,
        )
        .await;
    let hotel = hotel_of(&created, "busy");
    // The file says one thing, the environment and the flags win over it.
    std::fs::write(
        dir.join("hubhook.toml"),
        "webhook_hotel_burst = 50\nwebhook_hotel_rate = 50\nwebhook_auth_failures = 1\n",
    )
    .expect("settings file");
    let mut server = Server::start(
        dir,
        &["--webhook-hotel-rate", "0.01"],
        &[("HUBHOOK_WEBHOOK_HOTEL_BURST", "2")],
    );
    let client = hubhook::http_client().build().expect("client");
    server.wait_healthy(&client).await;
    let event = recorded();
    for _ in 0..2 {
        let (status, body) = post_webhook(&client, &server, &hotel, &event).await;
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = post_webhook(&client, &server, &hotel, &event).await;
    expect_webhook_error(&(status, body), 429, LIMITED, LIMITED_MESSAGE);
    // From the file: one failed credential blocks the address.
    let (status, _) = post_webhook(&client, &server, &wrong(&hotel), &event).await;
    assert_eq!(status, 400);
    let (status, body) = post_webhook(&client, &server, &wrong(&hotel), &event).await;
    assert_eq!(status, 429, "{body}");
    assert_eq!(
        body["details"][0],
        "too many failed credential checks from this address"
    );
    server.stop().await;

    // A setting that makes no sense stops the server at start, naming it.
    for (key, env) in [
        ("login_window", ("HUBHOOK_LOGIN_WINDOW", "0s")),
        ("webhook_ip_rate", ("HUBHOOK_WEBHOOK_IP_RATE", "-3")),
        (
            "trusted_proxies",
            ("HUBHOOK_TRUSTED_PROXIES", "10.0.0.0/99"),
        ),
    ] {
        let (status, stderr) = Server::start(dir, &[], &[env]).exits();
        assert!(!status.success());
        assert!(stderr.contains(key), "{key}: {stderr}");
    }
}

#[tokio::test]
async fn every_spelling_that_reaches_an_account_counts_against_that_account() {
    let app = app_with(|l| {
        l.login_account = Window {
            failures: 5,
            length: Duration::from_secs(600),
        };
        // login_ip stays 0: only the account's count is at work.
    })
    .await;
    let hotel = app.create_hotel("h1").await;
    add_user(&app, &hotel, "alice@h1.test", Role::Staff).await;
    add_user(&app, &hotel, "élise@h1.test", Role::Staff).await;
    let mut c = UiClient::new(&app);
    // Case and surrounding whitespace: one account, one count.
    for spelling in [
        "Alice@H1.test",
        " alice@h1.test ",
        "ALICE@H1.TEST",
        "alice@h1.test\t",
    ] {
        assert_eq!(c.login(spelling, "wrong").await.status, 401, "{spelling:?}");
    }
    assert_eq!(
        UiClient::new(&app)
            .login("AlIcE@h1.test", PASSWORD)
            .await
            .status,
        303
    );
    // The success cleared the count; five failures under five spellings block the account.
    for spelling in [
        "Alice@H1.test",
        " alice@h1.test ",
        "alice@H1.test",
        "ALICE@h1.test",
        "alice@h1.test",
    ] {
        assert_eq!(c.login(spelling, "wrong").await.status, 401, "{spelling:?}");
    }
    for spelling in ["alice@h1.test", " Alice@H1.TEST"] {
        assert_eq!(
            c.login(spelling, PASSWORD).await.status,
            429,
            "{spelling:?}: blocked under every spelling"
        );
    }
    // Letters outside ASCII are compared as typed by both stores: a spelling that differs there
    // names no account, so it cannot be used to try an account's password past its limit.
    for _ in 0..5 {
        assert_eq!(c.login("élise@h1.test", "wrong").await.status, 401);
    }
    assert_eq!(c.login("élise@h1.test", PASSWORD).await.status, 429);
    let other = c.login("Élise@h1.test", PASSWORD).await;
    assert_eq!(
        other.status, 401,
        "a spelling counted apart must not reach the blocked account"
    );
    app.stop().await;
}
