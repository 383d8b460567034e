//! The dry-run page and the inbound log's replay button in a real browser (as `ui_browser/`:
//! chromedriver on a free port; SKIPPED without it unless HUBHOOK_REQUIRE_BROWSER=1).

use std::time::{Duration, Instant};

use fantoccini::Locator;
use hubhook::{
    domain::{HotelId, Role},
    store::Room,
};

use crate::{
    helpers::{inbound_log, order, spawn_app, task_list},
    ui_browser::{Browser, ONE_BROWSER},
    ui_support::add_user,
};

/// Waits (up to 10 s) for the element `css`, and returns its text.
async fn text_of(browser: &Browser, css: &str) -> String {
    let el = browser
        .client
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("no {css}: {e}"));
    el.text().await.expect("text")
}

#[tokio::test]
async fn a_manager_dry_runs_a_pasted_body_then_replays_the_refused_delivery() {
    let _one = ONE_BROWSER.lock().await;
    let app = spawn_app().await;
    let hotel = app.create_hotel("demo").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    add_user(&app, &hotel, "ana@demo.test", Role::Manager).await;
    // Duve delivered an order for a room the hotel had not registered yet.
    let body = order("d-1", "305", &["4", "16"]);
    let (s, refused) = app.webhook(&hotel, &body).await;
    assert_eq!(s, 400, "{refused}");
    let id = inbound_log(&app, &key).await[0]["id"].as_i64().unwrap();
    let Some(browser) = Browser::start(1280, 1100).await else {
        app.stop().await;
        return;
    };
    browser.login(&app, "ana@demo.test").await;
    let c = &browser.client;

    // Support pastes the body into the dry run: the refusal, readable, with where the room was.
    c.goto(&app.url("/manage/dry-run"))
        .await
        .expect("dry-run page");
    c.find(Locator::Css(r#"textarea[name="body"]"#))
        .await
        .expect("the body field")
        .send_keys(&body.to_string())
        .await
        .expect("paste");
    c.find(Locator::Css(
        r#"form[action="/manage/dry-run"] button[type="submit"]"#,
    ))
    .await
    .expect("the button")
    .click()
    .await
    .expect("run");
    let heading = text_of(&browser, "section.dry-run h2").await;
    assert!(heading.contains("would answer 400"), "{heading}");
    assert_eq!(
        browser
            .attr_of("section.dry-run", "data-outcome")
            .await
            .as_deref(),
        Some("refused")
    );
    let alert = text_of(&browser, "section.dry-run [role=alert]").await;
    assert!(
        alert.contains("WEB_HUK_HUBOS_REQUEST_FAIL Unknown room"),
        "{alert}"
    );
    let room = text_of(&browser, r#"tr[data-field="room_number"]"#).await;
    assert!(
        room.contains("305") && room.contains("roomNumber"),
        "{room}"
    );
    browser.screenshot("dry-run.png").await;
    assert!(
        task_list(&app, &key).await.is_empty(),
        "the dry run made no task"
    );

    // The room is added; the delivery is replayed from the log with one click.
    app.store
        .add_rooms(
            &HotelId::parse("demo").unwrap(),
            vec![Room {
                room: "305".into(),
                floor: Some("3".into()),
            }],
        )
        .await
        .expect("room");
    c.goto(&app.url("/manage/inbound"))
        .await
        .expect("inbound log");
    c.find(Locator::Css(&format!(r#"button[data-replay="{id}"]"#)))
        .await
        .expect("the replay button of the refusal")
        .click()
        .await
        .expect("replay");
    let result = text_of(&browser, ".replay-result").await;
    assert!(
        result.contains(&format!("Entry #{id} replayed: 201 created")),
        "{result}"
    );
    assert!(result.contains("Serve towels for room 305"), "{result}");
    assert!(
        result.contains("Room service tray for room 305"),
        "{result}"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while browser
        .attr_of(&format!(r#"[data-replay-of="{id}"]"#), "data-replay-of")
        .await
        .is_none()
    {
        assert!(
            Instant::now() < deadline,
            "the log does not show the replay"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    browser.screenshot("inbound-replay.png").await;
    let tasks = task_list(&app, &key).await;
    assert_eq!(tasks.len(), 2, "{tasks:?}");
    assert!(tasks.iter().all(|t| t["room"] == "305"), "{tasks:?}");
    browser.close().await;
    app.stop().await;
}
