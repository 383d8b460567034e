//! Local time on the pages (CONTRACT.md section 6), on both backends: the dashboard's "today" and
//! its hours are the hotel's calendar day and wall clock, not UTC's; the task page shows the
//! hotel's time; the API keeps RFC 3339 UTC. (The board's requested and due times in local time:
//! tests/api/operations.rs.)

use hubhook::domain::Role;
use jiff::{SignedDuration, Timestamp, tz::TimeZone};
use serde_json::json;

use crate::{
    helpers::{Backend, TestApp, postgres},
    operations::settings,
    ui_support::{UiClient, add_user},
};

/// Runs `sql` on the test's database, beside the server (a task made at a chosen time).
pub(crate) fn run_sql(app: &TestApp, sql: &str) {
    match crate::helpers::BACKEND {
        Backend::Sqlite => {
            let c = rusqlite::Connection::open(&app.db_path).expect("open the database");
            c.busy_timeout(std::time::Duration::from_secs(5))
                .expect("busy timeout");
            c.execute_batch(sql).expect("sql");
        }
        Backend::Postgres => {
            let url = app.database_url();
            let schema = url.rsplit("search_path%3D").next().expect("schema");
            postgres::admin_sql(format!("SET search_path TO \"{schema}\"; {sql}")).expect("sql");
        }
    }
}

/// The dashboard's bar for local hour `h`, as its title says it.
fn bar(h: i8, n: u32) -> String {
    format!("<title>{h:02}:00: {n} request(s)</title>")
}

#[tokio::test]
async fn the_dashboards_today_and_hours_are_the_hotels_and_the_api_stays_utc() {
    let app = crate::helpers::spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    // Fourteen hours ahead of UTC: the hotel's day and UTC's overlap by ten hours only.
    let tz_name = "Pacific/Kiritimati";
    let tz = TimeZone::get(tz_name).unwrap();
    let s = hubhook::store::HotelSettings {
        timezone: Some(tz_name.into()),
        ..Default::default()
    };
    settings(&app, &hotel, s).await;

    // Two tasks made now, and two more moved to just before and just after the hotel's midnight:
    // whatever the time of day, a UTC "today" would count one of those two wrongly.
    let now = Timestamp::now();
    let midnight = now.to_zoned(tz.clone()).start_of_day().unwrap().timestamp();
    let before = midnight.checked_sub(SignedDuration::from_mins(30)).unwrap();
    let after = midnight.checked_add(SignedDuration::from_mins(30)).unwrap();
    let (mut ids, mut made) = (Vec::new(), Vec::new());
    for n in 0..4 {
        let (s, t) = app
            .post_api(
                &key,
                "/api/v1/tasks",
                &json!({"room": "101", "name": format!("Task {n}")}),
            )
            .await;
        assert_eq!(s, 201, "{t}");
        // The API speaks UTC.
        let created = t["createdAt"].as_str().unwrap();
        assert!(created.ends_with('Z'), "{created}");
        ids.push(t["id"].as_str().unwrap().to_owned());
        made.push(created.parse::<Timestamp>().unwrap());
    }
    for (id, at) in [(&ids[2], before), (&ids[3], after)] {
        run_sql(
            &app,
            &format!(
                "UPDATE tasks SET created_at = '{at:.3}', updated_at = '{at:.3}' WHERE id = '{id}'"
            ),
        );
    }
    let hour_now = made[0].to_zoned(tz.clone()).hour();
    let mut ana = UiClient::signed_in(&app, "ana@h1.test").await;
    let dash = ana.get("/dashboard").await.body;
    assert!(dash.contains(r#"id="stat-today">3<"#), "{dash}");
    assert!(dash.contains(&format!("({tz_name})")), "{dash}");
    // The two made now in this local hour, the one after midnight at 00 (the same bar when it is
    // now past midnight's hour too).
    if hour_now == 0 {
        assert!(dash.contains(&bar(0, 3)), "{dash}");
    } else {
        assert!(dash.contains(&bar(hour_now, 2)), "{dash}");
        assert!(dash.contains(&bar(0, 1)), "{dash}");
    }

    // The task page: local times (the day shown, as it is not today there).
    let page = ana.get(&format!("/tasks/{}", ids[2])).await.body;
    let local = before
        .to_zoned(tz.clone())
        .strftime("%-d %b %H:%M")
        .to_string();
    assert!(page.contains(&local), "{local}: {page}");
    assert!(local.ends_with("23:30"), "{local}");
    app.stop().await;
}
