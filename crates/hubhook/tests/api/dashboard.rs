//! The dashboard's time to done (docs/ui.md, "The dashboard"), on both backends: it counts the tasks
//! finished in the last 7 days, whenever they were made, from the time each moved to done
//! (`tasks.done_at`, written with the move); a database made before that column gets it from each
//! done task's history when it is upgraded (migration 18).

use hubhook::domain::Role;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use crate::{
    helpers::{BACKEND, Backend, Hotel, TestApp, database_url, postgres, spawn_app, spawn_app_in},
    local_time::run_sql,
    operations::move_task,
    ui_support::{UiClient, add_user},
};

/// The rows `sql` reads from the test's database, each column as text (NULL as None).
fn query(app: &TestApp, sql: &str) -> Vec<Vec<Option<String>>> {
    match BACKEND {
        Backend::Sqlite => {
            let c = rusqlite::Connection::open(&app.db_path).expect("open the database");
            let mut stmt = c.prepare(sql).expect("prepare");
            let n = stmt.column_count();
            stmt.query_map([], |r| {
                (0..n)
                    .map(|i| r.get::<_, Option<String>>(i))
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .expect("query")
            .collect::<Result<_, _>>()
            .expect("rows")
        }
        Backend::Postgres => {
            let url = app.database_url();
            let schema = url.rsplit("search_path%3D").next().expect("schema");
            postgres::admin_sql(format!("SET search_path TO \"{schema}\"; {sql}")).expect("sql")
        }
    }
}

/// A task made through the API, by name; its id.
async fn made(app: &TestApp, key: &str, name: &str) -> String {
    let (s, t) = app
        .post_api(key, "/api/v1/tasks", &json!({"room": "101", "name": name}))
        .await;
    assert_eq!(s, 201, "{t}");
    t["id"].as_str().expect("id").to_owned()
}

/// The dashboard's line for a task type: its median and count (the chart's text).
fn median(minutes: &str, n: usize) -> String {
    format!("median {minutes} (n={n})")
}

#[tokio::test]
async fn a_task_finished_through_the_api_counts_in_the_time_to_done_whenever_it_was_made() {
    let app = spawn_app().await;
    let hotel = app.create_hotel("h1").await;
    let key = app.api_key(&hotel, Role::Manager).await;
    add_user(&app, &hotel, "ana@h1.test", Role::Staff).await;
    let mut ana = UiClient::signed_in(&app, "ana@h1.test").await;

    let dash = ana.get("/dashboard").await.body;
    assert!(
        dash.contains("No task was finished in this period."),
        "{dash}"
    );
    assert!(
        dash.contains("tasks finished in the last 7 days"),
        "the heading says what is counted: {dash}"
    );

    // Made and finished now, through the API.
    let towels = made(&app, &key, "Towels").await;
    move_task(&app, &key, &towels, "accepted").await;
    move_task(&app, &key, &towels, "done").await;
    // Made ten days ago, finished now: it counts (finished in the period), with its ten days.
    let pillows = made(&app, &key, "Pillows").await;
    let ten_days_ago = Timestamp::now()
        .checked_sub(SignedDuration::from_hours(240))
        .expect("ten days ago");
    run_sql(
        &app,
        &format!("UPDATE tasks SET created_at = '{ten_days_ago:.3}' WHERE id = '{pillows}'"),
    );
    move_task(&app, &key, &pillows, "done").await;
    // Finished eight days ago: outside the period.
    let blanket = made(&app, &key, "Blanket").await;
    move_task(&app, &key, &blanket, "done").await;
    let eight_days_ago = Timestamp::now()
        .checked_sub(SignedDuration::from_hours(192))
        .expect("eight days ago");
    run_sql(
        &app,
        &format!("UPDATE tasks SET done_at = '{eight_days_ago:.3}' WHERE id = '{blanket}'"),
    );
    // Cancelled, and still open: not finished.
    let iron = made(&app, &key, "Iron").await;
    move_task(&app, &key, &iron, "cancelled").await;
    made(&app, &key, "Kettle").await;

    let dash = ana.get("/dashboard").await.body;
    assert!(dash.contains(&median("&lt;1 min", 1)), "Towels: {dash}");
    assert!(dash.contains(">Towels<"), "{dash}");
    assert!(dash.contains(">Pillows<"), "{dash}");
    assert!(dash.contains(&median("14400 min", 1)), "Pillows: {dash}");
    for absent in ["Blanket", "Iron", "Kettle"] {
        assert!(!dash.contains(absent), "{absent}: {dash}");
    }
    // Today's requests: the five made today but Pillows, made ten days ago.
    assert!(dash.contains(r#"id="stat-today">4<"#), "{dash}");

    // The time is the move's, written with it: the API's history says the same.
    let (_, detail) = app.get_api(&key, &format!("/api/v1/tasks/{towels}")).await;
    let moved = detail["events"]
        .as_array()
        .expect("events")
        .iter()
        .find(|e| e["to"] == "done")
        .and_then(|e| e["at"].as_str())
        .map(str::to_owned);
    let stored = query(
        &app,
        &format!("SELECT done_at FROM tasks WHERE id = '{towels}'"),
    );
    assert_eq!(stored, vec![vec![moved]], "{detail}");
    app.stop().await;
}

/// Schema version 16 (before `tasks.done_at`), as each backend's migrations made it.
const SQLITE_V16: [&str; 16] = [
    include_str!("../../src/store/sqlite/schema_sqlite.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_2_outbox.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_3_accounts.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_4_retention.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_5_indexes.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_6_hotel_versions.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_7_accounts.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_8_ship.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_9_outbound.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_10_escalation.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_11_settings.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_12_key_owner.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_13_replay.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_14_merge.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_15_reports.sql"),
    include_str!("../../src/store/sqlite/schema_sqlite_16_assignment.sql"),
];
const POSTGRES_V16: [&str; 16] = [
    include_str!("../../src/store/schema_postgres.sql"),
    include_str!("../../src/store/schema_postgres_2_outbox.sql"),
    include_str!("../../src/store/schema_postgres_3_accounts.sql"),
    include_str!("../../src/store/schema_postgres_4_retention.sql"),
    include_str!("../../src/store/schema_postgres_5_indexes.sql"),
    include_str!("../../src/store/schema_postgres_6_hotel_versions.sql"),
    include_str!("../../src/store/schema_postgres_7_accounts.sql"),
    include_str!("../../src/store/schema_postgres_8_ship.sql"),
    include_str!("../../src/store/schema_postgres_9_outbound.sql"),
    include_str!("../../src/store/schema_postgres_10_escalation.sql"),
    include_str!("../../src/store/schema_postgres_11_settings.sql"),
    include_str!("../../src/store/schema_postgres_12_key_owner.sql"),
    include_str!("../../src/store/schema_postgres_13_replay.sql"),
    include_str!("../../src/store/schema_postgres_14_merge.sql"),
    include_str!("../../src/store/schema_postgres_15_reports.sql"),
    include_str!("../../src/store/schema_postgres_16_assignment.sql"),
];

/// A database at schema version 16 at `path` with hotel `old` and its tasks, as that version's
/// server wrote them (each move a history line), times counted back from `now`:
/// - `t-done`: made 3 h ago, accepted 2 h ago, done 1 h ago, then a note on the done task;
/// - `t-long`: done ten days ago;
/// - `t-cancelled`, `t-open`: not done;
/// - `t-bare`: done, with no history line saying when (none is written for it).
fn database_at_16(path: &std::path::Path, now: Timestamp) -> String {
    let url = database_url(path);
    let ago = |mins: i64| {
        let t = now
            .checked_sub(SignedDuration::from_mins(mins))
            .expect("a past time");
        format!("'{t:.3}'")
    };
    let task = |id: &str, name: &str, status: &str, made: i64| {
        format!(
            "INSERT INTO tasks (id, hotel_id, order_key, item_key, task_name, room, quantity,
                 status, created_at, updated_at)
             VALUES ('{id}', 'old', '{id}', 'i', '{name}', '101', 1, '{status}', {}, {});",
            ago(made),
            ago(made)
        )
    };
    let line = |id: &str, from: Option<&str>, to: &str, at: i64| {
        let from = from.map_or("NULL".to_owned(), |f| format!("'{f}'"));
        format!(
            "INSERT INTO task_events (task_id, at, actor, from_status, to_status, note)
             VALUES ('{id}', {}, 'user:ana@old.test', {from}, '{to}', NULL);",
            ago(at)
        )
    };
    let ten_days = 10 * 24 * 60;
    let mut sql = vec![
        task("t-done", "Serve towels", "done", 180),
        line("t-done", None, "open", 180),
        line("t-done", Some("open"), "accepted", 120),
        line("t-done", Some("accepted"), "done", 60),
        line("t-done", Some("done"), "done", 30),
        task("t-long", "Old request", "done", ten_days + 20),
        line("t-long", None, "open", ten_days + 20),
        line("t-long", Some("open"), "done", ten_days),
        task("t-cancelled", "Iron", "cancelled", 90),
        line("t-cancelled", None, "open", 90),
        line("t-cancelled", Some("open"), "cancelled", 80),
        task("t-open", "Kettle", "open", 70),
        line("t-open", None, "open", 70),
        task("t-bare", "Bare", "done", 50),
    ];
    let blob = match BACKEND {
        Backend::Sqlite => "zeroblob(32)",
        Backend::Postgres => "decode(repeat('00', 32), 'hex')",
    };
    sql.insert(
        0,
        format!(
            "INSERT INTO hotels (id, name, timezone, access_hash, password_hash, created_at)
             VALUES ('old', 'Old', 'UTC', {blob}, {blob}, '2025-01-01T00:00:00.000Z');"
        ),
    );
    let data = sql.join("\n");
    match BACKEND {
        Backend::Sqlite => {
            let conn = rusqlite::Connection::open(path).expect("open");
            for m in SQLITE_V16 {
                conn.execute_batch(m).expect("migration");
            }
            conn.execute_batch(&data).expect("data");
            conn.pragma_update(None, "user_version", 16)
                .expect("version");
        }
        Backend::Postgres => {
            let schema = url.rsplit("search_path%3D").next().expect("schema");
            postgres::admin_sql(format!(
                "CREATE SCHEMA \"{schema}\"; SET search_path TO \"{schema}\"; {};
                 CREATE TABLE hubhook_schema (version INTEGER NOT NULL);
                 INSERT INTO hubhook_schema (version) VALUES (16); {data}",
                POSTGRES_V16.join(";\n")
            ))
            .expect("a database at version 16");
        }
    }
    url
}

#[tokio::test]
async fn upgrading_gives_each_done_task_the_time_of_its_first_move_to_done() {
    let dir = std::sync::Arc::new(tempfile::tempdir().expect("temp dir"));
    let now = Timestamp::now();
    database_at_16(&dir.path().join("hubhook.db"), now);
    // The server migrates the database as it opens it.
    let app = spawn_app_in(dir, |_| {}).await;
    let stored = query(
        &app,
        "SELECT id, done_at FROM tasks WHERE hotel_id = 'old' ORDER BY id",
    );
    let at = |mins: i64| {
        let t = now
            .checked_sub(SignedDuration::from_mins(mins))
            .expect("a past time");
        Some(format!("{t:.3}"))
    };
    let row = |id: &str, done: Option<String>| vec![Some(id.to_owned()), done];
    assert_eq!(
        stored,
        vec![
            // No history line says when: left out, as the dashboard always left it out.
            row("t-bare", None),
            row("t-cancelled", None),
            // Its move to done, not the note written on the done task after it.
            row("t-done", at(60)),
            row("t-long", at(10 * 24 * 60)),
            row("t-open", None),
        ]
    );

    let hotel = Hotel {
        id: "old".into(),
        access: String::new(),
        password: String::new(),
    };
    add_user(&app, &hotel, "ana@old.test", Role::Staff).await;
    let mut ana = UiClient::signed_in(&app, "ana@old.test").await;
    let dash = ana.get("/dashboard").await.body;
    // Made 3 h ago, done 1 h ago; the one done ten days ago is outside the period.
    assert!(dash.contains(">Serve towels<"), "{dash}");
    assert!(dash.contains(&median("120 min", 1)), "{dash}");
    assert!(!dash.contains("Old request"), "{dash}");
    app.stop().await;
}
