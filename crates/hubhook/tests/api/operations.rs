//! Hotel operations (CONTRACT.md section 6): departments and service levels (also for hotels made
//! before them), due times (a bare `HH:MM` is its next occurrence), the department and overdue
//! filters, the board's "Later" column, escalation badge and local times, the settings page.
//! Escalation itself and `hubhook hotel set`: escalation.rs.

use hubhook::{
    domain::{HotelId, Role},
    store::HotelSettings,
};
use jiff::{SignedDuration, Timestamp, ToSpan, tz::TimeZone};
use serde_json::{Value, json};

use crate::{
    helpers::*,
    receiver::eventually,
    ui_support::{UiClient, add_user},
};

pub(crate) fn hotel_id(hotel: &Hotel) -> HotelId {
    HotelId::parse(&hotel.id).unwrap()
}

pub(crate) async fn settings(app: &TestApp, hotel: &Hotel, s: HotelSettings) {
    app.store.update_hotel(&hotel_id(hotel), s).await.unwrap();
}

pub(crate) async fn escalate_after(app: &TestApp, hotel: &Hotel, secs: u32) {
    let s = HotelSettings {
        escalate_after_secs: Some(secs),
        ..Default::default()
    };
    settings(app, hotel, s).await;
}

pub(crate) async fn subscribe(app: &TestApp, key: &str, url: &str, events: &[&str]) {
    let (s, body) = app
        .post_api(
            key,
            "/api/v1/webhooks",
            &json!({"url": url, "events": events}),
        )
        .await;
    assert_eq!(s, 201, "{body}");
}

pub(crate) async fn task(app: &TestApp, key: &str, id: &str) -> Value {
    let (s, t) = app.get_api(key, &format!("/api/v1/tasks/{id}")).await;
    assert_eq!(s, 200, "{t}");
    t
}

pub(crate) async fn move_task(app: &TestApp, key: &str, id: &str, to: &str) {
    let (s, body) = app
        .post_api(
            key,
            &format!("/api/v1/tasks/{id}/status"),
            &json!({"status": to}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
}

pub(crate) fn at(raw: &Value) -> Timestamp {
    raw.as_str()
        .unwrap_or_else(|| panic!("not a time: {raw}"))
        .parse()
        .unwrap()
}

/// The real binary on the app's database; the exit status, stdout and stderr.
pub(crate) async fn cli(app: &TestApp, args: &[&str]) -> (bool, String, String) {
    let mut cmd = app.cli();
    cmd.args(args);
    let out = tokio::task::spawn_blocking(move || cmd.output())
        .await
        .unwrap()
        .expect("the hubhook binary runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn tasks_filter_by_department_and_overdue() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    let (s, body) = app
        .webhook(&hotel, &order("o-1", "101", &["4", "22", "11", "23"]))
        .await;
    assert_eq!(s, 201, "{body}");
    let mut late = order("o-2", "102", &["6"]);
    late["resource"]["order"]["deliveryTime"] = json!("2020-01-01T10:00:00Z");
    let (s, body) = app.webhook(&hotel, &late).await;
    assert_eq!(s, 201, "{body}");
    let late_id = body["tasks"][0]["id"].as_str().unwrap().to_owned();

    let names = |query: &'static str| {
        let app = &app;
        let key = &key;
        async move {
            let (s, body) = app.get_api(key, &format!("/api/v1/tasks{query}")).await;
            assert_eq!(s, 200, "{query}: {body}");
            body["tasks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["taskName"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(
        names("?department=Housekeeping").await,
        ["Serve pillows", "Serve towels"]
    );
    assert_eq!(names("?department=Front%20Office").await, ["Luggage"]);
    assert_eq!(
        names("?department=Food%20%26%20Beverage").await,
        ["Ice bucket"]
    );
    assert_eq!(
        names("?department=Maintenance&room=101").await,
        ["Taps purge"]
    );
    assert!(names("?department=Spa").await.is_empty());
    assert_eq!(names("?overdue=true").await, ["Serve pillows"]);
    assert_eq!(names("?overdue=false").await.len(), 5);
    assert!(
        names("?overdue=true&department=Front%20Office")
            .await
            .is_empty()
    );
    assert_eq!(
        names("?overdue=true&department=Housekeeping&status=open").await,
        ["Serve pillows"]
    );
    // Paged like any list.
    let (_, first) = app
        .get_api(&key, "/api/v1/tasks?department=Housekeeping&limit=1")
        .await;
    let next = first["next"].as_str().expect("a next page").to_owned();
    let (_, second) = app
        .get_api(
            &key,
            &format!("/api/v1/tasks?department=Housekeeping&limit=1&cursor={next}"),
        )
        .await;
    assert_eq!(second["tasks"][0]["taskName"], "Serve towels", "{second}");
    assert_eq!(second["next"], Value::Null);

    let (s, body) = app.get_api(&key, "/api/v1/tasks?overdue=maybe").await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(body["code"], "INVALID_REQUEST", "{body}");
    // Done: no longer overdue.
    move_task(&app, &key, &late_id, "done").await;
    assert!(names("?overdue=true").await.is_empty());
    app.stop().await;
}

/// The hotel-local date and time `shift` away from now, to the minute.
fn local_minute(tz: &TimeZone, shift: SignedDuration) -> jiff::civil::DateTime {
    let z = Timestamp::now()
        .checked_add(shift)
        .unwrap()
        .to_zoned(tz.clone());
    z.datetime()
        .with()
        .second(0)
        .subsec_nanosecond(0)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_bare_local_time_is_its_next_occurrence_in_the_hotels_timezone() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let tz_name = "Asia/Tokyo";
    let tz = TimeZone::get(tz_name).unwrap();
    let s = HotelSettings {
        timezone: Some(tz_name.into()),
        ..Default::default()
    };
    settings(&app, &hotel, s).await;
    // Two hours ago on the hotel's clock is tomorrow's; two hours ahead is that time (today, or
    // tomorrow after midnight): either way, the next time the clock shows it.
    for (n, (shift, days)) in [(-2, 1), (2, 0)].into_iter().enumerate() {
        let when = local_minute(&tz, SignedDuration::from_hours(shift));
        let hhmm = format!("{:02}:{:02}", when.hour(), when.minute());
        let mut body = order(&format!("o-{n}"), "101", &["4"]);
        body["resource"]["order"]["deliveryTime"] = json!(hhmm);
        let (s, answer) = app.webhook(&hotel, &body).await;
        assert_eq!(s, 201, "{answer}");
        let want = when
            .checked_add(days.days())
            .unwrap()
            .to_zoned(tz.clone())
            .unwrap()
            .timestamp();
        let t = &answer["tasks"][0];
        assert_eq!(at(&t["scheduledFor"]), want, "{hhmm}: {t}");
        assert_eq!(t["dueAt"], t["scheduledFor"], "{t}");
    }
    app.stop().await;
}

/// The card of `id` in a board page: from its `<article` to the next one.
fn card<'a>(board: &'a str, id: &str) -> &'a str {
    let at = board
        .find(&format!(r#"data-task-id="{id}""#))
        .unwrap_or_else(|| panic!("no card {id} in {board}"));
    let start = board[..at].rfind("<article").unwrap();
    let end = board[at..]
        .find("</article>")
        .map(|e| at + e)
        .unwrap_or(board.len());
    &board[start..end]
}

/// The column (`data-column`) the card of `id` is in.
fn column_of<'a>(board: &'a str, id: &str) -> &'a str {
    let at = board.find(&format!(r#"data-task-id="{id}""#)).unwrap();
    let marker = r#"data-column=""#;
    let start = board[..at].rfind(marker).unwrap() + marker.len();
    let end = board[start..].find('"').unwrap() + start;
    &board[start..end]
}

/// How the pages show an instant in the hotel's timezone: the time today, else the date too.
fn local_label(ts: Timestamp, tz: &TimeZone) -> String {
    let z = ts.to_zoned(tz.clone());
    if z.date() == Timestamp::now().to_zoned(tz.clone()).date() {
        z.strftime("%H:%M").to_string()
    } else {
        z.strftime("%-d %b %H:%M").to_string()
    }
}

#[tokio::test]
async fn the_board_keeps_requests_for_later_and_shows_escalations_in_local_time() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Staff).await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    let tz_name = "America/New_York";
    let tz = TimeZone::get(tz_name).unwrap();
    let s = HotelSettings {
        timezone: Some(tz_name.into()),
        escalate_after_secs: Some(1),
        ..Default::default()
    };
    settings(&app, &hotel, s).await;

    let mut ids = Vec::new();
    for (n, ahead) in [180, 40].into_iter().enumerate() {
        let when = Timestamp::now()
            .checked_add(SignedDuration::from_mins(ahead))
            .unwrap();
        let mut body = order(&format!("o-{n}"), "101", &["12"]);
        body["resource"]["order"]["deliveryTime"] = json!(when.to_string());
        let (s, answer) = app.webhook(&hotel, &body).await;
        assert_eq!(s, 201, "{answer}");
        ids.push((
            answer["tasks"][0]["id"].as_str().unwrap().to_owned(),
            at(&answer["tasks"][0]["scheduledFor"]),
        ));
    }
    // Both escalate (nobody accepts them): wait for it through the API.
    for (id, _) in &ids {
        eventually(
            "escalated",
            || task(&app, &key, id),
            |t| t["escalated"] == "unaccepted",
        )
        .await;
    }

    let mut ana = UiClient::signed_in(&app, "ana@h1.test").await;
    let board = ana.get("/board").await.body;
    // Three hours ahead: under "Later"; forty minutes ahead is no appointment: open.
    assert_eq!(column_of(&board, &ids[0].0), "later", "{board}");
    assert_eq!(column_of(&board, &ids[1].0), "open", "{board}");
    assert!(board.contains(r#"aria-label="Later""#), "{board}");
    for (id, when) in &ids {
        let c = card(&board, id);
        assert!(c.contains(r#"data-escalated="unaccepted""#), "{c}");
        assert!(c.contains("Escalated: Not accepted in time"), "{c}");
        let local = format!("requested for {}", local_label(*when, &tz));
        assert!(c.contains(&local), "{local}: {c}");
    }
    // Filtered to the Later column only.
    let later = ana.get("/board/cards?status=later").await.body;
    assert!(
        later.contains(&ids[0].0) && !later.contains(&ids[1].0),
        "{later}"
    );

    let page = ana.get(&format!("/tasks/{}", ids[0].0)).await.body;
    assert!(page.contains(r#"data-escalated="unaccepted""#), "{page}");
    assert!(page.contains("escalated: not accepted within 1s"), "{page}");
    let local = local_label(ids[0].1, &tz);
    assert!(
        page.contains(&local),
        "the requested time, local ({local}): {page}"
    );
    app.stop().await;
}

fn settings_form<'a>(csrf: &'a str, escalate_after: &'a str) -> [(&'static str, &'a str); 4] {
    [
        ("csrf", csrf),
        ("name", "Hotel h1"),
        ("timezone", "UTC"),
        ("escalate_after", escalate_after),
    ]
}

#[tokio::test]
async fn a_manager_sets_escalate_after_on_the_settings_page() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    add_user(&app, &hotel, "max@h1.test", Role::Manager).await;
    let mut max = UiClient::signed_in(&app, "max@h1.test").await;
    let page = max.get("/manage/settings").await;
    assert!(
        page.body
            .contains(r#"name="escalate_after" required value="10m""#),
        "{}",
        page.body
    );
    let csrf = max.csrf().await;
    let res = max
        .post("/manage/settings", &settings_form(&csrf, "90s"))
        .await;
    assert_eq!(res.status, 303, "{}", res.body);
    let (_, list, _) = cli(&app, &["hotel", "list", "--json"]).await;
    let list: Value = serde_json::from_str(&list).unwrap();
    assert_eq!(list[0]["escalateAfter"], "90s", "{list}");
    assert_eq!(
        app.store
            .hotel_facts("h1")
            .await
            .unwrap()
            .unwrap()
            .escalate_after_secs,
        Some(90)
    );

    let res = max
        .post("/manage/settings", &settings_form(&csrf, "whenever"))
        .await;
    assert_eq!(res.status, 400, "{}", res.body);
    assert!(res.body.contains("escalate after"), "{}", res.body);
    app.stop().await;
}

/// Schema version 7 (before this feature), as each backend's migrations made it.
const SQLITE_V7: [&str; 7] = [
    include_str!("../../src/store/sqlite/schema_sqlite.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_2_outbox.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_3_accounts.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_4_retention.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_5_indexes.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_6_hotel_versions.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_7_accounts.sql"),
];
const POSTGRES_V7: [&str; 7] = [
    include_str!("../../src/store/schema_postgres.sql"),
    include_str!("../../src/store/schema_postgres_2_outbox.sql"),
    include_str!("../../src/store/schema_postgres_3_accounts.sql"),
    include_str!("../../src/store/schema_postgres_4_retention.sql"),
    include_str!("../../src/store/schema_postgres_5_indexes.sql"),
    include_str!("../../src/store/schema_postgres_6_hotel_versions.sql"),
    include_str!("../../src/store/schema_postgres_7_accounts.sql"),
];

/// A database at schema version 7 with hotel `old`, whose catalog is the default one without
/// departments or service levels, but for: 22 renamed by the hotel (its own service now), 4 with a
/// department of the hotel's own and no SLA, 26 with an SLA of its own and no department.
fn database_before_departments(path: &std::path::Path) -> String {
    let url = database_url(path);
    let mut rows = Vec::new();
    for (id, name) in [
        ("2", "Change bed sheets"),
        ("3", "Request cleaning"),
        ("11", "Taps purge"),
        ("16", "Room service tray"),
    ] {
        rows.push(format!("('old', '{id}', '{name}', NULL, NULL)"));
    }
    rows.push("('old', '22', 'Spa booking', NULL, NULL)".into());
    rows.push("('old', '4', 'Serve towels', 'Linen room', NULL)".into());
    rows.push("('old', '26', 'Security', NULL, 3)".into());
    let (blob, v7) = match BACKEND {
        Backend::Sqlite => ("zeroblob(32)", SQLITE_V7),
        Backend::Postgres => ("decode(repeat('00', 32), 'hex')", POSTGRES_V7),
    };
    let data = format!(
        "INSERT INTO hotels (id, name, timezone, access_hash, password_hash, created_at)
         VALUES ('old', 'Old', 'UTC', {blob}, {blob}, '2025-01-01T00:00:00.000Z');
         INSERT INTO catalog (hotel_id, external_id, name, department, sla_minutes) VALUES {};",
        rows.join(", ")
    );
    match BACKEND {
        Backend::Sqlite => {
            let conn = rusqlite::Connection::open(path).unwrap();
            for m in v7 {
                conn.execute_batch(m).unwrap();
            }
            conn.execute_batch(&data).unwrap();
            conn.pragma_update(None, "user_version", 7).unwrap();
        }
        Backend::Postgres => {
            let schema = url.rsplit("search_path%3D").next().unwrap().to_owned();
            let sql = format!(
                "CREATE SCHEMA \"{schema}\"; SET search_path TO \"{schema}\"; {};
                 CREATE TABLE hubhook_schema (version INTEGER NOT NULL);
                 INSERT INTO hubhook_schema (version) VALUES (7); {data}",
                v7.join(";\n")
            );
            postgres::admin_sql(sql).unwrap();
        }
    }
    url
}

#[tokio::test]
async fn hotels_made_before_departments_get_the_defaults_where_their_entries_have_none() {
    let dir = tempfile::tempdir().unwrap();
    let url = database_before_departments(&dir.path().join("old.db"));
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_hubhook"))
            .args(args)
            .env("HUBHOOK_DATABASE_URL", &url)
            .env_remove("HUBHOOK_CONFIG")
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let catalog = run(&["catalog", "list", "old", "--json"]);
    let entry = |id: &str| {
        let e = catalog
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["externalId"] == id)
            .unwrap_or_else(|| panic!("{id} in {catalog}"))
            .clone();
        (
            e["name"].clone(),
            e["department"].clone(),
            e["slaMinutes"].clone(),
        )
    };
    let e = |name: &str, dep: Option<&str>, sla: Option<u32>| (json!(name), json!(dep), json!(sla));
    assert_eq!(
        entry("2"),
        e("Change bed sheets", Some("Housekeeping"), Some(45))
    );
    assert_eq!(
        entry("3"),
        e("Request cleaning", Some("Housekeeping"), Some(60))
    );
    assert_eq!(entry("11"), e("Taps purge", Some("Maintenance"), Some(60)));
    assert_eq!(
        entry("16"),
        e("Room service tray", Some("Food & Beverage"), Some(15))
    );
    assert_eq!(
        entry("22"),
        e("Spa booking", None, None),
        "the hotel's own service"
    );
    assert_eq!(
        entry("4"),
        e("Serve towels", Some("Linen room"), Some(20)),
        "its own kept"
    );
    assert_eq!(
        entry("26"),
        e("Security", Some("Security"), Some(3)),
        "its own kept"
    );
    let hotels = run(&["hotel", "list", "--json"]);
    assert_eq!(hotels[0]["escalateAfter"], "10m", "{hotels}");

    // A hotel made now starts with them all.
    run(&["hotel", "create", "--name", "New", "--id", "new", "--json"]);
    let catalog = run(&["catalog", "list", "new", "--json"]);
    let all = catalog.as_array().unwrap();
    assert_eq!(all.len(), 25);
    assert!(
        all.iter()
            .all(|e| e["department"].is_string() && e["slaMinutes"].is_u64()),
        "{catalog}"
    );
}
