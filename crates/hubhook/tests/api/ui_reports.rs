//! The `/reports` page in a real browser (as ui_browser/): a manager sees the shift under way by
//! default, picks a window in the hotel's local time and reads the same figures as the API, with
//! its charts; the CSV link gives the API's CSV; staff get 403.

use std::time::{Duration, Instant};

use fantoccini::Locator;
use hubhook::{domain::Role, store::HotelSettings};
use jiff::{SignedDuration, Timestamp, civil::Time, tz::TimeZone};
use serde_json::json;

use crate::{
    helpers::{Hotel, spawn_app},
    operations::settings,
    reports::hotel_with_history,
    ui_browser::{Browser, ONE_BROWSER},
    ui_support::{UiClient, add_user},
};

/// `t` as a `datetime-local` field holds it in `tz`.
fn field(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone())
        .strftime("%Y-%m-%dT%H:%M")
        .to_string()
}

/// The last of 07:00, 15:00 and 23:00 (in `tz`) at or before `now`.
fn last_shift_end(now: Timestamp, tz: &TimeZone) -> Timestamp {
    let today = now.to_zoned(tz.clone()).date();
    [today, today.yesterday().unwrap()]
        .into_iter()
        .flat_map(|d| {
            [23, 15, 7].map(|h| {
                d.to_datetime(Time::constant(h, 0, 0, 0))
                    .to_zoned(tz.clone())
                    .unwrap()
                    .timestamp()
            })
        })
        .find(|t| *t <= now)
        .unwrap()
}

#[tokio::test]
async fn a_manager_reads_the_shift_report_in_local_time_with_its_charts() {
    let _one = ONE_BROWSER.lock().await;
    let app = spawn_app().await;
    let (_key, base) = hotel_with_history(&app).await;
    let hotel = Hotel {
        id: "h1".into(),
        access: String::new(),
        password: String::new(),
    };
    settings(
        &app,
        &hotel,
        HotelSettings {
            timezone: Some("Asia/Kathmandu".into()),
            shift_ends: Some("07:00,15:00,23:00".into()),
            ..Default::default()
        },
    )
    .await;
    add_user(&app, &hotel, "boss@h1.test", Role::Manager).await;
    add_user(&app, &hotel, "sam@h1.test", Role::Staff).await;
    // UTC+05:45: no time shown in UTC would pass for local.
    let tz = TimeZone::get("Asia/Kathmandu").unwrap();

    // Staff: no link, and 403 on the page and the CSV.
    let mut sam = UiClient::signed_in(&app, "sam@h1.test").await;
    assert!(!sam.get("/board").await.body.contains(r#"href="/reports""#));
    assert_eq!(sam.get("/reports").await.status, 403);
    assert_eq!(sam.get("/reports/shift.csv").await.status, 403);

    let Some(browser) = Browser::start(1280, 1000).await else {
        app.stop().await;
        return;
    };
    let c = &browser.client;
    browser.login(&app, "boss@h1.test").await;
    c.find(Locator::Css(r#"nav a[href="/reports"]"#))
        .await
        .expect("a Reports link for managers")
        .click()
        .await
        .expect("click");
    let from = c
        .find(Locator::Css("input[name=from]"))
        .await
        .expect("the from field");
    let shown = from.prop("value").await.expect("value").unwrap_or_default();
    assert_eq!(
        shown,
        field(last_shift_end(Timestamp::now(), &tz), &tz),
        "by default, the shift under way, from its start in the hotel's time"
    );
    let label = c
        .find(Locator::Css("form.report-window label"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(label.contains("Asia/Kathmandu"), "{label}");

    // Pick the three hours' history, in local time, and show it.
    let (start, end) = (
        field(base, &tz),
        field(
            base.checked_add(SignedDuration::from_hours(8)).unwrap(),
            &tz,
        ),
    );
    c.execute(
        "document.querySelector('input[name=from]').value = arguments[0];
         document.querySelector('input[name=to]').value = arguments[1];
         return true;",
        vec![json!(start), json!(end)],
    )
    .await
    .expect("set the window");
    c.find(Locator::Css("form.report-window button[type=submit]"))
        .await
        .expect("Show")
        .click()
        .await
        .expect("click");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let url = c.current_url().await.expect("url");
        if url.query().is_some_and(|q| q.contains("from=")) {
            break;
        }
        assert!(Instant::now() < deadline, "the form was not sent: {url}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = |css: &'static str| async move {
        c.find(Locator::Css(css))
            .await
            .unwrap_or_else(|_| panic!("{css}"))
            .text()
            .await
            .unwrap()
    };
    assert_eq!(text("#report-created").await, "5");
    assert_eq!(text("#report-done").await, "2");
    assert_eq!(text("#report-cancelled").await, "1");
    assert_eq!(text("#report-open").await, "2");
    assert_eq!(text("#report-escalated").await, "1");
    let value = c
        .find(Locator::Css("input[name=to]"))
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some(end.as_str()), "the window is kept");
    let row = text(r#"tr[data-department="Housekeeping"]"#).await;
    assert_eq!(row, "Housekeeping 3 2 1 0 10.0 min 12.0 min 30.0 min");
    let row = text(r#"tr[data-service="Serve towels"]"#).await;
    assert_eq!(row, "Serve towels 4 2 1 12.0 min");
    for chart in ["svg#chart-status", "svg#chart-times"] {
        let svg = c.find(Locator::Css(chart)).await.expect(chart);
        let rects = svg.find_all(Locator::Css("rect")).await.expect("bars");
        assert!(!rects.is_empty(), "{chart} has bars");
    }
    browser.screenshot("reports.png").await;

    // The CSV link: the API's CSV of the same window.
    let href = c
        .find(Locator::Id("report-csv"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .expect("href");
    browser.close().await;
    let mut boss = UiClient::signed_in(&app, "boss@h1.test").await;
    let csv = boss.get(&href).await;
    assert_eq!(csv.status, 200, "{}", csv.body);
    assert_eq!(
        csv.headers.get("content-type").unwrap(),
        "text/csv; charset=utf-8"
    );
    assert!(
        csv.body
            .contains("\r\nHousekeeping,3,2,1,0,10.0,12.0,30.0\r\n"),
        "{}",
        csv.body
    );
    // A window the page cannot read: 400, saying why.
    let bad = boss.get("/reports?from=noon").await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("is not a date and time"), "{}", bad.body);
    app.stop().await;
}
