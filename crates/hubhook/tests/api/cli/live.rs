//! Changes made through the CLI while `serve` runs on the same database: rooms, catalog, tokens,
//! API keys, outbound webhooks and deliveries count at once.

use serde_json::{Value, json};

use super::{assert_long_random, create_hotel, run, temp};
use crate::helpers::{Hotel, TestApp, order, spawn_app};

async fn api_list(app: &TestApp, key: &str) -> Vec<Value> {
    let (status, body) = app.get_api(key, "/api/v1/tasks?limit=500").await;
    assert_eq!(status, 200, "{body}");
    body["tasks"].as_array().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_made_by_the_cli_take_effect_on_the_running_server_at_once() {
    let app = spawn_app().await;
    // Make the server load its configuration before the CLI changes it.
    let seed = app.create_hotel("seed").await;
    let (s, _) = app.webhook(&seed, &order("seed-1", "101", &["4"])).await;
    assert_eq!(s, 201);

    // A hotel created by the CLI is known at once.
    let hotel = create_hotel(
        app.cli(),
        &[
            "--name",
            "Live",
            "--id",
            "live",
            "--timezone",
            "Europe/Lisbon",
        ],
    )
    .await;
    let (s, body) = app.webhook(&hotel, &order("l-1", "301", &["4"])).await;
    assert_eq!(s, 400, "credentials accepted, room unknown: {body}");
    assert_eq!(body["code"], "WEB_HUK_HUBOS_REQUEST_FAIL");
    assert_eq!(body["message"], "Unknown room");

    // A room added by the CLI is known at once.
    run(app.cli(), &["rooms", "add", "live", "301"])
        .await
        .success();
    let (s, body) = app.webhook(&hotel, &order("l-2", "301", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    assert_eq!(body["tasks"][0]["room"], "301");

    // A catalog entry set by the CLI is known at once, with its SLA.
    let (s, body) = app.webhook(&hotel, &order("l-3", "301", &["99"])).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["message"], "Unknown service");
    run(
        app.cli(),
        &[
            "catalog",
            "set",
            "live",
            "99",
            "Flowers",
            "--department",
            "Concierge",
            "--sla-minutes",
            "30",
        ],
    )
    .await
    .success();
    let (s, body) = app.webhook(&hotel, &order("l-4", "301", &["99"])).await;
    assert_eq!(s, 201, "{body}");
    let task = &body["tasks"][0];
    assert_eq!(task["taskName"], "Flowers");
    let created: jiff::Timestamp = task["createdAt"].as_str().unwrap().parse().unwrap();
    let due: jiff::Timestamp = task["dueAt"]
        .as_str()
        .expect("an SLA gives a due time")
        .parse()
        .unwrap();
    assert_eq!(due.as_second() - created.as_second(), 30 * 60, "{task}");

    // An API key made by the CLI works against the server, and sees this hotel only.
    let key = run(
        app.cli(),
        &["apikey", "create", "live", "--role", "manager", "--json"],
    )
    .await
    .success()
    .json();
    let api_key = key["apiKey"].as_str().expect("apiKey");
    assert_long_random(api_key);
    let tasks = api_list(&app, api_key).await;
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert!(tasks.iter().all(|t| t["room"] == "301"));
    let (s, moved) = app
        .post_api(
            api_key,
            &format!("/api/v1/tasks/{}/status", tasks[0]["id"].as_str().unwrap()),
            &json!({"status": "accepted"}),
        )
        .await;
    assert_eq!(s, 200, "{moved}");

    // Paid orders are synced from the moment the setting is on.
    let mut paid = order("l-paid-1", "301", &["4"]);
    paid["resource"]["order"]["chargeAmount"] = json!(12.5);
    let (s, body) = app.webhook(&hotel, &paid).await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["status"], "ignored");
    // (And no merging: each order here is meant to make its task.)
    run(
        app.cli(),
        &[
            "hotel",
            "set",
            "live",
            "--sync-paid-orders",
            "true",
            "--merge-window",
            "0",
        ],
    )
    .await
    .success();
    let listed = run(app.cli(), &["hotel", "list", "--json"])
        .await
        .success()
        .json();
    let live = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["hotelId"] == "live")
        .unwrap();
    assert_eq!(live["syncPaidOrders"], true);
    paid["resource"]["order"]["id"] = json!("l-paid-2");
    let (s, body) = app.webhook(&hotel, &paid).await;
    assert_eq!(s, 201, "{body}");

    // Rotated tokens: the old ones are refused at once, the new ones accepted.
    let rotated = run(app.cli(), &["hotel", "rotate-tokens", "live", "--json"])
        .await
        .success()
        .json();
    let new = Hotel {
        id: "live".into(),
        access: rotated["accessToken"].as_str().unwrap().to_owned(),
        password: rotated["passwordToken"].as_str().unwrap().to_owned(),
    };
    assert_long_random(&new.access);
    assert_ne!(new.access, hotel.access);
    assert_ne!(new.password, hotel.password);
    let (s, body) = app.webhook(&hotel, &order("l-5", "301", &["4"])).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["code"], "WEB_HUK_INVALID_CREDS");
    assert_eq!(body["message"], "Invalid credentials.");
    // Half old, half new is refused too.
    let mixed = Hotel {
        password: hotel.password.clone(),
        ..new.clone()
    };
    let (s, body) = app.webhook(&mixed, &order("l-6", "301", &["4"])).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["code"], "WEB_HUK_INVALID_CREDS");
    let (s, body) = app.webhook(&new, &order("l-7", "301", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    // The API key survives the rotation.
    assert_eq!(api_list(&app, api_key).await.len(), 4);
    // The other hotel was not disturbed.
    let (s, body) = app.webhook(&seed, &order("seed-2", "102", &["22"])).await;
    assert_eq!(s, 201, "{body}");
}

#[tokio::test]
async fn webhooks_and_deliveries_commands_manage_what_the_running_server_sends() {
    use crate::receiver::Receiver;
    use hubhook::outbox::sign;

    let dir = std::sync::Arc::new(temp());
    let app = crate::helpers::spawn_app_in(dir.clone(), |c| {
        c.outbox = crate::helpers::outbox_settings(hubhook::config::ServeSettings {
            retry_schedule: Some("50ms".into()),
            ..Default::default()
        });
    })
    .await;
    let hotel = app.create_hotel("h1").await;
    let rx = Receiver::start().await;
    let cli = || app.cli();

    let added = run(
        cli(),
        &[
            "webhooks",
            "add",
            "h1",
            "--url",
            &rx.url,
            "--events",
            "task.created",
            "--header",
            "X-Team: housekeeping",
            "--json",
        ],
    )
    .await
    .success()
    .json();
    let sub = added["id"].as_str().unwrap().to_owned();
    let secret = added["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"));
    let listed = run(cli(), &["webhooks", "list", "h1", "--json"])
        .await
        .success();
    assert!(
        !listed.stdout.contains(&secret),
        "the secret is shown only once"
    );
    let listed = listed.json();
    assert_eq!(listed[0]["id"], sub.as_str());
    assert_eq!(listed[0]["events"], json!(["task.created"]));
    assert_eq!(listed[0]["headers"][0]["name"], "X-Team");

    // The running server sees the new subscription at once.
    let (status, _) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(status, 201);
    let r = rx.wait_for(1).await.remove(0);
    assert_eq!(r.header("x-team"), "housekeeping");
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    let msg = r.header("webhook-id");
    assert_eq!(
        r.header("webhook-signature"),
        sign::sign(&secret, &msg, ts, &r.body).unwrap()
    );
    let delivered = crate::receiver::eventually(
        "the delivery is recorded",
        || async {
            run(cli(), &["deliveries", "list", "h1", "--json"])
                .await
                .success()
                .json()
        },
        |v| v[0]["status"] == "delivered",
    )
    .await;
    assert_eq!(delivered[0]["id"], msg.as_str());
    let failed = run(
        cli(),
        &["deliveries", "list", "h1", "--status", "failed", "--json"],
    )
    .await
    .success()
    .json();
    assert_eq!(failed, json!([]));

    // Rotation, then a replay from the CLI: sent again, signed with both secrets.
    let rotated = run(cli(), &["webhooks", "rotate-secret", &sub, "--json"])
        .await
        .success()
        .json();
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    run(cli(), &["deliveries", "replay", &msg, "--json"])
        .await
        .success();
    let again = rx.wait_for(2).await.remove(1);
    assert_eq!(again.header("webhook-id"), msg);
    let ts: i64 = again.header("webhook-timestamp").parse().unwrap();
    assert_eq!(
        again.header("webhook-signature"),
        format!(
            "{} {}",
            sign::sign(&new_secret, &msg, ts, &again.body).unwrap(),
            sign::sign(&secret, &msg, ts, &again.body).unwrap()
        )
    );

    run(cli(), &["webhooks", "remove", &sub]).await.success();
    let out = run(cli(), &["webhooks", "remove", &sub]).await.failure();
    assert!(out.stderr.contains("no subscription"), "{}", out.stderr);
    let out = run(cli(), &["webhooks", "add", "h1", "--url", "ftp://nowhere"])
        .await
        .failure();
    assert!(out.stderr.contains("http(s)"), "{}", out.stderr);
    let out = run(cli(), &["deliveries", "replay", "msg_nope"])
        .await
        .failure();
    assert!(out.stderr.contains("no delivery"), "{}", out.stderr);
    app.stop().await;
}
