//! Roles in a browser: staff are refused the manager pages and work the board by keyboard; a
//! manager subscribes to webhooks and replays a failed delivery.

use std::time::{Duration, Instant};

use fantoccini::{Locator, key::Key};
use hubhook::domain::Role;
use serde_json::json;

use super::{Browser, ONE_BROWSER};
use crate::{
    helpers::{order, spawn_app},
    outbox::quick_app,
    receiver::{Receiver, eventually},
    ui_support::add_user,
};

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
