//! The board over plain HTTP: cancelling needs a reason, another hotel's task is not found, the
//! live feed carries the user's hotel's changes only.

use std::time::Duration;

use hubhook::domain::Role;
use serde_json::json;

use super::read_stream_until;
use crate::{
    helpers::{order, spawn_app},
    ui_support::{UiClient, add_user},
};

#[tokio::test]
async fn cancelling_from_the_board_needs_a_reason_and_keeps_it() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    let (_, created) = app.webhook(&hotel, &order("o-1", "101", &["4"])).await;
    let id = created["tasks"][0]["id"].as_str().unwrap().to_owned();
    let path = format!("/board/tasks/{id}/status");
    let mut ana = UiClient::signed_in(&app, "ana@h1.test").await;
    let csrf = ana.csrf().await;
    let no_reason = ana
        .post(&path, &[("status", "cancelled"), ("csrf", &csrf)])
        .await;
    assert_eq!(no_reason.status, 400);
    let res = ana
        .post(
            &path,
            &[
                ("status", "cancelled"),
                ("note", "guest left"),
                ("csrf", &csrf),
            ],
        )
        .await;
    assert_eq!(res.status, 303);
    let (_, task) = app.get_api(&key, &format!("/api/v1/tasks/{id}")).await;
    assert_eq!(task["status"], "cancelled");
    assert_eq!(task["events"][1]["note"], "guest left");
    let again = ana
        .post(&path, &[("status", "done"), ("csrf", &csrf)])
        .await;
    assert_eq!(again.status, 409, "final states stay final");
    app.stop().await;
}

#[tokio::test]
async fn another_hotels_task_is_not_found() {
    let app = spawn_app().await;
    let h1 = app.create_hotel("h1").await;
    let h2 = app.create_hotel("h2").await;
    let key1 = app.api_key(&h1, Role::Staff).await;
    add_user(&app, &h2, "eve@h2.test", Role::Manager).await;
    let (_, created) = app.webhook(&h1, &order("o-1", "101", &["4"])).await;
    let id = created["tasks"][0]["id"].as_str().unwrap().to_owned();
    let mut eve = UiClient::signed_in(&app, "eve@h2.test").await;
    let csrf = eve.csrf().await;
    assert_eq!(eve.get(&format!("/tasks/{id}")).await.status, 404);
    let res = eve
        .post(
            &format!("/board/tasks/{id}/status"),
            &[("status", "done"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status, 404);
    let board = eve.get("/board").await;
    assert!(!board.body.contains(&id));
    let (_, task) = app.get_api(&key1, &format!("/api/v1/tasks/{id}")).await;
    assert_eq!(task["status"], "open");
    assert_eq!(eve.get("/tasks/not-a-uuid").await.status, 404);
    app.stop().await;
}

#[tokio::test]
async fn the_live_feed_carries_the_users_hotel_changes_only() {
    let app = spawn_app().await;
    let h1 = app.create_hotel("h1").await;
    let h2 = app.create_hotel("h2").await;
    let key1 = app.api_key(&h1, Role::Staff).await;
    add_user(&app, &h1, "ana@h1.test", Role::Staff).await;
    let c = UiClient::signed_in(&app, "ana@h1.test").await;
    let cookie = format!("hubhook_session={}", c.cookies["hubhook_session"]);

    let anonymous = app
        .client
        .get(app.url("/board/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.url().path(), "/login", "redirected to sign in");

    let mut res = app
        .client
        .get(app.url("/board/events"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    read_stream_until(&mut res, "event: ready").await;

    let (_, other) = app.webhook(&h2, &order("o-9", "101", &["4"])).await;
    let other_id = other["tasks"][0]["id"].as_str().unwrap().to_owned();
    let (_, mine) = app.webhook(&h1, &order("o-1", "101", &["4"])).await;
    let id = mine["tasks"][0]["id"].as_str().unwrap().to_owned();
    let seen = read_stream_until(&mut res, &id).await;
    assert!(seen.contains("event: task"), "{seen}");
    assert!(seen.contains(r#""kind":"created""#), "{seen}");
    assert!(
        !seen.contains(&other_id),
        "another hotel's task leaked: {seen}"
    );

    // A move through the API and a cancellation from Duve are both published.
    let (s, _) = app
        .post_api(
            &key1,
            &format!("/api/v1/tasks/{id}/status"),
            &json!({"status": "accepted"}),
        )
        .await;
    assert_eq!(s, 200);
    read_stream_until(&mut res, r#""status":"accepted""#).await;
    let cancel = json!({"accountId": "acc", "event": "orderCancelled",
        "resource": {"id": "res-1", "order": {"id": "o-1"}}});
    let (s, body) = app.webhook(&h1, &cancel).await;
    assert_eq!(s, 200, "{body}");
    read_stream_until(&mut res, r#""status":"cancelled""#).await;
    // An open stream does not hold up a graceful shutdown: the server ends it.
    tokio::time::timeout(Duration::from_secs(10), app.stop())
        .await
        .expect("the server stopped with a board still connected");
    let rest = tokio::time::timeout(Duration::from_secs(10), async {
        while let Ok(Some(_)) = res.chunk().await {}
    })
    .await;
    assert!(rest.is_ok(), "the stream was closed by the server");
}
