//! The board in a real browser: Debian's headless Chromium driven through WebDriver (chromedriver,
//! started by the test on a free port). Without chromedriver these tests print SKIPPED and pass,
//! unless HUBHOOK_REQUIRE_BROWSER=1 (as .ci/run sets), where they fail.

use std::{
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use fantoccini::{Client, ClientBuilder, Locator, key::Key};
use hubhook::domain::Role;
use serde_json::json;

use crate::{
    helpers::{Hotel, TestApp, order, spawn_app},
    outbox::quick_app,
    receiver::{Receiver, eventually},
    ui_support::{PASSWORD, add_user},
};

/// One browser at a time: two cores do not run several Chromiums and the server well.
pub(crate) static ONE_BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const CHROME_FLAGS: [&str; 6] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
];

fn chromedriver_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CHROMEDRIVER") {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("chromedriver"))
            .find(|p| p.is_file())
    })
}

/// chromedriver plus one browser session; the driver process is ended when this is dropped.
pub(crate) struct Browser {
    pub(crate) client: Client,
    driver: Child,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// None (after printing SKIPPED) when chromedriver is missing and a browser is not required.
    pub(crate) async fn start(width: u32, height: u32) -> Option<Self> {
        let Some(driver_bin) = chromedriver_path() else {
            let required = std::env::var("HUBHOOK_REQUIRE_BROWSER").is_ok_and(|v| v == "1");
            assert!(
                !required,
                "HUBHOOK_REQUIRE_BROWSER=1 but chromedriver is not installed (apt-get install chromium chromium-driver)"
            );
            eprintln!(
                "SKIPPED: browser test (chromedriver not found; apt-get install chromium chromium-driver)"
            );
            return None;
        };
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().expect("addr").port()
        };
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", driver_bin.display()));
        let url = format!("http://127.0.0.1:{port}");
        let mut args: Vec<String> = CHROME_FLAGS.iter().map(|s| s.to_string()).collect();
        args.push(format!("--window-size={width},{height}"));
        let mut options = json!({ "args": args });
        // Desktop windows have a minimum width (500 px in headless Chromium): a phone's viewport
        // is emulated instead.
        if width < 500 {
            options["mobileEmulation"] =
                json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 1}});
        }
        if std::path::Path::new("/usr/bin/chromium").is_file() {
            options["binary"] = json!("/usr/bin/chromium");
        }
        let mut caps = serde_json::Map::new();
        caps.insert("browserName".into(), json!("chrome"));
        caps.insert("goog:chromeOptions".into(), options);
        let deadline = Instant::now() + Duration::from_secs(30);
        let mut browser_driver = Some(driver);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => {
                    if let Some(mut d) = browser_driver.take() {
                        let _ = d.kill();
                        let _ = d.wait();
                    }
                    panic!("no WebDriver session: {e}");
                }
            }
        };
        Some(Browser {
            client,
            driver: browser_driver.take().expect("driver"),
        })
    }

    pub(crate) async fn login(&self, app: &TestApp, email: &str) {
        let c = &self.client;
        c.goto(&app.url("/login")).await.expect("goto login");
        c.find(Locator::Css("input[name=email]"))
            .await
            .expect("email field")
            .send_keys(email)
            .await
            .expect("type email");
        c.find(Locator::Css("input[name=password]"))
            .await
            .expect("password field")
            .send_keys(PASSWORD)
            .await
            .expect("type password");
        c.find(Locator::Css("form.login button[type=submit]"))
            .await
            .expect("submit")
            .click()
            .await
            .expect("click");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = c.current_url().await.expect("url");
            if url.path() == "/board" {
                return;
            }
            assert!(Instant::now() < deadline, "not signed in: still at {url}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits (up to `secs`) until the board says its live connection is open.
    pub(crate) async fn wait_live(&self, secs: u64) {
        let deadline = Instant::now() + Duration::from_secs(secs);
        loop {
            let text = self
                .client
                .find(Locator::Id("live-status"))
                .await
                .expect("live status")
                .text()
                .await
                .unwrap_or_default();
            if text == "Live" {
                return;
            }
            assert!(Instant::now() < deadline, "no live connection: {text:?}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn attr_of(&self, css: &str, attr: &str) -> Option<String> {
        match self.client.find(Locator::Css(css)).await {
            Ok(el) => el.attr(attr).await.ok().flatten(),
            Err(_) => None,
        }
    }

    /// Every run takes the screenshots (so CI proves the pages render); they land in
    /// `docs/screenshots/` only with HUBHOOK_UPDATE_SCREENSHOTS=1 (an intended change to the pages),
    /// so ordinary runs leave the working tree as it was.
    pub(crate) async fn screenshot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        let dir = if std::env::var("HUBHOOK_UPDATE_SCREENSHOTS").as_deref() == Ok("1") {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots")
        } else {
            PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots")
        };
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(name), png).expect("write screenshot");
    }

    pub(crate) async fn close(mut self) {
        let client = self.client.clone();
        let _ = client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

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
async fn staff_are_refused_the_manager_pages_and_work_the_board_by_keyboard() {
    let _one = ONE_BROWSER.lock().await;
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    add_user(&app, &hotel, "staff@h1.test", Role::Staff).await;
    let Some(browser) = Browser::start(1280, 900).await else {
        app.stop().await;
        return;
    };
    browser.login(&app, "staff@h1.test").await;
    let links = browser
        .client
        .execute(
            "return document.querySelectorAll('a[href^=\"/manage\"]').length;",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(links, json!(0), "no manager links for staff");
    browser
        .client
        .goto(&app.url("/manage/settings"))
        .await
        .expect("goto");
    let h1 = browser
        .client
        .find(Locator::Css("h1"))
        .await
        .expect("heading")
        .text()
        .await
        .expect("text");
    assert_eq!(h1, "Forbidden");
    let forms = browser
        .client
        .execute(
            "return document.querySelectorAll('input[name=timezone]').length;",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(forms, json!(0), "no settings form shown");

    // The board is usable from the keyboard alone: Tab reaches the card's buttons, Enter presses.
    let (s, body) = app.webhook(&hotel, &order("k-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    let id = body["tasks"][0]["id"].as_str().unwrap().to_owned();
    browser
        .client
        .goto(&app.url("/board"))
        .await
        .expect("board");
    browser.wait_live(10).await;
    let mut reached = None;
    for _ in 0..40 {
        browser
            .client
            .active_element()
            .await
            .expect("focus")
            .send_keys(&Key::Tab.to_string())
            .await
            .expect("tab");
        let focused = browser.client.active_element().await.expect("focus");
        if let Ok(Some(action)) = focused.attr("data-action").await {
            reached = Some((action, focused));
            break;
        }
    }
    let (action, button) = reached.expect("Tab never reached a card's button");
    assert_eq!(action, "accept", "the first action of an open card");
    button
        .send_keys(&Key::Enter.to_string())
        .await
        .expect("enter");
    let card = format!(r#"[data-task-id="{id}"]"#);
    let deadline = Instant::now() + Duration::from_secs(5);
    while browser.attr_of(&card, "data-status").await.as_deref() != Some("accepted") {
        assert!(
            Instant::now() < deadline,
            "Enter on Accept did not accept the task"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
async fn a_manager_subscribes_in_the_browser_and_replays_a_failed_delivery() {
    let _one = ONE_BROWSER.lock().await;
    let app = quick_app("30ms").await;
    let hotel = app.create_hotel("demo").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    add_user(&app, &hotel, "ana@demo.test", Role::Manager).await;
    let rx = Receiver::scripted(&[], 500).await;
    let Some(browser) = Browser::start(1280, 900).await else {
        app.stop().await;
        return;
    };
    let c = &browser.client;
    browser.login(&app, "ana@demo.test").await;
    c.find(Locator::Css(r#"header.top a[href="/manage/webhooks"]"#))
        .await
        .expect("a Webhooks link in the manager navigation")
        .click()
        .await
        .expect("open the webhooks page");
    c.wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css(r#"input[name="url"]"#))
        .await
        .expect("the add form")
        .send_keys(&rx.url)
        .await
        .expect("type the URL");
    for unwanted in [
        "task.status_changed",
        "task.overdue",
        "task.escalated",
        "task.assigned",
    ] {
        c.find(Locator::Css(&format!(
            r#"input[name="events"][value="{unwanted}"]"#
        )))
        .await
        .expect("event checkbox")
        .click()
        .await
        .expect("uncheck");
    }
    c.find(Locator::Css(r#"textarea[name="headers"]"#))
        .await
        .expect("headers field")
        .send_keys("X-Desk: front")
        .await
        .expect("type a header");
    c.find(Locator::Css(
        r#"form[action="/manage/webhooks"] button[type="submit"]"#,
    ))
    .await
    .expect("add button")
    .click()
    .await
    .expect("add");
    let secret = c
        .wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Id("new-webhook-secret"))
        .await
        .expect("the new secret, shown once")
        .text()
        .await
        .expect("secret text");
    assert!(secret.starts_with("whsec_"), "{secret}");
    let (_, subs) = app.get_api(&key, "/api/v1/webhooks").await;
    assert_eq!(
        subs["subscriptions"][0]["events"],
        json!([
            "task.created",
            "task.completed",
            "task.cancelled",
            "task.merged"
        ]),
        "{subs}"
    );
    assert_eq!(subs["subscriptions"][0]["headers"][0]["name"], "X-Desk");
    browser.screenshot("webhooks.png").await;

    let (s, body) = app.webhook(&hotel, &order("w-1", "101", &["4"])).await;
    assert_eq!(s, 201, "{body}");
    let failed = eventually(
        "the delivery fails",
        || async {
            let (_, d) = app.get_api(&key, "/api/v1/deliveries?status=failed").await;
            d["deliveries"].as_array().cloned().unwrap_or_default()
        },
        |d| d.len() == 1,
    )
    .await;
    let id = failed[0]["id"].as_str().unwrap().to_owned();
    rx.answer_from_now(200);
    c.find(Locator::Css(r#"header.top a[href="/manage/deliveries"]"#))
        .await
        .expect("a Deliveries link")
        .click()
        .await
        .expect("open the deliveries page");
    c.wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css(&format!(
            r#"tr[data-delivery-id="{id}"] a[href="/manage/deliveries/{id}"]"#
        )))
        .await
        .expect("the failed delivery's row")
        .click()
        .await
        .expect("open its detail");
    c.wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css(r#"form[action$="/replay"] button"#))
        .await
        .expect("the Replay button")
        .click()
        .await
        .expect("replay");
    let got = rx.wait_for(3).await;
    assert_eq!(got[2].header("webhook-id"), id);
    c.wait()
        .at_most(Duration::from_secs(5))
        .for_element(Locator::Css("p.notice"))
        .await
        .expect("the replay's notice");
    browser.screenshot("delivery.png").await;
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
