//! The bounded board in a real browser (Chromium through chromedriver, as ui_browser/): a staff
//! member claims a task with one tap and the card says it is theirs, its escalation badge arrives
//! over the live feed, Release gives it back; on a 390 px phone the board with its views, filters,
//! a full column and its next-page link has no horizontal scrolling and its buttons show.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use hubhook::{
    domain::{HotelId, Role},
    store::{HotelSettings, Room},
};
use serde_json::json;

use crate::{
    board_views::user_in,
    helpers::{order, spawn_app},
    operations::task,
    ui_browser::{Browser, ONE_BROWSER},
};

/// Waits (up to `secs`) until the card `css` has `attr` = `want` (None: absent).
async fn until_attr(browser: &Browser, css: &str, attr: &str, want: Option<&str>, secs: u64) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let got = browser.attr_of(css, attr).await;
        if got.as_deref() == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{css} {attr}: {got:?}, expected {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn staff_claim_with_one_tap_and_the_escalation_badge_arrives_live() {
    let _one = ONE_BROWSER.lock().await;
    let app = spawn_app().await;
    let hotel = app.create_hotel("demo").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let id = HotelId::parse("demo").unwrap();
    app.store
        .update_hotel(
            &id,
            HotelSettings {
                escalate_after_secs: Some(3),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    user_in(&app, &hotel, "ana@demo.test", Role::Staff, "Housekeeping").await;
    let Some(browser) = Browser::start(1280, 900).await else {
        app.stop().await;
        return;
    };
    browser.login(&app, "ana@demo.test").await;
    browser.wait_live(10).await;
    let (s, body) = app.webhook(&hotel, &order("c-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    let tid = body["tasks"][0]["id"].as_str().unwrap().to_owned();
    let card = format!(r#"[data-task-id="{tid}"]"#);
    let c = &browser.client;
    c.wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css(&format!(
            r#"{card} button[data-action="claim"]"#
        )))
        .await
        .expect("the new card, with Claim")
        .click()
        .await
        .expect("tap Claim");
    until_attr(&browser, &card, "data-assignee", Some("ana@demo.test"), 5).await;
    let t = task(&app, &key, &tid).await;
    assert_eq!(t["assignee"], "ana@demo.test", "{t}");
    assert_eq!(t["status"], "open", "claiming moves no status: {t}");
    // Nobody accepted it: three seconds on, the badge comes over the live feed; still hers.
    let badge = format!(r#"{card}[data-escalated="unaccepted"] .badge.escalated"#);
    let el = c
        .wait()
        .at_most(Duration::from_secs(10))
        .for_element(Locator::Css(&badge))
        .await
        .expect("the escalation badge, without a reload");
    assert!(el.is_displayed().await.expect("displayed"));
    assert_eq!(
        browser.attr_of(&card, "data-assignee").await.as_deref(),
        Some("ana@demo.test")
    );
    // "Mine" shows it; Release gives it back.
    c.find(Locator::Css(r#"nav.views a[data-view="mine"]"#))
        .await
        .expect("the Mine view")
        .click()
        .await
        .expect("open Mine");
    c.wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css(&format!(
            r#"{card} button[data-action="release"]"#
        )))
        .await
        .expect("her card in Mine, with Release");
    browser.wait_live(10).await;
    browser.screenshot("board-mine.png").await;
    c.find(Locator::Css(&format!(
        r#"{card} button[data-action="release"]"#
    )))
    .await
    .expect("Release")
    .click()
    .await
    .expect("tap Release");
    // Released: no longer hers, so it leaves the Mine view.
    let deadline = Instant::now() + Duration::from_secs(5);
    while c.find(Locator::Css(&card)).await.is_ok() {
        assert!(
            Instant::now() < deadline,
            "the released card stayed in Mine"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(task(&app, &key, &tid).await["assignee"], json!(null));
    browser.close().await;
    app.stop().await;
}

#[tokio::test]
async fn the_board_with_a_full_column_fits_a_390_px_phone() {
    let _one = ONE_BROWSER.lock().await;
    let app = spawn_app().await;
    let hotel = app.create_hotel("demo").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let id = HotelId::parse("demo").unwrap();
    let rooms: Vec<Room> = (1..=6)
        .flat_map(|f| (1..=10).map(move |r| (f, r)))
        .map(|(f, r)| Room {
            room: format!("{f}{r:02}"),
            floor: Some(f.to_string()),
        })
        .collect();
    app.store.add_rooms(&id, rooms).await.unwrap();
    user_in(&app, &hotel, "ana@demo.test", Role::Staff, "Front Office").await;
    // 60 requests: the Open column shows 50 and a link to the rest.
    for i in 0..60 {
        let room = format!("{}{:02}", 1 + i % 6, 1 + i % 10);
        let ext = ["4", "22", "16", "11"][i % 4];
        let (s, body) = app
            .webhook(&hotel, &order(&format!("p-{i}"), &room, &[ext]))
            .await;
        assert_eq!(s, 201, "{body}");
    }
    // The oldest (due among the first: it is on the first page) becomes hers.
    let (_, list) = app.get_api(&key, "/api/v1/tasks?limit=100").await;
    let tasks = list["tasks"].as_array().unwrap();
    let first = tasks[tasks.len() - 1]["id"].as_str().unwrap().to_owned();
    let (s, t) = app
        .post_api(
            &key,
            &format!("/api/v1/tasks/{first}/assign"),
            &json!({"assignee": "ana@demo.test"}),
        )
        .await;
    assert_eq!(s, 200, "{t}");
    let Some(browser) = Browser::start(390, 844).await else {
        app.stop().await;
        return;
    };
    browser.login(&app, "ana@demo.test").await;
    browser.wait_live(10).await;
    let c = &browser.client;
    let sizes = c
        .execute(
            "const d = document.documentElement; return [d.scrollWidth, d.clientWidth];",
            vec![],
        )
        .await
        .expect("script");
    let sizes: Vec<i64> = serde_json::from_value(sizes).expect("numbers");
    assert!(sizes[1] <= 390, "a phone-sized window: {sizes:?}");
    assert!(
        sizes[0] <= sizes[1],
        "horizontal scrolling on a phone: scrollWidth {} > clientWidth {}",
        sizes[0],
        sizes[1]
    );
    let cards = c
        .execute(
            "return document.querySelectorAll('[data-column=\"open\"] [data-task-id]').length;",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(cards, json!(50), "a page of the Open column");
    // Every control a thumb needs is shown and within the screen: the views, a card's buttons,
    // the next-page link.
    for css in [
        r#"nav.views a[data-view="mine"]"#,
        r#"nav.views a[data-view="department"]"#,
        r#"[data-column="open"] button[data-action="accept"]"#,
        r#"[data-column="open"] button[data-action="claim"]"#,
        r#"[data-column="open"] button[data-action="release"]"#,
        r#"[data-column="open"] button[data-action="done"]"#,
        r#"a[data-more="open"]"#,
    ] {
        let el = c
            .find(Locator::Css(css))
            .await
            .unwrap_or_else(|_| panic!("{css}"));
        assert!(
            el.is_displayed().await.expect("displayed"),
            "{css} is hidden"
        );
        let right = c
            .execute(
                "return arguments[0].getBoundingClientRect().right;",
                vec![serde_json::to_value(&el).expect("element")],
            )
            .await
            .expect("script");
        assert!(
            right.as_f64().unwrap_or(f64::MAX) <= 390.0,
            "{css} reaches past the screen: {right}"
        );
    }
    browser.screenshot("board-phone-390.png").await;
    // The next page, on the phone too.
    c.find(Locator::Css(r#"a[data-more="open"]"#))
        .await
        .expect("next page")
        .click()
        .await
        .expect("open the next page");
    c.wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css("p.more a"))
        .await
        .expect("the way back to the first page");
    let cards = c
        .execute(
            "return document.querySelectorAll('[data-column=\"open\"] [data-task-id]').length;",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(cards, json!(10), "the rest of the Open column");
    browser.close().await;
    app.stop().await;
}
