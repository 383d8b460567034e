//! The live board in a browser: a Duve task appears live and is finished with one tap, the board
//! fits a 360 px phone screen, an escalated task shows its badge.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use hubhook::domain::Role;
use serde_json::json;

use super::{Browser, ONE_BROWSER};
use crate::{
    helpers::{Hotel, TestApp, order, spawn_app},
    ui_support::add_user,
};

/// A hotel with a few requests on the board, some of them already moved along.
async fn busy_hotel(app: &TestApp) -> Hotel {
    let hotel = app.create_hotel("demo").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let rooms: Vec<hubhook::store::Room> = ["203", "305", "412"]
        .iter()
        .map(|r| hubhook::store::Room {
            room: (*r).into(),
            floor: Some(r[..1].into()),
        })
        .collect();
    let id = hubhook::domain::HotelId::parse("demo").unwrap();
    app.store.add_rooms(&id, rooms).await.unwrap();
    let mut ids = Vec::new();
    for (oid, room, ext) in [
        ("d-1", "203", vec!["4", "6"]),
        ("d-2", "305", vec!["16"]),
        ("d-3", "412", vec!["8"]),
        ("d-4", "102", vec!["12"]),
    ] {
        let (s, body) = app.webhook(&hotel, &order(oid, room, &ext)).await;
        assert_eq!(s, 201, "{body}");
        for t in body["tasks"].as_array().unwrap() {
            ids.push(t["id"].as_str().unwrap().to_owned());
        }
    }
    for (i, to) in [(1, "accepted"), (2, "in_progress"), (3, "done")] {
        let (s, _) = app
            .post_api(
                &key,
                &format!("/api/v1/tasks/{}/status", ids[i]),
                &json!({"status": to}),
            )
            .await;
        assert_eq!(s, 200);
    }
    hotel
}

#[tokio::test]
async fn a_duve_task_appears_live_and_is_finished_with_one_tap() {
    let _one = ONE_BROWSER.lock().await;
    let app = spawn_app().await;
    let hotel = busy_hotel(&app).await;
    let key = app.api_key(&hotel, Role::Staff).await;
    add_user(&app, &hotel, "ana@demo.test", Role::Manager).await;
    let Some(browser) = Browser::start(1280, 900).await else {
        app.stop().await;
        return;
    };
    browser.login(&app, "ana@demo.test").await;
    browser.wait_live(10).await;
    // A marker that a page reload would wipe out.
    browser
        .client
        .execute("window.__noReload = 42; return true;", vec![])
        .await
        .expect("script");

    let (s, body) = app.webhook(&hotel, &order("live-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    let id = body["tasks"][0]["id"].as_str().unwrap().to_owned();
    let card = format!(r#"[data-task-id="{id}"]"#);
    let sent = Instant::now();
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(3))
        .for_element(Locator::Css(&card))
        .await
        .expect("the new task's card appears without a reload");
    eprintln!(
        "card appeared {} ms after the webhook was answered",
        sent.elapsed().as_millis()
    );
    let marker = browser
        .client
        .execute("return window.__noReload === 42;", vec![])
        .await
        .expect("script");
    assert_eq!(marker, json!(true), "the page was not reloaded");
    assert_eq!(
        browser.attr_of(&card, "data-status").await.as_deref(),
        Some("open")
    );

    browser
        .client
        .find(Locator::Css(&format!(
            r#"{card} button[data-action="done"]"#
        )))
        .await
        .expect("done button")
        .click()
        .await
        .expect("tap done");
    let deadline = Instant::now() + Duration::from_secs(5);
    while browser.attr_of(&card, "data-status").await.as_deref() != Some("done") {
        assert!(Instant::now() < deadline, "the card did not move to done");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (s, task) = app.get_api(&key, &format!("/api/v1/tasks/{id}")).await;
    assert_eq!(s, 200);
    assert_eq!(task["status"], "done");
    assert_eq!(task["events"][1]["actor"], "user:ana@demo.test");

    browser.screenshot("board.png").await;
    browser
        .client
        .goto(&app.url("/dashboard"))
        .await
        .expect("dashboard");
    browser
        .client
        .find(Locator::Css("svg.chart"))
        .await
        .expect("a chart");
    browser.screenshot("dashboard.png").await;
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_board_fits_a_360_px_phone_screen() {
    let _one = ONE_BROWSER.lock().await;
    let app = spawn_app().await;
    let hotel = busy_hotel(&app).await;
    add_user(&app, &hotel, "ana@demo.test", Role::Staff).await;
    // A long guest name and notes must wrap, not widen the page.
    let mut long = order("long-1", "203", &["7"]);
    long["resource"]["verifiedFirstName"] = json!("Maximiliana-Alexandrina");
    long["resource"]["verifiedLastName"] = json!("Vandenberghe-Oppenheimer");
    long["resource"]["order"]["notes"] =
        json!("Please_bring_extra_hypoallergenic_pillows_and_two_more_blankets");
    let (s, body) = app.webhook(&hotel, &long).await;
    assert_eq!(s, 201, "{body}");
    let Some(browser) = Browser::start(360, 740).await else {
        app.stop().await;
        return;
    };
    browser.login(&app, "ana@demo.test").await;
    browser.wait_live(10).await;
    let sizes = browser
        .client
        .execute(
            "const d = document.documentElement; return [d.scrollWidth, d.clientWidth, window.innerWidth];",
            vec![],
        )
        .await
        .expect("script");
    let sizes: Vec<i64> = serde_json::from_value(sizes).expect("numbers");
    assert!(sizes[1] <= 360, "the window is phone-sized: {sizes:?}");
    assert!(
        sizes[0] <= sizes[1],
        "horizontal scrolling on a phone: scrollWidth {} > clientWidth {}",
        sizes[0],
        sizes[1]
    );
    let cards = browser
        .client
        .execute(
            "return document.querySelectorAll('[data-task-id]').length;",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(cards, json!(6), "every card of the board is there");
    browser.screenshot("board-phone.png").await;
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn an_escalated_task_shows_its_badge_on_the_live_board() {
    let _one = ONE_BROWSER.lock().await;
    let app = spawn_app().await;
    let hotel = app.create_hotel("esc").await;
    app.store
        .update_hotel(
            &hubhook::domain::HotelId::parse("esc").unwrap(),
            hubhook::store::HotelSettings {
                escalate_after_secs: Some(2),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    add_user(&app, &hotel, "ana@esc.test", Role::Staff).await;
    let Some(browser) = Browser::start(1280, 900).await else {
        app.stop().await;
        return;
    };
    browser.login(&app, "ana@esc.test").await;
    browser.wait_live(10).await;
    let (s, body) = app.webhook(&hotel, &order("esc-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    let id = body["tasks"][0]["id"].as_str().unwrap().to_owned();
    let card = format!(r#"[data-task-id="{id}"]"#);
    browser
        .client
        .wait()
        .at_most(Duration::from_secs(3))
        .for_element(Locator::Css(&card))
        .await
        .expect("the card appears");
    assert_eq!(browser.attr_of(&card, "data-escalated").await, None);
    // Nobody accepts it: two seconds on, the board (told over its live feed) marks it.
    let badge = format!(r#"{card}[data-escalated="unaccepted"] .badge.escalated"#);
    let el = browser
        .client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(&badge))
        .await
        .expect("the escalation badge appears without a reload");
    let text = el.text().await.expect("badge text");
    assert_eq!(text, "Escalated: Not accepted in time");
    assert!(
        el.is_displayed().await.expect("displayed"),
        "the badge is visible"
    );
    browser.screenshot("board-escalated.png").await;
    browser.close().await;
    app.stop().await;
}
