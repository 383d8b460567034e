//! The SQLite store's shift report (the SQL): a window's tasks with their history's moments,
//! read through `tasks_by_created`; and the checker, which reads the hotels whose `report_at` has
//! come (index `hotels_report_due`) and works out their reports on a reader, then has the writer
//! claim each one (its `report_at` unchanged since), queue its report and schedule its next shift
//! end.

use async_trait::async_trait;
use jiff::Timestamp;
use rusqlite::{Connection, params};

use super::{SqliteStore, outbox::rows};
use crate::{
    domain::{
        HotelId,
        outbound::{EventType, NewDelivery, Target, report_deliveries},
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

/// One due hotel's outcome, worked out on a reader: the `report_at` it was read with (the claim),
/// its next one, and the report's deliveries (none if no shift ended or nobody hears it).
struct Settled {
    /// The hotel's id.
    hotel: String,
    /// `report_at` as read: the writer applies the rest only if it is unchanged.
    due_at: String,
    /// The next `report_at`.
    next: Option<String>,
    /// The report's deliveries, rendered.
    deliveries: Vec<NewDelivery>,
}

/// Works out one due hotel's report (if a shift ended and someone hears it), off the writer.
fn settle(conn: &Connection, due: DueReport, now: &str) -> Result<Settled, StoreError> {
    let mut deliveries = Vec::new();
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
            deliveries = report_deliveries(&due.hotel, &report, now, &targets, &due.tz);
        }
    }
    Ok(Settled {
        hotel: due.hotel,
        due_at: due.due_at,
        next: due.next,
        deliveries,
    })
}

/// The hotels due at `now` (at most `limit`), each one's report worked out: a reader's work, so a
/// long shift's report never holds the writer every hotel's webhooks wait on.
fn plan(conn: &Connection, now: Timestamp, limit: u32) -> Result<Vec<Settled>, StoreError> {
    let at = time::format(now);
    let due = rows(conn, DUE_REPORTS, params![at, limit], |r| {
        due_report_from(r, now)
    })?;
    due.into_iter().map(|d| settle(conn, d, &at)).collect()
}

/// The writer's part: for each hotel whose `report_at` is still the one read (its shift settings
/// did not change meanwhile), moves it to the next shift end and queues the report's deliveries;
/// returns how many deliveries were queued.
fn apply(conn: &Connection, settled: &[Settled], now: &str) -> Result<usize, StoreError> {
    let mut claim =
        conn.prepare_cached("UPDATE hotels SET report_at = ?2 WHERE id = ?1 AND report_at = ?3")?;
    let mut insert = conn.prepare_cached(super::hot::INSERT_DELIVERY)?;
    let mut queued = 0;
    for s in settled {
        if claim.execute(params![s.hotel, s.next, s.due_at])? == 0 {
            continue;
        }
        for d in &s.deliveries {
            insert.execute(params![
                d.id,
                s.hotel,
                d.subscription_id,
                None::<String>,
                d.event.as_str(),
                d.payload,
                now
            ])?;
            queued += 1;
        }
    }
    Ok(queued)
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
        let now = time::now();
        let settled = self.read(move |c| plan(c, now, limit)).await?;
        if settled.is_empty() {
            return Ok(0);
        }
        let n = settled.len() as u32;
        let at = time::format(now);
        let queued = self.write(move |c| apply(c, &settled, &at)).await?;
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
    use rusqlite::Connection;

    // `super::plan` is the checker's reading of the due hotels; this is a statement's plan.
    use super::super::plan_check::{migrated, plan as explain};

    /// A hotel due at 07:00 UTC with shift ends 07:00 and 19:00, two tasks in the shift before,
    /// and one subscription that hears `report.shift`, in a fresh database.
    fn due_hotel(name: &str) -> (tempfile::TempDir, Connection) {
        let (dir, conn) = migrated(name);
        conn.execute_batch(
            "INSERT INTO hotels (id, name, timezone, access_hash, password_hash, created_at,
                 shift_ends, report_at)
             VALUES ('h', 'h', 'UTC', zeroblob(32), zeroblob(32), 't', '07:00,19:00',
                     '2026-01-02T07:00:00.000Z');
             INSERT INTO subscriptions (id, hotel_id, kind, url, events, headers, created_at)
             VALUES ('sub_1', 'h', 'webhook', 'https://example.com/', 'report.shift', '[]', 't');
             INSERT INTO tasks (id, hotel_id, order_key, item_key, task_name, room, quantity,
                 status, created_at, updated_at)
             VALUES ('tsk_1', 'h', 'o1', 'i', 'Towels', '101', 1, 'open',
                     '2026-01-01T20:00:00.000Z', 't'),
                    ('tsk_2', 'h', 'o2', 'i', 'Towels', '101', 1, 'open',
                     '2026-01-02T06:00:00.000Z', 't');",
        )
        .unwrap();
        (dir, conn)
    }

    /// What the checker leaves: the hotel's `report_at` and the deliveries queued.
    fn after(conn: &Connection) -> (String, Vec<(String, String)>) {
        let at = conn
            .query_row("SELECT report_at FROM hotels WHERE id = 'h'", [], |r| {
                r.get(0)
            })
            .unwrap();
        let mut stmt = conn
            .prepare("SELECT subscription_id, payload FROM deliveries ORDER BY seq")
            .unwrap();
        let queued = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        (at, queued)
    }

    /// The report is worked out on a reader and applied by the writer: once, with the shift's
    /// two tasks, and the hotel moved to its next shift end.
    #[test]
    fn the_checker_queues_a_due_shifts_report_once() {
        let (_dir, conn) = due_hotel("due.db");
        let now: jiff::Timestamp = "2026-01-02T07:00:05Z".parse().unwrap();
        let settled = super::plan(&conn, now, 20).unwrap();
        assert_eq!(settled.len(), 1);
        assert_eq!(super::apply(&conn, &settled, "now").unwrap(), 1);
        let (at, queued) = after(&conn);
        assert_eq!(at, "2026-01-02T19:00:00.000Z");
        assert_eq!(queued.len(), 1);
        assert_eq!(queued[0].0, "sub_1");
        assert!(queued[0].1.contains("\"created\":2"), "{}", queued[0].1);
        // Applied again (a second checker with the same reading): the claim no longer holds.
        assert_eq!(super::apply(&conn, &settled, "now").unwrap(), 0);
        assert_eq!(after(&conn).1.len(), 1);
        assert!(super::plan(&conn, now, 20).unwrap().is_empty());
    }

    /// A hotel whose shift settings changed between the reader's work and the writer's keeps its
    /// new schedule, and the report worked out for the old one is not queued.
    #[test]
    fn a_report_worked_out_before_a_settings_change_is_dropped() {
        let (_dir, conn) = due_hotel("changed.db");
        let now: jiff::Timestamp = "2026-01-02T07:00:05Z".parse().unwrap();
        let settled = super::plan(&conn, now, 20).unwrap();
        assert_eq!(settled[0].deliveries.len(), 1);
        conn.execute(
            "UPDATE hotels SET shift_ends = '08:00', report_at = '2026-01-02T08:00:00.000Z'",
            [],
        )
        .unwrap();
        assert_eq!(super::apply(&conn, &settled, "now").unwrap(), 0);
        assert_eq!(
            after(&conn),
            ("2026-01-02T08:00:00.000Z".to_string(), vec![])
        );
    }

    /// The report reads the window's tasks through `tasks_by_created` (a range of one hotel's
    /// creation times), each task's history through its index, and needs no sort; the checker
    /// reads the due hotels through `hotels_report_due`: on a database with one hotel's long
    /// history, analysed.
    #[test]
    fn the_report_reads_only_the_windows_tasks_and_the_checker_only_due_hotels() {
        let (_dir, conn) = migrated("plans.db");
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
        let report = explain(&conn, super::REPORT_ROWS);
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
        let due = explain(&conn, super::DUE_REPORTS);
        assert!(
            due.iter()
                .any(|l| l.contains("USING INDEX hotels_report_due (report_at>? AND report_at<?)")),
            "{due:?}"
        );
    }
}
