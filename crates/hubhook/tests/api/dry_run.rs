//! `POST /api/v1/dry-run`, the dry-run page and `hubhook dry-run` (CONTRACT.md section 7): a Duve body
//! decided as the webhook would decide it for the hotel now, reading what the webhook reads (orders
//! seen, reservation context), storing nothing (no task, log entry, delivery, context or order row,
//! no webhook counted).

use std::{process::Command, sync::Arc, time::Duration};

use hubhook::domain::Role;
use serde_json::{Value, json};

use crate::{
    helpers::{Hotel, TestApp, inbound_log, order, spawn_app, spawn_app_in, task_list},
    receiver::Receiver,
    ui_support::{UiClient, add_user},
};

/// The webhook body limit of the apps in this file: small, so a body over it is cheap to send.
const LIMIT: usize = 64 * 1024;

async fn app() -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    spawn_app_in(dir, |c| c.body_limit = LIMIT).await
}

async fn dry_run(app: &TestApp, key: &str, body: &str) -> (u16, Value) {
    let res = app
        .client
        .post(app.url("/api/v1/dry-run"))
        .bearer_auth(key)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .await
        .expect("request");
    crate::helpers::json_of(res).await
}

/// A dry run answered 200, as JSON.
async fn ok(app: &TestApp, key: &str, body: &Value) -> Value {
    let (s, run) = dry_run(app, key, &body.to_string()).await;
    assert_eq!(s, 200, "{run}");
    run
}

/// The sum of the webhook counters of `/metrics`.
async fn webhooks_counted(app: &TestApp) -> f64 {
    let text = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .filter(|l| {
            l.starts_with("hubhook_webhooks_total")
                || l.starts_with("hubhook_webhook_duration_seconds_count")
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Everything a webhook writes that the API shows: the log, the tasks, the deliveries.
async fn stored(app: &TestApp, key: &str) -> (Vec<Value>, Vec<Value>, Value) {
    let (s, deliveries) = app.get_api(key, "/api/v1/deliveries").await;
    assert_eq!(s, 200, "{deliveries}");
    (
        inbound_log(app, key).await,
        task_list(app, key).await,
        deliveries,
    )
}

fn event(name: &str, resource: Value) -> Value {
    json!({"accountId": "acc", "event": name, "resource": resource})
}

#[tokio::test]
async fn each_outcome_is_answered_as_the_webhook_would_and_nothing_is_stored() {
    let app = app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let rx = Receiver::start().await;
    let (s, sub) = app
        .post_api(&key, "/api/v1/webhooks", &json!({"url": rx.url}))
        .await;
    assert_eq!(s, 201, "{sub}");
    // One real order: its task is what a duplicate and a cancellation find, and its delivery
    // proves the receiver would hear of a task.
    let (s, created) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{created}");
    let task_id = created["tasks"][0]["id"].as_str().unwrap().to_owned();
    rx.wait_for(1).await;
    // The snapshot once the delivery is recorded as delivered (the receiver hears of it first).
    crate::receiver::eventually(
        "the delivery is recorded",
        || async { app.get_api(&key, "/api/v1/deliveries").await.1 },
        |d| d["deliveries"][0]["status"] == "delivered",
    )
    .await;
    let before = stored(&app, &key).await;
    let counted = webhooks_counted(&app).await;

    // created: the tasks as they would be (no id), the skipped item, where each field was found.
    let run = ok(&app, &key, &order("o-2", "102", &["4", "999"])).await;
    assert_eq!(
        (run["outcome"].as_str(), run["status"].as_u64()),
        (Some("created"), Some(201)),
        "{run}"
    );
    assert!(
        run.get("code").is_none() && run.get("message").is_none(),
        "{run}"
    );
    let task = &run["tasks"][0];
    assert!(
        task.get("id").is_none(),
        "a dry run's task has no id: {task}"
    );
    assert_eq!(task["taskName"], "Serve towels");
    assert_eq!(task["room"], "102");
    assert_eq!(task["status"], "open");
    assert_eq!(task["guestName"], "Bobby Smith");
    assert_eq!(task["orderIds"], json!(["o-2"]));
    assert_eq!(run["tasks"].as_array().unwrap().len(), 1, "{run}");
    assert_eq!(run["skipped"][0]["externalId"], "999");
    assert_eq!(run["skipped"][0]["reason"], "unknown service");
    let fields = &run["fields"];
    assert_eq!(
        fields["room_number"],
        json!({"value": "102", "path": "roomNumber"})
    );
    assert_eq!(
        fields["first_name"],
        json!({"value": "Bobby", "path": "verifiedFirstName"})
    );
    assert_eq!(
        fields["order_id"],
        json!({"value": "o-2", "path": "order.id"})
    );
    assert_eq!(fields["products"]["path"], "order.products");
    assert_eq!(
        fields["products"]["value"][1]["external_id"],
        json!({"value": "999", "path": "order.products[1].externalId"})
    );
    assert_eq!(fields["notes"], Value::Null);

    // The path reported is the one the mapping used: here a nested room and a fallback name.
    let mut nested = order("o-3", "102", &["4"]);
    let r = nested["resource"].as_object_mut().unwrap();
    r.remove("roomNumber");
    r.remove("verifiedFirstName");
    r.insert("room".into(), json!({"number": 102}));
    r.insert("guest".into(), json!({"firstName": "Ana"}));
    let run = ok(&app, &key, &nested).await;
    assert_eq!(run["outcome"], "created", "{run}");
    assert_eq!(
        run["fields"]["room_number"],
        json!({"value": "102", "path": "room.number"})
    );
    assert_eq!(
        run["fields"]["first_name"],
        json!({"value": "Ana", "path": "guest.firstName"})
    );

    // refused: the webhook's status, code, message and details.
    let run = ok(&app, &key, &order("o-4", "909", &["4"])).await;
    assert_eq!(
        (run["outcome"].as_str(), run["status"].as_u64()),
        (Some("refused"), Some(400))
    );
    assert_eq!(run["code"], "WEB_HUK_HUBOS_REQUEST_FAIL");
    assert_eq!(run["message"], "Unknown room");
    assert!(run["details"][0].as_str().unwrap().contains("909"), "{run}");
    assert_eq!(run["fields"]["room_number"]["value"], "909");
    let run = ok(&app, &key, &order("o-5", "101", &["777"])).await;
    assert_eq!(
        (run["code"].as_str(), run["message"].as_str()),
        (Some("WEB_HUK_HUBOS_REQUEST_FAIL"), Some("Unknown service"))
    );
    let (s, run) = dry_run(&app, &key, "{\"resource\": {}}").await;
    assert_eq!(s, 200);
    assert_eq!(
        (run["status"].as_u64(), run["code"].as_str()),
        (Some(403), Some("WEB_HUK_INVALID_BODY")),
        "{run}"
    );
    // No verified first name: for res-1, whose order o-1 named its guest, the name comes from
    // that context, as the webhook would take it; for a new reservation, refused.
    let mut nameless = order("o-6", "101", &["4"]);
    let r = nameless["resource"].as_object_mut().unwrap();
    r.remove("verifiedFirstName");
    r.remove("verifiedLastName");
    let run = ok(&app, &key, &nameless).await;
    assert_eq!(run["status"], 201, "{run}");
    assert_eq!(run["tasks"][0]["guestName"], "Bobby Smith", "{run}");
    assert!(
        run["details"].to_string().contains("verified first name"),
        "{run}"
    );
    assert_eq!(run["fields"]["first_name"], Value::Null);
    nameless["resource"]["id"] = json!("res-new");
    let run = ok(&app, &key, &nameless).await;
    assert_eq!(run["status"], 403, "{run}");

    // duplicate: the stored order's tasks, as the webhook would answer them.
    let run = ok(&app, &key, &order("o-1", "101", &["4"])).await;
    assert_eq!(
        (run["outcome"].as_str(), run["status"].as_u64()),
        (Some("duplicate"), Some(200)),
        "{run}"
    );
    assert_eq!(run["tasks"][0]["taskName"], "Serve towels");
    assert!(run["tasks"][0].get("id").is_none());
    assert!(
        run["details"][0].as_str().unwrap().contains(&task_id),
        "{run}"
    );

    // cancelled: the order's open task as it would become.
    let cancel = event(
        "orderCancelled",
        json!({"id": "res-1", "order": {"id": "o-1"}}),
    );
    let run = ok(&app, &key, &cancel).await;
    assert_eq!(
        (run["outcome"].as_str(), run["status"].as_u64()),
        (Some("cancelled"), Some(200)),
        "{run}"
    );
    assert_eq!(run["tasks"][0]["status"], "cancelled");

    // ignored: a paid order, an unknown event, a cancellation of an order never received.
    let mut paid = order("o-8", "101", &["4"]);
    paid["resource"]["order"]["chargeAmount"] = json!(12.5);
    let run = ok(&app, &key, &paid).await;
    assert_eq!(
        (run["outcome"].as_str(), run["reason"].as_str()),
        (Some("ignored"), Some("paid orders are not synced")),
        "{run}"
    );
    assert_eq!(
        run["fields"]["charge_amount"],
        json!({"value": "12.5", "path": "order.chargeAmount"})
    );
    let run = ok(&app, &key, &event("somethingNew", json!({}))).await;
    assert_eq!(run["reason"], "unknown event", "{run}");
    let early = event("orderCancelled", json!({"order": {"id": "o-7"}}));
    let run = ok(&app, &key, &early).await;
    assert_eq!(
        (run["outcome"].as_str(), run["reason"].as_str()),
        (Some("ignored"), Some("unknown order")),
        "{run}"
    );

    // recorded: what a reservation event would keep.
    let assign = event(
        "reservationRoomAssign",
        json!({"id": "res-9", "roomNumber": "102"}),
    );
    let run = ok(&app, &key, &assign).await;
    assert_eq!(
        (run["outcome"].as_str(), run["status"].as_u64()),
        (Some("recorded"), Some(200)),
        "{run}"
    );
    assert!(
        run["details"][0].as_str().unwrap().contains("res-9"),
        "{run}"
    );

    // Over the webhook's body limit: the webhook's 413, the body not read further.
    let big = format!(
        "{{\"event\":\"orderCreated\",\"pad\":\"{}\"}}",
        "x".repeat(LIMIT)
    );
    let (s, run) = dry_run(&app, &key, &big).await;
    assert_eq!(s, 200, "{run}");
    assert_eq!(
        (run["status"].as_u64(), run["code"].as_str()),
        (Some(413), Some("WEB_HUK_PAYLOAD_TOO_LARGE")),
        "{run}"
    );

    // Nothing was stored, queued, delivered or counted as a webhook.
    assert_eq!(stored(&app, &key).await, before, "a dry run stored nothing");
    assert_eq!(
        webhooks_counted(&app).await,
        counted,
        "no dry run counted as a webhook"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        rx.received().len(),
        1,
        "the subscription heard of no dry run"
    );

    // Nor any row the webhook reads: the cancellation of o-7 was not remembered (its order is
    // created), the context of res-9 was not kept (an order of res-9 without a room is refused).
    let (s, body) = app.webhook(&hotel, &order("o-7", "101", &["4"])).await;
    assert_eq!(
        (s, body["status"].as_str()),
        (201, Some("created")),
        "{body}"
    );
    let mut roomless = order("o-9", "101", &["4"]);
    roomless["resource"]["id"] = json!("res-9");
    roomless["resource"]
        .as_object_mut()
        .unwrap()
        .remove("roomNumber");
    let (s, body) = app.webhook(&hotel, &roomless).await;
    assert_eq!(s, 403, "{body}");
    let (s, _) = app.webhook(&hotel, &assign).await;
    assert_eq!(s, 200);
    // Now that it is stored, the dry run reads the context, as the webhook does.
    let mut again = roomless.clone();
    again["resource"]["order"]["id"] = json!("o-10");
    let run = ok(&app, &key, &again).await;
    assert_eq!(run["outcome"], "created", "{run}");
    assert_eq!(run["tasks"][0]["room"], "102");
    assert_eq!(run["fields"]["room_number"], Value::Null);
    assert!(run["details"].to_string().contains("res-9"), "{run}");
    let (s, body) = app.webhook(&hotel, &again).await;
    assert_eq!(
        (s, body["tasks"][0]["room"].as_str()),
        (201, Some("102")),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test]
async fn only_managers_of_the_hotel_dry_run() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let other = app.create_hotel("h2").await;
    let staff = app.api_key(&hotel, Role::Staff).await;
    let other_key = app.api_key(&other, Role::Manager).await;
    let body = order("o-1", "101", &["4"]).to_string();
    let (s, answer) = dry_run(&app, &staff, &body).await;
    crate::helpers::expect_webhook_error(
        &(s, answer),
        403,
        "FORBIDDEN",
        "This needs a manager API key.",
    );
    let (s, _) = dry_run(&app, "hhk_unknown", &body).await;
    assert_eq!(s, 401);
    // A key's hotel is the dry run's: h1's order is new to h2, whose rooms are the same numbers.
    let (s, created) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{created}");
    let run = ok(&app, &other_key, &order("o-1", "101", &["4"])).await;
    assert_eq!(run["outcome"], "created", "{run}");

    // The page is a manager's too.
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    let mut ana = UiClient::signed_in(&app, "ana@h1.test").await;
    assert_eq!(ana.get("/manage/dry-run").await.status, 403);
    app.stop().await;
}

#[tokio::test]
async fn the_page_runs_a_pasted_body_or_a_logged_one_and_stores_nothing() {
    let app = spawn_app().await;
    let hotel: Hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    add_user(&app, &hotel, "boss@h1.test", Role::Manager).await;
    let mut boss = UiClient::signed_in(&app, "boss@h1.test").await;
    let page = boss.get("/manage/dry-run").await;
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = crate::ui_support::csrf_of(&page.body);

    let body = order("o-1", "909", &["4"]).to_string();
    let page = boss
        .post("/manage/dry-run", &[("csrf", &csrf), ("body", &body)])
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(r#"data-outcome="refused""#),
        "{}",
        page.body
    );
    assert!(page.body.contains(r#"data-status="400""#), "{}", page.body);
    assert!(page.body.contains("Unknown room"), "{}", page.body);
    assert!(
        page.body.contains(r#"data-field="room_number""#),
        "{}",
        page.body
    );
    // Without the session's CSRF token: refused.
    let page = boss
        .post("/manage/dry-run", &[("csrf", "forged"), ("body", &body)])
        .await;
    assert_eq!(page.status, 403);

    // A logged delivery, run again from the log exactly as stored.
    let (s, _) = app.webhook(&hotel, &order("o-2", "909", &["4"])).await;
    assert_eq!(s, 400);
    let log = inbound_log(&app, &key).await;
    let id = log[0]["id"].as_i64().unwrap();
    let page = boss.get(&format!("/manage/dry-run?inbound={id}")).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(&format!("Entry #{id}")), "{}", page.body);
    assert!(
        page.body.contains(r#"data-outcome="refused""#),
        "{}",
        page.body
    );
    assert_eq!(boss.get("/manage/dry-run?inbound=999999").await.status, 404);
    assert_eq!(
        inbound_log(&app, &key).await,
        log,
        "the page stored nothing"
    );
    assert!(task_list(&app, &key).await.is_empty());
    app.stop().await;
}

async fn cli(cmd: Command) -> (bool, String, String) {
    let mut cmd = cmd;
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .expect("join")
        .expect("the hubhook binary runs");
    (
        out.status.success(),
        String::from_utf8(out.stdout).expect("utf-8"),
        String::from_utf8(out.stderr).expect("utf-8"),
    )
}

#[tokio::test]
async fn the_command_line_dry_runs_a_file_on_the_running_servers_database() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let (s, _) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201);
    let before = stored(&app, &key).await;
    let dir = app.dir.path();
    std::fs::write(
        dir.join("dup.json"),
        order("o-1", "101", &["4"]).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.join("room.json"),
        order("o-2", "909", &["4"]).to_string(),
    )
    .unwrap();

    let mut c = app.cli();
    c.args(["dry-run", "h1", "dup.json", "--json"]);
    let (ok, out, err) = cli(c).await;
    assert!(ok, "{err}");
    let run: Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(
        (run["outcome"].as_str(), run["status"].as_u64()),
        (Some("duplicate"), Some(200)),
        "{run}"
    );
    assert_eq!(run["fields"]["order_id"]["path"], "order.id");

    let mut c = app.cli();
    c.args(["dry-run", "h1", "room.json"]);
    let (ok, out, err) = cli(c).await;
    assert!(ok, "{err}");
    assert!(
        out.starts_with("refused (400): WEB_HUK_HUBOS_REQUEST_FAIL Unknown room"),
        "{out}"
    );
    assert!(
        out.contains("room_number     \"909\" at roomNumber"),
        "{out}"
    );

    // Standard input, and the webhook's limit (here lowered) as `serve` would apply it.
    let mut c = app.cli();
    c.args(["dry-run", "h1", "-", "--json"])
        .env("HUBHOOK_BODY_LIMIT", "20")
        .stdin(std::fs::File::open(dir.join("room.json")).unwrap());
    let (ok, out, err) = cli(c).await;
    assert!(ok, "{err}");
    let run: Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(run["status"], 413, "{run}");

    let mut c = app.cli();
    c.args(["dry-run", "nope", "dup.json"]);
    let (ok, _, err) = cli(c).await;
    assert!(!ok);
    assert!(err.contains("no hotel nope"), "{err}");
    assert_eq!(
        stored(&app, &key).await,
        before,
        "the command stored nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_repeated_request_dry_runs_as_merged_and_grows_nothing() {
    let app = app().await;
    let hotel = app.create_merging_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let (s, first) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{first}");
    let before = stored(&app, &key).await;

    let run = ok(&app, &key, &order("o-2", "101", &["4"])).await;
    assert_eq!(run["outcome"], "merged", "{run}");
    assert_eq!(run["status"], 200, "{run}");
    assert_eq!(run["tasks"][0]["quantity"], 2, "it would grow: {run}");
    assert!(run["tasks"][0].get("id").is_none(), "{run}");
    assert!(
        run["details"][0].as_str().unwrap().contains("merge window"),
        "{run}"
    );
    assert_eq!(stored(&app, &key).await, before, "nothing was stored");

    // The webhook then does what the dry run said.
    let (s, merged) = app.webhook(&hotel, &order("o-2", "101", &["4"])).await;
    assert_eq!(
        (s, merged["status"].as_str()),
        (200, Some("merged")),
        "{merged}"
    );
    assert_eq!(merged["tasks"][0]["quantity"], 2, "{merged}");
    app.stop().await;
}
