//! The SQLite store's shift report (the SQL): a window's tasks with their history's moments,
//! read through `tasks_by_created`; and the checker, which reads the hotels whose `report_at` has
//! come (index `hotels_report_due`) in the writer's transaction, queues each one's report and
//! schedules its next shift end.

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{Connection, params};

use super::{SqliteStore, outbox::rows};
use crate::{
    domain::{
        HotelId,
        outbound::{EventType, Target, report_deliveries},
        report::{self, ReportRow, Window},
        time,
    },
    store::{
        StoreError, outbox as shared,
        reports::{
            DueReport, ReportStore, due_report_from, escalation_note_pattern, report_row_from,
        },
    },
};

/// A hotel's tasks created in `[?2, ?3)`, in creation order (the index's), each with the first
/// move to accepted or beyond, to done, to cancelled, and its first escalation line (`?4`). A move
/// is a line whose status changes; an escalation's line keeps the status.
pub(crate) const REPORT_ROWS: &str =
    "SELECT t.external_id, t.task_name, t.department, t.created_at,
        min(CASE WHEN e.to_status IN ('accepted', 'in_progress', 'done')
                  AND e.from_status IS NOT e.to_status THEN e.at END),
        min(CASE WHEN e.to_status = 'done' AND e.from_status IS NOT e.to_status THEN e.at END),
        min(CASE WHEN e.to_status = 'cancelled' AND e.from_status IS NOT e.to_status
                 THEN e.at END),
        min(CASE WHEN e.from_status = e.to_status AND e.note LIKE ?4 THEN e.at END)
    FROM tasks t LEFT JOIN task_events e ON e.task_id = t.id
    WHERE t.hotel_id = ?1 AND t.created_at >= ?2 AND t.created_at < ?3
    GROUP BY t.created_at, t.seq
    ORDER BY t.created_at, t.seq";

/// The hotels whose shift report is due at `?1`, the earliest first, at most `?2`.
pub(crate) const DUE_REPORTS: &str = "SELECT id, timezone, shift_ends, report_at FROM hotels
    WHERE report_at IS NOT NULL AND report_at <= ?1
    ORDER BY report_at LIMIT ?2";

/// The rows of `hotel`'s tasks created in `window`.
fn report_rows(
    conn: &Connection,
    hotel: &str,
    window: Window,
) -> Result<Vec<ReportRow>, StoreError> {
    let found = rows(
        conn,
        REPORT_ROWS,
        params![
            hotel,
            time::format(window.from()),
            time::format(window.to()),
            escalation_note_pattern()
        ],
        |r| report_row_from(r),
    )?;
    Ok(found.into_iter().flatten().collect())
}

/// Queues one due hotel's report (if a shift ended) and writes its next `report_at`; returns how
/// many deliveries were queued.
fn settle(conn: &Connection, due: &DueReport, now: &str) -> Result<usize, StoreError> {
    let mut queued = 0;
    if let Some(window) = due.window {
        let targets: Vec<Target> =
            rows(conn, super::hot::ENQUEUE_SUBSCRIPTIONS, [&due.hotel], |r| {
                shared::target_from_row(r)
            })?;
        // Nobody listening: nothing to compute.
        if targets
            .iter()
            .any(|t| t.events.contains(&EventType::ShiftReport))
        {
            let report = report::compute(window, &report_rows(conn, &due.hotel, window)?);
            let mut insert = conn.prepare_cached(super::hot::INSERT_DELIVERY)?;
            for d in report_deliveries(&due.hotel, &report, now, &targets, &due.tz) {
                insert.execute(params![
                    d.id,
                    due.hotel,
                    d.subscription_id,
                    None::<String>,
                    d.event.as_str(),
                    d.payload,
                    now
                ])?;
                queued += 1;
            }
        }
    }
    conn.prepare_cached("UPDATE hotels SET report_at = ?2 WHERE id = ?1")?
        .execute(params![due.hotel, due.next])?;
    Ok(queued)
}

/// The hotels due at `now` (at most `limit`), each settled; returns how many hotels and how many
/// deliveries.
fn raise(conn: &Connection, now: Timestamp, limit: u32) -> Result<(u32, usize), StoreError> {
    let at = time::format(now);
    let due = rows(conn, DUE_REPORTS, params![at, limit], |r| {
        due_report_from(r, now)
    })?;
    let mut queued = 0;
    for d in &due {
        queued += settle(conn, d, &at)?;
    }
    Ok((due.len() as u32, queued))
}

#[async_trait]
impl ReportStore for SqliteStore {
    async fn report_rows(
        &self,
        hotel: &HotelId,
        window: Window,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let hotel = hotel.clone();
        self.read(move |c| report_rows(c, hotel.as_str(), window))
            .await
    }

    async fn raise_shift_reports(&self, limit: u32) -> Result<u32, StoreError> {
        let (n, queued) = self.write(move |c| raise(c, time::now(), limit)).await?;
        self.queued(queued);
        Ok(n)
    }

    async fn shift_ends(&self, hotel: &HotelId) -> Result<String, StoreError> {
        let hotel = hotel.clone();
        self.read(move |c| {
            rows(
                c,
                "SELECT shift_ends FROM hotels WHERE id = ?1",
                [hotel.as_str()],
                |r| Ok(r.get::<_, String>(0)?),
            )?
            .pop()
            .ok_or(StoreError::NotFound)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::{Connection, params_from_iter, types::Value};

    /// The lines of `EXPLAIN QUERY PLAN` for `sql`, every parameter NULL.
    fn plan(conn: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        let nulls = vec![Value::Null; stmt.parameter_count()];
        stmt.query_map(params_from_iter(nulls), |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    /// The report reads the window's tasks through `tasks_by_created` (a range of one hotel's
    /// creation times), each task's history through its index, and needs no sort; the checker
    /// reads the due hotels through `hotels_report_due`: on a database with one hotel's long
    /// history, analysed.
    #[test]
    fn the_report_reads_only_the_windows_tasks_and_the_checker_only_due_hotels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plans.db");
        drop(super::super::SqliteStore::open(&path).unwrap());
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch(
            "BEGIN;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
             INSERT INTO tasks (id, hotel_id, order_key, item_key, task_name, room, quantity,
                 status, created_at, updated_at)
             SELECT 'tsk_' || i, CASE WHEN i <= 19000 THEN 'big' ELSE 'h' || (i % 100) END,
                    'o' || i, 'i', 'Towels', '101', 1, 'open',
                    strftime('%Y-%m-%dT%H:%M:%fZ', 1700000000 + i * 60, 'unixepoch'), 't'
             FROM n;
             INSERT INTO task_events (task_id, at, actor, to_status)
             SELECT id, created_at, 'duve', 'open' FROM tasks;
             INSERT INTO hotels (id, name, timezone, access_hash, password_hash, created_at,
                 shift_ends, report_at)
             SELECT 'h' || i, 'h', 'UTC', zeroblob(32), zeroblob(32), 't', '07:00',
                    '2030-01-01T00:00:00.000Z'
             FROM (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 500)
                   SELECT i FROM n);
             COMMIT;
             ANALYZE;",
        )
        .unwrap();
        let report = plan(&conn, super::REPORT_ROWS);
        assert!(
            report.iter().any(|l| l.contains(
                "USING INDEX tasks_by_created (hotel_id=? AND created_at>? AND created_at<?)"
            )),
            "{report:?}"
        );
        assert!(
            report
                .iter()
                .any(|l| l.contains("USING INDEX task_events_by_task (task_id=?)")),
            "{report:?}"
        );
        assert!(
            !report
                .iter()
                .any(|l| l.starts_with("SCAN") || l.contains("TEMP B-TREE")),
            "{report:?}"
        );
        let due = plan(&conn, super::DUE_REPORTS);
        assert!(
            due.iter()
                .any(|l| l.contains("USING INDEX hotels_report_due (report_at>? AND report_at<?)")),
            "{due:?}"
        );
    }
}
