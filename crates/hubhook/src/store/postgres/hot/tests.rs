//! The plan test of the webhook path's statements (and the board's): each reads through an index
//! that matches it, never a hotel's history.

use serde_json::Value;
use tokio_postgres::Client;

use super::*;
use crate::store::postgres::plan_check::{drop_schema, naming_big, plan, scratch};

/// Why a plan node reads a hotel's rows (or a whole table), if it does.
fn scan(node: &Value) -> Option<String> {
    let kind = node["Node Type"].as_str().unwrap_or_default();
    let table = node["Relation Name"].as_str().unwrap_or_default();
    let index = node["Index Name"].as_str().unwrap_or_default();
    if kind == "Seq Scan" && !SMALL_TABLES.contains(&table) {
        return Some(format!("Seq Scan on {table}"));
    }
    if HOTEL_RANGE_INDEXES.contains(&index) {
        return Some(format!("{kind} using {index} (a hotel's history)"));
    }
    None
}

/// What is wrong with a board statement's plan: a scan of the hotel's tasks or the whole
/// column (a sequential or bitmap scan, a full sort), or a column read through another index
/// than its own.
fn board_problems(name: &str, nodes: &[Value]) -> Vec<String> {
    // A user's or a room's tasks on the board are few: read whole through their index and
    // sorted is as good as a column's range (a department's are not).
    let scope_index = if name.contains("room") || name.contains("floor") {
        Some("tasks_board_room")
    } else if name.contains("mine") {
        Some("tasks_board_assignee")
    } else {
        None
    };
    let column_index = if name.contains("later") {
        "tasks_later"
    } else if name.contains("finished") {
        "tasks_finished"
    } else if let Some(i) = scope_index {
        i
    } else if name.contains("department") {
        "tasks_board_department"
    } else {
        "tasks_board"
    };
    let used = |i: &str| nodes.iter().any(|n| n["Index Name"].as_str() == Some(i));
    let few = scope_index.is_some_and(used);
    let mut out: Vec<String> = nodes.iter().filter_map(scan).collect();
    for n in nodes {
        let kind = n["Node Type"].as_str().unwrap_or_default();
        if kind.starts_with("Bitmap") && !few {
            out.push(format!(
                "{kind} (reads every matching row before the limit)"
            ));
        }
        if kind == "Sort" && !few {
            out.push("Sort (reads the whole column)".to_owned());
        }
    }
    if !used(column_index) && !few {
        out.push(format!("not read through {column_index}"));
    }
    out
}

/// A statement's arguments as SQL literals.
fn literals(st: &crate::store::board_sql::Statement) -> Vec<String> {
    use crate::store::board_sql::Arg;
    st.args
        .iter()
        .map(|a| match a {
            Arg::Text(t) => format!("'{}'", t.replace('\'', "''")),
            Arg::Int(n) => n.to_string(),
        })
        .collect()
}

/// The scans of `sql`'s plan: generic (every parameter NULL), or custom with every text
/// parameter naming the hotel with the long history.
async fn scans(c: &Client, sql: &str, generic: bool) -> Vec<String> {
    let args = naming_big(c, sql, generic).await;
    plan(c, sql, generic, &args)
        .await
        .iter()
        .filter_map(scan)
        .collect()
}

/// The indexes `sql`'s plan reads (generic, or custom naming the hotel with the long history).
async fn indexes(c: &Client, sql: &str, generic: bool) -> Vec<String> {
    let args = naming_big(c, sql, generic).await;
    plan(c, sql, generic, &args)
        .await
        .iter()
        .filter_map(|n| n["Index Name"].as_str().map(str::to_owned))
        .collect()
}

const SEED: &str = "
    INSERT INTO hotels (id, name, timezone, access_hash, password_hash, created_at)
    SELECT h, h, 'UTC', '\\x00', '\\x00', 't'
    FROM (SELECT 'big' UNION ALL SELECT 'h' || i FROM generate_series(0, 999) i) AS s(h);
    INSERT INTO tasks (id, hotel_id, order_key, item_key, task_name, room, quantity, status,
        created_at, updated_at)
    SELECT 'tsk_' || i, CASE WHEN i <= 100000 THEN 'big' ELSE 'h' || (i % 1000) END,
           'o' || (i / 2), 'i' || (i % 2), 'Towels', '101', 1, 'open', 't', 't'
    FROM generate_series(1, 120000) i;
    INSERT INTO orders (hotel_id, order_key, state, created_at)
    SELECT DISTINCT hotel_id, order_key, 'created', 't' FROM tasks;
    INSERT INTO task_events (task_id, at, actor, to_status)
    SELECT id, 't', 'duve', 'open' FROM tasks;
    INSERT INTO inbound (hotel_id, received_at, code, details, task_ids, body, duration_us)
    SELECT hotel_id, 't', 'created', '[]', '[]', '{}', 1 FROM orders;
    INSERT INTO reservations (hotel_id, reservation_id, updated_at)
    SELECT hotel_id, order_key, 't' FROM orders;
    INSERT INTO subscriptions (id, hotel_id, kind, url, events, headers, created_at)
    SELECT 'sub_' || h.id || '_' || n, h.id, 'webhook', 'https://example.com', 'task.created',
           '[]', 't'
    FROM hotels h, generate_series(1, 2) n;
    INSERT INTO deliveries (id, hotel_id, subscription_id, task_id, event, payload, status,
        created_at, updated_at)
    SELECT 'msg_' || t.id, t.hotel_id, 'sub_' || t.hotel_id || '_1', t.id, 'task.created',
           '{}', 'delivered', 't', 't'
    FROM tasks t;
    -- This schema's tables only: a bare ANALYZE would lock every table of the database.
    ANALYZE hotels, tasks, orders, task_events, inbound, reservations, subscriptions,
        deliveries;";

#[tokio::test]
async fn every_webhook_statement_uses_an_index_that_matches_it() {
    let (store, c, schema) = scratch("plans").await;
    drop(store);
    c.batch_execute(SEED).await.expect("seed");
    let mut bad = Vec::new();
    for generic in [true, false] {
        for (name, sql) in HOT_PATH_STATEMENTS {
            for s in scans(&c, sql, generic).await {
                bad.push(format!(
                    "{name} ({}): {s}",
                    if generic { "generic" } else { "custom" }
                ));
            }
        }
    }
    // The task list's department and overdue filters read through their own indexes.
    // `assignee=none` is left to the planner, as `status=` and `room=` are: unassigned tasks
    // are the newest (every task is made without an assignee), and PostgreSQL reads them in
    // order through `tasks_by_hotel` (an `IS NULL` does not give it `tasks_by_assignee`'s order).
    let email = crate::store::AssigneeFilter::Email("a@b".into());
    for (department, overdue, assignee) in [
        (true, false, None),
        (false, true, None),
        (true, true, None),
        (false, false, Some(&email)),
    ] {
        let sql = super::super::tasks::list_sql(department, overdue, assignee);
        for generic in [true, false] {
            for s in scans(&c, &sql, generic).await {
                bad.push(format!(
                    "list (department {department}, overdue {overdue}, {assignee:?}): {s}"
                ));
            }
        }
    }
    // A new order finds its merge slot's holder through the slot's own index, whatever else
    // the hotel has open.
    for generic in [true, false] {
        let used = indexes(&c, SLOT_HOLDER, generic).await;
        if !used.iter().any(|i| i == "tasks_merge_slot") {
            bad.push(format!("SLOT_HOLDER (generic {generic}): reads {used:?}"));
        }
    }
    // The board: each column a page at a time and its capped counts, through its own index,
    // on a hotel with 100,000 open tasks (a few assigned, a fifth in another department).
    c.batch_execute(
        "UPDATE tasks SET board_at = '2026-01-01T00:00:00.000Z',
             due_at = '2026-01-01T00:00:00.000Z',
             department = CASE WHEN seq % 5 = 0 THEN 'Maintenance' ELSE 'Housekeeping' END,
             assignee_id = CASE WHEN seq % 50 = 0 THEN 'usr_' || (seq % 7) END,
             room = (100 + seq % 300)::text;
         INSERT INTO rooms (hotel_id, number, floor)
         SELECT h.id, (100 + i)::text, (i / 30)::text
         FROM hotels h, generate_series(0, 299) i;
         ANALYZE tasks, rooms;",
    )
    .await
    .expect("board seed");
    use crate::store::board_sql::{Dialect, every_shape};
    for (name, st) in every_shape(Dialect::Postgres) {
        for generic in [true, false] {
            let args = match generic {
                true => vec!["NULL".to_owned(); st.args.len()],
                false => literals(&st),
            };
            let nodes = plan(&c, &st.sql, generic, &args).await;
            for p in board_problems(&name, &nodes) {
                bad.push(format!(
                    "board {name} ({}): {p}",
                    if generic { "generic" } else { "custom" }
                ));
            }
        }
    }
    // The archiver: the hotels that archive, then each one's stale tasks, oldest first.
    c.batch_execute(
        "UPDATE hotels SET archive_after_secs = 86400 WHERE id = 'big'; ANALYZE hotels",
    )
    .await
    .expect("archiving hotel");
    let archiver = [
        (
            super::super::board::ARCHIVING_HOTELS,
            vec![],
            "hotels_archiving",
        ),
        (
            super::super::board::STALE_TASKS,
            vec![
                "ARRAY['big']".to_owned(),
                "ARRAY['2026-01-02T00:00:00.000Z']".to_owned(),
                "500".to_owned(),
            ],
            "tasks_stale",
        ),
    ];
    for (sql, args, index) in archiver {
        for generic in [true, false] {
            let args = match generic {
                true => vec!["NULL".to_owned(); args.len()],
                false => args.clone(),
            };
            let nodes = plan(&c, sql, generic, &args).await;
            let mut problems: Vec<String> = nodes.iter().filter_map(scan).collect();
            if !nodes
                .iter()
                .any(|n| n["Index Name"].as_str() == Some(index))
            {
                problems.push(format!("not read through {index}"));
            }
            for p in problems {
                bad.push(format!("archiver {index} (generic {generic}): {p}"));
            }
        }
    }
    // The check itself: a lookup by an unindexed column is caught.
    let control = scans(&c, "SELECT id FROM tasks WHERE notes = $1", true).await;
    drop_schema(&c, &schema).await;
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    assert!(!control.is_empty(), "the check missed a Seq Scan");
}
