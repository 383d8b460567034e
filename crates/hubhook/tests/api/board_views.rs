//! The board with a long backlog and its views, on both backends: a page of each column, the
//! escalated first and then by due time, the column's count and a link to the next page (which
//! carries the view along); "Mine" and a department's view, the staff member's own department
//! first; a floor and a room; assignments reach the live feed.

use std::time::Duration;

use hubhook::{
    domain::{HotelId, Role, password},
    store::{HotelSettings, NewUser, Room},
};
use jiff::{SignedDuration, Timestamp};
use serde_json::{Value, json};

use crate::{
    assignment::{assign, new_task},
    helpers::{Hotel, TestApp, order, spawn_app},
    operations::task,
    receiver::eventually,
    ui_support::{PASSWORD, UiClient},
};

/// An account in `department` (the board's views), made as `hubhook user add` makes it.
pub(crate) async fn user_in(app: &TestApp, hotel: &Hotel, email: &str, role: Role, dept: &str) {
    app.store
        .create_user(NewUser {
            id: format!("usr_{}", email.replace(['@', '.'], "_")),
            hotel: HotelId::parse(&hotel.id).expect("hotel id"),
            email: email.to_owned(),
            role,
            department: Some(dept.to_owned()).filter(|d| !d.is_empty()),
            password_hash: password::hash(PASSWORD).expect("hash"),
        })
        .await
        .expect("create user");
}

/// A manual task for `room` named `name`, requested `mins` minutes from now; its id.
async fn manual(app: &TestApp, key: &str, room: &str, name: &str, mins: i64) -> String {
    let due = Timestamp::now()
        .checked_add(SignedDuration::from_mins(mins))
        .unwrap();
    let (s, t) = app
        .post_api(
            key,
            "/api/v1/tasks",
            &json!({"room": room, "name": name, "dueAt": due.to_string()}),
        )
        .await;
    assert_eq!(s, 201, "{t}");
    t["id"].as_str().expect("id").to_owned()
}

/// The task ids of the cards of column `key` in a board page, in their order.
fn column(board: &str, key: &str) -> Vec<String> {
    let start = board
        .find(&format!(r#"data-column="{key}""#))
        .unwrap_or_else(|| panic!("no column {key} in {board}"));
    let end = board[start..]
        .find("</section>")
        .map_or(board.len(), |e| start + e);
    board[start..end]
        .match_indices(r#"data-task-id=""#)
        .map(|(i, m)| {
            let from = start + i + m.len();
            let to = board[from..].find('"').unwrap() + from;
            board[from..to].to_owned()
        })
        .collect()
}

/// The count a column's heading shows.
fn count(board: &str, key: &str) -> String {
    let start = board.find(&format!(r#"data-column="{key}""#)).unwrap();
    let marker = r#"<span class="count">"#;
    let from = board[start..].find(marker).unwrap() + start + marker.len();
    let to = board[from..].find('<').unwrap() + from;
    board[from..to].to_owned()
}

/// The `href` of the column's next-page link, if it has one (HTML-unescaped).
fn next_link(board: &str, key: &str) -> Option<String> {
    let marker = format!(r#"data-more="{key}""#);
    let at = board.find(&marker)?;
    let href = board[..at].rfind("href=\"").unwrap() + 6;
    let end = board[href..].find('"').unwrap() + href;
    Some(board[href..end].replace("&amp;", "&"))
}

#[tokio::test]
async fn each_column_shows_a_page_escalated_first_then_by_due_time_and_pages_the_rest() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    user_in(&app, &hotel, "ana@h1.test", Role::Staff, "").await;
    let id = HotelId::parse("h1").unwrap();
    let settings = |secs| HotelSettings {
        escalate_after_secs: Some(secs),
        ..Default::default()
    };
    // The first task escalates (nobody accepts it within a second); then the hotel lengthens its
    // escalate-after, so the others stay as they are while the test reads the board.
    app.store.update_hotel(&id, settings(1)).await.unwrap();
    let urgent = manual(&app, &key, "101", "Escalated", 59).await;
    eventually(
        "escalated",
        || task(&app, &key, &urgent),
        |t| t["escalated"] == "unaccepted",
    )
    .await;
    app.store.update_hotel(&id, settings(3600)).await.unwrap();
    // 55 more, due from 56 minutes down to 2 minutes from now: listed in the opposite order.
    let mut due_order = Vec::new();
    for i in 0..55 {
        due_order.push(manual(&app, &key, "102", &format!("T{i}"), 56 - i).await);
    }
    due_order.reverse();

    let mut ana = UiClient::signed_in(&app, "ana@h1.test").await;
    let board = ana.get("/board").await.body;
    let open = column(&board, "open");
    assert_eq!(open.len(), 50, "a page per column");
    assert_eq!(open[0], urgent, "the escalated task first, though due last");
    assert_eq!(open[1..], due_order[..49], "then by due time");
    assert_eq!(count(&board, "open"), "56");
    assert!(board.contains("The first 50 of 56."), "{board}");
    assert_eq!(count(&board, "accepted"), "0");
    assert_eq!(next_link(&board, "accepted"), None);

    // The next page: the rest, in the same order, and the way back.
    let next = next_link(&board, "open").expect("a link to the next page");
    assert!(next.starts_with("/board?status=open&after="), "{next}");
    let page = ana.get(&next).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(column(&page.body, "open"), due_order[49..]);
    assert!(!page.body.contains(r#"data-column="accepted""#));
    assert!(page.body.contains("Back to the first"), "{}", page.body);
    let cards = ana.get(&next.replace("/board?", "/board/cards?")).await;
    assert_eq!(column(&cards.body, "open"), due_order[49..]);
    // A link not made by the board is refused, not guessed at.
    for bad in [
        "/board?status=open&after=urgent~x~1",
        "/board?after=high~2026-01-01T10:00:00.000Z~1",
        "/board?status=nope",
    ] {
        assert_eq!(ana.get(bad).await.status, 400, "{bad}");
    }

    // A move takes a card out of the column and its count follows.
    crate::operations::move_task(&app, &key, &urgent, "accepted").await;
    let board = ana.get("/board").await.body;
    assert_eq!(count(&board, "open"), "55");
    assert_eq!(column(&board, "accepted"), [urgent.as_str()]);
    assert_eq!(column(&board, "open")[0], due_order[0]);
    app.stop().await;
}

#[tokio::test]
async fn mine_a_department_a_floor_and_a_room_each_have_their_view() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    user_in(&app, &hotel, "ana@h1.test", Role::Staff, "Front Office").await;
    user_in(&app, &hotel, "bo@h1.test", Role::Staff, "").await;
    let id = HotelId::parse("h1").unwrap();
    let rooms = [("101", "1"), ("102", "1"), ("201", "2")]
        .map(|(r, f)| Room {
            room: r.into(),
            floor: Some(f.into()),
        })
        .to_vec();
    app.store.add_rooms(&id, rooms).await.unwrap();
    // Towels (Housekeeping) in 101 and 201, Luggage (Front Office) in 102.
    let towels = new_task(&app, &hotel, "o-1").await;
    let (s, body) = app.webhook(&hotel, &order("o-2", "102", &["22"])).await;
    assert_eq!(s, 201, "{body}");
    let luggage = body["tasks"][0]["id"].as_str().unwrap().to_owned();
    let (s, body) = app.webhook(&hotel, &order("o-3", "201", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    let upstairs = body["tasks"][0]["id"].as_str().unwrap().to_owned();
    let (s, t) = assign(&app, &key, &luggage, json!({"assignee": "ana@h1.test"})).await;
    assert_eq!(s, 200, "{t}");

    let mut ana = UiClient::signed_in(&app, "ana@h1.test").await;
    let all = ana.get("/board").await.body;
    assert_eq!(column(&all, "open").len(), 3);
    // The views: All, Mine, then her own department first, then the others by name.
    let views: Vec<&str> = all
        .match_indices("data-view=\"")
        .map(|(i, m)| {
            let from = i + m.len();
            let label = all[from..].find('>').unwrap() + from + 1;
            &all[label..all[label..].find('<').unwrap() + label]
        })
        .collect();
    assert_eq!(
        views,
        [
            "All",
            "Mine",
            "Front Office",
            "Food &amp; Beverage",
            "Housekeeping",
            "Maintenance",
            "Security"
        ],
        "{all}"
    );
    let mine = ana.get("/board?view=mine").await.body;
    assert_eq!(column(&mine, "open"), [luggage.as_str()], "{mine}");
    assert!(
        mine.contains("<h1 class=\"view-title\">Mine</h1>"),
        "{mine}"
    );
    let housekeeping = ana.get("/board?department=Housekeeping").await.body;
    assert_eq!(
        column(&housekeeping, "open"),
        [towels.clone(), upstairs.clone()]
    );
    let front = ana.get("/board?department=Front+Office").await.body;
    assert_eq!(column(&front, "open"), [luggage.as_str()]);
    let floor = ana.get("/board?floor=1").await.body;
    // Luggage (15 minutes) is due before towels (20 minutes).
    assert_eq!(column(&floor, "open"), [luggage.clone(), towels.clone()]);
    let room = ana.get("/board?room=201").await.body;
    assert_eq!(column(&room, "open"), [upstairs.as_str()]);
    // Views combine, and the next-page link would carry them (checked in the paging test).
    let both = ana.get("/board?department=Housekeeping&floor=2").await.body;
    assert_eq!(column(&both, "open"), [upstairs.as_str()]);
    let nobody = ana
        .get("/board?view=mine&department=Housekeeping")
        .await
        .body;
    assert!(column(&nobody, "open").is_empty(), "{nobody}");
    // Bo has no department: the views list the departments by name.
    let mut bo = UiClient::signed_in(&app, "bo@h1.test").await;
    let board = bo.get("/board").await.body;
    assert!(
        board.find(">Food &amp; Beverage<").unwrap() < board.find(">Front Office<").unwrap(),
        "{board}"
    );
    assert!(column(&bo.get("/board?view=mine").await.body, "open").is_empty());
    app.stop().await;
}

#[tokio::test]
async fn assignments_reach_the_live_feed() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    user_in(&app, &hotel, "ana@h1.test", Role::Staff, "").await;
    let id = new_task(&app, &hotel, "o-1").await;
    let c = UiClient::signed_in(&app, "ana@h1.test").await;
    let cookie = format!("hubhook_session={}", c.cookies["hubhook_session"]);
    let mut res = app
        .client
        .get(app.url("/board/events"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let mut assigned = false;
    while !seen.contains(r#""kind":"assigned""#) {
        if !assigned && seen.contains("event: ready") {
            let (s, t) = assign(&app, &key, &id, json!({"assignee": "ana@h1.test"})).await;
            assert_eq!(s, 200, "{t}");
            assigned = true;
        }
        let chunk = tokio::time::timeout_at(deadline, res.chunk())
            .await
            .unwrap_or_else(|_| panic!("no assignment in the stream: {seen:?}"))
            .expect("stream")
            .expect("stream open");
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains(&format!(r#""taskId":"{id}""#)), "{seen}");
    let _: Value = task(&app, &key, &id).await;
    app.stop().await;
}
