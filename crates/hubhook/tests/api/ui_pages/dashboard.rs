//! The task page (history, origin) and the dashboard's figures, overdue tasks on the board
//! included.

use hubhook::domain::Role;
use serde_json::json;

use crate::{
    helpers::{order, spawn_app},
    ui_support::{UiClient, add_user},
};

#[tokio::test]
async fn task_page_and_dashboard_show_history_origin_and_figures() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    let (_, created) = app
        .webhook(&hotel, &order("o-77", "101", &["4", "2"]))
        .await;
    let id = created["tasks"][0]["id"].as_str().unwrap().to_owned();
    let mut ana = UiClient::signed_in(&app, "ana@h1.test").await;
    let csrf = ana.csrf().await;
    let res = ana
        .post(
            &format!("/board/tasks/{id}/status"),
            &[("status", "done"), ("csrf", &csrf)],
        )
        .await;
    assert_eq!(res.status, 303);
    let page = ana.get(&format!("/tasks/{id}")).await;
    assert_eq!(page.status, 200);
    for needle in [
        "Serve towels",
        "o-77",
        "user:ana@h1.test",
        "open → done",
        "Bobby",
    ] {
        assert!(page.body.contains(needle), "{needle}: {}", page.body);
    }
    // The webhook it came from is the inbound log's, for managers (tests/api/roles.rs).
    assert!(!page.body.contains("orderCreated"), "{}", page.body);

    // A request for a time already past is overdue: highlighted on the board, counted on the dashboard.
    let mut late = order("o-78", "102", &["6"]);
    late["resource"]["order"]["deliveryTime"] = json!("2020-01-01T10:00:00Z");
    let (s, body) = app.webhook(&hotel, &late).await;
    assert_eq!(s, 201, "{body}");
    let late_id = body["tasks"][0]["id"].as_str().unwrap().to_owned();
    let board = ana.get("/board").await;
    let card = board
        .body
        .find(&format!(r#"data-task-id="{late_id}""#))
        .expect("the late card");
    let tag_start = board.body[..card].rfind("<article").unwrap();
    assert!(
        board.body[tag_start..card].contains(r#"class="card overdue""#),
        "{}",
        board.body
    );
    assert!(
        board.body.contains("Overdue (due 1 Jan 10:00)"),
        "{}",
        board.body
    );
    assert!(board.body.contains("1 overdue"), "{}", board.body);

    let dash = ana.get("/dashboard").await;
    assert_eq!(dash.status, 200);
    assert!(dash.body.contains("<svg"), "{}", dash.body);
    assert!(dash.body.contains(r#"id="stat-today">3<"#), "{}", dash.body);
    assert!(dash.body.contains(r#"id="stat-open">2<"#), "{}", dash.body);
    assert!(
        dash.body.contains(r#"id="stat-overdue">1<"#),
        "{}",
        dash.body
    );
    assert!(
        dash.body.contains("Serve towels"),
        "time to done per type: {}",
        dash.body
    );
    app.stop().await;
}
