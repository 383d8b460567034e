//! The SQL of the SQLite store's webhook path (the writer's ingest jobs, the duplicate pre-check on a
//! reader, the outbox rows they queue), in one place so that the plan test below checks the very
//! statements that run: each must find its rows through an index that matches it, never by reading
//! a hotel's history (CONTRACT.md section 8: a webhook's cost does not grow with it).

/// The hotel's configuration version, which every webhook's transaction compares with its cache's.
pub(crate) const HOTEL_VERSION: &str = "SELECT config_version FROM hotels WHERE id = ?1";

/// Whether an order was seen, and how (`created`, or `cancelled` before it arrived).
pub(crate) const ORDER_STATE: &str =
    "SELECT state FROM orders WHERE hotel_id = ?1 AND order_key = ?2";

/// An order's tasks in creation order (columns as `TASK_COLS`): index `tasks_by_order`.
pub(crate) const ORDER_TASKS: &str = "SELECT id, external_id, task_name, room, guest_name, \
     quantity, status, due_at, created_at, order_id, requested_at, department, priority, \
     escalations, order_ids, (SELECT u.email FROM users u WHERE u.id = assignee_id), archived \
     FROM tasks WHERE hotel_id = ?1 AND order_key = ?2 ORDER BY seq";

/// The tasks an order merged into, in the order it merged (columns as `TASK_COLS`): the unique
/// key of `task_orders`, then each task by id.
pub(crate) const ORDER_MERGED_TASKS: &str = "SELECT t.id, t.external_id, t.task_name, t.room, \
     t.guest_name, t.quantity, t.status, t.due_at, t.created_at, t.order_id, t.requested_at, \
     t.department, t.priority, t.escalations, t.order_ids, \
     (SELECT u.email FROM users u WHERE u.id = t.assignee_id), t.archived \
     FROM task_orders s JOIN tasks t ON t.id = s.task_id \
     WHERE s.hotel_id = ?1 AND s.order_key = ?2 AND s.merged = 1 ORDER BY s.seq";

/// Every order's share of the order's tasks that orders share: `task_orders_by_task`.
pub(crate) const ORDER_SHARES: &str = "SELECT s.task_id, s.order_key, s.quantity, s.cancelled \
     FROM task_orders mine JOIN task_orders s ON s.task_id = mine.task_id \
     WHERE mine.hotel_id = ?1 AND mine.order_key = ?2 ORDER BY s.seq";

/// The task holding a room's and service's merge slot (columns as `TASK_COLS`, then its order's
/// key, when its latest order arrived, whether an order merged into it): `tasks_merge_slot`.
pub(crate) const SLOT_HOLDER: &str = "SELECT id, external_id, task_name, room, guest_name, \
     quantity, status, due_at, created_at, order_id, requested_at, department, priority, \
     escalations, order_ids, (SELECT u.email FROM users u WHERE u.id = assignee_id), archived, order_key, \
     coalesce(merged_at, created_at), merged_at IS NOT NULL \
     FROM tasks WHERE hotel_id = ?1 AND room = ?2 AND external_id = ?3 \
     AND merge_slot = 1 AND status IN ('open', 'accepted')";

/// A slot holder whose window passed gives the slot up to the new task that takes it over.
pub(crate) const RELEASE_SLOT: &str = "UPDATE tasks SET merge_slot = 0 WHERE id = ?1";

/// A task's new quantity; with `order_ids`, an order merged in at `?4`.
pub(crate) const SET_QUANTITY: &str = "UPDATE tasks SET quantity = ?2, \
     order_ids = coalesce(?3, order_ids), \
     merged_at = CASE WHEN ?3 IS NULL THEN merged_at ELSE ?4 END, updated_at = ?4 WHERE id = ?1";

/// One order's share of a merged task.
pub(crate) const INSERT_SHARE: &str =
    "INSERT INTO task_orders (hotel_id, order_key, task_id, order_id, quantity, merged, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";

/// A cancelled order's share of a merged task.
pub(crate) const CANCEL_SHARE: &str = "UPDATE task_orders SET cancelled = 1 \
     WHERE hotel_id = ?1 AND order_key = ?2 AND task_id = ?3";

/// Remembers an order (the idempotency key).
pub(crate) const INSERT_ORDER: &str =
    "INSERT INTO orders (hotel_id, order_key, order_id, reservation_id, state, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// One line of a task's history.
pub(crate) const INSERT_EVENT: &str =
    "INSERT INTO task_events (task_id, at, actor, from_status, to_status, note)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// A new task; its place on the board is its due time, or its creation when it has none.
pub(crate) const INSERT_TASK: &str =
    "INSERT INTO tasks (id, hotel_id, order_key, item_key, order_id, reservation_id, external_id,
             task_name, room, guest_name, quantity, status, department, notes, language, requested_at,
             due_at, created_at, updated_at, escalate_at, merge_slot, board_at, later_until)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'open', ?12, ?13, ?14, ?15, ?16, ?17, ?17,
             ?18, ?19, coalesce(?16, ?17), ?20)";

/// A task's new status (a cancelled order's tasks, which have nothing left to escalate), by id,
/// with when it was finished (`?4`, `TaskStatus::done_at`).
pub(crate) const MOVE_TASK: &str =
    "UPDATE tasks SET status = ?3, updated_at = ?2, escalate_at = NULL, done_at = ?4
     WHERE id = ?1";

/// What earlier events said about a reservation.
pub(crate) const LOAD_CONTEXT: &str =
    "SELECT room, first_name, last_name, language, check_in, check_out
             FROM reservations WHERE hotel_id = ?1 AND reservation_id = ?2";

/// Keeps what an event says about a reservation.
pub(crate) const UPSERT_CONTEXT: &str =
    "INSERT INTO reservations (hotel_id, reservation_id, room, first_name, last_name, language,
             check_in, check_out, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (hotel_id, reservation_id) DO UPDATE SET
             room = coalesce(excluded.room, room),
             first_name = coalesce(excluded.first_name, first_name),
             last_name = coalesce(excluded.last_name, last_name),
             language = coalesce(excluded.language, language),
             check_in = coalesce(excluded.check_in, check_in),
             check_out = coalesce(excluded.check_out, check_out),
             updated_at = excluded.updated_at";

/// The inbound log's entry for every delivery (refusals too).
pub(crate) const INSERT_INBOUND: &str =
    "INSERT INTO inbound (hotel_id, received_at, event, code, details, task_ids, body, duration_us,
             replay_of)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";

/// The hotel's enabled subscriptions, for the outbox rows a task change raises.
pub(crate) const ENQUEUE_SUBSCRIPTIONS: &str =
    "SELECT id, kind, events, template FROM subscriptions WHERE hotel_id = ?1 AND enabled = 1";

/// A task's order and reservation, for a Duve Connect body.
pub(crate) const TASK_ORDER_REFS: &str = "SELECT order_id, reservation_id FROM tasks WHERE id = ?1";

/// A hotel's timezone, for a chat line's times.
pub(crate) const HOTEL_TIMEZONE: &str = "SELECT timezone FROM hotels WHERE id = ?1";

/// Who wrote a task's newest history line (who made the change being queued), for a chat line.
pub(crate) const TASK_LAST_ACTOR: &str =
    "SELECT actor FROM task_events WHERE task_id = ?1 ORDER BY seq DESC LIMIT 1";

/// One outbound delivery, queued in the transaction of the change that raised it.
pub(crate) const INSERT_DELIVERY: &str =
    "INSERT INTO deliveries (id, hotel_id, subscription_id, task_id, event, payload,
                     status, attempts, next_attempt_at, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending', 0, ?7, ?7, ?7)";

/// Every statement a webhook runs, by name: what the plan test checks.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const HOT_PATH_STATEMENTS: &[(&str, &str)] = &[
    ("HOTEL_VERSION", HOTEL_VERSION),
    ("ORDER_STATE", ORDER_STATE),
    ("ORDER_TASKS", ORDER_TASKS),
    ("ORDER_MERGED_TASKS", ORDER_MERGED_TASKS),
    ("ORDER_SHARES", ORDER_SHARES),
    ("SLOT_HOLDER", SLOT_HOLDER),
    ("RELEASE_SLOT", RELEASE_SLOT),
    ("SET_QUANTITY", SET_QUANTITY),
    ("INSERT_SHARE", INSERT_SHARE),
    ("CANCEL_SHARE", CANCEL_SHARE),
    ("INSERT_ORDER", INSERT_ORDER),
    ("INSERT_EVENT", INSERT_EVENT),
    ("INSERT_TASK", INSERT_TASK),
    ("MOVE_TASK", MOVE_TASK),
    ("LOAD_CONTEXT", LOAD_CONTEXT),
    ("UPSERT_CONTEXT", UPSERT_CONTEXT),
    ("INSERT_INBOUND", INSERT_INBOUND),
    ("ENQUEUE_SUBSCRIPTIONS", ENQUEUE_SUBSCRIPTIONS),
    ("TASK_ORDER_REFS", TASK_ORDER_REFS),
    ("HOTEL_TIMEZONE", HOTEL_TIMEZONE),
    ("TASK_LAST_ACTOR", TASK_LAST_ACTOR),
    ("INSERT_DELIVERY", INSERT_DELIVERY),
];

/// Indexes that lead with `hotel_id` and then only order a hotel's rows: searching one of them reads
/// a hotel's history, whatever the planner estimates.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const HOTEL_RANGE_INDEXES: &[&str] =
    &["tasks_by_hotel", "inbound_by_hotel", "deliveries_by_hotel"];

/// Tables that stay small whatever the number of hotels or their history.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) const SMALL_TABLES: &[&str] = &["meta"];

#[cfg(test)]
mod tests {
    use super::super::plan_check::{migrated, plan};
    use super::*;
    use rusqlite::{Connection, params_from_iter, types::Value};

    /// Why a plan line reads a hotel's rows (or a whole table), if it does.
    fn scan(line: &str) -> Option<&'static str> {
        let table = line.split_whitespace().nth(1).unwrap_or_default();
        if SMALL_TABLES.contains(&table) {
            return None;
        }
        if line.starts_with("SCAN ") && !line.starts_with("SCAN CONSTANT ROW") {
            return Some("reads a whole table");
        }
        if HOTEL_RANGE_INDEXES
            .iter()
            .any(|i| line.contains(&format!("INDEX {i} ")))
        {
            return Some("reads the hotel's rows in an index that orders its history");
        }
        if line.ends_with("(hotel_id=?)") && table != "subscriptions" {
            return Some("finds rows by hotel alone");
        }
        None
    }

    fn check_all(conn: &Connection, when: &str) {
        let mut bad = Vec::new();
        for (name, sql) in HOT_PATH_STATEMENTS {
            for line in plan(conn, sql) {
                if let Some(why) = scan(&line) {
                    bad.push(format!("{name}: {line} ({why})"));
                }
            }
        }
        assert!(bad.is_empty(), "{when}:\n{}", bad.join("\n"));
    }

    /// A real database file, migrated by the store itself.
    fn database() -> (tempfile::TempDir, Connection) {
        migrated("plans.db")
    }

    #[test]
    fn every_webhook_statement_uses_an_index_that_matches_it() {
        let (_dir, conn) = database();
        check_all(&conn, "without statistics (hubhook never runs ANALYZE)");
    }

    #[test]
    fn the_plans_hold_with_statistics_of_one_hotel_with_a_long_history() {
        let (_dir, conn) = database();
        // One hotel with 20,000 orders of two tasks each, 200 others with a few; then ANALYZE, as an
        // operator might run it: the planner then knows how skewed the hotels are.
        conn.execute_batch(
            "BEGIN;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40000)
             INSERT INTO tasks (id, hotel_id, order_key, item_key, task_name, room, quantity,
                 status, created_at, updated_at)
             SELECT 'tsk_' || i,
                    CASE WHEN i <= 38000 THEN 'big' ELSE 'h' || (i % 200) END,
                    'o' || (i / 2), 'i' || (i % 2), 'Towels', '101', 1, 'open', 't', 't'
             FROM n;
             INSERT INTO orders (hotel_id, order_key, state, created_at)
             SELECT DISTINCT hotel_id, order_key, 'created', 't' FROM tasks;
             INSERT INTO task_events (task_id, at, actor, to_status)
             SELECT id, 't', 'duve', 'open' FROM tasks;
             INSERT INTO inbound (hotel_id, received_at, code, details, task_ids, body, duration_us)
             SELECT hotel_id, 't', 'created', '[]', '[]', '{}', 1 FROM orders;
             INSERT INTO reservations (hotel_id, reservation_id, updated_at)
             SELECT hotel_id, order_key, 't' FROM orders;
             COMMIT;
             ANALYZE;",
        )
        .expect("seed");
        check_all(&conn, "with statistics");
    }

    /// How many temporary B-trees (`OpenEphemeral`) one run of `sql` builds.
    fn ephemeral_tables(conn: &Connection, sql: &str) -> usize {
        let mut stmt = conn
            .prepare(&format!("EXPLAIN {sql}"))
            .unwrap_or_else(|e| panic!("cannot prepare {sql}: {e}"));
        let nulls = vec![Value::Null; stmt.parameter_count()];
        let ops = stmt
            .query_map(params_from_iter(nulls), |r| r.get::<_, String>(1))
            .expect("program");
        ops.filter(|op| op.as_deref().is_ok_and(|op| op == "OpenEphemeral"))
            .count()
    }

    /// No webhook statement builds a temporary B-tree at each run: SQLite makes one for a list of
    /// three or more values, in the statement or in a partial index's condition that an insert or
    /// update of the table evaluates (five such indexes cost a third of a new task's insert).
    #[test]
    fn no_webhook_statement_builds_a_temporary_table() {
        let (_dir, conn) = database();
        let built: Vec<String> = HOT_PATH_STATEMENTS
            .iter()
            .map(|(name, sql)| (name, ephemeral_tables(&conn, sql)))
            .filter(|(_, n)| *n > 0)
            .map(|(name, n)| format!("{name}: {n}"))
            .collect();
        assert!(built.is_empty(), "{built:?}");
        // The check sees what it is for: an index whose condition lists three statuses.
        conn.execute_batch(
            "CREATE INDEX listed ON tasks (seq) WHERE status IN ('open', 'accepted', 'in_progress')",
        )
        .expect("index");
        assert_eq!(ephemeral_tables(&conn, INSERT_TASK), 1);
    }

    #[test]
    fn an_orders_tasks_are_read_with_the_task_columns() {
        let cols = crate::store::rows::TASK_COLS;
        assert!(
            ORDER_TASKS.contains(&format!("SELECT {cols} FROM")),
            "{ORDER_TASKS}"
        );
        assert!(SLOT_HOLDER.contains(&format!("SELECT {cols}, order_key,")));
        let qualified: Vec<String> = cols
            .split(", ")
            .map(|c| match c.starts_with("(SELECT") {
                true => c.replace("= assignee_id", "= t.assignee_id"),
                false => format!("t.{c}"),
            })
            .collect();
        assert!(
            ORDER_MERGED_TASKS.contains(&format!("SELECT {} FROM", qualified.join(", "))),
            "{ORDER_MERGED_TASKS}"
        );
    }

    #[test]
    fn the_merge_slot_is_found_through_its_index() {
        let (_dir, conn) = database();
        let lines = plan(&conn, SLOT_HOLDER);
        assert!(
            lines.iter().any(|l| l.contains("INDEX tasks_merge_slot ")),
            "{lines:?}"
        );
    }

    #[test]
    fn the_check_catches_the_scan_it_is_for() {
        let (_dir, conn) = database();
        conn.execute_batch("DROP INDEX tasks_by_order")
            .expect("drop");
        let lines = plan(&conn, ORDER_TASKS);
        assert!(lines.iter().any(|l| scan(l).is_some()), "{lines:?}");
        let full = plan(&conn, "SELECT id FROM tasks WHERE notes = ?1");
        assert!(full.iter().any(|l| scan(l).is_some()), "{full:?}");
    }
}
