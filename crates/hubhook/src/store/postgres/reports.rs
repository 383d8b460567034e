//! The PostgreSQL store's shift report (the SQL), as `sqlite/reports.rs`: a window's tasks with
//! their history's moments, read through `tasks_by_created`; and the checker, which claims the
//! hotels whose `report_at` has come with `FOR NO KEY UPDATE SKIP LOCKED` (instances checking at
//! once split them; a row another instance has just rescheduled is read again against its new
//! deadline, so each shift's report is queued once), queues each one's report and schedules its
//! next shift end, in one transaction.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use jiff::Timestamp;

use super::{PostgresStore, exec, notify::announce, query, text};
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

/// A hotel's tasks created in `[$2, $3)`, in creation order, each with the first move to accepted
/// or beyond, to done, to cancelled, and its first escalation line (`$4`). A move is a line whose
/// status changes; an escalation's line keeps the status. Each task's lines are read through its
/// own index (`LATERAL`): a join would let the planner hash the whole history table for a long
/// window (a month of a big hotel: a scan of every task's lines, three times slower).
pub(crate) const REPORT_ROWS: &str =
    "SELECT t.external_id, t.task_name, t.department, t.created_at,
        e.accepted, e.done, e.cancelled, e.escalated
    FROM tasks t LEFT JOIN LATERAL (
        SELECT min(at) FILTER (WHERE to_status IN ('accepted', 'in_progress', 'done')
                               AND from_status IS DISTINCT FROM to_status) AS accepted,
               min(at) FILTER (WHERE to_status = 'done'
                               AND from_status IS DISTINCT FROM to_status) AS done,
               min(at) FILTER (WHERE to_status = 'cancelled'
                               AND from_status IS DISTINCT FROM to_status) AS cancelled,
               min(at) FILTER (WHERE from_status = to_status AND note LIKE $4) AS escalated
        FROM task_events WHERE task_id = t.id) e ON true
    WHERE t.hotel_id = $1 AND t.created_at >= $2 AND t.created_at < $3
    ORDER BY t.created_at, t.seq";

/// The hotels whose shift report is due at `$1`, the earliest first, at most `$2`, claimed.
pub(crate) const DUE_REPORTS: &str = "SELECT id, timezone, shift_ends, report_at FROM hotels
    WHERE report_at IS NOT NULL AND report_at <= $1
    ORDER BY report_at LIMIT $2
    FOR NO KEY UPDATE SKIP LOCKED";

/// The rows of `hotel`'s tasks created in `window`.
async fn report_rows<C: GenericClient + Sync>(
    c: &C,
    hotel: &str,
    window: Window,
) -> Result<Vec<ReportRow>, StoreError> {
    let (from, to) = (time::format(window.from()), time::format(window.to()));
    // A long window's plan costs enough for PostgreSQL to compile it (JIT), which takes as long
    // as running it (0.44 s for a month of a million-task hotel): off, for this transaction only.
    c.batch_execute("SET LOCAL jit = off").await?;
    let rows = query(
        c,
        REPORT_ROWS,
        &[&hotel, &from, &to, &escalation_note_pattern()],
    )
    .await?;
    let found: Vec<Option<ReportRow>> =
        rows.iter().map(report_row_from).collect::<Result<_, _>>()?;
    Ok(found.into_iter().flatten().collect())
}

/// Queues one due hotel's report (if a shift ended) and writes its next `report_at`; returns how
/// many deliveries were queued.
async fn settle<C: GenericClient + Sync>(
    c: &C,
    due: &DueReport,
    now: &str,
) -> Result<usize, StoreError> {
    let mut queued = 0;
    if let Some(window) = due.window {
        let targets: Vec<Target> = query(c, super::hot::ENQUEUE_SUBSCRIPTIONS, &[&due.hotel])
            .await?
            .iter()
            .map(shared::target_from_row)
            .collect::<Result<_, _>>()?;
        // Nobody listening: nothing to compute.
        if targets
            .iter()
            .any(|t| t.events.contains(&EventType::ShiftReport))
        {
            let report = report::compute(window, &report_rows(c, &due.hotel, window).await?);
            for d in report_deliveries(&due.hotel, &report, now, &targets, &due.tz) {
                exec(
                    c,
                    super::hot::INSERT_DELIVERY,
                    &[
                        &d.id,
                        &due.hotel,
                        &d.subscription_id,
                        &None::<String>,
                        &d.event.as_str(),
                        &text(&d.payload),
                        &now,
                    ],
                )
                .await?;
                queued += 1;
            }
        }
    }
    exec(
        c,
        "UPDATE hotels SET report_at = $2 WHERE id = $1",
        &[&due.hotel, &due.next],
    )
    .await?;
    Ok(queued)
}

#[async_trait]
impl ReportStore for PostgresStore {
    async fn report_rows(
        &self,
        hotel: &HotelId,
        window: Window,
    ) -> Result<Vec<ReportRow>, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let rows = report_rows(&tx, hotel.as_str(), window).await?;
        tx.commit().await?;
        Ok(rows)
    }

    async fn raise_shift_reports(&self, limit: u32) -> Result<u32, StoreError> {
        let now: Timestamp = time::now();
        let at = time::format(now);
        let (n, queued) = in_tx!(self, |tx| {
            let due: Vec<DueReport> = query(&tx, DUE_REPORTS, &[&at, &i64::from(limit)])
                .await?
                .iter()
                .map(|r| due_report_from(r, now))
                .collect::<Result<_, _>>()?;
            let mut queued = 0;
            for d in &due {
                queued += settle(&tx, d, &at).await?;
            }
            announce(&tx, &self.signals, &[], queued).await?;
            Ok((due.len() as u32, queued))
        })?;
        self.signals.queued(queued);
        Ok(n)
    }

    async fn shift_ends(&self, hotel: &HotelId) -> Result<String, StoreError> {
        let client = self.pool.get().await?;
        let row = super::query_opt(
            &client,
            "SELECT shift_ends FROM hotels WHERE id = $1",
            &[&hotel.as_str()],
        )
        .await?
        .ok_or(StoreError::NotFound)?;
        Ok(row.try_get(0)?)
    }
}

/// Needs `HUBHOOK_TEST_POSTGRES_URL` (read when the tests are built): a schema of its own with one
/// hotel's long history, analysed.
#[cfg(all(test, hubhook_pg_tests))]
mod tests {
    use crate::store::postgres::plan_check::{drop_schema, kinds_and_indexes, plan, scratch};

    /// The report reads the window's tasks through `tasks_by_created` and their history through
    /// its index, never a whole table; the checker reads the due hotels through
    /// `hotels_report_due`. Generic and custom plans alike.
    #[tokio::test]
    async fn the_report_reads_only_the_windows_tasks_and_the_checker_only_due_hotels() {
        let (store, c, schema) = scratch("reports").await;
        drop(store);
        c.batch_execute(
            "INSERT INTO hotels (id, name, timezone, access_hash, password_hash, created_at,
                 shift_ends, report_at)
             SELECT h, h, 'UTC', '\\x00', '\\x00', 't', '07:00', '2030-01-01T00:00:00.000Z'
             FROM (SELECT 'big' UNION ALL SELECT 'h' || i FROM generate_series(0, 999) i) s(h);
             INSERT INTO tasks (id, hotel_id, order_key, item_key, task_name, room, quantity,
                 status, created_at, updated_at)
             SELECT 'tsk_' || i, CASE WHEN i <= 100000 THEN 'big' ELSE 'h' || (i % 1000) END,
                    'o' || i, 'i', 'Towels', '101', 1, 'open',
                    to_char(timestamp '2026-01-01' + i * interval '1 minute',
                            'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 't'
             FROM generate_series(1, 120000) i;
             INSERT INTO task_events (task_id, at, actor, to_status)
             SELECT id, created_at, 'duve', 'open' FROM tasks;
             ANALYZE hotels, tasks, task_events;",
        )
        .await
        .expect("seed");
        let mut bad = Vec::new();
        for (name, sql, args, index) in [
            (
                "REPORT_ROWS",
                super::REPORT_ROWS,
                "'big', '2026-02-01T00:00:00.000Z', '2026-02-01T08:00:00.000Z', 'escalated:%'",
                "tasks_by_created",
            ),
            (
                "REPORT_ROWS (31 days)",
                super::REPORT_ROWS,
                "'big', '2026-01-15T00:00:00.000Z', '2026-02-15T00:00:00.000Z', 'escalated:%'",
                "task_events_by_task",
            ),
            (
                "DUE_REPORTS",
                super::DUE_REPORTS,
                "'2026-02-01T00:00:00.000Z', 20",
                "hotels_report_due",
            ),
        ] {
            for generic in [true, false] {
                let mode = if generic { "generic" } else { "custom" };
                let found = kinds_and_indexes(&plan(&c, sql, generic, &[args.to_owned()]).await);
                if found.iter().any(|(kind, _)| kind == "Seq Scan") {
                    bad.push(format!("{name} ({mode}): a Seq Scan: {found:?}"));
                }
                if !found.iter().any(|(_, i)| i == index) {
                    bad.push(format!("{name} ({mode}): not through {index}: {found:?}"));
                }
            }
        }
        drop_schema(&c, &schema).await;
        assert!(bad.is_empty(), "{}", bad.join("\n"));
    }
}
