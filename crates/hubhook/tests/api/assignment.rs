//! Assignment (CONTRACT.md section 6) through the API and the board's forms, on both backends: a
//! manager key assigns any user of the hotel, reassigns and clears; a staff key is refused (it has
//! no identity to claim with); staff accounts claim for themselves and release their own on the
//! board; unknown and other hotels' users 404, disabled ones 409, another hotel's task 404; every
//! change in the history and raising `task.assigned`; `?assignee=` filters; a disabled or removed
//! user's open tasks go back to nobody.

use hubhook::{
    domain::{HotelId, Role},
    store::UserChange,
};
use serde_json::{Value, json};

use crate::{
    helpers::{Hotel, TestApp, expect_webhook_error, order, spawn_app},
    operations::{move_task, subscribe, task},
    receiver::Receiver,
    ui_support::{UiClient, add_user},
};

/// A new task of `hotel` (an order for room 101, service 4); its id.
pub(crate) async fn new_task(app: &TestApp, hotel: &Hotel, order_id: &str) -> String {
    let (s, body) = app.webhook(hotel, &order(order_id, "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    body["tasks"][0]["id"].as_str().expect("task id").to_owned()
}

/// `POST /api/v1/tasks/{id}/assign` with `body`.
pub(crate) async fn assign(app: &TestApp, key: &str, id: &str, body: Value) -> (u16, Value) {
    app.post_api(key, &format!("/api/v1/tasks/{id}/assign"), &body)
        .await
}

/// The notes of a task's history lines.
fn notes(t: &Value) -> Vec<String> {
    t["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["note"].as_str().map(str::to_owned))
        .collect()
}

/// The ids of `GET /api/v1/tasks?{query}`.
async fn listed(app: &TestApp, key: &str, query: &str) -> Vec<String> {
    let (s, body) = app.get_api(key, &format!("/api/v1/tasks?{query}")).await;
    assert_eq!(s, 200, "{body}");
    body["tasks"]
        .as_array()
        .expect("tasks")
        .iter()
        .map(|t| t["id"].as_str().expect("id").to_owned())
        .collect()
}

#[tokio::test]
async fn a_manager_key_assigns_reassigns_and_clears_with_history_and_events() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let manager = app.api_key(&hotel, Role::Manager).await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    add_user(&app, &hotel, "bo@h1.test", Role::Staff).await;
    let rx = Receiver::start().await;
    subscribe(&app, &manager, &rx.url, &["task.assigned"]).await;
    let id = new_task(&app, &hotel, "o-1").await;
    let other = new_task(&app, &hotel, "o-2").await;
    assert_eq!(task(&app, &manager, &id).await["assignee"], Value::Null);

    // Emails are compared as the accounts keep them: trimmed, ASCII letters folded.
    let (s, t) = assign(&app, &manager, &id, json!({"assignee": " Ana@H1.test "})).await;
    assert_eq!(s, 200, "{t}");
    assert_eq!(t["assignee"], "ana@h1.test", "{t}");
    assert_eq!(t["id"], id.as_str());
    // The same again changes nothing: no history line, no event.
    let (s, t) = assign(&app, &manager, &id, json!({"assignee": "ana@h1.test"})).await;
    assert_eq!((s, &t["assignee"]), (200, &json!("ana@h1.test")), "{t}");
    let (s, t) = assign(&app, &manager, &id, json!({"assignee": "bo@h1.test"})).await;
    assert_eq!((s, &t["assignee"]), (200, &json!("bo@h1.test")), "{t}");

    assert_eq!(
        listed(&app, &manager, "assignee=bo@h1.test").await,
        [id.as_str()]
    );
    assert_eq!(
        listed(&app, &manager, "assignee=BO@h1.test").await,
        [id.as_str()]
    );
    assert_eq!(
        listed(&app, &manager, "assignee=none").await,
        [other.as_str()]
    );
    assert!(
        listed(&app, &manager, "assignee=ana@h1.test")
            .await
            .is_empty()
    );
    assert!(
        listed(&app, &manager, "assignee=zed@h1.test")
            .await
            .is_empty()
    );

    let (s, t) = assign(&app, &manager, &id, json!({"assignee": null})).await;
    assert_eq!((s, &t["assignee"]), (200, &Value::Null), "{t}");
    let detail = task(&app, &manager, &id).await;
    assert_eq!(
        notes(&detail),
        [
            "assigned to ana@h1.test",
            "reassigned from ana@h1.test to bo@h1.test",
            "unassigned (was bo@h1.test)"
        ],
        "{detail}"
    );
    let line = &detail["events"][1];
    assert_eq!(
        line["from"], "open",
        "an assignment moves no status: {line}"
    );
    assert_eq!(line["to"], "open", "{line}");
    assert!(
        line["actor"].as_str().unwrap().starts_with("api:"),
        "{line}"
    );

    // One task.assigned per change, saying who had it before.
    let got = rx.wait_for(3).await;
    let bodies: Vec<Value> = got.iter().map(|r| r.json()).collect();
    let seen: Vec<(Value, Value)> = bodies
        .iter()
        .map(|b| (b["data"]["assignee"].clone(), b["previousAssignee"].clone()))
        .collect();
    assert_eq!(
        seen,
        [
            (json!("ana@h1.test"), Value::Null),
            (json!("bo@h1.test"), json!("ana@h1.test")),
            (Value::Null, json!("bo@h1.test")),
        ],
        "{bodies:?}"
    );
    assert!(bodies.iter().all(|b| b["type"] == "task.assigned"));
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(
        rx.received().len(),
        3,
        "no event for the repeated assignment"
    );
    app.stop().await;
}

#[tokio::test]
async fn refusals_unknown_other_hotels_disabled_staff_keys_and_bad_bodies() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let other = app.create_hotel("h2").await;
    let manager = app.api_key(&hotel, Role::Manager).await;
    let staff = app.api_key(&hotel, Role::Staff).await;
    let other_manager = app.api_key(&other, Role::Manager).await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    add_user(&app, &hotel, "off@h1.test", Role::Staff).await;
    add_user(&app, &other, "eve@h2.test", Role::Manager).await;
    app.store
        .update_user(
            &HotelId::parse("h1").unwrap(),
            "off@h1.test",
            UserChange {
                disabled: Some(true),
                ..Default::default()
            },
            None,
        )
        .await
        .expect("disable");
    let id = new_task(&app, &hotel, "o-1").await;
    let theirs = new_task(&app, &other, "o-1").await;

    let unknown = |got: &(u16, Value)| {
        expect_webhook_error(got, 404, "UNKNOWN_ASSIGNEE", "No such user in this hotel.")
    };
    unknown(&assign(&app, &manager, &id, json!({"assignee": "zed@h1.test"})).await);
    unknown(&assign(&app, &manager, &id, json!({"assignee": "eve@h2.test"})).await);
    expect_webhook_error(
        &assign(&app, &manager, &id, json!({"assignee": "off@h1.test"})).await,
        409,
        "ASSIGNEE_DISABLED",
        "The user is disabled.",
    );
    // Another hotel's task, even naming a user of that hotel: not found.
    expect_webhook_error(
        &assign(&app, &manager, &theirs, json!({"assignee": "ana@h1.test"})).await,
        404,
        "NOT_FOUND",
        "Not found.",
    );
    expect_webhook_error(
        &assign(
            &app,
            &other_manager,
            &id,
            json!({"assignee": "eve@h2.test"}),
        )
        .await,
        404,
        "NOT_FOUND",
        "Not found.",
    );
    // A staff key has no identity to claim with, not even for a user's own email.
    expect_webhook_error(
        &assign(&app, &staff, &id, json!({"assignee": "ana@h1.test"})).await,
        403,
        "FORBIDDEN",
        "This needs a manager API key.",
    );
    for bad in [
        json!({}),
        json!({"assignee": "not an email"}),
        json!({"assignee": 7}),
        json!({"assignee": "ana@h1.test", "note": "x"}),
    ] {
        let got = assign(&app, &manager, &id, bad.clone()).await;
        assert_eq!(got.0, 400, "{bad}: {}", got.1);
        assert_eq!(got.1["code"], "INVALID_REQUEST", "{bad}: {}", got.1);
    }
    // Nothing of that changed the task.
    let t = task(&app, &manager, &id).await;
    assert_eq!(t["assignee"], Value::Null, "{t}");
    assert_eq!(t["events"].as_array().unwrap().len(), 1, "{t}");
    app.stop().await;
}

/// Posts the board's assignment form for `id` as `client` (`assignee`: an email or empty).
pub(crate) async fn board_assign(client: &mut UiClient, id: &str, assignee: &str) -> u16 {
    let csrf = client.csrf().await;
    let page = client
        .post(
            &format!("/board/tasks/{id}/assign"),
            &[("csrf", &csrf), ("assignee", assignee)],
        )
        .await;
    page.status.as_u16()
}

#[tokio::test]
async fn staff_claim_for_themselves_release_their_own_and_managers_assign_anyone() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    add_user(&app, &hotel, "bo@h1.test", Role::Staff).await;
    add_user(&app, &hotel, "max@h1.test", Role::Manager).await;
    let id = new_task(&app, &hotel, "o-1").await;
    let mut ana = UiClient::signed_in(&app, "ana@h1.test").await;
    let mut bo = UiClient::signed_in(&app, "bo@h1.test").await;
    let mut max = UiClient::signed_in(&app, "max@h1.test").await;

    // The card offers Claim to everyone while nobody has the task.
    let board = ana.get("/board").await.body;
    assert!(
        board.contains(r#"data-action="claim""#) && board.contains("Claim"),
        "{board}"
    );
    assert_eq!(board_assign(&mut ana, &id, "ana@h1.test").await, 303);
    let t = task(&app, &key, &id).await;
    assert_eq!(t["assignee"], "ana@h1.test", "{t}");
    assert_eq!(t["events"][1]["actor"], "user:ana@h1.test", "{t}");
    // Ana's card now offers Release; Bo's shows whose it is, and no button to take it.
    let board = ana.get("/board").await.body;
    assert!(board.contains(r#"data-action="release""#), "{board}");
    assert!(board.contains(r#"data-assignee="ana@h1.test""#), "{board}");
    let board = bo.get("/board").await.body;
    assert!(!board.contains(r#"data-action="claim""#), "{board}");
    assert!(!board.contains(r#"data-action="release""#), "{board}");
    assert!(board.contains("assigned to ana@h1.test"), "{board}");

    // Bo can neither take Ana's task nor give it away, nor give a task to someone else.
    assert_eq!(board_assign(&mut bo, &id, "bo@h1.test").await, 409);
    assert_eq!(board_assign(&mut bo, &id, "").await, 403);
    let spare = new_task(&app, &hotel, "o-2").await;
    assert_eq!(board_assign(&mut bo, &spare, "ana@h1.test").await, 403);
    assert_eq!(task(&app, &key, &id).await["assignee"], "ana@h1.test");
    assert_eq!(task(&app, &key, &spare).await["assignee"], Value::Null);
    // A forged form is refused before anything else.
    let page = bo
        .post(
            &format!("/board/tasks/{spare}/assign"),
            &[("csrf", "forged"), ("assignee", "bo@h1.test")],
        )
        .await;
    assert_eq!(page.status.as_u16(), 403);
    assert_eq!(task(&app, &key, &spare).await["assignee"], Value::Null);

    // Ana releases hers; a manager gives it to Bo, and the task page offers the hotel's users.
    assert_eq!(board_assign(&mut ana, &id, "").await, 303);
    assert_eq!(task(&app, &key, &id).await["assignee"], Value::Null);
    let page = max.get(&format!("/tasks/{id}")).await.body;
    for email in ["ana@h1.test", "bo@h1.test", "max@h1.test"] {
        assert!(
            page.contains(&format!(r#"<option value="{email}""#)),
            "{email}: {page}"
        );
    }
    let csrf = max.csrf().await;
    let res = max
        .post(
            &format!("/board/tasks/{id}/assign"),
            &[
                ("csrf", &csrf),
                ("assignee", "bo@h1.test"),
                ("back", "task"),
            ],
        )
        .await;
    assert_eq!(res.status.as_u16(), 303);
    assert_eq!(res.location(), Some(format!("/tasks/{id}").as_str()));
    assert_eq!(task(&app, &key, &id).await["assignee"], "bo@h1.test");
    let page = max.get(&format!("/tasks/{id}")).await.body;
    assert!(
        page.contains(r#"<option value="bo@h1.test" selected>"#),
        "{page}"
    );
    // A manager's card offers Unassign on anyone's task; a staff member's task page, no select.
    let board = max.get("/board").await.body;
    assert!(board.contains(r#"data-action="unassign""#), "{board}");
    let page = ana.get(&format!("/tasks/{id}")).await.body;
    assert!(!page.contains("<select name=\"assignee\""), "{page}");
    app.stop().await;
}

#[tokio::test]
async fn a_disabled_or_removed_users_open_tasks_go_back_to_nobody() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    add_user(&app, &hotel, "bo@h1.test", Role::Staff).await;
    let rx = Receiver::start().await;
    subscribe(&app, &key, &rx.url, &["task.assigned"]).await;
    let (open, done, other) = (
        new_task(&app, &hotel, "o-1").await,
        new_task(&app, &hotel, "o-2").await,
        new_task(&app, &hotel, "o-3").await,
    );
    for (id, who) in [(&open, "ana"), (&done, "ana"), (&other, "bo")] {
        let (s, t) = assign(
            &app,
            &key,
            id,
            json!({"assignee": format!("{who}@h1.test")}),
        )
        .await;
        assert_eq!(s, 200, "{t}");
    }
    move_task(&app, &key, &done, "done").await;
    rx.wait_for(3).await;

    let (ok, _, err) = crate::operations::cli(
        &app,
        &["user", "set", "h1", "ana@h1.test", "--disabled", "true"],
    )
    .await;
    assert!(ok, "{err}");
    let t = task(&app, &key, &open).await;
    assert_eq!(t["assignee"], Value::Null, "{t}");
    assert_eq!(
        notes(&t).last().map(String::as_str),
        Some("unassigned: ana@h1.test was disabled"),
        "{t}"
    );
    assert_eq!(
        t["events"].as_array().unwrap().last().unwrap()["actor"],
        "hubhook"
    );
    // A finished task keeps who did it; another user's task is untouched.
    assert_eq!(task(&app, &key, &done).await["assignee"], "ana@h1.test");
    assert_eq!(task(&app, &key, &other).await["assignee"], "bo@h1.test");
    let got = rx.wait_for(4).await;
    let last = got[3].json();
    assert_eq!(last["data"]["id"], open.as_str(), "{last}");
    assert_eq!(last["previousAssignee"], "ana@h1.test", "{last}");
    // Enabling her again gives nothing back.
    let (ok, _, err) = crate::operations::cli(
        &app,
        &["user", "set", "h1", "ana@h1.test", "--disabled", "false"],
    )
    .await;
    assert!(ok, "{err}");
    assert_eq!(task(&app, &key, &open).await["assignee"], Value::Null);

    // Removed: the same, and the finished task no longer names anyone (the history does).
    let (ok, _, err) = crate::operations::cli(&app, &["user", "remove", "h1", "bo@h1.test"]).await;
    assert!(ok, "{err}");
    let t = task(&app, &key, &other).await;
    assert_eq!(t["assignee"], Value::Null, "{t}");
    assert_eq!(
        notes(&t).last().map(String::as_str),
        Some("unassigned: bo@h1.test was removed"),
        "{t}"
    );
    let got = rx.wait_for(5).await;
    assert_eq!(got[4].json()["previousAssignee"], "bo@h1.test");
    app.stop().await;
}
