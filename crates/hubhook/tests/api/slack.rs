//! Chat notifications (CONTRACT.md section 7): a `slack` subscription, added with the real binary,
//! the API or the webhooks page, posts `{"text": one line}` per event to a local receiver, in the
//! hotel's local time and escaped as Slack asks, unsigned; on the same outbox as every delivery:
//! retried, logged, refused for a private address, ended with the terminal code.

use hubhook::{domain::Role, store::HotelSettings};
use jiff::{Timestamp, tz::TimeZone};
use serde_json::{Value, json};

use crate::{
    helpers::*,
    operations::{cli, move_task, settings},
    outbox::quick_app,
    receiver::{Receiver, eventually},
    ui_support::{UiClient, add_user},
};

/// A stored instant as the chat line shows it: `HH:MM` in `tz`, with the date when it is not
/// on `today`'s date.
fn local(raw: &Value, tz: &TimeZone, today: Timestamp) -> String {
    let t: Timestamp = raw
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {raw}"))
        .parse()
        .unwrap();
    let z = t.to_zoned(tz.clone());
    if z.date() == today.to_zoned(tz.clone()).date() {
        z.strftime("%H:%M").to_string()
    } else {
        z.strftime("%-d %b %H:%M").to_string()
    }
}

/// The delivery (with its payload) that the receiver's request `r` was.
async fn delivery_of(app: &TestApp, key: &str, r: &crate::receiver::Received) -> Value {
    let (s, list) = app.get_api(key, "/api/v1/deliveries?limit=500").await;
    assert_eq!(s, 200, "{list}");
    let body = String::from_utf8(r.body.to_vec()).unwrap();
    for d in list["deliveries"].as_array().unwrap() {
        let (s, detail) = app
            .get_api(
                key,
                &format!("/api/v1/deliveries/{}", d["id"].as_str().unwrap()),
            )
            .await;
        assert_eq!(s, 200, "{detail}");
        if detail["payload"] == body.as_str() {
            return detail;
        }
    }
    panic!("no delivery sent {body}");
}

#[tokio::test]
async fn a_chat_gets_one_readable_line_per_event_in_the_hotels_time() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let key_id = format!("key_{}", &key[4..12]);
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    let tz = TimeZone::get("Asia/Tokyo").unwrap();
    settings(
        &app,
        &hotel,
        HotelSettings {
            timezone: Some("Asia/Tokyo".into()),
            ..Default::default()
        },
    )
    .await;
    let rx = Receiver::start().await;
    // Added with the real binary, without --events: a chat's defaults.
    let (ok, out, err) = cli(
        &app,
        &[
            "webhooks", "add", "h1", "--kind", "slack", "--url", &rx.url, "--json",
        ],
    )
    .await;
    assert!(ok, "{err}");
    let added: Value = serde_json::from_str(&out).expect("one JSON document");
    assert!(added["id"].as_str().unwrap().starts_with("sub_"), "{added}");
    assert!(
        added.get("secret").is_none(),
        "a chat has no signing secret: {added}"
    );
    let (s, subs) = app.get_api(&key, "/api/v1/webhooks").await;
    assert_eq!(s, 200, "{subs}");
    assert_eq!(subs["subscriptions"][0]["kind"], "slack");
    assert_eq!(
        subs["subscriptions"][0]["events"],
        json!([
            "task.created",
            "task.status_changed",
            "task.escalated",
            "task.assigned",
            "task.merged",
            "report.shift"
        ])
    );

    // A guest's request: who asked.
    let (s, made) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{made}");
    let task = &made["tasks"][0];
    let id = task["id"].as_str().unwrap().to_owned();
    let got = rx.wait_for(1).await;
    let d = delivery_of(&app, &key, &got[0]).await;
    let now = Timestamp::now();
    let (when, due) = (
        local(&d["createdAt"], &tz, now),
        local(&task["dueAt"], &tz, now),
    );
    assert_eq!(
        got[0].json(),
        json!({"text": format!("Room 101 · Serve towels · new request from Bobby Smith · {when} · due {due}")})
    );
    assert_eq!(got[0].header("content-type"), "application/json");
    for h in [
        "webhook-id",
        "webhook-signature",
        "webhook-timestamp",
        "authorization",
    ] {
        assert!(
            got[0].header(h).is_empty(),
            "a chat delivery carries no {h}"
        );
    }
    assert_eq!(
        (&d["event"], &d["taskId"]),
        (&json!("task.created"), &json!(id))
    );

    // Moved with an API key, then by a signed-in user on the board: who did it.
    move_task(&app, &key, &id, "accepted").await;
    let got = rx.wait_for(2).await;
    let when = local(
        &delivery_of(&app, &key, &got[1]).await["createdAt"],
        &tz,
        now,
    );
    assert_eq!(
        got[1].json(),
        json!({"text": format!("Room 101 · Serve towels · accepted by API key {key_id} · {when} · due {due}")})
    );
    let mut ana = UiClient::signed_in(&app, "ana@h1.test").await;
    let csrf = ana.csrf().await;
    let page = ana
        .post(
            &format!("/board/tasks/{id}/status"),
            &[("csrf", &csrf), ("status", "done")],
        )
        .await;
    assert!(page.status.as_u16() < 400, "{}", page.body);
    let got = rx.wait_for(3).await;
    let when = local(
        &delivery_of(&app, &key, &got[2]).await["createdAt"],
        &tz,
        now,
    );
    assert_eq!(
        got[2].json(),
        json!({"text": format!("Room 101 · Serve towels · done by ana@h1.test · {when} · due {due}")}),
        "one line for the move to done (task.completed is not among a chat's defaults)"
    );

    // A name with Slack's control characters is escaped; a task made by a key says so.
    let (s, lamp) = app
        .post_api(
            &key,
            "/api/v1/tasks",
            &json!({"room": "102", "name": "Fix <lamp> & <@U123>", "quantity": 2}),
        )
        .await;
    assert_eq!(s, 201, "{lamp}");
    let got = rx.wait_for(4).await;
    let when = local(
        &delivery_of(&app, &key, &got[3]).await["createdAt"],
        &tz,
        now,
    );
    assert_eq!(
        got[3].json(),
        json!({"text": format!("Room 102 · Fix &lt;lamp&gt; &amp; &lt;@U123&gt; ×2 · new task by API key {key_id} · {when}")})
    );
    assert_eq!(rx.received().len(), 4);
    app.stop().await;
}

#[tokio::test]
async fn chat_deliveries_are_retried_logged_guarded_and_end_with_the_terminal_code() {
    let app = quick_app("200ms").await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    add_user(&app, &hotel, "boss@h1.test", Role::Manager).await;

    // A private address is refused, as for every kind.
    let (s, body) = app
        .post_api(
            &key,
            "/api/v1/webhooks",
            &json!({"url": "http://10.1.2.3/services/x", "kind": "slack"}),
        )
        .await;
    expect_webhook_error(
        &(s, body.clone()),
        422,
        "WEB_HUK_DESTINATION_DENIED",
        "Destination not allowed.",
    );
    assert!(
        body["details"][0]
            .as_str()
            .unwrap()
            .contains("public addresses only"),
        "{body}"
    );
    // A chat has no Bearer token, template or field; Duve Connect hears no report.
    let bad = json!({"url": "https://chat.example/x", "kind": "slack", "bearer": "t"});
    let got = app.post_api(&key, "/api/v1/webhooks", &bad).await;
    expect_webhook_error(&got, 400, "INVALID_REQUEST", "Invalid request.");
    // Well formed (the document allows it), but a Duve Connect template has no place for a report.
    let bad = json!({"url": "https://duve.example/x", "kind": "duve-connect", "bearer": "t",
                     "events": ["report.shift"]});
    let got = app.post_api(&key, "/api/v1/webhooks", &bad).await;
    expect_webhook_error(
        &got,
        422,
        "UNPROCESSABLE",
        "The request cannot be carried out.",
    );

    // Added on the webhooks page: answered 503 once, then 200; another answers 500 for ever.
    let flaky = Receiver::scripted(&[503], 200).await;
    let broken = Receiver::scripted(&[], 500).await;
    let mut boss = UiClient::signed_in(&app, "boss@h1.test").await;
    let page = boss.get("/manage/webhooks").await;
    assert!(
        page.body.contains(r#"<option value="slack""#),
        "{}",
        page.body
    );
    for url in [&flaky.url, &broken.url] {
        let csrf = boss.csrf().await;
        let res = boss
            .post(
                "/manage/webhooks",
                &[
                    ("csrf", &csrf),
                    ("url", url),
                    ("kind", "slack"),
                    ("events", "task.created"),
                ],
            )
            .await;
        assert_eq!(res.status, 200, "{}", res.body);
        assert!(
            !res.body.contains("new-webhook-secret"),
            "no secret shown for a chat"
        );
    }
    let (s, made) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{made}");
    let got = flaky.wait_for(2).await;
    assert_eq!(got[0].body, got[1].body, "the same line again");
    assert_eq!((got[0].answered, got[1].answered), (503, 200));
    let broken_got = broken.wait_for(2).await;
    assert_eq!(broken_got.len(), 2);

    // The receiver has answered; the attempts' records follow.
    let list = eventually(
        "both deliveries end",
        || async { app.get_api(&key, "/api/v1/deliveries").await.1 },
        |l| {
            l["deliveries"]
                .as_array()
                .is_some_and(|d| d.len() == 2 && d.iter().all(|d| d["status"] != "pending"))
        },
    )
    .await;
    let find = |status: &str| {
        list["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["status"] == status)
            .cloned()
            .unwrap_or_else(|| panic!("no {status} delivery in {list}"))
    };
    let delivered = find("delivered");
    assert_eq!(delivered["attempts"], 2, "{delivered}");
    let failed = find("failed");
    assert_eq!(failed["code"], "WEB_HUK_REQUEST_ATTEMPT_FAILED", "{failed}");
    let (s, detail) = app
        .get_api(
            &key,
            &format!("/api/v1/deliveries/{}", delivered["id"].as_str().unwrap()),
        )
        .await;
    assert_eq!(s, 200, "{detail}");
    let log: Vec<&Value> = detail["attemptLog"].as_array().unwrap().iter().collect();
    assert_eq!(
        log.iter().map(|a| a["status"].clone()).collect::<Vec<_>>(),
        [json!(503), json!(200)],
        "{detail}"
    );
    app.stop().await;
}
