//! The shift report (CONTRACT.md section 7): `GET /api/v1/reports/shift` counts each task of the
//! window as it stood at the window's end, exactly (the tasks are made and moved through the API,
//! then their moments set to known times in the database); CSV per department; managers only; bad
//! windows 400. At a shift end of the hotel (in its local time), `report.shift` carries that
//! shift's report to the subscriptions that hear it, once. Two instances on PostgreSQL:
//! tests/api_pg/shift_reports.rs; the page: ui_reports.rs; chat lines: slack.rs.

use std::time::Duration;

use hubhook::{domain::Role, store::HotelSettings};
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde_json::{Value, json};

use crate::{
    helpers::*,
    operations::{escalate_after, move_task, settings, subscribe},
    receiver::{Receiver, eventually},
};

/// Runs `sql` (several statements) on the app's database, beside the running server.
pub(crate) fn exec_sql(app: &TestApp, sql: &str) {
    match BACKEND {
        Backend::Sqlite => {
            // The server's own SQLite library, in this process: its locks are kept as they are.
            let conn = rusqlite::Connection::open(&app.db_path).expect("open the database");
            conn.busy_timeout(Duration::from_secs(5)).expect("timeout");
            conn.execute_batch(sql).expect("the SQL runs");
        }
        Backend::Postgres => {
            let url = app.database_url();
            let schema = url.rsplit("search_path%3D").next().expect("a schema");
            postgres::admin_sql(format!("SET search_path TO \"{schema}\"; {sql}"))
                .expect("the SQL runs");
        }
    }
}

/// `t` as stored.
fn stored(t: Timestamp) -> String {
    format!("{t:.3}")
}

/// `base` plus `mins` minutes.
fn plus(base: Timestamp, mins: i64) -> Timestamp {
    base.checked_add(SignedDuration::from_mins(mins)).unwrap()
}

/// Sets a task's creation (and its first history line) and the time of its move to `to`.
fn set_times(app: &TestApp, task: &str, created: Timestamp, moves: &[(&str, Timestamp)]) {
    let mut sql = format!(
        "UPDATE tasks SET created_at = '{c}', updated_at = '{c}' WHERE id = '{task}';
         UPDATE task_events SET at = '{c}' WHERE task_id = '{task}' AND from_status IS NULL;",
        c = stored(created)
    );
    for (to, at) in moves {
        let only = match *to {
            "escalated" => "note LIKE 'escalated:%'".to_owned(),
            status => format!("to_status = '{status}' AND from_status <> to_status"),
        };
        sql.push_str(&format!(
            "UPDATE task_events SET at = '{}' WHERE task_id = '{task}' AND {only};",
            stored(*at)
        ));
    }
    exec_sql(app, &sql);
}

fn id_of(v: &Value) -> String {
    v["id"]
        .as_str()
        .unwrap_or_else(|| panic!("no id: {v}"))
        .to_owned()
}

/// The report for `[from, to)` (None: the default).
async fn report(app: &TestApp, key: &str, window: Option<(Timestamp, Timestamp)>) -> Value {
    let path = match window {
        Some((f, t)) => format!("/api/v1/reports/shift?from={}&to={}", stored(f), stored(t)),
        None => "/api/v1/reports/shift".to_owned(),
    };
    let (s, body) = app.get_api(key, &path).await;
    assert_eq!(s, 200, "{body}");
    body
}

/// Five tasks moved at known minutes after `base` (three hours ago, on the minute): towels
/// accepted at 2 and done at 12; pillows done at 30 straight from open; luggage cancelled at 6;
/// towels made at 10 and accepted at 20; a lamp made by name at 15, escalated at 25 (by the
/// checker itself), still open.
pub(crate) async fn hotel_with_history(app: &TestApp) -> (String, Timestamp) {
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let (s, first) = app.webhook(&hotel, &order("o-1", "101", &["4", "6"])).await;
    assert_eq!(s, 201, "{first}");
    let (s, second) = app
        .webhook(&hotel, &order("o-2", "102", &["22", "4"]))
        .await;
    assert_eq!(s, 201, "{second}");
    let towels = id_of(&first["tasks"][0]);
    let pillows = id_of(&first["tasks"][1]);
    let luggage = id_of(&second["tasks"][0]);
    let towels2 = id_of(&second["tasks"][1]);
    move_task(app, &key, &towels, "accepted").await;
    move_task(app, &key, &towels, "done").await;
    move_task(app, &key, &pillows, "done").await;
    move_task(app, &key, &luggage, "cancelled").await;
    move_task(app, &key, &towels2, "accepted").await;

    escalate_after(app, &hotel, 1).await;
    let (s, lamp) = app
        .post_api(
            &key,
            "/api/v1/tasks",
            &json!({"room": "102", "name": "Fix the lamp"}),
        )
        .await;
    assert_eq!(s, 201, "{lamp}");
    let lamp = id_of(&lamp);
    eventually(
        "the lamp escalates",
        || async {
            let (_, t) = app.get_api(&key, &format!("/api/v1/tasks/{lamp}")).await;
            t
        },
        |t| t["escalated"] == "unaccepted",
    )
    .await;
    escalate_after(app, &hotel, 0).await;

    let now = Timestamp::now();
    let base = Timestamp::from_second((now.as_second() - 3 * 3600) / 60 * 60).unwrap();
    let m = |mins| plus(base, mins);
    set_times(app, &towels, m(0), &[("accepted", m(2)), ("done", m(12))]);
    set_times(app, &pillows, m(0), &[("done", m(30))]);
    set_times(app, &luggage, m(5), &[("cancelled", m(6))]);
    set_times(app, &towels2, m(10), &[("accepted", m(20))]);
    set_times(app, &lamp, m(15), &[("escalated", m(25))]);
    (key, base)
}

#[tokio::test]
async fn the_report_counts_each_task_as_it_stood_at_the_end_of_the_window() {
    let app = spawn_app().await;
    let (key, base) = hotel_with_history(&app).await;

    let full = report(&app, &key, Some((base, plus(base, 8 * 60)))).await;
    assert_eq!(
        full,
        json!({
            "from": stored(base),
            "to": stored(plus(base, 8 * 60)),
            "created": 5, "done": 2, "cancelled": 1, "open": 2, "escalated": 1,
            "byDepartment": [
                {"department": "Front Office", "created": 1, "done": 0, "open": 0,
                 "escalated": 0, "medianMinutesToAccept": null, "medianMinutesToDone": null,
                 "p90MinutesToDone": null},
                // Accepted after 2, 30 (done straight from open) and 10 minutes: median 10;
                // done after 12 and 30.
                {"department": "Housekeeping", "created": 3, "done": 2, "open": 1,
                 "escalated": 0, "medianMinutesToAccept": 10.0, "medianMinutesToDone": 12.0,
                 "p90MinutesToDone": 30.0},
                {"department": null, "created": 1, "done": 0, "open": 1, "escalated": 1,
                 "medianMinutesToAccept": null, "medianMinutesToDone": null,
                 "p90MinutesToDone": null}
            ],
            "byService": [
                {"externalId": "4", "name": "Serve towels", "created": 2, "done": 1,
                 "medianMinutesToDone": 12.0},
                {"externalId": null, "name": "Fix the lamp", "created": 1, "done": 0,
                 "medianMinutesToDone": null},
                {"externalId": "22", "name": "Luggage", "created": 1, "done": 0,
                 "medianMinutesToDone": null},
                {"externalId": "6", "name": "Serve pillows", "created": 1, "done": 1,
                 "medianMinutesToDone": 30.0}
            ]
        })
    );

    // The first ten minutes: the towels made at 10 are not in it (the end is excluded), the
    // towels done at 12 and the pillows done at 30 were still open at its end, the lamp not yet
    // made; the luggage was cancelled at 6.
    let early = report(&app, &key, Some((base, plus(base, 10)))).await;
    assert_eq!(
        (
            &early["created"],
            &early["done"],
            &early["cancelled"],
            &early["open"],
            &early["escalated"]
        ),
        (&json!(3), &json!(0), &json!(1), &json!(2), &json!(0)),
        "{early}"
    );
    let hk = &early["byDepartment"][1];
    assert_eq!(hk["department"], "Housekeeping", "{early}");
    assert_eq!(
        (&hk["medianMinutesToAccept"], &hk["medianMinutesToDone"]),
        (&json!(2.0), &Value::Null),
        "{early}"
    );
    // Escalated at 25: counted in a window that ends after it, not before.
    let lamp_before = report(&app, &key, Some((plus(base, 15), plus(base, 25)))).await;
    assert_eq!(
        (&lamp_before["created"], &lamp_before["escalated"]),
        (&json!(1), &json!(0))
    );
    let lamp_after = report(&app, &key, Some((plus(base, 15), plus(base, 26)))).await;
    assert_eq!(lamp_after["escalated"], 1, "{lamp_after}");

    // Without a window: the last eight hours, which hold all five.
    let recent = report(&app, &key, None).await;
    assert_eq!(recent["created"], 5, "{recent}");
    let (from, to) = (
        recent["from"]
            .as_str()
            .unwrap()
            .parse::<Timestamp>()
            .unwrap(),
        recent["to"].as_str().unwrap().parse::<Timestamp>().unwrap(),
    );
    assert_eq!(to.duration_since(from), SignedDuration::from_hours(8));
    // An offset other than Z means the same instant.
    let (s, body) = app
        .get_api(
            &key,
            &format!(
                "/api/v1/reports/shift?from={}&to={}",
                base.to_zoned(TimeZone::fixed(jiff::tz::offset(2)))
                    .strftime("%Y-%m-%dT%H:%M:%S%%2B02:00"),
                stored(plus(base, 8 * 60))
            ),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body, full);
    app.stop().await;
}

#[tokio::test]
async fn csv_has_one_row_per_department_and_staff_and_bad_windows_are_refused() {
    let app = spawn_app().await;
    let (key, base) = hotel_with_history(&app).await;
    let url = app.url(&format!(
        "/api/v1/reports/shift?from={}&to={}",
        stored(base),
        stored(plus(base, 8 * 60))
    ));
    let res = app
        .client
        .get(&url)
        .bearer_auth(&key)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let header = |name: &str| {
        res.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(header("content-type"), "text/csv; charset=utf-8");
    assert!(
        header("content-disposition").starts_with("attachment"),
        "{}",
        header("content-disposition")
    );
    assert_eq!(header("vary"), "Accept");
    assert_eq!(
        res.text().await.unwrap(),
        "department,created,done,open,escalated,medianMinutesToAccept,medianMinutesToDone,p90MinutesToDone\r\n\
         Front Office,1,0,0,0,,,\r\n\
         Housekeeping,3,2,1,0,10.0,12.0,30.0\r\n\
         ,1,0,1,1,,,\r\n"
    );
    // Asked for JSON rather than CSV: JSON.
    let res = app
        .client
        .get(&url)
        .bearer_auth(&key)
        .header("accept", "application/json, text/csv;q=0.5")
        .send()
        .await
        .unwrap();
    let (s, body) = json_of(res).await;
    assert_eq!((s, &body["created"]), (200, &json!(5)), "{body}");

    // A staff key: 403, for JSON and CSV alike.
    let hotel = Hotel {
        id: "h1".into(),
        access: String::new(),
        password: String::new(),
    };
    let staff = app.api_key(&hotel, Role::Staff).await;
    let got = app.get_api(&staff, "/api/v1/reports/shift").await;
    expect_webhook_error(&got, 403, "FORBIDDEN", "This needs a manager API key.");
    let res = app
        .client
        .get(&url)
        .bearer_auth(&staff)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    expect_webhook_error(
        &json_of(res).await,
        403,
        "FORBIDDEN",
        "This needs a manager API key.",
    );
    let got = app.get_api("hhk_nobody", "/api/v1/reports/shift").await;
    expect_webhook_error(&got, 401, "UNAUTHORIZED", "Missing or unknown API key.");

    // Bad windows: 400 when a bound is not an instant, 422 when two instants make no window the
    // report takes; the error body says what is wrong.
    let b = stored(base);
    let later = stored(plus(base, 60));
    let long = stored(plus(base, 31 * 24 * 60 + 61));
    for (query, why, status) in [
        (format!("from={b}&to={b}"), "must be before", 422),
        (format!("from={later}&to={b}"), "must be before", 422),
        (format!("from={b}&to={long}"), "at most 31 days", 422),
        ("from=2026-07-01T07:00:00".to_owned(), "RFC 3339", 400),
        ("to=yesterday".to_owned(), "RFC 3339", 400),
        ("from=".to_owned(), "RFC 3339", 400),
    ] {
        let got = app
            .get_api(&key, &format!("/api/v1/reports/shift?{query}"))
            .await;
        match status {
            400 => expect_webhook_error(&got, 400, "INVALID_REQUEST", "Invalid request."),
            _ => expect_webhook_error(
                &got,
                422,
                "UNPROCESSABLE",
                "The request cannot be carried out.",
            ),
        }
        assert!(
            got.1["details"][0].as_str().unwrap().contains(why),
            "{query}: {}",
            got.1
        );
    }
    // Exactly 31 days and an hour: fine.
    let (s, body) = app
        .get_api(
            &key,
            &format!(
                "/api/v1/reports/shift?from={b}&to={}",
                stored(plus(base, 31 * 24 * 60 + 60))
            ),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    app.stop().await;
}

/// The next minute boundary at least `lead` from now (shift ends are whole minutes).
pub(crate) fn next_minute(lead: Duration) -> Timestamp {
    let soon = Timestamp::now()
        .checked_add(SignedDuration::try_from(lead).unwrap())
        .unwrap();
    Timestamp::from_second((soon.as_second() / 60 + 1) * 60).unwrap()
}

/// `t` as a local `HH:MM` in `tz`.
pub(crate) fn hhmm(t: Timestamp, tz: &TimeZone) -> String {
    t.to_zoned(tz.clone()).strftime("%H:%M").to_string()
}

/// Sleeps until `t` (and a little more).
pub(crate) async fn sleep_until(t: Timestamp) {
    let left = t.duration_since(Timestamp::now()) + SignedDuration::from_millis(300);
    if let Ok(d) = Duration::try_from(left) {
        tokio::time::sleep(d).await;
    }
}

#[tokio::test]
async fn at_a_shift_end_its_report_goes_to_the_subscriptions_that_hear_it_once() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    let hook = Receiver::start().await;
    let chat = Receiver::start().await;
    let tasks_only = Receiver::start().await;
    subscribe(&app, &key, &hook.url, &["report.shift"]).await;
    let (s, body) = app
        .post_api(
            &key,
            "/api/v1/webhooks",
            &json!({"url": chat.url, "kind": "slack", "events": ["report.shift"]}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
    // Without explicit events, a webhook hears every task event and not the report.
    let (s, body) = app
        .post_api(&key, "/api/v1/webhooks", &json!({"url": tasks_only.url}))
        .await;
    assert_eq!(s, 201, "{body}");
    assert!(
        !body["subscription"]["events"]
            .as_array()
            .unwrap()
            .contains(&json!("report.shift"))
    );

    let (s, made) = app
        .webhook(&hotel, &order("o-1", "101", &["4", "22"]))
        .await;
    assert_eq!(s, 201, "{made}");
    move_task(
        &app,
        &key,
        made["tasks"][1]["id"].as_str().unwrap(),
        "cancelled",
    )
    .await;

    // Kathmandu is UTC+05:45: the shift ends are placed in the hotel's time, not UTC's.
    let tz = TimeZone::get("Asia/Kathmandu").unwrap();
    let end = next_minute(Duration::from_secs(3));
    let start = end.checked_sub(SignedDuration::from_hours(8)).unwrap();
    settings(
        &app,
        &hotel,
        HotelSettings {
            timezone: Some("Asia/Kathmandu".into()),
            shift_ends: Some(format!("{},{}", hhmm(end, &tz), hhmm(start, &tz))),
            ..Default::default()
        },
    )
    .await;
    sleep_until(end).await;
    let got = hook.wait_for(1).await;
    let body = got[0].json();
    assert_eq!(body["type"], "report.shift", "{body}");
    assert_eq!(body["hotelId"], "h1");
    assert!(
        !got[0].header("webhook-signature").is_empty(),
        "a webhook is signed"
    );
    let data = &body["data"];
    assert_eq!(
        (&data["from"], &data["to"]),
        (&json!(stored(start)), &json!(stored(end))),
        "{data}"
    );
    assert_eq!(
        (
            &data["created"],
            &data["done"],
            &data["cancelled"],
            &data["open"]
        ),
        (&json!(2), &json!(0), &json!(1), &json!(1)),
        "{data}"
    );
    // The same figures as the API gives for that window.
    assert_eq!(*data, report(&app, &key, Some((start, end))).await);
    let line = chat.wait_for(1).await[0].json();
    let day = |t: Timestamp| t.to_zoned(tz.clone()).strftime("%-d %b %H:%M").to_string();
    let span = match start.to_zoned(tz.clone()).date() == end.to_zoned(tz.clone()).date() {
        true => format!("{}–{}", day(start), hhmm(end, &tz)),
        false => format!("{} – {}", day(start), day(end)),
    };
    assert_eq!(
        line,
        json!({"text": format!("Shift report {span}: 2 created, 0 done, 1 cancelled, 1 open, 0 escalated")})
    );

    // Two more checks of the schedule later: still once.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(hook.received().len(), 1);
    assert_eq!(chat.received().len(), 1);
    assert!(
        tasks_only
            .received()
            .iter()
            .all(|r| r.json()["type"] != "report.shift"),
        "a subscription that did not ask for the report never gets it"
    );
    let (s, list) = app.get_api(&key, "/api/v1/deliveries?limit=500").await;
    assert_eq!(s, 200, "{list}");
    let reports: Vec<&Value> = list["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["event"] == "report.shift")
        .collect();
    assert_eq!(reports.len(), 2, "{list}");
    assert!(
        reports
            .iter()
            .all(|d| d["taskId"].is_null() && d["status"] == "delivered"),
        "{list}"
    );
    app.stop().await;
}
