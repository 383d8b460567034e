//! The outbound-webhook manager pages over plain HTTP: /manage/webhooks (add, the secret shown
//! once, rotate, remove with a confirmation) and /manage/deliveries (filter, detail, replay), with
//! a real receiver; staff refused, CSRF refused, another hotel's ids not found.

use hubhook::{domain::Role, outbox::sign};
use serde_json::{Value, json};

use crate::{
    helpers::{TestApp, order, spawn_app},
    outbox::quick_app,
    receiver::{Receiver, eventually},
    ui_support::{UiClient, add_user},
};

/// The text of the element with this id (`<x id="…">text</x>`).
fn text_of_id(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let start = html[at..].find('>')? + at + 1;
    let end = html[start..].find('<')? + start;
    Some(html[start..end].to_owned())
}

async fn subscriptions(app: &TestApp, key: &str) -> Vec<Value> {
    let (status, body) = app.get_api(key, "/api/v1/webhooks").await;
    assert_eq!(status, 200, "{body}");
    body["subscriptions"].as_array().unwrap().clone()
}

async fn deliveries(app: &TestApp, key: &str, query: &str) -> Vec<Value> {
    let (status, body) = app
        .get_api(key, &format!("/api/v1/deliveries{query}"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["deliveries"].as_array().unwrap().clone()
}

/// The add form's fields, with every given event checked.
fn add_fields<'a>(
    csrf: &'a str,
    url: &'a str,
    kind: &'a str,
    events: &[&'a str],
    headers: &'a str,
) -> Vec<(&'a str, &'a str)> {
    let mut f = vec![
        ("csrf", csrf),
        ("url", url),
        ("kind", kind),
        ("headers", headers),
        ("bearer", ""),
        ("field", ""),
    ];
    f.extend(events.iter().map(|e| ("events", *e)));
    f
}

#[tokio::test]
async fn a_manager_adds_a_subscription_whose_secret_is_shown_once_and_signs_deliveries() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    add_user(&app, &hotel, "boss@h1.test", Role::Manager).await;
    let rx = Receiver::start().await;
    let mut boss = UiClient::signed_in(&app, "boss@h1.test").await;

    let page = boss.get("/manage/webhooks").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains(r#"href="/manage/deliveries""#));
    let csrf = boss.csrf().await;
    let res = boss
        .post(
            "/manage/webhooks",
            &add_fields(
                &csrf,
                &rx.url,
                "webhook",
                &["task.created", "task.completed"],
                "X-Api-Key: hk-9d2f7e\r\n\r\nX-Desk: front",
            ),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let secret = text_of_id(&res.body, "new-webhook-secret").expect("the secret, shown once");
    assert!(secret.starts_with("whsec_"), "{secret}");

    let subs = subscriptions(&app, &key).await;
    assert_eq!(subs.len(), 1, "{subs:?}");
    let sub = &subs[0];
    let id = sub["id"].as_str().unwrap().to_owned();
    assert_eq!(sub["kind"], "webhook");
    assert_eq!(sub["url"], rx.url.as_str());
    assert_eq!(sub["events"], json!(["task.created", "task.completed"]));
    assert_eq!(
        sub["headers"][0],
        json!({"name": "X-Api-Key", "value": "hk-9d2f7e"})
    );
    assert_eq!(
        sub["headers"][1],
        json!({"name": "X-Desk", "value": "front"})
    );

    // The list shows header names, never their values nor the secret.
    let list = boss.get("/manage/webhooks").await;
    assert_eq!(list.status, 200);
    assert!(
        list.body
            .contains(&format!(r#"data-subscription-id="{id}""#))
    );
    assert!(list.body.contains(&rx.url));
    assert!(list.body.contains("X-Api-Key"));
    assert!(
        !list.body.contains("hk-9d2f7e"),
        "a header value is rendered"
    );
    assert!(!list.body.contains(&secret), "the secret is rendered again");
    assert!(!list.body.contains("new-webhook-secret"));

    // The secret shown is the one that signs.
    let (status, created) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    assert_eq!(status, 201, "{created}");
    let got = rx.wait_for(1).await;
    let r = &got[0];
    assert_eq!(r.header("x-api-key"), "hk-9d2f7e");
    let ts: i64 = r.header("webhook-timestamp").parse().unwrap();
    assert_eq!(
        r.header("webhook-signature"),
        sign::sign(&secret, &r.header("webhook-id"), ts, &r.body).unwrap()
    );

    // Rotating shows the new secret once; the old one keeps signing for a while.
    let rotated = boss
        .post(&format!("/manage/webhooks/{id}/rotate"), &[("csrf", &csrf)])
        .await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let new_secret = text_of_id(&rotated.body, "new-webhook-secret").expect("new secret");
    assert!(new_secret.starts_with("whsec_"));
    assert_ne!(new_secret, secret);
    assert!(rotated.body.contains("keeps signing"), "{}", rotated.body);
    let subs = subscriptions(&app, &key).await;
    assert!(
        subs[0]["previousSecretUntil"].as_str().is_some(),
        "{subs:?}"
    );
    let list = boss.get("/manage/webhooks").await;
    assert!(list.body.contains("previous secret valid until"));
    assert!(!list.body.contains(&new_secret) && !list.body.contains(&secret));

    // Remove asks first; only the confirmation removes.
    let ask = boss
        .post(&format!("/manage/webhooks/{id}/remove"), &[("csrf", &csrf)])
        .await;
    assert_eq!(ask.status, 200, "{}", ask.body);
    assert!(
        ask.body.contains(r#"name="confirm" value="yes""#),
        "{}",
        ask.body
    );
    assert_eq!(subscriptions(&app, &key).await.len(), 1, "not removed yet");
    let gone = boss
        .post(
            &format!("/manage/webhooks/{id}/remove"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(gone.status, 303, "{}", gone.body);
    assert!(subscriptions(&app, &key).await.is_empty());
    let again = boss
        .post(
            &format!("/manage/webhooks/{id}/remove"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(again.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn a_refused_subscription_shows_why_and_a_duve_connect_bearer_is_never_shown() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    add_user(&app, &hotel, "boss@h1.test", Role::Manager).await;
    let mut boss = UiClient::signed_in(&app, "boss@h1.test").await;
    let csrf = boss.csrf().await;
    let url = "https://receiver.example/hook";

    let cases: [(Vec<(&str, &str)>, &str); 5] = [
        (
            add_fields(
                &csrf,
                "ftp://receiver.example/x",
                "webhook",
                &["task.created"],
                "",
            ),
            "must be an absolute http(s) URL",
        ),
        (add_fields(&csrf, url, "webhook", &[], ""), "no event named"),
        (
            add_fields(
                &csrf,
                url,
                "webhook",
                &["task.created"],
                "Webhook-Signature: x",
            ),
            "is set by hubhook and cannot be overridden",
        ),
        (
            add_fields(&csrf, url, "webhook", &["task.created"], "no colon here"),
            "must be Name: value",
        ),
        (
            add_fields(&csrf, url, "duve-connect", &["task.completed"], ""),
            "needs --bearer",
        ),
    ];
    for (fields, why) in cases {
        let res = boss.post("/manage/webhooks", &fields).await;
        assert_eq!(res.status, 400, "{fields:?}: {}", res.body);
        assert!(res.body.contains(why), "{why}: {}", res.body);
        assert!(res.body.contains(r#"role="alert""#));
        assert!(
            !res.body.contains("new-webhook-secret"),
            "a refused form shows no secret"
        );
    }
    // The refused form comes back filled in.
    let res = boss
        .post(
            "/manage/webhooks",
            &add_fields(&csrf, url, "webhook", &["task.overdue"], "Bad header"),
        )
        .await;
    assert!(
        res.body.contains(&format!(r#"value="{url}""#)),
        "{}",
        res.body
    );
    assert!(res.body.contains("Bad header"));
    assert!(
        res.body.contains(r#"value="task.overdue" checked"#),
        "{}",
        res.body
    );
    assert!(!res.body.contains(r#"value="task.created" checked"#));
    assert!(
        subscriptions(&app, &key).await.is_empty(),
        "nothing was added"
    );

    let bearer = "duve-connect-bearer-7f3a9c";
    let mut fields = vec![
        ("csrf", csrf.as_str()),
        ("url", url),
        ("kind", "duve-connect"),
        ("events", "task.completed"),
        ("bearer", bearer),
        ("field", "room_service_status"),
        ("headers", ""),
    ];
    let res = boss.post("/manage/webhooks", &fields).await;
    assert_eq!(res.status, 200, "{}", res.body);
    assert!(!res.body.contains(bearer));
    assert!(
        !res.body.contains("new-webhook-secret"),
        "no secret for duve-connect"
    );
    let subs = subscriptions(&app, &key).await;
    assert_eq!(subs.len(), 1);
    assert_eq!(subs[0]["kind"], "duve-connect");
    let id = subs[0]["id"].as_str().unwrap().to_owned();
    let list = boss.get("/manage/webhooks").await;
    assert!(list.body.contains(&id) && !list.body.contains(bearer));
    assert!(
        !list.body.contains(&format!("/manage/webhooks/{id}/rotate")),
        "no secret to rotate"
    );
    // A bearer on a webhook is refused with the checker's words, and not echoed.
    fields[2] = ("kind", "webhook");
    let res = boss.post("/manage/webhooks", &fields).await;
    assert_eq!(res.status, 400);
    assert!(
        res.body
            .contains("bearer applies to duve-connect subscriptions only")
    );
    assert!(!res.body.contains(bearer));
    app.stop().await;
}

#[tokio::test]
async fn staff_csrf_and_other_hotels_are_refused_by_the_webhook_pages() {
    let app = quick_app("30ms").await;
    let hotel = app.create_hotel("h1").await;
    let other = app.create_hotel("h2").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    add_user(&app, &hotel, "staff@h1.test", Role::Staff).await;
    add_user(&app, &hotel, "boss@h1.test", Role::Manager).await;
    add_user(&app, &other, "eve@h2.test", Role::Manager).await;
    let rx = Receiver::scripted(&[], 500).await;
    let (status, created) = app
        .post_api(
            &key,
            "/api/v1/webhooks",
            &json!({"url": rx.url, "events": ["task.created"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let sub = created["id"].as_str().unwrap().to_owned();
    app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    let failed = eventually(
        "failed after 2 attempts",
        || deliveries(&app, &key, "?status=failed"),
        |d| d.len() == 1,
    )
    .await;
    let delivery = failed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(rx.received().len(), 2);

    let mut staff = UiClient::signed_in(&app, "staff@h1.test").await;
    let csrf = staff.csrf().await;
    let board = staff.get("/board").await;
    assert!(!board.body.contains("/manage/webhooks"));
    for page in [
        "/manage/webhooks".to_owned(),
        "/manage/deliveries".to_owned(),
        format!("/manage/deliveries/{delivery}"),
    ] {
        assert_eq!(staff.get(&page).await.status, 403, "{page}");
    }
    let crafted: [(String, Vec<(&str, &str)>); 4] = [
        (
            "/manage/webhooks".into(),
            add_fields(
                &csrf,
                "https://evil.example/",
                "webhook",
                &["task.created"],
                "",
            ),
        ),
        (
            format!("/manage/webhooks/{sub}/remove"),
            vec![("csrf", &csrf), ("confirm", "yes")],
        ),
        (
            format!("/manage/webhooks/{sub}/rotate"),
            vec![("csrf", &csrf)],
        ),
        (
            format!("/manage/deliveries/{delivery}/replay"),
            vec![("csrf", &csrf)],
        ),
    ];
    for (path, fields) in &crafted {
        let res = staff.post(path, fields).await;
        assert_eq!(res.status, 403, "{path}");
    }

    // A manager without the session's token is refused the same posts.
    let mut boss = UiClient::signed_in(&app, "boss@h1.test").await;
    for (path, fields) in &crafted {
        let forged: Vec<_> = fields
            .iter()
            .map(|(k, v)| {
                if *k == "csrf" {
                    (*k, "forged")
                } else {
                    (*k, *v)
                }
            })
            .collect();
        let res = boss.post(path, &forged).await;
        assert_eq!(res.status, 403, "{path}");
        assert!(res.body.contains("Form expired"), "{path}: {}", res.body);
    }

    // Another hotel's manager finds none of it.
    let mut eve = UiClient::signed_in(&app, "eve@h2.test").await;
    let eve_csrf = eve.csrf().await;
    assert!(!eve.get("/manage/webhooks").await.body.contains(&sub));
    assert!(!eve.get("/manage/deliveries").await.body.contains(&delivery));
    assert_eq!(
        eve.get(&format!("/manage/deliveries/{delivery}"))
            .await
            .status,
        404
    );
    for path in [
        format!("/manage/webhooks/{sub}/remove"),
        format!("/manage/webhooks/{sub}/rotate"),
        format!("/manage/deliveries/{delivery}/replay"),
    ] {
        let res = eve
            .post(&path, &[("csrf", &eve_csrf), ("confirm", "yes")])
            .await;
        assert_eq!(res.status, 404, "{path}");
    }

    // Nothing changed: same subscription, never rotated, the delivery still failed and not resent.
    let subs = subscriptions(&app, &key).await;
    assert_eq!(subs.len(), 1, "{subs:?}");
    assert_eq!(subs[0]["id"], sub.as_str());
    assert!(subs[0]["previousSecretUntil"].is_null(), "{subs:?}");
    let failed = deliveries(&app, &key, "?status=failed").await;
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["attempts"], 2);
    assert_eq!(rx.received().len(), 2);
    app.stop().await;
}

#[tokio::test]
async fn a_failed_delivery_shows_its_code_and_is_replayed_from_the_page() {
    let app = quick_app("30ms,30ms").await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    add_user(&app, &hotel, "boss@h1.test", Role::Manager).await;
    let rx = Receiver::scripted(&[], 500).await;
    let mut boss = UiClient::signed_in(&app, "boss@h1.test").await;
    let csrf = boss.csrf().await;
    let res = boss
        .post(
            "/manage/webhooks",
            &add_fields(&csrf, &rx.url, "webhook", &["task.created"], ""),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.body);
    let (_, created) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    let task = created["tasks"][0]["id"].as_str().unwrap().to_owned();
    let failed = eventually(
        "failed after 3 attempts",
        || deliveries(&app, &key, "?status=failed"),
        |d| d.len() == 1,
    )
    .await;
    let id = failed[0]["id"].as_str().unwrap().to_owned();
    assert_eq!(rx.received().len(), 3);

    let page = boss.get("/manage/deliveries?status=failed").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(
        page.body.contains(&format!(r#"data-delivery-id="{id}""#)),
        "{}",
        page.body
    );
    assert!(page.body.contains("WEB_HUK_REQUEST_ATTEMPT_FAILED"));
    assert!(page.body.contains("Operation failed after 3 attempt"));
    assert!(page.body.contains(&format!(r#"href="/tasks/{task}""#)));
    assert!(page.body.contains("task.created"));
    let delivered = boss.get("/manage/deliveries?status=delivered").await;
    assert!(!delivered.body.contains(&id), "the filter keeps it out");
    assert_eq!(boss.get("/manage/deliveries?status=lost").await.status, 400);

    let detail = boss.get(&format!("/manage/deliveries/{id}")).await;
    assert_eq!(detail.status, 200, "{}", detail.body);
    assert_eq!(
        detail.body.matches("scripted answer").count(),
        3,
        "{}",
        detail.body
    );
    assert!(detail.body.contains(&task), "the payload names the task");
    assert_eq!(
        text_of_id(&detail.body, "delivery-status").as_deref(),
        Some("failed")
    );

    // Replay from the page: the receiver gets the same delivery again.
    rx.answer_from_now(200);
    let res = boss
        .post(
            &format!("/manage/deliveries/{id}/replay"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let to = res.location().unwrap().to_owned();
    assert!(to.starts_with(&format!("/manage/deliveries/{id}?")), "{to}");
    let got = rx.wait_for(4).await;
    assert_eq!(got[3].header("webhook-id"), id);
    assert_eq!(got[3].json()["data"]["id"], task.as_str());
    eventually(
        "delivered after the replay",
        || deliveries(&app, &key, "?status=delivered"),
        |d| d.len() == 1 && d[0]["attempts"] == 1,
    )
    .await;
    let detail = boss.get(&to).await;
    assert!(detail.body.contains("Queued again"), "{}", detail.body);
    assert_eq!(
        text_of_id(&detail.body, "delivery-status").as_deref(),
        Some("delivered")
    );

    // With its subscription removed, a replay is refused with the reason, on the page.
    let sub = subscriptions(&app, &key).await[0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let res = boss
        .post(
            &format!("/manage/webhooks/{sub}/remove"),
            &[("csrf", &csrf), ("confirm", "yes")],
        )
        .await;
    assert_eq!(res.status, 303);
    let res = boss
        .post(
            &format!("/manage/deliveries/{id}/replay"),
            &[("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status, 409, "{}", res.body);
    assert!(
        res.body.contains("subscription was removed"),
        "{}",
        res.body
    );
    assert!(res.body.contains("(removed)"));
    assert_eq!(rx.received().len(), 4, "nothing more was sent");
    app.stop().await;
}
