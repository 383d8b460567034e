//! `POST /api/v1/inbound/{id}/replay` and `hubhook inbound replay` (CONTRACT.md section 7): a delivery
//! refused for data the hotel has since fixed, decided again from its stored body as the webhook
//! would now; one order with Duve's own redeliveries, recorded in the log as a replay.

use std::{process::Command, sync::Arc};

use hubhook::{
    domain::{CatalogEntry, HotelId, Role},
    store::Room,
};
use serde_json::{Value, json};

use crate::{
    helpers::{
        TestApp, expect_webhook_error, inbound_log, order, spawn_app, spawn_app_in, task_list,
    },
    receiver::Receiver,
    ui_support::{UiClient, add_user},
};

async fn replay(app: &TestApp, key: &str, id: impl std::fmt::Display) -> (u16, Value) {
    app.post_api(key, &format!("/api/v1/inbound/{id}/replay"), &json!({}))
        .await
}

/// The newest entry of the hotel's log.
async fn newest(app: &TestApp, key: &str) -> Value {
    inbound_log(app, key).await.remove(0)
}

async fn add_room(app: &TestApp, hotel: &str, room: &str) {
    let rooms = vec![Room {
        room: room.into(),
        floor: None,
    }];
    app.store
        .add_rooms(&HotelId::parse(hotel).unwrap(), rooms)
        .await
        .expect("add room");
}

#[tokio::test]
async fn a_refusal_replayed_after_the_room_is_added_makes_its_task_once() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let rx = Receiver::start().await;
    let (s, _) = app
        .post_api(
            &key,
            "/api/v1/webhooks",
            &json!({"url": rx.url, "events": ["task.created"]}),
        )
        .await;
    assert_eq!(s, 201);
    let body = order("o-1", "103", &["4"]);
    let got = app.webhook(&hotel, &body).await;
    expect_webhook_error(&got, 400, "WEB_HUK_HUBOS_REQUEST_FAIL", "Unknown room");
    let original = newest(&app, &key).await;
    let id = original["id"].as_i64().unwrap();
    assert_eq!(original["replayOf"], Value::Null);

    // Not fixed yet: the same refusal, recorded as a replay of the original.
    let got = replay(&app, &key, id).await;
    expect_webhook_error(&got, 400, "WEB_HUK_HUBOS_REQUEST_FAIL", "Unknown room");
    let entry = newest(&app, &key).await;
    assert_eq!(
        (entry["replayOf"].as_i64(), entry["code"].as_str()),
        (Some(id), Some("WEB_HUK_HUBOS_REQUEST_FAIL")),
        "{entry}"
    );
    assert_eq!(
        entry["body"], original["body"],
        "the stored body, as received"
    );

    // Fixed: the webhook's 201 with the task, which the subscription hears of.
    add_room(&app, "h1", "103").await;
    let (s, created) = replay(&app, &key, id).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["status"], "created");
    assert_eq!(created["orderId"], "o-1");
    assert_eq!(created["tasks"][0]["room"], "103");
    assert_eq!(created["tasks"][0]["taskName"], "Serve towels");
    let task = created["tasks"][0]["id"].as_str().unwrap().to_owned();
    let entry = newest(&app, &key).await;
    assert_eq!(
        (entry["replayOf"].as_i64(), entry["code"].as_str()),
        (Some(id), Some("created")),
        "{entry}"
    );
    assert_eq!(entry["taskIds"], json!([task]));
    assert_eq!(entry["event"], "orderCreated");
    let sent = rx.wait_for(1).await;
    assert_eq!(
        sent[0].json()["data"]["id"],
        task.as_str(),
        "{:?}",
        sent[0].json()
    );

    // Duve's redelivery of that order, and a second replay: duplicates of the same task.
    let (s, dup) = app.webhook(&hotel, &body).await;
    assert_eq!(
        (s, dup["status"].as_str()),
        (200, Some("duplicate")),
        "{dup}"
    );
    assert_eq!(dup["tasks"][0]["id"], task.as_str());
    let (s, dup) = replay(&app, &key, id).await;
    assert_eq!(
        (s, dup["status"].as_str()),
        (200, Some("duplicate")),
        "{dup}"
    );
    assert_eq!(dup["tasks"][0]["id"], task.as_str());
    assert_eq!(task_list(&app, &key).await.len(), 1, "one order, one task");

    // An accepted delivery is not replayed: the replay that created the task, Duve's duplicate.
    let log = inbound_log(&app, &key).await;
    let accepted = log
        .iter()
        .find(|e| e["code"] == "created")
        .and_then(|e| e["id"].as_i64())
        .unwrap();
    let got = replay(&app, &key, accepted).await;
    expect_webhook_error(
        &got,
        409,
        "NOT_REPLAYABLE",
        "Only a delivery refused for data the hotel can fix can be replayed.",
    );
    assert!(
        got.1["details"][0].as_str().unwrap().contains("created"),
        "{}",
        got.1
    );
    assert_eq!(
        inbound_log(&app, &key).await.len(),
        log.len(),
        "a 409 records nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn duves_redelivery_then_a_replay_make_one_task() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let body = order("o-1", "103", &["4"]);
    let (s, _) = app.webhook(&hotel, &body).await;
    assert_eq!(s, 400);
    let id = newest(&app, &key).await["id"].as_i64().unwrap();
    add_room(&app, "h1", "103").await;
    let (s, created) = app.webhook(&hotel, &body).await;
    assert_eq!(s, 201, "{created}");
    let (s, dup) = replay(&app, &key, id).await;
    assert_eq!(
        (s, dup["status"].as_str()),
        (200, Some("duplicate")),
        "{dup}"
    );
    assert_eq!(dup["tasks"][0]["id"], created["tasks"][0]["id"]);
    assert_eq!(task_list(&app, &key).await.len(), 1);
    app.stop().await;
}

#[tokio::test]
async fn missing_data_supplied_later_and_a_service_added_later_are_replayed() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;

    // No room in the order: refused, then the reservation's room assignment arrives.
    let mut roomless = order("o-1", "101", &["4"]);
    roomless["resource"]["id"] = json!("res-5");
    roomless["resource"]
        .as_object_mut()
        .unwrap()
        .remove("roomNumber");
    let got = app.webhook(&hotel, &roomless).await;
    assert_eq!(got.0, 403, "{}", got.1);
    let id = newest(&app, &key).await["id"].as_i64().unwrap();
    let assign = json!({"accountId": "a", "event": "reservationRoomAssign",
        "resource": {"id": "res-5", "roomNumber": "102"}});
    let (s, _) = app.webhook(&hotel, &assign).await;
    assert_eq!(s, 200);
    let (s, created) = replay(&app, &key, id).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["tasks"][0]["room"], "102");

    // A service the catalog lacked, added since.
    let got = app.webhook(&hotel, &order("o-2", "101", &["77"])).await;
    expect_webhook_error(&got, 400, "WEB_HUK_HUBOS_REQUEST_FAIL", "Unknown service");
    let id = newest(&app, &key).await["id"].as_i64().unwrap();
    app.store
        .set_catalog(
            &HotelId::parse("h1").unwrap(),
            CatalogEntry {
                external_id: "77".into(),
                name: "Fruit basket".into(),
                department: None,
                sla_minutes: None,
            },
        )
        .await
        .expect("catalog");
    let (s, created) = replay(&app, &key, id).await;
    assert_eq!(s, 201, "{created}");
    assert_eq!(created["tasks"][0]["taskName"], "Fruit basket");
    app.stop().await;
}

#[tokio::test]
async fn bodies_not_kept_or_not_from_duve_and_others_entries_are_not_replayed() {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let app = spawn_app_in(dir, |c| c.body_limit = 1024).await;
    let hotel = app.create_hotel("h1").await;
    let other = app.create_hotel("h2").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let staff = app.api_key(&hotel, Role::Staff).await;
    let other_key = app.api_key(&other, Role::Manager).await;

    // Over the size limit: logged without its body.
    let big = json!({"event": "orderCreated", "pad": "x".repeat(2000)}).to_string();
    let (s, _) = crate::helpers::json_of(app.post_webhook(&hotel, big).await).await;
    assert_eq!(s, 413);
    let too_large = newest(&app, &key).await;
    assert_eq!(too_large["code"], "WEB_HUK_PAYLOAD_TOO_LARGE");
    let got = replay(&app, &key, too_large["id"].as_i64().unwrap()).await;
    expect_webhook_error(
        &got,
        409,
        "BODY_INCOMPLETE",
        "The stored body is not the whole delivery.",
    );

    // Not a Duve webhook: nothing the hotel can fix.
    let (s, _) = crate::helpers::json_of(app.post_webhook(&hotel, "not json").await).await;
    assert_eq!(s, 403);
    let garbage = newest(&app, &key).await["id"].as_i64().unwrap();
    let got = replay(&app, &key, garbage).await;
    expect_webhook_error(
        &got,
        409,
        "NOT_REPLAYABLE",
        "Only a delivery refused for data the hotel can fix can be replayed.",
    );

    // A refusal: a manager of the hotel only; another hotel's id is unknown.
    let (s, _) = app.webhook(&hotel, &order("o-1", "909", &["4"])).await;
    assert_eq!(s, 400);
    let refused = newest(&app, &key).await["id"].as_i64().unwrap();
    let got = replay(&app, &staff, refused).await;
    expect_webhook_error(&got, 403, "FORBIDDEN", "This needs a manager API key.");
    for id in [
        refused.to_string(),
        "999999".into(),
        "abc".into(),
        "0".into(),
    ] {
        let key = if id == refused.to_string() {
            &other_key
        } else {
            &key
        };
        let got = replay(&app, key, &id).await;
        expect_webhook_error(&got, 404, "NOT_FOUND", "Not found.");
    }
    let log = inbound_log(&app, &key).await;
    assert!(
        log.iter().all(|e| e["replayOf"].is_null()),
        "nothing was replayed: {log:?}"
    );

    // The log page: the button is on the refusal only, and a form without the session's CSRF
    // token is refused; a staff account does not reach it.
    add_user(&app, &hotel, "boss@h1.test", Role::Manager).await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    let mut boss = UiClient::signed_in(&app, "boss@h1.test").await;
    let page = boss.get("/manage/inbound").await;
    assert_eq!(page.status, 200);
    assert!(
        page.body.contains(&format!(r#"data-replay="{refused}""#)),
        "{}",
        page.body
    );
    assert!(
        !page.body.contains(&format!(r#"data-replay="{garbage}""#)),
        "{}",
        page.body
    );
    let path = format!("/manage/inbound/{refused}/replay");
    assert_eq!(boss.post(&path, &[("csrf", "forged")]).await.status, 403);
    let csrf = boss.csrf().await;
    let page = boss.post(&path, &[("csrf", &csrf)]).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(r#"data-status="400""#), "{}", page.body);
    let page = boss
        .post(
            &format!("/manage/inbound/{garbage}/replay"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(page.status, 409, "{}", page.body);
    let mut ana = UiClient::signed_in(&app, "ana@h1.test").await;
    let csrf = ana.csrf().await;
    assert_eq!(ana.post(&path, &[("csrf", &csrf)]).await.status, 403);
    app.stop().await;
}

async fn cli(mut cmd: Command) -> (bool, String, String) {
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
async fn the_command_line_replays_on_the_running_servers_database() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let body = order("o-1", "103", &["4"]);
    let (s, _) = app.webhook(&hotel, &body).await;
    assert_eq!(s, 400);
    let id = newest(&app, &key).await["id"].as_i64().unwrap().to_string();

    // Still refused: the answer on stdout, exit status 1.
    let mut c = app.cli();
    c.args(["inbound", "replay", &id, "--json"]);
    let (ok, out, err) = cli(c).await;
    assert!(!ok, "{out}{err}");
    let report: Value = serde_json::from_str(&out).expect("one JSON document");
    assert_eq!(report["status"], 400, "{report}");
    assert_eq!(report["answer"]["code"], "WEB_HUK_HUBOS_REQUEST_FAIL");

    let mut c = app.cli();
    c.args(["rooms", "add", "h1", "103"]);
    assert!(cli(c).await.0);
    let mut c = app.cli();
    c.args(["inbound", "replay", &id]);
    let (ok, out, err) = cli(c).await;
    assert!(ok, "{out}{err}");
    assert!(
        out.contains(&format!(
            "inbound entry {id} of hotel h1 replayed: 201 created"
        )),
        "{out}"
    );
    assert!(out.contains("Serve towels for room 103"), "{out}");

    // The running server finds the order: Duve's redelivery is a duplicate.
    let (s, dup) = app.webhook(&hotel, &body).await;
    assert_eq!(
        (s, dup["status"].as_str()),
        (200, Some("duplicate")),
        "{dup}"
    );
    let entry = inbound_log(&app, &key)
        .await
        .into_iter()
        .find(|e| e["code"] == "created")
        .expect("the replay's entry");
    assert_eq!(entry["replayOf"].as_i64().map(|n| n.to_string()), Some(id));

    let mut c = app.cli();
    c.args(["inbound", "replay", "999999"]);
    let (ok, _, err) = cli(c).await;
    assert!(!ok);
    assert!(err.contains("no inbound entry 999999"), "{err}");
    app.stop().await;
}
