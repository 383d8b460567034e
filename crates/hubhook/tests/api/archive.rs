//! Archiving (issue 18) on both backends: with an archive-after, tasks left unfinished and
//! untouched that long leave the board, keep their status and history (a line by `hubhook`), stay
//! in the API (`archived: true`) and come back with their next change; finished tasks, and hotels
//! without the setting, are never archived. Two instances on PostgreSQL archive each task once.

use std::{sync::Arc, time::Duration};

use hubhook::{
    domain::{HotelId, Role},
    store::HotelSettings,
};
use serde_json::{Value, json};

use crate::{
    assignment::{assign, new_task},
    helpers::{TestApp, order, spawn_app_in},
    operations::{move_task, task},
    receiver::eventually,
    ui_support::{UiClient, add_user},
};

/// A server whose archiver looks every 100 ms (instead of every minute).
pub(crate) async fn quick_archiver(dir: Arc<tempfile::TempDir>) -> TestApp {
    spawn_app_in(dir, |c| c.archive_check = Duration::from_millis(100)).await
}

/// Sets `hotel`'s archive-after to `secs`.
pub(crate) async fn archive_after(app: &TestApp, hotel: &str, secs: u32) {
    app.store
        .update_hotel(
            &HotelId::parse(hotel).unwrap(),
            HotelSettings {
                archive_after_secs: Some(secs),
                ..Default::default()
            },
        )
        .await
        .expect("archive-after");
}

#[tokio::test]
async fn tasks_left_unfinished_leave_the_board_keep_their_history_and_come_back_with_a_change() {
    let app = quick_archiver(Arc::new(tempfile::tempdir().expect("temp dir"))).await;
    let hotel = app.create_hotel("h1").await;
    let other = app.create_hotel("h2").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let other_key = app.api_key(&other, Role::Manager).await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    let (left, done, moved) = (
        new_task(&app, &hotel, "o-1").await,
        new_task(&app, &hotel, "o-2").await,
        new_task(&app, &hotel, "o-3").await,
    );
    move_task(&app, &key, &done, "done").await;
    move_task(&app, &key, &moved, "in_progress").await;
    let elsewhere = new_task(&app, &other, "o-1").await;
    archive_after(&app, "h1", 2).await;

    for id in [&left, &moved] {
        let t = eventually(
            "archived",
            || task(&app, &key, id),
            |t| t["archived"] == true,
        )
        .await;
        let last = t["events"].as_array().unwrap().last().unwrap().clone();
        assert_eq!(last["actor"], "hubhook", "{t}");
        assert_eq!(last["note"], "archived: untouched for 2s", "{t}");
        assert_eq!(last["from"], last["to"], "archiving moves no status: {t}");
    }
    assert_eq!(task(&app, &key, &left).await["status"], "open");
    assert_eq!(task(&app, &key, &moved).await["status"], "in_progress");
    // Finished tasks, and another hotel's (no archive-after), stay as they are.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(task(&app, &key, &done).await["archived"], false);
    assert_eq!(task(&app, &other_key, &elsewhere).await["archived"], false);

    // Off the board, still in the API.
    let mut ana = UiClient::signed_in(&app, "ana@h1.test").await;
    let board = ana.get("/board").await.body;
    assert!(!board.contains(&left) && !board.contains(&moved), "{board}");
    assert!(board.contains(&done), "finished within 2 h: {board}");
    let (s, list) = app.get_api(&key, "/api/v1/tasks").await;
    assert_eq!(s, 200);
    let listed: Vec<&Value> = list["tasks"].as_array().unwrap().iter().collect();
    assert!(
        listed
            .iter()
            .any(|t| t["id"] == left.as_str() && t["archived"] == true),
        "{list}"
    );
    let page = ana.get(&format!("/tasks/{left}")).await.body;
    assert!(page.contains("archived: untouched for 2s"), "{page}");

    // A change brings it back: a move, or an assignment.
    move_task(&app, &key, &left, "accepted").await;
    let t = task(&app, &key, &left).await;
    assert_eq!(t["archived"], false, "{t}");
    let (s, t) = assign(&app, &key, &moved, json!({"assignee": "ana@h1.test"})).await;
    assert_eq!((s, &t["archived"]), (200, &json!(false)), "{t}");
    let board = ana.get("/board").await.body;
    assert!(board.contains(&left) && board.contains(&moved), "{board}");
    app.stop().await;
}

#[tokio::test]
async fn archiving_off_never_archives_and_a_long_setting_waits() {
    let app = quick_archiver(Arc::new(tempfile::tempdir().expect("temp dir"))).await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let id = new_task(&app, &hotel, "o-1").await;
    archive_after(&app, "h1", 3600).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(task(&app, &key, &id).await["archived"], false);
    // Shortened: the task, untouched for longer than that, goes.
    archive_after(&app, "h1", 1).await;
    eventually(
        "archived",
        || task(&app, &key, &id),
        |t| t["archived"] == true,
    )
    .await;
    // Off again: a task made now stays.
    archive_after(&app, "h1", 0).await;
    let (s, body) = app.webhook(&hotel, &order("o-2", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    let fresh = body["tasks"][0]["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(task(&app, &key, &fresh).await["archived"], false);
    app.stop().await;
}
